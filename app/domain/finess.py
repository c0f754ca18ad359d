"""FINESS numbers: 9 characters, department (2A/2B in Corsica), 6 digits, a Luhn check key."""

from __future__ import annotations

import re

from app.domain.errors import InvalidValue

FINESS_PATTERN = re.compile(r"^(?:\d{2}|2[AB])\d{7}$")

# UNVERIFIED (see Settings.finess_corsica_*): digits standing for the Corsican letters in the key.
_corsica_digits = {"2A": "20", "2B": "20"}


def configure_corsica(digits_2a: str, digits_2b: str) -> None:
    """Set the digits substituted for 2A/2B before the key check (from settings, at start-up)."""
    _corsica_digits["2A"] = digits_2a
    _corsica_digits["2B"] = digits_2b


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def luhn_key(digits8: str) -> str:
    """The check digit that completes eight digits."""
    for key in "0123456789":
        if luhn_valid(digits8 + key):
            return key
    raise AssertionError("unreachable")


def _as_digits(value: str) -> str:
    prefix = value[:2]
    return _corsica_digits.get(prefix, prefix) + value[2:]


def check_finess(value: str) -> str:
    """Return the normalised FINESS number or raise ``InvalidValue`` (format or check key)."""
    number = value.strip().upper()
    if not FINESS_PATTERN.match(number):
        raise InvalidValue(
            "finess-format", "A FINESS number has 9 characters: 2 for the department (digits, or 2A/2B), then 7 digits"
        )
    if not luhn_valid(_as_digits(number)):
        raise InvalidValue("finess-key", f"FINESS {number}: the check key (last character) is wrong")
    return number


def with_key(first8: str) -> str:
    """Complete eight characters with their check key (fixtures and tests)."""
    return first8 + luhn_key(_as_digits(first8))


def department(value: str) -> str:
    """Department of a FINESS number (Corsica keeps its letters)."""
    return value[:2]
