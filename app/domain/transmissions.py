"""Transmissions: the team's daily notes about a usager. Never edited: a correction is a new note that
references the one it corrects (the corrected note stays as written)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Self
from uuid import UUID

from pydantic import Field, field_validator, model_validator

from app.domain import codes
from app.domain.errors import RuleViolation
from app.domain.moments import as_utc
from app.domain.types import DomainModel, LongText, ShortText, coded, violation

# A note may be dated a little ahead of the server clock (clock drift of the writing device).
CLOCK_SKEW = timedelta(minutes=5)


class Categorie(StrEnum):
    NARRATIVE = "narrative"
    CIBLEE = "ciblee"


class TransmissionInput(DomainModel):
    """A daily note: narrative, or targeted (transmission ciblée: cible + données, actions, résultats)."""

    usager_id: UUID
    stay_id: UUID | None = Field(None, description="The stay the note belongs to; its ESSMS is the note's")
    essms_id: UUID | None = Field(None, description="Required when no stay is given")
    auteur_id: UUID = Field(description="The professional who writes the note")
    date_heure: datetime = Field(description="When the observed facts happened (UTC when no offset is given)")
    categorie: Categorie = Categorie.NARRATIVE
    cible: ShortText | None = Field(None, description="Target of a targeted note (free text)")
    cible_besoin: Annotated[str, coded(codes.serafin_besoins)] | None = Field(
        None, description="Target as a SERAFIN-PH need (1.x)"
    )
    texte: LongText | None = Field(None, description="The note (narrative) or the données (targeted)")
    actions: LongText | None = None
    resultats: LongText | None = None
    confidentialite: Annotated[str, coded(codes.confidentialities)] = Field("N", description="HL7: N, R or V")
    objectif_ref: ShortText | None = Field(None, description="Objective of the usager's plan the note is about")
    corrige_id: UUID | None = Field(None, description="The note this one corrects")

    @field_validator("date_heure")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        value = as_utc(value)
        if value > datetime.now(UTC) + CLOCK_SKEW:
            raise violation("date-heure-not-future", "A note reports what happened: date_heure is in the future")
        return value

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if not (self.texte or self.actions or self.resultats):
            raise violation("transmission-text-required", "A note needs texte (or actions / resultats)")
        if self.categorie is Categorie.CIBLEE and not (self.cible or self.cible_besoin):
            raise violation("transmission-target-required", "A targeted note needs cible or cible_besoin")
        if self.stay_id is None and self.essms_id is None:
            raise violation("transmission-essms-required", "Give stay_id or essms_id")
        return self


def check_correction(note: TransmissionInput, corrected_usager_id: UUID | None) -> None:
    """A correction references an existing note of the same usager."""
    if note.corrige_id is None:
        return
    if corrected_usager_id is None:
        raise RuleViolation("correction-target-exists", f"No note {note.corrige_id}", field="corrige_id")
    if corrected_usager_id != note.usager_id:
        raise RuleViolation(
            "correction-same-usager", "A correction belongs to the usager of the corrected note", field="corrige_id"
        )


def check_within_stay(note: TransmissionInput, entree: date | None, sortie: date | None) -> None:
    """A note that names a stay is dated inside it (domain reference 2.5)."""
    day = note.date_heure.date()
    if (entree is not None and day < entree) or (sortie is not None and day > sortie):
        raise RuleViolation("transmission-date-in-stay", "date_heure is outside the stay it names", field="date_heure")
