"""Read connections held out of the pool (PostgreSQL): lent in turn, replaced when the server broke them,
usable after a failed statement, never more than the number held, all closed by dispose."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from app.store.db import Database, create_engine

HELD = 2


@pytest.fixture
def pg_url(backend: str, database_url: str) -> str:
    if backend != "postgresql":
        pytest.skip("connections are held for reads on PostgreSQL only")
    return database_url


@pytest.fixture
async def admin(pg_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection of its own to the test database, to watch and break the others."""
    url = make_url(pg_url).set(drivername="postgresql")
    connection = await asyncpg.connect(url.render_as_string(hide_password=False))
    yield connection
    await connection.close()


@pytest.fixture
async def readers(pg_url: str) -> AsyncIterator[Database]:
    database = Database(create_engine(pg_url, pool_size=6), held_readers=HELD)
    yield database
    await database.dispose()


async def _pid(database: Database) -> int:
    async with database.read() as connection:
        return int(await connection.scalar(text("SELECT pg_backend_pid()")))


async def _alive(admin: asyncpg.Connection, pids: set[int]) -> set[int]:
    rows = await admin.fetch("SELECT pid FROM pg_stat_activity WHERE pid = ANY($1::int[])", list(pids))
    return {r["pid"] for r in rows}


async def _gone(admin: asyncpg.Connection, pids: set[int]) -> set[int]:
    """The pids still alive once the server had time to end the others' backends."""
    for _ in range(100):
        alive = await _alive(admin, pids)
        if not alive:
            return alive
        await asyncio.sleep(0.05)
    return alive


async def test_the_held_connections_are_lent_in_turn_and_kept(readers: Database, admin: asyncpg.Connection) -> None:
    first = await _pid(readers)
    assert [await _pid(readers) for _ in range(4)] == [first] * 4  # one at a time: the same connection

    async def overlapping() -> int:
        async with readers.read() as connection:
            pid = int(await connection.scalar(text("SELECT pg_backend_pid()")))
            await asyncio.sleep(0.05)
            return pid

    both = set(await asyncio.gather(overlapping(), overlapping()))
    assert len(both) == HELD and first in both
    # Given back: the next reads take the same connections again, in the order they came back.
    assert set(await asyncio.gather(overlapping(), overlapping())) == both
    async with readers.read() as connection:
        pid = int(await connection.scalar(text("SELECT pg_backend_pid()")))
        # Autocommit: between two statements of a read, no transaction stays open on the server.
        assert await admin.fetchval("SELECT state FROM pg_stat_activity WHERE pid = $1", pid) == "idle"


async def test_a_connection_broken_by_the_server_is_replaced(readers: Database, admin: asyncpg.Connection) -> None:
    broken = await _pid(readers)
    await admin.execute("SELECT pg_terminate_backend($1)", broken)
    assert await _gone(admin, {broken}) == set()
    with pytest.raises(DBAPIError):
        await _pid(readers)
    replacement = await _pid(readers)
    assert replacement != broken
    assert [await _pid(readers) for _ in range(3)] == [replacement] * 3


async def test_a_read_waiting_for_a_broken_connection_gets_a_replacement(
    readers: Database, admin: asyncpg.Connection
) -> None:
    lent = asyncio.Event()  # every held connection is lent
    pids: list[int] = []

    async def holder() -> None:
        async with readers.read() as connection:
            pids.append(int(await connection.scalar(text("SELECT pg_backend_pid()"))))
            if len(pids) == HELD:
                lent.set()
            await asyncio.sleep(0.3)
            await connection.execute(text("SELECT 1"))

    async def holders() -> list[BaseException | None]:
        return await asyncio.gather(*(holder() for _ in range(HELD)), return_exceptions=True)

    every_one = asyncio.create_task(holders())
    await lent.wait()
    waiting = asyncio.create_task(_pid(readers))  # every held connection is lent: this read waits
    await asyncio.sleep(0.05)
    assert not waiting.done()
    for pid in pids:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
    outcomes = await every_one
    assert all(isinstance(o, DBAPIError) for o in outcomes), outcomes
    assert await asyncio.wait_for(waiting, 5) not in pids


async def test_a_failed_statement_leaves_the_connection_usable(readers: Database) -> None:
    pid = await _pid(readers)
    with pytest.raises(DBAPIError, match="division by zero"):
        async with readers.read() as connection:
            await connection.execute(text("SELECT 1 / 0"))
    async with readers.read() as connection:
        assert int(await connection.scalar(text("SELECT pg_backend_pid()"))) == pid
        assert await connection.scalar(text("SELECT 42")) == 42
    with pytest.raises(RuntimeError):
        async with readers.read() as connection:
            await connection.execute(text("SELECT 1"))
            raise RuntimeError("the endpoint failed after its read")
    assert await _pid(readers) == pid


async def test_a_cancelled_read_gives_its_connection_back(readers: Database) -> None:
    async def slow() -> None:
        async with readers.read() as connection:
            await connection.execute(text("SELECT pg_sleep(5)"))

    for _ in range(HELD + 1):
        task = asyncio.create_task(slow())
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    results = await asyncio.wait_for(asyncio.gather(*(_pid(readers) for _ in range(HELD * 2))), 5)
    assert len(set(results)) <= HELD


async def test_more_reads_than_held_wait_instead_of_opening_more(
    readers: Database, admin: asyncpg.Connection, pg_url: str
) -> None:
    name = make_url(pg_url).database
    watching = asyncio.Lock()  # one query at a time on the watching connection

    async def backends() -> int:
        async with watching:
            return int(
                await admin.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'dui'", name
                )
            )

    before = await backends()
    counts: list[int] = []

    async def read() -> int:
        async with readers.read() as connection:
            pid = int(await connection.scalar(text("SELECT pg_backend_pid() FROM pg_sleep(0.05)")))
            counts.append(await backends())
            return pid

    pids = await asyncio.gather(*(read() for _ in range(HELD * 4)))
    assert len(set(pids)) == HELD
    assert max(counts) - before <= HELD
    # A write still finds a pooled connection of its own.
    async with readers.write() as connection:
        assert int(await connection.scalar(text("SELECT pg_backend_pid()"))) not in pids


async def test_dispose_closes_every_held_connection(pg_url: str, admin: asyncpg.Connection) -> None:
    database = Database(create_engine(pg_url, pool_size=6), held_readers=HELD)

    async def read() -> int:
        async with database.read() as connection:
            pid = int(await connection.scalar(text("SELECT pg_backend_pid()")))
            await asyncio.sleep(0.05)
            return pid

    pids = set(await asyncio.gather(*(read() for _ in range(HELD))))
    assert len(pids) == HELD and await _alive(admin, pids) == pids
    await database.dispose()
    assert await _gone(admin, pids) == set()
    # Like its engine, the database can be used again after dispose: new connections are opened.
    again = await _pid(database)
    assert again not in pids
    await database.dispose()
    assert await _gone(admin, {again}) == set()
