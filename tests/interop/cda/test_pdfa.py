"""Our PDF/A renderings: each font subset is cut and compressed once per process, and what is embedded is the
font file reportlab would cut for that subset."""

from __future__ import annotations

import io
import re
import zlib
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader

from app.interop.cda import pdfa
from app.interop.cda.pdfa import Block, pdfa_issues, render_pdfa

CREATED = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def _font_files(pdf: bytes) -> dict[str, bytes]:
    """Each embedded font file by its subset's base font name."""
    reader = PdfReader(io.BytesIO(pdf))
    found: dict[str, bytes] = {}
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descriptor = font["/FontDescriptor"].get_object()
            stream = descriptor["/FontFile2"].get_object()
            assert stream["/Filter"] in ("/FlateDecode", ["/FlateDecode"])
            found[str(font["/BaseFont"])] = stream.get_data()
    return found


def _uncached_subset(base_font: str, pdf: bytes) -> bytes:
    """The font file reportlab cuts, without our memo, for the glyphs the rendering's ToUnicode map lists (and
    the rendering's widths checked against the font's)."""
    from reportlab.pdfbase.ttfonts import TTFontFace

    reader = PdfReader(io.BytesIO(pdf))
    for font in reader.pages[0]["/Resources"]["/Font"].values():
        font = font.get_object()
        if str(font["/BaseFont"]) != base_font:
            continue
        cmap = font["/ToUnicode"].get_object().get_data().decode()
        pairs = re.findall(r"<([0-9a-f]{2})> <([0-9a-f]{4})>", cmap, re.I)
        subset = [0] * (int(font["/LastChar"]) + 1)
        for code, unicode in pairs:
            subset[int(code, 16)] = int(unicode, 16)
        import reportlab

        name = "VeraBd.ttf" if "Bold" in base_font else "Vera.ttf"
        face = TTFontFace(f"{reportlab.__file__.rsplit('/', 1)[0]}/fonts/{name}")
        widths = [face.getCharWidth(c) for c in subset]
        assert [float(w) for w in font["/Widths"]] == pytest.approx(widths, abs=1e-3)
        return face.makeSubset(subset)
    raise AssertionError(f"{base_font} not in the rendering")


def test_renderings_with_the_same_characters_embed_the_font_files_reportlab_cuts() -> None:
    first = render_pdfa("Projet personnalisé", [Block("Usager", ["Nom : DUPONT", "Né(e) le 02/05/1938"])])
    second = render_pdfa("Projet personnalisé", [Block("Usager", ["Nom : MARTIN", "Né(e) le 11/12/1941"])])
    assert pdfa_issues(first) == [] and pdfa_issues(second) == []
    files_first, files_second = _font_files(first), _font_files(second)
    assert len(files_first) == 2
    # Same non-ASCII characters in the same order: the same subsets, the same embedded bytes.
    assert files_first == files_second
    for base_font, content in files_first.items():
        assert content == _uncached_subset(base_font, first)


def test_a_new_character_gives_its_own_subset() -> None:
    plain = render_pdfa("Grille", [Block("Évaluation", ["GIR 3"])], created=CREATED)
    accented = render_pdfa("Grille", [Block("Évaluation", ["GIR 3 - aidée à la toilette, œdème"])], created=CREATED)
    regular_plain = [v for k, v in _font_files(plain).items() if "Bold" not in k]
    regular_accented = [v for k, v in _font_files(accented).items() if "Bold" not in k]
    assert regular_plain != regular_accented
    for base_font, content in _font_files(accented).items():
        assert content == _uncached_subset(base_font, accented)
    text = PdfReader(io.BytesIO(accented)).pages[0].extract_text()
    assert "aidée à la toilette, œdème" in text


def test_the_compressed_font_file_is_made_once() -> None:
    pdfa._FlateOnce.encode.cache_clear()
    render_pdfa("Grille", [Block("Bilan", ["GIR 2"])], created=CREATED)
    misses = pdfa._FlateOnce.encode.cache_info().misses
    render_pdfa("Grille", [Block("Bilan", ["GIR 4"])], created=CREATED)
    info = pdfa._FlateOnce.encode.cache_info()
    assert misses == 2 and info.misses == 2 and info.hits == 2
    assert zlib.decompress(pdfa._FlateOnce.encode(b"font")) == b"font"
