"""The FastAPI application factory; the lifespan owns the database engine."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app import __doc__ as description
from app import logs
from app.api import identity as identity_api
from app.api import problems
from app.api.auth import security_router
from app.api.fast_reads import FastReads
from app.api.middleware import BodySizeLimit
from app.api.routes import api_routers
from app.api.security import AuditMiddleware, RateLimiter, SecurityHeaders, gate, public, route_table
from app.config import Settings, get_settings
from app.heap import freeze_long_lived
from app.interop.cda import shared_validator
from app.interop.psc.client import PscClient, PscSettings
from app.services.audit import AuditSink
from app.services.auth import Authenticator
from app.store.db import Database, create_engine

API_VERSION = "0.1.0"


def _operation_id(route: APIRoute) -> str:
    return route.name


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    """Build the application. Tests pass their own settings and database."""
    settings = settings or get_settings()
    settings.apply_domain_tunables()
    logs.install()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = database is None
        if owned:
            _attach(
                app,
                Database(
                    create_engine(
                        settings.resolved_database_url(), pool_size=settings.db_pool_size, echo=settings.db_echo
                    )
                ),
            )
        app.state.insi_client = None
        if settings.cda_warm_on_start:
            # Compile and load the ANS schematrons once per process, off the event loop.
            validator = shared_validator(settings.resolved_cda_cache_dir())
            app.state.cda_validator = validator
            threading.Thread(target=validator.warm, name="cda-warm", daemon=True).start()
        if owned:
            # A full collection under load takes milliseconds instead of 100+ ms (p99).
            freeze_long_lived()
        try:
            yield
        finally:
            if app.state.insi_client is not None:
                await app.state.insi_client.aclose()
            await app.state.audit.flush()
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
        dependencies=[Depends(gate)],
        # FastAPI's built-in OpenTelemetry probes the providers and the environment on every request.
        telemetry=None if settings.telemetry else {"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.auth_rate_limiter = RateLimiter(settings.auth_rate_limit_per_minute, settings.auth_rate_limit_storage)
    app.state.psc = PscClient(
        PscSettings(
            discovery_url=settings.psc_discovery_url,
            client_id=settings.psc_client_id,
            client_secret=settings.psc_client_secret.get_secret_value(),
            redirect_uri=settings.psc_redirect_uri,
            scope=settings.psc_scope,
            acr=settings.psc_acr,
            leeway=settings.psc_clock_skew_seconds,
        )
    )
    app.state.oidc = (
        PscClient(
            PscSettings(
                discovery_url=settings.oidc_discovery_url,
                client_id=settings.oidc_client_id,
                client_secret=settings.oidc_client_secret.get_secret_value(),
                redirect_uri=settings.oidc_redirect_uri,
                scope=settings.oidc_scope,
                acr=settings.oidc_acr,
                leeway=settings.psc_clock_skew_seconds,
            )
        )
        if settings.oidc_discovery_url
        else None
    )
    if database is not None:
        _attach(app, database)
    problems.install(app)
    for router in [*api_routers(), identity_api.router, security_router()]:
        app.include_router(router)

    @app.get(
        "/health",
        tags=["service"],
        summary="Liveness and database check",
        operation_id="health",
        dependencies=[public()],
    )
    async def health() -> dict[str, str]:
        async with app.state.database.read() as connection:
            await connection.exec_driver_sql("SELECT 1")
        return {"status": "ok", "database": app.state.database.dialect}

    app.add_middleware(FastReads)  # inside the audit middleware: the lane's reads are audited alike
    app.add_middleware(AuditMiddleware)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        larger=(("/identity-document", settings.max_scan_bytes), ("/documents", settings.max_document_bytes)),
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-Match"],
            expose_headers=["ETag", "Location", "Link"],
            max_age=600,
        )
    app.add_middleware(SecurityHeaders, hsts=settings.hsts)
    app.openapi = lambda: _openapi_with_problems(app)  # type: ignore[method-assign]
    return app


def _attach(app: FastAPI, database: Database) -> None:
    app.state.database = database
    app.state.authenticator = Authenticator(app.state.settings, database)
    app.state.audit = AuditSink(database)


def _openapi_with_problems(app: FastAPI) -> dict[str, Any]:
    """Errors are documented as problem+json only (FastAPI's default 422 schema is replaced)."""
    if app.openapi_schema:
        return app.openapi_schema
    spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    declared = {(info.path, info.method.lower()): info.requirement for info in route_table(app.routes)}
    for path_name, path in spec["paths"].items():
        for method, operation in path.items():
            responses = operation.setdefault("responses", {})
            requirement = declared.get((path_name, method))
            if requirement is None or not requirement.public:
                operation["security"] = [{"bearer": []}]
                operation["x-dui-permission"] = (
                    "superuser (undeclared)" if requirement is None else str(requirement.permission or "authenticated")
                )
                operation["x-dui-usager-data"] = requirement is None or requirement.usager_data
                responses.setdefault("401", {"description": "Authentication required (Bearer token)"})
                responses.setdefault("403", {"description": "Not allowed for the caller's roles"})
            if operation.get("parameters") or operation.get("requestBody"):
                responses.setdefault("422", {"description": "Invalid input (every bad field listed)"})
            for status, response in responses.items():
                if status[0] in "45":
                    response["content"] = problem
    spec.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An access token from POST /auth/token or /auth/psc/callback, or an API token (dui_at_...)",
    }
    schemas = spec.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    app.openapi_schema = spec
    return spec
