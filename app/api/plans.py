"""Plan life cycle endpoints (beside the standard ones): transitions, revisions, agreements, reviews."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

import orjson
from fastapi import APIRouter, Body, Query, Request
from starlette.responses import Response

from app.api import deps
from app.api.deps import CurrentPrincipal, IfMatch, ReadConnection, WriteConnection
from app.api.problems import responses
from app.api.schemas import CloseRequest, Plan, ReviewDueFilters, ReviewDuePage
from app.api.security import requires
from app.domain.access import Permission as P
from app.domain.plans import Accord, Bilan
from app.services.plans import PlanService, validate_plan
from app.store.repository import StoredRow

JSON = "application/json"
WRITE_ERRORS = responses(404, 409, 410, 412, 422, 428)


def _one(row: StoredRow, status: int = 200, location: str | None = None) -> Response:
    headers = {"ETag": deps.etag(row.version)}
    if location:
        headers["Location"] = location
    return Response(row.body, status_code=status, media_type=JSON, headers=headers)


def plan_router() -> APIRouter:
    router = APIRouter(prefix="/plans", tags=["plans"])

    @router.get(
        "/reviews-due",
        dependencies=[requires(P.USAGER_READ, usager_data=True)],
        summary="Plans in force whose review is overdue or due soon",
        operation_id="plan_reviews_due",
        response_model=ReviewDuePage,
        responses=responses(400, 422),
    )
    async def reviews_due(
        request: Request,
        query: Annotated[ReviewDueFilters, Query()],
        connection: ReadConnection,
        principal: CurrentPrincipal,
    ) -> Response:
        settings = request.app.state.settings
        as_of = query.as_of or date.today()
        limit = min(query.limit or settings.page_size_default, settings.page_size_max)
        page, horizon = await PlanService(connection, principal).reviews_due(
            essms_id=query.essms_id,
            as_of=as_of,
            within_days=query.within_days,
            after=deps.decode_cursor(query.cursor, "review_due"),
            limit=limit,
        )
        items = []
        for row in page.rows:
            plan = orjson.loads(row.body)
            due = date.fromisoformat(plan["review_due"])
            items.append(
                {
                    "plan_id": plan["id"],
                    "lineage_id": plan["lineage_id"],
                    "numero_version": plan["numero_version"],
                    "usager_id": plan["usager_id"],
                    "stay_id": plan["stay_id"],
                    "essms_id": plan["essms_id"],
                    "titre": plan["titre"],
                    "status": plan["status"],
                    "review_due": plan["review_due"],
                    "state": "overdue" if due < as_of else "due_soon",
                    "days": (as_of - due).days,
                }
            )
        next_cursor = deps.encode_cursor(page.next_cursor, "review_due") if page.next_cursor else None
        document = {"as_of": as_of, "horizon": horizon, "items": items, "next_cursor": next_cursor}
        return Response(orjson.dumps(document), media_type=JSON)

    @router.get(
        "/{plan_id}/versions",
        dependencies=[requires(P.USAGER_READ, usager_data=True)],
        summary="Every version of the plan this version belongs to, oldest first",
        operation_id="plan_versions",
        response_model=list[Plan],
        responses=responses(404, 422),
    )
    async def versions(plan_id: uuid.UUID, connection: ReadConnection, principal: CurrentPrincipal) -> Response:
        rows = await PlanService(connection, principal).versions(plan_id)
        return Response(b"[" + ",".join(r.body for r in rows).encode() + b"]", media_type=JSON)

    @router.post(
        "/{plan_id}/submit",
        dependencies=[requires(P.PLAN_WRITE, usager_data=True)],
        summary="Submit a draft for agreement and validation",
        operation_id="plan_submit",
        response_model=Plan,
        responses=WRITE_ERRORS,
    )
    async def submit(
        plan_id: uuid.UUID, version: IfMatch, connection: WriteConnection, principal: CurrentPrincipal
    ) -> Response:
        return _one(await PlanService(connection, principal).submit(plan_id, version))

    @router.post(
        "/{plan_id}/return-to-draft",
        dependencies=[requires(P.PLAN_WRITE, usager_data=True)],
        summary="Send a submitted plan back to draft for changes",
        operation_id="plan_return_to_draft",
        response_model=Plan,
        responses=WRITE_ERRORS,
    )
    async def return_to_draft(
        plan_id: uuid.UUID, version: IfMatch, connection: WriteConnection, principal: CurrentPrincipal
    ) -> Response:
        return _one(await PlanService(connection, principal).return_to_draft(plan_id, version))

    @router.post(
        "/{plan_id}/validate",
        dependencies=[requires(P.PLAN_VALIDATE, usager_data=True)],
        summary="Validate a submitted plan (needs an agreement of the establishment); a revision supersedes "
        "the version it revises",
        operation_id="plan_validate",
        response_model=Plan,
        responses=WRITE_ERRORS,
    )
    async def validate(
        plan_id: uuid.UUID, version: IfMatch, connection: WriteConnection, principal: CurrentPrincipal
    ) -> Response:
        return _one(await validate_plan(connection, principal, plan_id, version))

    @router.post(
        "/{plan_id}/start",
        dependencies=[requires(P.PLAN_WRITE, usager_data=True)],
        summary="Start the implementation of a validated plan",
        operation_id="plan_start",
        response_model=Plan,
        responses=WRITE_ERRORS,
    )
    async def start(
        plan_id: uuid.UUID, version: IfMatch, connection: WriteConnection, principal: CurrentPrincipal
    ) -> Response:
        return _one(await PlanService(connection, principal).start(plan_id, version))

    @router.post(
        "/{plan_id}/close",
        dependencies=[requires(P.PLAN_WRITE, usager_data=True)],
        summary="Close a plan in force",
        operation_id="plan_close",
        response_model=Plan,
        responses=WRITE_ERRORS,
    )
    async def close(
        plan_id: uuid.UUID,
        version: IfMatch,
        connection: WriteConnection,
        principal: CurrentPrincipal,
        body: Annotated[CloseRequest | None, Body()] = None,
    ) -> Response:
        motif = body.motif if body else None
        return _one(await PlanService(connection, principal).close(plan_id, version, motif))

    @router.post(
        "/{plan_id}/revise",
        dependencies=[requires(P.PLAN_WRITE, usager_data=True)],
        status_code=201,
        summary="Start a revision: a new draft version with this version's content, linked to it",
        operation_id="plan_revise",
        response_model=Plan,
        responses=WRITE_ERRORS,
    )
    async def revise(
        request: Request, plan_id: uuid.UUID, version: IfMatch, connection: WriteConnection, principal: CurrentPrincipal
    ) -> Response:
        row = await PlanService(connection, principal).revise(plan_id, version)
        return _one(row, 201, f"{request.url.path.rsplit('/', 2)[0]}/{row.id}")

    @router.post(
        "/{plan_id}/accords",
        dependencies=[requires(P.PLAN_WRITE, usager_data=True)],
        summary="Record an agreement (usager, representative or establishment) to a draft or submitted plan",
        operation_id="plan_add_accord",
        response_model=Plan,
        responses=WRITE_ERRORS,
    )
    async def add_accord(
        plan_id: uuid.UUID,
        accord: Annotated[Accord, Body()],
        version: IfMatch,
        connection: WriteConnection,
        principal: CurrentPrincipal,
    ) -> Response:
        return _one(await PlanService(connection, principal).add_accord(plan_id, version, accord))

    @router.post(
        "/{plan_id}/bilans",
        dependencies=[requires(P.PLAN_WRITE, usager_data=True)],
        summary="Record a review (bilan) of the plan in force; sets the next review date",
        operation_id="plan_add_review",
        response_model=Plan,
        responses=WRITE_ERRORS,
    )
    async def add_review(
        plan_id: uuid.UUID,
        bilan: Annotated[Bilan, Body()],
        version: IfMatch,
        connection: WriteConnection,
        principal: CurrentPrincipal,
    ) -> Response:
        return _one(await PlanService(connection, principal).add_review(plan_id, version, bilan))

    return router
