"""ebRIM 3.0 SubmitObjectsRequest for ITI-41 Provide and Register Document Set-b (reference services.md §2.4)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from lxml import etree

from app.interop.cda.xds import Code, DocumentEntry

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
QUERY = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
XDSB = "urn:ihe:iti:xds-b:2007"
XOP = "http://www.w3.org/2004/08/xop/include"
NSMAP = {"rim": RIM, "lcm": LCM, "xdsb": XDSB}

# IHE ITI TF-3 §4.2.5: classification schemes and object types.
SUBMISSION_SET_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
SS_CONTENT_TYPE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
SS_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
SS_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
SS_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
DOCUMENT_ENTRY_TYPE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
DE_CLASS = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
DE_CONFIDENTIALITY = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
DE_FORMAT = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
DE_FACILITY = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
DE_PRACTICE = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
DE_TYPE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
DE_EVENT = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4"
DE_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
DE_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
CLASSIFICATION = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification"
EXTERNAL_IDENTIFIER = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:ExternalIdentifier"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"
SIGNS = "urn:ihe:iti:2007:AssociationType:signs"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
# ITI-57 (reference services.md §2.4, kit templates): the DMP's own statuses for deletion and archiving.
UPDATE_AVAILABILITY_STATUS = "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"
DMP_DELETED = "urn:asip:ci-sis:2010:StatusType:Deleted"
DMP_ARCHIVED = "urn:asip:ci-sis:2010:StatusType:Archived"


@dataclass(frozen=True)
class Author:
    """XON/XCN values of the author (reference §2.4, template_XDS.xml)."""

    institution: str  # "<raison sociale>^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^<idNat>"
    person: str | None = None  # "<id>^NOM^Prénom^^^^^^&<oid>&ISO^D^^^IDNPS"
    role: str | None = None
    specialty: str | None = None


@dataclass(frozen=True)
class SubmittedDocument:
    """One document of the submission: its metadata, content and, for a replacement, the entryUUID it replaces."""

    entry: DocumentEntry
    content: bytes
    entry_uuid: str = field(default_factory=lambda: f"urn:uuid:{uuid.uuid4()}")
    replaces: str | None = None
    event_codes: tuple[Code, ...] = ()
    logical_id: str | None = None  # ITI-57: the logicalId (first entryUUID) of the entry this is a new version of
    visibility: tuple[Code, ...] = ()  # DMP confidentiality codes beside the CDA one (MASQUE_PS, INVISIBLE_PATIENT…)


@dataclass(frozen=True)
class Submission:
    unique_id: str
    source_id: str
    patient_id: str
    submission_time: str  # YYYYMMDDhhmmss, UTC
    author: Author
    content_type: Code
    documents: tuple[SubmittedDocument, ...]
    entry_uuid: str = field(default_factory=lambda: f"urn:uuid:{uuid.uuid4()}")
    signature_of: str | None = None  # entryUUID of the signature document (association ``signs``)


def _e(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{RIM}}}{tag}", attrs)


def _slot(parent: etree._Element, name: str, *values: str) -> None:
    slot = _e(parent, "Slot", name=name)
    value_list = _e(slot, "ValueList")
    for value in values:
        _e(value_list, "Value").text = value


def _name(parent: etree._Element, text: str) -> None:
    _e(_e(parent, "Name"), "LocalizedString", value=text)


def _classification(parent: etree._Element, scheme: str, owner: str, code: Code) -> None:
    c = _e(
        parent,
        "Classification",
        classificationScheme=scheme,
        classifiedObject=owner,
        nodeRepresentation=code.code,
        id=f"urn:uuid:{uuid.uuid4()}",
        objectType=CLASSIFICATION,
    )
    _slot(c, "codingScheme", code.scheme)
    _name(c, code.display or code.code)


def _author(parent: etree._Element, scheme: str, owner: str, author: Author) -> None:
    c = _e(
        parent,
        "Classification",
        classificationScheme=scheme,
        classifiedObject=owner,
        nodeRepresentation="",
        id=f"urn:uuid:{uuid.uuid4()}",
        objectType=CLASSIFICATION,
    )
    if author.person:
        _slot(c, "authorPerson", author.person)
    _slot(c, "authorInstitution", author.institution)
    if author.role:
        _slot(c, "authorRole", author.role)
    if author.specialty:
        _slot(c, "authorSpecialty", author.specialty)


def _external_id(parent: etree._Element, scheme: str, owner: str, value: str, name: str) -> None:
    x = _e(
        parent,
        "ExternalIdentifier",
        identificationScheme=scheme,
        value=value,
        id=f"urn:uuid:{uuid.uuid4()}",
        objectType=EXTERNAL_IDENTIFIER,
        registryObject=owner,
    )
    _name(x, name)


def _association(parent: etree._Element, kind: str, source: str, target: str, *, member: bool = False) -> None:
    a = _e(
        parent,
        "Association",
        associationType=kind,
        sourceObject=source,
        targetObject=target,
        id=f"urn:uuid:{uuid.uuid4()}",
        objectType="urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Association",
    )
    if member:
        _slot(a, "SubmissionSetStatus", "Original")


def _document_entry(objects: etree._Element, submission: Submission, doc: SubmittedDocument) -> None:
    entry = doc.entry
    eo = _e(
        objects,
        "ExtrinsicObject",
        id=doc.entry_uuid,
        mimeType=entry.mime_type,
        objectType=DOCUMENT_ENTRY_TYPE,
        status=APPROVED,
    )
    if doc.logical_id:
        eo.set("lid", doc.logical_id)
    _slot(eo, "creationTime", entry.creation_time)
    _slot(eo, "hash", entry.hash)
    _slot(eo, "languageCode", entry.language_code)
    if entry.service_start_time:
        _slot(eo, "serviceStartTime", entry.service_start_time)
    _slot(eo, "size", str(entry.size))
    _slot(eo, "sourcePatientId", entry.patient_id or submission.patient_id)
    _name(eo, entry.title)
    _author(eo, DE_AUTHOR, doc.entry_uuid, submission.author)
    _classification(eo, DE_CLASS, doc.entry_uuid, entry.class_code)
    _classification(eo, DE_CONFIDENTIALITY, doc.entry_uuid, entry.confidentiality_code)
    for code in doc.visibility:
        _classification(eo, DE_CONFIDENTIALITY, doc.entry_uuid, code)
    for event in doc.event_codes:
        _classification(eo, DE_EVENT, doc.entry_uuid, event)
    _classification(eo, DE_FORMAT, doc.entry_uuid, entry.format_code)
    _classification(eo, DE_FACILITY, doc.entry_uuid, entry.healthcare_facility_type_code)
    _classification(eo, DE_PRACTICE, doc.entry_uuid, entry.practice_setting_code)
    _classification(eo, DE_TYPE, doc.entry_uuid, entry.type_code)
    _external_id(eo, DE_PATIENT_ID, doc.entry_uuid, submission.patient_id, "XDSDocumentEntry.patientId")
    _external_id(eo, DE_UNIQUE_ID, doc.entry_uuid, entry.unique_id, "XDSDocumentEntry.uniqueId")


def content_id(index: int) -> str:
    """MIME Content-ID of the n-th document of a request."""
    return f"doc{index}@dui"


def provide_and_register(submission: Submission) -> etree._Element:
    """The ``xdsb:ProvideAndRegisterDocumentSetRequest``; documents are referenced by ``xop:Include``."""
    root = etree.Element(f"{{{XDSB}}}ProvideAndRegisterDocumentSetRequest", nsmap=NSMAP)
    request = etree.SubElement(root, f"{{{LCM}}}SubmitObjectsRequest")
    objects = _e(request, "RegistryObjectList")
    for doc in submission.documents:
        _document_entry(objects, submission, doc)
    _submission_set(objects, submission)
    for doc in submission.documents:
        _association(objects, HAS_MEMBER, submission.entry_uuid, doc.entry_uuid, member=True)
        if doc.replaces:
            _association(objects, RPLC, doc.entry_uuid, doc.replaces)
    if submission.signature_of:
        _association(objects, SIGNS, submission.signature_of, submission.entry_uuid)
    for index, doc in enumerate(submission.documents):
        document = etree.SubElement(root, f"{{{XDSB}}}Document", id=doc.entry_uuid)
        etree.SubElement(document, f"{{{XOP}}}Include", href=f"cid:{content_id(index)}", nsmap={"xop": XOP})
    return root


def _submission_set(objects: etree._Element, submission: Submission) -> None:
    ss = _e(
        objects,
        "RegistryPackage",
        id=submission.entry_uuid,
        objectType="urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage",
    )
    _slot(ss, "submissionTime", submission.submission_time)
    _name(ss, "Soumission DUI")
    _author(ss, SS_AUTHOR, submission.entry_uuid, submission.author)
    _classification(ss, SS_CONTENT_TYPE, submission.entry_uuid, submission.content_type)
    _external_id(ss, SS_UNIQUE_ID, submission.entry_uuid, submission.unique_id, "XDSSubmissionSet.uniqueId")
    _external_id(ss, SS_SOURCE_ID, submission.entry_uuid, submission.source_id, "XDSSubmissionSet.sourceId")
    _external_id(ss, SS_PATIENT_ID, submission.entry_uuid, submission.patient_id, "XDSSubmissionSet.patientId")
    _e(
        objects,
        "Classification",
        classifiedObject=submission.entry_uuid,
        classificationNode=SUBMISSION_SET_NODE,
        id=f"urn:uuid:{uuid.uuid4()}",
        objectType=CLASSIFICATION,
    )


def update_availability_status(submission: Submission, target: str, *, original: str, new: str) -> etree._Element:
    """ITI-57 status change of a registered DocumentEntry (``target``: its entryUUID), as the CNAM kit's
    ``template_depublication.xml`` / ``template_archivage.xml``: a submission set and an UpdateAvailabilityStatus
    association from it to the entry, with OriginalStatus and NewStatus."""
    root = etree.Element(f"{{{LCM}}}SubmitObjectsRequest", nsmap=NSMAP)
    objects = _e(root, "RegistryObjectList")
    _submission_set(objects, submission)
    a = _e(
        objects,
        "Association",
        associationType=UPDATE_AVAILABILITY_STATUS,
        sourceObject=submission.entry_uuid,
        targetObject=target,
        id=f"urn:uuid:{uuid.uuid4()}",
        objectType="urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Association",
    )
    _slot(a, "OriginalStatus", original)
    _slot(a, "NewStatus", new)
    return root


def update_document_entry(submission: Submission, previous_version: int) -> etree._Element:
    """ITI-57 metadata update: a new version of each DocumentEntry (same ``lid``), linked by HasMember with the
    PreviousVersion slot, as the kit's ``template_masquage.xml``; the registry deprecates the previous version."""
    root = etree.Element(f"{{{LCM}}}SubmitObjectsRequest", nsmap=NSMAP)
    objects = _e(root, "RegistryObjectList")
    _submission_set(objects, submission)
    for doc in submission.documents:
        _document_entry(objects, submission, doc)
        a = _e(
            objects,
            "Association",
            associationType=HAS_MEMBER,
            sourceObject=submission.entry_uuid,
            targetObject=doc.entry_uuid,
            id=f"urn:uuid:{uuid.uuid4()}",
            objectType="urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Association",
        )
        _slot(a, "SubmissionSetStatus", "Original")
        _slot(a, "PreviousVersion", str(previous_version))
    return root


