"""Engines for the embedded SQLite default and PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _prepare_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so writes can BEGIN IMMEDIATE (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return
        # A deferred transaction that reads then writes fails at once with SQLITE_BUSY when another
        # writer is active; taking the write lock up front lets busy_timeout queue writers instead.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str, *, pool_size: int = 20, echo: bool = False) -> AsyncEngine:
    """An async engine for ``url``; SQLite gets its folder created and safe concurrency settings."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=echo)
        _prepare_sqlite(engine)
        return engine
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=0,
        pool_pre_ping=False,
        connect_args={"server_settings": {"application_name": "dui", "jit": "off"}},
    )


class _HeldReaders:
    """Autocommit connections kept checked out of the engine's pool and lent to reads in turn.

    A read by primary key costs less than SQLAlchemy's checkout and return of a pooled connection (the
    pool's bookkeeping, a greenlet, the isolation level set and reset; measured in bench/bench_reads.py), so
    on PostgreSQL up to ``limit`` connections stay out of the pool for reads; writes keep the rest. A
    connection that failed is rolled back, or closed and replaced when it is no longer usable.
    """

    def __init__(self, reader: AsyncEngine, limit: int) -> None:
        self._reader = reader
        self.limit = limit
        self._held: list[AsyncConnection] = []
        self._idle: collections.deque[AsyncConnection] = collections.deque()
        # One slot per connection lent or being opened: a slot freed by a connection that was dropped lets
        # a waiting read open its replacement (waiting for an idle connection would wait for ever).
        self._slots = asyncio.Semaphore(limit)

    async def take(self) -> AsyncConnection:
        await self._slots.acquire()
        try:
            if self._idle:
                return self._idle.popleft()
            connection = await self._reader.connect()
        except BaseException:
            self._slots.release()
            raise
        self._held.append(connection)
        return connection

    async def give_back(self, connection: AsyncConnection) -> None:
        try:
            usable = connection in self._held and not (connection.invalidated or connection.closed)
            if usable and connection.in_transaction():  # SQLAlchemy's own autobegun unit, nothing on the server
                try:
                    await connection.rollback()
                except Exception:
                    usable = False
            if usable:
                self._idle.append(connection)
                return
            if connection in self._held:
                self._held.remove(connection)
            with contextlib.suppress(Exception):
                await connection.close()
        finally:
            self._slots.release()

    async def close(self) -> None:
        """Close every held connection; those lent at the time are closed when given back."""
        idle = list(self._idle)
        self._held, self._idle = [], collections.deque()
        for connection in idle:
            await connection.close()


class Database:
    """One engine; write units of work in a transaction, reads in autocommit (no BEGIN/ROLLBACK trips)."""

    def __init__(self, engine: AsyncEngine, held_readers: int | None = None) -> None:
        """``held_readers``: pooled connections kept for reads (default: half the pool on PostgreSQL, none on
        SQLite, whose connections are cheap to check out)."""
        self.engine = engine
        self._reader = engine.execution_options(isolation_level="AUTOCOMMIT")
        if held_readers is None:
            size = getattr(engine.pool, "size", lambda: 0)()
            held_readers = size // 2 if engine.dialect.name == "postgresql" else 0
        self._held = _HeldReaders(self._reader, held_readers) if held_readers > 0 else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.begin() as connection:
            yield connection

    def read(self) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
        return self.autocommit()

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """Each statement its own transaction: reads, and writes made of one statement."""
        if self._held is None:
            async with self._reader.connect() as connection:
                yield connection
            return
        connection = await self._held.take()
        try:
            yield connection
        finally:
            await self._held.give_back(connection)

    async def dispose(self) -> None:
        if self._held is not None:
            await self._held.close()
        await self.engine.dispose()
