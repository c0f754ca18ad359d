"""Roles per ESSMS become, per permission, the ESSMS where it holds."""

from __future__ import annotations

import uuid

from app.domain.access import ROLE_PERMISSIONS, SYSTEM, Membership, Permission, Principal, Role, Scope, grants_from
from app.domain.audit import GENESIS, AuditEvent, chain_hash, verify_chain

A, B = uuid.uuid4(), uuid.uuid4()


def test_grants_union_roles_per_essms() -> None:
    grants = grants_from([Membership(Role.SOIGNANT, Scope.of(A)), Membership(Role.LECTURE, Scope.of(B))])
    assert grants[Permission.USAGER_READ] == Scope.of(A, B)
    assert grants[Permission.USAGER_WRITE] == Scope.of(A)
    assert Permission.ADMIN not in grants
    narrowed = grants_from([Membership(Role.ADMIN, Scope.of(A))], allowed=["usager:read"])
    assert set(narrowed) == {Permission.USAGER_READ}


def test_acting_for_restricts_the_scope() -> None:
    principal = Principal("pro", Scope.of(), grants_from([Membership(Role.ACCUEIL, Scope.of(A))]))
    acting = principal.acting_for(Permission.INSI_CALL)
    assert acting is not None and acting.scope == Scope.of(A)
    assert principal.acting_for(Permission.IDENTITY_MERGE) is None
    assert SYSTEM.acting_for(Permission.ADMIN) is not None and SYSTEM.scope.unrestricted


def test_every_role_reads_and_only_admin_administers() -> None:
    for role, permissions in ROLE_PERMISSIONS.items():
        assert Permission.USAGER_READ in permissions
        assert (Permission.ADMIN in permissions) == (role is Role.ADMIN)


def test_hash_chain_detects_changes() -> None:
    from datetime import UTC, datetime

    first = AuditEvent(datetime(2026, 1, 1, tzinfo=UTC), "pro", "psc", "read", "read_usager", 200, usager_ids=[A])
    second = AuditEvent(datetime(2026, 1, 1, 0, 1, tzinfo=UTC), "pro", "psc", "read", "read_usager", 200)
    h1 = chain_hash(GENESIS, first)
    h2 = chain_hash(h1, second)
    assert verify_chain([(1, GENESIS, h1, first), (2, h1, h2, second)]) == []
    second.outcome = 404
    assert [b.event_id for b in verify_chain([(1, GENESIS, h1, first), (2, h1, h2, second)])] == [2]
    assert [b.event_id for b in verify_chain([(2, h1, h2, second)], start=GENESIS)] == [2, 2]
