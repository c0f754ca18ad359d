"""The read lane answers exactly as FastAPI's own routes: every request is sent to the application and to the
same application without the lane, and the answers (status, headers, body) and audit events must be equal.

The lane's hand-offs are recorded (what it passes on to FastAPI), so each test also proves which side served.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import func, select, text
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.fast_reads import FastReads
from app.config import Settings
from app.domain.access import Permission, Role
from app.main import create_app
from app.services.accounts import MembershipSpec
from app.store.db import Database, create_engine
from app.store.security import AUDIT, AUDIT_USAGER
from tests.conftest import POSTGRES_URL, http_client, issue_token
from tests.factories import essms, organisme, stay, usager

pytestmark = pytest.mark.usefixtures("backend")


class Lane:
    """The application with its lane (``handed_on``: the paths of the reads the lane passed on to FastAPI) and the same
    application without it."""

    def __init__(self, with_lane: FastAPI, without: FastAPI) -> None:
        self.with_lane = with_lane
        self.without = without
        self.handed_on: list[str] = []
        stack = with_lane.build_middleware_stack()
        layer: Any = stack
        while not isinstance(layer, FastReads):
            layer = layer.app
        downstream: ASGIApp = layer.app

        async def record(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["method"] == "GET":
                self.handed_on.append(scope["path"])
            await downstream(scope, receive, send)

        layer.app = record
        with_lane.middleware_stack = stack

    async def both(self, token: str | None, path: str, **kwargs: Any) -> tuple[httpx.Response, httpx.Response]:
        """The lane's answer and FastAPI's, to the same request."""
        answers = []
        for application in (self.with_lane, self.without):
            async with http_client(application, token) as http:
                answers.append(await http.get(path, **kwargs))
        return answers[0], answers[1]

    async def same(self, token: str | None, path: str, *, served: bool = True, **kwargs: Any) -> httpx.Response:
        """Both answers, byte for byte; ``served``: the lane answered (else it handed the request on)."""
        self.handed_on.clear()
        lane, fastapi = await self.both(token, path, **kwargs)
        assert (lane.status_code, lane.content) == (fastapi.status_code, fastapi.content), (path, lane.text)
        assert lane.headers.multi_items() == fastapi.headers.multi_items(), path
        assert (self.handed_on == []) is served, (path, self.handed_on)
        return lane


def without_lane(settings: Settings, database: Database) -> FastAPI:
    """The application as FastAPI alone serves it: the same factory, the lane left out."""
    application = create_app(settings, database=database)
    application.user_middleware = [m for m in application.user_middleware if m.cls is not FastReads]
    return application


@pytest.fixture
async def lane(app: FastAPI, settings: Settings, clean_database: Database) -> AsyncIterator[Lane]:
    without = without_lane(settings, clean_database)
    yield Lane(app, without)
    for application in (app, without):
        await application.state.audit.flush()
    if getattr(without.state, "insi_client", None) is not None:
        await without.state.insi_client.aclose()


@pytest.fixture
async def admin_token(clean_database: Database) -> str:
    return await issue_token(clean_database, "lane-admin", superuser=True)


@pytest.fixture
async def records(client: httpx.AsyncClient) -> dict[str, Any]:
    """Two ESSMS; three usagers of the first (with a stay), one of the second."""
    organisme_a = await organisme(client)
    mine = await essms(client, organisme_a["id"], nom="EHPAD A")
    theirs = await essms(client, (await organisme(client))["id"], nom="EHPAD B")
    usagers = [await usager(client, nom_naissance=name, essms_id=mine["id"]) for name in ("BERNARD", "MARTIN", "PETIT")]
    their_usager = await usager(client, nom_naissance="DURAND", essms_id=theirs["id"])
    stayed = await stay(client, usagers[0]["id"], mine["id"])
    assert stayed.status_code == 201, stayed.text
    return {
        "organisme": organisme_a,
        "mine": mine,
        "theirs": theirs,
        "usagers": usagers,
        "their_usager": their_usager,
        "stay": stayed.json(),
    }


async def _events(database: Database, after: int) -> list[dict[str, Any]]:
    """Audit events after ``after``, without what differs from one append to the next, with their links."""
    async with database.read() as connection:
        rows = (await connection.execute(select(AUDIT).where(AUDIT.c.id > after).order_by(AUDIT.c.id))).all()
        links = (await connection.execute(select(AUDIT_USAGER).where(AUDIT_USAGER.c.event_id > after))).all()
    linked: dict[int, set[str]] = {}
    for link in links:
        linked.setdefault(link.event_id, set()).add(str(link.usager_id))
    events = []
    for row in rows:
        event = {k: v for k, v in row._mapping.items() if k not in {"id", "recorded_at", "prev_hash", "hash"}}
        event["linked"] = linked.get(row.id, set())
        events.append(event)
    return events


async def _last_event(database: Database) -> int:
    async with database.read() as connection:
        return int(await connection.scalar(select(func.coalesce(func.max(AUDIT.c.id), 0))) or 0)


async def test_reads_and_pages_are_the_bytes_and_headers_of_fastapi(
    lane: Lane, admin_token: str, records: dict[str, Any]
) -> None:
    first = records["usagers"][0]
    one = await lane.same(admin_token, f"/usagers/{first['id']}")
    assert one.headers["etag"] == f'"{first["version"]}"' and one.headers["content-type"] == "application/json"
    assert one.json() == first
    await lane.same(admin_token, f"/usagers/{first['id'].upper()}")
    await lane.same(admin_token, f"/usagers/{uuid.UUID(first['id']).hex}")  # every spelling FastAPI accepts
    await lane.same(admin_token, f"/usagers/{first['id']}", params={"ignored": "1"})  # as FastAPI: ignored
    for path in (
        f"/essms/{records['mine']['id']}",
        f"/organismes/{records['organisme']['id']}",
        f"/stays/{records['stay']['id']}",
    ):
        await lane.same(admin_token, path)

    page = await lane.same(admin_token, "/usagers", params={"limit": 2, "sort": "nom"})
    cursor = page.json()["next_cursor"]
    assert [u["nom_naissance"] for u in page.json()["items"]] == ["BERNARD", "DURAND"] and cursor
    assert page.headers["link"] == f'<http://dui.test/usagers?limit=2&sort=nom&cursor={cursor}>; rel="next"'
    rest = await lane.same(admin_token, "/usagers", params={"limit": 2, "sort": "nom", "cursor": cursor})
    assert [u["nom_naissance"] for u in rest.json()["items"]] == ["MARTIN", "PETIT"]
    assert "link" not in rest.headers
    mine = await lane.same(admin_token, "/usagers", params={"essms_id": records["mine"]["id"], "limit": "50"})
    assert len(mine.json()["items"]) == 3
    await lane.same(admin_token, "/stays", params={"usager_id": first["id"], "open": "true"})
    await lane.same(admin_token, "/usagers", params={"include_archived": "yes", "q": "mar"})


async def test_every_marked_route_is_served_as_fastapi_would_route_it(
    lane: Lane, admin_token: str, records: dict[str, Any]
) -> None:
    """A route declared before a marked one and matching its paths would answer in FastAPI: not in the lane."""
    marked = [
        str(context.path_format)
        for context in iter_route_contexts(list(lane.with_lane.routes))
        if isinstance(context.original_route, APIRoute)
        and "GET" in (context.methods or ())
        and getattr(context.original_route.endpoint, "_dui_fast_read", None) is not None
    ]
    ones = [path for path in marked if path.endswith("}")]
    assert len(ones) >= 9 and len(marked) - len(ones) >= 9
    for path in marked:
        if path in ones:
            missing = await lane.same(admin_token, path.rsplit("/", 1)[0] + f"/{uuid.uuid4()}")
            assert missing.status_code == 404, path
        else:
            assert (await lane.same(admin_token, path)).status_code == 200, path


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "many"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"sort": "prenom"}, "sort"),
        ({"sexe": "X"}, "sexe"),
        ({"identity_status": "GOOD"}, "identity_status"),
        ({"essms_id": "not-a-uuid"}, "essms_id"),
        ({"date_naissance": "12/03/1940"}, "date_naissance"),
        ({"colour": "blue"}, "colour"),
        ([("colour", "blue"), ("colour", "red")], "colour"),
        ([("limit", "2"), ("limit", "x")], "limit"),
    ],
)
async def test_invalid_queries_get_fastapis_problem(lane: Lane, admin_token: str, query: Any, field: str) -> None:
    refused = await lane.same(admin_token, "/usagers", params=query, served=False)
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in refused.json()["errors"]] == [field]


async def test_a_repeated_parameter_is_left_to_fastapi(lane: Lane, admin_token: str, records: dict[str, Any]) -> None:
    answer = await lane.same(admin_token, "/usagers", params=[("limit", "1"), ("limit", "2")], served=False)
    assert answer.status_code == 200 and len(answer.json()["items"]) == 2  # FastAPI takes the last value


@pytest.mark.parametrize(
    "spell",
    [
        lambda h: "not-a-uuid",
        lambda h: h + "----",  # 36 characters, hyphens misplaced
        lambda h: f"{h[:7]}-{h[7:12]}-{h[12:17]}-{h[17:22]}-{h[22:]}",
        lambda h: f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:23]}_{h[24:]}",
        lambda h: " " + h[1:] + "----",
        lambda h: f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:31]}\uff18",  # a full-width digit
    ],
    ids=["word", "hyphens-last", "hyphens-shifted", "underscore", "space", "full-width-digit"],
)
async def test_an_id_fastapi_refuses_is_refused_alike(
    lane: Lane, admin_token: str, records: dict[str, Any], spell: Any
) -> None:
    """Spellings of an existing usager's id that ``uuid.UUID`` would read but FastAPI refuses."""
    value = spell(uuid.UUID(records["usagers"][0]["id"]).hex)
    refused = await lane.same(admin_token, f"/usagers/{value}", served=False)
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["resource_id"]


