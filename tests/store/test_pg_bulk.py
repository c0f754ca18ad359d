"""Bulk inserts by unnested arrays (PostgreSQL): every column type the schema uses, NULLs, the ids in the
rows' order, one prepared statement whatever the batch size; and the audit chain they append stays whole
when several requests and several processes append at once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from app.config import Settings
from app.domain.audit import GENESIS, AuditEvent
from app.main import create_app
from app.services.audit import verify
from app.store.db import Database
from app.store.pg_bulk import insert_rows
from app.store.security import AUDIT, AUDIT_USAGER, AuditRepository, ChainMoved
from tests.conftest import http_client, issue_token
from tests.factories import usager

pytestmark = pytest.mark.usefixtures("backend")

PROBE = Table(
    "bulk_probe",
    MetaData(),
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("ref", Uuid),
    Column("at", DateTime(timezone=True)),
    Column("local_at", DateTime(timezone=False)),
    Column("day", Date),
    Column("body", Text),
    Column("label", String(20, collation="C")),
    Column("doc", JSONB),
    Column("flag", Boolean),
    Column("order", Integer),  # a reserved word
    Column("n", Integer),  # the name a careless statement gives the ordinality
)


@pytest.fixture
async def probe(backend: str, database: Database) -> AsyncIterator[Database]:
    if backend != "postgresql":
        pytest.skip("rows are unnested on PostgreSQL only")
    async with database.write() as connection:
        await connection.run_sync(PROBE.create)
    yield database
    async with database.write() as connection:
        await connection.run_sync(PROBE.drop)


def _row(i: int) -> dict[str, object]:
    return {
        "ref": uuid.UUID(int=i + 1),
        "at": datetime(2024, 3, 1, 8, 30, tzinfo=timezone(timedelta(hours=1))) + timedelta(minutes=i),
        "local_at": datetime(2024, 3, 1, 8, 30) + timedelta(minutes=i),
        "day": date(2024, 3, 1) + timedelta(days=i),
        "body": f"ligne {i} — « texte »",
        "label": f"L{i}",
        "doc": orjson.dumps({"i": i, "tags": ["a", "b"]}).decode(),
        "flag": i % 2 == 0,
        "order": i,
        "n": -i,
    }


async def test_typed_columns_and_nulls_are_stored_as_given(probe: Database) -> None:
    rows = [_row(i) for i in range(3)] + [dict.fromkeys(_row(0))]
    async with probe.write() as connection:
        # Not the server's zone: a naive timestamp must not be moved by a time zone conversion.
        await connection.execute(text("SET LOCAL TIME ZONE 'Asia/Tokyo'"))
        ids = await insert_rows(connection, PROBE, rows, returning="id")
    assert len(ids) == 4
    async with probe.read() as connection:
        stored = (await connection.execute(select(PROBE).order_by(PROBE.c.id))).all()
    assert [r.id for r in stored] == sorted(ids)
    for row, given in zip(stored, rows, strict=True):
        kept = {k: v for k, v in row._mapping.items() if k != "id"}
        expected = dict(given)
        if given["doc"] is not None:
            expected["doc"] = orjson.loads(str(given["doc"]))  # read back as JSON
        assert kept == expected
    assert stored[0].at.astimezone(UTC) == datetime(2024, 3, 1, 7, 30, tzinfo=UTC)


async def test_returning_follows_the_rows_order_and_nothing_is_sent_for_no_row(probe: Database) -> None:
    async with probe.write() as connection:
        assert await insert_rows(connection, PROBE, [], returning="id") == []
        refs = await insert_rows(connection, PROBE, [{"ref": uuid.uuid4(), "order": i} for i in range(200)], "ref")
        assert await insert_rows(connection, PROBE, [{"order": 1000}]) == []
    async with probe.read() as connection:
        stored = (await connection.execute(select(PROBE.c.ref, PROBE.c.order).order_by(PROBE.c.id))).all()
    assert [r.order for r in stored] == [*range(200), 1000]  # ids grow in the rows' order
    assert sorted(refs) == sorted(r.ref for r in stored[:200])


async def test_batches_of_any_size_on_one_connection(probe: Database) -> None:
    async with probe.write() as connection:
        for size in (1, 2, 7, 100, 3):
            returned = await insert_rows(
                connection, PROBE, [{"ref": uuid.uuid4(), "body": "x"} for _ in range(size)], "id"
            )
            assert len(returned) == size
        assert await connection.scalar(select(func.count()).select_from(PROBE)) == 113


async def _chain_is_whole(database: Database, expected: int) -> None:
    report = await verify(database)
    assert report.breaks == [] and report.events == expected
    async with database.read() as connection:
        events = {r.id: set(orjson.loads(r.usager_ids)) for r in await connection.execute(select(AUDIT))}
        links: dict[int, set[str]] = {}
        for link in await connection.execute(select(AUDIT_USAGER)):
            links.setdefault(link.event_id, set()).add(str(link.usager_id))
    # Each link row points at the event that named the usager (ids matched to events in order).
    assert {k: v for k, v in events.items() if v} == links


async def test_concurrent_appends_keep_the_chain_verifiable(clean_database: Database) -> None:
    usagers = [uuid.uuid4() for _ in range(5)]

    def event(batch: int, i: int) -> AuditEvent:
        return AuditEvent(
            recorded_at=datetime.now(UTC),
            actor=f"worker-{batch}",
            actor_kind="api-token",
            action="read",
            operation="read_usager",
            outcome=200,
            resource_id=str(i),
            detail={"batch": batch, "i": i},
            usager_ids=usagers[: (batch + i) % 4],
        )

    refused: list[int] = []

    async def append(batch: int) -> None:
        head: str | None = GENESIS  # every appender starts from the same head: all but one are refused once
        while True:
            try:
                async with clean_database.write() as connection:  # one transaction each, as each sink's batch
                    await AuditRepository(connection).append([event(batch, i) for i in range(batch + 1)], [], head)
                return
            except ChainMoved:
                refused.append(batch)
                head = None

    await asyncio.gather(*(append(batch) for batch in range(12)))
    await _chain_is_whole(clean_database, sum(b + 1 for b in range(12)))
    assert len(set(refused)) == 11


async def test_reads_of_several_processes_at_once_keep_the_chain_verifiable(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, clean_database: Database
) -> None:
    """Two applications (two processes' sinks) appending the events of many concurrent reads."""
    records = [await usager(client, nom_naissance=name) for name in ("BLANC", "NOIR", "ROUGE")]
    other = create_app(settings, database=clean_database)
    token = await issue_token(clean_database, "chain-reader", superuser=True)
    async with http_client(app, token) as first, http_client(other, token) as second:
        answers = await asyncio.gather(
            *(
                (first, second)[i % 2].get(f"/usagers/{records[i % 3]['id']}" if i % 4 else "/usagers")
                for i in range(40)
            )
        )
    assert {a.status_code for a in answers} == {200}
    for application in (app, other):
        await application.state.audit.flush()
    async with clean_database.read() as connection:
        events = await connection.scalar(select(func.count()).select_from(AUDIT))
        reads = await connection.scalar(select(func.count()).select_from(AUDIT).where(AUDIT.c.actor == "chain-reader"))
    assert reads == 40
    await _chain_is_whole(clean_database, int(events or 0))
