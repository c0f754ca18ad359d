"""Conditions as templates built once and values given per query, for the statements run with every request.

Building an SQLAlchemy statement, computing its cache key and going through its execution layer costs about
ten times the SELECT of a trait search on PostgreSQL (0.4 ms against 0.04 ms, bench/bench_reads.py). A
condition given as a `Bound` (a template with named bind parameters, built once, and this query's values)
lets a page's statement be built and compiled once per combination of templates; on PostgreSQL the compiled
SQL goes to the driver with the values in order.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Select, bindparam, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement


@dataclass(frozen=True)
class Bound:
    """A condition template (cached by whoever builds it: its identity is part of the statement's key) and
    the values of its bind parameters for this query."""

    template: ColumnElement[bool]
    values: Mapping[str, Any] = field(default_factory=dict)


Condition = ColumnElement[bool] | Bound


def equal(column: Column[Any], value: Any) -> Bound:
    """``column = value``."""
    return Bound(_equals(column), {_parameter(column): value})


@functools.cache
def _equals(column: Column[Any]) -> ColumnElement[bool]:
    return column == bindparam(_parameter(column), type_=column.type)


def _parameter(column: Column[Any]) -> str:
    return f"{column.table.name}_{column.name}"


def one_of(column: Any, name: str, dialect: str, element_type: Any) -> ColumnElement[bool]:
    """``column`` is one of the list given as ``name``: one array parameter on PostgreSQL (the same SQL for
    any length), an expanding IN list elsewhere."""
    if dialect == "postgresql":
        return column == func.any(bindparam(name, type_=ARRAY(element_type)))  # type: ignore[no-any-return]
    return column.in_(bindparam(name, expanding=True))  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=1024)
def _compiled(statement: Select[Any], dialect: Dialect) -> tuple[str, tuple[str, ...]]:
    compiled = statement.compile(dialect=dialect)
    return str(compiled), tuple(compiled.positiontup or ())


async def fetch_all(connection: AsyncConnection, statement: Select[Any], values: Mapping[str, Any]) -> list[Any]:
    """The rows of ``statement`` (cached by the caller) as tuples, its bind parameters taken from ``values``."""
    if connection.dialect.name == "postgresql":
        sql, names = _compiled(statement, connection.dialect)
        driver: Any = (await connection.get_raw_connection()).driver_connection
        return [tuple(record) for record in await driver.fetch(sql, *[values[name] for name in names])]
    return [tuple(row) for row in (await connection.execute(statement, dict(values))).all()]
