"""Pure document rules: facility type from the FINESS category, version chains, uploadable types."""

from __future__ import annotations

import pytest

from app.domain.documents import VersionChain, check_uploadable_type, facility_type_code
from app.domain.errors import RuleViolation


@pytest.mark.parametrize(
    ("category", "code"),
    [
        ("500", "SA17"),  # EHPAD
        ("183", "SA16"),  # IME
        ("255", "SA16"),  # MAS
        ("448", "SA16"),  # EAM
        ("175", "SA20"),  # foyer de l'enfance
        ("214", "SA21"),  # CHRS
        ("640", "SA18"),  # SAADF
        ("354", "SA41"),  # SSIAD
    ],
)
def test_facility_type_from_finess_category(category: str, code: str) -> None:
    assert facility_type_code(category) == code


def test_unknown_category_is_refused() -> None:
    with pytest.raises(ValueError):
        facility_type_code("999")


def test_replacement_keeps_set_id_and_increments_version() -> None:
    first = VersionChain.first("2.25.1")
    second = first.replaced_by("2.25.1")
    third = second.replaced_by("2.25.2")
    assert (second.set_id, second.version, second.parent_id) == ("2.25.1", 2, "2.25.1")
    assert (third.set_id, third.version, third.parent_id) == ("2.25.1", 3, "2.25.2")


def test_uploadable_types_are_dmp_types() -> None:
    assert check_uploadable_type("80788-3").class_code == "44"
    with pytest.raises(RuleViolation) as refused:
        check_uploadable_type("28653-4")  # in JDV_J07, not in JDV_J66
    assert refused.value.rule == "code-JDV_J66"
