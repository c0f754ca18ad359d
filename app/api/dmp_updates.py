"""DMP corrections of a sent document (delete, deprecate, visibility) and a usager's opposition to the feeding."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Request
from starlette.responses import Response

from app.api.deps import CurrentPrincipal, ReadConnection, WriteConnection
from app.api.dmp import _public
from app.api.documents import _service
from app.api.problems import responses
from app.api.security import note_usagers, requires
from app.domain.access import Permission
from app.domain.dmp import DmpOperation, OppositionRequest, OppositionWithdrawal, Visibility
from app.services.dmp_requests import DmpRequests

JSON = "application/json"


def _requests(request: Request, connection: Any, principal: Any) -> DmpRequests:
    settings = request.app.state.settings
    return DmpRequests(
        connection,
        principal,
        patient_invisibility_after_send=settings.dmp_patient_invisibility_after_send,
        resend_on_withdrawal=settings.dmp_resend_on_withdrawal,
    )


def dmp_updates_router() -> APIRouter:
    router = APIRouter(tags=["dmp"])

    async def _ask(
        request: Request,
        connection: Any,
        principal: Any,
        document_id: uuid.UUID,
        operation: DmpOperation,
        visibility: Visibility | None = None,
    ) -> Response:
        document = await _service(request, connection, principal).get(document_id)  # scope check, 404
        note_usagers(request, [document.usager_id])
        row = await _requests(request, connection, principal).request(document_id, operation, visibility)
        return Response(orjson.dumps(_public(row, document.replaced_by_id is not None)), media_type=JSON)

    @router.post(
        "/documents/{document_id}/dmp/delete",
        summary="Delete the document from the DMP (ITI-57); a document never sent just has its send cancelled",
        operation_id="delete_document_dmp",
        responses=responses(404, 409, 422),
        dependencies=[requires(Permission.DMP_BLOCK, usager_data=True)],
    )
    async def delete(
        request: Request, document_id: uuid.UUID, connection: WriteConnection, principal: CurrentPrincipal
    ) -> Response:
        return await _ask(request, connection, principal, document_id, DmpOperation.DELETE)

    @router.post(
        "/documents/{document_id}/dmp/deprecate",
        summary="Deprecate the document in the DMP (ITI-57 status change; DUI_DMP_DEPRECATE_STATUS)",
        operation_id="deprecate_document_dmp",
        responses=responses(404, 409, 422),
        dependencies=[requires(Permission.DMP_FEED, usager_data=True)],
    )
    async def deprecate(
        request: Request, document_id: uuid.UUID, connection: WriteConnection, principal: CurrentPrincipal
    ) -> Response:
        return await _ask(request, connection, principal, document_id, DmpOperation.DEPRECATE)

    @router.post(
        "/documents/{document_id}/dmp/visibility",
        summary="Mask or unmask the document in the DMP: to professionals, the patient, the legal representatives",
        operation_id="document_dmp_visibility",
        responses=responses(404, 409, 422),
        dependencies=[requires(Permission.DMP_FEED, usager_data=True)],
    )
    async def visibility(
        request: Request,
        document_id: uuid.UUID,
        body: Annotated[Visibility, Body()],
        connection: WriteConnection,
        principal: CurrentPrincipal,
    ) -> Response:
        return await _ask(request, connection, principal, document_id, DmpOperation.VISIBILITY, body)

    @router.get(
        "/usagers/{usager_id}/dmp/opposition",
        summary="Whether the usager opposes the DMP feeding, and the history of oppositions",
        operation_id="read_dmp_opposition",
        responses=responses(404, 422),
        dependencies=[requires(Permission.USAGER_READ, usager_data=True)],
    )
    async def opposition(
        request: Request, usager_id: uuid.UUID, connection: ReadConnection, principal: CurrentPrincipal
    ) -> Response:
        note_usagers(request, [usager_id])
        body = await _requests(request, connection, principal).opposition(usager_id)
        return Response(orjson.dumps(body), media_type=JSON)

    @router.post(
        "/usagers/{usager_id}/dmp/opposition",
        summary="Record the usager's opposition to the DMP feeding: nothing of theirs is sent while it stands",
        operation_id="record_dmp_opposition",
        status_code=201,
        responses=responses(404, 409, 422),
        dependencies=[requires(Permission.DMP_FEED, usager_data=True)],
    )
    async def oppose(
        request: Request,
        usager_id: uuid.UUID,
        body: Annotated[OppositionRequest, Body()],
        connection: WriteConnection,
        principal: CurrentPrincipal,
    ) -> Response:
        note_usagers(request, [usager_id])
        state = await _requests(request, connection, principal).oppose(usager_id, body)
        return Response(orjson.dumps(state), status_code=201, media_type=JSON)

    @router.post(
        "/usagers/{usager_id}/dmp/opposition/withdraw",
        summary="Withdraw the usager's opposition; held-back documents are queued again only when asked",
        operation_id="withdraw_dmp_opposition",
        responses=responses(404, 409, 422),
        dependencies=[requires(Permission.DMP_FEED, usager_data=True)],
    )
    async def withdraw(
        request: Request,
        usager_id: uuid.UUID,
        body: Annotated[OppositionWithdrawal, Body()],
        connection: WriteConnection,
        principal: CurrentPrincipal,
    ) -> Response:
        note_usagers(request, [usager_id])
        state = await _requests(request, connection, principal).withdraw(usager_id, body)
        return Response(orjson.dumps(state), media_type=JSON)

    return router
