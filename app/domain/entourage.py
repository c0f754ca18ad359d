"""The usager's entourage: contacts (personne de confiance, aidant, représentant légal…) and legal
protection measures."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import Field, ValidationInfo, field_validator

from app.domain import codes
from app.domain.errors import Conflict, RuleViolation
from app.domain.identity import PersonName
from app.domain.types import (
    Address,
    DomainModel,
    LongText,
    ShortText,
    Telecom,
    coded,
    violation,
)

PERSONNE_DE_CONFIANCE = "NOK"


class ContactInput(DomainModel):
    """A natural person around the usager, with one or more roles (TRE_R260)."""

    usager_id: UUID
    nom: PersonName
    prenom: PersonName | None = None
    civilite: Annotated[str, coded(codes.civilites)] | None = None
    roles: list[Annotated[str, coded(codes.contact_roles)]] = Field(
        min_length=1,
        max_length=6,
        description="TRE_R260: NOK personne de confiance, GUARD responsable légal, CAREGIVER aidant, "
        "ECON personne à prévenir…",
    )
    relation: Annotated[str, coded(codes.relationships)] | None = Field(
        None, description="JDV_J11: family link or protection role (TUTEUR, CURATEUR, MSVG)"
    )
    ordre_appel: int | None = Field(None, ge=1, le=99, description="1 = first to call")
    telecoms: list[Telecom] = Field(default_factory=list, max_length=10)
    adresse: Address | None = None
    commentaire: LongText | None = None

    @field_validator("roles")
    @classmethod
    def _roles(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise violation("roles-unique", "A role is listed twice")
        for code in value:
            concept = codes.contact_roles().get(code)
            if concept is not None and concept.deprecated:
                # QUAL was replaced by NOK for the personne de confiance on 2024-03-29.
                raise violation("code-TRE_R260-deprecated", f"Role {code} is deprecated; use NOK")
        return value


def check_single_personne_de_confiance(new_roles: list[str], other_contacts_roles: list[list[str]]) -> None:
    """A usager designates at most one personne de confiance (CASF L311-5-1)."""
    if PERSONNE_DE_CONFIANCE in new_roles and any(PERSONNE_DE_CONFIANCE in r for r in other_contacts_roles):
        raise Conflict("single-personne-de-confiance", "The usager already has a personne de confiance", field="roles")


class MeasureNature(StrEnum):
    """Nature of a legal protection measure (local code system: no NOS code exists yet)."""

    SAUVEGARDE_JUSTICE = "SAUVEGARDE_JUSTICE"
    CURATELLE_SIMPLE = "CURATELLE_SIMPLE"
    CURATELLE_RENFORCEE = "CURATELLE_RENFORCEE"
    CURATELLE_AMENAGEE = "CURATELLE_AMENAGEE"
    TUTELLE = "TUTELLE"
    HABILITATION_FAMILIALE_GENERALE = "HABILITATION_FAMILIALE_GENERALE"
    HABILITATION_FAMILIALE_SPECIALE = "HABILITATION_FAMILIALE_SPECIALE"
    MANDAT_PROTECTION_FUTURE = "MANDAT_PROTECTION_FUTURE"


class MeasureScope(StrEnum):
    BIENS = "biens"
    PERSONNE = "personne"
    BIENS_ET_PERSONNE = "biens_et_personne"


class Judgment(DomainModel):
    tribunal: ShortText
    date: date
    numero: ShortText | None = None


class ProtectingOrganisation(DomainModel):
    """A service mandataire (MJPM) or an association exercising the measure."""

    raison_sociale: ShortText
    finess: Annotated[str, Field(pattern=r"^(?:\d{2}|2[AB])\d{7}$")] | None = None
    telecoms: list[Telecom] = Field(default_factory=list, max_length=10)
    adresse: Address | None = None


class ProtectionMeasureInput(DomainModel):
    """A legal protection measure; the protecting person is a contact of the usager or an organisation."""

    usager_id: UUID
    nature: MeasureNature
    date_debut: date
    date_fin: date | None = None
    portee: MeasureScope | None = None
    protecteur_contact_id: UUID | None = Field(None, description="A contact of the same usager")
    protecteur_organisme: ProtectingOrganisation | None = None
    jugement: Judgment | None = None
    commentaire: LongText | None = None

    @field_validator("date_fin")
    @classmethod
    def _end_after_start(cls, value: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("date_debut")
        if value is not None and start is not None and value < start:
            raise violation("date-fin-after-date-debut", "date_fin is before date_debut")
        return value

    @field_validator("protecteur_organisme")
    @classmethod
    def _one_protector(cls, value: ProtectingOrganisation | None, info: ValidationInfo) -> object:
        if value is not None and info.data.get("protecteur_contact_id") is not None:
            raise violation("single-protector", "Give protecteur_contact_id or protecteur_organisme, not both")
        return value

    def active_on(self, day: date) -> bool:
        return self.date_debut <= day and (self.date_fin is None or self.date_fin >= day)


def check_protector_contact(contact_usager_id: UUID | None, measure_usager_id: UUID) -> None:
    """The protecting contact must exist and belong to the same usager."""
    if contact_usager_id is None:
        raise RuleViolation(
            "protector-exists", "protecteur_contact_id is not a known contact", field="protecteur_contact_id"
        )
    if contact_usager_id != measure_usager_id:
        raise RuleViolation(
            "protector-same-usager", "The protecting contact belongs to another usager", field="protecteur_contact_id"
        )


def check_no_overlapping_measure(new: ProtectionMeasureInput, others: list[ProtectionMeasureInput]) -> None:
    """At most one measure of the same nature at a time for one usager."""
    for other in others:
        if other.nature != new.nature:
            continue
        new_end = new.date_fin or date.max
        other_end = other.date_fin or date.max
        if new.date_debut <= other_end and other.date_debut <= new_end:
            raise Conflict(
                "measure-no-overlap", f"A {new.nature.value} measure already covers this period", field="date_debut"
            )
