"""Test set-up: every database test runs on SQLite, then again on PostgreSQL when a server is reachable.

The schema is built by the migrations; each run gets a fresh database, dropped at the end; tables are
emptied after each test.
"""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.config import Settings
from app.domain.access import SYSTEM, Permission, Role
from app.interop.cda import shared_validator
from app.interop.cda.validation import CdaValidator
from app.main import create_app
from app.services.accounts import AccountService, MembershipSpec
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


TEST_DOCUMENT_KEY = base64.b64encode(b"k" * 32).decode()


@pytest.fixture(scope="session")
def cda_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cda-cache")


@pytest.fixture
def settings(database_url: str, tmp_path: Path, cda_cache_dir: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        secret_key=SecretStr("test-signing-key-" + "x" * 32),
        document_keys={"test-1": SecretStr(TEST_DOCUMENT_KEY)},
        cda_cache_dir=cda_cache_dir,
        cda_warm_on_start=False,
    )


@pytest.fixture
async def app(settings: Settings, clean_database: Database) -> AsyncIterator[FastAPI]:
    application = create_app(settings, database=clean_database)
    yield application
    # The ASGI transport runs no lifespan: close what the app opened lazily (the INSi client's pool).
    if getattr(application.state, "insi_client", None) is not None:
        await application.state.insi_client.aclose()


async def issue_token(
    database: Database,
    username: str,
    *,
    superuser: bool = False,
    memberships: list[MembershipSpec] | None = None,
    permissions: list[Permission] | None = None,
) -> str:
    """An API token for a new account with these roles (a superuser when asked)."""
    async with database.write() as connection:
        accounts = AccountService(connection, SYSTEM)
        view = await accounts.create(
            username=username,
            password=None,
            idnps=None,
            professional_id=None,
            superuser=superuser,
            memberships=memberships or [],
        )
        issued = await accounts.issue_token(account_id=view.account.id, name="tests", permissions=permissions, days=1)
    return issued.token


def http_client(app: FastAPI, token: str | None = None) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(transport=transport, base_url="http://dui.test", headers=headers)


@pytest.fixture
async def client(app: FastAPI, clean_database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """A client authenticated as a superuser (every permission, every ESSMS)."""
    token = await issue_token(clean_database, "test-admin", superuser=True)
    async with http_client(app, token) as http:
        yield http


@pytest.fixture
async def anonymous_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(app) as http:
        yield http


ClientAs = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def client_as(app: FastAPI, clean_database: Database) -> AsyncIterator[ClientAs]:
    """``await client_as(Role.SOIGNANT, essms_id, ...)``: a client whose account holds that role in those ESSMS."""
    opened: list[httpx.AsyncClient] = []

    async def make(
        role: Role, *essms_ids: str | uuid.UUID, permissions: list[Permission] | None = None
    ) -> httpx.AsyncClient:
        memberships = [MembershipSpec(role, essms_id=uuid.UUID(str(e))) for e in essms_ids]
        token = await issue_token(
            clean_database, f"{role.value}-{uuid.uuid4().hex[:8]}", memberships=memberships, permissions=permissions
        )
        http = http_client(app, token)
        opened.append(http)
        return http

    yield make
    for http in opened:
        await http.aclose()


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
