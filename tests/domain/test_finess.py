"""FINESS numbers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.errors import InvalidValue
from app.domain.finess import check_finess, luhn_valid, with_key


@pytest.mark.parametrize("number", ["750712184", "750803447"])
def test_known_numbers_pass(number: str) -> None:
    assert check_finess(number) == number


@given(st.from_regex(r"^(?:\d{2}|2[AB])\d{6}$", fullmatch=True))
def test_every_completed_number_passes_and_a_changed_key_fails(first8: str) -> None:
    number = with_key(first8)
    assert check_finess(number.lower()) == number
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    with pytest.raises(InvalidValue) as error:
        check_finess(wrong)
    assert error.value.rule == "finess-key"


@pytest.mark.parametrize("value", ["75071218", "7507121845", "75A712184", "2C0000012", ""])
def test_format(value: str) -> None:
    with pytest.raises(InvalidValue) as error:
        check_finess(value)
    assert error.value.rule == "finess-format"


def test_luhn() -> None:
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
