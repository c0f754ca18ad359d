"""The projet personnalisé d'accompagnement (LOINC 80788-3) as an N1 document: a PDF/A of one plan version."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

from app.domain import codes
from app.domain.documents import DocumentKind
from app.domain.errors import Conflict, RuleViolation
from app.domain.plans import IN_FORCE, PlanRecord
from app.domain.professionals import ProfessionalInput
from app.interop.cda.pdfa import Block
from app.interop.cda.volets import VoletInput, register
from app.interop.cda.volets.n1 import N1Volet

TYPE_PPA = "80788-3"


@dataclass(frozen=True)
class PlanSource:
    """The plan version rendered, the professionals it names and when it must next be reviewed."""

    plan: PlanRecord
    review_due: date
    professionals: dict[UUID, ProfessionalInput] = field(default_factory=dict)


def check_sendable(plan: PlanRecord) -> None:
    """Only a validated or in-progress version is rendered for sending (a draft was agreed by no one)."""
    if plan.status not in IN_FORCE:
        raise Conflict(
            "plan-in-force",
            f"A {plan.status.value} plan is not rendered for sending: only a validated or in-progress version",
            field="plan_id",
        )


def _day(value: date | None) -> str:
    return f"{value:%d/%m/%Y}" if value else "-"


def _label(value_set: codes.ValueSet, code: str) -> str:
    concept = value_set.get(code)
    return f"{code} {concept.display}" if concept else code


class PpaVolet(N1Volet):
    kind = DocumentKind.PPA
    fixed_type = TYPE_PPA

    def content(self, given: VoletInput) -> list[Block]:
        source = given.source
        if not isinstance(source, PlanSource):
            raise RuleViolation("plan-required", "A PPA is rendered from a plan version", field="plan_id")
        plan = source.plan
        check_sendable(plan)

        def who(professional_id: UUID | None) -> str:
            found = source.professionals.get(professional_id) if professional_id else None
            return f"{found.prenom} {found.nom}" if found else "-"

        needs, services = codes.serafin_besoins(), codes.serafin_prestations()
        kind = codes.plan_types().get(plan.type)
        blocks = [
            Block(
                "Projet",
                [
                    f"Titre : {plan.titre}",
                    f"Type : {kind.display if kind else plan.type}",
                    f"Version {plan.numero_version} - statut {plan.status.tddui}",
                    f"Mise en oeuvre : du {_day(plan.date_debut)} au {_day(plan.date_fin)}",
                    f"Prochaine révision : {_day(source.review_due)}",
                    *([f"Description : {plan.description}"] if plan.description else []),
                    *([f"Communication : {plan.modalite_communication}"] if plan.modalite_communication else []),
                ],
            ),
            Block(
                "Attentes",
                [
                    f"{a.origine.value} : {a.description}" + (f" ({a.commentaire})" if a.commentaire else "")
                    for a in plan.attentes
                ],
            ),
            Block(
                "Besoins (SERAFIN-PH)",
                [
                    f"{_label(needs, b.code)} : {b.description}"
                    + (f" - analyse : {b.analyse_professionnelle}" if b.analyse_professionnelle else "")
                    for b in plan.besoins
                ],
            ),
        ]
        objectives = []
        for o in plan.objectifs:
            objectives.append(f"[{o.ref}] {o.titre} ({o.statut.value}) : {o.description}")
            objectives.append(
                f"    besoins : {', '.join(_label(needs, c) for c in o.besoins) or '-'} ; du {_day(o.date_debut)}"
                f" à échéance {_day(o.echeance)} ; référent {who(o.referent_id)}"
            )
            if o.resultat_attendu:
                objectives.append(f"    résultat attendu : {o.resultat_attendu}")
            if o.avis_usager:
                objectives.append(f"    avis de l'usager : {o.avis_usager}")
        blocks.append(Block("Objectifs", objectives))
        actions: list[str] = []
        means: list[str] = []
        prestations: list[str] = []
        for a in plan.actions:
            actions.append(
                f"[{a.ref}] {a.titre} ({a.statut.value}) - objectifs {', '.join(a.objectifs) or '-'} ;"
                f" du {_day(a.date_debut)} au {_day(a.date_fin)} ; référent {who(a.referent_id)}"
                + (f" : {a.description}" if a.description else "")
            )
            means.extend(f"[{a.ref}] {m.titre}" + (f" ({m.type})" if m.type else "") for m in a.moyens)
            prestations.extend(
                f"[{a.ref}] {p.titre} ({p.statut.value}) : {', '.join(_label(services, c) for c in p.codes) or '-'}"
                for p in a.prestations
            )
        blocks += [Block("Actions", actions), Block("Moyens", means), Block("Prestations (SERAFIN-PH)", prestations)]
        blocks.append(Block("Référents", [who(r) for r in plan.referents]))
        categories = codes.bilan_categories()
        blocks.append(
            Block(
                "Bilans",
                [
                    f"{_day(b.date_bilan)} {categories.display(b.categorie)}"
                    + (f" : {b.synthese}" if b.synthese else "")
                    + (f" (prochain bilan {_day(b.date_prochain_bilan)})" if b.date_prochain_bilan else "")
                    for b in plan.all_bilans()
                ],
            )
        )
        blocks.append(
            Block(
                "Accords",
                [
                    f"{a.partie.value} : {a.signataire}, le {_day(a.date_signature)}"
                    + (f", pour {a.duree_validite_mois} mois" if a.duree_validite_mois else "")
                    + (f" ({a.commentaire})" if a.commentaire else "")
                    for a in plan.accords
                ],
            )
        )
        return blocks


register(PpaVolet())
