"""The demo data set loads through the services, and loading it twice changes nothing."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select

from app.services.fixtures import load
from app.store.db import Database
from app.store.tables import Plan, ResourceHistory, Usager

DEMO = Path(__file__).resolve().parents[2] / "fixtures" / "demo.json"

pytestmark = pytest.mark.usefixtures("backend")


async def _count(database: Database, table: object) -> int:
    async with database.read() as connection:
        return int(await connection.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


async def test_demo_data_loads_once(clean_database: Database) -> None:
    data = orjson.loads(DEMO.read_bytes())
    async with clean_database.write() as connection:
        first = await load(connection, data)
    assert first.created["usager"] == len(data["usagers"]) >= 150
    assert first.created["stay"] == len(data["stays"])
    for kind in ("evaluation", "plan", "transmission"):
        assert first.created[kind] == len(data[f"{kind}s"]) > 100
    assert await _count(clean_database, Plan) == sum(len(p["versions"]) for p in data["plans"])
    async with clean_database.read() as connection:
        statuses = set((await connection.scalars(select(Plan.status))).all())
        shown = (await connection.scalars(select(Usager.body))).all()
    assert {"draft", "submitted", "validated", "in_progress", "revised", "closed"} <= statuses
    girs = {orjson.loads(body)["gir_actuel"]["gir"] for body in shown if orjson.loads(body).get("gir_actuel")}
    assert girs == {1, 2, 3, 4, 5, 6}
    history_rows = await _count(clean_database, ResourceHistory)

    async with clean_database.write() as connection:
        second = await load(connection, data)
    assert sum(second.created.values()) == 0
    assert second.kept["usager"] == len(data["usagers"])
    assert await _count(clean_database, Usager) == len(data["usagers"])
    assert await _count(clean_database, ResourceHistory) == history_rows
