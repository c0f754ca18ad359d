"""The standard endpoints of a resource, built once: create, read, list, patch, replace, archive, history."""

import uuid
from typing import Annotated, Any, cast

import orjson
from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import BaseModel, ConfigDict, create_model
from starlette.responses import Response

from app.api import deps
from app.api.deps import CurrentPrincipal, IfMatch, ReadConnection, WriteConnection
from app.api.fast_reads import fast_read
from app.api.problems import responses
from app.api.schemas import HistoryEntryBase, ListFilters
from app.api.security import note_usagers, requires
from app.domain.access import Permission
from app.domain.errors import NotFound
from app.services.resources import ResourceService
from app.store.repository import HistoryEntry, StoredRow

JSON = "application/json"


def patch_model(name: str, input_model: type[BaseModel]) -> type[BaseModel]:
    """Every field optional: the body of a JSON merge patch (null removes a field)."""
    fields: dict[str, Any] = {
        field_name: (info.annotation | None, None)  # type: ignore[operator]
        for field_name, info in input_model.model_fields.items()
    }
    return create_model(f"{name}Patch", __config__=ConfigDict(extra="forbid", str_strip_whitespace=True), **fields)


def resource_router(
    *,
    path: str,
    tag: str,
    name: str,
    service: type[ResourceService[Any]],
    create_model_: type[BaseModel],
    public: type[BaseModel],
    filters: type[ListFilters],
    read_permission: Permission = Permission.USAGER_READ,
    write_permission: Permission = Permission.USAGER_WRITE,
    usager_data: bool = True,
    editable: bool = True,
) -> APIRouter:
    """The seven endpoints of ``service``'s resource under ``path`` (no PATCH, PUT, DELETE when not
    ``editable``: records written once).

    By default a resource is usager data: reading needs ``usager:read``, writing ``usager:write``, and every
    request writes one audit event naming the usagers it touched.
    """
    router = APIRouter(prefix=path, tags=[tag])
    reads = [requires(read_permission, usager_data=usager_data)]
    writes = [requires(write_permission, usager_data=usager_data)]
    usager_key = "id" if service.repository.resource_type == "usager" else "usager_id"

    def touched(request: Request, bodies: list[str]) -> None:
        if usager_data:
            note_usagers(request, (orjson.loads(body).get(usager_key) for body in bodies))

    def touched_rows(request: Request, rows: list[StoredRow]) -> None:
        if usager_key == "id":  # an usager's own record: its id is the usager (no need to parse the body)
            note_usagers(request, (row.id for row in rows))
        else:
            touched(request, [row.body for row in rows])

    patch_schema = patch_model(name, create_model_)
    page_schema = create_model(f"{name}Page", items=(list[public], ...), next_cursor=(str | None, None))  # type: ignore[valid-type]
    history_schema = create_model(f"{name}Version", __base__=HistoryEntryBase, document=(public, ...))
    label = name.lower()

    def one(row_body: str, version: int, status: int = 200, location: str | None = None) -> Response:
        headers = {"ETag": deps.etag(version)}
        if location:
            headers["Location"] = location
        return Response(row_body, status_code=status, media_type=JSON, headers=headers)

    @router.post(
        "",
        status_code=201,
        summary=f"Create a {label}",
        operation_id=f"create_{label}",
        dependencies=writes,
        response_model=public,
        responses=responses(400, 409, 413, 422),
    )
    async def create(
        request: Request,
        data: Annotated[create_model_, Body()],  # type: ignore[valid-type]
        connection: WriteConnection,
        principal: CurrentPrincipal,
    ) -> Response:
        row = await service(connection, principal).create(data)
        touched_rows(request, [row])
        return one(row.body, row.version, 201, f"{request.url.path}/{row.id}")

    @router.get(
        "",
        summary=f"List {label} records",
        operation_id=f"list_{label}",
        dependencies=reads,
        response_model=page_schema,
        responses=responses(400, 422),
    )
    @fast_read("page", filters)
    async def list_(
        request: Request,
        query: Annotated[filters, Query()],  # type: ignore[valid-type]
        connection: ReadConnection,
        principal: CurrentPrincipal,
    ) -> Response:
        svc = service(connection, principal)
        chosen = cast(ListFilters, query)
        sort = getattr(chosen, "sort", None)
        settings = request.app.state.settings
        limit = min(chosen.limit or settings.page_size_default, settings.page_size_max)
        result = await svc.list_page(
            where=svc.conditions(chosen),
            after=deps.decode_cursor(chosen.cursor, sort),
            limit=limit,
            sort=sort,
            include_archived=chosen.include_archived,
        )
        touched_rows(request, result.rows)
        next_cursor = deps.encode_cursor(result.next_cursor, sort) if result.next_cursor else None
        body = (
            b'{"items":['
            + ",".join(r.body for r in result.rows).encode()
            + b'],"next_cursor":'
            + orjson.dumps(next_cursor)
            + b"}"
        )
        headers = {}
        if next_cursor:
            headers["Link"] = f'<{request.url.include_query_params(cursor=next_cursor)}>; rel="next"'
        return Response(body, media_type=JSON, headers=headers)

    @router.get(
        "/{resource_id}",
        summary=f"Read a {label}",
        operation_id=f"read_{label}",
        dependencies=reads,
        response_model=public,
        responses=responses(404, 422),
    )
    @fast_read("one")
    async def read(
        request: Request, resource_id: uuid.UUID, connection: ReadConnection, principal: CurrentPrincipal
    ) -> Response:
        row = await service(connection, principal).read(resource_id)
        touched_rows(request, [row])
        return one(row.body, row.version)

    if editable:

        @router.patch(
            "/{resource_id}",
            summary=f"Change some fields of a {label} (JSON merge patch)",
            operation_id=f"patch_{label}",
            dependencies=writes,
            response_model=public,
            responses=responses(400, 404, 409, 410, 412, 413, 422, 428),
        )
        async def patch(
            request: Request,
            resource_id: uuid.UUID,
            changes: Annotated[patch_schema, Body()],  # type: ignore[valid-type]
            version: IfMatch,
            connection: WriteConnection,
            principal: CurrentPrincipal,
        ) -> Response:
            document = cast(BaseModel, changes).model_dump(mode="json", exclude_unset=True)
            row = await service(connection, principal).patch(resource_id, version, document)
            touched_rows(request, [row])
            return one(row.body, row.version)

        @router.put(
            "/{resource_id}",
            summary=f"Replace a {label}",
            operation_id=f"replace_{label}",
            dependencies=writes,
            response_model=public,
            responses=responses(400, 404, 409, 410, 412, 413, 422, 428),
        )
        async def replace(
            request: Request,
            resource_id: uuid.UUID,
            data: Annotated[create_model_, Body()],  # type: ignore[valid-type]
            version: IfMatch,
            connection: WriteConnection,
            principal: CurrentPrincipal,
        ) -> Response:
            row = await service(connection, principal).replace(resource_id, version, data)
            touched_rows(request, [row])
            return one(row.body, row.version)

        @router.delete(
            "/{resource_id}",
            summary=f"Archive a {label} (kept with its history, no hard delete)",
            operation_id=f"archive_{label}",
            dependencies=writes,
            response_model=public,
            responses=responses(404, 410, 412, 428),
        )
        async def archive(
            request: Request,
            resource_id: uuid.UUID,
            version: IfMatch,
            connection: WriteConnection,
            principal: CurrentPrincipal,
        ) -> Response:
            row = await service(connection, principal).archive(resource_id, version)
            touched_rows(request, [row])
            return one(row.body, row.version)

    @router.get(
        "/{resource_id}/history",
        summary=f"Every version of a {label}",
        operation_id=f"history_{label}",
        dependencies=reads,
        response_model=list[history_schema],
        responses=responses(404, 422),
    )
    async def history(
        request: Request, resource_id: uuid.UUID, connection: ReadConnection, principal: CurrentPrincipal
    ) -> Response:
        entries = await service(connection, principal).history(resource_id)
        touched(request, [e.body for e in entries[-1:]])
        return Response(b"[" + b",".join(_entry(e) for e in entries) + b"]", media_type=JSON)

    @router.get(
        "/{resource_id}/history/{version}",
        summary=f"One past version of a {label}",
        operation_id=f"history_version_{label}",
        dependencies=reads,
        response_model=history_schema,
        responses=responses(404, 422),
    )
    async def history_version(
        request: Request,
        resource_id: uuid.UUID,
        version: Annotated[int, Path(ge=1)],
        connection: ReadConnection,
        principal: CurrentPrincipal,
    ) -> Response:
        entries = await service(connection, principal).history(resource_id)
        for entry in entries:
            if entry.version == version:
                touched(request, [entry.body])
                return Response(_entry(entry), media_type=JSON, headers={"ETag": deps.etag(version)})
        raise NotFound(f"{label} {resource_id} has no version {version}")

    return router


def _entry(entry: HistoryEntry) -> bytes:
    head = orjson.dumps(
        {
            "version": entry.version,
            "operation": entry.operation,
            "actor": entry.actor,
            "recorded_at": entry.recorded_at.isoformat(),
        }
    )
    return head[:-1] + b',"document":' + entry.body.encode() + b"}"
