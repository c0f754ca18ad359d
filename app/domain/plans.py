"""The projet personnalisé (TDDUI ProjetPersonnalise and its children) and its life cycle.

Life cycle: draft -> submitted -> validated (needs an agreement of the establishment) -> in_progress ->
revised (superseded by a validated revision) or closed. Only a draft can be edited; a validated version is
immutable; a revision is a new version (a new draft) linked to the one it revises.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Self
from uuid import UUID

from pydantic import Field, model_validator

from app.domain import codes
from app.domain.errors import Conflict, DomainError, FieldIssue, RuleViolation
from app.domain.types import DomainModel, LongText, ShortText, coded, violation

BesoinCode = Annotated[str, coded(codes.serafin_besoins)]
PrestationCode = Annotated[str, coded(codes.serafin_prestations)]
Ref = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$", description="Local reference inside the plan")]


class PlanStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    VALIDATED = "validated"
    IN_PROGRESS = "in_progress"
    REVISED = "revised"
    CLOSED = "closed"

    @property
    def tddui(self) -> str:
        """TRE_R368 status of the TDDUI ProjetPersonnalise (ENPREPARATION, ENCOURS, TERMINE)."""
        return {
            PlanStatus.DRAFT: "ENPREPARATION",
            PlanStatus.SUBMITTED: "ENPREPARATION",
            PlanStatus.VALIDATED: "ENCOURS",
            PlanStatus.IN_PROGRESS: "ENCOURS",
        }.get(self, "TERMINE")


IN_FORCE = (PlanStatus.VALIDATED, PlanStatus.IN_PROGRESS)


class ItemStatus(StrEnum):
    """TRE_R368 statuses allowed for Objectif, Action and Prestation (JDV_J281)."""

    ENPREPARATION = "ENPREPARATION"
    ACTIF = "ACTIF"
    TERMINE = "TERMINE"
    ANNULE = "ANNULE"


class Origine(StrEnum):
    USAGER = "usager"
    REPRESENTANT = "representant"
    ENTOURAGE = "entourage"
    PROFESSIONNEL = "professionnel"


class Attente(DomainModel):
    """An expectation of the usager (or of whoever expressed it)."""

    origine: Origine
    description: LongText = Field(min_length=1)
    commentaire: LongText | None = None


class Besoin(DomainModel):
    """A need, coded in SERAFIN-PH (1.x)."""

    code: BesoinCode
    description: LongText = Field(min_length=1)
    analyse_professionnelle: LongText | None = None


class Objectif(DomainModel):
    ref: Ref
    titre: ShortText
    description: LongText = Field(min_length=1)
    besoins: list[BesoinCode] = Field(default_factory=list, description="Codes of the needs it answers")
    date_debut: date | None = None
    echeance: date | None = None
    resultat_attendu: LongText | None = None
    avis_usager: LongText | None = None
    referent_id: UUID | None = None
    statut: ItemStatus = ItemStatus.ENPREPARATION


class Moyen(DomainModel):
    titre: ShortText
    type: ShortText | None = None


class Prestation(DomainModel):
    titre: ShortText
    codes: list[PrestationCode] = Field(default_factory=list, description="SERAFIN-PH 2.x / 3.x")
    statut: ItemStatus = ItemStatus.ENPREPARATION


class Action(DomainModel):
    ref: Ref
    titre: ShortText
    description: LongText | None = None
    objectifs: list[Ref] = Field(default_factory=list, description="refs of the objectives it serves")
    referent_id: UUID | None = None
    date_debut: date | None = None
    date_fin: date | None = None
    moyens: list[Moyen] = Field(default_factory=list, max_length=50)
    prestations: list[Prestation] = Field(default_factory=list, max_length=50)
    statut: ItemStatus = ItemStatus.ENPREPARATION


class Partie(StrEnum):
    USAGER = "usager"
    REPRESENTANT = "representant"
    STRUCTURE = "structure"


class Accord(DomainModel):
    """An agreement to the plan: of the usager or their representative, or of the establishment."""

    partie: Partie
    signataire: ShortText = Field(description="Who agreed (name, or function for the establishment)")
    professionnel_id: UUID | None = Field(None, description="The professional who agreed for the establishment")
    date_signature: date
    duree_validite_mois: int | None = Field(None, ge=1, le=120)
    commentaire: LongText | None = None


class Bilan(DomainModel):
    """A review of the plan (TRE_R389 category), with the date of the next one."""

    date_bilan: date
    categorie: Annotated[str, coded(codes.bilan_categories)] = "INTERMEDIAIRE"
    synthese: LongText | None = None
    date_prochain_bilan: date | None = None

    @model_validator(mode="after")
    def _next_after(self) -> Self:
        if self.date_prochain_bilan is not None and self.date_prochain_bilan <= self.date_bilan:
            raise violation("next-review-after-review", "date_prochain_bilan must be after date_bilan")
        return self


class PlanInput(DomainModel):
    """What staff write in a draft projet personnalisé."""

    usager_id: UUID
    stay_id: UUID = Field(description="The stay the plan belongs to (its ESSMS is the plan's)")
    titre: ShortText
    type: Annotated[str, coded(codes.plan_types)] = Field("PPA", description="TRE_R390: PPA, PP, PAI, PPI…")
    description: LongText | None = None
    modalite_communication: ShortText | None = None
    date_debut: date = Field(description="Start of the implementation")
    date_fin: date | None = Field(None, description="Planned end of the implementation")
    date_revision_prevue: date | None = Field(
        None, description="Next review; at most the review interval after date_debut (default: that interval)"
    )
    referents: list[UUID] = Field(default_factory=list, max_length=20, description="Referent professionals")
    attentes: list[Attente] = Field(default_factory=list, max_length=100)
    besoins: list[Besoin] = Field(default_factory=list, max_length=100)
    objectifs: list[Objectif] = Field(default_factory=list, max_length=100)
    actions: list[Action] = Field(default_factory=list, max_length=200)
    bilans: list[Bilan] = Field(default_factory=list, max_length=50)
    accords: list[Accord] = Field(default_factory=list, max_length=20)

    def check_consistency(self) -> None:
        """Rules across the plan's parts; every broken one is reported (DomainError)."""
        issues: list[FieldIssue] = []
        if self.date_fin is not None and self.date_fin < self.date_debut:
            issues.append(FieldIssue("date_fin", "date-fin-after-date-debut", "date_fin is before date_debut"))
        if self.date_revision_prevue is not None and self.date_revision_prevue < self.date_debut:
            issues.append(
                FieldIssue(
                    "date_revision_prevue", "review-date-after-start", "The review date is before the plan's start"
                )
            )
        for i, bilan in enumerate(self.bilans):
            if bilan.date_prochain_bilan is not None and bilan.date_prochain_bilan < self.date_debut:
                issues.append(
                    FieldIssue(
                        f"bilans.{i}.date_prochain_bilan",
                        "review-date-after-start",
                        "The review date is before the plan's start",
                    )
                )
        needs = [b.code for b in self.besoins]
        if len(set(needs)) != len(needs):
            issues.append(FieldIssue("besoins", "plan-need-unique", "A need is listed twice"))
        refs = [o.ref for o in self.objectifs]
        if len(set(refs)) != len(refs):
            issues.append(FieldIssue("objectifs", "plan-ref-unique", "Two objectives share a ref"))
        action_refs = [a.ref for a in self.actions]
        if len(set(action_refs)) != len(action_refs):
            issues.append(FieldIssue("actions", "plan-ref-unique", "Two actions share a ref"))
        for i, objectif in enumerate(self.objectifs):
            for code in objectif.besoins:
                if code not in needs:
                    issues.append(
                        FieldIssue(f"objectifs.{i}.besoins", "plan-link-unknown", f"Need {code} is not in the plan")
                    )
        for i, action in enumerate(self.actions):
            for ref in action.objectifs:
                if ref not in refs:
                    issues.append(
                        FieldIssue(f"actions.{i}.objectifs", "plan-link-unknown", f"Objective {ref} is not in the plan")
                    )
        if issues:
            raise DomainError("The plan is inconsistent", issues=issues)

    def professionals(self) -> set[UUID]:
        """Every professional the plan names (referents, objective and action referents, signatories)."""
        found = set(self.referents)
        found |= {o.referent_id for o in self.objectifs if o.referent_id}
        found |= {a.referent_id for a in self.actions if a.referent_id}
        found |= {a.professionnel_id for a in self.accords if a.professionnel_id}
        return found


