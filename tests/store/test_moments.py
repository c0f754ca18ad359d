"""Moments (UtcDateTime columns) are stored in UTC and read back aware, with the same instant, on both engines;
a moment given with another offset compares as the instant it is."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, MetaData, Table, Uuid, insert, select

from app.store.db import Database
from app.store.tables import UtcDateTime

PARIS_SUMMER = timezone(timedelta(hours=2))
MOMENTS = Table(
    "test_moments",
    MetaData(),
    Column("id", Uuid, primary_key=True),
    Column("at", UtcDateTime(), nullable=False),
)


@pytest.fixture
async def moments(clean_database: Database) -> AsyncIterator[Database]:
    async with clean_database.write() as connection:
        await connection.run_sync(lambda sync: MOMENTS.create(sync, checkfirst=True))
    yield clean_database
    async with clean_database.write() as connection:
        await connection.run_sync(lambda sync: MOMENTS.drop(sync, checkfirst=True))


async def test_a_moment_comes_back_aware_in_utc(moments: Database) -> None:
    given = datetime(2026, 7, 14, 12, 30, tzinfo=PARIS_SUMMER)
    async with moments.write() as connection:
        await connection.execute(insert(MOMENTS), {"id": uuid.uuid4(), "at": given})
    async with moments.read() as connection:
        read = (await connection.execute(select(MOMENTS.c.at))).scalar_one()
    assert read.utcoffset() == timedelta(0)
    assert read == given
    assert read.isoformat() == "2026-07-14T10:30:00+00:00"


async def test_a_moment_given_with_an_offset_compares_as_its_instant(moments: Database) -> None:
    async with moments.write() as connection:
        await connection.execute(insert(MOMENTS), {"id": uuid.uuid4(), "at": datetime(2026, 7, 14, 10, 0, tzinfo=UTC)})

    async def before(moment: datetime) -> int:
        async with moments.read() as connection:
            return len((await connection.execute(select(MOMENTS.c.id).where(MOMENTS.c.at < moment))).all())

    # 11:30 in Paris is 09:30 UTC: before the stored 10:00 UTC; 12:30 in Paris is after it.
    assert await before(datetime(2026, 7, 14, 11, 30, tzinfo=PARIS_SUMMER)) == 0
    assert await before(datetime(2026, 7, 14, 12, 30, tzinfo=PARIS_SUMMER)) == 1