async def test_authentication_and_permission_refusals_are_fastapis(
    lane: Lane, clean_database: Database, records: dict[str, Any]
) -> None:
    first = records["usagers"][0]["id"]
    structures_only = await issue_token(
        clean_database,
        "lane-structures",
        memberships=[MembershipSpec(Role.SOIGNANT, essms_id=uuid.UUID(records["mine"]["id"]))],
        permissions=[Permission.STRUCTURE_READ],
    )
    for path in (f"/usagers/{first}", "/usagers"):
        for token, status in ((None, 401), ("dui_at_not-a-token", 401), (structures_only, 403)):
            refused = await lane.same(token, path)
            assert refused.status_code == status and refused.headers["content-type"] == "application/problem+json"
        allowed = await lane.same(structures_only, f"/essms/{records['mine']['id']}")
        assert allowed.status_code == 200
    not_bearer = await lane.same(None, "/usagers", headers={"Authorization": "Basic YTpi"})
    assert not_bearer.status_code == 401


async def test_the_essms_scope_holds_in_the_lane(lane: Lane, clean_database: Database, records: dict[str, Any]) -> None:
    token = await issue_token(
        clean_database,
        "lane-soignant",
        memberships=[MembershipSpec(Role.SOIGNANT, essms_id=uuid.UUID(records["mine"]["id"]))],
    )
    theirs = records["their_usager"]["id"]
    hidden = await lane.same(token, f"/usagers/{theirs}")
    assert hidden.status_code == 404 and hidden.headers["content-type"] == "application/problem+json"
    assert (await lane.same(token, f"/usagers/{records['usagers'][0]['id']}")).status_code == 200
    listed = await lane.same(token, "/usagers", params={"limit": 50})
    assert {u["id"] for u in listed.json()["items"]} == {u["id"] for u in records["usagers"]}
    other_essms = await lane.same(token, "/usagers", params={"essms_id": records["theirs"]["id"]})
    assert other_essms.json()["items"] == []


