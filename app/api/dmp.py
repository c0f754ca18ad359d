"""DMP feeding of documents: status, block/unblock, send now, and the dashboard counts (Ségur)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from app.api.deps import CurrentPrincipal, ReadConnection, WriteConnection
from app.api.documents import _service
from app.api.problems import responses
from app.api.security import note_usagers, requires
from app.domain.access import Permission
from app.domain.dmp import DmpStatus, Visibility
from app.domain.errors import Conflict, NotFound
from app.store.dmp import DmpRepository, OutboxRow

JSON = "application/json"


def _public(row: OutboxRow, replaced: bool) -> dict[str, Any]:
    status = DmpStatus.REPLACED.value if replaced and row.status == DmpStatus.SENT.value else row.status
    return {
        "document_id": str(row.document_id),
        "unique_id": row.unique_id,
        "status": status,
        "reason": row.reason,
        "qualified_ins": row.qualified,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at.isoformat() if row.status == DmpStatus.QUEUED.value else None,
        "last_error": row.last_error,
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
        "operation": row.operation,
        "visibility": Visibility.from_flags(row.visibility).model_dump(),
    }


def dmp_router() -> APIRouter:
    router = APIRouter(tags=["dmp"])

    async def _row(request: Request, connection: Any, principal: Any, document_id: uuid.UUID) -> tuple[Any, OutboxRow]:
        document = await _service(request, connection, principal).get(document_id)  # scope check, 404
        note_usagers(request, [document.usager_id])
        row = await DmpRepository(connection).get(document_id)
        if row is None:
            raise NotFound(f"No DMP send request for document {document_id}")
        return document, row

    @router.get(
        "/documents/{document_id}/dmp",
        summary="The DMP status of a document: queued, sending, sent, failed, blocked, replaced, deleted, deprecated…",
        operation_id="read_document_dmp",
        responses=responses(404, 422),
        dependencies=[requires(Permission.USAGER_READ, usager_data=True)],
    )
    async def status(
        request: Request, document_id: uuid.UUID, connection: ReadConnection, principal: CurrentPrincipal
    ) -> Response:
        document, row = await _row(request, connection, principal, document_id)
        return Response(orjson.dumps(_public(row, document.replaced_by_id is not None)), media_type=JSON)

    async def _move(
        request: Request,
        connection: Any,
        principal: Any,
        document_id: uuid.UUID,
        to: DmpStatus,
        only_from: tuple[DmpStatus, ...],
        rule: str,
    ) -> Response:
        document, row = await _row(request, connection, principal, document_id)
        repo = DmpRepository(connection)
        if not await repo.set_status(document_id, to, datetime.now(UTC), only_from=only_from):
            raise Conflict(
                rule, f"The DMP status is {row.status}; allowed from {', '.join(s.value for s in only_from)}"
            )
        moved = await repo.get(document_id)
        assert moved is not None
        return Response(orjson.dumps(_public(moved, document.replaced_by_id is not None)), media_type=JSON)

    @router.post(
        "/documents/{document_id}/dmp/block",
        summary="Block a document: it is never sent to the DMP",
        operation_id="block_document_dmp",
        responses=responses(404, 409, 422),
        dependencies=[requires(Permission.DMP_BLOCK, usager_data=True)],
    )
    async def block(
        request: Request, document_id: uuid.UUID, connection: WriteConnection, principal: CurrentPrincipal
    ) -> Response:
        return await _move(
            request,
            connection,
            principal,
            document_id,
            DmpStatus.BLOCKED,
            (DmpStatus.QUEUED, DmpStatus.FAILED, DmpStatus.NOT_ELIGIBLE),
            "dmp-block-unsent",
        )

    @router.post(
        "/documents/{document_id}/dmp/unblock",
        summary="Unblock a document: it is queued again",
        operation_id="unblock_document_dmp",
        responses=responses(404, 409, 422),
        dependencies=[requires(Permission.DMP_BLOCK, usager_data=True)],
    )
    async def unblock(
        request: Request, document_id: uuid.UUID, connection: WriteConnection, principal: CurrentPrincipal
    ) -> Response:
        _, row = await _row(request, connection, principal, document_id)
        if not row.qualified:
            raise Conflict("dmp-qualified-ins", "The identity is not qualified: nothing is sent to the DMP")
        return await _move(
            request, connection, principal, document_id, DmpStatus.QUEUED, (DmpStatus.BLOCKED,), "dmp-unblock-blocked"
        )

    @router.post(
        "/documents/{document_id}/dmp/send",
        summary="Send now: a queued or failed document is due at once",
        operation_id="send_document_dmp",
        responses=responses(404, 409, 422),
        dependencies=[requires(Permission.DMP_FEED, usager_data=True)],
    )
    async def send(
        request: Request, document_id: uuid.UUID, connection: WriteConnection, principal: CurrentPrincipal
    ) -> Response:
        return await _move(
            request,
            connection,
            principal,
            document_id,
            DmpStatus.QUEUED,
            (DmpStatus.QUEUED, DmpStatus.FAILED),
            "dmp-send-queued-or-failed",
        )

    @router.get(
        "/dmp/dashboard",
        summary="Counts of DMP send requests by ESSMS, type, status and INS qualification, over a period",
        operation_id="dmp_dashboard",
        responses=responses(422),
        dependencies=[requires(Permission.DMP_FEED)],
    )
    async def dashboard(
        connection: ReadConnection,
        principal: CurrentPrincipal,
        since: datetime | None = Query(None, description="created at or after (ISO 8601)"),
        until: datetime | None = Query(None, description="created before (ISO 8601)"),
    ) -> Response:
        rows = await DmpRepository(connection).counts(since, until, principal.scope)
        total: dict[str, int] = {}
        sent = {"qualified_ins": 0, "without_qualified_ins": 0}
        by_type: dict[str, dict[str, int]] = {}
        by_essms: dict[str, dict[str, int]] = {}
        for r in rows:
            total[r["status"]] = total.get(r["status"], 0) + r["count"]
            by_type.setdefault(r["type_code"], {}).setdefault(r["status"], 0)
            by_type[r["type_code"]][r["status"]] += r["count"]
            by_essms.setdefault(str(r["essms_id"]), {}).setdefault(r["status"], 0)
            by_essms[str(r["essms_id"])][r["status"]] += r["count"]
            if r["status"] == DmpStatus.SENT.value:
                sent["qualified_ins" if r["qualified"] else "without_qualified_ins"] += r["count"]
        body = {
            "period": {"since": since.isoformat() if since else None, "until": until.isoformat() if until else None},
            "by_status": total,
            "sent": sent,
            "by_type": by_type,
            "by_essms": by_essms,
        }
        return Response(orjson.dumps(body), media_type=JSON)

    return router
