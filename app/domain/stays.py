"""Stays (séjours) of a usager in one ESSMS."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import Field, ValidationInfo, field_validator, model_validator

from app.domain import codes
from app.domain.errors import Conflict, RuleViolation
from app.domain.types import DomainModel, LongText, ShortText, coded, violation


class StayStatus(StrEnum):
    PRE_ADMISSION = "pre_admission"
    ADMIS = "admis"
    EN_COURS = "en_cours"
    SORTI = "sorti"


class StayInput(DomainModel):
    """Admission, entry and exit of a usager in one ESSMS."""

    usager_id: UUID
    essms_id: UUID
    date_admission: date | None = Field(None, description="Decision of admission")
    date_entree_prevue: date | None = None
    date_entree: date | None = Field(None, description="Actual entry")
    date_sortie_prevue: date | None = None
    date_sortie: date | None = Field(None, description="Actual exit; the stay is open until it is set")
    motif_sortie: ShortText | None = Field(None, description="Required once date_sortie is set")
    type_activite: Annotated[str, coded(codes.activity_types)] | None = Field(
        None, description="Type of accueil used for the usager (TRE_R209), one of the ESSMS's types"
    )
    modalite_accueil: Annotated[str, coded(codes.modalites_accueil)] | None = Field(
        None, description="ROR modalité d'accueil (JDV_J226)"
    )
    mode_entree: Annotated[str, coded(codes.entry_modes)] | None = Field(None, description="Modalité d'entrée")
    numero_dossier: ShortText | None = None
    commentaire: LongText | None = None

    @field_validator("date_entree")
    @classmethod
    def _entry_known(cls, value: date | None, info: ValidationInfo) -> date | None:
        if value is not None and value > date.today():
            raise violation("date-entree-not-future", "date_entree cannot be in the future; use date_entree_prevue")
        return value

    @field_validator("date_sortie_prevue")
    @classmethod
    def _planned_exit(cls, value: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("date_entree") or info.data.get("date_entree_prevue")
        if value is not None and start is not None and value < start:
            raise violation("date-sortie-prevue-after-entree", "date_sortie_prevue is before the entry")
        return value

    @field_validator("date_sortie")
    @classmethod
    def _exit(cls, value: date | None, info: ValidationInfo) -> date | None:
        if value is None:
            return value
        entry = info.data.get("date_entree")
        if entry is None:
            raise violation("date-sortie-needs-entree", "A stay cannot end before it has started (no date_entree)")
        if value < entry:
            raise violation("date-sortie-after-entree", "date_sortie is before date_entree")
        if value > date.today():
            raise violation("date-sortie-not-future", "date_sortie cannot be in the future; use date_sortie_prevue")
        return value

    @model_validator(mode="after")
    def _dates(self) -> StayInput:
        if self.date_admission is None and self.date_entree is None and self.date_entree_prevue is None:
            raise violation("stay-needs-a-date", "Give date_admission, date_entree_prevue or date_entree")
        if self.date_sortie is not None and not self.motif_sortie:
            raise violation("motif-sortie-required", "motif_sortie is required once date_sortie is set")
        return self

    @property
    def is_open(self) -> bool:
        return self.date_sortie is None

    def derive_status(self) -> StayStatus:
        if self.date_sortie is not None:
            return StayStatus.SORTI
        if self.date_entree is not None:
            return StayStatus.EN_COURS
        if self.date_admission is not None:
            return StayStatus.ADMIS
        return StayStatus.PRE_ADMISSION


def check_single_open_stay(stay: StayInput, other_open_stays_in_same_essms: int) -> None:
    """At most one open stay per usager per ESSMS; stays in different ESSMS may run at the same time."""
    if stay.is_open and other_open_stays_in_same_essms > 0:
        raise Conflict(
            "single-open-stay-per-essms", "The usager already has an open stay in this ESSMS", field="essms_id"
        )


def check_activity_offered(stay: StayInput, essms_activity_types: list[str]) -> None:
    """The accueil type of a stay is one the ESSMS offers (when the ESSMS lists them)."""
    if stay.type_activite and essms_activity_types and stay.type_activite not in essms_activity_types:
        raise RuleViolation(
            "type-activite-offered",
            f"The ESSMS does not offer type of activity {stay.type_activite}",
            field="type_activite",
        )
