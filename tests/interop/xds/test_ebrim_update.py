"""ITI-57 requests: valid against the ebRS schemas and shaped as the CNAM kit's templates."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from app.interop.cda.xds import Code
from app.interop.xds import ebrim
from tests.interop.xds.test_ebrim_mtom import CDA, entry, submission

KIT = "services/dmp/dmp-lps-kit-v2.06.01"
NS = ebrim.NSMAP


def _kit_status(shared_specs: Path, name: str) -> tuple[str, str, str]:
    root = etree.parse(str(shared_specs / KIT / name)).getroot()
    association = root.find(f".//{{{ebrim.RIM}}}Association")
    assert association is not None
    slots = {
        s.get("name"): s.findtext(f"{{{ebrim.RIM}}}ValueList/{{{ebrim.RIM}}}Value")
        for s in association.iter(f"{{{ebrim.RIM}}}Slot")
    }
    return association.get("associationType", ""), slots["OriginalStatus"] or "", slots["NewStatus"] or ""


def test_status_change_is_the_kit_depublication_and_archiving(shared_specs: Path) -> None:
    header = submission()
    for template, new in (
        ("template_depublication.xml", ebrim.DMP_DELETED),
        ("template_archivage.xml", ebrim.DMP_ARCHIVED),
    ):
        request = ebrim.update_availability_status(
            header, "urn:uuid:0f2f7f0e-0000-4000-8000-000000000001", original=ebrim.APPROVED, new=new
        )
        assert ebrim.schema_errors(request) == []
        association = request.find(f".//{{{ebrim.RIM}}}Association")
        assert association is not None
        assert association.get("sourceObject") == header.entry_uuid
        assert association.get("targetObject") == "urn:uuid:0f2f7f0e-0000-4000-8000-000000000001"
        slots = {
            s.get("name"): s.findtext(f"{{{ebrim.RIM}}}ValueList/{{{ebrim.RIM}}}Value")
            for s in association.iter(f"{{{ebrim.RIM}}}Slot")
        }
        ours = (association.get("associationType"), slots["OriginalStatus"], slots["NewStatus"])
        assert ours == _kit_status(shared_specs, template)
        assert request.find(f".//{{{ebrim.RIM}}}RegistryPackage") is not None
        assert request.find(f".//{{{ebrim.RIM}}}ExtrinsicObject") is None


def test_masking_is_a_new_version_with_the_previous_version_slot(shared_specs: Path) -> None:
    registered = entry(CDA)
    masked = ebrim.SubmittedDocument(
        registered,
        CDA,
        logical_id="urn:uuid:0f2f7f0e-0000-4000-8000-000000000002",
        visibility=(Code("MASQUE_PS", "1.2.250.1.213.1.1.4.13", "Masqué aux professionnels de santé"),),
    )
    request = ebrim.update_document_entry(submission(masked), 4)
    assert ebrim.schema_errors(request) == []
    eo = request.find(f".//{{{ebrim.RIM}}}ExtrinsicObject")
    assert eo is not None and eo.get("lid") == masked.logical_id and eo.get("id") == masked.entry_uuid
    codes = eo.xpath(
        "rim:Classification[@classificationScheme=$s]/@nodeRepresentation", namespaces=NS, s=ebrim.DE_CONFIDENTIALITY
    )
    assert codes == ["N", "MASQUE_PS"]
    member = request.xpath("//rim:Association[@targetObject=$t]", namespaces=NS, t=masked.entry_uuid)[0]
    slots = {s.get("name"): s.findtext(f"{{{ebrim.RIM}}}ValueList/{{{ebrim.RIM}}}Value") for s in member}
    assert member.get("associationType") == ebrim.HAS_MEMBER
    assert slots == {"SubmissionSetStatus": "Original", "PreviousVersion": "4"}
    kit = etree.parse(str(shared_specs / KIT / "template_masquage.xml")).getroot()
    kit_slots = {s.get("name") for s in kit.iter("Slot") if s.getparent().tag == "Association"}  # type: ignore[union-attr]
    assert kit_slots == set(slots)
    assert request.find(f".//{{{ebrim.XDSB}}}Document") is None  # metadata only: no document goes to the registry
