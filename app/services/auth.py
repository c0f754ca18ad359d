"""Authentication: local passwords (Argon2id), API tokens, short-lived access tokens with one-use refresh."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from sqlalchemy.ext.asyncio import AsyncConnection

from app.config import Settings
from app.domain.access import Membership, Permission, Principal, Role, Scope, grants_from
from app.domain.errors import Unauthenticated
from app.store.db import Database
from app.store.security import AccountRepository, AccountRow, TokenRepository

API_TOKEN_PREFIX = "dui_at_"
REFRESH_PREFIX = "dui_rt_"
_hasher = PasswordHasher()
# Verified against when the username is unknown, so that both answers take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def _digest(secret: str) -> str:
    # API and refresh secrets are 256 random bits: a plain SHA-256 is enough (no password to stretch).
    return hashlib.sha256(secret.encode()).hexdigest()


def new_opaque(prefix: str) -> tuple[uuid.UUID, str, str]:
    """(id, full token to hand out once, hash to store)."""
    token_id = uuid.uuid4()
    secret = secrets.token_urlsafe(32)
    return token_id, f"{prefix}{token_id.hex}_{secret}", _digest(secret)


def parse_opaque(prefix: str, token: str) -> tuple[uuid.UUID, str] | None:
    if not token.startswith(prefix):
        return None
    head, _, secret = token[len(prefix) :].partition("_")
    try:
        return uuid.UUID(hex=head), _digest(secret)
    except ValueError:
        return None


@dataclass(frozen=True)
class SessionClosed:
    reason: str


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    account_id: uuid.UUID
    username: str
    method: str


def _memberships_claim(memberships: list[Membership]) -> list[list[Any]]:
    return [
        [m.role.value, None if m.scope.essms_ids is None else sorted(str(e) for e in m.scope.essms_ids)]
        for m in memberships
    ]


def _memberships_from_claim(claim: Any) -> list[Membership]:
    return [
        Membership(Role(role), Scope.everything() if ids is None else Scope(frozenset(uuid.UUID(e) for e in ids)))
        for role, ids in claim
    ]


class _TtlCache:
    """A small time-bounded cache: a token checked a moment ago is not looked up again."""

    def __init__(self, seconds: float, size: int = 10_000) -> None:
        self.seconds = seconds
        self.size = size
        self._items: dict[str, tuple[float, Principal]] = {}

    def get(self, key: str) -> Principal | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] < time.monotonic():
            self._items.pop(key, None)
            return None
        return item[1]

    def put(self, key: str, principal: Principal, seconds: float | None = None) -> None:
        if self.seconds <= 0:
            return
        if len(self._items) >= self.size:
            self._items.clear()
        self._items[key] = (time.monotonic() + min(seconds or self.seconds, self.seconds), principal)

    def clear(self) -> None:
        self._items.clear()


def principal_of(account: AccountRow, memberships: list[Membership], kind: str, allowed: list[str] | None) -> Principal:
    grants = grants_from(memberships, allowed)
    if account.superuser and allowed is not None:  # a superuser's narrowed token: those permissions, everywhere
        grants = {Permission(p): Scope.everything() for p in allowed}
    return Principal(
        actor=account.username,
        scope=Scope.everything() if account.superuser and allowed is None else Scope.of(),
        grants=grants,
        superuser=account.superuser and allowed is None,
        account_id=account.id,
        kind=kind,
    )


class Authenticator:
    """Checks bearer tokens and issues them; one per application."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.database = database
        self.key = OctKey.import_key(settings.signing_key())
        self.cache = _TtlCache(settings.auth_cache_seconds)
        self._jwt_cache = _TtlCache(60.0)
        self._api_token_lookups: dict[str, asyncio.Future[Principal]] = {}

    # -- checking ------------------------------------------------------------------------------------
    async def principal(self, token: str) -> Principal:
        """The principal a bearer token stands for; raises Unauthenticated."""
        if token.startswith(API_TOKEN_PREFIX):
            return await self._api_token(token)
        return self._access_token(token)

    def _access_token(self, token: str) -> Principal:
        cached = self._jwt_cache.get(token)
        if cached is not None:
            return cached
        try:
            decoded = jwt.decode(token, self.key, algorithms=["HS256"])
            jwt.JWTClaimsRegistry(
                exp={"essential": True},
                iss={"essential": True, "value": "dui"},
                typ={"essential": True, "value": "access"},
            ).validate(decoded.claims)
        except (JoseError, ValueError) as error:
            raise Unauthenticated("The access token is not valid or has expired") from error
        claims = decoded.claims
        principal = Principal(
            actor=str(claims["name"]),
            scope=Scope.everything() if claims.get("su") else Scope.of(),
            grants=grants_from(_memberships_from_claim(claims.get("m", []))),
            superuser=bool(claims.get("su")),
            account_id=uuid.UUID(str(claims["sub"])),
            kind=str(claims.get("amr", "password")),
        )
        self._jwt_cache.put(token, principal, max(0.0, float(claims["exp"]) - time.time()))
        return principal

    async def _api_token(self, token: str) -> Principal:
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        # When the cached check expires under load, the concurrent requests of that token share one lookup.
        lookup = self._api_token_lookups.get(key)
        if lookup is None:
            lookup = self._api_token_lookups[key] = asyncio.ensure_future(self._look_up_api_token(token, key))
            lookup.add_done_callback(lambda _: self._api_token_lookups.pop(key, None))
        return await asyncio.shield(lookup)

    async def _look_up_api_token(self, token: str, key: str) -> Principal:
        parsed = parse_opaque(API_TOKEN_PREFIX, token)
        if parsed is None:
            raise Unauthenticated("Malformed API token")
        token_id, digest = parsed
        async with self.database.read() as connection:
            row = await TokenRepository(connection).api_token(token_id)
            if row is None or not hmac.compare_digest(row.secret_hash, digest):
                raise Unauthenticated("Unknown API token")
            if row.revoked_at is not None:
                raise Unauthenticated("This API token was revoked")
            now = datetime.now(UTC)
            if row.expires_at <= now:
                raise Unauthenticated("This API token has expired")
            accounts = AccountRepository(connection)
            account = await accounts.by_id(row.account_id)
            if account is None or account.disabled_at is not None:
                raise Unauthenticated("The account of this API token is disabled")
            memberships = await accounts.resolved_memberships(account.id)
        principal = principal_of(account, memberships, "api-token", row.permissions)
        self.cache.put(key, principal, (row.expires_at - now).total_seconds())
        return principal

    # -- issuing -------------------------------------------------------------------------------------
    async def issue(
        self, connection: AsyncConnection, account: AccountRow, method: str, family: uuid.UUID | None = None
    ) -> TokenPair:
        """An access token and a refresh token for ``account`` (inside the caller's transaction)."""
        memberships = await AccountRepository(connection).resolved_memberships(account.id)
        now = datetime.now(UTC)
        claims = {
            "iss": "dui",
            "typ": "access",
            "sub": str(account.id),
            "name": account.username,
            "su": account.superuser,
            "amr": method,
            "m": _memberships_claim(memberships),
            "iat": int(now.timestamp()),
            "exp": int(now.timestamp()) + self.settings.access_token_seconds,
            "jti": secrets.token_hex(8),
        }
        access = jwt.encode({"alg": "HS256"}, claims, self.key)
        token_id, refresh, digest = new_opaque(REFRESH_PREFIX)
        await TokenRepository(connection).insert_refresh(
            token_id=token_id,
            account_id=account.id,
            family=family or token_id,
            secret_hash=digest,
            auth_method=method,
            now=now,
            expires_at=now + timedelta(seconds=self.settings.refresh_token_seconds),
        )
        return TokenPair(access, refresh, self.settings.access_token_seconds, account.id, account.username, method)

    async def login(self, connection: AsyncConnection, username: str, password: str) -> TokenPair:
        account = await AccountRepository(connection).by_username(username)
        if not password_matches(account.password_hash if account else None, password) or account is None:
            raise Unauthenticated("Unknown username or wrong password")
        if account.disabled_at is not None:
            raise Unauthenticated("This account is disabled")
        return await self.issue(connection, account, "password")

    async def refresh(self, connection: AsyncConnection, token: str) -> TokenPair | SessionClosed:
        """Exchange a refresh token for a new pair; a second use of the same token revokes its family
        (returned, not raised, so that the caller commits the revocation)."""
        parsed = parse_opaque(REFRESH_PREFIX, token)
        if parsed is None:
            raise Unauthenticated("Malformed refresh token")
        token_id, digest = parsed
        tokens = TokenRepository(connection)
        row = await tokens.refresh(token_id)
        now = datetime.now(UTC)
        if row is None or not hmac.compare_digest(row.secret_hash, digest):
            raise Unauthenticated("Unknown refresh token")
        if row.revoked_at is not None or row.expires_at <= now:
            raise Unauthenticated("This refresh token was revoked or has expired")
        if row.used_at is not None or not await tokens.use_refresh(row.id, now):
            await tokens.revoke_family(row.family, now)
            return SessionClosed("This refresh token was already used: the session is closed")
        account = await AccountRepository(connection).by_id(row.account_id)
        if account is None or account.disabled_at is not None:
            raise Unauthenticated("This account is disabled")
        return await self.issue(connection, account, row.auth_method, family=row.family)

    async def logout(self, connection: AsyncConnection, token: str) -> None:
        parsed = parse_opaque(REFRESH_PREFIX, token)
        if parsed is None:
            return
        tokens = TokenRepository(connection)
        row = await tokens.refresh(parsed[0])
        if row is not None and hmac.compare_digest(row.secret_hash, parsed[1]):
            await tokens.revoke_family(row.family, datetime.now(UTC))


def permissions_valid(names: list[str]) -> list[str]:
    """The names that are not permissions."""
    known = {p.value for p in Permission}
    return [n for n in names if n not in known]
