"""Typed domain errors. Each carries a stable code; the API renders them once, as problem+json."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldIssue:
    """One rule broken by one field."""

    field: str
    rule: str
    message: str


class DomainError(Exception):
    """Base of every rule violation; ``code`` is stable and becomes the problem ``type``."""

    code = "domain-error"
    title = "Rule violated"
    status = 422

    def __init__(self, message: str, *, issues: list[FieldIssue] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.issues = issues or []


class InvalidValue(ValueError):
    """A single value breaks a rule; raised inside model validators so every bad field is reported."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


class RuleViolation(DomainError):
    """A business invariant across fields or records (e.g. a second open stay)."""

    code = "rule-violation"
    title = "Business rule violated"
    status = 422

    def __init__(self, rule: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message, issues=[FieldIssue(field or "", rule, message)])
        self.rule = rule


class Conflict(RuleViolation):
    """The request conflicts with the current state of another record."""

    code = "conflict"
    title = "Conflict with the current state"
    status = 409


class NotFound(DomainError):
    code = "not-found"
    title = "Resource not found"
    status = 404


class Gone(DomainError):
    code = "archived"
    title = "Resource archived"
    status = 410


class PreconditionFailed(DomainError):
    code = "precondition-failed"
    title = "The resource has changed (stale If-Match)"
    status = 412


class PreconditionRequired(DomainError):
    code = "precondition-required"
    title = "If-Match header required"
    status = 428


@dataclass
class Issues:
    """Collects field issues so that every bad field is reported at once."""

    items: list[FieldIssue] = field(default_factory=list)

    def add(self, field_name: str, rule: str, message: str) -> None:
        self.items.append(FieldIssue(field_name, rule, message))

    def raise_if_any(self, message: str = "Invalid input") -> None:
        if self.items:
            raise DomainError(message, issues=self.items)


class Unauthenticated(DomainError):
    """No credentials, or credentials that are not (or no longer) valid."""

    code = "unauthenticated"
    title = "Authentication required"
    status = 401
    headers = {"WWW-Authenticate": 'Bearer realm="dui"'}


class Forbidden(DomainError):
    """Authenticated, but the caller's roles do not allow this action."""

    code = "forbidden"
    title = "Not allowed for your roles"
    status = 403


class TooManyRequests(DomainError):
    code = "rate-limited"
    title = "Too many attempts"
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}
