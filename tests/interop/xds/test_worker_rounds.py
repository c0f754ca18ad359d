"""The worker's rounds: the poll pause when nothing is due, the gathering pause after a round short of a batch."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.jobs import dmp_worker
from app.services.dmp import DeliveryReport, FeedPolicy


class Stop(Exception):
    pass


class Rounds:
    """A stand-in feeder delivering the given number of documents per round, then stopping the worker."""

    def __init__(self, *sent: int) -> None:
        self.policy = FeedPolicy(batch=20)
        self.rounds = list(sent)

    async def deliver(self, worker: str) -> DeliveryReport:
        if not self.rounds:
            raise Stop
        return DeliveryReport(sent=self.rounds.pop(0))


async def test_a_short_round_waits_to_gather_the_next_rows_a_full_one_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    # A collection here would also run the finalizers of earlier tests' garbage, which may sleep.
    freezes: list[int] = []
    monkeypatch.setattr(dmp_worker, "freeze_long_lived", lambda: freezes.append(len(pauses)))
    feeder: Any = Rounds(3, 20, 0, 1)
    with pytest.raises(Stop):
        await dmp_worker.run_worker(feeder, poll=2.0, gather=0.25)
    assert pauses == [0.25, 2.0, 0.25]  # after 3 (short), none after 20 (full), poll after 0, gather after 1
    assert freezes == [0]  # once, after the first round that delivered something


async def test_the_heap_is_frozen_after_the_first_busy_round_only(monkeypatch: pytest.MonkeyPatch) -> None:
    async def sleep(seconds: float) -> None:
        return None

    monkeypatch.setattr(asyncio, "sleep", sleep)
    freezes: list[int] = []
    feeder: Any = Rounds(0, 0, 2, 5, 0)
    monkeypatch.setattr(dmp_worker, "freeze_long_lived", lambda: freezes.append(len(feeder.rounds)))
    with pytest.raises(Stop):
        await dmp_worker.run_worker(feeder, poll=2.0, gather=0.25)
    assert freezes == [2]  # after the third round (2 sent), with two rounds left, never again


async def test_once_drains_without_gathering_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    monkeypatch.setattr(dmp_worker, "freeze_long_lived", lambda: None)
    feeder: Any = Rounds(3, 1, 0)
    report = await dmp_worker.run_worker(feeder, poll=2.0, once=True, gather=0.25)
    assert report.sent == 4 and pauses == []
