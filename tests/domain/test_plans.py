"""Plan rules without I/O: the life cycle table, review due dates, consistency of the parts."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest

from app.domain import plans
from app.domain.errors import DomainError
from app.domain.plans import PlanRecord, PlanStatus, Transition


def _record(**fields: Any) -> PlanRecord:
    return PlanRecord.model_validate(
        {"usager_id": str(uuid.uuid4()), "stay_id": str(uuid.uuid4()), "titre": "PPA", "date_debut": "2025-01-31"}
        | fields
    )


EXPECTED = {
    (PlanStatus.DRAFT, Transition.SUBMIT): PlanStatus.SUBMITTED,
    (PlanStatus.SUBMITTED, Transition.RETURN_TO_DRAFT): PlanStatus.DRAFT,
    (PlanStatus.SUBMITTED, Transition.VALIDATE): PlanStatus.VALIDATED,
    (PlanStatus.VALIDATED, Transition.START): PlanStatus.IN_PROGRESS,
    (PlanStatus.VALIDATED, Transition.CLOSE): PlanStatus.CLOSED,
    (PlanStatus.IN_PROGRESS, Transition.CLOSE): PlanStatus.CLOSED,
    (PlanStatus.VALIDATED, Transition.REVISE): None,
    (PlanStatus.IN_PROGRESS, Transition.REVISE): None,
}


@pytest.mark.parametrize("status", list(PlanStatus))
@pytest.mark.parametrize("transition", list(Transition))
def test_every_transition_from_every_status(status: PlanStatus, transition: Transition) -> None:
    if (status, transition) in EXPECTED:
        assert plans.next_status(status, transition) == EXPECTED[status, transition]
    else:
        with pytest.raises(DomainError) as raised:
            plans.next_status(status, transition)
        assert raised.value.issues[0].rule == f"plan-transition-{transition.value}"


def test_revised_and_closed_versions_are_final() -> None:
    for final in (PlanStatus.REVISED, PlanStatus.CLOSED):
        assert not [t for t in Transition if (final, t) in EXPECTED]


def test_only_drafts_are_edited() -> None:
    plans.check_editable(_record())
    for status in set(PlanStatus) - {PlanStatus.DRAFT}:
        with pytest.raises(DomainError):
            plans.check_editable(_record(status=status))


def test_validation_needs_the_establishment() -> None:
    usager_only = [{"partie": "usager", "signataire": "X", "date_signature": "2025-01-01"}]
    with pytest.raises(DomainError) as raised:
        plans.check_validation(_record(accords=usager_only))
    assert raised.value.issues[0].rule == "plan-establishment-agreement-required"
    plans.check_validation(
        _record(accords=[*usager_only, {"partie": "structure", "signataire": "D", "date_signature": "2025-01-02"}])
    )


def test_review_due() -> None:
    assert plans.review_due(_record(), 12) == date(2026, 1, 31)
    assert plans.review_due(_record(), 6) == date(2025, 7, 31)
    assert plans.review_due(_record(date_debut="2024-02-29"), 12) == date(2025, 2, 28)
    assert plans.review_due(_record(date_revision_prevue="2025-09-01"), 12) == date(2025, 9, 1)
    reviewed = _record(bilans_suivi=[{"date_bilan": "2025-06-30", "date_prochain_bilan": "2025-12-15"}])
    assert plans.review_due(reviewed, 12) == date(2025, 12, 15)
    reviewed_no_next = _record(bilans_suivi=[{"date_bilan": "2025-06-30"}], date_revision_prevue="2025-03-01")
    assert plans.review_due(reviewed_no_next, 12) == date(2026, 6, 30)


def test_consistency_reports_every_broken_link() -> None:
    record = _record(
        date_revision_prevue="2025-01-01",
        besoins=[{"code": "1.1.1", "description": "x"}, {"code": "1.1.1", "description": "y"}],
        objectifs=[{"ref": "O1", "titre": "t", "description": "d", "besoins": ["1.2.1.3"]}],
        actions=[{"ref": "A1", "titre": "t", "objectifs": ["O2"]}],
    )
    with pytest.raises(DomainError) as raised:
        record.check_consistency()
    assert {(i.field, i.rule) for i in raised.value.issues} == {
        ("date_revision_prevue", "review-date-after-start"),
        ("besoins", "plan-need-unique"),
        ("objectifs.0.besoins", "plan-link-unknown"),
        ("actions.0.objectifs", "plan-link-unknown"),
    }


def test_tddui_status_mapping() -> None:
    assert [s.tddui for s in PlanStatus] == [
        "ENPREPARATION",
        "ENPREPARATION",
        "ENCOURS",
        "ENCOURS",
        "TERMINE",
        "TERMINE",
    ]
