"""Cross-record rules of stays and the entourage, without a database."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from app.domain.entourage import (
    MeasureNature,
    ProtectionMeasureInput,
    check_no_overlapping_measure,
    check_single_personne_de_confiance,
)
from app.domain.errors import Conflict, RuleViolation
from app.domain.stays import StayInput, StayStatus, check_activity_offered, check_single_open_stay

USAGER, ESSMS = uuid.uuid4(), uuid.uuid4()


def test_stay_status_follows_the_dates() -> None:
    assert (
        StayInput(usager_id=USAGER, essms_id=ESSMS, date_entree_prevue=date(2030, 1, 1)).derive_status()
        is StayStatus.PRE_ADMISSION
    )
    assert (
        StayInput(usager_id=USAGER, essms_id=ESSMS, date_admission=date(2024, 1, 1)).derive_status() is StayStatus.ADMIS
    )
    stay = StayInput(usager_id=USAGER, essms_id=ESSMS, date_entree=date(2024, 1, 1))
    assert stay.derive_status() is StayStatus.EN_COURS and stay.is_open


def test_single_open_stay() -> None:
    stay = StayInput(usager_id=USAGER, essms_id=ESSMS, date_entree=date(2024, 1, 1))
    check_single_open_stay(stay, 0)
    with pytest.raises(Conflict):
        check_single_open_stay(stay, 1)
    closed = StayInput(
        usager_id=USAGER,
        essms_id=ESSMS,
        date_entree=date(2024, 1, 1),
        date_sortie=date(2024, 2, 1),
        motif_sortie="Décès",
    )
    check_single_open_stay(closed, 1)


def test_activity_must_be_offered() -> None:
    stay = StayInput(usager_id=USAGER, essms_id=ESSMS, date_entree=date(2024, 1, 1), type_activite="21")
    check_activity_offered(stay, ["11", "21"])
    check_activity_offered(stay, [])
    with pytest.raises(RuleViolation):
        check_activity_offered(stay, ["11"])


def test_single_personne_de_confiance() -> None:
    check_single_personne_de_confiance(["NOK"], [["ECON"], ["CAREGIVER"]])
    check_single_personne_de_confiance(["ECON"], [["NOK"]])
    with pytest.raises(Conflict):
        check_single_personne_de_confiance(["NOK", "CAREGIVER"], [["NOK"]])


def _measure(start: date, end: date | None, nature: MeasureNature = MeasureNature.TUTELLE) -> ProtectionMeasureInput:
    return ProtectionMeasureInput(usager_id=USAGER, nature=nature, date_debut=start, date_fin=end)


def test_measures_of_the_same_nature_do_not_overlap() -> None:
    existing = [_measure(date(2020, 1, 1), date(2021, 12, 31))]
    check_no_overlapping_measure(_measure(date(2022, 1, 1), None), existing)
    check_no_overlapping_measure(_measure(date(2021, 6, 1), None, MeasureNature.CURATELLE_SIMPLE), existing)
    with pytest.raises(Conflict):
        check_no_overlapping_measure(_measure(date(2021, 12, 31), None), existing)
    assert _measure(date(2020, 1, 1), date(2021, 12, 31)).active_on(date(2021, 12, 31))
