"""DLU-EHPAD "FLUDT" (fiche de liaison EHPAD -> service des urgences, template 1.2.250.1.213.1.1.1.23), N3."""

from __future__ import annotations

from typing import Any

from lxml import etree

from app.domain import codes
from app.domain.dlu import CONSCIENCE, FludtData, prothesis_codes
from app.domain.documents import DocumentKind
from app.interop.cda.header import OID_LOINC, OID_STRUCTURE, DocumentHeader, E, ts
from app.interop.cda.pdfa import Block, render_pdfa
from app.interop.cda.volets import Built, Volet, VoletInput, register
from app.interop.cda.volets.dlu import (
    CHECKLIST,
    TYPE,
    _bl,
    _loinc,
    _ref,
    _section,
    _simple_observation,
    _uid,
    doctor_participant,
    medications_section,
    volet_data,
)

EMDN = "1.2.250.1.213.2.68"
_VITALS = (
    ("pouls", "8867-4", "Fréquence cardiaque", "/min"),
    ("temperature", "8310-5", "Température corporelle", "Cel"),
    ("poids", "29463-7", "Poids", "kg"),
    ("tension_systolique", "8480-6", "Pression artérielle systolique", "mm[Hg]"),
    ("tension_diastolique", "8462-4", "Pression artérielle diastolique", "mm[Hg]"),
)


