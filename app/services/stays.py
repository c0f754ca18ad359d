"""Use cases for stays (séjours)."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from sqlalchemy.sql.elements import ColumnElement

from app.domain import stays
from app.domain.errors import RuleViolation
from app.domain.stays import StayInput
from app.services.resources import ResourceService
from app.store.repository import EssmsRepository, StayRepository, UsagerRepository


class StayService(ResourceService[StayInput]):
    repository = StayRepository
    input_model = StayInput
    record_model = StayInput
    derived_fields = ("status",)
    immutable_fields = ("usager_id", "essms_id")
    unique_rules = {
        "uq_stay_open_per_essms": (
            "single-open-stay-per-essms",
            "The usager already has an open stay in this ESSMS",
            "essms_id",
        )
    }
    repo: StayRepository

    def conditions(self, filters: Any) -> list[ColumnElement[bool]]:
        c = self.repo.c
        conditions: list[ColumnElement[bool]] = []
        if filters.usager_id:
            conditions.append(c.usager_id == filters.usager_id)
        if filters.essms_id:
            conditions.append(c.essms_id == filters.essms_id)
        if filters.status:
            conditions.append(c.status == filters.status.value)
        if filters.open is not None:
            conditions.append(c.is_open == filters.open)
        if filters.present_on:
            conditions.append(self.repo.present_on(filters.present_on))
        return conditions

    def derived(self, record: StayInput) -> dict[str, Any]:
        return {"status": record.derive_status().value}

    def columns(self, record: StayInput) -> dict[str, Any]:
        return {
            "usager_id": record.usager_id,
            "essms_id": record.essms_id,
            "date_entree": record.date_entree,
            "date_sortie": record.date_sortie,
            "is_open": record.is_open,
            "status": record.derive_status().value,
        }

    async def check(self, record: StayInput, current_id: uuid.UUID | None) -> None:
        essms = await EssmsRepository(self.connection).get(record.essms_id, self.principal.scope)
        if essms is None:
            raise RuleViolation("essms-exists", f"No ESSMS {record.essms_id}", field="essms_id")
        # The usager may not be linked to this ESSMS yet (the stay is what links it), but it must be one the
        # caller already sees: an ESSMS does not take in another one's usager known to it by id only (that
        # would also open the usager's record to it); an administrator of both ESSMS does.
        usager = await UsagerRepository(self.connection).get(record.usager_id, self.principal.scope)
        if usager is None:
            raise RuleViolation("usager-exists", f"No usager {record.usager_id}", field="usager_id")
        stays.check_activity_offered(record, orjson.loads(essms.body).get("types_activite") or [])
        stays.check_single_open_stay(record, await self.repo.count_open(record.usager_id, record.essms_id, current_id))

    async def after_write(self, resource_id: uuid.UUID, record: StayInput) -> None:
        await UsagerRepository(self.connection).link_essms(record.usager_id, record.essms_id)
