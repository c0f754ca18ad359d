"""The validation engine on the official ANS examples (they pass) and on broken copies (they fail, rightly)."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from lxml import etree

from app.interop.cda.schematron import SchematronError, compile_schematron
from app.interop.cda.validation import CdaValidator, ValidationReport

NS = {"c": "urn:hl7-org:v3"}
EXAMPLES = "cda/TestContenuCDA-3-0/ExemplesCDA"


def _example(shared_specs: Path, name: str) -> etree._ElementTree:
    return etree.parse(str(shared_specs / EXAMPLES / name))


def _errors(report: ValidationReport) -> list[str]:
    return [f"{f.source}: {f.message}" for f in report.errors]


@pytest.mark.parametrize(
    "name",
    [
        "DLU-EHPAD-DLU_2022.01.xml",
        "DLU-EHPAD-FLUDT_2022.01.xml",
        "DLU-EHPAD-FLUDR_2022.01.xml",
        "DOC_NON_STRUCTURE_CDA-R2-N1.xml",
    ],
)
def test_official_examples_pass(cda_validator: CdaValidator, shared_specs: Path, name: str) -> None:
    report = cda_validator.validate((shared_specs / EXAMPLES / name).read_bytes())
    assert report.valid, _errors(report)
    assert "XSD" in report.checked and "ASIP-STRUCT-MIN-StrucMin" in report.checked
    if name.startswith("DLU"):
        assert any(c.startswith("CI-SIS_DLU-EHPAD") for c in report.checked)


def test_broken_fixture_reports_each_defect(cda_validator: CdaValidator, shared_specs: Path) -> None:
    report = cda_validator.validate((shared_specs / "cda/test-fixtures/DLU-EHPAD-DLU_2022.01_BROKEN.xml").read_bytes())
    messages = _errors(report)
    assert not report.valid
    assert any(m.startswith("xsd:") and "bogus" in m for m in messages)
    assert any("traits de l'INS" in m for m in messages)
    assert any("2.16.840.1.113883.1.11.10228" in m for m in messages)
    assert any("1.2.250.1.213.1.1.5.466" in m for m in messages)
    assert any("JDV_ChecklistDLU_CISIS" in m for m in messages)
    assert any('"Traitements" doit être présente' in m for m in messages)


def _remove(xpath: str) -> Callable[[etree._ElementTree], None]:
    def mutate(tree: etree._ElementTree) -> None:
        for node in tree.xpath(xpath, namespaces=NS):
            node.getparent().remove(node)

    return mutate


def _set(xpath: str, attribute: str, value: str) -> Callable[[etree._ElementTree], None]:
    def mutate(tree: etree._ElementTree) -> None:
        for node in tree.xpath(xpath, namespaces=NS):
            node.set(attribute, value)

    return mutate


@pytest.mark.parametrize(
    ("name", "mutate", "source", "expected"),
    [
        (
            "DOC_NON_STRUCTURE_CDA-R2-N1.xml",
            _set("/c:ClinicalDocument/c:code", "code", "99999-9"),
            "StrucMin",
            "1.2.250.1.213.1.1.5.471",
        ),
        (
            "DOC_NON_STRUCTURE_CDA-R2-N1.xml",
            _set("/c:ClinicalDocument/c:languageCode", "code", "french"),
            "StrucMin",
            "languageCode",
        ),
        ("DOC_NON_STRUCTURE_CDA-R2-N1.xml", _remove("/c:ClinicalDocument/c:custodian"), "xsd", "custodian"),
        (
            "DOC_NON_STRUCTURE_CDA-R2-N1.xml",
            _set("//c:healthCareFacility/c:code", "code", "SA99"),
            "StrucMin",
            "1.2.250.1.213.1.1.5.466",
        ),
        ("DLU-EHPAD-DLU_2022.01.xml", _remove("//c:patient/c:birthplace"), "StrucMin", "traits de l'INS"),
        (
            "DLU-EHPAD-FLUDT_2022.01.xml",
            _remove("//c:section[c:templateId/@root='1.3.6.1.4.1.19376.1.5.3.1.3.25']/.."),
            "FLUDT",
            "Signes vitaux",
        ),
        ("DLU-EHPAD-FLUDR_2022.01.xml", _set("/c:ClinicalDocument/c:code", "code", "11488-4"), "FLUDR", "74207-2"),
    ],
)
def test_mutated_examples_fail_with_the_right_assertion(
    cda_validator: CdaValidator,
    shared_specs: Path,
    name: str,
    mutate: Callable[[etree._ElementTree], None],
    source: str,
    expected: str,
) -> None:
    tree = _example(shared_specs, name)
    mutate(tree)
    report = cda_validator.validate(etree.tostring(tree, xml_declaration=True, encoding="UTF-8"))
    assert not report.valid
    hits = [f for f in report.errors if source in f.source and expected.lower() in (f.message + f.location).lower()]
    assert hits, _errors(report)
    assert all(h.location for h in hits)


def test_not_xml_is_reported_not_raised(cda_validator: CdaValidator) -> None:
    report = cda_validator.validate(b"<ClinicalDocument")
    assert not report.valid and report.errors[0].source == "xml"


def test_compiled_stylesheets_are_cached_by_input_hash(cda_validator: CdaValidator) -> None:
    first = cda_validator.compiled_path("CI-SIS_DLU-EHPAD-DLU_2022.01.sch")
    assert first.is_file() and first.parent == cda_validator.cache_dir
    stamp = first.stat().st_mtime_ns
    assert cda_validator.compiled_path("CI-SIS_DLU-EHPAD-DLU_2022.01.sch") == first
    assert first.stat().st_mtime_ns == stamp


def test_processes_compiling_the_same_schematron_at_once_all_get_it(
    cda_validator: CdaValidator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two generating processes start on an empty cache: each compiles, and neither may lose the other's file."""
    from app.interop.cda import validation

    compile_once = validation.compile_schematron
    rounds, racers = 10, 4
    barrier = threading.Barrier(racers)

    def compile_together(source: Path) -> bytes:
        compiled = compile_once(source)
        barrier.wait()  # everyone writes and renames at the same moment
        return compiled

    monkeypatch.setattr(validation, "compile_schematron", compile_together)
    for round_ in range(rounds):
        racer = copy.copy(cda_validator)
        racer.cache_dir = tmp_path / str(round_)
        with ThreadPoolExecutor(racers) as pool:
            runs = [pool.submit(racer.compiled_path, "CI-SIS_DLU-EHPAD-DLU_2022.01.sch") for _ in range(racers)]
            paths = [run.result() for run in runs]
        assert len(set(paths)) == 1 and paths[0].is_file()
        assert [p.name for p in racer.cache_dir.iterdir()] == [paths[0].name]


