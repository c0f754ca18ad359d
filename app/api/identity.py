"""Identity endpoints (RNIV): INSi search and verification, proofs, received INS, traces, identitovigilance."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Body, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from app.api import deps
from app.api.deps import CurrentPrincipal, IfMatch, ReadConnection
from app.api.problems import responses
from app.api.schemas import Usager
from app.api.security import authenticated, requires
from app.domain import ins as ins_rules
from app.domain.access import Permission as P
from app.domain.errors import DomainError, FieldIssue
from app.domain.identity import IdentityStatus, TypedIns, outgoing_identity
from app.interop.insi.client import InsiClient
from app.services.identity import IdentityWorkflow, InsiReport, insi_config
from app.services.usagers import UsagerService

JSON = "application/json"
router = APIRouter(tags=["identity"])


def insi_client(request: Request) -> InsiClient:
    """The process-wide INSi client (built on first use from the settings)."""
    state = request.app.state
    if getattr(state, "insi_client", None) is None:
        state.insi_client = InsiClient(insi_config(state.settings))
    return state.insi_client  # type: ignore[no-any-return]


def workflow(request: Request, principal: CurrentPrincipal) -> IdentityWorkflow:
    return IdentityWorkflow(deps.database(request), principal, request.app.state.settings, insi_client(request))


def workflow_without_insi(request: Request, principal: CurrentPrincipal) -> IdentityWorkflow:
    return IdentityWorkflow(deps.database(request), principal, request.app.state.settings)


Workflow = Annotated[IdentityWorkflow, Depends(workflow)]
Journals = Annotated[IdentityWorkflow, Depends(workflow_without_insi)]


# -- schemas -------------------------------------------------------------------------------------------
class InsCheck(BaseModel):
    matricule: str
    oid: str
    kind: str = Field(description="INS-NIR, INS-NIA, test or demonstration")


class InsiDifference(BaseModel):
    field: str
    stored: str | None
    insi: str | None


class InsiCallSummary(BaseModel):
    message_id: str
    outcome: Literal["found", "not_found", "several", "fault", "unreachable", "malformed"]
    code_cr: str | None
    fault: str | None
    prenom: str
    lieu_naissance: str | None
    attempts: int


class InsiReportOut(BaseModel):
    """Result of an INSi search or verification."""

    outcome: Literal["found", "not_found", "several", "unchanged", "changed"] = Field(
        description="found (INS retrieved, traits filled in), not_found (CR 01), several (CR 02: add traits), "
        "unchanged (verification matched), changed (verification differs: nothing changed, see differences)"
    )
    usager: Usager | None
    differences: list[InsiDifference]
    potential_homonyms: list[uuid.UUID]
    calls: list[InsiCallSummary]


class ProofInput(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    proof_type: str = Field(min_length=1, max_length=40, description="One of the configured proof types")
    reference: str | None = Field(None, max_length=200, description="Document number or other reference")
    scan_id: uuid.UUID | None = Field(None, description="Id of the scan in the encrypted document store, if any")


class Proof(BaseModel):
    id: uuid.UUID
    usager_id: uuid.UUID
    proof_type: str
    confidence: Literal["high", "low"]
    reference: str | None
    scan_id: uuid.UUID | None
    recorded_by: str
    recorded_at: datetime
    withdrawn_at: datetime | None


class ProofRecorded(BaseModel):
    proof: Proof
    usager: Usager


class IdentityTrace(BaseModel):
    id: int
    usager_id: uuid.UUID
    actor: str
    at: datetime
    action: str = Field(
        description="read, list, read-history, create, update, archive, insi-search, insi-verify, ins-retrieved, "
        "ins-requalified, ins-received, proof, proof-withdrawn, merge-kept, merged"
    )
    detail: dict[str, Any]


class IdentityTracePage(BaseModel):
    items: list[IdentityTrace]
    next_cursor: str | None


class InsiCallRecord(BaseModel):
    id: uuid.UUID
    usager_id: uuid.UUID | None
    actor: str
    called_at: datetime
    purpose: Literal["search", "verify"]
    message_id: str
    request_traits: dict[str, Any]
    outcome: str = Field(
        description="found, not_found, several, refused (RNIV rules 11-12), fault, unreachable, malformed"
    )
    code_cr: str | None
    fault_code: str | None
    returned_identity: dict[str, Any] | None
    detail: str | None
    duration_ms: int


class InsiCallPage(BaseModel):
    items: list[InsiCallRecord]
    next_cursor: str | None


class DuplicateMember(BaseModel):
    id: uuid.UUID
    version: int
    identity_status: IdentityStatus
    ins_matricule: str | None


class DuplicateGroup(BaseModel):
    key: str
    kind: Literal["potential-duplicate", "homonyms"]
    usagers: list[DuplicateMember]


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    into: uuid.UUID = Field(description="The record kept")
    into_version: int = Field(ge=1, description="Version of the record kept, as read (its ETag)")


class ShareableIdentity(BaseModel):
    """The identity any output may carry: the INS only for a qualified identity (RNIV rule 28)."""

    nom_naissance: str
    prenoms_naissance: list[str]
    premier_prenom: str
    sexe: str
    date_naissance: str
    lieu_naissance: str | None
    nom_utilise: str | None
    prenom_utilise: str | None
    identity_status: IdentityStatus
    ins: dict[str, str] | None


class JournalQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    usager_id: uuid.UUID | None = None
    since: datetime | None = Field(None, description="From this instant (included)")
    until: datetime | None = Field(None, description="Up to this instant (excluded)")
    limit: int = Field(100, ge=1, le=500)
    cursor: str | None = Field(None, max_length=100)


def _usager_response(body: str, version: int) -> Response:
    return Response(body, media_type=JSON, headers={"ETag": deps.etag(version)})


def _report(report: InsiReport) -> Response:
    headers = {"ETag": deps.etag(report.row.version)} if report.row else {}
    return Response(orjson.dumps(report.document()), media_type=JSON, headers=headers)


def _bad_cursor() -> DomainError:
    return DomainError("Invalid cursor", issues=[FieldIssue("cursor", "bad-cursor", "Use next_cursor as returned")])


# -- routes --------------------------------------------------------------------------------------------
@router.get(
    "/ins/check",
    dependencies=[authenticated()],
    summary="Check a typed INS: format, key (2A/2B), OID",
    operation_id="check_ins",
    response_model=InsCheck,
    responses=responses(422),
)
async def check_ins(
    matricule: Annotated[str, Query(max_length=30)], oid: Annotated[str, Query(max_length=40)]
) -> InsCheck:
    typed = TypedIns(matricule=matricule, oid=oid)
    return InsCheck(matricule=typed.matricule, oid=typed.oid, kind=ins_rules.INS_OIDS[typed.oid])


@router.post(
    "/usagers/{usager_id}/insi/search",
    dependencies=[requires(P.INSI_CALL, usager_data=True)],
    summary="Retrieve the INS through INSi with the usager's traits",
    description="One call per birth first name, then the full list, then with the birth place; stops at CR 00. "
    "A CR 00 answer fills the INS traits and the INS (RNIV rule 6) unless RNIV rules 11-12 refuse it (422). "
    "Faults, timeouts and unreadable answers give 502; nothing is changed. Every call is journaled.",
    operation_id="insi_search",
    response_model=InsiReportOut,
    responses=responses(404, 409, 412, 422, 428, 502),
)
async def insi_search(usager_id: uuid.UUID, version: IfMatch, flow: Workflow) -> Response:
    return _report(await flow.search_ins(usager_id, version))


@router.post(
    "/usagers/{usager_id}/insi/verify",
    dependencies=[requires(P.INSI_CALL, usager_data=True)],
    summary="Verify the stored INS and traits through INSi, field by field",
    description="Identical: the check is recorded (and a received INS becomes verified here, RNIV rule 30). "
    "Different: nothing changes and the differences are listed.",
    operation_id="insi_verify",
    response_model=InsiReportOut,
    responses=responses(404, 412, 422, 428, 502),
)
async def insi_verify(usager_id: uuid.UUID, version: IfMatch, flow: Workflow) -> Response:
    return _report(await flow.verify_ins(usager_id, version))


@router.post(
    "/usagers/{usager_id}/ins/received",
    dependencies=[requires(P.USAGER_WRITE, usager_data=True)],
    summary="Record an INS received from another identification domain (to be re-qualified, rule 30)",
    operation_id="receive_ins",
    response_model=Usager,
    responses=responses(404, 409, 410, 412, 422, 428),
)
async def receive_ins(
    usager_id: uuid.UUID, typed: Annotated[TypedIns, Body()], version: IfMatch, flow: Journals
) -> Response:
    row = await flow.receive_ins(usager_id, version, typed)
    return _usager_response(row.body, row.version)


@router.get(
    "/usagers/{usager_id}/proofs",
    dependencies=[requires(P.USAGER_READ, usager_data=True)],
    summary="Identity proofs recorded for a usager",
    operation_id="list_identity_proofs",
    response_model=list[Proof],
    responses=responses(404),
)
async def list_proofs(usager_id: uuid.UUID, flow: Journals) -> Response:
    return Response(orjson.dumps([p.document() for p in await flow.proofs(usager_id)]), media_type=JSON)


@router.post(
    "/usagers/{usager_id}/proofs",
    dependencies=[requires(P.USAGER_WRITE, usager_data=True)],
    status_code=201,
    summary="Record an identity proof seen by staff (RNIV rule 19)",
    description="The proof type's confidence level comes from the configuration; a high-trust proof validates "
    "the identity (VALI, or QUAL once INSi has matched).",
    operation_id="record_identity_proof",
    response_model=ProofRecorded,
    responses=responses(404, 410, 412, 422, 428),
)
async def record_proof(
    usager_id: uuid.UUID, proof: Annotated[ProofInput, Body()], version: IfMatch, flow: Journals
) -> Response:
    row, recorded = await flow.record_proof(usager_id, version, proof.proof_type, proof.reference, proof.scan_id)
    body = b'{"proof":' + orjson.dumps(recorded.document()) + b',"usager":' + row.body.encode() + b"}"
    return Response(body, status_code=201, media_type=JSON, headers={"ETag": deps.etag(row.version)})


@router.delete(
    "/usagers/{usager_id}/proofs/{proof_id}",
    dependencies=[requires(P.USAGER_WRITE, usager_data=True)],
    summary="Withdraw a proof recorded by mistake (kept, dated)",
    operation_id="withdraw_identity_proof",
    response_model=Usager,
    responses=responses(404, 410, 412, 428),
)
async def withdraw_proof(usager_id: uuid.UUID, proof_id: uuid.UUID, version: IfMatch, flow: Journals) -> Response:
    row = await flow.withdraw_proof(usager_id, proof_id, version)
    return _usager_response(row.body, row.version)


@router.get(
    "/usagers/{usager_id}/shareable-identity",
    dependencies=[requires(P.USAGER_READ, usager_data=True)],
    summary="The identity an output may carry (INS only when qualified, RNIV rule 28)",
    operation_id="shareable_identity",
    response_model=ShareableIdentity,
    responses=responses(404),
)
async def shareable_identity(
    usager_id: uuid.UUID, connection: ReadConnection, principal: CurrentPrincipal
) -> dict[str, object]:
    _, record = await UsagerService(connection, principal).get_record(usager_id)
    return outgoing_identity(record)


@router.get(
    "/identity-traces",
    dependencies=[requires(P.AUDIT_READ, usager_data=True)],
    summary="Journal of accesses to and changes of identities (RNIV rule 16), per usager and period",
    operation_id="list_identity_traces",
    response_model=IdentityTracePage,
    responses=responses(400, 404, 422),
)
async def identity_traces(query: Annotated[JournalQuery, Query()], flow: Journals) -> Response:
    try:
        after = int(query.cursor) if query.cursor else None
    except ValueError as error:
        raise _bad_cursor() from error
    items = await flow.traces(query.usager_id, query.since, query.until, after, query.limit + 1)
    more = len(items) > query.limit
    items = items[: query.limit]
    page = {"items": items, "next_cursor": str(items[-1]["id"]) if more else None}
    return Response(orjson.dumps(page), media_type=JSON)


@router.get(
    "/insi-calls",
    dependencies=[requires(P.AUDIT_READ, usager_data=True)],
    summary="Journal of INSi calls (RNIV rules 37, 39, 48): traits sent, CR, identity returned",
    operation_id="list_insi_calls",
    response_model=InsiCallPage,
    responses=responses(400, 404, 422),
)
async def insi_calls(query: Annotated[JournalQuery, Query()], flow: Journals) -> Response:
    try:
        after = uuid.UUID(query.cursor) if query.cursor else None
    except ValueError as error:
        raise _bad_cursor() from error
    items = await flow.insi_calls(query.usager_id, query.since, query.until, after, query.limit + 1)
    more = len(items) > query.limit
    items = items[: query.limit]
    page = {"items": items, "next_cursor": items[-1]["id"] if more else None}
    return Response(orjson.dumps(page), media_type=JSON)


@router.get(
    "/identitovigilance/duplicates",
    dependencies=[requires(P.IDENTITY_MERGE, usager_data=True)],
    summary="Potential duplicates: active usagers sharing normalised traits (different INS: homonyms)",
    operation_id="list_potential_duplicates",
    response_model=list[DuplicateGroup],
    responses=responses(422),
)
async def duplicates(flow: Journals, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> Response:
    return Response(orjson.dumps(await flow.duplicates(limit)), media_type=JSON)


@router.post(
    "/usagers/{usager_id}/merge",
    dependencies=[requires(P.IDENTITY_MERGE, usager_data=True)],
    summary="Merge this duplicate into another record (stays, contacts, measures, proofs move; history kept)",
    description="If-Match names the version of the duplicate; into_version that of the record kept.",
    operation_id="merge_usager",
    response_model=Usager,
    responses=responses(404, 409, 410, 412, 422, 428),
)
async def merge(
    usager_id: Annotated[uuid.UUID, Path(description="The duplicate, archived by the merge")],
    request_body: Annotated[MergeRequest, Body()],
    version: IfMatch,
    flow: Journals,
) -> Response:
    row = await flow.merge(usager_id, version, request_body.into, request_body.into_version)
    return _usager_response(row.body, row.version)
