"""SQL of CDA documents: insert, read, list a usager's documents, chain versions."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Select, and_, bindparam, desc, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.access import Scope
from app.store import tables
from app.store.bound import fetch_all, one_of
from app.store.repository import USAGER_ESSMS, Keyset, UniqueViolation, constraint_name, keyset_value

DOCUMENTS = tables.CdaDocument.__table__  # type: ignore[attr-defined]
STAYS = tables.Stay.__table__  # type: ignore[attr-defined]
PROFESSIONAL_ESSMS = tables.ProfessionalEssms.__table__  # type: ignore[attr-defined]
_SUMMARY = [c for c in DOCUMENTS.c if c.name not in ("xml", "pdf", "html")]
DOCUMENT_SUMMARY = _SUMMARY  # the columns of a DocumentRow
# Built once, its values given at execution: building an INSERT with .values() for each document cost as much
# client CPU as running it (0.45 ms against 0.2 ms for the outbox row on PostgreSQL).
_INSERT = insert(DOCUMENTS)


@dataclass(frozen=True)
class DocumentRow:
    id: uuid.UUID
    usager_id: uuid.UUID
    essms_id: uuid.UUID
    kind: str
    origin: str
    type_code: str
    title: str
    set_id: str
    version_number: int
    replaces_id: uuid.UUID | None
    replaced_by_id: uuid.UUID | None
    created_at: datetime
    created_by: str
    xds: str
    validation: str


class DocumentRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    def _visible(self, scope: Scope) -> list[Any]:
        if scope.unrestricted:
            return []
        assert scope.essms_ids is not None
        return [DOCUMENTS.c.essms_id.in_(scope.essms_ids)]

    async def insert(self, **values: Any) -> None:
        try:
            await self.connection.execute(_INSERT, values)
        except IntegrityError as error:
            raise UniqueViolation(constraint_name(error)) from error

    async def mark_replaced(self, document_id: uuid.UUID, replaced_by: uuid.UUID) -> bool:
        """Chain the old version to the new one; False when another replacement came first."""
        result = await self.connection.execute(
            update(DOCUMENTS)
            .where(DOCUMENTS.c.id == document_id, DOCUMENTS.c.replaced_by_id.is_(None))
            .values(replaced_by_id=replaced_by)
        )
        return bool(result.rowcount)

    async def get(self, document_id: uuid.UUID, scope: Scope) -> DocumentRow | None:
        row = (
            await self.connection.execute(select(*_SUMMARY).where(DOCUMENTS.c.id == document_id, *self._visible(scope)))
        ).first()
        return DocumentRow(**row._mapping) if row else None

    async def content(self, document_id: uuid.UUID, scope: Scope) -> tuple[str, bytes | None, str | None] | None:
        row = (
            await self.connection.execute(
                select(DOCUMENTS.c.xml, DOCUMENTS.c.pdf, DOCUMENTS.c.html).where(
                    DOCUMENTS.c.id == document_id, *self._visible(scope)
                )
            )
        ).first()
        return (row.xml, row.pdf, row.html) if row else None

    async def for_usager(
        self, usager_id: uuid.UUID, scope: Scope, *, set_id: str | None, after: Keyset | None, limit: int
    ) -> list[DocumentRow]:
        """Newest first; ``after`` continues from a (created_at, id) position."""
        where = [DOCUMENTS.c.usager_id == usager_id, *self._visible(scope)]
        if set_id:
            where.append(DOCUMENTS.c.set_id == set_id)
        if after is not None:
            moment = keyset_value(DOCUMENTS.c.created_at, after.sort_value)
            where.append(
                (DOCUMENTS.c.created_at < moment) | and_(DOCUMENTS.c.created_at == moment, DOCUMENTS.c.id < after.id)
            )
        rows = await self.connection.execute(
            select(*_SUMMARY).where(*where).order_by(desc(DOCUMENTS.c.created_at), desc(DOCUMENTS.c.id)).limit(limit)
        )
        return [DocumentRow(**row._mapping) for row in rows]

    # The reads of every generated document run on statements built once (app/store/bound.py); its writes stay
    # on SQLAlchemy's execution, which begins the transaction.
    async def current_stay(self, usager_id: uuid.UUID, essms_id: uuid.UUID) -> str | None:
        """Body of the usager's latest stay in the ESSMS (open first)."""
        rows = await fetch_all(
            self.connection, _CURRENT_STAY, {"usager_id": usager_id, "essms_id": essms_id, "limit": 1}
        )
        return str(rows[0][0]) if rows else None

    async def usager_essms(self, usager_id: uuid.UUID, scope: Scope) -> list[uuid.UUID]:
        """The ESSMS the usager is known to, among those of ``scope``."""
        if scope.unrestricted:
            rows = await fetch_all(self.connection, _USAGER_ESSMS, {"usager_id": usager_id})
        else:
            assert scope.essms_ids is not None
            statement = _usager_essms_in_scope(self.connection.dialect.name)
            rows = await fetch_all(
                self.connection, statement, {"usager_id": usager_id, "scope_essms": list(scope.essms_ids)}
            )
        return [row[0] for row in rows]

    async def professionals_of(self, essms_id: uuid.UUID) -> list[uuid.UUID]:
        return [row[0] for row in await fetch_all(self.connection, _PROFESSIONALS_OF, {"essms_id": essms_id})]


_CURRENT_STAY: Select[Any] = (
    select(STAYS.c.body)
    .where(
        STAYS.c.usager_id == bindparam("usager_id", type_=STAYS.c.usager_id.type),
        STAYS.c.essms_id == bindparam("essms_id", type_=STAYS.c.essms_id.type),
        STAYS.c.archived_at.is_(None),
    )
    .order_by(desc(STAYS.c.is_open), desc(STAYS.c.date_entree))
    .limit(bindparam("limit", type_=Integer))
)
_USAGER_ID = USAGER_ESSMS.c.usager_id == bindparam("usager_id", type_=USAGER_ESSMS.c.usager_id.type)
_USAGER_ESSMS: Select[Any] = select(USAGER_ESSMS.c.essms_id).where(_USAGER_ID)
_PROFESSIONALS_OF: Select[Any] = select(PROFESSIONAL_ESSMS.c.professional_id).where(
    PROFESSIONAL_ESSMS.c.essms_id == bindparam("essms_id", type_=PROFESSIONAL_ESSMS.c.essms_id.type)
)


@functools.cache
def _usager_essms_in_scope(dialect: str) -> Select[Any]:
    in_scope = one_of(USAGER_ESSMS.c.essms_id, "scope_essms", dialect, USAGER_ESSMS.c.essms_id.type)
    return select(USAGER_ESSMS.c.essms_id).where(_USAGER_ID, in_scope)