def test_compiler_refuses_a_missing_include(tmp_path: Path) -> None:
    sch = tmp_path / "bad.sch"
    sch.write_text(
        '<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2"><include href="nope.sch"/></schema>'
    )
    with pytest.raises(SchematronError, match="not found"):
        compile_schematron(sch)


def test_first_matching_rule_wins_and_abstract_patterns_expand(tmp_path: Path) -> None:
    from saxonche import PySaxonProcessor

    (tmp_path / "abs.sch").write_text(
        '<pattern xmlns="http://purl.oclc.org/dsdl/schematron" abstract="true" id="has">'
        '<rule context="$elt"><assert test="@$att">$elt must have @$att</assert></rule></pattern>'
    )
    (tmp_path / "s.sch").write_text(
        '<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2">'
        '<include href="abs.sch"/>'
        '<pattern id="p1"><rule context="b[@x]"><assert test="false()" role="warning">first</assert></rule>'
        '<rule context="b"><assert test="false()">second</assert></rule></pattern>'
        '<pattern id="p2" is-a="has"><param name="elt" value="b"/><param name="att" value="y"/></pattern>'
        "</schema>"
    )
    processor = PySaxonProcessor(license=False)
    stylesheet = processor.new_xslt30_processor().compile_stylesheet(
        stylesheet_text=compile_schematron(tmp_path / "s.sch").decode()
    )
    svrl = etree.fromstring(
        stylesheet.transform_to_string(xdm_node=processor.parse_xml(xml_text="<a><b x='1'/><b y='2'/></a>")).encode()
    )
    texts = sorted(" ".join(t.itertext()).strip() for t in svrl.iter("{http://purl.oclc.org/dsdl/svrl}text"))
    assert texts == ["b must have @y", "first", "second"]


