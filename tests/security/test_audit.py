"""The audit trail: one event per request to a route touching usager data (generated from the route table),
events queryable per usager and per professional, and a chain that `verify` proves untouched or not."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text, update

from app.api.security import route_table
from app.domain.access import SYSTEM
from app.services.audit import trace, verify
from app.store.db import Database
from app.store.security import AUDIT
from tests.security.world import OWN, World, generic_call, side

pytestmark = pytest.mark.usefixtures("backend")


async def _last_id(database: Database) -> int:
    async with database.read() as connection:
        return int(await connection.scalar(select(func.coalesce(func.max(AUDIT.c.id), 0))) or 0)


async def _since(database: Database, after: int) -> list[dict[str, object]]:
    async with database.read() as connection:
        rows = (await connection.execute(select(AUDIT).where(AUDIT.c.id > after).order_by(AUDIT.c.id))).all()
    return [dict(r._mapping) for r in rows]


async def test_every_usager_route_writes_exactly_one_event(
    app: FastAPI, client: httpx.AsyncClient, clean_database: Database
) -> None:
    world = World(client, await side(client, "A"), await side(client, "B"), clean_database)
    routes = [r for r in route_table(app.routes) if r.requirement is None or r.requirement.usager_data]
    assert len(routes) >= 36
    missing = []
    for route in routes:
        call = await world.call(route, route.method, OWN)
        known = call is not None
        call = call or generic_call(route)  # a route of another package: refused or not, it is traced once
        before = await _last_id(clean_database)
        response = await client.request(call.method, call.url, **call.kwargs)
        assert response.status_code < 300 or not known, (route.path, response.text)
        events = await _since(clean_database, before)
        if len(events) != 1 or events[0]["operation"] != route.operation_id:
            missing.append(f"{route.method} {route.path}: {[e['operation'] for e in events]}")
            continue
        event = events[0]
        assert event["actor"] == "test-admin" and event["outcome"] == response.status_code
        lists = {"/usagers", "/stays", "/contacts", "/protection-measures", "/plans", "/evaluations", "/transmissions"}
        if known and route.path not in lists:  # a list may show no usager
            assert event["usager_ids"] != "[]", route.path
        for forbidden in ("DURAND", "MARTIN", "Jeanne"):  # names never reach the trail
            assert forbidden not in str(event)
    assert not missing, "\n".join(missing)


async def test_refused_and_failed_requests_are_traced(
    client: httpx.AsyncClient, anonymous_client: httpx.AsyncClient, clean_database: Database
) -> None:
    usager = (await world_side(client)).usager
    before = await _last_id(clean_database)
    assert (await anonymous_client.get(f"/usagers/{usager['id']}")).status_code == 401
    assert (await client.get("/usagers/01a23399-0000-7000-8000-000000000000")).status_code == 404
    events = await _since(clean_database, before)
    assert [(e["actor"], e["outcome"]) for e in events] == [("anonymous", 401), ("test-admin", 404)]


async def world_side(client: httpx.AsyncClient):  # type: ignore[no-untyped-def]
    return await side(client, "A")


async def test_who_accessed_my_record(client: httpx.AsyncClient) -> None:
    usager = (await world_side(client)).usager
    await client.get(f"/usagers/{usager['id']}")
    await client.get("/usagers", params={"q": "martin"})
    trail = (await client.get(f"/usagers/{usager['id']}/audit")).json()["items"]
    operations = [e["operation"] for e in trail]
    # Newest first: its creation, the read and the search that showed it.
    assert operations[:3] == ["list_usager", "read_usager", "create_usager"][: len(operations[:3])]
    assert all(usager["id"] in e["usager_ids"] for e in trail)
    mine = (await client.get("/audit/events", params={"actor": "test-admin", "limit": 2})).json()
    assert len(mine["items"]) == 2 and mine["next_cursor"]
    older = (await client.get("/audit/events", params={"actor": "test-admin", "cursor": mine["next_cursor"]})).json()
    assert older["items"][0]["id"] < mine["items"][-1]["id"]


async def test_verify_detects_a_modified_row(client: httpx.AsyncClient, clean_database: Database) -> None:
    usager = (await world_side(client)).usager
    for _ in range(3):
        await client.get(f"/usagers/{usager['id']}")
    report = await verify(clean_database)
    assert report.events >= 4 and report.breaks == []
    target = await _last_id(clean_database) - 1
    # The table refuses updates; an attacker with database access drops the guard first.
    async with clean_database.write() as connection:
        with pytest.raises(Exception, match="append-only"):
            async with connection.begin_nested():
                await connection.execute(update(AUDIT).where(AUDIT.c.id == target).values(actor="nobody"))
    # One connection drops the guard and puts it back: another pooled SQLite connection could still hold the
    # schema it read before the drop and refuse to create a trigger it believes is there.
    async with clean_database.engine.connect() as connection:
        postgresql = connection.dialect.name == "postgresql"
        if postgresql:
            await connection.execute(text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update"))
        else:
            await connection.execute(text("DROP TRIGGER audit_event_no_update"))
        await connection.execute(update(AUDIT).where(AUDIT.c.id == target).values(outcome=200, actor="nobody"))
        await connection.commit()
        try:
            report = await verify(clean_database)
            assert [b.event_id for b in report.breaks] == [target]
        finally:
            if postgresql:
                await connection.execute(text("ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_update"))
            else:
                await connection.execute(
                    text(
                        "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event "
                        "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"
                    )
                )
            await connection.commit()


async def test_national_service_calls_are_traced(app: FastAPI, clean_database: Database) -> None:
    usager_id = uuid.uuid4()
    await trace(
        app.state.audit,
        SYSTEM,
        action="insi-call",
        operation="insi_recherche",
        outcome=200,
        usager_ids=[usager_id],
        detail={"cr": "00"},
    )
    events = await _since(clean_database, 0)
    assert [(e["action"], e["operation"], e["actor"]) for e in events] == [("insi-call", "insi_recherche", "system")]
    assert str(usager_id) in str(events[0]["usager_ids"]) and (await verify(clean_database)).breaks == []


async def test_retention_purge(client: httpx.AsyncClient, clean_database: Database) -> None:
    from datetime import UTC, datetime, timedelta

    from app.services.audit import purge

    usager = (await world_side(client)).usager
    await client.get(f"/usagers/{usager['id']}")
    assert await purge(clean_database, 365) == 0
    assert await purge(clean_database, 365, now=datetime.now(UTC) + timedelta(days=400)) >= 2
    assert await _last_id(clean_database) == 0 or (await verify(clean_database)).breaks == []


async def test_read_traces_go_with_the_audit_batch_and_survive_a_failed_append(
    client: httpx.AsyncClient, clean_database: Database
) -> None:
    from contextlib import AbstractAsyncContextManager
    from datetime import UTC, datetime

    from sqlalchemy.ext.asyncio import AsyncConnection

    from app.domain.audit import AuditEvent
    from app.services.audit import AuditSink
    from app.store.identity import TRACE
    from tests import factories

    usager = await factories.usager(client)
    usager_id = uuid.UUID(usager["id"])

    async def traced() -> list[str]:
        async with clean_database.read() as connection:
            rows = await connection.execute(select(TRACE.c.action).where(TRACE.c.usager_id == usager_id))
            return [r.action for r in rows]

    assert (await client.get(f"/usagers/{usager_id}")).status_code == 200
    assert (await traced())[-1] == "read"

    class Failing(Database):
        def __init__(self) -> None:
            self.fail = True

        @property
        def dialect(self) -> str:
            return clean_database.dialect

        def write(self) -> AbstractAsyncContextManager[AsyncConnection]:  # type: ignore[override]
            if self.fail:
                raise OSError("database unreachable")
            return clean_database.write()

        def autocommit(self) -> AbstractAsyncContextManager[AsyncConnection]:  # type: ignore[override]
            if self.fail:
                raise OSError("database unreachable")
            return clean_database.autocommit()

    broken = Failing()
    sink = AuditSink(broken)
    event = AuditEvent(datetime.now(UTC), "pro-a", "api-token", "read", "read_usager", 200, usager_ids=[usager_id])
    row = {"usager_id": usager_id, "actor": "pro-a", "at": datetime.now(UTC), "action": "list", "detail": "{}"}
    await sink.record(event, [row])
    assert (await traced()).count("list") == 0  # not written, but kept
    broken.fail = False
    await sink.flush()
    assert (await traced()).count("list") == 1
    async with clean_database.read() as connection:
        assert await connection.scalar(select(func.count()).select_from(AUDIT).where(AUDIT.c.actor == "pro-a")) == 1
