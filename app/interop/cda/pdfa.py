"""PDF/A for N1 documents: our own renderings are PDF/A-2b; uploaded PDFs are checked as far as can be done offline.

The XDS formatCode ``urn:ihe:iti:xds-sd:pdf:2008`` stands for PDF/A. Offline checks: not encrypted, every font
embedded, XMP metadata with a ``pdfaid`` part and conformance, an OutputIntent with an ICC profile, no JavaScript.
"""

from __future__ import annotations

import io
import os
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from pypdf import PdfReader
from pypdf.errors import PdfReadError
from pypdf.generic import DictionaryObject

_FONT_FILES = ("/FontFile", "/FontFile2", "/FontFile3")


@dataclass(frozen=True)
class Block:
    """A piece of a rendering: a heading and its lines."""

    heading: str
    lines: list[str]


@cache
def _fonts() -> tuple[str, str]:
    import reportlab
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    folder = Path(reportlab.__file__).parent / "fonts"
    for name, file in (("DuiVera", "Vera.ttf"), ("DuiVeraBd", "VeraBd.ttf")):
        font = TTFont(name, str(folder / file))
        _subsets_made_once(font.face)
        _widths_formatted_once(font)
        pdfmetrics.registerFont(font)
    return "DuiVera", "DuiVeraBd"


class _FlateOnce:
    """reportlab's Flate filter, remembering the compressed form of the last font files it saw."""

    pdfname = "FlateDecode"

    @staticmethod
    @lru_cache(maxsize=64)
    def encode(content: bytes) -> bytes:
        return zlib.compress(content)


def _subsets_made_once(face: Any) -> None:
    """Each rendering embeds a subset of the font: the printable ASCII glyphs (reportlab's readable subset 0)
    plus the other characters it uses, so renderings mostly embed the same few subsets. Each distinct subset
    is cut and compressed once per process (about 2 ms of a 5 ms rendering); the file is the same bytes."""
    make_subset, add_subset_objects = face.makeSubset, face.addSubsetObjects
    made = lru_cache(maxsize=64)(lambda glyphs: make_subset(list(glyphs)))

    def add_subset(doc: Any, fontname: str, subset: list[int]) -> Any:
        descriptor = add_subset_objects(doc, fontname, subset)
        if doc.compression:
            doc.idToObject[doc.idToObject[descriptor.name].dict["FontFile2"].name].filters = [_FlateOnce]
        return descriptor

    face.makeSubset = lambda subset: made(tuple(subset))
    face.addSubsetObjects = add_subset


def _widths_formatted_once(font: Any) -> None:
    """A subset's Widths array (one number per glyph, formatted one by one) formatted once per distinct
    subset, like its font file."""
    from reportlab.pdfbase.pdfdoc import PDFArray, PDFTrueTypeFont

    class Widths(PDFArray):  # type: ignore[misc]
        def format(self, document: Any, IND: bytes = b"\n ") -> bytes:
            return formatted(tuple(self.sequence))

    @lru_cache(maxsize=64)
    def formatted(widths: tuple[int, ...]) -> bytes:
        return bytes(PDFArray(widths).format(None))  # numbers: formatted without the document

    add_objects = font.addObjects

    def add(doc: Any) -> None:
        add_objects(doc)
        for pdf_font in doc.idToObject["BasicFonts"].dict.values():
            if isinstance(pdf_font, PDFTrueTypeFont) and type(pdf_font.Widths) is PDFArray:
                pdf_font.Widths = Widths(pdf_font.Widths.sequence)

    font.addObjects = add


@cache
def srgb_profile() -> bytes:
    """An sRGB ICC profile for the OutputIntent, produced by LittleCMS (Pillow)."""
    from PIL import ImageCms

    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


def _xmp(title: str, producer: str, created: datetime) -> bytes:
    stamp = created.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
        ' xmlns:pdf="http://ns.adobe.com/pdf/1.3/">'
        "<pdfaid:part>2</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance>"
        f'<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{escape(title)}</rdf:li></rdf:Alt></dc:title>'
        f"<dc:format>application/pdf</dc:format><pdf:Producer>{escape(producer)}</pdf:Producer>"
        f"<xmp:CreateDate>{stamp}</xmp:CreateDate><xmp:ModifyDate>{stamp}</xmp:ModifyDate>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


