"""Our schematron compiler against the ISO reference engine shipped with the ANS kit (used here only as a
yardstick): the same failed assertions on the official examples and on the broken fixture."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from lxml import etree

from app.interop.cda.schematron import compile_schematron
from app.interop.cda.validation import SPECS_ROOT

SVRL = "{http://purl.oclc.org/dsdl/svrl}"
SCHEMATRONS = [
    "CI-SIS_DLU-EHPAD-DLU_2022.01.sch",
    "CI-SIS_DLU-EHPAD-FLUDR_2022.01.sch",
    "profils/CI-SIS_Modeles_ANS.sch",
    "profils/CI-SIS_ModelesDeContenusCDA.sch",
    "profils/IHE.sch",
]
DOCUMENTS = [
    "cda/TestContenuCDA-3-0/ExemplesCDA/DLU-EHPAD-DLU_2022.01.xml",
    "cda/TestContenuCDA-3-0/ExemplesCDA/DLU-EHPAD-FLUDR_2022.01.xml",
    "cda/TestContenuCDA-3-0/ExemplesCDA/DLU-EHPAD-FLUDT_2022.01.xml",
    "cda/TestContenuCDA-3-0/ExemplesCDA/DOC_NON_STRUCTURE_CDA-R2-N1.xml",
    "cda/test-fixtures/DLU-EHPAD-DLU_2022.01_BROKEN.xml",
]


def _messages(svrl: str) -> Counter[str]:
    root = etree.fromstring(svrl.encode())
    return Counter(
        " ".join("".join(item.find(f"{SVRL}text").itertext()).split())
        for item in root.iter(f"{SVRL}failed-assert", f"{SVRL}successful-report")
    )


@pytest.fixture(scope="module")
def engines(shared_specs: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[object, object]]:
    from saxonche import PySaxonProcessor

    processor = PySaxonProcessor(license=False)
    xslt = processor.new_xslt30_processor()
    moteur = shared_specs / "cda/TestContenuCDA-3-0/schematrons/moteur"
    steps = [
        xslt.compile_stylesheet(stylesheet_file=str(moteur / name))
        for name in ("iso_dsdl_include.xsl", "iso_abstract_expand.xsl", "iso_svrl_for_xslt2.xsl")
    ]
    out = tmp_path_factory.mktemp("reference")
    compiled: dict[str, tuple[object, object]] = {}
    for relative in SCHEMATRONS:
        source = SPECS_ROOT / "schematrons" / relative
        current = str(source)
        for index, step in enumerate(steps):
            target = str(out / f"{source.stem}.{index}.xml")
            step.transform_to_file(source_file=current, output_file=target)
            current = target
        tree = etree.parse(current)
        tree.getroot().set("{http://www.w3.org/XML/1998/namespace}base", source.parent.as_uri() + "/")
        reference = xslt.compile_stylesheet(stylesheet_text=etree.tostring(tree).decode())
        ours = xslt.compile_stylesheet(stylesheet_text=compile_schematron(source).decode())
        compiled[relative] = (reference, ours)
    return {"processor": processor, **compiled}  # type: ignore[dict-item]


@pytest.mark.parametrize("relative", SCHEMATRONS)
@pytest.mark.parametrize("document", DOCUMENTS)
def test_same_findings_as_the_reference_engine(
    engines: dict[str, object], shared_specs: Path, relative: str, document: str
) -> None:
    processor = engines["processor"]
    reference, ours = engines[relative]  # type: ignore[misc]
    node = processor.parse_xml(xml_file_name=str(shared_specs / document))  # type: ignore[attr-defined]
    expected = _messages(reference.transform_to_string(xdm_node=node))
    assert _messages(ours.transform_to_string(xdm_node=node)) == expected
