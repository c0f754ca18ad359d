"""DMP outbox: the send request is written with the document per the feeding policy; workers claim rows apart."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.domain.dmp import DmpStatus
from app.store.db import Database
from app.store.dmp import DmpRepository
from tests.api import test_documents
from tests.api.test_documents import _generate

pytestmark = pytest.mark.usefixtures("backend")
edge = test_documents.edge  # the edge-identities fixture


async def _outbox(database: Database, document_id: str) -> object:
    async with database.read() as connection:
        row = await DmpRepository(connection).get(uuid.UUID(document_id))
    assert row is not None
    return row


async def test_send_request_follows_the_policy(
    client: httpx.AsyncClient,
    edge: dict[str, str],
    clean_database: Database,
) -> None:
    qualified = (await _generate(client, edge["E-1"])).json()
    row = await _outbox(clean_database, qualified["id"])
    assert (row.status, row.reason, row.qualified) == ("queued", None, True)  # type: ignore[attr-defined]
    assert row.unique_id == qualified["xds"]["unique_id"]  # type: ignore[attr-defined]
    recup = (await _generate(client, edge["E-3"])).json()
    row = await _outbox(clean_database, recup["id"])
    assert (row.status, row.reason, row.qualified) == ("not-eligible", "identity-not-qualified", False)  # type: ignore[attr-defined]
    async with clean_database.write() as connection:
        await DmpRepository(connection).oppose(uuid.UUID(edge["E-2"]), "test", datetime.now(UTC))
    opposed = (await _generate(client, edge["E-2"])).json()
    row = await _outbox(clean_database, opposed["id"])
    assert (row.status, row.reason) == ("not-eligible", "usager-opposed")  # type: ignore[attr-defined]


async def test_workers_claim_disjoint_rows_and_expired_leases_come_back(
    client: httpx.AsyncClient,
    edge: dict[str, str],
    clean_database: Database,
) -> None:
    ids = {(await _generate(client, edge["E-1"])).json()["id"] for _ in range(4)}
    now = datetime.now(UTC)

    async def claim(worker: str) -> list[str]:
        async with clean_database.write() as connection:
            rows = await DmpRepository(connection).claim(worker, now, limit=3, lease=timedelta(seconds=30))
        return [str(r.document_id) for r in rows]

    a, b = await asyncio.gather(claim("a"), claim("b"))
    c = await claim("c")  # on SQLite the loser of a race gets nothing and takes the rest afterwards
    assert max(len(a), len(b), len(c)) <= 3  # never more than the limit, whatever plan the locking claim gets
    assert not set(a) & set(b) and not (set(a) | set(b)) & set(c) and set(a) | set(b) | set(c) == ids
    assert await claim("e") == []
    # Either worker may win the larger share (SKIP LOCKED, or SQLite's single writer): take the larger.
    worker, mine = ("a", a) if len(a) >= len(b) else ("b", b)
    async with clean_database.write() as connection:
        repo = DmpRepository(connection)
        assert await repo.record(uuid.UUID(mine[0]), worker, now, status=DmpStatus.SENT)
        assert not await repo.record(uuid.UUID(mine[1]), "x", now, status=DmpStatus.SENT)  # not x's claim
    later = now + timedelta(minutes=5)
    async with clean_database.write() as connection:
        again = await DmpRepository(connection).claim("d", later, limit=10, lease=timedelta(seconds=30))
    assert {str(r.document_id) for r in again} == ids - {mine[0]}
    # A lost lease counts as an attempt whose outcome is unknown (the worker reconciles before resending).
    assert {(r.status, r.claimed_by, r.attempts, r.last_error) for r in again} == {
        (DmpStatus.SENDING.value, "d", 1, "a worker lost its claim")
    }
