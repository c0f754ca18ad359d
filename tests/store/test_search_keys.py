"""The trait-search keys: kept per engine (tsvector on PostgreSQL, token rows on SQLite) and carried across
the migration that moved them, both ways."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa

from app.api.schemas import UsagerFilters
from app.domain.access import SYSTEM
from app.domain.identity import UsagerIdentityInput
from app.services.usagers import UsagerService, search_tokens
from app.store.db import Database, create_engine
from app.store.migrate import downgrade, upgrade_async
from tests.conftest import empty_database

HELENE = {
    "nom_naissance": "D'ARGENT-LÉVÊQUE",
    "nom_utilise": "MARIE",
    "premier_prenom": "Hélène",
    "prenoms_naissance": ["Hélène", "Marie"],
    "sexe": "F",
    "date_naissance": "1938-04-02",
}


async def _search(database: Database, **filters: str) -> list[str]:
    async with database.read() as connection:
        service = UsagerService(connection, SYSTEM)
        page = await service.list_page(where=service.conditions(UsagerFilters(**filters)), after=None, limit=10)
    return [str(row.id) for row in page.rows]


async def _stored_tokens(database: Database) -> set[tuple[str, str]]:
    async with database.read() as connection:
        rows = await connection.execute(sa.text("SELECT kind, token FROM usager_search_token"))
        return {(r.kind, r.token) for r in rows}


async def test_keys_survive_the_migration_down_and_up(backend: str, tmp_path: Path) -> None:
    async with empty_database(backend, tmp_path) as url:
        await upgrade_async(url)
        database = Database(create_engine(url))
        try:
            async with database.write() as connection:
                service = UsagerService(connection, SYSTEM)
                row = await service.create(UsagerIdentityInput.model_validate(HELENE))
                record = await service.get_record(row.id)
            helene = str(row.id)
            # "marie" is both a used name (weight A) and a birth first name (weight B): each kind answers alone.
            assert await _search(database, q="marie helene") == [helene]
            assert await _search(database, nom="mari") == [helene]
            assert await _search(database, prenom="mar", nom="dargentlev") == [helene]
            assert await _search(database, prenom="leveque") == []
            tokens_at_head = await _stored_tokens(database)
            assert tokens_at_head == (set() if backend == "postgresql" else search_tokens(record[1]))

            await database.dispose()
            await asyncio.to_thread(downgrade, url, "0008_dmp_feed")
            database = Database(create_engine(url))
            assert await _stored_tokens(database) == search_tokens(record[1])

            await database.dispose()
            await upgrade_async(url)
            database = Database(create_engine(url))
            assert await _search(database, q="helene dargent leveque") == [helene]
            assert await _search(database, prenom="marie") == [helene]
            assert await _search(database, prenom="leveque") == []
        finally:
            await database.dispose()


async def test_a_renamed_usager_is_found_by_the_new_name_only(clean_database: Database) -> None:
    async with clean_database.write() as connection:
        service = UsagerService(connection, SYSTEM)
        row = await service.create(UsagerIdentityInput.model_validate(HELENE))
        await service.patch(row.id, row.version, {"nom_utilise": "BERNARD"})
    assert await _search(clean_database, nom="bernard") == [str(row.id)]
    assert await _search(clean_database, q="marie hel") == [str(row.id)]  # still a birth first name
    assert await _search(clean_database, nom="marie") == []
