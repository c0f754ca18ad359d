"""The audit trail's tamper evidence: each event's hash covers its content and the previous event's hash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import orjson

from app.domain.moments import as_utc

GENESIS = "0" * 64


@dataclass
class AuditEvent:
    """Who did what, when, from where, with which outcome. Never names, INS or document content."""

    recorded_at: datetime
    actor: str
    actor_kind: str
    action: str
    operation: str
    outcome: int
    account_id: UUID | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    client_ip: str | None = None
    detail: dict[str, str | int | None] = field(default_factory=dict)
    usager_ids: list[UUID] = field(default_factory=list)

    def canonical(self) -> bytes:
        """The bytes the hash covers (stable key order, UTC ISO timestamps, sorted usager ids)."""
        return orjson.dumps(
            {
                "recorded_at": as_utc(self.recorded_at).isoformat(timespec="microseconds"),
                "actor": self.actor,
                "actor_kind": self.actor_kind,
                "account_id": str(self.account_id) if self.account_id else None,
                "action": self.action,
                "operation": self.operation,
                "outcome": self.outcome,
                "resource_type": self.resource_type,
                "resource_id": self.resource_id,
                "client_ip": self.client_ip,
                "detail": self.detail,
                "usager_ids": sorted(str(u) for u in self.usager_ids),
            },
            option=orjson.OPT_SORT_KEYS,
        )


def chain_hash(previous: str, event: AuditEvent) -> str:
    """SHA-256 of the previous hash and the event's canonical bytes."""
    return hashlib.sha256(previous.encode() + b"\n" + event.canonical()).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    reason: str


def verify_chain(rows: list[tuple[int, str, str, AuditEvent]], start: str | None = None) -> list[ChainBreak]:
    """Check ``(id, prev_hash, hash, event)`` rows in id order; the first row's prev is trusted unless ``start``."""
    breaks: list[ChainBreak] = []
    expected_prev = start
    for event_id, prev_hash, stored_hash, event in rows:
        if expected_prev is not None and prev_hash != expected_prev:
            breaks.append(ChainBreak(event_id, "previous hash does not match (a row was removed or changed)"))
        if chain_hash(prev_hash, event) != stored_hash:
            breaks.append(ChainBreak(event_id, "content does not match its hash (the row was changed)"))
        expected_prev = stored_hash
    return breaks
