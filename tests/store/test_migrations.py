"""The migrations build the same schema as the tables declare, and go down and up again."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from app.store.db import create_engine
from app.store.migrate import downgrade, upgrade_async
from app.store.tables import metadata
from tests.conftest import empty_database


async def _differences(url: str) -> list[object]:
    engine = create_engine(url)

    def diff(connection: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))

    async with engine.connect() as connection:
        result = await connection.run_sync(diff)
    await engine.dispose()
    return result


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    await engine.dispose()
    return names - {"alembic_version"}


async def test_schema_matches_the_tables(database_url: str) -> None:
    assert await _differences(database_url) == []


async def test_upgrade_downgrade_upgrade(backend: str, tmp_path: Path) -> None:
    async with empty_database(backend, tmp_path) as url:
        await upgrade_async(url)
        assert await _tables(url) == {t.name for t in metadata.sorted_tables}
        await asyncio.to_thread(downgrade, url, "base")
        assert await _tables(url) == set()
        await upgrade_async(url)
        assert await _differences(url) == []
