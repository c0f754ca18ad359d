"""SQL of the DMP outbox: enqueue with the document, claim due rows (several workers), record outcomes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.access import Scope
from app.domain.dmp import REPLACED_BEFORE_SEND, USAGER_OPPOSED, DmpOperation, DmpStatus
from app.store import tables
from app.store.bound import fetch_all
from app.store.documents import DOCUMENT_SUMMARY, DOCUMENTS, DocumentRow

OUTBOX = tables.DmpOutbox.__table__  # type: ignore[attr-defined]
_ENQUEUE = insert(OUTBOX)  # built once, as the document's INSERT (app/store/documents.py)
OPPOSITIONS = tables.DmpOpposition.__table__  # type: ignore[attr-defined]
OPPOSITION_EVENTS = tables.DmpOppositionEvent.__table__  # type: ignore[attr-defined]
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
    operation: str = "send"
    visibility: str | None = None


@dataclass(frozen=True)
class Outgoing:
    """What a first send needs of its document: the summary (validation, predecessor), the XML, and whether
    the usager opposed since the row was queued."""

    document: DocumentRow
    xml: str
    opposed: bool


@cache
def _record_statement(attempted: bool, sent: bool) -> Any:
    """The outcome UPDATE, built once per shape: each delivery only binds its values (a statement built per
    call costs a worker more CPU than its execution)."""
    now = bindparam("r_now", type_=OUTBOX.c.updated_at.type)
    values: dict[str, Any] = {
        "status": bindparam("r_status", type_=OUTBOX.c.status.type),
        "last_error": bindparam("r_error", type_=OUTBOX.c.last_error.type),
        "updated_at": now,
        "claimed_by": None,
        "claimed_until": None,
        "next_attempt_at": bindparam("r_next", type_=OUTBOX.c.next_attempt_at.type),
    }
    if attempted:
        values["attempts"] = OUTBOX.c.attempts + 1
    if sent:
        values["sent_at"] = now
    return (
        update(OUTBOX)
        .where(
            OUTBOX.c.document_id == bindparam("r_id", type_=OUTBOX.c.document_id.type),
            OUTBOX.c.claimed_by == bindparam("r_worker", type_=OUTBOX.c.claimed_by.type),
        )
        .values(**values)
    )


@cache
def _outgoing_statement() -> Any:
    """The read of a send (built once, as the outcome UPDATE)."""
    opposed = exists().where(OPPOSITIONS.c.usager_id == DOCUMENTS.c.usager_id).label("opposed")
    return select(*DOCUMENT_SUMMARY, DOCUMENTS.c.xml, opposed).where(
        DOCUMENTS.c.id == bindparam("o_id", type_=DOCUMENTS.c.id.type)
    )


class DmpRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def outgoing(self, document_id: uuid.UUID) -> Outgoing | None:
        """The document of a send and its usager's opposition, in one read."""
        row = (await self.connection.execute(_outgoing_statement(), {"o_id": document_id})).first()
        if row is None:
            return None
        values = dict(row._mapping)
        xml, is_opposed = values.pop("xml"), bool(values.pop("opposed"))
        return Outgoing(DocumentRow(**values), xml, is_opposed)

    async def identity_status(self, usager_id: uuid.UUID) -> str | None:
        value = await self.connection.scalar(select(USAGERS.c.identity_status).where(USAGERS.c.id == usager_id))
        return str(value) if value is not None else None

    async def sharing_facts(self, usager_id: uuid.UUID) -> tuple[str | None, bool]:
        """The usager's identity status and whether they opposed the DMP feeding, in one statement."""
        rows = await fetch_all(self.connection, _sharing_facts(), {"usager_id": usager_id})
        if not rows:
            return None, await self.opposed(usager_id)
        status, opposed = rows[0]
        return (str(status) if status is not None else None), bool(opposed)

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
        await self.connection.execute(_ENQUEUE, values)

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
        claimed = {
            "status": DmpStatus.SENDING.value,
            "claimed_by": worker,
            "claimed_until": now + lease,
            "updated_at": now,
        }
        if self.connection.dialect.name == "postgresql":
            return await self._claim_locked(candidates, due, claimed)
        ids = list((await self.connection.execute(candidates)).scalars())
        if not ids:
            return []
        # The guarded UPDATEs repeat the condition: on SQLite two workers may read the same ids, only one wins.
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

    async def _claim_locked(self, candidates: Any, due: Any, claimed: dict[str, Any]) -> list[OutboxRow]:
        """PostgreSQL: the same claim in one statement, the due rows locked (SKIP LOCKED: another worker takes
        others) and updated at once; a lost lease (a row still sending) counts as an attempt."""
        lost = OUTBOX.c.status == DmpStatus.SENDING.value
        # Materialized: as a plain subquery the planner may run the locking SELECT more than once, each run
        # skipping the rows the previous one locked, and so claim far more than ``limit`` rows.
        picked = candidates.with_for_update(skip_locked=True).cte("picked").prefix_with("MATERIALIZED")
        rows = await self.connection.execute(
            update(OUTBOX)
            .where(OUTBOX.c.document_id == picked.c.document_id, due)
            .values(
                **claimed,
                attempts=OUTBOX.c.attempts + case((lost, 1), else_=0),
                last_error=case((lost, "a worker lost its claim"), else_=OUTBOX.c.last_error),
            )
            .returning(*OUTBOX.c)
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
        result = await self.connection.execute(
            _record_statement(attempted, status is DmpStatus.SENT),
            {
                "r_id": document_id,
                "r_worker": worker,
                "r_status": status.value,
                "r_error": error,
                "r_now": now,
                "r_next": next_attempt_at or now,
            },
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

    async def request_update(
        self,
        document_id: uuid.UUID,
        now: datetime,
        *,
        from_status: str,
        status: DmpStatus,
        operation: str,
        visibility: str | None,
        reason: str | None = None,
    ) -> bool:
        """Queue an ITI-57 operation (or cancel an unsent send) if the row is still in ``from_status``."""
        values: dict[str, Any] = {
            "status": status.value,
            "operation": operation,
            "reason": reason,
            "attempts": 0,
            "last_error": None,
            "next_attempt_at": now,
            "updated_at": now,
            "claimed_by": None,
            "claimed_until": None,
        }
        if visibility is not None:
            values["visibility"] = visibility
        result = await self.connection.execute(
            update(OUTBOX).where(OUTBOX.c.document_id == document_id, OUTBOX.c.status == from_status).values(**values)
        )
        return bool(result.rowcount)

    async def mark_replaced(self, document_id: uuid.UUID, now: datetime) -> None:
        """The older version of a replaced document, once the DMP acknowledged its replacement (RPLC)."""
        await self.connection.execute(
            update(OUTBOX)
            .where(OUTBOX.c.document_id == document_id, OUTBOX.c.status == DmpStatus.SENT.value)
            .values(status=DmpStatus.REPLACED.value, updated_at=now)
        )

    async def opposition_since(self, usager_id: uuid.UUID) -> datetime | None:
        value = await self.connection.scalar(
            select(OPPOSITIONS.c.recorded_at).where(OPPOSITIONS.c.usager_id == usager_id)
        )
        return value if isinstance(value, datetime) else None

    async def withdraw_opposition(self, usager_id: uuid.UUID) -> bool:
        result = await self.connection.execute(delete(OPPOSITIONS).where(OPPOSITIONS.c.usager_id == usager_id))
        return bool(result.rowcount)

    async def hold_back(self, usager_id: uuid.UUID, now: datetime) -> int:
        """Queued first sends of an opposed usager become not-eligible (usager-opposed); how many."""
        result = await self.connection.execute(
            update(OUTBOX)
            .where(
                OUTBOX.c.usager_id == usager_id,
                OUTBOX.c.status == DmpStatus.QUEUED.value,
                OUTBOX.c.operation == DmpOperation.SEND.value,
            )
            .values(status=DmpStatus.NOT_ELIGIBLE.value, reason=USAGER_OPPOSED, updated_at=now)
        )
        return int(result.rowcount or 0)

    async def release(self, usager_id: uuid.UUID, now: datetime) -> int:
        """Queue again the sends held back by a withdrawn opposition; how many."""
        result = await self.connection.execute(
            update(OUTBOX)
            .where(
                OUTBOX.c.usager_id == usager_id,
                OUTBOX.c.status == DmpStatus.NOT_ELIGIBLE.value,
                OUTBOX.c.reason == USAGER_OPPOSED,
                OUTBOX.c.qualified.is_(True),
            )
            .values(status=DmpStatus.QUEUED.value, reason=None, attempts=0, next_attempt_at=now, updated_at=now)
        )
        return int(result.rowcount or 0)

    async def add_opposition_event(self, **values: Any) -> None:
        await self.connection.execute(insert(OPPOSITION_EVENTS).values(id=uuid.uuid4(), **values))

    async def opposition_history(self, usager_id: uuid.UUID) -> list[dict[str, Any]]:
        rows = await self.connection.execute(
            select(OPPOSITION_EVENTS)
            .where(OPPOSITION_EVENTS.c.usager_id == usager_id)
            .order_by(OPPOSITION_EVENTS.c.at, OPPOSITION_EVENTS.c.id)
        )
        return [dict(r._mapping) for r in rows]

    async def hold(self, document_id: uuid.UUID, worker: str, now: datetime, *, reason: str) -> bool:
        """A claimed first send that may not leave any more (the usager opposed meanwhile): not-eligible."""
        result = await self.connection.execute(
            update(OUTBOX)
            .where(OUTBOX.c.document_id == document_id, OUTBOX.c.claimed_by == worker)
            .values(
                status=DmpStatus.NOT_ELIGIBLE.value,
                reason=reason,
                claimed_by=None,
                claimed_until=None,
                updated_at=now,
            )
        )
        return bool(result.rowcount)

    async def supersede_unsent(self, document_id: uuid.UUID, now: datetime) -> None:
        """A new version replaces a document that never left: only the new version is sent."""
        await self.connection.execute(
            update(OUTBOX)
            .where(
                OUTBOX.c.document_id == document_id,
                OUTBOX.c.status.in_(
                    [s.value for s in (DmpStatus.QUEUED, DmpStatus.FAILED, DmpStatus.BLOCKED, DmpStatus.NOT_ELIGIBLE)]
                ),
                OUTBOX.c.operation == DmpOperation.SEND.value,
            )
            .values(status=DmpStatus.REPLACED.value, reason=REPLACED_BEFORE_SEND, updated_at=now)
        )


@cache
def _sharing_facts() -> Any:
    opposed = select(OPPOSITIONS.c.usager_id).where(OPPOSITIONS.c.usager_id == USAGERS.c.id).exists()
    return select(USAGERS.c.identity_status, opposed.label("opposed")).where(
        USAGERS.c.id == bindparam("usager_id", type_=USAGERS.c.id.type)
    )
