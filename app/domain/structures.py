"""Organismes gestionnaires (FINESS juridique) and ESSMS (FINESS géographique)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import Field, field_validator

from app.domain import codes
from app.domain.types import Address, DomainModel, Finess, ShortText, Telecom, coded, rule, violation


def _check_category(code: str) -> str:
    codes.check_finess_category(code)
    return code


class OrganismeInput(DomainModel):
    """An organisme gestionnaire (entité juridique), identified by its FINESS juridique."""

    finess_ej: Finess = Field(description="FINESS juridique (9 characters with check key)")
    raison_sociale: ShortText
    siren: Annotated[str, Field(pattern=r"^\d{9}$")] | None = None
    adresse: Address | None = None
    telecoms: list[Telecom] = Field(default_factory=list, max_length=10)


class EssmsInput(DomainModel):
    """An establishment or service (entité géographique) run by an organisme gestionnaire."""

    finess_et: Finess = Field(description="FINESS géographique (9 characters with check key)")
    organisme_id: UUID = Field(description="The organisme gestionnaire")
    nom: ShortText
    categorie: Annotated[str, rule(_check_category)] = Field(
        description="FINESS category (TRE_R66), e.g. 500 EHPAD, 183 IME, 255 MAS, 354 SSIAD, 448 EAM"
    )
    types_activite: list[Annotated[str, coded(codes.activity_types)]] = Field(
        default_factory=list, max_length=20, description="Types of activity / accueil (TRE_R209)"
    )
    capacite: int | None = Field(None, ge=0, le=100_000, description="Authorised places")
    numero_education_nationale: Annotated[str, Field(pattern=r"^\d{7}[A-Z]$")] | None = None
    adresse: Address | None = None
    telecoms: list[Telecom] = Field(default_factory=list, max_length=10)

    @field_validator("types_activite")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise violation("types-activite-unique", "A type of activity is listed twice")
        return value


def category_facts(code: str) -> dict[str, object]:
    """Derived facts shown with an ESSMS: label, sector aggregate, deprecation (legacy categories)."""
    category = codes.check_finess_category(code)
    return {
        "categorie_libelle": category.label,
        "categorie_agregat": category.aggregate,
        "categorie_obsolete": category.deprecated,
    }
