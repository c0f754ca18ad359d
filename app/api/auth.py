"""Routes of the security layer: login and tokens, accounts and API tokens, the audit trail, identity scans."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from app.api.deps import CurrentPrincipal, ReadConnection, WriteConnection
from app.api.problems import problem_response, responses
from app.api.security import auth_rate_limit, authenticated, note_actor, note_usagers, public, requires
from app.domain.access import Permission, Principal, Role, Scope
from app.domain.errors import DomainError, FieldIssue, Forbidden, NotFound, RuleViolation, Unauthenticated
from app.interop.psc.claims import PscError, pkce_pair
from app.interop.psc.client import PscClient
from app.services.accounts import AccountService, AccountView, MembershipSpec
from app.services.auth import Authenticator, SessionClosed, TokenPair
from app.services.identity_documents import IdentityDocumentService
from app.services.usagers import UsagerService
from app.store.security import AccountRepository, ApiTokenRow, AuditRepository, StoredAuditEvent, TokenRepository

P = Permission
Username = Annotated[str, Field(min_length=3, max_length=100, pattern=r"^[A-Za-z0-9._@-]+$")]
Password = Annotated[str, Field(min_length=12, max_length=200)]
IdNps = Annotated[str, Field(pattern=r"^[0-9]{1,2}[0-9A-Za-z]{6,18}$", description="IDNPS: 8 + RPPS, 0 + ADELI...")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginInput(Strict):
    username: Annotated[str, Field(min_length=1, max_length=100)]
    password: Annotated[str, Field(min_length=1, max_length=200)]


class RefreshInput(Strict):
    refresh_token: Annotated[str, Field(min_length=1, max_length=300)]


class Tokens(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="Seconds the access token stays valid")
    refresh_token: str = Field(description="Use once at POST /auth/refresh")


class Me(BaseModel):
    actor: str
    kind: str
    account_id: uuid.UUID | None
    superuser: bool
    permissions: dict[str, list[uuid.UUID] | None] = Field(description="Permission -> ESSMS ids (null: every ESSMS)")


class MembershipIO(Strict):
    role: Role
    essms_id: uuid.UUID | None = None
    organisme_id: uuid.UUID | None = Field(None, description="The role in every ESSMS of this organisme")


class AccountInput(Strict):
    username: Username
    password: Password | None = Field(None, description="For local login; omit for Pro Santé Connect only")
    idnps: IdNps | None = Field(None, description="Links Pro Santé Connect logins (SubjectNameID) to this account")
    professional_id: uuid.UUID | None = None
    superuser: bool = False
    memberships: list[MembershipIO] = Field(default_factory=list, max_length=200)


class AccountPatch(Strict):
    password: Password | None = None
    disabled: bool | None = None
    memberships: list[MembershipIO] | None = Field(None, max_length=200)


class Account(BaseModel):
    id: uuid.UUID
    username: str
    idnps: str | None
    professional_id: uuid.UUID | None
    superuser: bool
    created_at: datetime
    disabled: bool
    memberships: list[MembershipIO]


class AccountPage(BaseModel):
    items: list[Account]
    next_cursor: str | None


class ApiTokenInput(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    account_id: uuid.UUID | None = Field(None, description="The account the token acts for (default: yours)")
    permissions: list[Permission] | None = Field(None, description="Narrow the account's permissions (default: all)")
    expires_in_days: int = Field(90, ge=1, le=3660)


class ApiToken(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    name: str
    permissions: list[str] | None
    created_at: datetime
    expires_at: datetime
    revoked: bool


class IssuedApiToken(ApiToken):
    token: str = Field(description="Shown once: only its hash is stored")


class ApiTokenPage(BaseModel):
    items: list[ApiToken]
    next_cursor: str | None


class AuditEntry(BaseModel):
    id: int
    recorded_at: datetime
    actor: str
    actor_kind: str
    account_id: uuid.UUID | None
    action: str
    operation: str
    outcome: int
    resource_type: str | None
    resource_id: str | None
    client_ip: str | None
    usager_ids: list[uuid.UUID]
    detail: dict[str, str | int | None]
    hash: str


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_cursor: str | None


class DocumentMeta(BaseModel):
    usager_id: uuid.UUID
    kind: str
    content_type: str
    size: int
    uploaded_at: datetime
    uploaded_by: str


def _tokens(pair: TokenPair, request: Request) -> Tokens:
    note_actor(request, Principal(pair.username, Scope.of(), account_id=pair.account_id, kind=pair.method))
    return Tokens(access_token=pair.access_token, expires_in=pair.expires_in, refresh_token=pair.refresh_token)


def _organisation_provider(request: Request) -> PscClient:
    provider: PscClient | None = request.app.state.oidc
    if provider is None:
        raise NotFound("No organisation OpenID provider is configured (DUI_OIDC_DISCOVERY_URL)")
    return provider


def _authenticator(request: Request) -> Authenticator:
    return request.app.state.authenticator  # type: ignore[no-any-return]


def _account(view: AccountView) -> Account:
    a = view.account
    return Account(
        id=a.id,
        username=a.username,
        idnps=a.idnps,
        professional_id=a.professional_id,
        superuser=a.superuser,
        created_at=a.created_at,
        disabled=a.disabled_at is not None,
        memberships=[
            MembershipIO(role=Role(m.role), essms_id=m.essms_id, organisme_id=m.organisme_id) for m in view.memberships
        ],
    )


def _api_token(row: ApiTokenRow) -> ApiToken:
    return ApiToken(
        id=row.id,
        account_id=row.account_id,
        name=row.name,
        permissions=row.permissions,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked=row.revoked_at is not None,
    )


def _entry(stored: StoredAuditEvent) -> AuditEntry:
    e = stored.event
    return AuditEntry(
        id=stored.id,
        recorded_at=e.recorded_at,
        actor=e.actor,
        actor_kind=e.actor_kind,
        account_id=e.account_id,
        action=e.action,
        operation=e.operation,
        outcome=e.outcome,
        resource_type=e.resource_type,
        resource_id=e.resource_id,
        client_ip=e.client_ip,
        usager_ids=e.usager_ids,
        detail=e.detail,
        hash=stored.hash,
    )


def _specs(memberships: list[MembershipIO]) -> list[MembershipSpec]:
    return [MembershipSpec(m.role, m.essms_id, m.organisme_id) for m in memberships]


def _cursor(value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError as error:
        raise RuleViolation("bad-cursor", "Use next_cursor as returned", field="cursor") from error


Limit = Annotated[int, Query(ge=1, le=500)]
Cursor = Annotated[str | None, Query(max_length=64)]
RATE_LIMITED = [public(), Depends(auth_rate_limit)]


def _login_route(action: str) -> list[Any]:
    """Public, rate-limited, and traced (who logged in, or failed to, from where)."""
    return [public(audit=action), Depends(auth_rate_limit)]


def security_router() -> APIRouter:
    router = APIRouter()

    # -- login -------------------------------------------------------------------------------------
    @router.post(
        "/auth/token",
        tags=["auth"],
        summary="Log in with a local account (password); returns a short-lived access token and a refresh token",
        operation_id="login",
        response_model=Tokens,
        dependencies=_login_route("login"),
        responses=responses(401, 422, 429),
    )
    async def login(request: Request, body: Annotated[LoginInput, Body()], connection: WriteConnection) -> Tokens:
        return _tokens(await _authenticator(request).login(connection, body.username, body.password), request)

    @router.post(
        "/auth/refresh",
        tags=["auth"],
        summary="Exchange a refresh token (one use) for a new pair",
        operation_id="refresh_tokens",
        response_model=Tokens,
        dependencies=_login_route("refresh"),
        responses=responses(401, 422, 429),
    )
    async def refresh(
        request: Request, body: Annotated[RefreshInput, Body()], connection: WriteConnection
    ) -> Tokens | Response:
        result = await _authenticator(request).refresh(connection, body.refresh_token)
        if isinstance(result, SessionClosed):  # answered, not raised: the revocation must be committed
            error = Unauthenticated(result.reason)
            return problem_response(
                request, status=401, code=error.code, title=error.title, detail=result.reason, headers=error.headers
            )
        return _tokens(result, request)

    @router.post(
        "/auth/logout",
        tags=["auth"],
        summary="Close the session of a refresh token",
        operation_id="logout",
        status_code=204,
        dependencies=_login_route("logout"),
        responses=responses(422, 429),
    )
    async def logout(request: Request, body: Annotated[RefreshInput, Body()], connection: WriteConnection) -> Response:
        await _authenticator(request).logout(connection, body.refresh_token)
        return Response(status_code=204)

    @router.get(
        "/auth/psc/login",
        tags=["auth"],
        summary="Start a Pro Santé Connect login (redirects to PSC: code flow, PKCE S256, acr eidas1)",
        operation_id="psc_login",
        status_code=302,
        response_class=Response,
        dependencies=RATE_LIMITED,
        responses={302: {"description": "Redirect to the PSC authorization endpoint"}, **responses(429, 502)},
    )
    async def psc_login(request: Request, connection: WriteConnection) -> Response:
        return await _start_login(request.app.state.psc, connection)

    async def _start_login(psc: PscClient, connection: WriteConnection) -> Response:
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier, challenge = pkce_pair()
        try:
            url = await psc.authorization_url(state=state, nonce=nonce, challenge=challenge)
        except PscError as error:
            raise PscRefused(error) from error
        tokens = TokenRepository(connection)
        now = datetime.now(UTC)
        await tokens.forget_logins_before(now - timedelta(minutes=10))
        await tokens.save_login(state, verifier, nonce, now)
        return Response(status_code=302, headers={"Location": url})

    @router.get(
        "/auth/psc/callback",
        tags=["auth"],
        summary="Where PSC sends the professional back: checks the ID token and UserInfo, then issues our tokens",
        operation_id="psc_callback",
        response_model=Tokens,
        dependencies=_login_route("login"),
        responses=responses(401, 403, 422, 429, 502),
    )
    async def psc_callback(
        request: Request,
        connection: WriteConnection,
        state: Annotated[str, Query(min_length=1, max_length=64)],
        code: Annotated[str | None, Query(max_length=2000)] = None,
        error: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Tokens:
        verifier, nonce = await _pending(connection, state, code, error)
        assert code is not None
        try:
            identity = await request.app.state.psc.login(code=code, code_verifier=verifier, nonce=nonce)
        except PscError as failure:
            if failure.rule.startswith("psc-"):
                raise PscRefused(failure) from failure
            raise PscIdentityRejected(failure) from failure
        account = await AccountRepository(connection).by_idnps(identity.idnps)
        if account is None or account.disabled_at is not None:
            raise Forbidden("This professional has no active account here: ask your administrator")
        return _tokens(await _authenticator(request).issue(connection, account, "psc"), request)

    @router.get(
        "/auth/oidc/login",
        tags=["auth"],
        summary="Start a login with the organisation's own OpenID provider (when DUI_OIDC_DISCOVERY_URL is set)",
        operation_id="oidc_login",
        status_code=302,
        response_class=Response,
        dependencies=RATE_LIMITED,
        responses={302: {"description": "Redirect to the provider"}, **responses(404, 429, 502)},
    )
    async def oidc_login(request: Request, connection: WriteConnection) -> Response:
        return await _start_login(_organisation_provider(request), connection)

    @router.get(
        "/auth/oidc/callback",
        tags=["auth"],
        summary="Where the organisation's provider sends the user back; the account is found by username",
        operation_id="oidc_callback",
        response_model=Tokens,
        dependencies=_login_route("login"),
        responses=responses(401, 403, 404, 422, 429, 502),
    )
    async def oidc_callback(
        request: Request,
        connection: WriteConnection,
        state: Annotated[str, Query(min_length=1, max_length=64)],
        code: Annotated[str | None, Query(max_length=2000)] = None,
        error: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Tokens:
        provider = _organisation_provider(request)
        verifier, nonce = await _pending(connection, state, code, error)
        assert code is not None
        try:
            userinfo = await provider.authenticate(code=code, code_verifier=verifier, nonce=nonce)
        except PscError as failure:
            if failure.rule.startswith("psc-"):
                raise PscRefused(failure) from failure
            raise PscIdentityRejected(failure) from failure
        username = userinfo.get(request.app.state.settings.oidc_username_claim)
        account = await AccountRepository(connection).by_username(str(username)) if username else None
        if account is None or account.disabled_at is not None:
            raise Forbidden("This user has no active account here: ask your administrator")
        return _tokens(await _authenticator(request).issue(connection, account, "oidc"), request)

    async def _pending(connection: WriteConnection, state: str, code: str | None, error: str | None) -> tuple[str, str]:
        pending = await TokenRepository(connection).take_login(state)
        if pending is None or pending[2] < datetime.now(UTC) - timedelta(minutes=10):
            raise Unauthenticated("Unknown or expired login (state)")
        if error is not None or code is None:
            raise Unauthenticated(f"The identity provider did not authenticate the user ({error or 'no code'})")
        return pending[0], pending[1]

    @router.get(
        "/auth/psc/logout",
        tags=["auth"],
        summary="End the Pro Santé Connect session too (redirects to PSC's end_session endpoint)",
        operation_id="psc_logout",
        status_code=302,
        response_class=Response,
        dependencies=RATE_LIMITED,
        responses={302: {"description": "Redirect to PSC's logout"}, **responses(429, 502)},
    )
    async def psc_logout(request: Request) -> Response:
        try:
            url = await request.app.state.psc.logout_url(request.app.state.settings.psc_post_logout_redirect_uri)
        except PscError as error:
            raise PscRefused(error) from error
        return Response(status_code=302, headers={"Location": url})

    @router.get(
        "/auth/me",
        tags=["auth"],
        summary="Who the token stands for, and where each permission holds",
        operation_id="whoami",
        response_model=Me,
        dependencies=[authenticated()],
        responses=responses(401),
    )
    async def me(principal: CurrentPrincipal) -> Me:
        permissions: dict[str, list[uuid.UUID] | None] = {}
        for permission in Permission:
            scope = principal.scope_for(permission)
            if scope is not None:
                permissions[permission.value] = None if scope.essms_ids is None else sorted(scope.essms_ids)
        return Me(
            actor=principal.actor,
            kind=principal.kind,
            account_id=principal.account_id,
            superuser=principal.superuser,
            permissions=permissions,
        )

    # -- accounts and API tokens -------------------------------------------------------------------
    @router.post(
        "/accounts",
        tags=["administration"],
        summary="Create an account with its roles per ESSMS",
        operation_id="create_account",
        status_code=201,
        response_model=Account,
        dependencies=[requires(P.ADMIN)],
        responses=responses(401, 403, 409, 422),
    )
    async def create_account(
        body: Annotated[AccountInput, Body()], connection: WriteConnection, principal: CurrentPrincipal
    ) -> Account:
        view = await AccountService(connection, principal).create(
            username=body.username,
            password=body.password,
            idnps=body.idnps,
            professional_id=body.professional_id,
            superuser=body.superuser,
            memberships=_specs(body.memberships),
        )
        return _account(view)

    @router.get(
        "/accounts",
        tags=["administration"],
        summary="Accounts having a role in the ESSMS you administer",
        operation_id="list_accounts",
        response_model=AccountPage,
        dependencies=[requires(P.ADMIN)],
        responses=responses(401, 403, 422),
    )
    async def list_accounts(
        connection: ReadConnection, principal: CurrentPrincipal, limit: Limit = 50, cursor: Cursor = None
    ) -> AccountPage:
        views = await AccountService(connection, principal).page(_cursor(cursor), limit + 1)
        more = len(views) > limit
        views = views[:limit]
        return AccountPage(
            items=[_account(v) for v in views], next_cursor=str(views[-1].account.id) if more and views else None
        )

    @router.get(
        "/accounts/{account_id}",
        tags=["administration"],
        summary="Read an account",
        operation_id="read_account",
        response_model=Account,
        dependencies=[requires(P.ADMIN)],
        responses=responses(401, 403, 404, 422),
    )
    async def read_account(account_id: uuid.UUID, connection: ReadConnection, principal: CurrentPrincipal) -> Account:
        return _account(await AccountService(connection, principal).get(account_id))

    @router.patch(
        "/accounts/{account_id}",
        tags=["administration"],
        summary="Change an account's password, roles, or disable it",
        operation_id="change_account",
        response_model=Account,
        dependencies=[requires(P.ADMIN)],
        responses=responses(401, 403, 404, 422),
    )
    async def change_account(
        request: Request,
        account_id: uuid.UUID,
        body: Annotated[AccountPatch, Body()],
        connection: WriteConnection,
        principal: CurrentPrincipal,
    ) -> Account:
        view = await AccountService(connection, principal).change(
            account_id,
            password=body.password,
            disabled=body.disabled,
            memberships=_specs(body.memberships) if body.memberships is not None else None,
        )
        _authenticator(request).cache.clear()
        return _account(view)

    @router.post(
        "/api-tokens",
        tags=["administration"],
        summary="Issue an API token for a staff application or a batch job (the token is shown once)",
        operation_id="create_api_token",
        status_code=201,
        response_model=IssuedApiToken,
        dependencies=[requires(P.ADMIN)],
        responses=responses(401, 403, 404, 422),
    )
    async def create_api_token(
        request: Request,
        body: Annotated[ApiTokenInput, Body()],
        connection: WriteConnection,
        principal: CurrentPrincipal,
    ) -> IssuedApiToken:
        account_id = body.account_id or principal.account_id
        if account_id is None:
            raise RuleViolation("account-required", "Name the account the token acts for", field="account_id")
        days = min(body.expires_in_days, request.app.state.settings.api_token_days_max)
        issued = await AccountService(connection, principal).issue_token(
            account_id=account_id, name=body.name, permissions=body.permissions, days=days
        )
        return IssuedApiToken(**_api_token(issued.row).model_dump(), token=issued.token)

    @router.get(
        "/api-tokens",
        tags=["administration"],
        summary="API tokens of the accounts you administer (never the secrets)",
        operation_id="list_api_tokens",
        response_model=ApiTokenPage,
        dependencies=[requires(P.ADMIN)],
        responses=responses(401, 403, 422),
    )
    async def list_api_tokens(
        connection: ReadConnection, principal: CurrentPrincipal, limit: Limit = 50, cursor: Cursor = None
    ) -> ApiTokenPage:
        rows = await AccountService(connection, principal).tokens_page(_cursor(cursor), limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return ApiTokenPage(
            items=[_api_token(r) for r in rows], next_cursor=str(rows[-1].id) if more and rows else None
        )

    @router.delete(
        "/api-tokens/{token_id}",
        tags=["administration"],
        summary="Revoke an API token",
        operation_id="revoke_api_token",
        status_code=204,
        dependencies=[requires(P.ADMIN)],
        responses=responses(401, 403, 404, 422),
    )
    async def revoke_api_token(
        request: Request, token_id: uuid.UUID, connection: WriteConnection, principal: CurrentPrincipal
    ) -> Response:
        await AccountService(connection, principal).revoke_token(token_id)
        _authenticator(request).cache.clear()
        return Response(status_code=204)

    # -- audit trail -------------------------------------------------------------------------------
    async def _audit_page(
        request: Request,
        connection: ReadConnection,
        *,
        usager_id: uuid.UUID | None,
        actor: str | None,
        account_id: uuid.UUID | None,
        operation: str | None,
        since: datetime | None,
        cursor: str | None,
        limit: int,
    ) -> AuditPage:
        await request.app.state.audit.flush()
        before: int | None = None
        if cursor is not None:
            if not cursor.isdigit():
                raise RuleViolation("bad-cursor", "Use next_cursor as returned", field="cursor")
            before = int(cursor)
        rows = await AuditRepository(connection).page(
            usager_id=usager_id,
            actor=actor,
            account_id=account_id,
            operation=operation,
            since=since,
            before_id=before,
            limit=limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return AuditPage(items=[_entry(r) for r in rows], next_cursor=str(rows[-1].id) if more and rows else None)

    @router.get(
        "/audit/events",
        tags=["audit"],
        summary="The audit trail, newest first: per professional (actor, account_id), per usager, per operation",
        operation_id="list_audit_events",
        response_model=AuditPage,
        dependencies=[requires(P.AUDIT_READ)],
        responses=responses(401, 403, 422),
    )
    async def list_audit_events(
        request: Request,
        connection: ReadConnection,
        principal: CurrentPrincipal,
        usager_id: uuid.UUID | None = None,
        actor: Annotated[str | None, Query(max_length=200)] = None,
        account_id: uuid.UUID | None = None,
        operation: Annotated[str | None, Query(max_length=100)] = None,
        since: datetime | None = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> AuditPage:
        if usager_id is not None:
            await UsagerService(connection, principal).get(usager_id)
        elif not principal.scope.unrestricted:
            # The whole trail names every ESSMS's usagers: per usager only, unless unrestricted.
            raise RuleViolation("usager-required", "Filter by usager_id (your roles are per ESSMS)", field="usager_id")
        return await _audit_page(
            request,
            connection,
            usager_id=usager_id,
            actor=actor,
            account_id=account_id,
            operation=operation,
            since=since,
            cursor=cursor,
            limit=limit,
        )

    @router.get(
        "/usagers/{usager_id}/audit",
        tags=["audit"],
        summary="Who accessed this usager's record, newest first",
        operation_id="usager_audit",
        response_model=AuditPage,
        dependencies=[requires(P.AUDIT_READ, usager_data=True)],
        responses=responses(401, 403, 404, 422),
    )
    async def usager_audit(
        request: Request,
        usager_id: uuid.UUID,
        connection: ReadConnection,
        principal: CurrentPrincipal,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> AuditPage:
        await UsagerService(connection, principal).get(usager_id)
        return await _audit_page(
            request,
            connection,
            usager_id=usager_id,
            actor=None,
            account_id=None,
            operation=None,
            since=None,
            cursor=cursor,
            limit=limit,
        )

    # -- identity-document scans -------------------------------------------------------------------
    document_types = ["application/pdf", "image/jpeg", "image/png"]

    @router.put(
        "/usagers/{usager_id}/identity-document",
        tags=["usagers"],
        summary="Store the scan of the usager's identity document (encrypted; replaces the previous one)",
        operation_id="put_identity_document",
        response_model=DocumentMeta,
        dependencies=[requires(P.IDENTITY_DOCUMENT_WRITE, usager_data=True)],
        responses=responses(400, 401, 403, 404, 413, 415, 422),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in document_types},
            }
        },
    )
    async def put_identity_document(
        request: Request,
        usager_id: uuid.UUID,
        connection: WriteConnection,
        principal: CurrentPrincipal,
        kind: Annotated[
            Literal["cni", "passeport", "titre-sejour", "livret-famille", "acte-naissance", "autre"],
            Query(description="Which document the scan shows"),
        ] = "cni",
    ) -> DocumentMeta:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in document_types:
            raise UnsupportedMedia(f"Send one of {', '.join(document_types)}")
        content = await request.body()
        if not content:
            raise RuleViolation("document-empty", "The scan is empty", field="body")
        service = IdentityDocumentService(connection, principal, request.app.state.settings.document_keyring())
        row = await service.put(usager_id, kind, content_type, content)
        note_usagers(request, [usager_id])
        return DocumentMeta(
            usager_id=usager_id,
            kind=row.kind,
            content_type=row.content_type,
            size=row.size,
            uploaded_at=row.uploaded_at,
            uploaded_by=row.uploaded_by,
        )

    @router.get(
        "/usagers/{usager_id}/identity-document",
        tags=["usagers"],
        summary="Read the scan of the usager's identity document",
        operation_id="read_identity_document",
        dependencies=[requires(P.IDENTITY_DOCUMENT_READ, usager_data=True)],
        responses={
            200: {"content": {t: {"schema": {"type": "string", "format": "binary"}} for t in document_types}},
            **responses(401, 403, 404, 422),
        },
        response_class=Response,
    )
    async def read_identity_document(
        request: Request, usager_id: uuid.UUID, connection: ReadConnection, principal: CurrentPrincipal
    ) -> Response:
        service = IdentityDocumentService(connection, principal, request.app.state.settings.document_keyring())
        opened = await service.get(usager_id)
        return Response(
            opened.content,
            media_type=opened.row.content_type,
            headers={"X-Document-Kind": opened.row.kind, "Content-Disposition": "attachment"},
        )

    @router.delete(
        "/usagers/{usager_id}/identity-document",
        tags=["usagers"],
        summary="Delete the scan of the usager's identity document",
        operation_id="delete_identity_document",
        status_code=204,
        dependencies=[requires(P.IDENTITY_DOCUMENT_WRITE, usager_data=True)],
        responses=responses(401, 403, 404, 422),
    )
    async def delete_identity_document(
        request: Request, usager_id: uuid.UUID, connection: WriteConnection, principal: CurrentPrincipal
    ) -> Response:
        service = IdentityDocumentService(connection, principal, request.app.state.settings.document_keyring())
        await service.delete(usager_id)
        return Response(status_code=204)

    return router


class PscRefused(DomainError):
    code = "psc-unavailable"
    title = "Pro Santé Connect could not be used"
    status = 502

    def __init__(self, error: PscError) -> None:
        super().__init__(error.message, issues=[FieldIssue("", error.rule, error.message)])


class PscIdentityRejected(Unauthenticated):
    code = "psc-identity-rejected"
    title = "The Pro Santé Connect identity was refused"

    def __init__(self, error: PscError) -> None:
        super().__init__(error.message, issues=[FieldIssue("id_token", error.rule, error.message)])


class UnsupportedMedia(RuleViolation):
    code = "unsupported-media-type"
    title = "Unsupported media type"
    status = 415

    def __init__(self, message: str) -> None:
        super().__init__("media-type", message, field="content-type")
