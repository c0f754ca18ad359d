"""The access matrix, generated from the application's route table: every route x every role x own/other ESSMS.

A role holding the route's permission succeeds on its own ESSMS and gets 403/404/422 on the other one, with
none of the other ESSMS's identifiers in the answer (also when the request mixes its own records with ids of
the other ESSMS); a role without the permission gets 403 everywhere. Every route touching ESSMS data must have
an own/other sample (tests/security/cases.py), or the matrix fails.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from app.api.security import RouteInfo, route_table
from app.config import Settings
from app.domain.access import Role
from app.sandbox.insi import InsiSandbox
from app.sandbox.pki import Pki
from app.store.db import Database
from tests.conftest import ClientAs
from tests.factories import essms, organisme
from tests.identity import conftest as insi_fixtures
from tests.security.cases import NOT_ESSMS_SCOPED
from tests.security.world import CASES, OTHER, OWN, Call, Side, World, allowed, generic_call, side

pytestmark = pytest.mark.usefixtures("backend")
insi_pki = insi_fixtures.insi_pki  # the INSi sandbox fixtures, shared with the identity tests
insi_sandbox = insi_fixtures.insi_sandbox


def guarded_routes(app: FastAPI) -> list[tuple[RouteInfo, str]]:
    return [(r, r.method) for r in route_table(app.routes) if not (r.requirement and r.requirement.public)]


def test_every_route_declares_its_permission(app: FastAPI) -> None:
    table = route_table(app.routes)
    assert len(table) >= 60
    undeclared = [f"{r.method} {r.path}" for r in table if r.requirement is None]
    assert not undeclared, (
        "These routes declare no permission (only superusers may call them): add "
        "dependencies=[requires(Permission.X, usager_data=...)] or [public()]: " + ", ".join(sorted(undeclared))
    )


def test_the_samples_and_the_allow_list_name_existing_routes(app: FastAPI) -> None:
    table = {(r.method, r.path) for r in route_table(app.routes)}
    assert not NOT_ESSMS_SCOPED - table, sorted(NOT_ESSMS_SCOPED - table)
    assert not set(CASES) - table, sorted(set(CASES) - table)  # a renamed route leaves its sample behind
    assert not NOT_ESSMS_SCOPED & set(CASES)


async def test_anonymous_gets_401_on_every_guarded_route(app: FastAPI, anonymous_client: httpx.AsyncClient) -> None:
    for route, method in guarded_routes(app):
        url = route.path.replace("{", "").replace("}", "")
        for name in route.params:
            url = url.replace(name, "00000000-0000-7000-8000-000000000000" if name != "version" else "1")
        response = await anonymous_client.request(method, url, json={} if method in {"POST", "PUT", "PATCH"} else None)
        assert response.status_code == 401, (method, route.path, response.status_code)
        assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.fixture
def settings(settings: Settings, insi_pki: Pki, insi_sandbox: InsiSandbox) -> Settings:
    """The usual test settings, with the INSi sandbox (INSi searches and verifications succeed on the own side)."""
    sandbox = insi_fixtures.insi_settings(settings.database_url, insi_pki, insi_sandbox.url, settings.data_dir)
    fields = ("insi_endpoint", "insi_client_cert", "insi_client_key", "insi_ca_bundle", "insi_idam")
    return settings.model_copy(update={name: getattr(sandbox, name) for name in fields})


def _items(response: httpx.Response) -> list[object]:
    body = response.json()
    return body if isinstance(body, list) else body.get("items", [])  # type: ignore[no-any-return]


async def test_access_matrix(
    app: FastAPI, client: httpx.AsyncClient, client_as: ClientAs, clean_database: Database
) -> None:
    own, other = await side(client, "A"), await side(client, "B")
    world = World(client, own, other, clean_database)
    routes = guarded_routes(app)
    unknown: list[str] = []
    failures: list[str] = []
    checked = 0
    for role in Role:
        own.spare_essms = await essms(client, own.organisme["id"], nom="Spare")
        own.spare_organisme = await organisme(client)
        in_spare = await essms(client, own.spare_organisme["id"])
        caller = await client_as(role, own.essms["id"], own.spare_essms["id"], in_spare["id"])
        for route, method in routes:
            may = allowed(role, route)
            for side_name in (OWN, OTHER):
                calls = await world.calls(route, method, side_name)
                if calls is None:  # no sample: the role leg only
                    unknown.append(f"{method} {route.path}")
                    generic = generic_call(route)
                    response = await caller.request(generic.method, generic.url, **generic.kwargs)
                    if not may and response.status_code != 403:
                        failures.append(f"{role} {method} {route.path}: {response.status_code}, expected 403")
                    break
                for call in calls:
                    response = await caller.request(call.method, call.url, **call.kwargs)
                    checked += 1
                    failures += verdicts(role, side_name, route, call, response, may, other)
                if not may:
                    break  # a refused role gets 403 whatever it targets
    assert not failures, "\n".join(failures)
    scoped = {f"{m} {p}" for m, p in NOT_ESSMS_SCOPED}
    missing = sorted(set(unknown) - scoped)
    assert not missing, (
        "These routes have no own/other sample: add a @case in tests/security/cases.py (or, when the route "
        "involves no ESSMS at all, add it to NOT_ESSMS_SCOPED with the reason): " + ", ".join(missing)
    )
    assert checked >= len(Role) * len(routes)


def verdicts(
    role: Role, side_name: str, route: RouteInfo, call: Call, response: httpx.Response, may: bool, other: Side
) -> list[str]:
    """What is wrong with one answer of the matrix (nothing: an empty list)."""
    method, status = call.method, response.status_code
    label = f"{role} {side_name} {method} {call.url}: {status} {response.text[:160]}"
    if not may:
        return [] if status == 403 else [label + " (expected 403)"]
    failures = []
    if side_name == OWN:
        expected_denied = (method, route.path) == ("POST", "/organismes")  # only unrestricted administrators
        if (expected_denied and status != 403) or (not expected_denied and not 200 <= status < 300):
            failures.append(label + " (expected success)")
        if any(hidden in response.text for hidden in call.hidden):
            failures.append(label + " (shows the other ESSMS)")
        listed = route.path in {"/usagers", "/essms"} and method == "GET"
        if listed and any(hidden in response.text for hidden in (other.usager["id"], other.essms["id"])):
            failures.append(label + " (shows the other ESSMS)")
        return failures
    if route.requirement is not None and route.requirement.permission is None:
        return []  # "who am I": no ESSMS involved
    if route.path in {"/usagers", "/essms", "/organismes", "/accounts", "/api-tokens"} and method == "GET":
        if other.usager["id"] in response.text or other.essms["id"] in response.text:
            failures.append(label + " (shows the other ESSMS)")
        return failures
    sent = call.url + repr(call.kwargs)
    listing = call.listing or (method == "GET" and not route.params and call.hidden)
    if listing:
        # A list filtered on the other ESSMS: refused, or empty of its records.
        if status not in {200, 403, 404, 422}:
            failures.append(label + " (expected 200, 403, 404 or 422)")
        if status == 200 and call.empty and _items(response):
            failures.append(label + " (lists records of the other ESSMS)")
        if any(hidden in response.text and hidden not in sent for hidden in call.hidden):
            failures.append(label + " (shows the other ESSMS)")
        return failures
    if method == "GET" and route.path in {"/contacts", "/protection-measures", "/stays", "/professionals"}:
        return []  # lists: covered by the own side's check
    if status not in {403, 404, 422}:
        failures.append(label + " (expected 403, 404 or 422)")
    for hidden in (other.usager["id"], other.essms["id"], *call.hidden):
        if hidden in response.text and hidden not in sent:
            failures.append(label + " (leaks an identifier of the other ESSMS)")
    return failures
