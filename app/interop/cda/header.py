"""The CI-SIS CDA header (en-tête, template 1.2.250.1.213.1.1.1.1) built from domain objects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo

from lxml import etree
from lxml.builder import ElementMaker

from app.domain import codes
from app.domain.documents import PRACTICE_SETTING, VersionChain, facility_type_code
from app.domain.identity import UsagerRecord, may_share_ins
from app.domain.moments import as_utc
from app.domain.professionals import ProfessionalInput
from app.domain.stays import StayInput
from app.domain.structures import EssmsInput
from app.domain.types import Address, Telecom

HL7 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
E = ElementMaker(namespace=HL7, nsmap={None: HL7, "xsi": XSI})
PARIS = ZoneInfo("Europe/Paris")

OID_PERSON = "1.2.250.1.71.4.2.1"  # PS_IdNat and local staff identifiers
OID_STRUCTURE = "1.2.250.1.71.4.2.2"  # Struct_IdNat (1 + FINESS)
OID_LOINC = "2.16.840.1.113883.6.1"
OID_CONFIDENTIALITY = "2.16.840.1.113883.5.25"
OID_GENDER = "2.16.840.1.113883.5.1"
OID_PRACTICE_SETTING = "1.2.250.1.213.1.1.4.9"
OID_SECTOR = "1.2.250.1.71.4.2.4"
TEMPLATE_HL7_FRANCE = "2.16.840.1.113883.2.8.2.1"
TEMPLATE_CISIS = "1.2.250.1.213.1.1.1.1"
_GENDER_DISPLAY = {"F": "Féminin", "M": "Masculin", "UN": "Inconnu"}
_CONFIDENTIALITY_DISPLAY = {"N": "Normal", "R": "Restreint", "V": "Très restreint"}
_TELECOM_USE = {"home": "H", "work": "WP", "mobile": "MC"}


def oid_of(value: UUID) -> str:
    """An OID for a UUID (ITU-T X.667 arc 2.25): document ids need no registered root."""
    return f"2.25.{value.int}"


def ts(moment: datetime) -> str:
    """A CDA TS to the second with the Europe/Paris offset (moments are stored in UTC)."""
    return as_utc(moment).astimezone(PARIS).strftime("%Y%m%d%H%M%S%z")


def day(value: date) -> str:
    return value.strftime("%Y%m%d")


@dataclass(frozen=True)
class Essms:
    """The custodian ESSMS (FINESS géographique)."""

    id: UUID
    record: EssmsInput

    @property
    def struct_id(self) -> str:
        return f"1{self.record.finess_et}"


@dataclass(frozen=True)
class Professional:
    id: UUID
    record: ProfessionalInput

    def person_id(self, essms: Essms) -> str:
        """PS_IdNat (8 + RPPS), or 3 + FINESS / local identifier for staff without RPPS."""
        return self.record.national_id() or f"3{essms.record.finess_et}/{self.record.identifiant_local}"


@dataclass(frozen=True)
class DocumentHeader:
    """Everything the header says, from the domain."""

    document_id: UUID
    usager_id: UUID
    usager: UsagerRecord
    essms: Essms
    professional: Professional
    type_code: codes.Concept
    title: str
    created: datetime
    chain: VersionChain
    template_ids: tuple[tuple[str, str | None], ...]
    author_is_software: bool = False
    software_name: str = "DUI backend"
    stay: StayInput | None = None
    confidentiality: str = "N"
    service_event_code: codes.Concept | None = None
    encounter_code: codes.Concept | None = None
    informants: tuple[etree._Element, ...] = ()
    participants: tuple[etree._Element, ...] = ()


def _addr(address: Address | None, *, use: str | None = None) -> etree._Element:
    """A CI-SIS address in its structured form (the CI-SISAddr template allows streetAddressLine alone or
    the parts, not both): the first line as streetName, the others as unitID."""
    if address is None:
        return E.addr(nullFlavor="NASK")
    element = E.addr()
    if use:
        element.set("use", use)
    if address.lines:
        element.append(E.streetName(address.lines[0]))
    if len(address.lines) > 1:
        element.append(E.unitID(" ".join(address.lines[1:])))
    if address.postal_code:
        element.append(E.postalCode(address.postal_code))
    if address.city:
        element.append(E.city(address.city))
    element.append(E.country(address.country))
    return element


def _telecoms(telecoms: list[Telecom]) -> list[etree._Element]:
    out = []
    for telecom in telecoms:
        scheme = "tel:" if telecom.system == "phone" else "mailto:"
        element = E.telecom(value=scheme + telecom.value.replace(" ", ""))
        if telecom.use:
            element.set("use", _TELECOM_USE[telecom.use])
        out.append(element)
    return out or [E.telecom(nullFlavor="NASK")]


def _organization(tag: str, essms: Essms, *, practice_setting: bool = False) -> etree._Element:
    element = E(tag, E.id(root=OID_STRUCTURE, extension=essms.struct_id), E.name(essms.record.nom))
    telecoms = _telecoms(essms.record.telecoms)
    # A custodian organisation has at most one telecom (CDA XSD, CI-SISCustodian): the first one.
    element.extend(telecoms[:1] if tag == "representedCustodianOrganization" else telecoms)
    element.append(_addr(essms.record.adresse))
    if practice_setting:
        concept = codes.practice_settings().get(PRACTICE_SETTING)
        element.append(
            E.standardIndustryClassCode(
                code=PRACTICE_SETTING,
                displayName=concept.display if concept else PRACTICE_SETTING,
                codeSystem=OID_PRACTICE_SETTING,
            )
        )
    return element


def _person_name(professional: Professional) -> etree._Element:
    name = E.name()
    if professional.record.civilite:
        name.append(E.prefix(professional.record.civilite))
    name.append(E.given(professional.record.prenom))
    name.append(E.family(professional.record.nom))
    return name


def _coded(tag: str, concept: codes.Concept) -> etree._Element:
    return E(tag, code=concept.code, displayName=concept.display, codeSystem=concept.system)


def _patient_ids(header: DocumentHeader) -> list[etree._Element]:
    usager = header.usager
    ids = []
    # RNIV rule 28, through the one function that decides it: the INS only for a qualified identity.
    if usager.ins is not None and may_share_ins(usager.status):
        ids.append(E.id(root=usager.ins.oid, extension=usager.ins.matricule))
    local = usager.identifiant_local or str(header.usager_id)
    ids.append(E.id(root=oid_of(uuid5(header.essms.id, "ipp")), extension=local))
    return ids


def record_target(header: DocumentHeader) -> etree._Element:
    usager = header.usager
    name = E.name(
        E.family(usager.nom_naissance, qualifier="BR"),
        E.given(" ".join(usager.prenoms_naissance or [usager.premier_prenom])),
        E.given(usager.premier_prenom, qualifier="BR"),
    )
    if usager.nom_utilise:
        name.append(E.family(usager.nom_utilise, qualifier="CL"))
    if usager.prenom_utilise:
        name.append(E.given(usager.prenom_utilise, qualifier="CL"))
    patient = E.patient(
        name,
        E.administrativeGenderCode(
            code=usager.sexe, displayName=_GENDER_DISPLAY.get(usager.sexe, usager.sexe), codeSystem=OID_GENDER
        ),
        E.birthTime(value=day(usager.date_naissance)),
        classCode="PSN",
    )
    if usager.lieu_naissance:
        patient.append(E.birthplace(E.place(E.addr(E.county(usager.lieu_naissance)))))
    role = E.patientRole(*_patient_ids(header), _addr(usager.adresse, use="H"))
    role.extend(_telecoms(usager.telecoms))
    role.append(patient)
    return E.recordTarget(role)


def author(header: DocumentHeader) -> etree._Element:
    essms, professional = header.essms, header.professional
    if header.author_is_software:
        concept = codes.professions().get("LOGICIEL_DUI")
        assert concept is not None, "LOGICIEL_DUI is a JDV_J01 code"
        assigned = E.assignedAuthor(
            E.id(root=OID_PERSON, extension=f"3{essms.record.finess_et}/DUI"),
            _coded("code", concept),
            E.assignedAuthoringDevice(
                E.manufacturerModelName(header.software_name), E.softwareName(header.software_name)
            ),
        )
    else:
        concept = codes.professions().get(professional.record.profession)
        assert concept is not None, "profession codes are JDV_J01 codes"
        assigned = E.assignedAuthor(
            E.id(root=OID_PERSON, extension=professional.person_id(essms)),
            _coded("code", concept),
            E.assignedPerson(_person_name(professional)),
        )
    assigned.append(_organization("representedOrganization", essms))
    return E.author(E.time(value=ts(header.created)), assigned)


def clinical_document(header: DocumentHeader) -> etree._Element:
    """The ClinicalDocument with its header; the volet appends the body."""
    essms, professional = header.essms, header.professional
    start = header.stay.date_entree if header.stay and header.stay.date_entree else header.created.date()
    doc = E.ClinicalDocument(
        E.realmCode(code="FR"),
        E.typeId(root="2.16.840.1.113883.1.3", extension="POCD_HD000040"),
        E.templateId(root=TEMPLATE_HL7_FRANCE),
        E.templateId(root=TEMPLATE_CISIS),
    )
    for root, extension in header.template_ids:
        doc.append(E.templateId(root=root, **({"extension": extension} if extension else {})))
    doc.extend(
        [
            E.id(root=oid_of(header.document_id)),
            _coded("code", header.type_code),
            E.title(header.title),
            E.effectiveTime(value=ts(header.created)),
            E.confidentialityCode(
                code=header.confidentiality,
                displayName=_CONFIDENTIALITY_DISPLAY.get(header.confidentiality, header.confidentiality),
                codeSystem=OID_CONFIDENTIALITY,
            ),
            E.languageCode(code="fr-FR"),
            E.setId(root=header.chain.set_id),
            E.versionNumber(value=str(header.chain.version)),
            record_target(header),
            author(header),
            *header.informants,
            E.custodian(E.assignedCustodian(_organization("representedCustodianOrganization", essms))),
            E.legalAuthenticator(
                E.time(value=ts(header.created)),
                E.signatureCode(code="S"),
                E.assignedEntity(
                    E.id(root=OID_PERSON, extension=professional.person_id(essms)),
                    E.assignedPerson(_person_name(professional)),
                ),
            ),
        ]
    )
    doc.extend(header.participants)
    service_event = E.serviceEvent(E.effectiveTime(E.low(value=day(start))))
    if header.service_event_code is not None:
        service_event.insert(0, _coded("code", header.service_event_code))
    service_event.append(
        E.performer(
            E.assignedEntity(
                E.id(root=OID_PERSON, extension=professional.person_id(essms)),
                E.assignedPerson(_person_name(professional)),
                _organization("representedOrganization", essms, practice_setting=True),
            ),
            typeCode="PRF",
        )
    )
    doc.append(E.documentationOf(service_event))
    if header.chain.parent_id:
        doc.append(E.relatedDocument(E.parentDocument(E.id(root=header.chain.parent_id)), typeCode="RPLC"))
    facility = codes.facility_types().get(facility_type_code(essms.record.categorie))
    assert facility is not None, "facility codes are JDV_J02 codes"
    encounter = E.encompassingEncounter()
    if header.encounter_code is not None:
        encounter.append(_coded("code", header.encounter_code))
    encounter.append(E.effectiveTime(E.low(value=day(start))))
    encounter.append(
        E.location(E.healthCareFacility(E.id(root=OID_STRUCTURE, extension=essms.struct_id), _coded("code", facility)))
    )
    doc.append(E.componentOf(encounter))
    return doc
