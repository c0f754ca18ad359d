"""Professionals working in ESSMS: RPPS when they have one, a local identifier otherwise."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from pydantic import Field, ValidationInfo, field_validator, model_validator

from app.domain import codes
from app.domain.identity import PersonName
from app.domain.types import DomainModel, Email, Rpps, ShortText, Telecom, coded, violation


class Assignment(DomainModel):
    """A professional's work in one ESSMS, with a role."""

    essms_id: UUID
    fonction: Annotated[str, coded(codes.functions)] | None = Field(None, description="JDV_J47 function code")
    date_debut: date | None = None
    date_fin: date | None = None

    @field_validator("date_fin")
    @classmethod
    def _end(cls, value: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("date_debut")
        if value is not None and start is not None and value < start:
            raise violation("date-fin-after-date-debut", "date_fin is before date_debut")
        return value


class ProfessionalInput(DomainModel):
    """A professional of the organisation (médico-social professions often have no RPPS)."""

    rpps: Rpps | None = Field(None, description="RPPS number (11 digits), when the professional has one")
    identifiant_local: ShortText | None = Field(None, description="Local identifier when there is no RPPS")
    civilite: Annotated[str, coded(codes.civilites)] | None = None
    nom: PersonName
    prenom: PersonName
    profession: Annotated[str, coded(codes.professions)] = Field(
        description="JDV_J01 profession or role (TRE_G15 G15_xx, TRE_R94, TRE_R85 codes)"
    )
    email: Email | None = None
    mssante: Email | None = Field(None, description="MSSanté address")
    telecoms: list[Telecom] = Field(default_factory=list, max_length=10)
    affectations: list[Assignment] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _identified(self) -> ProfessionalInput:
        if not self.rpps and not self.identifiant_local:
            raise violation("professional-identifier", "Give an rpps or an identifiant_local")
        essms = [a.essms_id for a in self.affectations]
        if len(set(essms)) != len(essms):
            raise violation("affectations-unique", "The professional is assigned twice to the same ESSMS")
        return self

    def national_id(self) -> str | None:
        """National PS identifier: 8 + RPPS."""
        return f"8{self.rpps}" if self.rpps else None
