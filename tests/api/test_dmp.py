"""DMP status, block/unblock, send now and the dashboard over REST."""

from __future__ import annotations

import httpx
import pytest

from app.domain.access import Role
from tests.api import test_documents
from tests.api.test_documents import _generate
from tests.conftest import ClientAs

pytestmark = pytest.mark.usefixtures("backend")
edge = test_documents.edge


async def test_status_block_unblock_send_and_dashboard(client: httpx.AsyncClient, edge: dict[str, str]) -> None:
    doc = (await _generate(client, edge["E-1"])).json()
    status = (await client.get(f"/documents/{doc['id']}/dmp")).json()
    assert status["status"] == "queued" and status["qualified_ins"] is True
    blocked = await client.post(f"/documents/{doc['id']}/dmp/block")
    assert blocked.status_code == 200 and blocked.json()["status"] == "blocked"
    again = await client.post(f"/documents/{doc['id']}/dmp/send")
    assert again.status_code == 409 and again.json()["errors"][0]["rule"] == "dmp-send-queued-or-failed"
    assert (await client.post(f"/documents/{doc['id']}/dmp/unblock")).json()["status"] == "queued"
    recup = (await _generate(client, edge["E-3"])).json()
    assert (await client.get(f"/documents/{recup['id']}/dmp")).json()["reason"] == "identity-not-qualified"
    assert (await client.post(f"/documents/{recup['id']}/dmp/block")).status_code == 200
    refused = await client.post(f"/documents/{recup['id']}/dmp/unblock")
    assert refused.status_code == 409  # never queued for a non-qualified identity
    board = (await client.get("/dmp/dashboard")).json()
    assert board["by_status"] == {"queued": 1, "blocked": 1}
    assert board["by_type"]["80788-3"] == {"queued": 1, "blocked": 1}
    assert (await client.get("/documents/00000000-0000-0000-0000-000000000000/dmp")).status_code == 404
    assert (await client.get("/dmp/dashboard", params={"since": "not-a-date"})).status_code == 422


async def test_blocking_needs_the_permission(
    client: httpx.AsyncClient, client_as: ClientAs, edge: dict[str, str]
) -> None:
    doc = (await _generate(client, edge["E-1"])).json()
    essms = doc["essms_id"]
    soignant = await client_as(Role.SOIGNANT, essms)
    assert (await soignant.post(f"/documents/{doc['id']}/dmp/block")).status_code == 403
    assert (await soignant.post(f"/documents/{doc['id']}/dmp/send")).status_code == 200
