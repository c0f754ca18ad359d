"""The identity migration computes the duplicate keys of the usagers already stored."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import orjson
import sqlalchemy as sa

from app.domain.ins import duplicate_key
from app.store.db import create_engine
from app.store.migrate import upgrade
from tests.conftest import empty_database

USAGER_0001 = sa.table(
    "usager",
    sa.column("id", sa.Uuid()),
    sa.column("version", sa.Integer()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
    sa.column("body", sa.Text()),
    sa.column("name_key", sa.String()),
    sa.column("date_naissance", sa.Date()),
    sa.column("sexe", sa.String()),
    sa.column("identity_status", sa.String()),
)


async def test_existing_usagers_get_their_duplicate_key(backend: str, tmp_path: Path) -> None:
    async with empty_database(backend, tmp_path) as url:
        await asyncio.to_thread(upgrade, url, "0001")
        engine = create_engine(url)
        body = {"nom_naissance": "D'Argent", "premier_prenom": "Hélène", "date_naissance": "1940-03-12", "sexe": "F"}
        now = datetime(2026, 1, 1, tzinfo=UTC)
        async with engine.begin() as connection:
            await connection.execute(
                sa.insert(USAGER_0001).values(
                    id=uuid.uuid4(),
                    version=1,
                    created_at=now,
                    updated_at=now,
                    body=orjson.dumps(body).decode(),
                    name_key="dargent helene",
                    date_naissance=date(1940, 3, 12),
                    sexe="F",
                    identity_status="PROV",
                )
            )
        await asyncio.to_thread(upgrade, url, "head")
        async with engine.connect() as connection:
            keys = (await connection.execute(sa.text("SELECT key FROM usager_duplicate_key"))).scalars().all()
        await engine.dispose()
    assert keys == [duplicate_key("DARGENT", "helene", date(1940, 3, 12), "F")]
