"""Administration of accounts, their roles per ESSMS, and API tokens (per organisme gestionnaire)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.access import Permission, Principal, Role, Scope
from app.domain.errors import Conflict, Forbidden, NotFound, RuleViolation
from app.services.auth import API_TOKEN_PREFIX, hash_password, new_opaque
from app.store.security import AccountRepository, AccountRow, ApiTokenRow, MembershipRow, TokenRepository


@dataclass(frozen=True)
class MembershipSpec:
    role: Role
    essms_id: uuid.UUID | None = None
    organisme_id: uuid.UUID | None = None


@dataclass(frozen=True)
class AccountView:
    account: AccountRow
    memberships: list[MembershipRow]


@dataclass(frozen=True)
class IssuedToken:
    row: ApiTokenRow
    token: str


class AccountService:
    """Every method runs for ``principal`` restricted to where it holds ``admin``."""

    def __init__(self, connection: AsyncConnection, principal: Principal) -> None:
        self.connection = connection
        self.principal = principal
        self.accounts = AccountRepository(connection)
        self.tokens = TokenRepository(connection)

    @property
    def scope(self) -> Scope:
        return self.principal.scope

    async def _check_memberships(self, memberships: list[MembershipSpec]) -> list[MembershipRow]:
        for index, m in enumerate(memberships):
            if (m.essms_id is None) == (m.organisme_id is None):
                raise RuleViolation(
                    "membership-target", "Give exactly one of essms_id and organisme_id", field=f"memberships.{index}"
                )
        essms = {m.essms_id for m in memberships if m.essms_id is not None}
        missing = essms - await self.accounts.essms_exist(essms)
        if missing:
            raise RuleViolation("essms-exists", f"No ESSMS {sorted(map(str, missing))[0]}", field="memberships")
        organismes = {m.organisme_id for m in memberships if m.organisme_id is not None}
        of_organisme = await self.accounts.organismes_of(organismes)
        if organismes - set(of_organisme):
            raise RuleViolation("organisme-exists", "No such organisme", field="memberships")
        if not self.scope.unrestricted:
            allowed = self.scope.essms_ids or frozenset()
            outside = essms - allowed or {o for o, ids in of_organisme.items() if not ids or not ids <= allowed}
            if outside:
                raise Forbidden("You administer no such ESSMS or organisme")
        return [MembershipRow(m.role.value, m.essms_id, m.organisme_id) for m in memberships]

    async def _visible(self, account_id: uuid.UUID) -> AccountRow:
        account = await self.accounts.by_id(account_id)
        if account is None:
            raise NotFound(f"No account {account_id}")
        if self.scope.unrestricted:
            return account
        resolved = await self.accounts.resolved_memberships(account_id)
        allowed = self.scope.essms_ids or frozenset()
        if account.superuser or not any(m.scope.essms_ids and m.scope.essms_ids & allowed for m in resolved):
            raise NotFound(f"No account {account_id}")
        return account

    async def create(
        self,
        *,
        username: str,
        password: str | None,
        idnps: str | None,
        professional_id: uuid.UUID | None,
        superuser: bool,
        memberships: list[MembershipSpec],
    ) -> AccountView:
        if superuser and not self.principal.superuser:
            raise Forbidden("Only a superuser creates superusers")
        rows = await self._check_memberships(memberships)
        account_id = uuid.uuid4()
        try:
            await self.accounts.insert(
                account_id=account_id,
                username=username,
                password_hash=hash_password(password) if password else None,
                idnps=idnps,
                professional_id=professional_id,
                superuser=superuser,
                now=datetime.now(UTC),
            )
        except IntegrityError as error:
            raise Conflict(
                "account-unique", "This username or IDNPS already has an account", field="username"
            ) from error
        await self.accounts.replace_memberships(account_id, rows)
        return await self.get(account_id)

    async def get(self, account_id: uuid.UUID) -> AccountView:
        account = await self._visible(account_id)
        return AccountView(account, await self.accounts.memberships(account_id))

    async def page(self, after: uuid.UUID | None, limit: int) -> list[AccountView]:
        accounts = await self.accounts.page(scope=self.scope, after=after, limit=limit)
        return [AccountView(a, await self.accounts.memberships(a.id)) for a in accounts]

    async def change(
        self,
        account_id: uuid.UUID,
        *,
        password: str | None = None,
        disabled: bool | None = None,
        memberships: list[MembershipSpec] | None = None,
    ) -> AccountView:
        await self._visible(account_id)
        if password is not None:
            await self.accounts.set_password(account_id, hash_password(password))
        if disabled is not None:
            await self.accounts.set_disabled(account_id, datetime.now(UTC) if disabled else None)
        if memberships is not None:
            await self.accounts.replace_memberships(account_id, await self._check_memberships(memberships))
        return await self.get(account_id)

    async def issue_token(
        self, *, account_id: uuid.UUID, name: str, permissions: list[Permission] | None, days: int
    ) -> IssuedToken:
        await self._visible(account_id)
        token_id, token, digest = new_opaque(API_TOKEN_PREFIX)
        now = datetime.now(UTC)
        names = [p.value for p in permissions] if permissions is not None else None
        await self.tokens.insert_api_token(
            token_id=token_id,
            account_id=account_id,
            name=name,
            secret_hash=digest,
            permissions=names,
            now=now,
            expires_at=now + timedelta(days=days),
        )
        row = await self.tokens.api_token(token_id)
        assert row is not None
        return IssuedToken(row, token)

    async def tokens_page(self, after: uuid.UUID | None, limit: int) -> list[ApiTokenRow]:
        if self.scope.unrestricted:
            return await self.tokens.api_tokens(None, after, limit)
        visible = [a.id for a in await self.accounts.page(scope=self.scope, after=None, limit=10_000)]
        return await self.tokens.api_tokens(visible, after, limit)

    async def revoke_token(self, token_id: uuid.UUID) -> None:
        row = await self.tokens.api_token(token_id)
        if row is None:
            raise NotFound(f"No API token {token_id}")
        await self._visible(row.account_id)
        await self.tokens.revoke_api_token(token_id, datetime.now(UTC))
