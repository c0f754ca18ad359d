"""How every route is guarded and audited: ONE declaration per route, ``requires(permission, usager_data=...)``.

- ``dependencies=[requires(Permission.X)]`` on a route: the caller must hold X in some ESSMS; the services then
  see the caller restricted to those ESSMS (the repositories filter on that scope).
- ``usager_data=True``: the route touches usager data; the request writes exactly one audit event.
- ``dependencies=[public()]``: no authentication (health, login).
- A route that declares nothing is open to superusers only (deny by default) and is audited as usager data;
  the access-matrix test lists such routes.
"""

from __future__ import annotations

import contextlib
import math
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import limits
import limits.aio
import limits.storage
from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.domain.access import Permission, Principal
from app.domain.audit import AuditEvent
from app.domain.errors import Forbidden, TooManyRequests, Unauthenticated
from app.services.audit import collect_read_traces, stop_collecting_read_traces

AUDIT_KEY = "dui.audit"
PRINCIPAL_KEY = "dui.principal"


class Requirement:
    """What a route needs; recorded on the route (found again by ``requirement_of``)."""

    def __init__(
        self,
        permission: Permission | None,
        *,
        usager_data: bool = False,
        public: bool = False,
        action: str | None = None,
        audited: bool = False,
    ) -> None:
        self.permission = permission
        self.usager_data = usager_data
        self.audited = audited or usager_data
        self.public = public
        self.action = action

    def __repr__(self) -> str:
        if self.public:
            return "public"
        if self.permission is None:
            return "authenticated"
        return f"requires({self.permission}, usager_data={self.usager_data})"

    async def __call__(self, request: Request) -> None:
        context = audit_context(request)
        context.requirement = self
        if self.public:
            return
        principal = await authenticate(request)
        context.principal = principal
        if self.permission is None:  # any authenticated caller
            request.scope[PRINCIPAL_KEY] = principal
            return
        acting = principal.acting_for(self.permission)
        if acting is None:
            raise Forbidden(f"This action needs the permission {self.permission.value}")
        request.scope[PRINCIPAL_KEY] = acting


def requires(permission: Permission, *, usager_data: bool = False, action: str | None = None) -> Any:
    """The route needs ``permission``; ``usager_data`` routes write one audit event per request."""
    return Depends(Requirement(permission, usager_data=usager_data, action=action))


def public(*, audit: str | None = None) -> Any:
    """The route needs no authentication; ``audit`` names the action when each request is traced (logins)."""
    return Depends(Requirement(None, public=True, audited=audit is not None, action=audit))


def authenticated() -> Any:
    """Any authenticated caller (e.g. "who am I")."""
    return Depends(Requirement(None))


UNDECLARED = Requirement(None, usager_data=True)


def _find(dependant: Dependant) -> Requirement | None:
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, Requirement):
            return dependency.call
        found = _find(dependency)
        if found is not None:
            return found
    return None


def requirement_of(route: APIRoute) -> Requirement | None:
    """The requirement a route declares (``None``: it declares nothing)."""
    cached: Requirement | bool | None = getattr(route, "_dui_requirement", False)
    if cached is False:
        cached = _find(route.dependant)
        route._dui_requirement = cached  # type: ignore[attr-defined]
    return cached  # type: ignore[return-value]


@dataclass(frozen=True)
class RouteInfo:
    """One operation of the route table, with the requirement it declares."""

    path: str
    method: str
    name: str
    operation_id: str
    params: frozenset[str]
    requirement: Requirement | None


def route_table(routes: Iterable[BaseRoute]) -> list[RouteInfo]:
    """Every API operation of an application (included routers flattened), in declaration order."""
    table = []
    for context in iter_route_contexts(list(routes)):
        original = context.original_route
        if not isinstance(original, APIRoute):
            continue
        requirement = requirement_of(original)
        for method in sorted(context.methods or ()):
            table.append(
                RouteInfo(
                    str(context.path_format or original.path_format),
                    method,
                    str(context.name or original.name),
                    str(original.operation_id or original.name),
                    frozenset(original.param_convertors),
                    requirement,
                )
            )
    return table


async def gate(request: Request) -> None:
    """Application-wide: routes that declare nothing are for superusers only."""
    route = request.scope.get("route")
    if isinstance(route, APIRoute) and requirement_of(route) is not None:
        return
    context = audit_context(request)
    context.requirement = UNDECLARED
    principal = await authenticate(request)
    context.principal = principal
    if not principal.superuser:
        raise Forbidden("This route declares no permission: only administrators may call it")
    request.scope[PRINCIPAL_KEY] = principal


