"""as_utc: the same instant in UTC; a moment without an offset is taken as UTC."""

from datetime import UTC, datetime, timedelta, timezone

from app.domain.moments import as_utc


def test_an_aware_moment_keeps_its_instant_in_utc() -> None:
    paris = datetime(2026, 7, 14, 12, 30, tzinfo=timezone(timedelta(hours=2)))
    moved = as_utc(paris)
    assert moved.utcoffset() == timedelta(0)
    assert moved == paris
    assert (moved.hour, moved.minute) == (10, 30)


def test_a_naive_moment_is_taken_as_utc() -> None:
    assert as_utc(datetime(2026, 7, 14, 10, 30)) == datetime(2026, 7, 14, 10, 30, tzinfo=UTC)