async def test_audit_events_of_lane_reads_are_those_of_fastapi(
    lane: Lane, admin_token: str, clean_database: Database, records: dict[str, Any]
) -> None:
    first = records["usagers"][0]
    soignant = await issue_token(
        clean_database,
        "lane-audited",
        memberships=[MembershipSpec(Role.SOIGNANT, essms_id=uuid.UUID(records["mine"]["id"]))],
    )
    requests: list[tuple[str | None, str, dict[str, Any]]] = [
        (admin_token, f"/usagers/{first['id']}", {}),
        (soignant, f"/usagers/{first['id']}", {}),
        (soignant, f"/usagers/{records['their_usager']['id']}", {}),  # 404: traced with the usager it named
        (None, f"/usagers/{first['id']}", {}),
        (admin_token, f"/stays/{records['stay']['id']}", {}),
        (soignant, "/usagers", {"params": {"limit": 2, "sort": "nom"}}),
        (admin_token, "/stays", {"params": {"usager_id": first["id"]}}),
        (admin_token, f"/essms/{records['mine']['id']}", {}),  # not usager data: no event
    ]
    lane.handed_on.clear()
    for token, path, kwargs in requests:
        events = []
        for application in (lane.with_lane, lane.without):
            before = await _last_event(clean_database)
            async with http_client(application, token) as http:
                await http.get(path, **kwargs)
            await application.state.audit.flush()
            events.append(await _events(clean_database, before))
        with_lane, without = events
        assert with_lane == without, path
        expected = 0 if path.startswith("/essms") else 1
        assert len(with_lane) == expected, (path, with_lane)
        if expected:
            event = with_lane[0]
            assert orjson.loads(event["detail"])["route"] in {
                "/usagers/{resource_id}",
                "/stays/{resource_id}",
                "/usagers",
                "/stays",
            }
            assert event["linked"] == set(orjson.loads(event["usager_ids"]))
            if path.startswith("/usagers/"):
                assert event["linked"] == {path.rsplit("/", 1)[1]} and event["resource_id"] == path.rsplit("/", 1)[1]
            if path == f"/stays/{records['stay']['id']}":
                assert event["linked"] == {first["id"]}
    assert lane.handed_on == []