def test_value_set_files_become_parameters_defaulting_to_the_file(tmp_path: Path) -> None:
    from saxonche import PySaxonProcessor

    from app.interop.cda.schematron import PRELOAD_HREF, XSL

    (tmp_path / "vs.xml").write_text("<vs><c code='A'/></vs>")
    (tmp_path / "s.sch").write_text(
        '<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2">'
        '<let name="jdv" value="\'vs.xml\'"/>'
        "<pattern><rule context=\"b\"><assert test=\"@code = doc('vs.xml')//c/@code\">b <value-of select='@code'/>"
        '</assert></rule><rule context="d"><assert test="@code = document($jdv)//c/@code">d <value-of '
        "select='@code'/></assert></rule></pattern></schema>"
    )
    compiled = compile_schematron(tmp_path / "s.sch")
    parameters = etree.fromstring(compiled).findall(f"{{{XSL}}}param")
    assert [p.get(PRELOAD_HREF) for p in parameters] == ["vs.xml"]  # both spellings name one file
    processor = PySaxonProcessor(license=False)
    stylesheet = processor.new_xslt30_processor().compile_stylesheet(stylesheet_text=compiled.decode())
    instance = processor.parse_xml(xml_text="<a><b code='A'/><b code='B'/><d code='A'/><d code='B'/></a>")

    def failures() -> list[str]:
        svrl = etree.fromstring(stylesheet.transform_to_string(xdm_node=instance).encode())
        return sorted(" ".join(t.itertext()).strip() for t in svrl.iter("{http://purl.oclc.org/dsdl/svrl}text"))

    assert failures() == ["b B", "d B"]  # without the parameter: the file itself
    stylesheet.set_parameter(parameters[0].get("name", ""), processor.parse_xml(xml_text="<vs><c code='B'/></vs>"))
    assert failures() == ["b A", "d A"]  # with it: the document given, not the file read again


def _fired(compiled: bytes, instance: str) -> list[str]:
    """The texts of the assertions a compiled schematron reports on ``instance``, sorted."""
    from saxonche import PySaxonProcessor

    processor = PySaxonProcessor(license=False)
    stylesheet = processor.new_xslt30_processor().compile_stylesheet(stylesheet_text=compiled.decode())
    svrl = etree.fromstring(stylesheet.transform_to_string(xdm_node=processor.parse_xml(xml_text=instance)).encode())
    return sorted(" ".join(t.itertext()).strip() for t in svrl.iter("{http://purl.oclc.org/dsdl/svrl}text"))


