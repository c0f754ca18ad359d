"""Checks that the records a new record points to exist, are visible to the caller and fit together."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.access import Principal
from app.domain.errors import DomainError, FieldIssue, RuleViolation
from app.store.repository import ProfessionalRepository, StayRepository, UsagerRepository


async def require_usager(connection: AsyncConnection, principal: Principal, usager_id: uuid.UUID) -> dict[str, Any]:
    row = await UsagerRepository(connection).get(usager_id, principal.scope)
    if row is None or row.archived:
        raise RuleViolation("usager-exists", f"No usager {usager_id}", field="usager_id")
    return orjson.loads(row.body)  # type: ignore[no-any-return]


async def require_stay_of(
    connection: AsyncConnection, principal: Principal, stay_id: uuid.UUID, usager_id: uuid.UUID
) -> dict[str, Any]:
    """The stay, which must be the usager's."""
    row = await StayRepository(connection).get(stay_id, principal.scope)
    if row is None or row.archived:
        raise RuleViolation("stay-exists", f"No stay {stay_id}", field="stay_id")
    stay: dict[str, Any] = orjson.loads(row.body)
    if stay["usager_id"] != str(usager_id):
        raise RuleViolation("stay-of-usager", "The stay belongs to another usager", field="stay_id")
    return stay


async def require_professionals(
    connection: AsyncConnection, principal: Principal, named: Iterable[tuple[str, uuid.UUID]]
) -> None:
    """Every (field, professional id) names an existing professional; all bad ones are reported."""
    repository = ProfessionalRepository(connection)
    issues = [
        FieldIssue(field, "professional-exists", f"No professional {professional_id}")
        for field, professional_id in named
        if await repository.get(professional_id, principal.scope) is None
    ]
    if issues:
        raise DomainError("Unknown professional", issues=issues)
