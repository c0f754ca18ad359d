"""The audit trail: events are queued by the request and appended in batches (group commit), hash-chained.

The identity traces of reads (RNIV rule 16: who looked at an identity) travel the same way: a request
collects them while it runs and hands them to the sink with its audit event, so a read costs no write of
its own. Traces of changes stay in the transaction of the change.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.access import Principal
from app.domain.audit import AuditEvent, ChainBreak, verify_chain
from app.store.db import Database
from app.store.security import AuditRepository, ChainMoved

log = logging.getLogger("dui.audit")

# Each retry follows an append of another process that landed in between: more means something is wrong.
_CHAIN_RETRIES = 5

_read_traces: ContextVar[list[dict[str, Any]] | None] = ContextVar("dui.read_traces", default=None)


def collect_read_traces() -> tuple[list[dict[str, Any]], Token[list[dict[str, Any]] | None]]:
    """From here on in this context (a request), `defer_read_traces` collects instead of writing;
    hand the token back to `stop_collecting_read_traces`."""
    collected: list[dict[str, Any]] = []
    return collected, _read_traces.set(collected)


def stop_collecting_read_traces(token: Token[list[dict[str, Any]] | None]) -> None:
    _read_traces.reset(token)


def defer_read_traces(rows: list[dict[str, Any]]) -> bool:
    """Keep identity trace rows for the request's audit flush; False when no request collects them."""
    collected = _read_traces.get()
    if collected is None:
        return False
    collected.extend(rows)
    return True


class AuditSink:
    """Collects events and appends them in batches, in one transaction each (one chain lock, one commit).

    A request whose event finds no append running appends one batch itself, right after its response
    (alone, its event is stored before its task ends); what is queued meanwhile is appended by a background
    task, so that no request's connection waits behind the appends of many others.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._queue: list[AuditEvent] = []
        self._traces: list[dict[str, Any]] = []
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None
        self._head: str | None = None  # the chain's last hash as this process knows it

    async def record(self, event: AuditEvent | None, read_traces: list[dict[str, Any]] | None = None) -> None:
        if event is not None:
            self._queue.append(event)
        self._traces.extend(read_traces or ())
        if self._lock.locked():
            return  # the running append hands what is left to the background task
        async with self._lock:
            appended = await self._append_batch()
        if appended and (self._queue or self._traces):
            self._flush_in_background()

    def _flush_in_background(self) -> None:
        if self._background is None or self._background.done():
            self._background = asyncio.create_task(self.flush(), name="audit-flush")

    async def flush(self) -> None:
        """Append everything queued (the background task, and at shutdown)."""
        async with self._lock:
            while (self._queue or self._traces) and await self._append_batch():
                pass

    async def _append_batch(self) -> bool:
        batch, self._queue = self._queue[:500], self._queue[500:]
        traces, self._traces = self._traces[:2000], self._traces[2000:]
        try:
            for _ in range(_CHAIN_RETRIES):
                try:
                    async with self._connection() as connection:
                        self._head = await AuditRepository(connection).append(batch, traces, self._head)
                    break
                except ChainMoved:
                    self._head = None  # another process appended: chain to its last event instead
            else:
                raise RuntimeError(f"the audit chain moved {_CHAIN_RETRIES} times during one append")
        except Exception:
            # The trail must not silently lose events: put them back and let the next append retry.
            self._head = None
            self._queue[:0] = batch
            self._traces[:0] = traces
            log.exception("audit append failed; %d events kept in memory", len(batch) + len(traces))
            return False
        return True

    def _connection(self) -> AbstractAsyncContextManager[AsyncConnection]:
        # On PostgreSQL an append is one statement, so its own transaction (no BEGIN and COMMIT trips).
        return self.database.autocommit() if self.database.dialect == "postgresql" else self.database.write()


@dataclass(frozen=True)
class VerifyReport:
    events: int
    breaks: list[ChainBreak]
    head: str | None


async def verify(database: Database, batch: int = 5000) -> VerifyReport:
    """Recompute the whole chain; every changed, removed or inserted row is reported."""
    breaks: list[ChainBreak] = []
    after, count, previous = 0, 0, None
    async with database.read() as connection:
        repository = AuditRepository(connection)
        while True:
            rows = await repository.chain(after, batch)
            if not rows:
                break
            breaks += verify_chain([(r.id, r.prev_hash, r.hash, r.event) for r in rows], start=previous)
            previous = rows[-1].hash
            after = rows[-1].id
            count += len(rows)
    return VerifyReport(count, breaks, previous)


async def purge(database: Database, retention_days: int, now: datetime | None = None) -> int:
    """Delete events older than the retention period."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    async with database.write() as connection:
        return await AuditRepository(connection).purge_before(cutoff)


async def trace(
    sink: AuditSink,
    principal: Principal,
    *,
    action: str,
    operation: str,
    outcome: int,
    resource_type: str | None = None,
    resource_id: str | None = None,
    usager_ids: list[uuid.UUID] | None = None,
    detail: dict[str, str | int | None] | None = None,
) -> None:
    """An event outside a request's own: a call to a national service (INSi, DMP...), an export, a batch job.
    ``detail`` holds codes and identifiers, never names, INS or content."""
    await sink.record(
        AuditEvent(
            recorded_at=datetime.now(UTC),
            actor=principal.actor,
            actor_kind=principal.kind,
            account_id=principal.account_id,
            action=action,
            operation=operation,
            outcome=outcome,
            resource_type=resource_type,
            resource_id=resource_id,
            detail=detail or {},
            usager_ids=usager_ids or [],
        )
    )