async def authenticate(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Send Authorization: Bearer <token>")
    principal: Principal = await request.app.state.authenticator.principal(token.strip())
    return principal


# -- audit ---------------------------------------------------------------------------------------------


@dataclass
class AuditContext:
    """What the request did, filled in by the requirement and the endpoint; read by ``AuditMiddleware``."""

    requirement: Requirement | None = None
    principal: Principal | None = None
    usager_ids: set[uuid.UUID] = field(default_factory=set)
    resource_type: str | None = None
    resource_id: str | None = None
    detail: dict[str, str | int | None] = field(default_factory=dict)


def audit_context(request: Request) -> AuditContext:
    context = request.scope.get(AUDIT_KEY)
    if context is None:  # the middleware is not installed (a sub-application): collect anyway
        context = request.scope[AUDIT_KEY] = AuditContext()
    return context


def note_actor(request: Request, principal: Principal) -> None:
    """Name who a public route authenticated (a login), for its audit event."""
    audit_context(request).principal = principal


def note_usagers(request: Request, usager_ids: Iterable[uuid.UUID | str | None]) -> None:
    """Name the usagers whose data this request read or changed (for "who accessed my record")."""
    context = audit_context(request)
    for usager_id in usager_ids:
        if usager_id:
            context.usager_ids.add(usager_id if isinstance(usager_id, uuid.UUID) else uuid.UUID(str(usager_id)))


_ACTIONS = {"GET": "read", "HEAD": "read", "POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "archive"}


class AuditMiddleware:
    """Writes one audit event per request to a route declared ``usager_data`` (also when it is refused)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        context = AuditContext()
        scope[AUDIT_KEY] = context
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        read_traces, token = collect_read_traces()
        try:
            await self.app(scope, receive, capture)
        finally:
            stop_collecting_read_traces(token)
            requirement = context.requirement
            event = _event(scope, context, requirement, status) if requirement and requirement.audited else None
            if event is not None or read_traces:
                await scope["app"].state.audit.record(event, read_traces)


def _event(scope: Scope, context: AuditContext, requirement: Requirement, status: int) -> AuditEvent:
    route = scope.get("route")
    template = route.path if isinstance(route, APIRoute) else "?"
    params: dict[str, Any] = scope.get("path_params") or {}
    resource_id = context.resource_id or next((str(v) for v in params.values()), None)
    usagers = set(context.usager_ids)
    for name in ("usager_id",):
        if name in params:
            _add_uuid(usagers, params[name])
    if template.startswith("/usagers/{") and resource_id:
        _add_uuid(usagers, resource_id)
    principal = context.principal
    method = str(scope.get("method", "GET"))
    action = requirement.action or ("search" if method == "GET" and not params else _ACTIONS.get(method, method))
    return AuditEvent(
        recorded_at=datetime.now(UTC),
        actor=principal.actor if principal else "anonymous",
        actor_kind=principal.kind if principal else "anonymous",
        account_id=principal.account_id if principal else None,
        action=action,
        operation=(route.operation_id or route.name) if isinstance(route, APIRoute) else "?",
        outcome=status,
        resource_type=context.resource_type or template.strip("/").split("/")[0] or None,
        resource_id=resource_id,
        client_ip=(scope.get("client") or (None,))[0],
        detail={"method": method, "route": template, **context.detail},
        usager_ids=sorted(usagers),
    )


def _add_uuid(into: set[uuid.UUID], value: Any) -> None:
    with contextlib.suppress(ValueError):
        into.add(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))


# -- hardening -----------------------------------------------------------------------------------------


class RateLimiter:
    """A moving one-minute window per client address (the `limits` library: no burst of twice the limit
    across a window boundary). The storage is a URI: in-process memory by default, a shared store such as
    Redis when several instances run behind a balancer."""

    def __init__(self, per_minute: int, storage_uri: str = "memory://") -> None:
        self._rule = limits.RateLimitItemPerMinute(per_minute)
        self._limiter = limits.aio.strategies.MovingWindowRateLimiter(
            limits.storage.storage_from_string(f"async+{storage_uri}")
        )

    async def hit(self, key: str) -> None:
        if not await self._limiter.hit(self._rule, "auth", key):
            reset = (await self._limiter.get_window_stats(self._rule, "auth", key)).reset_time
            raise TooManyRequests(
                "Too many authentication attempts; wait a minute", retry_after=max(0, math.ceil(reset - time.time()))
            )


async def auth_rate_limit(request: Request) -> None:
    client = request.client.host if request.client else "?"
    await request.app.state.auth_rate_limiter.hit(client)


class SecurityHeaders:
    """Headers every response carries; the API serves health and social data: nothing is cached."""

    def __init__(self, app: ASGIApp, hsts: bool) -> None:
        self.app = app
        self.headers = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"cache-control", b"no-store"),
        ]
        if hsts:
            self.headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
        self.csp = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The interactive docs load their scripts from a CDN: no CSP there.
        docs = scope.get("path", "").startswith(("/docs", "/redoc"))

        async def add(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name for name, _ in headers}
                headers += [h for h in self.headers if h[0] not in present]
                if not docs and self.csp[0] not in present:
                    headers.append(self.csp)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, add)