def stored_query_by_unique_id(unique_ids: list[str]) -> etree._Element:
    """ITI-18 GetDocuments by uniqueId (reference §2.4), returning LeafClass objects."""
    root = etree.Element(f"{{{QUERY}}}AdhocQueryRequest", nsmap={"query": QUERY, "rim": RIM})
    etree.SubElement(root, f"{{{QUERY}}}ResponseOption", returnComposedObjects="true", returnType="LeafClass")
    query = _e(root, "AdhocQuery", id="urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4")
    _slot(query, "$XDSDocumentEntryUniqueId", "(" + ",".join(f"'{u}'" for u in unique_ids) + ")")
    return root


@cache
def _schema() -> etree.XMLSchema:
    folder = resources.files("app") / "data" / "xds" / "schema"
    with resources.as_file(folder) as path:
        return etree.XMLSchema(etree.parse(str(path / "IHE" / "XDS.b_DocumentRepository.xsd")))


@cache
def _query_schema() -> etree.XMLSchema:
    folder = resources.files("app") / "data" / "xds" / "schema"
    with resources.as_file(folder) as path:
        return etree.XMLSchema(etree.parse(str(path / "ebRS" / "query.xsd")))


def schema_errors(element: etree._Element) -> list[str]:
    """XSD errors of an ITI-41 request/response or an ITI-18 query (empty when valid)."""
    schema = _query_schema() if element.tag.startswith(f"{{{QUERY}}}") else _schema()
    if schema.validate(element):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]
