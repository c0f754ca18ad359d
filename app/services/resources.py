"""The life cycle every resource shares: create, read, list, merge-patch, replace, archive, history."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.access import Principal
from app.domain.errors import Conflict, FieldIssue, Gone, NotFound, PreconditionFailed, RuleViolation
from app.store.bound import Condition
from app.store.ids import new_id
from app.store.repository import HistoryEntry, Keyset, ResourceRepository, StoredRow, UniqueViolation

META_FIELDS = ("id", "version", "created_at", "updated_at", "archived_at")

RecordT = TypeVar("RecordT", bound=BaseModel)


class InputInvalid(Exception):
    """Validation of a merged document failed; carries pydantic's errors for the problem renderer."""

    def __init__(self, error: ValidationError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class Page:
    rows: list[StoredRow]
    next_cursor: Keyset | None


def utcnow() -> datetime:
    return datetime.now(UTC)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class ResourceService(Generic[RecordT]):
    """Shared behaviour; subclasses name their repository, models, derived fields and invariants."""

    repository: ClassVar[type[ResourceRepository]]
    input_model: ClassVar[type[BaseModel]]
    record_model: ClassVar[type[BaseModel]]
    derived_fields: ClassVar[tuple[str, ...]] = ()
    immutable_fields: ClassVar[tuple[str, ...]] = ()
    # Unique index name -> (rule, message, field) reported when the database refuses a duplicate.
    unique_rules: ClassVar[dict[str, tuple[str, str, str]]] = {}

    def __init__(self, connection: AsyncConnection, principal: Principal) -> None:
        self.connection = connection
        self.principal = principal
        self.repo = self.repository(connection)

    # -- hooks ---------------------------------------------------------------------------------------
    def derived(self, record: RecordT) -> dict[str, Any]:
        """Fields computed from the record and shown with it."""
        return {}

    def columns(self, record: RecordT) -> dict[str, Any]:
        """Values of the query columns."""
        return {}

    async def check(self, record: RecordT, current_id: uuid.UUID | None) -> None:
        """Invariants that need other records (raise a DomainError)."""

    async def after_write(self, resource_id: uuid.UUID, record: RecordT) -> None:
        """Maintain side tables (search tokens, scope links)."""

    def conditions(self, filters: Any) -> Sequence[Condition]:
        """SQL conditions for the list filters (an object with the filter attributes)."""
        return []

    # -- reads ---------------------------------------------------------------------------------------
    async def get(self, resource_id: uuid.UUID) -> StoredRow:
        row = await self.repo.get(resource_id, self.principal.scope)
        if row is None:
            raise NotFound(f"No {self.repo.resource_type} {resource_id}")
        return row

    async def read(self, resource_id: uuid.UUID) -> StoredRow:
        """A read on behalf of the caller (the GET endpoint); services that trace accesses override it."""
        return await self.get(resource_id)

    async def get_record(self, resource_id: uuid.UUID) -> tuple[StoredRow, RecordT]:
        row = await self.get(resource_id)
        return row, self.record_from_body(row.body)

    async def list_page(
        self,
        *,
        where: Sequence[Condition],
        after: Keyset | None,
        limit: int,
        sort: str | None = None,
        include_archived: bool = False,
    ) -> Page:
        rows = await self.repo.page(
            scope=self.principal.scope,
            where=where,
            after=after,
            limit=limit + 1,
            sort=sort,
            include_archived=include_archived,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        cursor = Keyset(rows[-1][1], rows[-1][0].id) if more and rows else None
        return Page([row for row, _ in rows], cursor)

    async def history(self, resource_id: uuid.UUID) -> list[HistoryEntry]:
        await self.get(resource_id)
        return await self.repo.history(resource_id)

    # -- writes --------------------------------------------------------------------------------------
    async def create(self, data: BaseModel) -> StoredRow:
        record = self.to_record(data.model_dump(mode="json", exclude_unset=False))
        await self.check(record, None)
        resource_id = new_id()
        now = utcnow()
        body = self.render(record, resource_id, 1, now, now, None)
        await self._unique(
            self.repo.insert(
                resource_id=resource_id, body=body, columns=self.columns(record), actor=self.principal.actor, now=now
            )
        )
        await self.after_write(resource_id, record)
        return StoredRow(resource_id, 1, body, False)

    async def patch(self, resource_id: uuid.UUID, if_match: int, patch: dict[str, Any]) -> StoredRow:
        """Apply a JSON merge patch to the fields staff may edit."""
        self._validate_patch_keys(patch)
        row, current = await self._current_for_write(resource_id, if_match)
        editable = current.model_dump(mode="json", include=set(self.input_model.model_fields))
        merged = merge_patch(editable, patch)
        return await self._write_next(row, current, merged)

    async def replace(self, resource_id: uuid.UUID, if_match: int, data: BaseModel) -> StoredRow:
        row, current = await self._current_for_write(resource_id, if_match)
        return await self._write_next(row, current, data.model_dump(mode="json"))

    async def archive(self, resource_id: uuid.UUID, if_match: int) -> StoredRow:
        """Archive instead of deleting: the record and its history stay readable."""
        row, current = await self._current_for_write(resource_id, if_match)
        now = utcnow()
        body = self.render(current, resource_id, row.version + 1, self._created_at(row), now, now)
        written = await self.repo.update(
            resource_id=resource_id,
            expected_version=row.version,
            body=body,
            columns=self.columns(current),
            actor=self.principal.actor,
            now=now,
            operation="archive",
            archived_at=now,
        )
        if not written:
            raise PreconditionFailed(f"{self.repo.resource_type} {resource_id} has changed")
        return StoredRow(resource_id, row.version + 1, body, True)

    # -- helpers -------------------------------------------------------------------------------------
    def _validate_patch_keys(self, patch: dict[str, Any]) -> None:
        issues = [
            FieldIssue(k, "unknown-field", f"{k} is not a field of {self.repo.resource_type}")
            for k in patch
            if k not in self.input_model.model_fields
        ]
        if issues:
            error = RuleViolation(issues[0].rule, issues[0].message, field=issues[0].field)
            error.issues = issues
            raise error

    async def _current_for_write(self, resource_id: uuid.UUID, if_match: int) -> tuple[StoredRow, RecordT]:
        row, current = await self.get_record(resource_id)
        if row.archived:
            raise Gone(f"{self.repo.resource_type} {resource_id} is archived")
        if row.version != if_match:
            raise PreconditionFailed(
                f"{self.repo.resource_type} {resource_id} is at version {row.version}, not {if_match}"
            )
        return row, current

    async def _write_next(self, row: StoredRow, current: RecordT, document: dict[str, Any]) -> StoredRow:
        stored = current.model_dump(mode="json")
        for name in self.immutable_fields:
            if document.get(name) != stored.get(name):
                raise RuleViolation("immutable-field", f"{name} cannot be changed", field=name)
        # Fields outside the input model (e.g. the INS, set only by its own workflow) are kept as stored.
        kept = {k: v for k, v in stored.items() if k not in self.input_model.model_fields}
        record = self.to_record({**kept, **document})
        await self.check(record, row.id)
        now = utcnow()
        body = self.render(record, row.id, row.version + 1, self._created_at(row), now, None)
        written = await self._unique(
            self.repo.update(
                resource_id=row.id,
                expected_version=row.version,
                body=body,
                columns=self.columns(record),
                actor=self.principal.actor,
                now=now,
            )
        )
        if not written:
            raise PreconditionFailed(f"{self.repo.resource_type} {row.id} has changed")
        await self.after_write(row.id, record)
        return StoredRow(row.id, row.version + 1, body, False)

    async def _unique(self, awaitable: Any) -> Any:
        try:
            return await awaitable
        except UniqueViolation as violation:
            known = self.unique_rules.get(violation.constraint)
            if known is None:
                raise Conflict("unique", f"Duplicate value ({violation.constraint})") from violation
            rule, message, field = known
            raise Conflict(rule, message, field=field) from violation

    def to_record(self, document: dict[str, Any]) -> RecordT:
        try:
            return self.record_model.model_validate(document)  # type: ignore[return-value]
        except ValidationError as error:
            raise InputInvalid(error) from error

    def record_from_body(self, body: str) -> RecordT:
        data = orjson.loads(body)
        for name in (*META_FIELDS, *self.derived_fields):
            data.pop(name, None)
        return self.record_model.model_validate(data)  # type: ignore[return-value]

    @staticmethod
    def _created_at(row: StoredRow) -> datetime:
        return datetime.fromisoformat(orjson.loads(row.body)["created_at"])

    def render(
        self,
        record: RecordT,
        resource_id: uuid.UUID,
        version: int,
        created_at: datetime,
        updated_at: datetime,
        archived_at: datetime | None,
    ) -> str:
        """The JSON served for this version (stored as is; reads return it without re-serialising)."""
        document = {
            "id": str(resource_id),
            "version": version,
            "created_at": created_at.isoformat(),
            "updated_at": updated_at.isoformat(),
            "archived_at": archived_at.isoformat() if archived_at else None,
            **record.model_dump(mode="json"),
            **self.derived(record),
        }
        return orjson.dumps(document).decode()
