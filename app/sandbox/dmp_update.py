"""ITI-57 Update Document Set in the DMP sandbox: the registry's checks (schema, patient, known and current
entry, original status, previous version) and the update of what it holds (status, new metadata version)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from lxml import etree

from app.interop.xds import ebrim

if TYPE_CHECKING:
    from app.sandbox.dmp import DmpControl, Registered

ITI57_RESPONSE = "urn:ihe:iti:2010:UpdateDocumentSet-Response"
NEW_STATUSES = (ebrim.DMP_DELETED, ebrim.DMP_ARCHIVED, ebrim.DEPRECATED)
Problems = list[tuple[str, str]]


# Compiled once: each registered entry is read with it.
CLASSIFIED_AS = etree.XPath("rim:Classification[@classificationScheme=$s]/@nodeRepresentation", namespaces=ebrim.NSMAP)


def confidentiality_codes(eo: etree._Element) -> tuple[str, ...]:
    found = CLASSIFIED_AS(eo, s=ebrim.DE_CONFIDENTIALITY)
    return tuple(str(code) for code in found)


def describe_version(eo: etree._Element, found: Registered) -> None:
    """VersionInfo and confidentialityCode of an ITI-18 answer's entry (XSD order: before ExternalIdentifier)."""
    etree.SubElement(eo, f"{{{ebrim.RIM}}}VersionInfo", versionName=str(found.version))
    for code in found.confidentiality:
        etree.SubElement(
            eo,
            f"{{{ebrim.RIM}}}Classification",
            id=f"{found.entry_uuid}-conf-{code}",
            classificationScheme=ebrim.DE_CONFIDENTIALITY,
            classifiedObject=found.entry_uuid,
            nodeRepresentation=code,
        )


def _slot(element: etree._Element, name: str) -> str:
    value = element.findtext(f"{{{ebrim.RIM}}}Slot[@name='{name}']/{{{ebrim.RIM}}}ValueList/{{{ebrim.RIM}}}Value")
    return str(value or "")


def _identifier(element: etree._Element, scheme: str) -> str:
    found = element.xpath("rim:ExternalIdentifier[@identificationScheme=$s]/@value", namespaces=ebrim.NSMAP, s=scheme)
    return str(found[0]) if found else ""


def plan_update(control: DmpControl, payload: etree._Element, vihf_patient: str) -> tuple[Problems, Callable[[], None]]:
    """The registry errors of an ITI-57 request, or none and the change to apply (under the control's lock)."""
    errors = ebrim.schema_errors(payload)
    if errors:
        return [("XDSRegistryMetadataError", e) for e in errors[:5]], lambda: None
    if payload.tag != f"{{{ebrim.LCM}}}SubmitObjectsRequest":
        return [("XDSRegistryMetadataError", "ITI-57 takes an lcm:SubmitObjectsRequest")], lambda: None
    package = payload.find(f"{{{ebrim.RIM}}}RegistryObjectList/{{{ebrim.RIM}}}RegistryPackage")
    if package is None:
        return [("XDSRegistryMetadataError", "no submission set")], lambda: None
    patient = _identifier(package, ebrim.SS_PATIENT_ID)
    problems: Problems = []
    if patient != vihf_patient:
        problems.append(("XDSPatientIdDoesNotMatch", "patientId of the submission set differs from the VIHF resource"))
    if control.patients.get(patient.split("^")[0]) not in ("OK", "vide"):
        problems.append(("XDSUnknownPatientId", f"no open DMP for {patient.split('^')[0]}"))
    by_uuid, superseded = control.by_entry_uuid, control.superseded
    changes: list[Callable[[], None]] = []
    associations = payload.xpath("//rim:Association", namespaces=ebrim.NSMAP)
    for association in associations:
        if association.get("associationType") != ebrim.UPDATE_AVAILABILITY_STATUS:
            continue
        target = association.get("targetObject", "")
        found = by_uuid.get(target)
        if found is None:
            code = "XDSMetadataUpdateError" if target in superseded else "UnresolvedReferenceException"
            text = "is not the current version" if target in superseded else "is not a registered document"
            problems.append((code, f"{target} {text}"))
            continue
        original, new = _slot(association, "OriginalStatus"), _slot(association, "NewStatus")
        if found.patient_id != patient:
            problems.append(("XDSPatientIdDoesNotMatch", f"{found.unique_id} is another patient's"))
        if found.status != ebrim.APPROVED:
            problems.append(("XDSMetadataUpdateError", f"{found.unique_id} is not Approved ({found.status})"))
        elif original != found.status:
            problems.append(("XDSMetadataUpdateError", f"OriginalStatus {original} differs from {found.status}"))
        if new not in NEW_STATUSES:
            problems.append(("XDSMetadataUpdateError", f"NewStatus {new} is not allowed"))
        changes.append(_set_status(found, new))
    members = {a.get("targetObject", ""): a for a in associations if a.get("associationType") == ebrim.HAS_MEMBER}
    for eo in payload.iter(f"{{{ebrim.RIM}}}ExtrinsicObject"):
        uid, lid, new_uuid = _identifier(eo, ebrim.DE_UNIQUE_ID), eo.get("lid", ""), eo.get("id", "")
        current = control.registered.get(uid)
        if current is None:
            problems.append(("UnresolvedReferenceException", f"{uid} is not a registered document"))
            continue
        member = members.get(new_uuid)
        previous = _slot(member, "PreviousVersion") if member is not None else ""
        if lid != current.logical_id:
            problems.append(("XDSMetadataUpdateError", f"lid {lid} is not the logicalId of {uid}"))
        if current.status != ebrim.APPROVED:
            problems.append(("XDSMetadataUpdateError", f"{uid} is not Approved ({current.status})"))
        if previous != str(current.version):
            problems.append(("XDSMetadataVersionError", f"PreviousVersion {previous!r} is not {current.version}"))
        if _identifier(eo, ebrim.DE_PATIENT_ID) != current.patient_id or current.patient_id != patient:
            problems.append(("XDSPatientIdDoesNotMatch", f"patientId of {uid} differs from the registered one"))
        if new_uuid in by_uuid or new_uuid in superseded:
            problems.append(("XDSMetadataUpdateError", f"entryUUID {new_uuid} is already used"))
        changes.append(partial(control.new_version, current, new_uuid, confidentiality_codes(eo)))
    if not changes and not problems:
        problems.append(("XDSMetadataUpdateError", "nothing to update"))
    if problems:
        return problems, lambda: None

    def apply() -> None:
        for change in changes:
            change()

    return problems, apply


def _set_status(found: Registered, status: str) -> Callable[[], None]:
    def change() -> None:
        found.status = status

    return change
