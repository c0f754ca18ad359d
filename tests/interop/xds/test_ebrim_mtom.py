"""ITI-41 builders: the ebRIM request validates against the XDS.b schema and survives an MTOM round trip."""

from __future__ import annotations

import base64
import hashlib

import pytest
from lxml import etree

from app.interop.cda.xds import Code, DocumentEntry
from app.interop.xds import ebrim, soap

CDA = b"<ClinicalDocument xmlns='urn:hl7-org:v3'><title>PPA</title></ClinicalDocument>\r\n--not-a-boundary\x00\xff"
PATIENT = "123456789012345^^^&1.2.250.1.213.1.4.10&ISO^NH"


def entry(content: bytes, unique_id: str = "1.2.250.1.999.1^42") -> DocumentEntry:
    return DocumentEntry(
        unique_id=unique_id,
        title="Plan personnalisé",
        type_code=Code("56446-8", "2.16.840.1.113883.6.1", "PPA"),
        class_code=Code("44", "1.2.250.1.213.1.1.4.1", "Plan de soins"),
        format_code=Code("urn:asip:ci-sis:export-dui:2023", "1.2.250.1.213.1.1.4.2.282", "DUI"),
        confidentiality_code=Code("N", "2.16.840.1.113883.5.25", "Normal"),
        practice_setting_code=Code("MEDICO-SOCIAL", "1.2.250.1.213.1.1.4.9", "Médico-social"),
        healthcare_facility_type_code=Code("SA17", "1.2.250.1.71.4.2.4", "Personnes âgées"),
        language_code="fr-FR",
        creation_time="20261201101500",
        service_start_time=None,
        patient_id=PATIENT,
        mime_type="text/xml",
        hash=hashlib.sha1(content).hexdigest(),
        size=len(content),
        set_id="1.2.250.1.999.2",
        version=1,
    )


def submission(*docs: ebrim.SubmittedDocument) -> ebrim.Submission:
    return ebrim.Submission(
        unique_id="1.2.250.1.999.3.1",
        source_id="1.2.250.1.999",
        patient_id=PATIENT,
        submission_time="20261201101600",
        author=ebrim.Author(institution="EHPAD Test^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1010101010"),
        content_type=Code("SYNTH", "1.2.250.1.213.2.2", "Synthèse"),
        documents=docs,
    )


def test_request_round_trips_through_mtom_and_validates() -> None:
    doc = ebrim.SubmittedDocument(entry(CDA), CDA)
    request = ebrim.provide_and_register(submission(doc))
    env = soap.envelope(request, action=soap.ITI41_ACTION, to="https://dmp.test/DocumentRepository_Service")
    package = soap.mtom(env, {ebrim.content_id(0): CDA}, action=soap.ITI41_ACTION)
    assert b"xop:Include" in package.body and CDA in package.body  # binary part, not base64

    parsed, attachments = soap.parse(package.content_type, package.body)
    assert attachments == {ebrim.content_id(0): CDA}
    assert soap.header_value(parsed, "Action") == soap.ITI41_ACTION
    payload = soap.body_child(parsed)
    assert ebrim.schema_errors(payload) == []
    ids = payload.xpath(
        "//rim:ExternalIdentifier[@identificationScheme=$s]/@value", namespaces=ebrim.NSMAP, s=ebrim.DE_UNIQUE_ID
    )
    assert ids == ["1.2.250.1.999.1^42"]
    assert payload.findtext(f"{{{ebrim.XDSB}}}Document") is not None


def test_replacement_has_rplc_association() -> None:
    doc = ebrim.SubmittedDocument(
        entry(CDA, "1.2.250.1.999.1^43"), CDA, replaces="urn:uuid:00000000-0000-0000-0000-000000000001"
    )
    request = ebrim.provide_and_register(submission(doc))
    rplc = request.xpath("//rim:Association[@associationType=$t]", namespaces=ebrim.NSMAP, t=ebrim.RPLC)
    assert len(rplc) == 1 and rplc[0].get("targetObject") == doc.replaces
    assert rplc[0].get("sourceObject") == doc.entry_uuid


def test_unfilled_include_is_not_schema_valid() -> None:
    request = ebrim.provide_and_register(submission(ebrim.SubmittedDocument(entry(CDA), CDA)))
    assert ebrim.schema_errors(request)  # xop:Include must be resolved into base64 first


def test_stored_query_validates() -> None:
    assert ebrim.schema_errors(ebrim.stored_query_by_unique_id(["1.2.3^4"])) == []


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/related", b"x"),
        ('multipart/related; boundary="b"; start="<r>"', b"--b\r\nContent-ID: <x>\r\n\r\n<a/>\r\n--b--"),
        ("application/soap+xml", b"<unclosed"),
    ],
)
def test_bad_packages_are_refused(content_type: str, body: bytes) -> None:
    with pytest.raises(soap.MtomError):
        soap.parse(content_type, body)


def test_missing_xop_part_is_refused() -> None:
    env = soap.envelope(
        etree.fromstring(f"<d xmlns:xop='{ebrim.XOP}'><xop:Include href='cid:nope'/></d>"), action="a", to="b"
    )
    package = soap.mtom(env, {}, action="a")
    with pytest.raises(soap.MtomError, match="missing part"):
        soap.parse(package.content_type, package.body)


def test_binary_holders_keep_their_bytes_only_and_the_schema_verdict_is_unchanged() -> None:
    document = f"{{{ebrim.XDSB}}}Document"
    doc = ebrim.SubmittedDocument(entry(CDA), CDA)
    request = ebrim.provide_and_register(submission(doc))
    env = soap.envelope(request, action=soap.ITI41_ACTION, to="https://dmp.test/DocumentRepository_Service")
    package = soap.mtom(env, {ebrim.content_id(0): CDA}, action=soap.ITI41_ACTION)

    parsed, _, included = soap.parse_included(package.content_type, package.body, binary=frozenset({document}))
    payload = soap.body_child(parsed)
    holder = payload.find(document)
    assert holder is not None and holder.text is None and included == {holder: CDA}
    assert ebrim.schema_errors(payload) == []
    # Without ``binary`` the holder carries the base64 of the same bytes.
    inline, _, by_holder = soap.parse_included(package.content_type, package.body)
    inline_holder = soap.body_child(inline).find(document)
    assert inline_holder is not None and base64.b64decode(inline_holder.text or "") == by_holder[inline_holder] == CDA
    # The rest of the request is still validated: a Document without its id is refused either way.
    del holder.attrib["id"]
    assert ebrim.schema_errors(payload) != []
