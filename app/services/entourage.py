"""Use cases for contacts and legal protection measures."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from sqlalchemy import and_, or_
from sqlalchemy.sql.elements import ColumnElement

from app.domain import entourage
from app.domain.entourage import ContactInput, ProtectionMeasureInput
from app.domain.errors import RuleViolation
from app.services.resources import ResourceService
from app.store.repository import ContactRepository, ProtectionMeasureRepository, UsagerRepository


async def _require_usager(service: ResourceService[Any], usager_id: uuid.UUID) -> None:
    if await UsagerRepository(service.connection).get(usager_id, service.principal.scope) is None:
        raise RuleViolation("usager-exists", f"No usager {usager_id}", field="usager_id")


class ContactService(ResourceService[ContactInput]):
    repository = ContactRepository
    input_model = ContactInput
    record_model = ContactInput
    immutable_fields = ("usager_id",)
    unique_rules = {
        "uq_contact_personne_de_confiance": (
            "single-personne-de-confiance",
            "The usager already has a personne de confiance",
            "roles",
        )
    }
    repo: ContactRepository

    def conditions(self, filters: Any) -> list[ColumnElement[bool]]:
        c = self.repo.c
        conditions: list[ColumnElement[bool]] = []
        if filters.usager_id:
            conditions.append(c.usager_id == filters.usager_id)
        if filters.personne_de_confiance is not None:
            conditions.append(c.personne_de_confiance == filters.personne_de_confiance)
        return conditions

    def columns(self, record: ContactInput) -> dict[str, Any]:
        return {"usager_id": record.usager_id, "personne_de_confiance": entourage.PERSONNE_DE_CONFIANCE in record.roles}

    async def check(self, record: ContactInput, current_id: uuid.UUID | None) -> None:
        await _require_usager(self, record.usager_id)
        others = await self.repo.other_active_roles(record.usager_id, current_id)
        entourage.check_single_personne_de_confiance(record.roles, [orjson.loads(b)["roles"] for b in others])


class ProtectionMeasureService(ResourceService[ProtectionMeasureInput]):
    repository = ProtectionMeasureRepository
    input_model = ProtectionMeasureInput
    record_model = ProtectionMeasureInput
    immutable_fields = ("usager_id",)
    repo: ProtectionMeasureRepository

    def conditions(self, filters: Any) -> list[ColumnElement[bool]]:
        c = self.repo.c
        conditions: list[ColumnElement[bool]] = []
        if filters.usager_id:
            conditions.append(c.usager_id == filters.usager_id)
        if filters.nature:
            conditions.append(c.nature == filters.nature.value)
        if filters.active_on:
            conditions.append(
                and_(c.date_debut <= filters.active_on, or_(c.date_fin.is_(None), c.date_fin >= filters.active_on))
            )
        return conditions

    def columns(self, record: ProtectionMeasureInput) -> dict[str, Any]:
        return {
            "usager_id": record.usager_id,
            "nature": record.nature.value,
            "date_debut": record.date_debut,
            "date_fin": record.date_fin,
            "protecteur_contact_id": record.protecteur_contact_id,
        }

    async def check(self, record: ProtectionMeasureInput, current_id: uuid.UUID | None) -> None:
        await _require_usager(self, record.usager_id)
        if record.protecteur_contact_id is not None:
            owner = await ContactRepository(self.connection).owner(record.protecteur_contact_id)
            entourage.check_protector_contact(owner, record.usager_id)
        others = await self.repo.same_nature(record.usager_id, record.nature.value, current_id)
        entourage.check_no_overlapping_measure(
            record, [ProtectionMeasureInput.model_validate(self._domain_part(b)) for b in others]
        )

    def _domain_part(self, body: str) -> dict[str, Any]:
        data = orjson.loads(body)
        return {k: v for k, v in data.items() if k in ProtectionMeasureInput.model_fields}
