"""Who is asking and what they may do: permissions, roles per ESSMS, and the scope each permission gives."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from uuid import UUID


@dataclass(frozen=True)
class Scope:
    """The ESSMS whose records a caller may see; ``None`` means every ESSMS (administration, batch)."""

    essms_ids: frozenset[UUID] | None = None

    @classmethod
    def everything(cls) -> Scope:
        return cls(None)

    @classmethod
    def of(cls, *essms_ids: UUID) -> Scope:
        return cls(frozenset(essms_ids))

    @property
    def unrestricted(self) -> bool:
        return self.essms_ids is None

    def allows(self, essms_id: UUID | None) -> bool:
        return self.essms_ids is None or (essms_id is not None and essms_id in self.essms_ids)

    def union(self, other: Scope) -> Scope:
        if self.essms_ids is None or other.essms_ids is None:
            return Scope.everything()
        return Scope(self.essms_ids | other.essms_ids)


class Permission(StrEnum):
    """What a route needs. Each route declares exactly one (``app.api.security.requires``)."""

    STRUCTURE_READ = "structure:read"
    STRUCTURE_WRITE = "structure:write"
    USAGER_READ = "usager:read"
    USAGER_WRITE = "usager:write"
    PROFESSIONAL_READ = "professional:read"
    PROFESSIONAL_WRITE = "professional:write"
    IDENTITY_DOCUMENT_READ = "identity-document:read"
    IDENTITY_DOCUMENT_WRITE = "identity-document:write"
    INSI_CALL = "insi:call"
    IDENTITY_MERGE = "identity:merge"
    PLAN_WRITE = "plan:write"
    PLAN_VALIDATE = "plan:validate"
    DMP_FEED = "dmp:feed"
    DMP_BLOCK = "dmp:block"
    EXPORT = "export"
    AUDIT_READ = "audit:read"
    ADMIN = "admin"


P = Permission
_READ = {P.STRUCTURE_READ, P.USAGER_READ, P.PROFESSIONAL_READ}


class Role(StrEnum):
    """A professional's role in one ESSMS (or in every ESSMS of an organisme gestionnaire)."""

    ADMIN = "admin"
    DIRECTION = "direction"
    IDENTITOVIGILANCE = "identitovigilance"
    SOIGNANT = "soignant"
    ACCUEIL = "accueil"
    LECTURE = "lecture"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.DIRECTION: frozenset(
        _READ
        | {P.USAGER_WRITE, P.PROFESSIONAL_WRITE, P.STRUCTURE_WRITE, P.PLAN_WRITE, P.PLAN_VALIDATE}
        | {P.DMP_FEED, P.DMP_BLOCK, P.EXPORT, P.AUDIT_READ, P.IDENTITY_DOCUMENT_READ}
    ),
    # RNIV: identity merges and INSi calls are restricted to trained staff (INS rule 4 habilitations).
    Role.IDENTITOVIGILANCE: frozenset(
        _READ
        | {P.USAGER_WRITE, P.INSI_CALL, P.IDENTITY_MERGE, P.AUDIT_READ}
        | {P.IDENTITY_DOCUMENT_READ, P.IDENTITY_DOCUMENT_WRITE}
    ),
    Role.SOIGNANT: frozenset(_READ | {P.USAGER_WRITE, P.PLAN_WRITE, P.DMP_FEED}),
    Role.ACCUEIL: frozenset(_READ | {P.USAGER_WRITE, P.INSI_CALL, P.IDENTITY_DOCUMENT_READ, P.IDENTITY_DOCUMENT_WRITE}),
    Role.LECTURE: frozenset(_READ),
}


@dataclass(frozen=True)
class Membership:
    """A role held in some ESSMS (``None``: every ESSMS, for platform administrators)."""

    role: Role
    scope: Scope


def grants_from(memberships: Iterable[Membership], allowed: Iterable[str] | None = None) -> dict[Permission, Scope]:
    """Permission -> the ESSMS where it holds; ``allowed`` narrows it (the scopes of an API token)."""
    kept = None if allowed is None else set(allowed)
    grants: dict[Permission, Scope] = {}
    for membership in memberships:
        for permission in ROLE_PERMISSIONS[membership.role]:
            if kept is not None and permission not in kept:
                continue
            current = grants.get(permission)
            grants[permission] = membership.scope if current is None else current.union(membership.scope)
    return grants


@dataclass(frozen=True)
class Principal:
    """The caller: a name for the history and the audit trail, the scope of the current action, the grants."""

    actor: str
    scope: Scope
    grants: Mapping[Permission, Scope] = field(default_factory=dict)
    superuser: bool = False
    account_id: UUID | None = None
    kind: str = "system"

    def scope_for(self, permission: Permission) -> Scope | None:
        """Where ``permission`` holds, or ``None`` when it holds nowhere."""
        if self.superuser:
            return Scope.everything()
        return self.grants.get(permission)

    def acting_for(self, permission: Permission) -> Principal | None:
        """This principal restricted to the ESSMS where it holds ``permission`` (``None``: denied)."""
        scope = self.scope_for(permission)
        if scope is None or (scope.essms_ids is not None and not scope.essms_ids):
            return None
        return Principal(self.actor, scope, self.grants, self.superuser, self.account_id, self.kind)


ANONYMOUS = Principal(actor="anonymous", scope=Scope.of(), kind="anonymous")
SYSTEM = Principal(actor="system", scope=Scope.everything(), superuser=True)
