"""Dependencies: the unit of work, the caller, If-Match, pagination."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from app.api.security import PRINCIPAL_KEY
from app.domain.access import Principal
from app.domain.errors import DomainError, FieldIssue, PreconditionFailed, PreconditionRequired, Unauthenticated
from app.store.db import Database
from app.store.repository import Keyset


def database(request: Request) -> Database:
    return request.app.state.database  # type: ignore[no-any-return]


async def write_unit(request: Request) -> AsyncIterator[AsyncConnection]:
    """One transaction per writing request, committed when the endpoint returns (before the response)."""
    async with database(request).write() as connection:
        yield connection


async def read_unit(request: Request) -> AsyncIterator[AsyncConnection]:
    async with database(request).read() as connection:
        yield connection


async def current_principal(request: Request) -> Principal:
    """The caller, restricted to the ESSMS where it holds the route's permission (see app.api.security)."""
    # async: FastAPI runs a plain ``def`` dependency in a worker thread, a costly hop on every request.
    principal = request.scope.get(PRINCIPAL_KEY)
    if principal is None:
        raise Unauthenticated("Send Authorization: Bearer <token>")
    return principal  # type: ignore[no-any-return]


WriteConnection = Annotated[AsyncConnection, Depends(write_unit, scope="function")]
ReadConnection = Annotated[AsyncConnection, Depends(read_unit, scope="function")]
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]

_ETAG = re.compile(r'^\s*(?:W/)?"(\d+)"\s*$')


def etag(version: int) -> str:
    return f'"{version}"'


async def required_version(
    if_match: Annotated[str | None, Header(description='Version being changed, as sent in ETag: "3"')] = None,
) -> int:
    """The version named by If-Match: 428 without it, 412 when it cannot name a version."""
    if if_match is None:
        raise PreconditionRequired("Send If-Match with the ETag of the version you read")
    match = _ETAG.match(if_match)
    if match is None:
        raise PreconditionFailed(f"If-Match {if_match!r} names no version of this resource")
    return int(match.group(1))


IfMatch = Annotated[int, Depends(required_version)]


class BadCursor(DomainError):
    code = "bad-cursor"
    title = "Invalid pagination cursor"
    status = 400


def not_our_cursor() -> BadCursor:
    return BadCursor(
        "The cursor was not produced by this API",
        issues=[FieldIssue("cursor", "bad-cursor", "Use next_cursor as returned")],
    )


def encode_cursor(keyset: Keyset, sort: str | None) -> str:
    raw = orjson.dumps([sort, keyset.sort_value, str(keyset.id)], default=str)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, sort: str | None) -> Keyset | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, value, last_id = orjson.loads(raw)
        keyset = Keyset(value, uuid.UUID(last_id))
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError) as error:
        raise not_our_cursor() from error
    if cursor_sort != sort:
        raise BadCursor(
            "The cursor belongs to another sort order",
            issues=[FieldIssue("cursor", "cursor-sort", "Keep the same sort while paging")],
        )
    return keyset
