"""SQL of the security layer: accounts and memberships, tokens, PSC logins, the audit trail, identity documents."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import orjson
from sqlalchemy import Table, and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from app.domain.access import Membership, Role, Scope
from app.domain.audit import GENESIS, AuditEvent, chain_hash
from app.store import tables
from app.store.identity import TRACE
from app.store.pg_bulk import columns_of, insert_select


def _t(model: type[Any]) -> Table:
    return model.__table__  # type: ignore[no-any-return]


ACCOUNT = _t(tables.Account)
MEMBERSHIP = _t(tables.Membership)
API_TOKEN = _t(tables.ApiToken)
REFRESH = _t(tables.RefreshToken)
OIDC_LOGIN = _t(tables.OidcLogin)
AUDIT = _t(tables.AuditEventRow)
AUDIT_USAGER = _t(tables.AuditEventUsager)
DOCUMENT = _t(tables.IdentityDocument)
ESSMS = _t(tables.Essms)
USAGER = _t(tables.Usager)
STAY = _t(tables.Stay)


@dataclass(frozen=True)
class AccountRow:
    id: uuid.UUID
    username: str
    password_hash: str | None
    idnps: str | None
    professional_id: uuid.UUID | None
    superuser: bool
    created_at: datetime
    disabled_at: datetime | None


@dataclass(frozen=True)
class MembershipRow:
    role: str
    essms_id: uuid.UUID | None
    organisme_id: uuid.UUID | None


@dataclass(frozen=True)
class ApiTokenRow:
    id: uuid.UUID
    account_id: uuid.UUID
    name: str
    secret_hash: str
    permissions: list[str] | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class RefreshRow:
    id: uuid.UUID
    account_id: uuid.UUID
    family: uuid.UUID
    secret_hash: str
    auth_method: str
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


def _account(row: Any) -> AccountRow:
    return AccountRow(
        row.id,
        row.username,
        row.password_hash,
        row.idnps,
        row.professional_id,
        bool(row.superuser),
        row.created_at,
        row.disabled_at,
    )


class AccountRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def insert(
        self,
        *,
        account_id: uuid.UUID,
        username: str,
        password_hash: str | None,
        idnps: str | None,
        professional_id: uuid.UUID | None,
        superuser: bool,
        now: datetime,
    ) -> None:
        await self.connection.execute(
            insert(ACCOUNT).values(
                id=account_id,
                username=username,
                password_hash=password_hash,
                idnps=idnps,
                professional_id=professional_id,
                superuser=superuser,
                created_at=now,
            )
        )

    async def by_id(self, account_id: uuid.UUID) -> AccountRow | None:
        row = (await self.connection.execute(select(ACCOUNT).where(ACCOUNT.c.id == account_id))).first()
        return _account(row) if row else None

    async def by_username(self, username: str) -> AccountRow | None:
        row = (await self.connection.execute(select(ACCOUNT).where(ACCOUNT.c.username == username))).first()
        return _account(row) if row else None

    async def by_idnps(self, idnps: str) -> AccountRow | None:
        row = (await self.connection.execute(select(ACCOUNT).where(ACCOUNT.c.idnps == idnps))).first()
        return _account(row) if row else None

    async def page(self, *, scope: Scope, after: uuid.UUID | None, limit: int) -> list[AccountRow]:
        """Accounts having a membership in ``scope`` (every account for an unrestricted scope)."""
        conditions: list[ColumnElement[bool]] = []
        if after is not None:
            conditions.append(ACCOUNT.c.id > after)
        if scope.essms_ids is not None:
            conditions.append(
                exists().where(
                    MEMBERSHIP.c.account_id == ACCOUNT.c.id,
                    or_(
                        MEMBERSHIP.c.essms_id.in_(scope.essms_ids),
                        MEMBERSHIP.c.organisme_id.in_(
                            select(ESSMS.c.organisme_id).where(ESSMS.c.id.in_(scope.essms_ids))
                        ),
                    ),
                )
            )
        statement = select(ACCOUNT).where(*conditions).order_by(ACCOUNT.c.id).limit(limit)
        return [_account(r) for r in (await self.connection.execute(statement)).all()]

    async def set_password(self, account_id: uuid.UUID, password_hash: str) -> None:
        await self.connection.execute(
            update(ACCOUNT).where(ACCOUNT.c.id == account_id).values(password_hash=password_hash)
        )

    async def set_disabled(self, account_id: uuid.UUID, disabled_at: datetime | None) -> None:
        await self.connection.execute(update(ACCOUNT).where(ACCOUNT.c.id == account_id).values(disabled_at=disabled_at))

    async def memberships(self, account_id: uuid.UUID) -> list[MembershipRow]:
        statement = select(MEMBERSHIP.c.role, MEMBERSHIP.c.essms_id, MEMBERSHIP.c.organisme_id).where(
            MEMBERSHIP.c.account_id == account_id
        )
        return [MembershipRow(r.role, r.essms_id, r.organisme_id) for r in (await self.connection.execute(statement))]

    async def replace_memberships(self, account_id: uuid.UUID, memberships: list[MembershipRow]) -> None:
        await self.connection.execute(delete(MEMBERSHIP).where(MEMBERSHIP.c.account_id == account_id))
        if memberships:
            await self.connection.execute(
                insert(MEMBERSHIP),
                [
                    {
                        "id": uuid.uuid4(),
                        "account_id": account_id,
                        "role": m.role,
                        "essms_id": m.essms_id,
                        "organisme_id": m.organisme_id,
                    }
                    for m in memberships
                ],
            )

    async def resolved_memberships(self, account_id: uuid.UUID) -> list[Membership]:
        """Memberships with an organisme's role expanded to the ESSMS it runs today."""
        rows = await self.memberships(account_id)
        organismes = {r.organisme_id for r in rows if r.organisme_id is not None}
        by_organisme: dict[uuid.UUID, set[uuid.UUID]] = {o: set() for o in organismes}
        if organismes:
            statement = select(ESSMS.c.id, ESSMS.c.organisme_id).where(ESSMS.c.organisme_id.in_(organismes))
            for essms_id, organisme_id in (await self.connection.execute(statement)).all():
                by_organisme[organisme_id].add(essms_id)
        resolved = []
        for row in rows:
            if row.essms_id is not None:
                resolved.append(Membership(Role(row.role), Scope.of(row.essms_id)))
            elif row.organisme_id is not None:
                resolved.append(Membership(Role(row.role), Scope(frozenset(by_organisme[row.organisme_id]))))
        return resolved

    async def essms_exist(self, essms_ids: set[uuid.UUID]) -> set[uuid.UUID]:
        if not essms_ids:
            return set()
        statement = select(ESSMS.c.id).where(ESSMS.c.id.in_(essms_ids))
        return set((await self.connection.scalars(statement)).all())

    async def organismes_of(self, organisme_ids: set[uuid.UUID]) -> dict[uuid.UUID, set[uuid.UUID]]:
        """Organisme -> its ESSMS, for the organismes that exist."""
        organisme_table = _t(tables.Organisme)
        known = set(
            (
                await self.connection.scalars(
                    select(organisme_table.c.id).where(organisme_table.c.id.in_(organisme_ids))
                )
            ).all()
        )
        result: dict[uuid.UUID, set[uuid.UUID]] = {o: set() for o in known}
        if known:
            statement = select(ESSMS.c.id, ESSMS.c.organisme_id).where(ESSMS.c.organisme_id.in_(known))
            for essms_id, organisme_id in (await self.connection.execute(statement)).all():
                result[organisme_id].add(essms_id)
        return result


