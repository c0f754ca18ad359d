"""The audit trail: events are queued by the request and appended in batches (group commit), hash-chained.

The identity traces of reads (RNIV rule 16: who looked at an identity) travel the same way: a request
collects them while it runs and hands them to the sink with its audit event, so a read costs no write of
its own. Traces of changes stay in the transaction of the change.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from app.domain.access import Principal
from app.domain.audit import AuditEvent, ChainBreak, verify_chain
from app.store.db import Database
from app.store.identity import IdentityJournal
from app.store.security import AuditRepository

log = logging.getLogger("dui.audit")

_read_traces: ContextVar[list[dict[str, Any]] | None] = ContextVar("dui.read_traces", default=None)


@contextmanager
def collecting_read_traces() -> Iterator[list[dict[str, Any]]]:
    """Within this block (a request), `defer_read_traces` collects instead of writing."""
    collected: list[dict[str, Any]] = []
    token = _read_traces.set(collected)
    try:
        yield collected
    finally:
        _read_traces.reset(token)


def defer_read_traces(rows: list[dict[str, Any]]) -> bool:
    """Keep identity trace rows for the request's audit flush; False when no request collects them."""
    collected = _read_traces.get()
    if collected is None:
        return False
    collected.extend(rows)
    return True


class AuditSink:
    """Collects events; whoever finds no flush running appends every queued event in one transaction.

    Under load one request appends the events of many (one chain lock, one commit); alone, a request
    appends its own event right after its response, before its task ends.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._queue: list[AuditEvent] = []
        self._traces: list[dict[str, Any]] = []
        self._lock = asyncio.Lock()

    async def record(self, event: AuditEvent | None, read_traces: list[dict[str, Any]] | None = None) -> None:
        if event is not None:
            self._queue.append(event)
        self._traces.extend(read_traces or ())
        if self._lock.locked():
            return  # the running flush loops until the queue is empty
        await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            while self._queue or self._traces:
                batch, self._queue = self._queue[:500], self._queue[500:]
                traces, self._traces = self._traces[:2000], self._traces[2000:]
                try:
                    async with self.database.write() as connection:
                        await AuditRepository(connection).append(batch)
                        await IdentityJournal(connection).insert_many([], traces)
                except Exception:
                    # The trail must not silently lose events: put them back and let the next flush retry.
                    self._queue[:0] = batch
                    self._traces[:0] = traces
                    log.exception("audit append failed; %d events kept in memory", len(batch) + len(traces))
                    return


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
