"""DMP feeding rules: which documents go to the DMP, and the statuses of a send request (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import Field

from app.domain.errors import Conflict, RuleViolation
from app.domain.identity import IdentityStatus, may_share_ins
from app.domain.types import DomainModel, ShortText


class DmpStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"  # dead letter: permanent registry refusal, visible with the registry error
    BLOCKED = "blocked"
    REPLACED = "replaced"
    DELETED = "deleted"
    DEPRECATED = "deprecated"
    NOT_ELIGIBLE = "not-eligible"


# Reasons of a row that will not (or no longer) be sent.
USAGER_OPPOSED = "usager-opposed"
CANCELLED_BEFORE_SEND = "cancelled-before-send"
REPLACED_BEFORE_SEND = "replaced-before-send"


def eligibility(
    *, identity_status: IdentityStatus, opposed: bool, type_code: str, feed_types: frozenset[str] | None
) -> tuple[DmpStatus, str | None]:
    """The initial status of a new document's send request and, when not queued, why.

    ``feed_types`` None means every type; an empty set means nothing is sent automatically."""
    if not may_share_ins(identity_status):
        return DmpStatus.NOT_ELIGIBLE, "identity-not-qualified"  # RNIV: no INS leaves for a non-qualified identity
    if opposed:
        return DmpStatus.NOT_ELIGIBLE, USAGER_OPPOSED
    if feed_types is not None and type_code not in feed_types:
        return DmpStatus.NOT_ELIGIBLE, "type-not-fed"
    return DmpStatus.QUEUED, None


def next_attempt(now: datetime, attempts: int, *, initial: float, ceiling: float) -> datetime:
    """Exponential backoff after the n-th failed attempt (1-based), capped at ``ceiling`` seconds."""
    return now + timedelta(seconds=min(ceiling, initial * 2 ** max(0, attempts - 1)))


class DmpOperation(StrEnum):
    """What an outbox row asks of the DMP: the first send (ITI-41) or an update of what it holds (ITI-57)."""

    SEND = "send"
    DELETE = "delete"
    DEPRECATE = "deprecate"
    VISIBILITY = "visibility"


# Codes of JDV_J08 (codeSystem 1.2.250.1.213.1.1.4.13) that a DMP DocumentEntry carries besides N/R/V.
HIDDEN_FROM_PROFESSIONALS = "MASQUE_PS"
HIDDEN_FROM_PATIENT = "INVISIBLE_PATIENT"
HIDDEN_FROM_LEGAL_REPRESENTATIVES = "INVISIBLE_REPRESENTANTS_LEGAUX"


class Visibility(DomainModel):
    """Who may see a document in the DMP (reference services.md §2.4, JDV_J08)."""

    hidden_from_professionals: bool = Field(False, description="MASQUE_PS: masked to health professionals")
    hidden_from_patient: bool = Field(False, description="INVISIBLE_PATIENT: not visible to the patient")
    hidden_from_legal_representatives: bool = Field(
        False, description="INVISIBLE_REPRESENTANTS_LEGAUX: not visible to the patient's legal representatives"
    )

    def flags(self) -> tuple[str, ...]:
        """The DMP confidentiality codes, in a stable order."""
        chosen = (
            (self.hidden_from_professionals, HIDDEN_FROM_PROFESSIONALS),
            (self.hidden_from_patient, HIDDEN_FROM_PATIENT),
            (self.hidden_from_legal_representatives, HIDDEN_FROM_LEGAL_REPRESENTATIVES),
        )
        return tuple(code for on, code in chosen if on)

    @classmethod
    def from_flags(cls, flags: str | None) -> Visibility:
        codes = set((flags or "").split(",")) - {""}
        return cls(
            hidden_from_professionals=HIDDEN_FROM_PROFESSIONALS in codes,
            hidden_from_patient=HIDDEN_FROM_PATIENT in codes,
            hidden_from_legal_representatives=HIDDEN_FROM_LEGAL_REPRESENTATIVES in codes,
        )


class OppositionRequest(DomainModel):
    """A usager's opposition to the feeding of the DMP, as staff record it."""

    reason: ShortText = Field(description="Why, in the usager's words or the staff's summary")
    expressed_at: datetime | None = Field(None, description="When the usager expressed it (default: now)")


class OppositionWithdrawal(DomainModel):
    """The usager withdraws the opposition."""

    reason: ShortText | None = Field(None, description="Why, if the usager said")
    resend: bool | None = Field(
        None, description="Queue again the documents the opposition held back (default: DUI_DMP_RESEND_ON_WITHDRAWAL)"
    )


UNSENT = (DmpStatus.QUEUED, DmpStatus.FAILED, DmpStatus.NOT_ELIGIBLE, DmpStatus.BLOCKED)


@dataclass(frozen=True)
class UpdatePlan:
    """What a staff request does to the outbox row: cancel the unsent send, or queue an ITI-57 operation."""

    status: DmpStatus
    operation: DmpOperation
    reason: str | None = None


def plan_update(
    request: DmpOperation,
    *,
    status: DmpStatus,
    operation: DmpOperation,
    visibility: Visibility | None = None,
    current: Visibility | None = None,
    patient_invisibility_after_send: bool = False,
) -> UpdatePlan:
    """The verdict on a delete, deprecate or visibility request for a row in ``status`` (last ``operation``).

    A document the DMP never acknowledged is not updated there: a delete just cancels its send. Only a
    registered, current (approved) document takes an ITI-57; a failed update may be asked again."""
    registered = status in (DmpStatus.SENT,) or (status is DmpStatus.FAILED and operation is not DmpOperation.SEND)
    if status is DmpStatus.SENDING:
        raise Conflict("dmp-in-flight", "The document is being sent to the DMP; ask again once it is acknowledged")
    if request is DmpOperation.DELETE and status in UNSENT and operation is DmpOperation.SEND:
        return UpdatePlan(DmpStatus.DELETED, DmpOperation.SEND, CANCELLED_BEFORE_SEND)
    if not registered:
        raise Conflict(
            f"dmp-{request.value}-registered",
            f"The DMP status is {status.value}: only a document registered and current in the DMP can be updated",
        )
    if request is DmpOperation.VISIBILITY:
        assert visibility is not None
        before = current or Visibility()
        if visibility.hidden_from_patient and not before.hidden_from_patient and not patient_invisibility_after_send:
            raise RuleViolation(
                "dmp-patient-invisibility-at-send",
                "A document the patient can see in the DMP cannot be made invisible to them afterwards",
                field="hidden_from_patient",
            )
    return UpdatePlan(DmpStatus.QUEUED, request)


def acknowledged(operation: DmpOperation) -> DmpStatus:
    """The status of a row once the DMP acknowledged its operation."""
    return {DmpOperation.DELETE: DmpStatus.DELETED, DmpOperation.DEPRECATE: DmpStatus.DEPRECATED}.get(
        operation, DmpStatus.SENT
    )
