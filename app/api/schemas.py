"""Response schemas and list filters (request bodies are the domain models themselves)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.domain.entourage import ContactInput, MeasureNature, ProtectionMeasureInput
from app.domain.evaluations import CurrentGir, EvaluationInput
from app.domain.identity import IdentityStatus, Ins, UsagerIdentityInput
from app.domain.plans import PlanRecord, PlanStatus
from app.domain.professionals import ProfessionalInput
from app.domain.stays import StayInput, StayStatus
from app.domain.structures import EssmsInput, OrganismeInput
from app.domain.transmissions import Categorie, TransmissionInput


class Meta(BaseModel):
    id: uuid.UUID
    version: int = Field(description="Version number; also sent as the ETag")
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None = Field(description="Set when the record was archived (never hard-deleted)")


class HistoryEntryBase(BaseModel):
    version: int
    operation: Literal[
        "create",
        "update",
        "archive",
        "submit",
        "return",
        "validate",
        "start",
        "close",
        "revise",
        "supersede",
        "review",
        "agree",
    ]
    actor: str
    recorded_at: datetime


class Organisme(OrganismeInput, Meta):
    """An organisme gestionnaire."""


class Essms(EssmsInput, Meta):
    """An ESSMS with facts derived from its FINESS category."""

    categorie_libelle: str
    categorie_agregat: str
    categorie_obsolete: bool = Field(description="Legacy category (e.g. 437 FAM, replaced by 448 EAM)")


class Usager(UsagerIdentityInput, Meta):
    """A usager: identity traits, RNIV status and INS fields."""

    identity_status: IdentityStatus = Field(description="PROV, RECUP, VALI or QUAL (derived)")
    insi_verified: bool = Field(description="Identity retrieved or verified through INSi")
    high_trust_proof: bool = Field(description="A high-trust identity document was checked")
    ins: Ins | None = Field(description="INS, read-only: set by the INSi workflow only")
    ins_history: list[Ins]
    gir_actuel: CurrentGir | None = Field(None, description="GIR of the latest AGGIR evaluation")
    ins_source: Literal["insi", "received"] | None = Field(
        None, description="insi: returned by INSi here; received: from another domain, to be re-qualified"
    )
    insi_checked_at: datetime | None = Field(None, description="Last INSi search or verification that matched")
    merged_into: uuid.UUID | None = Field(None, description="Set on a duplicate merged into another record")


class Contact(ContactInput, Meta):
    """A contact of a usager."""


class ProtectionMeasure(ProtectionMeasureInput, Meta):
    """A legal protection measure."""


class Stay(StayInput, Meta):
    """A stay of a usager in one ESSMS."""

    status: StayStatus


class Professional(ProfessionalInput, Meta):
    """A professional."""

    idnps: str | None = Field(description="8 + RPPS, when the professional has an RPPS")


class ListFilters(BaseModel):
    """Query parameters every list accepts; unknown parameters are refused."""

    model_config = ConfigDict(extra="forbid")
    limit: int | None = Field(None, ge=1, le=500, description="Page size (default 50)")
    cursor: str | None = Field(None, max_length=512, description="next_cursor of the previous page")
    include_archived: bool = Field(False, description="Include archived records")


class OrganismeFilters(ListFilters):
    finess_ej: str | None = Field(None, max_length=9)
    sort: Literal["raison_sociale"] | None = None


class EssmsFilters(ListFilters):
    finess_et: str | None = Field(None, max_length=9)
    organisme_id: uuid.UUID | None = None
    categorie: str | None = Field(None, max_length=3, description="FINESS category code")
    sort: Literal["nom"] | None = None


class UsagerFilters(ListFilters):
    q: str | None = Field(
        None,
        max_length=200,
        description="Names and first names, in any order; case, "
        "accents, hyphens and apostrophes ignored; each word may be the start of a name",
    )
    nom: str | None = Field(None, max_length=100, description="Birth or used name")
    prenom: str | None = Field(None, max_length=100, description="Any birth first name or the used first name")
    date_naissance: date | None = None
    sexe: Literal["F", "M", "UN"] | None = None
    essms_id: uuid.UUID | None = Field(None, description="Usagers known to this ESSMS")
    identity_status: IdentityStatus | None = None
    identifiant_local: str | None = Field(None, max_length=200)
    sort: Literal["nom"] | None = None


class ContactFilters(ListFilters):
    usager_id: uuid.UUID | None = None
    personne_de_confiance: bool | None = Field(None, description="Only the personne de confiance (NOK)")


class ProtectionMeasureFilters(ListFilters):
    usager_id: uuid.UUID | None = None
    nature: MeasureNature | None = None
    active_on: date | None = Field(None, description="Measures in force on this date")


class StayFilters(ListFilters):
    usager_id: uuid.UUID | None = None
    essms_id: uuid.UUID | None = None
    status: StayStatus | None = None
    open: bool | None = Field(None, description="Only open (true) or closed (false) stays")
    present_on: date | None = Field(None, description="Stays whose usager was present on this date")
    sort: Literal["date_entree"] | None = None


class ProfessionalFilters(ListFilters):
    rpps: str | None = Field(None, max_length=11)
    essms_id: uuid.UUID | None = Field(None, description="Professionals assigned to this ESSMS")
    profession: str | None = Field(None, max_length=40)
    nom: str | None = Field(None, max_length=100)
    sort: Literal["nom"] | None = None


class Plan(PlanRecord, Meta):
    """One version of a projet personnalisé."""

    review_due: date = Field(description="When the plan must next be reviewed")
    statut_tddui: str = Field(description="TRE_R368 status for the TDDUI exports (ENPREPARATION, ENCOURS, TERMINE)")


class PlanFilters(ListFilters):
    usager_id: uuid.UUID | None = None
    stay_id: uuid.UUID | None = None
    essms_id: uuid.UUID | None = None
    lineage_id: uuid.UUID | None = Field(None, description="Every version of one plan")
    status: PlanStatus | None = None
    in_force: bool | None = Field(None, description="Only versions validated or in progress")
    sort: Literal["date_debut", "review_due"] | None = None


class ReviewDueFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    essms_id: uuid.UUID | None = Field(None, description="Plans of this ESSMS")
    as_of: date | None = Field(None, description="Reference day (default today)")
    within_days: int | None = Field(None, ge=0, le=365, description="Due-soon horizon (default: the setting)")
    limit: int | None = Field(None, ge=1, le=500)
    cursor: str | None = Field(None, max_length=512)


class ReviewDue(BaseModel):
    plan_id: uuid.UUID
    lineage_id: uuid.UUID
    numero_version: int
    usager_id: uuid.UUID
    stay_id: uuid.UUID
    essms_id: uuid.UUID
    titre: str
    status: PlanStatus
    review_due: date
    state: Literal["overdue", "due_soon"]
    days: int = Field(description="Days overdue (positive) or left (negative or zero)")


class ReviewDuePage(BaseModel):
    as_of: date
    horizon: date
    items: list[ReviewDue]
    next_cursor: str | None


class CloseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    motif: str | None = Field(None, max_length=4000, description="Why the plan ends")


class Evaluation(EvaluationInput, Meta):
    """An evaluation with its computed result (AGGIR: the GIR and the modalities)."""

    type_evaluation: str | None = Field(description="JDV_TypeEvaluation_CISIS code")
    resultat: dict[str, Any]


class EvaluationFilters(ListFilters):
    usager_id: uuid.UUID | None = None
    stay_id: uuid.UUID | None = None
    grille: Literal["aggir", "serafin", "libre"] | None = None
    gir: int | None = Field(None, ge=1, le=6)
    date_from: date | None = None
    date_to: date | None = None
    sort: Literal["date_evaluation"] | None = None


class Transmission(TransmissionInput, Meta):
    """A daily note (never edited; corrections reference it)."""


class TransmissionFilters(ListFilters):
    usager_id: uuid.UUID | None = None
    stay_id: uuid.UUID | None = None
    essms_id: uuid.UUID | None = None
    auteur_id: uuid.UUID | None = None
    corrige_id: uuid.UUID | None = Field(None, description="Corrections of this note")
    categorie: Categorie | None = None
    since: datetime | None = Field(None, description="Notes dated at or after")
    until: datetime | None = Field(None, description="Notes dated before")
    q: str | None = Field(None, max_length=200, description="Words of the note (case and accents ignored)")
    current_only: bool = Field(False, description="Leave out notes that were corrected")
    sort: Literal["date_heure"] | None = None