def test_template_contexts_are_looked_up_by_template_root_and_fire_exactly(tmp_path: Path) -> None:
    """A rule on `*[cda:templateId/@root = 'X']` selects its candidates from the templateId index; the template's
    own match still decides, so a templateId in another namespace fires nothing, and one on a grandchild fires its
    parent, not the grandparent,
    and a predicate where the templateId test is optional (`or`) keeps the full search."""

    from app.interop.cda.schematron import XSL

    (tmp_path / "s.sch").write_text(
        '<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2">'
        '<ns prefix="cda" uri="urn:hl7-org:v3"/>'
        '<pattern><rule context="*[cda:templateId/@root = \'T1\']"><report test="true()">t1 <value-of '
        "select='@n'/></report></rule></pattern>"
        '<pattern><rule context="cda:s[cda:templateId[@root=&quot;T2&quot;] and @k]"><report test="true()">t2 '
        "<value-of select='@n'/></report></rule></pattern>"
        "<pattern><rule context=\"*[cda:templateId/@root = 'T3' or @k = 'x']\"><report test=\"true()\">t3 "
        "<value-of select='@n'/></report></rule></pattern>"
        "</schema>"
    )
    compiled = compile_schematron(tmp_path / "s.sch")
    selections = [a.get("select") for a in etree.fromstring(compiled).iter(f"{{{XSL}}}apply-templates")]
    assert selections == [
        "key('dui-by-template', ('T1'))",
        "key('dui-by-template', ('T2'))",
        "//(*[cda:templateId/@root = 'T3' or @k = 'x'])",
    ]
    instance = (
        '<doc xmlns="urn:hl7-org:v3" xmlns:o="urn:other">'
        "<s n='a'><templateId root='T1'/></s>"
        "<s n='b'><o:templateId root='T1'/></s>"
        "<s n='c'><x n='x'><templateId root='T1'/></x></s>"
        "<s n='d' k='1'><templateId root='T2'/></s>"
        "<s n='e'><templateId root='T2'/></s>"
        "<o:s n='f' k='1'><templateId root='T2'/></o:s>"
        "<s n='g' k='x'/><s n='h'><templateId root='T3'/></s>"
        "</doc>"
    )
    texts = _fired(compiled, instance)
    assert texts == ["t1 a", "t1 x", "t2 d", "t3 g", "t3 h"]


def test_each_index_is_looked_up_once_per_pattern_with_every_value() -> None:
    from app.interop.cda.schematron import _Candidates

    candidates = _Candidates()
    for part in ["cda:addr", "x/cda:addr[@use]", "cda:id", "*[cda:templateId/@root='A']", "cda:id", "@code"]:
        candidates.add(part)
    assert candidates.expression({}) == (
        "key('dui-by-template', ('A')) | key('dui-by-name', ('addr', 'id')) | //(@code)"
    )


def test_rules_starting_with_the_same_descendant_step_share_it_and_fire_as_before(tmp_path: Path) -> None:
    """`//a[@k]/b/*[…]` and `//a[@k]/c//*[…]` select from one global variable holding `//a[@k]`; the nodes
    they fire on are those of the paths themselves."""

    from app.interop.cda.schematron import XSL

    (tmp_path / "s.sch").write_text(
        '<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2">'
        '<pattern><rule context="//a[@k]/b/*[@n != \'skip\']"><report test="true()">one <value-of '
        "select='@n'/></report></rule></pattern>"
        '<pattern><rule context="//a[@k]/c//*[@n]"><report test="true()">two <value-of select=\'@n\'/>'
        '</report></rule><rule context="/r/*[@n]"><report test="true()">top <value-of select=\'@n\'/>'
        "</report></rule></pattern>"
        "</schema>"
    )
    compiled = compile_schematron(tmp_path / "s.sch")
    stylesheet_root = etree.fromstring(compiled)
    shared = [v.get("select") for v in stylesheet_root.iterchildren(f"{{{XSL}}}variable")]
    assert shared == ["//a[@k]"]
    selections = [a.get("select") for a in stylesheet_root.iter(f"{{{XSL}}}apply-templates")]
    assert selections == ["($dui-context-0/b/*[@n != 'skip'])", "($dui-context-0/c//*[@n]) | (/r/*[@n])"]
    instance = (
        "<r><a k='1'><b><x n='1'/><x n='skip'/></b><c><d><y n='2'/></d></c></a>"
        "<a><b><x n='no'/></b></a><q><a k='2'><b><x n='3'/></b></a></q><z n='4'/></r>"
    )
    texts = _fired(compiled, instance)
    assert texts == ["one 1", "one 3", "top 4", "two 2"]
