"""Bulk inserts on PostgreSQL in one prepared statement, whatever the number of rows.

SQLAlchemy's multi-row INSERT renders one statement per batch size (so the driver prepares a new one for
each size) and passes every value through its bind processing. The audit trail is appended with every read
(bench/bench_reads.py), so there the rows go as typed arrays unnested by the server: one statement, encoded
by asyncpg itself.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Enum, String, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


def _array_type(table: Table, column: str) -> str:
    """The element type of the column's array parameter: the column's own type, so that the server needs no
    cast to store it (text for strings: a length or a collation has no place in a cast)."""
    kind = table.c[column].type
    if isinstance(kind.dialect_impl(_DIALECT), String) and not isinstance(kind, Enum):
        return "text"
    return kind.compile(dialect=_DIALECT)


def insert_select(table: Table, columns: tuple[str, ...], first: int = 1) -> str:
    """``INSERT INTO table (columns) SELECT ... FROM unnest($first::type[], ...)`` keeping the arrays' order: one
    array parameter per column, numbered from ``first`` (so that several inserts can share one statement)."""
    quote = _DIALECT.identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    # The unnested columns get names of their own: a column called like the ordinality cannot clash with it.
    slots = [f"c{i}" for i in range(1, len(columns) + 1)]
    arrays = ", ".join(f"${i}::{_array_type(table, c)}[]" for i, c in enumerate(columns, first))
    return (
        f"INSERT INTO {_DIALECT.identifier_preparer.format_table(table)} ({names}) SELECT {', '.join(slots)} "
        f"FROM unnest({arrays}) WITH ORDINALITY AS r({', '.join(slots)}, n) ORDER BY n"
    )


def columns_of(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> list[list[Any]]:
    """The array parameters of ``insert_select``: one list per column."""
    return [[row[c] for row in rows] for c in columns]


@functools.cache
def _statement(table: Table, columns: tuple[str, ...], returning: str | None) -> str:
    sql = insert_select(table, columns)
    return f"{sql} RETURNING {_DIALECT.identifier_preparer.quote(returning)}" if returning else sql


async def insert_rows(
    connection: AsyncConnection, table: Table, rows: list[dict[str, Any]], returning: str | None = None
) -> list[Any]:
    """Insert ``rows`` (dicts with the same keys) in the connection's transaction; the ``returning`` column of
    each inserted row, in no guaranteed order. Values go to asyncpg as they are (JSON columns take JSON text)."""
    if not rows:
        return []
    columns = tuple(rows[0])
    statement = _statement(table, columns, returning)
    arrays = columns_of(rows, columns)
    driver: Any = (await connection.get_raw_connection()).driver_connection
    if returning is None:
        await driver.execute(statement, *arrays)
        return []
    return [record[0] for record in await driver.fetch(statement, *arrays)]
