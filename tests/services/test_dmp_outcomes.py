"""The DMP worker's outcome rows: written together (group commit), each failure kept to its own row."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, select

from app.services.dmp import _Outcomes
from app.store.db import Database
from app.store.dmp import DmpRepository
from app.store.identity import TRACE

pytestmark = pytest.mark.usefixtures("backend")

USAGER = uuid.uuid4()


def change(transactions: list[Any], name: str, *, fails: bool = False) -> Any:
    """An outcome written as a trace row named ``name``; notes which transaction (connection) it ran in."""

    async def apply(repository: DmpRepository) -> None:
        transactions.append(repository.connection)  # kept alive: one object per transaction
        row = {"usager_id": USAGER, "actor": "worker", "at": datetime.now(UTC), "action": name, "detail": "{}"}
        await repository.connection.execute(insert(TRACE).values(**row))
        if fails:
            raise RuntimeError(f"{name} refused")

    return apply


async def _committed(database: Database) -> list[str]:
    async with database.read() as connection:
        rows = await connection.execute(select(TRACE.c.action).where(TRACE.c.usager_id == USAGER).order_by(TRACE.c.id))
        return [r.action for r in rows]


async def test_outcomes_in_flight_share_one_transaction(clean_database: Database) -> None:
    outcomes = _Outcomes(clean_database)
    transactions: list[Any] = []
    await asyncio.gather(*(outcomes.write(change(transactions, name)) for name in "abc"))
    assert all(t is transactions[0] for t in transactions)  # one transaction for the three
    assert await _committed(clean_database) == ["a", "b", "c"]
    await outcomes.write(change(transactions, "d"))  # each caller returns once its own outcome is committed
    assert await _committed(clean_database) == ["a", "b", "c", "d"]


async def test_a_failing_outcome_fails_alone(clean_database: Database) -> None:
    outcomes = _Outcomes(clean_database)
    transactions: list[Any] = []
    results = await asyncio.gather(
        outcomes.write(change(transactions, "a")),
        outcomes.write(change(transactions, "b", fails=True)),
        outcomes.write(change(transactions, "c")),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], RuntimeError)
    # The shared transaction was rolled back, then each outcome written alone: b's row is not kept.
    assert await _committed(clean_database) == ["a", "c"]
    with pytest.raises(RuntimeError, match="refused"):
        await outcomes.write(change(transactions, "e", fails=True))
    assert await _committed(clean_database) == ["a", "c"]
