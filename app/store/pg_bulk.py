"""Bulk inserts on PostgreSQL in one prepared statement, whatever the number of rows.

SQLAlchemy's multi-row INSERT renders one statement per batch size (so the driver prepares a new one for
each size) and passes every value through its bind processing. The audit trail is appended with every read
(bench/bench_reads.py), so there the rows go as typed arrays unnested by the server: one statement, encoded
by asyncpg itself.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, Table, Uuid
from sqlalchemy.ext.asyncio import AsyncConnection

_ARRAY_TYPES: tuple[tuple[type[Any], str], ...] = (
    (BigInteger, "bigint"),
    (Integer, "integer"),
    (Boolean, "boolean"),
    (Uuid, "uuid"),
    (DateTime, "timestamptz"),
)


def _array_type(table: Table, column: str) -> str:
    kind = table.c[column].type
    return next((name for base, name in _ARRAY_TYPES if isinstance(kind, base)), "text")


@functools.cache
def _statement(table: Table, columns: tuple[str, ...], returning: str | None) -> str:
    names = ", ".join(columns)
    arrays = ", ".join(f"${i}::{_array_type(table, c)}[]" for i, c in enumerate(columns, 1))
    sql = (
        f"INSERT INTO {table.name} ({names}) SELECT {names} FROM unnest({arrays}) "
        f"WITH ORDINALITY AS r({names}, n) ORDER BY n"
    )
    return f"{sql} RETURNING {returning}" if returning else sql


async def insert_rows(
    connection: AsyncConnection, table: Table, rows: list[dict[str, Any]], returning: str | None = None
) -> list[Any]:
    """Insert ``rows`` (dicts with the same keys) in the connection's transaction; the ``returning`` column of
    each inserted row, in no guaranteed order."""
    if not rows:
        return []
    columns = tuple(rows[0])
    statement = _statement(table, columns, returning)
    arrays = [[row[c] for row in rows] for c in columns]
    driver: Any = (await connection.get_raw_connection()).driver_connection
    if returning is None:
        await driver.execute(statement, *arrays)
        return []
    return [record[0] for record in await driver.fetch(statement, *arrays)]
