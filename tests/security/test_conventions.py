"""What a router added by another package gets: authentication by default, deny by default when it declares
nothing, one audit event per request when it declares usager data."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import select

from app.api.deps import CurrentPrincipal
from app.api.security import note_usagers, requires, route_table
from app.domain.access import Permission, Role
from app.store.db import Database
from app.store.security import AUDIT
from tests import factories
from tests.conftest import ClientAs, http_client

pytestmark = pytest.mark.usefixtures("backend")


def _extra() -> APIRouter:
    router = APIRouter()

    @router.get("/care-notes/{usager_id}", dependencies=[requires(Permission.PLAN_WRITE, usager_data=True)])
    async def read_plan(usager_id: uuid.UUID, principal: CurrentPrincipal) -> dict[str, str]:
        return {"usager_id": str(usager_id), "by": principal.actor}

    @router.get("/exports/everything")
    async def undeclared(principal: CurrentPrincipal) -> dict[str, str]:
        return {"by": principal.actor}

    return router


async def test_a_new_router_is_guarded_and_audited(
    app: FastAPI, client: httpx.AsyncClient, client_as: ClientAs, clean_database: Database
) -> None:
    app.include_router(_extra())
    table = {(r.method, r.path): r for r in route_table(app.routes)}
    assert table[("GET", "/exports/everything")].requirement is None
    home = await factories.essms(client)
    lecture, soignant = await client_as(Role.LECTURE, home["id"]), await client_as(Role.SOIGNANT, home["id"])
    usager_id = str(uuid.uuid4())
    async with http_client(app) as anonymous:
        assert (await anonymous.get(f"/care-notes/{usager_id}")).status_code == 401
        assert (await anonymous.get("/exports/everything")).status_code == 401
    assert (await lecture.get(f"/care-notes/{usager_id}")).status_code == 403
    assert (await soignant.get(f"/care-notes/{usager_id}")).status_code == 200
    assert (await soignant.get("/exports/everything")).status_code == 403  # declares nothing: superusers only
    assert (await client.get("/exports/everything")).json() == {"by": "test-admin"}
    await app.state.audit.flush()  # whatever a concurrent append left to the background
    async with clean_database.read() as connection:
        statement = select(AUDIT.c.operation, AUDIT.c.outcome, AUDIT.c.usager_ids).order_by(AUDIT.c.id)
        rows = (await connection.execute(statement)).all()
    plans = [r for r in rows if r.operation == "read_plan"]
    assert [r.outcome for r in plans] == [401, 403, 200] and usager_id in plans[-1].usager_ids
    assert [r.outcome for r in rows if r.operation == "undeclared"] == [401, 403, 200]
    assert note_usagers  # services may name more usagers through note_usagers(request, ids)
