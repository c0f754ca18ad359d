"""DMP feeding rules: which documents go to the DMP, and the statuses of a send request (pure, no I/O)."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from app.domain.identity import IdentityStatus, may_share_ins


class DmpStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"  # dead letter: permanent registry refusal, visible with the registry error
    BLOCKED = "blocked"
    REPLACED = "replaced"
    DELETED = "deleted"
    NOT_ELIGIBLE = "not-eligible"


def eligibility(
    *, identity_status: IdentityStatus, opposed: bool, type_code: str, feed_types: frozenset[str] | None
) -> tuple[DmpStatus, str | None]:
    """The initial status of a new document's send request and, when not queued, why.

    ``feed_types`` None means every type; an empty set means nothing is sent automatically."""
    if not may_share_ins(identity_status):
        return DmpStatus.NOT_ELIGIBLE, "identity-not-qualified"  # RNIV: no INS leaves for a non-qualified identity
    if opposed:
        return DmpStatus.NOT_ELIGIBLE, "usager-opposed"
    if feed_types is not None and type_code not in feed_types:
        return DmpStatus.NOT_ELIGIBLE, "type-not-fed"
    return DmpStatus.QUEUED, None


def next_attempt(now: datetime, attempts: int, *, initial: float, ceiling: float) -> datetime:
    """Exponential backoff after the n-th failed attempt (1-based), capped at ``ceiling`` seconds."""
    return now + timedelta(seconds=min(ceiling, initial * 2 ** max(0, attempts - 1)))
