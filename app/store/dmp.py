"""SQL of the DMP outbox: enqueue with the document, claim due rows (several workers), record outcomes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.access import Scope
from app.domain.dmp import DmpStatus
from app.store import tables

OUTBOX = tables.DmpOutbox.__table__  # type: ignore[attr-defined]
OPPOSITIONS = tables.DmpOpposition.__table__  # type: ignore[attr-defined]
USAGERS = tables.Usager.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class OutboxRow:
    document_id: uuid.UUID
    unique_id: str
    usager_id: uuid.UUID
    essms_id: uuid.UUID
    type_code: str
    qualified: bool
    status: str
    reason: str | None
    attempts: int
    next_attempt_at: datetime
    claimed_by: str | None
    claimed_until: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None


class DmpRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def identity_status(self, usager_id: uuid.UUID) -> str | None:
        value = await self.connection.scalar(select(USAGERS.c.identity_status).where(USAGERS.c.id == usager_id))
        return str(value) if value is not None else None

    async def opposed(self, usager_id: uuid.UUID) -> bool:
        found = await self.connection.scalar(
            select(OPPOSITIONS.c.usager_id).where(OPPOSITIONS.c.usager_id == usager_id)
        )
        return found is not None

    async def oppose(self, usager_id: uuid.UUID, actor: str, now: datetime) -> None:
        if not await self.opposed(usager_id):
            await self.connection.execute(
                insert(OPPOSITIONS).values(usager_id=usager_id, recorded_at=now, recorded_by=actor)
            )

    async def enqueue(self, **values: Any) -> None:
        await self.connection.execute(insert(OUTBOX).values(**values))

    async def get(self, document_id: uuid.UUID) -> OutboxRow | None:
        row = (await self.connection.execute(select(OUTBOX).where(OUTBOX.c.document_id == document_id))).first()
        return OutboxRow(**row._mapping) if row else None

    async def set_status(
        self, document_id: uuid.UUID, status: DmpStatus, now: datetime, *, only_from: tuple[DmpStatus, ...]
    ) -> bool:
        """Move a row to ``status`` if it is in one of ``only_from``; False otherwise."""
        result = await self.connection.execute(
            update(OUTBOX)
            .where(OUTBOX.c.document_id == document_id, OUTBOX.c.status.in_([s.value for s in only_from]))
            .values(status=status.value, updated_at=now, next_attempt_at=now, claimed_by=None, claimed_until=None)
        )
        return bool(result.rowcount)

    async def claim(self, worker: str, now: datetime, *, limit: int, lease: timedelta) -> list[OutboxRow]:
        """Take up to ``limit`` due rows for ``worker``: queued ones, and sending ones whose lease expired (a
        worker died between sending and recording the answer: they are reconciled before any resend)."""
        due = or_(
            and_(OUTBOX.c.status == DmpStatus.QUEUED.value, OUTBOX.c.next_attempt_at <= now),
            and_(OUTBOX.c.status == DmpStatus.SENDING.value, OUTBOX.c.claimed_until < now),
        )
        candidates = select(OUTBOX.c.document_id).where(due).order_by(OUTBOX.c.next_attempt_at).limit(limit)
        if self.connection.dialect.name == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        ids = list((await self.connection.execute(candidates)).scalars())
        if not ids:
            return []
        # The guarded UPDATEs repeat the condition: on SQLite two workers may read the same ids, only one wins.
        claimed = {
            "status": DmpStatus.SENDING.value,
            "claimed_by": worker,
            "claimed_until": now + lease,
            "updated_at": now,
        }
        await self.connection.execute(
            update(OUTBOX)
            .where(
                OUTBOX.c.document_id.in_(ids),
                OUTBOX.c.status == DmpStatus.QUEUED.value,
                OUTBOX.c.next_attempt_at <= now,
            )
            .values(**claimed)
        )
        # A lost lease counts as an attempt whose outcome is unknown: the worker reconciles before resending.
        await self.connection.execute(
            update(OUTBOX)
            .where(
                OUTBOX.c.document_id.in_(ids), OUTBOX.c.status == DmpStatus.SENDING.value, OUTBOX.c.claimed_until < now
            )
            .values(**claimed, attempts=OUTBOX.c.attempts + 1, last_error="a worker lost its claim")
        )
        rows = await self.connection.execute(
            select(OUTBOX).where(
                OUTBOX.c.document_id.in_(ids), OUTBOX.c.claimed_by == worker, OUTBOX.c.claimed_until == now + lease
            )
        )
        return [OutboxRow(**r._mapping) for r in rows]

    async def record(
        self,
        document_id: uuid.UUID,
        worker: str,
        now: datetime,
        *,
        status: DmpStatus,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
        attempted: bool = True,
    ) -> bool:
        """Record the outcome of an attempt by the worker that holds the claim."""
        values: dict[str, Any] = {
            "status": status.value,
            "last_error": error,
            "updated_at": now,
            "claimed_by": None,
            "claimed_until": None,
            "next_attempt_at": next_attempt_at or now,
        }
        if attempted:
            values["attempts"] = OUTBOX.c.attempts + 1
        if status is DmpStatus.SENT:
            values["sent_at"] = now
        result = await self.connection.execute(
            update(OUTBOX).where(OUTBOX.c.document_id == document_id, OUTBOX.c.claimed_by == worker).values(**values)
        )
        return bool(result.rowcount)

    async def counts(self, since: datetime | None, until: datetime | None, scope: Scope) -> list[dict[str, Any]]:
        """Counts grouped by ESSMS, type, status and INS qualification (dashboard), for the ESSMS of ``scope``."""
        query = select(
            OUTBOX.c.essms_id, OUTBOX.c.type_code, OUTBOX.c.status, OUTBOX.c.qualified, func.count().label("count")
        ).group_by(OUTBOX.c.essms_id, OUTBOX.c.type_code, OUTBOX.c.status, OUTBOX.c.qualified)
        if not scope.unrestricted:
            assert scope.essms_ids is not None
            query = query.where(OUTBOX.c.essms_id.in_(scope.essms_ids))
        if since is not None:
            query = query.where(OUTBOX.c.created_at >= since)
        if until is not None:
            query = query.where(OUTBOX.c.created_at < until)
        return [dict(r._mapping) for r in await self.connection.execute(query)]
