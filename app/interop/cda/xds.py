"""XDS DocumentEntry metadata derived from a CDA header, for the DMP (ITI-41) and MSSanté (XDM)."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from app.domain import codes
from app.domain.ins import INS_OIDS
from app.interop.cda.document import parse_cda, template_ids

NS = {"c": "urn:hl7-org:v3"}
CLASS_SCHEME = "1.2.250.1.213.1.1.4.1"  # TRE_A03 ClasseDocument
FORMAT_SCHEME_IHE = "1.3.6.1.4.1.19376.1.2.3"
FORMAT_SCHEME_CISIS = "1.2.250.1.213.1.1.4.2.282"  # TRE_A06
# ASS_A12: media type of an N1 body -> formatCode (IHE XDS-SD and its French extensions).
N1_FORMATS = {
    "application/pdf": "urn:ihe:iti:xds-sd:pdf:2008",
    "text/plain": "urn:ihe:iti:xds-sd:text:2008",
    "text/rtf": "urn:ihe:iti-fr:xds-sd:rtf:2010",
    "image/jpeg": "urn:ihe:iti-fr:xds-sd:jpeg:2010",
    "image/tiff": "urn:ihe:iti-fr:xds-sd:tiff:2010",
}
# ASS_A11: volet templateId -> formatCode.
VOLET_FORMATS = {
    "1.2.250.1.213.1.1.1.22": "urn:asip:ci-sis:dlu:2015",
    "1.2.250.1.213.1.1.1.23": "urn:asip:ci-sis:fludt:2017",
    "1.2.250.1.213.1.1.1.24": "urn:asip:ci-sis:fludr:2017",
    "1.2.250.1.213.1.1.1.58": "urn:asip:ci-sis:export-dui:2023",
}


class MetadataError(ValueError):
    """The header does not give a DMP-acceptable value for one metadata."""

    def __init__(self, metadata: str, message: str) -> None:
        super().__init__(f"{metadata}: {message}")
        self.metadata = metadata


@dataclass(frozen=True)
class Code:
    code: str
    scheme: str
    display: str


@dataclass(frozen=True)
class DocumentEntry:
    unique_id: str
    title: str
    type_code: Code
    class_code: Code
    format_code: Code
    confidentiality_code: Code
    practice_setting_code: Code
    healthcare_facility_type_code: Code
    language_code: str
    creation_time: str
    service_start_time: str | None
    patient_id: str | None
    mime_type: str
    hash: str
    size: int
    set_id: str
    version: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@functools.cache
def _compiled(xpath: str) -> etree.XPath:
    # A path given to .xpath() is compiled again on every call: the metadata of every stored and every sent
    # document are read with the same dozen paths.
    return etree.XPath(xpath, namespaces=NS)


def _first(root: etree._Element, xpath: str) -> etree._Element | None:
    found = _compiled(xpath)(root)
    return found[0] if found else None


def _code(element: etree._Element | None, metadata: str) -> Code:
    if element is None or not element.get("code"):
        raise MetadataError(metadata, "missing in the CDA header")
    return Code(element.get("code", ""), element.get("codeSystem", ""), element.get("displayName", ""))


def _utc(ts: str) -> str:
    """A CDA TS with offset to the XDS UTC form YYYYMMDDhhmmss."""
    if len(ts) >= 19 and ts[14] in "+-":
        return datetime.strptime(ts[:19], "%Y%m%d%H%M%S%z").astimezone(UTC).strftime("%Y%m%d%H%M%S")
    return ts[:14]


def document_entry(document: bytes, root: etree._Element | None = None) -> DocumentEntry:
    """The DocumentEntry attributes the DMP requires, derived from the header (reference §3.1); ``root``, when
    given, is ``document`` already parsed."""
    root = parse_cda(document) if root is None else root
    type_code = _code(_first(root, "c:code"), "typeCode")
    known = codes.essms_document_types().get(type_code.code)
    if known is None:
        raise MetadataError("classCode", f"no ASS_X04 class for type {type_code.code}")
    body = _first(root, "c:component/c:nonXMLBody/c:text")
    if body is not None:
        media = body.get("mediaType", "")
        if media not in N1_FORMATS:
            raise MetadataError("formatCode", f"no formatCode for media type {media}")
        format_code = Code(N1_FORMATS[media], FORMAT_SCHEME_IHE, "Document à corps non structuré en Pdf/A-1")
    else:
        volets = [t for t in template_ids(root) if t in VOLET_FORMATS]
        if not volets:
            raise MetadataError("formatCode", "no ASS_A11 formatCode for the volet templateIds")
        format_code = Code(VOLET_FORMATS[volets[0]], FORMAT_SCHEME_CISIS, type_code.display)
    confidentiality = _code(_first(root, "c:confidentialityCode"), "confidentialityCode")
    # JDV_J58 (XDS confidentialityCode of the DMP) is not among the official files we ship: its three codes.
    if confidentiality.code not in ("N", "R", "V"):
        raise MetadataError("confidentialityCode", f"{confidentiality.code} is not in JDV_J58 (N, R, V)")
    practice = _code(
        _first(
            root,
            "c:documentationOf/c:serviceEvent/c:performer/c:assignedEntity/c:representedOrganization/"
            "c:standardIndustryClassCode",
        ),
        "practiceSettingCode",
    )
    facility = _code(
        _first(root, "c:componentOf/c:encompassingEncounter/c:location/c:healthCareFacility/c:code"),
        "healthcareFacilityTypeCode",
    )
    identifier = _first(root, "c:id")
    assert identifier is not None
    unique_id = identifier.get("root", "") + (f"^{identifier.get('extension')}" if identifier.get("extension") else "")
    patient = _first(root, "c:recordTarget/c:patientRole/c:id[" + " or ".join(f"@root='{o}'" for o in INS_OIDS) + "]")
    start = _first(root, "c:documentationOf/c:serviceEvent/c:effectiveTime/c:low")
    language = _first(root, "c:languageCode")
    set_id = _first(root, "c:setId")
    version = _first(root, "c:versionNumber")
    effective = _first(root, "c:effectiveTime")
    return DocumentEntry(
        unique_id=unique_id,
        title=root.findtext("{urn:hl7-org:v3}title") or "",
        type_code=type_code,
        class_code=Code(known.class_code, CLASS_SCHEME, known.class_display),
        format_code=format_code,
        confidentiality_code=confidentiality,
        practice_setting_code=practice,
        healthcare_facility_type_code=facility,
        language_code=language.get("code", "fr-FR") if language is not None else "fr-FR",
        creation_time=_utc(effective.get("value", "")) if effective is not None else "",
        service_start_time=_utc(start.get("value", "")) if start is not None else None,
        patient_id=f"{patient.get('extension')}^^^&{patient.get('root')}&ISO^NH" if patient is not None else None,
        mime_type="text/xml",
        hash=hashlib.sha1(document).hexdigest(),  # XDS.b defines the hash as SHA-1
        size=len(document),
        set_id=set_id.get("root", "") if set_id is not None else "",
        version=int(version.get("value", "1")) if version is not None else 1,
    )
