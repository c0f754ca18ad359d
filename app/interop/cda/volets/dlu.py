"""DLU-EHPAD "Document de liaison d'urgence" (template 1.2.250.1.213.1.1.1.22), structured (N3)."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from lxml import etree
from pydantic import BaseModel

from app.domain import codes
from app.domain.dlu import DluData, MedecinTraitant, Traitement
from app.domain.documents import DocumentKind
from app.domain.errors import FieldIssue, RuleViolation
from app.interop.cda.header import OID_LOINC, OID_PERSON, OID_STRUCTURE, XSI, DocumentHeader, E, ts
from app.interop.cda.pdfa import Block, render_pdfa
from app.interop.cda.volets import Built, Volet, VoletInput, register

T = TypeVar("T", bound=BaseModel)
TYPE = f"{{{XSI}}}type"
SNOMED = "2.16.840.1.113883.6.96"
CHECKLIST = "1.2.250.1.213.1.1.4.322"


def _uid() -> str:
    return str(uuid.uuid4()).upper()


def _loinc(tag: str, code: str, display: str) -> etree._Element:
    return E(tag, code=code, displayName=display, codeSystem=OID_LOINC, codeSystemName="LOINC")


def _ref(anchor: str) -> etree._Element:
    """The narrative reference every entry carries (IHE PCC: text/reference to the section text)."""
    return E.text(E.reference(value=f"#{anchor}"))


def _section(
    templates: list[str], code: str, display: str, title: str, lines: list[str]
) -> tuple[etree._Element, list[str]]:
    """A section with its narrative list; returns the anchors of its lines, one per entry."""
    section = E.section(*[E.templateId(root=t) for t in templates])
    section.append(E.id(root=_uid()))
    section.append(_loinc("code", code, display))
    section.append(E.title(title))
    anchors = [f"n{uuid.uuid4().hex[:12]}" for _ in lines or ["-"]]
    items = [E.item(line, ID=anchor) for line, anchor in zip(lines or ["Non renseigné"], anchors, strict=True)]
    section.append(E.text(E.list(*items)))
    return section, anchors


def _simple_observation(code: etree._Element, value: etree._Element, anchor: str, *templates: str) -> etree._Element:
    return E.observation(
        E.templateId(root="1.3.6.1.4.1.19376.1.5.3.1.4.13"),
        E.templateId(root="1.2.250.1.213.1.1.3.48"),
        *[E.templateId(root=t) for t in templates],
        E.id(root=_uid()),
        code,
        _ref(anchor),
        E.statusCode(code="completed"),
        E.effectiveTime(nullFlavor="NA"),
        value,
        classCode="OBS",
        moodCode="EVN",
    )


def _bl(value: bool) -> etree._Element:
    element = E.value(value="true" if value else "false")
    element.set(TYPE, "BL")
    return element


def _participant_role(type_code: str, name: str, finess: str | None) -> etree._Element:
    role = E.participantRole(classCode="ROL")
    role.append(E.id(root=OID_STRUCTURE, extension=f"1{finess}") if finess else E.id(nullFlavor="UNK"))
    role.append(E.addr(nullFlavor="NAV"))
    role.append(E.telecom(nullFlavor="NAV"))
    role.append(E.playingEntity(E.name(name)))
    return E.participant(E.time(nullFlavor="NAV"), role, typeCode=type_code)


def doctor_participant(header: DocumentHeader, doctor: MedecinTraitant) -> etree._Element:
    """The médecin traitant as header participant INF / PCP (required by the DLU-EHPAD volets)."""
    person = E.associatedPerson(E.name(E.given(doctor.prenom), E.family(doctor.nom)))
    entity = E.associatedEntity(classCode="PROV")
    entity.append(E.id(root=OID_PERSON, extension=f"8{doctor.rpps}") if doctor.rpps else E.id(nullFlavor="UNK"))
    entity.append(E.addr(nullFlavor="NAV"))
    entity.append(E.telecom(value=f"tel:{doctor.telephone}") if doctor.telephone else E.telecom(nullFlavor="NAV"))
    entity.append(person)
    time = E.time(E.low(value=ts(header.created)))
    time.set(TYPE, "IVL_TS")
    return E.participant(
        E.functionCode(code="PCP", displayName="Médecin Traitant", codeSystem="2.16.840.1.113883.5.88"),
        time,
        entity,
        typeCode="INF",
    )


def volet_data(model: type[T], given: dict[str, Any]) -> T:
    """The volet's data validated; every bad field is reported as data.<path>."""
    from pydantic import ValidationError

    try:
        return model.model_validate(given)
    except ValidationError as error:
        first = error.errors()[0]
        issues = [
            FieldIssue("data." + ".".join(map(str, e["loc"])), str(e["type"]), str(e["msg"])) for e in error.errors()
        ]
        violation = RuleViolation(str(first["type"]), "The volet data is incomplete or invalid", field="data")
        violation.issues = issues
        raise violation from error


