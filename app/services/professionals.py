"""Use cases for professionals and their assignments to ESSMS."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.sql.elements import ColumnElement

from app.domain import text
from app.domain.errors import RuleViolation
from app.domain.professionals import ProfessionalInput
from app.domain.text import sort_key
from app.services.resources import ResourceService
from app.store.repository import EssmsRepository, ProfessionalRepository


class ProfessionalService(ResourceService[ProfessionalInput]):
    repository = ProfessionalRepository
    input_model = ProfessionalInput
    record_model = ProfessionalInput
    derived_fields = ("idnps",)
    unique_rules = {"uq_professional_rpps": ("rpps-unique", "This RPPS is already recorded", "rpps")}
    repo: ProfessionalRepository

    def conditions(self, filters: Any) -> list[ColumnElement[bool]]:
        c = self.repo.c
        conditions: list[ColumnElement[bool]] = []
        if filters.rpps:
            conditions.append(c.rpps == filters.rpps)
        if filters.essms_id:
            conditions.append(self.repo.works_in(filters.essms_id))
        if filters.profession:
            conditions.append(c.profession == filters.profession)
        for token in text.tokens(filters.nom or ""):
            conditions.append(c.name_key.contains(token))
        return conditions

    def derived(self, record: ProfessionalInput) -> dict[str, Any]:
        return {"idnps": record.national_id()}

    def columns(self, record: ProfessionalInput) -> dict[str, Any]:
        return {
            "rpps": record.rpps,
            "identifiant_local": record.identifiant_local,
            "name_key": sort_key(f"{record.nom} {record.prenom}"),
            "profession": record.profession,
        }

    async def check(self, record: ProfessionalInput, current_id: uuid.UUID | None) -> None:
        essms = EssmsRepository(self.connection)
        for index, assignment in enumerate(record.affectations):
            if await essms.get(assignment.essms_id, self.principal.scope) is None:
                raise RuleViolation(
                    "essms-exists", f"No ESSMS {assignment.essms_id}", field=f"affectations.{index}.essms_id"
                )

    async def after_write(self, resource_id: uuid.UUID, record: ProfessionalInput) -> None:
        await self.repo.replace_assignments(resource_id, [a.essms_id for a in record.affectations])