class PlanRecord(PlanInput):
    """A stored version of a plan: the content plus its place in the life cycle and among the versions."""

    status: PlanStatus = PlanStatus.DRAFT
    essms_id: UUID | None = Field(None, description="ESSMS of the stay (set from the stay)")
    lineage_id: UUID | None = Field(None, description="Id of the first version; shared by every version")
    numero_version: int = Field(1, ge=1)
    previous_version_id: UUID | None = Field(None, description="The version this one revises")
    superseded_by_id: UUID | None = None
    submitted_at: datetime | None = None
    validated_at: datetime | None = None
    validated_by: str | None = None
    started_at: datetime | None = None
    closed_at: datetime | None = None
    revised_at: datetime | None = None
    motif_cloture: LongText | None = None
    bilans_suivi: list[Bilan] = Field(
        default_factory=list, description="Reviews recorded while the version is in force (appended only)"
    )

    def all_bilans(self) -> list[Bilan]:
        return [*self.bilans, *self.bilans_suivi]


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def review_due(plan: PlanRecord, interval_months: int) -> date:
    """When the plan must next be reviewed: the earliest of its planned review, the next review its
    latest bilan sets, and the yearly (configurable) limit counted from its start or latest bilan."""
    latest = max(plan.all_bilans(), key=lambda b: b.date_bilan, default=None)
    base = latest.date_bilan if latest else plan.date_debut
    candidates = [add_months(base, interval_months)]
    if latest and latest.date_prochain_bilan:
        candidates.append(latest.date_prochain_bilan)
    if plan.date_revision_prevue and (latest is None or plan.date_revision_prevue > latest.date_bilan):
        candidates.append(plan.date_revision_prevue)
    return min(candidates)