def _api_token(row: Any) -> ApiTokenRow:
    return ApiTokenRow(
        row.id,
        row.account_id,
        row.name,
        row.secret_hash,
        orjson.loads(row.permissions) if row.permissions else None,
        row.created_at,
        row.expires_at,
        row.revoked_at,
    )


class TokenRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def insert_api_token(
        self,
        *,
        token_id: uuid.UUID,
        account_id: uuid.UUID,
        name: str,
        secret_hash: str,
        permissions: list[str] | None,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        await self.connection.execute(
            insert(API_TOKEN).values(
                id=token_id,
                account_id=account_id,
                name=name,
                secret_hash=secret_hash,
                permissions=orjson.dumps(permissions).decode() if permissions is not None else None,
                created_at=now,
                expires_at=expires_at,
            )
        )

    async def api_token(self, token_id: uuid.UUID) -> ApiTokenRow | None:
        row = (await self.connection.execute(select(API_TOKEN).where(API_TOKEN.c.id == token_id))).first()
        return _api_token(row) if row else None

    async def api_tokens(
        self, account_ids: list[uuid.UUID] | None, after: uuid.UUID | None, limit: int
    ) -> list[ApiTokenRow]:
        conditions: list[ColumnElement[bool]] = []
        if account_ids is not None:
            conditions.append(API_TOKEN.c.account_id.in_(account_ids))
        if after is not None:
            conditions.append(API_TOKEN.c.id > after)
        statement = select(API_TOKEN).where(*conditions).order_by(API_TOKEN.c.id).limit(limit)
        return [_api_token(r) for r in (await self.connection.execute(statement)).all()]

    async def revoke_api_token(self, token_id: uuid.UUID, now: datetime) -> None:
        await self.connection.execute(
            update(API_TOKEN).where(API_TOKEN.c.id == token_id, API_TOKEN.c.revoked_at.is_(None)).values(revoked_at=now)
        )

    async def insert_refresh(
        self,
        *,
        token_id: uuid.UUID,
        account_id: uuid.UUID,
        family: uuid.UUID,
        secret_hash: str,
        auth_method: str,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        await self.connection.execute(
            insert(REFRESH).values(
                id=token_id,
                account_id=account_id,
                family=family,
                secret_hash=secret_hash,
                auth_method=auth_method,
                created_at=now,
                expires_at=expires_at,
            )
        )

    async def refresh(self, token_id: uuid.UUID) -> RefreshRow | None:
        row = (await self.connection.execute(select(REFRESH).where(REFRESH.c.id == token_id))).first()
        if row is None:
            return None
        return RefreshRow(
            row.id,
            row.account_id,
            row.family,
            row.secret_hash,
            row.auth_method,
            row.expires_at,
            row.used_at,
            row.revoked_at,
        )

    async def use_refresh(self, token_id: uuid.UUID, now: datetime) -> bool:
        """Mark a refresh token used; ``False`` when another request used it first."""
        result = await self.connection.execute(
            update(REFRESH).where(REFRESH.c.id == token_id, REFRESH.c.used_at.is_(None)).values(used_at=now)
        )
        return bool(result.rowcount == 1)

    async def revoke_family(self, family: uuid.UUID, now: datetime) -> None:
        await self.connection.execute(
            update(REFRESH).where(REFRESH.c.family == family, REFRESH.c.revoked_at.is_(None)).values(revoked_at=now)
        )

    async def save_login(self, state: str, code_verifier: str, nonce: str, now: datetime) -> None:
        await self.connection.execute(
            insert(OIDC_LOGIN).values(state=state, code_verifier=code_verifier, nonce=nonce, created_at=now)
        )

    async def take_login(self, state: str) -> tuple[str, str, datetime] | None:
        """The verifier, nonce and start of a pending login, removed so that a state serves once."""
        row = (await self.connection.execute(select(OIDC_LOGIN).where(OIDC_LOGIN.c.state == state))).first()
        if row is None:
            return None
        await self.connection.execute(delete(OIDC_LOGIN).where(OIDC_LOGIN.c.state == state))
        return row.code_verifier, row.nonce, row.created_at

    async def forget_logins_before(self, moment: datetime) -> None:
        await self.connection.execute(delete(OIDC_LOGIN).where(OIDC_LOGIN.c.created_at < moment))


@dataclass(frozen=True)
class StoredAuditEvent:
    id: int
    prev_hash: str
    hash: str
    event: AuditEvent


def _event(row: Any) -> StoredAuditEvent:
    return StoredAuditEvent(
        row.id,
        row.prev_hash,
        row.hash,
        AuditEvent(
            recorded_at=row.recorded_at,
            actor=row.actor,
            actor_kind=row.actor_kind,
            account_id=row.account_id,
            action=row.action,
            operation=row.operation,
            outcome=row.outcome,
            resource_type=row.resource_type,
            resource_id=row.resource_id,
            client_ip=row.client_ip,
            detail=orjson.loads(row.detail),
            usager_ids=[uuid.UUID(u) for u in orjson.loads(row.usager_ids)],
        ),
    )


class ChainMoved(Exception):
    """The chain's head is no longer the one the append started from: another process appended meanwhile."""


_EVENT_COLUMNS = (
    "recorded_at",
    "actor",
    "actor_kind",
    "account_id",
    "action",
    "operation",
    "outcome",
    "resource_type",
    "resource_id",
    "client_ip",
    "detail",
    "usager_ids",
    "prev_hash",
    "hash",
)
_TRACE_COLUMNS = ("usager_id", "actor", "at", "action", "detail")
_CHAIN_UNIQUE = "uq_audit_event_prev_hash"


@functools.cache
def _append_statement() -> str:
    """Events, their usager links and read traces in one statement, so one round trip and one commit.

    The unique previous hash is what keeps the chain linear across processes: an append from a stale head
    fails on it instead of forking the chain. The commit does not wait for the WAL flush: events already wait
    in memory until appended, and a crash loses at most the last moments of the trail, never its consistency.
    """
    events = insert_select(AUDIT, _EVENT_COLUMNS)
    links_first = len(_EVENT_COLUMNS) + 1
    traces = insert_select(TRACE, _TRACE_COLUMNS, first=links_first + 2)
    # A SELECT in WITH runs only when referenced, hence the final SELECT of the setting.
    return (
        "WITH durability AS (SELECT set_config('synchronous_commit', 'off', true) AS setting), "
        f"events AS ({events} RETURNING id, hash), "
        "links AS (INSERT INTO audit_event_usager (event_id, usager_id) SELECT events.id, l.usager_id "
        f"FROM unnest(${links_first}::text[], ${links_first + 1}::uuid[]) AS l(hash, usager_id) "
        "JOIN events ON events.hash = l.hash), "
        f"traces AS ({traces}) "
        "SELECT setting FROM durability"
    )


class AuditRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def head(self) -> str:
        """The hash the next event chains to."""
        last = await self.connection.scalar(select(AUDIT.c.hash).order_by(AUDIT.c.id.desc()).limit(1))
        return last or GENESIS

    async def append(
        self, events: list[AuditEvent], read_traces: list[dict[str, Any]], previous: str | None = None
    ) -> str:
        """Chain ``events`` after ``previous`` (the head the caller knows; read here when ``None``) and insert
        them with their usager links and the identity ``read_traces``; the new head.

        On PostgreSQL this is one statement: run it on an autocommit connection, it is its own transaction.
        Elsewhere it runs in the caller's write transaction. Raises `ChainMoved` when ``previous`` is stale.
        """
        if previous is None and events:
            previous = await self.head()
        head = previous or GENESIS
        rows: list[dict[str, Any]] = []
        for event in events:
            digest = chain_hash(head, event)
            rows.append(
                {
                    "recorded_at": event.recorded_at,
                    "actor": event.actor,
                    "actor_kind": event.actor_kind,
                    "account_id": event.account_id,
                    "action": event.action,
                    "operation": event.operation,
                    "outcome": event.outcome,
                    "resource_type": event.resource_type,
                    "resource_id": event.resource_id,
                    "client_ip": event.client_ip,
                    "detail": orjson.dumps(event.detail, option=orjson.OPT_SORT_KEYS).decode(),
                    "usager_ids": orjson.dumps(sorted(str(u) for u in event.usager_ids)).decode(),
                    "prev_hash": head,
                    "hash": digest,
                }
            )
            head = digest
        links = [(row["hash"], u) for row, event in zip(rows, events, strict=True) for u in set(event.usager_ids)]
        if self.connection.dialect.name == "postgresql":
            await self._append_in_one_statement(rows, links, read_traces)
        else:
            await self._append_in_transaction(rows, links, read_traces, previous)
        return head

    async def _append_in_one_statement(
        self, rows: list[dict[str, Any]], links: list[tuple[str, uuid.UUID]], traces: list[dict[str, Any]]
    ) -> None:
        if not rows and not traces:
            return
        driver: Any = (await self.connection.get_raw_connection()).driver_connection
        try:
            await driver.execute(
                _append_statement(),
                *columns_of(rows, _EVENT_COLUMNS),
                [h for h, _ in links],
                [u for _, u in links],
                *columns_of(traces, _TRACE_COLUMNS),
            )
        except asyncpg.UniqueViolationError as error:
            if error.constraint_name == _CHAIN_UNIQUE:
                raise ChainMoved from error
            raise

    async def _append_in_transaction(
        self,
        rows: list[dict[str, Any]],
        links: list[tuple[str, uuid.UUID]],
        traces: list[dict[str, Any]],
        previous: str | None,
    ) -> None:
        if rows:
            # The write transaction holds the database's write lock: the head read here is the head.
            if await self.head() != previous:
                raise ChainMoved
            inserted = await self.connection.execute(
                insert(AUDIT).returning(AUDIT.c.id, AUDIT.c.hash, sort_by_parameter_order=True), rows
            )
            event_ids = {h: event_id for event_id, h in inserted.all()}
            if links:
                await self.connection.execute(
                    insert(AUDIT_USAGER), [{"event_id": event_ids[h], "usager_id": u} for h, u in links]
                )
        if traces:
            await self.connection.execute(insert(TRACE), traces)

    async def chain(self, after: int, limit: int) -> list[StoredAuditEvent]:
        statement = select(AUDIT).where(AUDIT.c.id > after).order_by(AUDIT.c.id).limit(limit)
        return [_event(r) for r in (await self.connection.execute(statement)).all()]

    async def page(
        self,
        *,
        usager_id: uuid.UUID | None,
        actor: str | None,
        account_id: uuid.UUID | None,
        operation: str | None,
        since: datetime | None,
        before_id: int | None,
        limit: int,
    ) -> list[StoredAuditEvent]:
        """Newest first."""
        conditions: list[ColumnElement[bool]] = []
        if usager_id is not None:
            conditions.append(
                AUDIT.c.id.in_(select(AUDIT_USAGER.c.event_id).where(AUDIT_USAGER.c.usager_id == usager_id))
            )
        if actor is not None:
            conditions.append(AUDIT.c.actor == actor)
        if account_id is not None:
            conditions.append(AUDIT.c.account_id == account_id)
        if operation is not None:
            conditions.append(AUDIT.c.operation == operation)
        if since is not None:
            conditions.append(AUDIT.c.recorded_at >= since)
        if before_id is not None:
            conditions.append(AUDIT.c.id < before_id)
        statement = select(AUDIT).where(*conditions).order_by(AUDIT.c.id.desc()).limit(limit)
        return [_event(r) for r in (await self.connection.execute(statement)).all()]

    async def count(self) -> int:
        return int(await self.connection.scalar(select(func.count()).select_from(AUDIT)) or 0)

    async def purge_before(self, moment: datetime) -> int:
        """Delete the events older than ``moment`` (retention); the chain goes on from the first kept event."""
        last = await self.connection.scalar(select(func.max(AUDIT.c.id)).where(AUDIT.c.recorded_at < moment))
        if last is None:
            return 0
        await self.connection.execute(delete(AUDIT_USAGER).where(AUDIT_USAGER.c.event_id <= last))
        result = await self.connection.execute(delete(AUDIT).where(AUDIT.c.id <= last))
        return int(result.rowcount or 0)


@dataclass(frozen=True)
class DocumentRow:
    id: uuid.UUID
    usager_id: uuid.UUID
    kind: str
    content_type: str
    size: int
    key_id: str
    nonce: bytes
    ciphertext: bytes
    uploaded_at: datetime
    uploaded_by: str


def _document(row: Any) -> DocumentRow:
    return DocumentRow(
        row.id,
        row.usager_id,
        row.kind,
        row.content_type,
        row.size,
        row.key_id,
        bytes(row.nonce),
        bytes(row.ciphertext),
        row.uploaded_at,
        row.uploaded_by,
    )


class DocumentRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def get(self, usager_id: uuid.UUID) -> DocumentRow | None:
        row = (await self.connection.execute(select(DOCUMENT).where(DOCUMENT.c.usager_id == usager_id))).first()
        return _document(row) if row else None

    async def put(self, document: DocumentRow) -> None:
        """One scan per usager: a new upload replaces the previous one."""
        await self.connection.execute(delete(DOCUMENT).where(DOCUMENT.c.usager_id == document.usager_id))
        await self.connection.execute(
            insert(DOCUMENT).values(
                id=document.id,
                usager_id=document.usager_id,
                kind=document.kind,
                content_type=document.content_type,
                size=document.size,
                key_id=document.key_id,
                nonce=document.nonce,
                ciphertext=document.ciphertext,
                uploaded_at=document.uploaded_at,
                uploaded_by=document.uploaded_by,
            )
        )

    async def delete(self, usager_id: uuid.UUID) -> bool:
        result = await self.connection.execute(delete(DOCUMENT).where(DOCUMENT.c.usager_id == usager_id))
        return bool(result.rowcount)

    async def not_on_key(self, key_id: str, limit: int) -> list[DocumentRow]:
        statement = select(DOCUMENT).where(DOCUMENT.c.key_id != key_id).order_by(DOCUMENT.c.id).limit(limit)
        return [_document(r) for r in (await self.connection.execute(statement)).all()]

    async def reseal(self, document_id: uuid.UUID, old_key: str, key_id: str, nonce: bytes, ciphertext: bytes) -> None:
        await self.connection.execute(
            update(DOCUMENT)
            .where(DOCUMENT.c.id == document_id, DOCUMENT.c.key_id == old_key)
            .values(key_id=key_id, nonce=nonce, ciphertext=ciphertext)
        )

    async def inactive_usagers(self, cutoff: datetime) -> list[uuid.UUID]:
        """Usagers with a scan and no activity since ``cutoff``: record unchanged, no open or recent stay."""
        recent_stay = exists().where(
            STAY.c.usager_id == DOCUMENT.c.usager_id,
            or_(
                STAY.c.is_open,
                STAY.c.updated_at >= cutoff,
                and_(STAY.c.date_sortie.is_not(None), STAY.c.date_sortie >= cutoff.date()),
            ),
        )
        statement = (
            select(DOCUMENT.c.usager_id)
            .join(USAGER, USAGER.c.id == DOCUMENT.c.usager_id)
            .where(USAGER.c.updated_at < cutoff, DOCUMENT.c.uploaded_at < cutoff, ~recent_stay)
        )
        return list((await self.connection.scalars(statement)).all())


async def essms_by_finess(connection: AsyncConnection, finess_et: str) -> uuid.UUID | None:
    return await connection.scalar(select(ESSMS.c.id).where(ESSMS.c.finess_et == finess_et))


async def organisme_by_finess(connection: AsyncConnection, finess_ej: str) -> uuid.UUID | None:
    organisme = _t(tables.Organisme)
    return await connection.scalar(select(organisme.c.id).where(organisme.c.finess_ej == finess_ej))
