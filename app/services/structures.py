"""Use cases for organismes gestionnaires and ESSMS."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.sql.elements import ColumnElement

from app.domain import structures
from app.domain.errors import Forbidden, RuleViolation
from app.domain.structures import EssmsInput, OrganismeInput
from app.domain.text import sort_key
from app.services.resources import ResourceService
from app.store.repository import EssmsRepository, OrganismeRepository


class OrganismeService(ResourceService[OrganismeInput]):
    repository = OrganismeRepository
    input_model = OrganismeInput
    record_model = OrganismeInput
    immutable_fields = ("finess_ej",)
    unique_rules = {
        "uq_organisme_finess_ej": ("finess-unique", "This FINESS juridique is already recorded", "finess_ej")
    }

    def conditions(self, filters: Any) -> list[ColumnElement[bool]]:
        return [self.repo.c.finess_ej == filters.finess_ej] if filters.finess_ej else []

    async def check(self, record: OrganismeInput, current_id: uuid.UUID | None) -> None:
        # A new organisme gestionnaire is outside every ESSMS: only an unrestricted administrator creates one.
        if current_id is None and not self.principal.scope.unrestricted:
            raise Forbidden("Only a platform administrator creates an organisme gestionnaire")

    def columns(self, record: OrganismeInput) -> dict[str, Any]:
        return {"finess_ej": record.finess_ej, "name_key": sort_key(record.raison_sociale)}


class EssmsService(ResourceService[EssmsInput]):
    repository = EssmsRepository
    input_model = EssmsInput
    record_model = EssmsInput
    derived_fields = ("categorie_libelle", "categorie_agregat", "categorie_obsolete")
    immutable_fields = ("finess_et",)
    unique_rules = {
        "uq_essms_finess_et": ("finess-unique", "This FINESS géographique is already recorded", "finess_et")
    }

    def conditions(self, filters: Any) -> list[ColumnElement[bool]]:
        c = self.repo.c
        conditions: list[ColumnElement[bool]] = []
        if filters.finess_et:
            conditions.append(c.finess_et == filters.finess_et)
        if filters.organisme_id:
            conditions.append(c.organisme_id == filters.organisme_id)
        if filters.categorie:
            conditions.append(c.categorie == filters.categorie)
        return conditions

    def derived(self, record: EssmsInput) -> dict[str, Any]:
        return structures.category_facts(record.categorie)

    def columns(self, record: EssmsInput) -> dict[str, Any]:
        return {
            "finess_et": record.finess_et,
            "organisme_id": record.organisme_id,
            "categorie": record.categorie,
            "name_key": sort_key(record.nom),
        }

    async def check(self, record: EssmsInput, current_id: uuid.UUID | None) -> None:
        organismes = OrganismeRepository(self.connection)
        # Structures are created inside an organisme the caller administers (it has one of its ESSMS).
        if await organismes.get(record.organisme_id, self.principal.scope) is None:
            raise RuleViolation(
                "organisme-exists", f"No organisme gestionnaire {record.organisme_id}", field="organisme_id"
            )
