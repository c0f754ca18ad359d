"""CDA documents of a usager: generate, receive (FLUDR), list with versions, get the XML and the renderings."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from app.api import deps
from app.api.deps import CurrentPrincipal, ReadConnection, WriteConnection
from app.api.problems import responses
from app.api.security import note_usagers, requires
from app.domain.access import Permission as P
from app.domain.documents import DocumentRequest
from app.domain.errors import NotFound
from app.interop.cda import shared_validator
from app.services.documents import DocumentService, public

JSON = "application/json"


class DocumentPublic(BaseModel):
    """A stored document: its header facts, version chain, XDS metadata and validation summary."""

    id: uuid.UUID
    usager_id: uuid.UUID
    essms_id: uuid.UUID
    kind: str
    origin: str = Field(description="generated, uploaded or received")
    type_code: str
    title: str
    set_id: str
    version_number: int
    replaces_id: uuid.UUID | None
    replaced_by_id: uuid.UUID | None
    current: bool
    created_at: str
    created_by: str
    xds: dict[str, Any]
    validation: dict[str, Any]


class DocumentPage(BaseModel):
    items: list[DocumentPublic]
    next_cursor: str | None = None


def _service(request: Request, connection: Any, principal: Any) -> DocumentService:
    settings = request.app.state.settings
    validator = getattr(request.app.state, "cda_validator", None) or shared_validator(settings.resolved_cda_cache_dir())
    return DocumentService(connection, principal, validator, settings.software_name, settings.dmp_feed_types)


def documents_router() -> APIRouter:
    router = APIRouter(tags=["documents"])

    def one(document: dict[str, Any], status: int = 200, location: str | None = None) -> Response:
        headers = {"ETag": deps.etag(int(document["version_number"]))}
        if location:
            headers["Location"] = location
        return Response(orjson.dumps(document), status_code=status, media_type=JSON, headers=headers)

    @router.post(
        "/usagers/{usager_id}/documents",
        dependencies=[requires(P.USAGER_WRITE, usager_data=True)],
        status_code=201,
        summary="Generate a CDA document of a kind for a usager (validated before it is stored)",
        operation_id="generate_document",
        response_model=DocumentPublic,
        responses=responses(404, 409, 413, 422),
    )
    async def generate(
        request: Request,
        usager_id: uuid.UUID,
        body: Annotated[DocumentRequest, Body()],
        connection: WriteConnection,
        principal: CurrentPrincipal,
    ) -> Response:
        stored = await _service(request, connection, principal).generate(usager_id, body)
        return one(public(stored.row), 201, f"/documents/{stored.row.id}")

    @router.post(
        "/usagers/{usager_id}/documents/received",
        dependencies=[requires(P.USAGER_WRITE, usager_data=True)],
        status_code=201,
        summary="Attach a FLUDR received from the emergency department (CDA XML body)",
        operation_id="receive_document",
        response_model=DocumentPublic,
        responses=responses(404, 413, 422),
        openapi_extra={"requestBody": {"content": {"application/xml": {"schema": {"type": "string"}}}}},
    )
    async def receive(
        request: Request,
        usager_id: uuid.UUID,
        connection: WriteConnection,
        principal: CurrentPrincipal,
        essms_id: Annotated[uuid.UUID | None, Query(description="ESSMS the FLUDR is attached to")] = None,
    ) -> Response:
        stored = await _service(request, connection, principal).receive(usager_id, await request.body(), essms_id)
        return one(public(stored.row), 201, f"/documents/{stored.row.id}")

    @router.get(
        "/usagers/{usager_id}/documents",
        dependencies=[requires(P.USAGER_READ, usager_data=True)],
        summary="List a usager's documents and their versions, newest first",
        operation_id="list_documents",
        response_model=DocumentPage,
        responses=responses(400, 404, 422),
    )
    async def list_(
        request: Request,
        usager_id: uuid.UUID,
        connection: ReadConnection,
        principal: CurrentPrincipal,
        set_id: Annotated[str | None, Query(max_length=128, description="Only the versions of one document")] = None,
        limit: Annotated[int | None, Query(ge=1, le=500)] = None,
        cursor: Annotated[str | None, Query(max_length=512)] = None,
    ) -> Response:
        settings = request.app.state.settings
        rows, after = await _service(request, connection, principal).list_for_usager(
            usager_id,
            set_id=set_id,
            after=deps.decode_cursor(cursor, "documents"),
            limit=min(limit or settings.page_size_default, settings.page_size_max),
        )
        next_cursor = deps.encode_cursor(after, "documents") if after else None
        return Response(orjson.dumps({"items": [public(r) for r in rows], "next_cursor": next_cursor}), media_type=JSON)

    @router.get(
        "/documents/{document_id}",
        dependencies=[requires(P.USAGER_READ, usager_data=True)],
        summary="Read a document's metadata",
        operation_id="read_document",
        response_model=DocumentPublic,
        responses=responses(404, 422),
    )
    async def read(
        request: Request, document_id: uuid.UUID, connection: ReadConnection, principal: CurrentPrincipal
    ) -> Response:
        row = await _service(request, connection, principal).get(document_id)
        note_usagers(request, [row.usager_id])
        return one(public(row))

    @router.get(
        "/documents/{document_id}/cda",
        dependencies=[requires(P.USAGER_READ, usager_data=True)],
        summary="The CDA R2 XML of a document",
        operation_id="read_document_cda",
        responses={**responses(404, 422), 200: {"content": {"application/xml": {}}}},
    )
    async def cda(
        request: Request, document_id: uuid.UUID, connection: ReadConnection, principal: CurrentPrincipal
    ) -> Response:
        service = _service(request, connection, principal)
        note_usagers(request, [(await service.get(document_id)).usager_id])
        xml, _, _ = await service.content(document_id)
        return Response(xml.encode("utf-8"), media_type="application/xml")

    @router.get(
        "/documents/{document_id}/rendering",
        dependencies=[requires(P.USAGER_READ, usager_data=True)],
        summary="The human rendering of a document: the PDF/A, or HTML",
        operation_id="read_document_rendering",
        responses={**responses(404, 422), 200: {"content": {"application/pdf": {}, "text/html": {}}}},
    )
    async def rendering(
        request: Request,
        document_id: uuid.UUID,
        connection: ReadConnection,
        principal: CurrentPrincipal,
        format: Annotated[Literal["pdf", "html"], Query(description="pdf or html")] = "pdf",
    ) -> Response:
        service = _service(request, connection, principal)
        note_usagers(request, [(await service.get(document_id)).usager_id])
        _, pdf, html = await service.content(document_id)
        if format == "pdf":
            if pdf is None:
                raise NotFound(f"Document {document_id} has no PDF rendering (a received structured document)")
            return Response(pdf, media_type="application/pdf")
        if html is None:
            raise NotFound(f"Document {document_id} has no HTML rendering")
        return Response(html, media_type="text/html; charset=utf-8")

    return router