def render_pdfa(
    title: str, blocks: list[Block], *, producer: str = "DUI backend", created: datetime | None = None
) -> bytes:
    """A PDF/A-2b rendering: embedded TrueType fonts, XMP identification, sRGB OutputIntent, written by
    reportlab in one pass (no second library reading and writing the file again)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    regular, bold = _fonts()
    created = created or datetime.now(UTC)
    styles = {
        "title": ParagraphStyle("t", fontName=bold, fontSize=15, leading=19, spaceAfter=6 * mm, bulletFontName=regular),
        "heading": ParagraphStyle(
            "h", fontName=bold, fontSize=11, leading=14, spaceBefore=3 * mm, bulletFontName=regular
        ),
        "line": ParagraphStyle("l", fontName=regular, fontSize=10, leading=13, bulletFontName=regular),
    }
    story: list[object] = [Paragraph(escape(title), styles["title"])]
    for block in blocks:
        story.append(Paragraph(escape(block.heading), styles["heading"]))
        story.extend(Paragraph(escape(line), styles["line"]) for line in block.lines or ["-"])
        story.append(Spacer(1, 2 * mm))
    raw = io.BytesIO()
    document = SimpleDocTemplate(
        raw,
        pagesize=A4,
        title=title,
        author=producer,
        creator=producer,
        producer=producer,
        invariant=1,
        pageCompression=1,
        # The canvas starts on our embedded font, never on the non-embedded standard Helvetica.
        initialFontName=regular,
    )
    document.build(story, canvasmaker=_pdfa_canvas(title, producer, created))
    return raw.getvalue()


def _pdfa_canvas(title: str, producer: str, created: datetime) -> Any:
    """A reportlab canvas class whose file carries the PDF/A parts: the XMP metadata (unfiltered, as PDF/A
    wants it), the sRGB OutputIntent, the document information dated like the XMP, and a file identifier
    of its own (reportlab's invariant mode would give every rendering of the same title the same one)."""
    from reportlab.pdfbase.pdfdoc import PDFArray, PDFCatalog, PDFDictionary, PDFName, PDFStream, PDFString
    from reportlab.pdfgen.canvas import Canvas

    class Catalog(PDFCatalog):  # type: ignore[misc]
        __NoDefault__ = [*PDFCatalog.__NoDefault__, "OutputIntents"]

    stamp = created.strftime("D:%Y%m%d%H%M%S+00'00'")

    class PdfACanvas(Canvas):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            document = self._doc
            catalog = Catalog()
            catalog.__dict__.update(document.Catalog.__dict__)
            document.Catalog = document._catalog = catalog
            profile = PDFStream(PDFDictionary({"N": 3}), content=srgb_profile())
            intent = PDFDictionary(
                {
                    "Type": PDFName("OutputIntent"),
                    "S": PDFName("GTS_PDFA1"),
                    "OutputConditionIdentifier": PDFString("sRGB IEC61966-2.1"),
                    "Info": PDFString("sRGB IEC61966-2.1"),
                    "DestOutputProfile": document.Reference(profile),
                }
            )
            catalog.OutputIntents = PDFArray([document.Reference(intent)])
            catalog.Metadata = PDFStream(
                PDFDictionary({"Type": PDFName("Metadata"), "Subtype": PDFName("XML")}),
                content=_xmp(title, producer, created),
                filters=[],
            )
            self.setDateFormatter(lambda *_: stamp)
            document.updateSignature(os.urandom(16))

    return PdfACanvas


def _fonts_of(resources: object, seen: set[int], issues: list[str]) -> None:
    if not isinstance(resources, DictionaryObject):
        return
    fonts = resources.get("/Font")
    fonts = fonts.get_object() if fonts is not None else None
    if isinstance(fonts, DictionaryObject):
        for name, ref in fonts.items():
            font = ref.get_object()
            if id(font) in seen:
                continue
            seen.add(id(font))
            if font.get("/Subtype") == "/Type3":
                continue
            target = font
            if font.get("/Subtype") == "/Type0":
                target = font["/DescendantFonts"].get_object()[0].get_object()
            descriptor = target.get("/FontDescriptor")
            descriptor = descriptor.get_object() if descriptor is not None else None
            if not isinstance(descriptor, DictionaryObject) or not any(k in descriptor for k in _FONT_FILES):
                issues.append(f"font {font.get('/BaseFont', name)} is not embedded")
    xobjects = resources.get("/XObject")
    xobjects = xobjects.get_object() if xobjects is not None else None
    if isinstance(xobjects, DictionaryObject):
        for ref in xobjects.values():
            xobject = ref.get_object()
            if xobject.get("/Subtype") == "/Form" and id(xobject) not in seen:
                seen.add(id(xobject))
                _fonts_of(xobject.get("/Resources", DictionaryObject()).get_object(), seen, issues)


def pdfa_issues(pdf: bytes) -> list[str]:
    """What keeps ``pdf`` from being PDF/A as far as can be checked offline; empty when none is found."""
    if not pdf.startswith(b"%PDF-"):
        return ["not a PDF file (no %PDF- header)"]
    try:
        reader = PdfReader(io.BytesIO(pdf))
        if reader.is_encrypted:
            return ["the PDF is encrypted (PDF/A forbids it)"]
        root: Any = reader.trailer["/Root"].get_object()
        issues: list[str] = []
        metadata = root.get("/Metadata")
        xmp = metadata.get_object().get_data() if metadata is not None else b""
        if b"pdfaid" not in xmp or b"part" not in xmp or b"conformance" not in xmp:
            issues.append("no XMP pdfaid identification (part and conformance)")
        intents = root.get("/OutputIntents")
        intents = intents.get_object() if intents is not None else []
        if not any(
            i.get_object().get("/S") == "/GTS_PDFA1" and "/DestOutputProfile" in i.get_object() for i in intents
        ):
            issues.append("no PDF/A OutputIntent with an ICC profile")
        names = root.get("/Names")
        if names is not None and "/JavaScript" in names.get_object():
            issues.append("the PDF holds JavaScript")
        if "/ID" not in reader.trailer:
            issues.append("no file identifier (/ID) in the trailer")
        seen: set[int] = set()
        for page in reader.pages:
            _fonts_of(page.get("/Resources", DictionaryObject()).get_object(), seen, issues)
        if len(reader.pages) == 0:
            issues.append("the PDF has no page")
    except (PdfReadError, KeyError, ValueError, TypeError, AttributeError, IndexError) as error:
        return [f"unreadable PDF: {error}"]
    return issues
