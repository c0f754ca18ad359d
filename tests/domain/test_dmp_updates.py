"""DMP update rules: what a delete, deprecate or visibility request does to an outbox row (pure)."""

from __future__ import annotations

import pytest

from app.domain import codes
from app.domain.dmp import DmpOperation, DmpStatus, Visibility, acknowledged, plan_update
from app.domain.errors import Conflict, RuleViolation

OP = DmpOperation
ST = DmpStatus


def test_visibility_codes_are_those_of_jdv_j08() -> None:
    every = Visibility(hidden_from_professionals=True, hidden_from_patient=True, hidden_from_legal_representatives=True)
    value_set = codes.xds_confidentialities()
    for flag in every.flags():
        concept = value_set.get(flag)
        assert concept is not None and concept.system == "1.2.250.1.213.1.1.4.13"
    assert Visibility.from_flags(",".join(every.flags())) == every
    assert Visibility.from_flags(None).flags() == ()


@pytest.mark.parametrize("status", [ST.QUEUED, ST.FAILED, ST.BLOCKED, ST.NOT_ELIGIBLE])
def test_deleting_an_unsent_document_cancels_its_send(status: DmpStatus) -> None:
    plan = plan_update(OP.DELETE, status=status, operation=OP.SEND)
    assert (plan.status, plan.operation, plan.reason) == (ST.DELETED, OP.SEND, "cancelled-before-send")


@pytest.mark.parametrize("request_", [OP.DELETE, OP.DEPRECATE, OP.VISIBILITY])
def test_a_sent_document_or_a_failed_update_is_updated(request_: DmpOperation) -> None:
    for status, last in ((ST.SENT, OP.SEND), (ST.SENT, OP.VISIBILITY), (ST.FAILED, OP.DELETE)):
        plan = plan_update(request_, status=status, operation=last, visibility=Visibility())
        assert (plan.status, plan.operation) == (ST.QUEUED, request_)


@pytest.mark.parametrize("status", [ST.SENDING, ST.DELETED, ST.DEPRECATED, ST.REPLACED])
def test_what_is_not_current_in_the_dmp_is_not_updated(status: DmpStatus) -> None:
    with pytest.raises(Conflict):
        plan_update(OP.VISIBILITY, status=status, operation=OP.SEND, visibility=Visibility())
    with pytest.raises(Conflict):
        plan_update(OP.DEPRECATE, status=ST.QUEUED, operation=OP.SEND)


def test_a_document_the_patient_sees_is_not_hidden_from_them_unless_allowed() -> None:
    hide = Visibility(hidden_from_patient=True)
    with pytest.raises(RuleViolation) as refused:
        plan_update(OP.VISIBILITY, status=ST.SENT, operation=OP.SEND, visibility=hide)
    assert refused.value.issues[0].field == "hidden_from_patient"
    allowed = plan_update(
        OP.VISIBILITY, status=ST.SENT, operation=OP.SEND, visibility=hide, patient_invisibility_after_send=True
    )
    assert allowed.status is ST.QUEUED
    # Showing it again, or keeping it hidden, is always possible.
    assert plan_update(OP.VISIBILITY, status=ST.SENT, operation=OP.SEND, visibility=Visibility(), current=hide)
    assert plan_update(OP.VISIBILITY, status=ST.SENT, operation=OP.SEND, visibility=hide, current=hide)


def test_acknowledged_statuses() -> None:
    assert acknowledged(OP.DELETE) is ST.DELETED
    assert acknowledged(OP.DEPRECATE) is ST.DEPRECATED
    assert acknowledged(OP.VISIBILITY) is ST.SENT
