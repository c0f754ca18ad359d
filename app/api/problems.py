"""Every error leaves as ``application/problem+json`` (RFC 9457) with a stable ``type`` per error."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from app.api.deps import not_our_cursor
from app.domain.errors import DomainError, FieldIssue
from app.services.resources import InputInvalid
from app.store.repository import InvalidKeyset

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:dui:problem:"
log = logging.getLogger("dui.api")


class ProblemIssue(BaseModel):
    field: str = Field(description="Dotted path of the offending field ('' for the whole document)")
    rule: str = Field(description="Stable code of the broken rule")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(description="Stable URI of the error kind, urn:dui:problem:<code>")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[ProblemIssue] = Field(default_factory=list)


def problem_response(
    request: Request | None,
    *,
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    issues: list[FieldIssue] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    document: dict[str, Any] = {
        "type": TYPE_PREFIX + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path if request is not None else None,
        "errors": [{"field": i.field, "rule": i.rule, "message": i.message} for i in issues or []],
    }
    return Response(orjson.dumps(document), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _field(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in location]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:]
    return ".".join(parts)


def _issues(errors: list[Any]) -> list[FieldIssue]:
    return [FieldIssue(_field(e.get("loc", ())), str(e.get("type", "invalid")), str(e.get("msg", ""))) for e in errors]


async def _request_validation(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    errors = list(error.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        position = next((e.get("ctx", {}).get("error") for e in errors if e.get("type") == "json_invalid"), None)
        return problem_response(
            request,
            status=400,
            code="malformed-json",
            title="Malformed JSON",
            detail="The request body is not valid JSON",
            issues=[FieldIssue("body", "json_invalid", str(position or "JSON decode error"))],
        )
    return problem_response(
        request,
        status=422,
        code="validation-error",
        title="Invalid input",
        detail=f"{len(errors)} invalid field(s)",
        issues=_issues(errors),
    )


async def _input_invalid(request: Request, error: Exception) -> Response:
    assert isinstance(error, InputInvalid)
    errors = list(error.error.errors())
    return problem_response(
        request,
        status=422,
        code="validation-error",
        title="Invalid input",
        detail=f"{len(errors)} invalid field(s)",
        issues=_issues(errors),
    )


async def _pydantic(request: Request, error: Exception) -> Response:
    assert isinstance(error, ValidationError)
    errors = list(error.errors())
    return problem_response(
        request,
        status=422,
        code="validation-error",
        title="Invalid input",
        detail=f"{len(errors)} invalid field(s)",
        issues=_issues(errors),
    )


async def _domain(request: Request, error: Exception) -> Response:
    assert isinstance(error, DomainError)
    code = getattr(error, "rule", None) or error.code
    return problem_response(
        request,
        status=error.status,
        code=code,
        title=error.title,
        detail=error.message,
        issues=error.issues,
        headers=getattr(error, "headers", None),
    )


async def _http(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    codes = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large", 415: "unsupported-media-type"}
    code = codes.get(error.status_code, f"http-{error.status_code}")
    return problem_response(
        request, status=error.status_code, code=code, title=str(error.detail), headers=getattr(error, "headers", None)
    )


async def _invalid_keyset(request: Request, error: Exception) -> Response:
    """A cursor that decoded but names a position no row can have: as any cursor not ours."""
    return await _domain(request, not_our_cursor())


async def _unexpected(request: Request, error: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        request,
        status=500,
        code="internal-error",
        title="Internal error",
        detail="The error was logged; nothing was written.",
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(InputInvalid, _input_invalid)
    app.add_exception_handler(ValidationError, _pydantic)
    app.add_exception_handler(DomainError, _domain)
    app.add_exception_handler(InvalidKeyset, _invalid_keyset)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem responses a route may give."""
    descriptions = {
        400: "Malformed request",
        401: "Authentication required (Bearer token)",
        403: "Not allowed for the caller's roles",
        429: "Too many attempts",
        404: "Not found (or outside the caller's ESSMS)",
        409: "Conflict with a rule",
        410: "Archived",
        412: "Stale If-Match",
        413: "Body too large",
        422: "Invalid input (every bad field listed)",
        428: "If-Match required",
        502: "The national service failed (fault, timeout, unreadable answer); nothing was changed",
    }
    return {
        status: {
            "model": Problem,
            "description": descriptions.get(status, "Error"),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
