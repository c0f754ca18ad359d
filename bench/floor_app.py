"""The floor: the least a Python service can do to serve the same reads (Starlette + an asyncpg pool).

``GET /usagers/{id}`` runs ``SELECT body, version FROM usager WHERE id = $1`` and returns the body with its
ETag. ``GET /search?q=...[&date_naissance=...]`` runs the statement our service ran for the same query: the
benchmark captures it (SQL text and arguments) through the service and hands the floor a JSON file of them,
so the floor never parses names and never drifts from the SQL under test. Configured by environment:

- ``FLOOR_DSN``: PostgreSQL DSN (asyncpg form, ``postgresql://...``);
- ``FLOOR_POOL_SIZE``: connections in the pool (the benchmark passes the service's own pool size);
- ``FLOOR_SEARCH_FILE``: the captured search statements (optional; ``/search`` answers 404 without it).

Run with ``uvicorn --app-dir bench floor_app:create_app --factory``.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

GET_SQL = "SELECT body, version FROM usager WHERE id = $1"
PAGE_SIZE = 50
JSON = "application/json"

SearchKey = tuple[str, str | None]


def decode_argument(value: Any) -> Any:
    """Arguments are JSON; dates travel as ``{"date": "YYYY-MM-DD"}``."""
    if isinstance(value, dict) and set(value) == {"date"}:
        return date.fromisoformat(value["date"])
    return value


def load_searches(path: Path) -> dict[SearchKey, tuple[str, list[Any]]]:
    """(q, date_naissance) -> (SQL, arguments) as captured from our service."""
    entries = orjson.loads(path.read_bytes())
    return {(e["q"], e["date_naissance"]): (e["sql"], [decode_argument(a) for a in e["args"]]) for e in entries}


def create_app() -> Starlette:
    dsn = os.environ["FLOOR_DSN"]
    pool_size = int(os.environ.get("FLOOR_POOL_SIZE", "20"))
    search_file = os.environ.get("FLOOR_SEARCH_FILE")
    searches = load_searches(Path(search_file)) if search_file else {}
    state: dict[str, asyncpg.Pool] = {}

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # Same server settings as the service's engine (app.store.db.create_engine): jit off changes plans.
        state["pool"] = await asyncpg.create_pool(
            dsn,
            min_size=pool_size,
            max_size=pool_size,
            server_settings={"application_name": "dui-floor", "jit": "off"},
        )
        try:
            yield
        finally:
            await state["pool"].close()

    async def read_usager(request: Request) -> Response:
        try:
            usager_id = uuid.UUID(request.path_params["usager_id"])
        except ValueError:
            return Response(status_code=422)
        async with state["pool"].acquire() as connection:
            row = await connection.fetchrow(GET_SQL, usager_id)
        if row is None:
            return Response(status_code=404)
        return Response(row["body"], media_type=JSON, headers={"ETag": f'"{row["version"]}"'})

    async def search(request: Request) -> Response:
        params = request.query_params
        found = searches.get((params.get("q", ""), params.get("date_naissance")))
        if found is None:
            return Response(status_code=404)
        sql, args = found
        async with state["pool"].acquire() as connection:
            rows = await connection.fetch(sql, *args)
        next_cursor = None
        if len(rows) > PAGE_SIZE:
            rows = rows[:PAGE_SIZE]
            # The service's cursor: base64 of [sort, sort value, last id].
            next_cursor = base64.urlsafe_b64encode(orjson.dumps([None, None, str(rows[-1]["id"])])).decode()
        body = (
            b'{"items":['
            + ",".join(r["body"] for r in rows).encode()
            + b'],"next_cursor":'
            + orjson.dumps(next_cursor.rstrip("=") if next_cursor else None)
            + b"}"
        )
        return Response(body, media_type=JSON)

    async def health(_request: Request) -> Response:
        async with state["pool"].acquire() as connection:
            await connection.execute("SELECT 1")
        return Response(b'{"status":"ok"}', media_type=JSON)

    return Starlette(
        routes=[
            Route("/usagers/{usager_id}", read_usager),
            Route("/search", search),
            Route("/health", health),
        ],
        lifespan=lifespan,
    )
