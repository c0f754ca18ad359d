"""Administration jobs behind the ``dui`` command: accounts and tokens, audit checks, document purge."""

from __future__ import annotations

import uuid

from app.domain.access import SYSTEM, Permission, Role
from app.domain.errors import DomainError
from app.services.accounts import AccountService, MembershipSpec
from app.store.db import Database
from app.store.security import AccountRepository, essms_by_finess, organisme_by_finess


class JobError(Exception):
    pass


async def membership_specs(database: Database, grants: list[str]) -> list[MembershipSpec]:
    """``role:FINESS`` (an ESSMS's FINESS ET, or an organisme's FINESS EJ for all its ESSMS)."""
    specs = []
    async with database.read() as connection:
        for grant in grants:
            role_name, _, finess = grant.partition(":")
            try:
                role = Role(role_name)
            except ValueError as error:
                raise JobError(f"unknown role {role_name!r} (one of {', '.join(r.value for r in Role)})") from error
            essms_id = await essms_by_finess(connection, finess)
            if essms_id is not None:
                specs.append(MembershipSpec(role, essms_id=essms_id))
                continue
            organisme_id = await organisme_by_finess(connection, finess)
            if organisme_id is None:
                raise JobError(f"no ESSMS or organisme with FINESS {finess!r}")
            specs.append(MembershipSpec(role, organisme_id=organisme_id))
    return specs


async def create_account(
    database: Database,
    username: str,
    *,
    password: str | None,
    idnps: str | None,
    superuser: bool,
    grants: list[str],
) -> str:
    specs = await membership_specs(database, grants)
    async with database.write() as connection:
        try:
            view = await AccountService(connection, SYSTEM).create(
                username=username,
                password=password,
                idnps=idnps,
                professional_id=None,
                superuser=superuser,
                memberships=specs,
            )
        except DomainError as error:
            raise JobError(error.message) from error
    return str(view.account.id)


async def ensure_account(
    database: Database, username: str, *, idnps: str | None, superuser: bool, grants: list[str]
) -> str:
    async with database.read() as connection:
        existing = await AccountRepository(connection).by_username(username)
    if existing is not None:
        return str(existing.id)
    return await create_account(database, username, password=None, idnps=idnps, superuser=superuser, grants=grants)


async def issue_token(
    database: Database, username: str, name: str, permissions: list[str] | None, days: int
) -> tuple[str, str]:
    """(token id, token)."""
    try:
        chosen = [Permission(p) for p in permissions] if permissions else None
    except ValueError as error:
        raise JobError(f"unknown permission ({', '.join(p.value for p in Permission)})") from error
    async with database.write() as connection:
        account = await AccountRepository(connection).by_username(username)
        if account is None:
            raise JobError(f"no account {username!r}")
        issued = await AccountService(connection, SYSTEM).issue_token(
            account_id=account.id, name=name, permissions=chosen, days=days
        )
    return str(issued.row.id), issued.token


async def revoke_token(database: Database, token_id: str) -> None:
    async with database.write() as connection:
        try:
            await AccountService(connection, SYSTEM).revoke_token(uuid.UUID(token_id))
        except (ValueError, DomainError) as error:
            raise JobError(f"no API token {token_id}") from error
