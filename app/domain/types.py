"""Annotated value types shared by the domain models; a broken rule names itself as the error type."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Annotated, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from app.domain import codes, finess, tunables
from app.domain.errors import InvalidValue

T = TypeVar("T")


def rule(check: Callable[[T], T]) -> AfterValidator:
    """Wrap a domain check so pydantic reports its rule code (every bad field is listed at once)."""

    def validate(value: T) -> T:
        try:
            return check(value)
        except InvalidValue as error:
            raise PydanticCustomError(error.rule, error.message) from None

    return AfterValidator(validate)


def violation(rule_code: str, message: str) -> PydanticCustomError:
    """The error a validator raises to report a broken rule on its own field."""
    return PydanticCustomError(rule_code, message)


def coded(value_set: Callable[[], codes.ValueSet]) -> AfterValidator:
    return rule(lambda code: value_set().check(code))


class DomainModel(BaseModel):
    """Base of every domain model: unknown fields are refused, strings are stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, validate_default=True)


def _not_future(value: date) -> date:
    if value > date.today():
        raise InvalidValue("date-not-in-future", "The date cannot be in the future")
    return value


_RPPS = re.compile(r"^\d{11}$")


def _check_rpps(value: str) -> str:
    if not _RPPS.match(value):
        raise InvalidValue("rpps-format", "An RPPS number has 11 digits")
    if tunables.rpps_luhn and not finess.luhn_valid(value):
        raise InvalidValue("rpps-key", "The RPPS check key (last digit) is wrong")
    return value


_COG = re.compile(r"^(?:\d{5}|2[AB]\d{3})$")


def _check_cog(value: str) -> str:
    value = value.upper()
    if not _COG.match(value):
        raise InvalidValue("cog-format", "An INSEE COG place code has 5 characters (99xxx abroad, 2A/2B in Corsica)")
    return value


Finess = Annotated[str, rule(finess.check_finess)]
PastDate = Annotated[date, rule(_not_future)]
Rpps = Annotated[str, rule(_check_rpps)]
CogCode = Annotated[str, rule(_check_cog)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=4000)]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9 .()-]{6,20}$")]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
PostalCode = Annotated[str, StringConstraints(pattern=r"^\d{5}$")]


class Address(DomainModel):
    """Postal address (NF Z10-011 lines)."""

    lines: list[Annotated[str, StringConstraints(min_length=1, max_length=38)]] = Field(
        default_factory=list, max_length=4, description="Street lines (numéro et libellé de voie, complément)"
    )
    postal_code: PostalCode | None = None
    city: ShortText | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = Field("FR", description="ISO 3166 alpha-2")


class Telecom(DomainModel):
    """A phone number or an e-mail address."""

    system: Annotated[str, StringConstraints(pattern=r"^(phone|email|mssante)$")]
    value: Annotated[str, StringConstraints(min_length=3, max_length=254)]
    use: Annotated[str, StringConstraints(pattern=r"^(home|work|mobile)$")] | None = None