class FludtVolet(Volet):
    kind = DocumentKind.FLUDT
    template_ids = (("1.2.250.1.213.1.1.1.23", "2022.01"),)

    def type_code(self, requested: str | None) -> codes.Concept:
        concept = codes.document_types().get("74207-2")
        assert concept is not None
        return concept

    def service_event_code(self) -> codes.Concept | None:
        return codes.Concept("28651-8", "Transfert du patient au service des urgences", OID_LOINC)

    def encounter_code(self) -> codes.Concept | None:
        return codes.Concept("IMP", "Hospitalisation (établissement, y compris HAD)", "2.16.840.1.113883.5.4")

    @staticmethod
    def data(given: dict[str, Any]) -> FludtData:
        return volet_data(FludtData, given)

    def participants(self, header: DocumentHeader, data: dict[str, Any]) -> tuple[etree._Element, ...]:
        return (doctor_participant(header, self.data(data).medecin_traitant),)

    def blocks(self, given: VoletInput) -> list[Block]:
        from app.interop.cda.volets.n1 import identity_block

        fludt = self.data(given.data)
        vitals = fludt.signes_vitaux.model_dump()
        return [
            identity_block(given.header),
            Block("Transfert vers les urgences", [fludt.motif_transfert, f"le {fludt.moment:%d/%m/%Y %H:%M}"]),
            Block("Constantes", [f"{label} : {vitals[k]} {unit}" for k, _, label, unit in _VITALS if vitals[k]]),
            Block("État", [CONSCIENCE[fludt.conscience], "Douleur" if fludt.douleur else "Pas de douleur"]),
            Block("Traitements", [t.libelle for t in fludt.traitements]),
            Block("Dernier repas", [f"{fludt.dernier_repas:%d/%m/%Y %H:%M}"]),
            Block("Prothèses et objets personnels", [prothesis_codes().display(p) for p in fludt.protheses]),
            *([Block("Commentaire", [fludt.commentaire])] if fludt.commentaire else []),
        ]

    def build(self, given: VoletInput) -> Built:
        fludt = self.data(given.data)
        blocks = self.blocks(given)
        sections = [
            self._transfer(fludt),
            self._vitals(fludt),
            self._state(fludt),
            medications_section(fludt.traitements, "Date et heure de la dernière prise du traitement habituel"),
            self._last_meal(fludt),
            self._belongings(fludt),
        ]
        if fludt.commentaire:
            comment, _ = _section(
                ["2.16.840.1.113883.10.12.201", "1.3.6.1.4.1.19376.1.4.1.2.16", "1.2.250.1.213.1.1.2.73"],
                "55112-7",
                "Commentaire",
                "Commentaires",
                [fludt.commentaire],
            )
            sections.append(comment)
        body = E.component(E.structuredBody(*[E.component(s) for s in sections]))
        pdf = render_pdfa(given.header.title, blocks, producer=given.header.software_name)
        return Built(body=body, pdf=pdf, blocks=blocks)

    def _transfer(self, fludt: FludtData) -> etree._Element:
        lines = [fludt.motif_transfert, *([fludt.destination.nom] if fludt.destination else [])]
        section, anchors = _section(
            ["1.3.6.1.4.1.19376.1.5.3.1.1.21.2.9", "1.3.6.1.4.1.19376.1.7.3.1.1.13.7", "1.2.250.1.213.1.1.2.163"],
            "42545-4",
            "Evènements observés",
            "Transfert du patient de l'EHPAD vers le SU",
            lines,
        )
        value = E.value(E.originalText(E.reference(value=f"#{anchors[0]}")))
        value.set(TYPE, "CD")
        motif = E.observation(
            E.templateId(root="1.3.6.1.4.1.19376.1.5.3.1.4.13"),
            E.templateId(root="1.2.250.1.213.1.1.3.48"),
            E.id(root=_uid()),
            _loinc("code", "57277-6", "Motif du transfert vers le service des urgences"),
            _ref(anchors[0]),
            E.statusCode(code="completed"),
            E.effectiveTime(value=ts(fludt.moment)),
            value,
            classCode="OBS",
            moodCode="EVN",
        )
        section.append(E.entry(motif))
        if fludt.destination:
            role = E.participantRole(classCode="SDLOC")
            destination = fludt.destination
            role.append(
                E.id(root=OID_STRUCTURE, extension=f"1{destination.finess}")
                if destination.finess
                else E.id(root=_uid())
            )
            role.append(E.code(nullFlavor="UNK"))  # sector (TRE_R02) of the destination, not known here
            role.append(E.playingEntity(E.name(destination.nom), classCode="ENT"))
            act = E.act(
                E.templateId(root="1.3.6.1.4.1.19376.1.5.3.1.1.25.1.4.1"),
                E.templateId(root="1.2.250.1.213.1.1.3.28"),
                E.id(root=_uid()),
                _loinc("code", "80413-8", "Transfert du patient"),
                _ref(anchors[1]),
                # The transfer is planned when the FLUDT is written (moodCode INT, status normal).
                E.statusCode(code="normal"),
                E.effectiveTime(E.low(value=ts(fludt.moment))),
                E.participant(role, typeCode="DST"),
                classCode="ACT",
                moodCode="INT",
            )
            section.append(E.entry(act))
        return section

    def _vitals(self, fludt: FludtData) -> etree._Element:
        values = fludt.signes_vitaux.model_dump()
        present = [(key, code, label, unit) for key, code, label, unit in _VITALS if values[key] is not None]
        section, anchors = _section(
            [
                "2.16.840.1.113883.10.20.1.16",
                "1.3.6.1.4.1.19376.1.5.3.1.3.25",
                "1.3.6.1.4.1.19376.1.5.3.1.1.5.3.2",
                "1.2.250.1.213.1.1.2.75",
            ],
            "8716-3",
            "Signes vitaux",
            "Constantes du patient",
            [f"{label} : {values[key]} {unit}" for key, _, label, unit in present],
        )
        moment = ts(fludt.moment)
        organizer = E.organizer(
            E.templateId(root="2.16.840.1.113883.10.20.1.32"),
            E.templateId(root="2.16.840.1.113883.10.20.1.35"),
            E.templateId(root="1.3.6.1.4.1.19376.1.5.3.1.4.13.1"),
            E.templateId(root="1.2.250.1.213.1.1.3.49"),
            E.id(root=_uid()),
            _loinc("code", "85353-1", "Signes vitaux"),
            E.statusCode(code="completed"),
            E.effectiveTime(value=moment),
            classCode="CLUSTER",
            moodCode="EVN",
        )
        for (key, code, label, unit), anchor in zip(present, anchors, strict=True):
            value = E.value(value=f"{values[key]:g}", unit=unit)
            value.set(TYPE, "PQ")
            observation = E.observation(
                E.templateId(root="2.16.840.1.113883.10.20.1.31"),
                E.templateId(root="1.3.6.1.4.1.19376.1.5.3.1.4.13"),
                E.templateId(root="1.3.6.1.4.1.19376.1.5.3.1.4.13.2"),
                E.templateId(root="1.2.250.1.213.1.1.3.50"),
                E.id(root=_uid()),
                _loinc("code", code, label),
                _ref(anchor),
                E.statusCode(code="completed"),
                E.effectiveTime(value=moment),
                value,
                classCode="OBS",
                moodCode="EVN",
            )
            organizer.append(E.component(observation, typeCode="COMP"))
        section.append(E.entry(organizer))
        return section

    def _state(self, fludt: FludtData) -> etree._Element:
        section, anchors = _section(
            ["1.3.6.1.4.1.19376.1.5.3.1.3.27", "1.3.6.1.4.1.19376.1.5.3.1.3.28", "1.2.250.1.213.1.1.2.151"],
            "30954-2",
            "Résultats d'examens",
            "Observations",
            ["Examens", CONSCIENCE[fludt.conscience], "Douleur" if fludt.douleur else "Pas de douleur"],
        )
        section.append(
            E.entry(
                E.procedure(
                    E.templateId(root="2.16.840.1.113883.10.20.1.29"),
                    E.templateId(root="1.3.6.1.4.1.19376.1.5.3.1.4.19"),
                    E.templateId(root="1.2.250.1.213.1.1.3.62"),
                    E.id(root=_uid()),
                    E.code(nullFlavor="NA"),
                    _ref(anchors[0]),
                    E.statusCode(code="completed"),
                    E.effectiveTime(value=ts(fludt.moment)),
                    classCode="PROC",
                    moodCode="EVN",
                )
            )
        )
        conscience = E.code(code=fludt.conscience, displayName=CONSCIENCE[fludt.conscience], codeSystem=CHECKLIST)
        section.append(E.entry(_simple_observation(conscience, _bl(True), anchors[1])))
        pain = E.code(code="R52.9", displayName="Douleur, sans précision", codeSystem="2.16.840.1.113883.6.3")
        section.append(E.entry(_simple_observation(pain, _bl(fludt.douleur), anchors[2])))
        return section

    def _last_meal(self, fludt: FludtData) -> etree._Element:
        section, anchors = _section(
            ["1.3.6.1.4.1.19376.1.7.3.1.1.13.5", "1.2.250.1.213.1.1.2.162"],
            "47420-5",
            "Évaluation du statut fonctionnel",
            "Date et heure du dernier repas",
            [f"{fludt.dernier_repas:%d/%m/%Y %H:%M}"],
        )
        value = E.value(nullFlavor="NA")
        value.set(TYPE, "REAL")
        observation = E.observation(
            E.templateId(root="1.3.6.1.4.1.19376.1.5.3.1.4.13"),
            E.templateId(root="1.2.250.1.213.1.1.3.48"),
            E.id(root=_uid()),
            E.code(code="GEN-244", displayName="Date et heure du dernier repas", codeSystem=CHECKLIST),
            _ref(anchors[0]),
            E.statusCode(code="completed"),
            E.effectiveTime(value=ts(fludt.dernier_repas)),
            value,
            classCode="OBS",
            moodCode="EVN",
        )
        section.append(E.entry(observation))
        return section

    def _belongings(self, fludt: FludtData) -> etree._Element:
        section, anchors = _section(
            ["1.2.250.1.213.1.1.2.53"],
            "46264-8",
            "Dispositifs médicaux",
            "Prothèses et objets personnels",
            [prothesis_codes().display(p) for p in fludt.protheses],
        )
        for item, anchor in zip(fludt.protheses, anchors, strict=True):
            concept = prothesis_codes().get(item)
            assert concept is not None
            observation = E.observation(
                E.templateId(root="1.3.6.1.4.1.19376.1.5.3.1.4.13"),
                E.templateId(root="1.2.250.1.213.1.1.3.48"),
                E.templateId(root="1.2.250.1.213.1.1.3.12"),
                E.id(root=_uid()),
                E.code(code=concept.code, displayName=concept.display, codeSystem=concept.system or EMDN),
                _ref(anchor),
                E.statusCode(code="completed"),
                E.effectiveTime(value=ts(fludt.moment)),
                _bl(True),
                E.targetSiteCode(nullFlavor="NASK"),
                classCode="OBS",
                moodCode="EVN",
            )
            section.append(E.entry(observation))
        return section


register(FludtVolet())
