"""Test set-up: every database test runs on SQLite, then again on PostgreSQL when a server is reachable.

The schema is built by the migrations; each run gets a fresh database, dropped at the end; tables are
emptied after each test.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.config import Settings
from app.interop.cda import shared_validator
from app.interop.cda.validation import CdaValidator
from app.main import create_app
from app.store.db import Database, create_engine
from app.store.migrate import upgrade_async
from app.store.tables import metadata

POSTGRES_URL = os.environ.get("DUI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def _postgres_reachable() -> bool:
    async def probe() -> bool:
        try:
            connection = await asyncpg.connect(POSTGRES_URL, timeout=3)
        except (TimeoutError, OSError, asyncpg.PostgresError):
            return False
        await connection.close()
        return True

    return asyncio.run(probe())


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql" and not _postgres_reachable():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and is not reachable at {POSTGRES_URL}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}")
    return str(request.param)


@asynccontextmanager
async def empty_database(backend: str, folder: Path) -> AsyncIterator[str]:
    """A new, empty database (no schema) on ``backend``, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / f'dui-{uuid.uuid4().hex[:8]}.sqlite3'}"
        return
    name = f"dui_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    server = make_url(POSTGRES_URL)
    try:
        yield server.set(drivername="postgresql+asyncpg", database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="session")
async def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with empty_database(backend, tmp_path_factory.mktemp("db")) as url:
        await upgrade_async(url)
        yield url


@pytest.fixture(scope="session")
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(create_engine(database_url, pool_size=10))
    yield db
    await db.dispose()


@pytest.fixture
async def clean_database(database: Database) -> AsyncIterator[Database]:
    yield database
    async with database.write() as connection:
        for table in reversed(metadata.sorted_tables):
            await connection.execute(text(f"DELETE FROM {table.name}"))


@pytest.fixture(scope="session")
def cda_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cda-cache")


@pytest.fixture
def settings(database_url: str, cda_cache_dir: Path) -> Settings:
    return Settings(database_url=database_url, cda_cache_dir=cda_cache_dir, cda_warm_on_start=False)


@pytest.fixture
async def client(settings: Settings, clean_database: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, database=clean_database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://dui.test") as http:
        yield http


@pytest.fixture(scope="session")
def shared_specs() -> Iterator[Path]:
    path = SHARED / "specs"
    if not path.is_dir():
        pytest.skip("the shared reference folder is not beside the project")
    yield path


@pytest.fixture(scope="session")
def cda_validator(cda_cache_dir: Path) -> Iterator[CdaValidator]:
    """One validator per test session; its schematrons are compiled once, into a temporary cache."""
    yield shared_validator(cda_cache_dir)
