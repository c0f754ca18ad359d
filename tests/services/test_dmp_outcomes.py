"""The DMP worker's outcome rows: written together (group commit), each failure kept to its own row."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest

from app.services.dmp import _Outcomes
from app.store.db import Database
from app.store.dmp import DmpRepository


class Transactions:
    """A stand-in for the database: the changes of each write transaction, kept when it commits."""

    def __init__(self) -> None:
        self.committed: list[list[str]] = []
        self.current: list[str] = []

    @asynccontextmanager
    async def write(self) -> AsyncIterator[object]:
        self.current = []
        yield object()
        await asyncio.sleep(0)  # the commit takes a turn of the loop
        self.committed.append(self.current)


def change(database: Transactions, name: str, *, fails: bool = False) -> Any:
    async def apply(_: DmpRepository) -> None:
        if fails:
            raise RuntimeError(f"{name} refused")
        database.current.append(name)

    return apply


async def test_outcomes_in_flight_share_one_transaction() -> None:
    database = Transactions()
    outcomes = _Outcomes(cast(Database, database))
    await asyncio.gather(*(outcomes.write(change(database, name)) for name in "abc"))
    assert database.committed == [["a", "b", "c"]]
    await outcomes.write(change(database, "d"))  # each caller returns once its own outcome is committed
    assert database.committed[-1] == ["d"]


async def test_a_failing_outcome_fails_alone() -> None:
    database = Transactions()
    outcomes = _Outcomes(cast(Database, database))
    results = await asyncio.gather(
        outcomes.write(change(database, "a")),
        outcomes.write(change(database, "b", fails=True)),
        outcomes.write(change(database, "c")),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], RuntimeError)
    assert database.committed == [["a"], ["c"]]
    with pytest.raises(RuntimeError, match="refused"):
        await outcomes.write(change(database, "e", fails=True))
