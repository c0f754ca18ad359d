"""Batch re-verification of the stored INS through INSi (RNIV rules 48-49): bounded concurrency,
resumable from a checkpoint after an interruption, with a summary."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from app.config import Settings
from app.domain.access import Principal, Scope
from app.domain.errors import DomainError
from app.domain.identity import UsagerRecord
from app.interop.insi.client import InsiClient
from app.services.identity import IdentityWorkflow, InsiRefused, JournalBuffer
from app.services.usagers import UsagerService
from app.store.db import Database
from app.store.identity import IdentityJournal
from app.store.repository import StoredRow

BATCH_ACTOR = Principal(actor="batch:ins-verify", scope=Scope.everything())
CHUNK = 500


@dataclass
class VerifySummary:
    counts: Counter[str] = field(default_factory=Counter)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def line(self) -> str:
        order = ("unchanged", "changed", "not_found", "several", "refused", "error")
        return ", ".join(f"{name} {self.counts.get(name, 0)}" for name in order) + f" (total {self.total})"


async def verify_one(
    workflow: IdentityWorkflow, usager_id: uuid.UUID, current: tuple[StoredRow, UsagerRecord] | None = None
) -> tuple[str, str | None]:
    """The outcome of one verification: unchanged, changed, not_found, several, refused or error."""
    try:
        report = await workflow.verify_ins(usager_id, current=current)
    except InsiRefused as refusal:
        return "refused", refusal.message
    except DomainError as error:
        return "error", f"{error.code}: {error.message}"
    return report.outcome, None


def _read_checkpoint(path: Path | None) -> uuid.UUID | None:
    if path is None or not path.is_file():
        return None
    text = path.read_text().strip()
    return uuid.UUID(text) if text else None


async def reverify(
    database: Database,
    settings: Settings,
    client: InsiClient,
    *,
    concurrency: int,
    checkpoint: Path | None = None,
    only: list[uuid.UUID] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> VerifySummary:
    """Verify every active usager carrying an INS (or ``only`` those), ``concurrency`` calls at a time.

    After each chunk the last id done is written to ``checkpoint``; a new run starts after it. The
    checkpoint is removed once the whole walk is done."""
    buffer = JournalBuffer(database)
    workflow = IdentityWorkflow(database, BATCH_ACTOR, settings, client, buffer=buffer)
    summary = VerifySummary()
    gate = asyncio.Semaphore(concurrency)

    async def one(usager_id: uuid.UUID, current: tuple[StoredRow, UsagerRecord] | None = None) -> None:
        async with gate:
            outcome, error = await verify_one(workflow, usager_id, current)
        summary.counts[outcome] += 1
        if error:
            summary.errors[str(usager_id)] = error
        if on_progress:
            on_progress(1)

    if only is not None:
        try:
            await asyncio.gather(*(one(u) for u in only))
        finally:
            await buffer.flush()
        return summary
    after = _read_checkpoint(checkpoint)
    while True:
        async with database.read() as connection:
            ids = await IdentityJournal(connection).usagers_with_ins(after, CHUNK)
            usagers = UsagerService(connection, BATCH_ACTOR)
            rows = await usagers.repo.page(
                scope=BATCH_ACTOR.scope, where=[usagers.repo.c.id.in_(ids)], after=None, limit=len(ids) or 1
            )
        if not ids:
            break
        records = {row.id: (row, usagers.record_from_body(row.body)) for row, _ in rows}
        try:
            await asyncio.gather(*(one(u, records.get(u)) for u in ids))
        finally:
            await buffer.flush()
        after = ids[-1]
        if checkpoint is not None:
            _write_checkpoint(checkpoint, after)
    if checkpoint is not None:
        _write_checkpoint(checkpoint, None)
    return summary


def _write_checkpoint(path: Path, last: uuid.UUID | None) -> None:
    """The last id done (a few bytes, written between chunks)."""
    if last is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(last))


async def count_to_verify(database: Database, after: uuid.UUID | None) -> int:
    total = 0
    async with database.read() as connection:
        journal = IdentityJournal(connection)
        while True:
            ids = await journal.usagers_with_ins(after, 10_000)
            total += len(ids)
            if len(ids) < 10_000:
                return total
            after = ids[-1]