async def test_errors_raised_inside_the_endpoint_get_the_apps_problem(
    lane: Lane, admin_token: str, records: dict[str, Any]
) -> None:
    not_ours = await lane.same(admin_token, "/usagers", params={"cursor": "bm90LWEtY3Vyc29y"})
    assert not_ours.status_code == 400 and not_ours.json()["type"] == "urn:dui:problem:bad-cursor"
    page = (await lane.same(admin_token, "/usagers", params={"limit": 1, "sort": "nom"})).json()
    other_sort = await lane.same(admin_token, "/usagers", params={"limit": 1, "cursor": page["next_cursor"]})
    assert other_sort.status_code == 400 and other_sort.json()["errors"][0]["rule"] == "cursor-sort"
    # Cursors that decode but name a position no row can have: refused in the store, as any cursor not ours.
    for sort, position in (("date_entree", "not-a-date"), ("date_entree", 12), ("nom", {"x": 1})):
        forged = base64.urlsafe_b64encode(orjson.dumps([sort, position, str(uuid.uuid4())])).decode()
        path = "/stays" if sort == "date_entree" else "/usagers"
        refused = await lane.same(admin_token, path, params={"sort": sort, "cursor": forged})
        assert refused.status_code == 400 and refused.json()["type"] == "urn:dui:problem:bad-cursor", refused.text
        assert refused.json()["errors"][0]["field"] == "cursor"


async def test_an_unexpected_error_gets_the_catch_all_problem_and_its_event(
    backend: str, settings: Settings, clean_database: Database, records: dict[str, Any]
) -> None:
    """A read whose connection the server ended (PostgreSQL): no handler of its own, the lane re-raises it
    to the application's catch-all as FastAPI does, and the event records the failure."""
    if backend != "postgresql":
        pytest.skip("the connection is ended from the server")
    reads = Database(create_engine(settings.database_url, pool_size=4), held_readers=1)
    admin = await asyncpg.connect(POSTGRES_URL)
    token = await issue_token(clean_database, "lane-unlucky", superuser=True)
    path = f"/usagers/{records['usagers'][0]['id']}"
    try:
        lane = Lane(create_app(settings, database=reads), without_lane(settings, reads))
        answers, events = [], []
        for application in (lane.with_lane, lane.without):
            async with reads.read() as connection:
                pid = await connection.scalar(text("SELECT pg_backend_pid()"))
            assert await admin.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)  # waits for its end
            before = await _last_event(clean_database)
            async with http_client(application, token) as http:
                answers.append(await http.get(path))
            await application.state.audit.flush()
            events.append(await _events(clean_database, before))
    finally:
        await admin.close()
        await reads.dispose()
    with_lane, without = answers
    assert with_lane.status_code == 500 and with_lane.json()["type"] == "urn:dui:problem:internal-error"
    assert (with_lane.content, with_lane.headers.multi_items()) == (without.content, without.headers.multi_items())
    assert events[0] == events[1] and [e["outcome"] for e in events[0]] == [500]
    assert lane.handed_on == []
