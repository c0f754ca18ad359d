"""The FastAPI application factory; the lifespan owns the database engine."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app import __doc__ as description
from app.api import problems
from app.api.middleware import BodySizeLimit
from app.api.routes import api_router
from app.config import Settings, get_settings
from app.interop.cda import shared_validator
from app.store.db import Database, create_engine

API_VERSION = "0.1.0"


def _operation_id(route: APIRoute) -> str:
    return route.name


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    """Build the application. Tests pass their own settings and database."""
    settings = settings or get_settings()
    settings.apply_domain_tunables()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = database is None
        app.state.database = database or Database(
            create_engine(settings.resolved_database_url(), pool_size=settings.db_pool_size, echo=settings.db_echo)
        )
        if settings.cda_warm_on_start:
            # Compile and load the ANS schematrons once per process, off the event loop.
            validator = shared_validator(settings.resolved_cda_cache_dir())
            app.state.cda_validator = validator
            threading.Thread(target=validator.warm, name="cda-warm", daemon=True).start()
        try:
            yield
        finally:
            if owned:
                await app.state.database.dispose()

    app = FastAPI(
        title="DUI backend",
        version=API_VERSION,
        description=(description or "")
        + " Errors are application/problem+json (RFC 9457). Every read sends an ETag; PUT, PATCH and DELETE "
        "require If-Match. Lists use cursor pagination (next_cursor).",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
    )
    app.state.settings = settings
    if database is not None:
        app.state.database = database
    problems.install(app)
    app.include_router(api_router())

    @app.get("/health", tags=["service"], summary="Liveness and database check", operation_id="health")
    async def health() -> dict[str, str]:
        async with app.state.database.read() as connection:
            await connection.exec_driver_sql("SELECT 1")
        return {"status": "ok", "database": app.state.database.dialect}

    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes, document_max_bytes=settings.max_document_bytes)
    app.openapi = lambda: _openapi_with_problems(app)  # type: ignore[method-assign]
    return app


def _openapi_with_problems(app: FastAPI) -> dict[str, Any]:
    """Errors are documented as problem+json only (FastAPI's default 422 schema is replaced)."""
    if app.openapi_schema:
        return app.openapi_schema
    spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path in spec["paths"].values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            if operation.get("parameters") or operation.get("requestBody"):
                responses.setdefault("422", {"description": "Invalid input (every bad field listed)"})
            for status, response in responses.items():
                if status[0] in "45":
                    response["content"] = problem
    schemas = spec.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    app.openapi_schema = spec
    return spec