def medications_section(traitements: list[Traitement], title: str) -> etree._Element:
    """Traitements (IHE Medications, FR-Traitement entries), CIS-coded when the code is known."""
    section, anchors = _section(
        ["2.16.840.1.113883.10.20.1.8", "1.3.6.1.4.1.19376.1.5.3.1.3.19", "1.2.250.1.213.1.1.2.143"],
        "10160-0",
        "Historique de la prise médicamenteuse",
        title,
        [f"{t.libelle} {t.posologie or ''}".strip() for t in traitements],
    )
    for treatment, anchor in zip(traitements, anchors, strict=True):
        original = E.originalText(E.reference(value=f"#{anchor}"))
        if treatment.code_cis:
            material_code = E.code(
                original, code=treatment.code_cis, displayName=treatment.libelle, codeSystem="1.2.250.1.213.2.3.1"
            )
        else:
            material_code = E.code(original, nullFlavor="OTH")
        effective = E.effectiveTime(E.low(nullFlavor="UNK"), E.high(nullFlavor="UNK"))
        effective.set(TYPE, "IVL_TS")
        administration = E.substanceAdministration(
            E.templateId(root="2.16.840.1.113883.10.20.1.24"),
            E.templateId(root="1.3.6.1.4.1.19376.1.5.3.1.4.7"),
            E.templateId(root="1.2.250.1.213.1.1.3.42"),
            E.templateId(root="1.3.6.1.4.1.19376.1.5.3.1.4.7.1"),
            E.id(root=_uid()),
            _ref(anchor),
            E.statusCode(code="completed"),
            effective,
            E.consumable(
                E.manufacturedProduct(
                    E.templateId(root="2.16.840.1.113883.10.20.1.53"),
                    E.templateId(root="1.3.6.1.4.1.19376.1.5.3.1.4.7.2"),
                    E.templateId(root="1.2.250.1.213.1.1.3.43"),
                    E.manufacturedMaterial(material_code, E.name(treatment.libelle), classCode="MMAT"),
                ),
                typeCode="CSM",
            ),
            classCode="SBADM",
            moodCode="INT",
        )
        section.append(E.entry(administration))
    return section