def check_review_within_interval(plan: PlanInput, interval_months: int) -> None:
    limit = add_months(plan.date_debut, interval_months)
    if plan.date_revision_prevue is not None and plan.date_revision_prevue > limit:
        raise RuleViolation(
            "review-within-interval",
            f"The plan must be reviewed within {interval_months} months of its start (by {limit})",
            field="date_revision_prevue",
        )


class Transition(StrEnum):
    SUBMIT = "submit"
    RETURN_TO_DRAFT = "return-to-draft"
    VALIDATE = "validate"
    START = "start"
    CLOSE = "close"
    REVISE = "revise"


ALLOWED: dict[Transition, tuple[tuple[PlanStatus, ...], PlanStatus | None]] = {
    Transition.SUBMIT: ((PlanStatus.DRAFT,), PlanStatus.SUBMITTED),
    Transition.RETURN_TO_DRAFT: ((PlanStatus.SUBMITTED,), PlanStatus.DRAFT),
    Transition.VALIDATE: ((PlanStatus.SUBMITTED,), PlanStatus.VALIDATED),
    Transition.START: ((PlanStatus.VALIDATED,), PlanStatus.IN_PROGRESS),
    Transition.CLOSE: (IN_FORCE, PlanStatus.CLOSED),
    # A revision leaves this version as it is (a new draft is created); it is marked revised once the
    # revision is validated.
    Transition.REVISE: (IN_FORCE, None),
}


def next_status(current: PlanStatus, transition: Transition) -> PlanStatus | None:
    """The status after ``transition``; Conflict when the plan is not in a state that allows it."""
    sources, target = ALLOWED[transition]
    if current not in sources:
        raise Conflict(
            f"plan-transition-{transition.value}",
            f"A {current.value} plan cannot {transition.value.replace('-', ' ')}"
            f" (allowed from {', '.join(s.value for s in sources)})",
            field="status",
        )
    return target


def check_editable(plan: PlanRecord) -> None:
    """Only a draft is edited; a validated version never changes (revise it instead)."""
    if plan.status is not PlanStatus.DRAFT:
        rule = "plan-version-immutable" if plan.status not in (PlanStatus.SUBMITTED,) else "plan-submitted"
        raise Conflict(
            rule,
            f"A {plan.status.value} plan cannot be edited"
            + (": revise it to change it" if rule == "plan-version-immutable" else ": return it to draft first"),
            field="status",
        )


def check_validation(plan: PlanRecord) -> None:
    """Validating needs at least one agreement of the establishment (TDDUI accordStructure 1..*)."""
    if not any(a.partie is Partie.STRUCTURE for a in plan.accords):
        raise RuleViolation(
            "plan-establishment-agreement-required",
            "A plan is validated only with an agreement of the establishment (accords, partie structure)",
            field="accords",
        )
