"""The standard reads of every resource (one record by id, a filtered page) served without FastAPI's
per-request machinery.

A DUI serves far more reads than writes, and for a read by id FastAPI's own work (matching the path against
every route, solving the dependencies, the exit stacks of the unit of work) costs several times the SELECT
(bench/bench_reads.py). This lane serves the routes whose endpoint is marked with :func:`fast_read`, calling
that same endpoint with what the dependencies would give it: the route's own requirement (the same
authentication, permission and ESSMS scope), a read connection, the caller, the path value or the validated
query model. The audit middleware around it writes the same event (the lane names the route and the path
parameters, as the router does). Anything else, and any request the lane cannot take exactly as FastAPI
would (a query that does not validate, a path value that is not a UUID, repeated parameters), goes on to
FastAPI unchanged, so errors keep their one rendering.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.security import PRINCIPAL_KEY, Requirement, requirement_of

_MARK = "_dui_fast_read"
_UUID = TypeAdapter(uuid.UUID)
Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Any]])


@dataclass(frozen=True)
class _Mark:
    kind: Literal["one", "page"]
    query_model: type[BaseModel] | None


def fast_read(
    kind: Literal["one", "page"], query_model: type[BaseModel] | None = None
) -> Callable[[Endpoint], Endpoint]:
    """Mark a read endpoint for the lane. ``one``: ``endpoint(request, resource_id, connection, principal)``
    for ``GET {prefix}/{resource_id}``; ``page``: ``endpoint(request, query, connection, principal)`` for
    ``GET {prefix}`` with ``query`` the validated ``query_model``."""

    def mark(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, _MARK, _Mark(kind, query_model))
        return endpoint

    return mark


@dataclass(frozen=True)
class _Lane:
    route: APIRoute
    requirement: Requirement
    parameter: str  # the name of the path parameter (``one``)
    query_model: type[BaseModel] | None


class FastReads:
    """ASGI middleware, inside the audit middleware: takes the marked GET routes, passes on the rest."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._one: dict[str, _Lane] | None = None
        self._page: dict[str, _Lane] = {}

    def _build(self, scope: Scope) -> dict[str, _Lane]:
        one: dict[str, _Lane] = {}
        for context in iter_route_contexts(list(scope["app"].routes)):
            route = context.original_route
            mark = getattr(getattr(route, "endpoint", None), _MARK, None)
            if not isinstance(route, APIRoute) or mark is None or "GET" not in (route.methods or ()):
                continue
            requirement = requirement_of(route)
            if requirement is None:  # undeclared: for superusers only, FastAPI's gate decides
                continue
            path = str(context.path_format or route.path_format)
            if mark.kind == "page":
                self._page[path] = _Lane(route, requirement, "", mark.query_model)
                continue
            prefix, _, last = path.rpartition("/")
            if not (last.startswith("{") and last.endswith("}")):
                raise ValueError(f"{path}: a 'one' read ends with its id parameter")
            one[prefix] = _Lane(route, requirement, last[1:-1], None)
        return one

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        if self._one is None:
            self._one = self._build(scope)
        path: str = scope["path"]
        lane = self._page.get(path)
        if lane is not None:
            query = self._query(lane, scope)
            if query is not None:
                await self._serve(lane, scope, receive, send, {}, query)
                return
        else:
            prefix, _, value = path.rpartition("/")
            lane = self._one.get(prefix)
            if lane is not None:
                try:
                    # FastAPI's own validation of the parameter: ``uuid.UUID`` would also take values it
                    # refuses (hyphens anywhere, signs, underscores, non-ASCII digits).
                    resource_id = _UUID.validate_python(value)
                except ValidationError:
                    resource_id = None
                if resource_id is not None:
                    await self._serve(lane, scope, receive, send, {lane.parameter: value}, resource_id)
                    return
        await self.app(scope, receive, send)

    @staticmethod
    def _query(lane: _Lane, scope: Scope) -> BaseModel | None:
        """The validated query model, or None when FastAPI should answer (invalid or repeated parameters)."""
        assert lane.query_model is not None
        params = QueryParams(scope["query_string"])
        values = dict(params)
        if len(values) != len(params.multi_items()):
            return None
        try:
            return lane.query_model.model_validate(values)
        except ValidationError:
            return None

    async def _serve(
        self, lane: _Lane, scope: Scope, receive: Receive, send: Send, path_params: dict[str, str], argument: Any
    ) -> None:
        scope["route"] = lane.route
        scope["path_params"] = path_params
        request = Request(scope, receive)
        try:
            await lane.requirement(request)
            async with scope["app"].state.database.read() as connection:
                response = await lane.route.endpoint(request, argument, connection, scope[PRINCIPAL_KEY])
        except Exception as error:
            handler = _handler_for(scope["app"], error)
            if handler is None:
                raise  # to the server error middleware, as from FastAPI
            response = await handler(request, error)
        await response(scope, receive, send)


def _handler_for(app: Any, error: Exception) -> Callable[[Request, Exception], Awaitable[Response]] | None:
    """The application's handler for ``error`` (problem+json), as Starlette's exception middleware finds it;
    the catch-all for ``Exception`` belongs to the server error middleware."""
    for kind in type(error).__mro__:
        if kind is Exception:
            return None
        handler = app.exception_handlers.get(kind)
        if handler is not None:
            return handler  # type: ignore[no-any-return]
    return None