class DluVolet(Volet):
    kind = DocumentKind.DLU
    template_ids = (("1.2.250.1.213.1.1.1.22", "2022.01"),)

    def type_code(self, requested: str | None) -> codes.Concept:
        concept = codes.document_types().get("74207-2")
        assert concept is not None
        return concept

    def service_event_code(self) -> codes.Concept | None:
        return codes.Concept("34117-2", "Historique et clinique", OID_LOINC)

    def encounter_code(self) -> codes.Concept | None:
        return codes.Concept("IMP", "Hospitalisation (établissement, y compris HAD)", "2.16.840.1.113883.5.4")

    @staticmethod
    def data(given: dict[str, Any]) -> DluData:
        from pydantic import ValidationError

        try:
            return DluData.model_validate(given)
        except ValidationError as error:
            first = error.errors()[0]
            issues = [
                FieldIssue("data." + ".".join(map(str, e["loc"])), str(e["type"]), str(e["msg"]))
                for e in error.errors()
            ]
            violation = RuleViolation(str(first["type"]), "The DLU data is incomplete or invalid", field="data")
            violation.issues = issues
            raise violation from error

    def participants(self, header: DocumentHeader, data: dict[str, Any]) -> tuple[etree._Element, ...]:
        return (doctor_participant(header, self.data(data).medecin_traitant),)

    def blocks(self, given: VoletInput) -> list[Block]:
        from app.interop.cda.volets.n1 import identity_block

        dlu = self.data(given.data)
        return [
            identity_block(given.header),
            Block("Médecin traitant", [f"{dlu.medecin_traitant.prenom} {dlu.medecin_traitant.nom}"]),
            Block("Établissement de santé de préférence", [dlu.etablissement_preference.nom]),
            Block("Traitements", [f"{t.libelle} {t.posologie or ''}".strip() for t in dlu.traitements]),
            Block("Directives anticipées", ["Oui" if dlu.directives_anticipees else "Non"]),
            Block(
                "État du patient",
                [f"{codes_display(o.code)} : {'oui' if o.present else 'non'}" for o in dlu.observations],
            ),
            Block("BMR", ["Porteur de BMR" if dlu.bmr else "Non porteur de BMR connu"]),
            Block("Documents joints", [codes_display(d, CHECKLIST) for d in dlu.documents]),
            *([Block("Commentaire", [dlu.commentaire])] if dlu.commentaire else []),
        ]

    def build(self, given: VoletInput) -> Built:
        dlu = self.data(given.data)
        blocks = self.blocks(given)
        sections = [
            self._disposition(dlu),
            medications_section(dlu.traitements, "Traitements au long cours"),
            self._directives(dlu),
            self._observations(dlu),
            self._results(dlu),
            self._documents(dlu),
        ]
        if dlu.commentaire:
            comment, _ = _section(
                ["2.16.840.1.113883.10.12.201", "1.3.6.1.4.1.19376.1.4.1.2.16", "1.2.250.1.213.1.1.2.73"],
                "55112-7",
                "Commentaire",
                "Commentaires",
                [dlu.commentaire],
            )
            sections.append(comment)
        body = E.component(E.structuredBody(*[E.component(s) for s in sections]))
        pdf = render_pdfa(given.header.title, blocks, producer=given.header.software_name)
        return Built(body=body, pdf=pdf, blocks=blocks)

    def _disposition(self, dlu: DluData) -> etree._Element:
        place = dlu.etablissement_preference
        section, anchors = _section(
            ["1.3.6.1.4.1.19376.1.5.3.1.1.13.2.10", "1.2.250.1.213.1.1.2.172"],
            "11302-7",
            "Etablissement de santé de préférence",
            "Etablissement de santé de préférence",
            [place.nom],
        )
        act = E.act(
            E.templateId(root="1.3.6.1.4.1.19376.1.5.3.1.1.10.4.2"),
            E.templateId(root="1.2.250.1.213.1.1.3.97"),
            E.id(root=_uid()),
            _loinc("code", "11302-7", "Etablissement de santé de préférence"),
            _ref(anchors[0]),
            E.statusCode(code="normal"),
            E.effectiveTime(nullFlavor="NAV"),
            *[_participant_role(t, place.nom, place.finess) for t in ("RCV", "ORG", "DST")],
            classCode="ACT",
            moodCode="INT",
        )
        section.append(E.entry(act))
        return section

    def _directives(self, dlu: DluData) -> etree._Element:
        section, anchors = _section(
            [
                "2.16.840.1.113883.10.20.1.1",
                "1.3.6.1.4.1.19376.1.5.3.1.3.34",
                "1.3.6.1.4.1.19376.1.5.3.1.3.35",
                "1.2.250.1.213.1.1.2.157",
            ],
            "42348-3",
            "Directives anticipées",
            "Directives anticipées",
            ["Directives anticipées rédigées" if dlu.directives_anticipees else "Pas de directives anticipées"],
        )
        observation = E.observation(
            E.templateId(root="2.16.840.1.113883.10.20.1.17"),
            E.templateId(root="1.3.6.1.4.1.19376.1.5.3.1.4.13"),
            E.templateId(root="1.3.6.1.4.1.19376.1.5.3.1.4.13.7"),
            E.templateId(root="1.2.250.1.213.1.1.3.54"),
            E.id(root=_uid()),
            _loinc("code", "42348-3", "Directives anticipées"),
            _ref(anchors[0]),
            E.statusCode(code="completed"),
            E.effectiveTime(E.low(nullFlavor="UNK")),
            _bl(dlu.directives_anticipees),
            classCode="OBS",
            moodCode="EVN",
        )
        section.append(E.entry(observation))
        return section

    def _observations(self, dlu: DluData) -> etree._Element:
        section, anchors = _section(
            ["1.3.6.1.4.1.19376.1.5.3.1.1.21.2.9", "1.3.6.1.4.1.19376.1.7.3.1.1.13.7", "1.2.250.1.213.1.1.2.163"],
            "42545-4",
            "Evènements observés",
            "Observations",
            [f"{codes_display(o.code)} : {'oui' if o.present else 'non'}" for o in dlu.observations],
        )
        for item, anchor in zip(dlu.observations, anchors, strict=True):
            code = E.code(code=item.code, displayName=codes_display(item.code), codeSystem=SNOMED)
            section.append(E.entry(_simple_observation(code, _bl(item.present), anchor)))
        return section

    def _results(self, dlu: DluData) -> etree._Element:
        section, anchors = _section(
            ["1.3.6.1.4.1.19376.1.5.3.1.3.27", "1.3.6.1.4.1.19376.1.5.3.1.3.28", "1.2.250.1.213.1.1.2.151"],
            "30954-2",
            "Résultats d'examens",
            "Résultats d'examens",
            ["Porteur de BMR" if dlu.bmr else "Non porteur de BMR connu"],
        )
        procedure = E.procedure(
            E.templateId(root="1.3.6.1.4.1.19376.1.5.3.1.4.19"),
            E.templateId(root="2.16.840.1.113883.10.20.1.29"),
            E.templateId(root="1.2.250.1.213.1.1.3.62"),
            E.id(root=_uid()),
            E.code(nullFlavor="NA"),
            _ref(anchors[0]),
            E.statusCode(code="completed"),
            classCode="PROC",
            moodCode="EVN",
        )
        section.append(E.entry(procedure))
        return section

    def _documents(self, dlu: DluData) -> etree._Element:
        section, anchors = _section(
            ["1.2.250.1.213.1.1.2.37"],
            "55107-7",
            "Documents ajoutés",
            "Checklist des documents annexés au DLU",
            [codes_display(d, CHECKLIST) for d in dlu.documents],
        )
        for document, anchor in zip(dlu.documents, anchors, strict=True):
            value = E.value(code=document, displayName=codes_display(document, CHECKLIST), codeSystem=CHECKLIST)
            value.set(TYPE, "CD")
            observation = _simple_observation(
                _loinc("code", "69764-9", "Type de document"), value, anchor, "1.2.250.1.213.1.1.3.48.18"
            )
            # The document itself stays in the usager's file: the checklist says it is joined (value unknown here).
            media = E.observationMedia(E.value(nullFlavor="NASK"), classCode="OBS", moodCode="EVN")
            organizer = E.organizer(
                E.templateId(root="1.2.250.1.213.1.1.3.18"),
                E.id(root=_uid()),
                _loinc("code", "55107-7", "Document attaché"),
                E.statusCode(code="completed"),
                E.component(observation),
                E.component(media),
                classCode="CLUSTER",
                moodCode="EVN",
            )
            section.append(E.entry(organizer))
        return section


def codes_display(code: str, system: str = SNOMED) -> str:
    from app.domain.dlu import checklist, patient_observations

    value_set = checklist() if system == CHECKLIST else patient_observations()
    return value_set.display(code)


register(DluVolet())
