"""Pollers: back off on failure, log once each way, mark metrics stale, report a feed down."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from bot.watch.pollers import Poller
from signals.types import (
    BadPayload,
    FetchResult,
    RateLimited,
    Sample,
    SourceError,
    SourceUnavailable,
)
from tests.bot.conftest import FakeClock


@dataclass
class ScriptedSource:
    """A source that answers from a script: a result, or an exception to raise."""

    script: list[FetchResult | Exception]
    name: str = "scripted"
    calls: int = 0

    async def fetch(self, now: datetime) -> FetchResult:
        self.calls += 1
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step


@dataclass
class Recorder:
    handled: list[FetchResult] = field(default_factory=list)
    stale: list[tuple[str, str]] = field(default_factory=list)
    down: list[tuple[str, str]] = field(default_factory=list)
    up: list[str] = field(default_factory=list)

    async def handle(self, result: FetchResult) -> None:
        self.handled.append(result)

    async def mark_stale(self, metric: str, reason: str) -> None:
        self.stale.append((metric, reason))

    async def on_down(self, name: str, reason: str) -> None:
        self.down.append((name, reason))

    async def on_up(self, name: str) -> None:
        self.up.append(name)


def poller(source: ScriptedSource, rec: Recorder, clock: FakeClock) -> Poller:
    return Poller(
        source,
        60,
        rec.handle,
        rec.mark_stale,
        clock,
        down_after=timedelta(minutes=5),
        on_down=rec.on_down,
        on_recovered=rec.on_up,
        rng=lambda: 0.5,
    )


def ok(clock: FakeClock, value: float = 40) -> FetchResult:
    return FetchResult(samples=(Sample("asi", value, clock(), "coingecko"),))


async def test_failures_back_off_log_once_and_recover(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    fails: list[FetchResult | Exception] = [SourceUnavailable("coingecko", "HTTP 503")] * 4
    source = ScriptedSource([ok(clock), *fails, ok(clock, 41)])
    rec = Recorder()
    p = poller(source, rec, clock)
    caplog.set_level(logging.INFO, logger="bot.watch.pollers")
    assert await p.poll_once() == 60
    delays = []
    for _ in range(4):
        delays.append(await p.poll_once())
        clock.advance(seconds=delays[-1])
    assert delays == [60, 120, 240, 480]
    assert p.health.failures == 4
    assert p.health.last_error == "HTTP 503"
    assert rec.stale == [("asi", "scripted: HTTP 503")] * 4
    assert await p.poll_once() == 60
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "source scripted failing: HTTP 503",
        "source scripted recovered after 4 failed attempts (15 min)",
    ]
    # The fourth failure comes 7 minutes in, past the 5-minute threshold: one notice each way.
    assert rec.down == [("scripted", "HTTP 503")]
    assert rec.up == ["scripted"]
    assert p.health.failing_since is None


async def test_rate_limit_waits_at_least_retry_after(clock: FakeClock) -> None:
    source = ScriptedSource([RateLimited("coingecko", 900.0), RateLimited("coingecko", None)])
    p = poller(source, Recorder(), clock)
    assert await p.poll_once() == 900
    assert await p.poll_once() == 120


async def test_unexpected_errors_and_store_failures_never_escape(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(Recorder):
        async def mark_stale(self, metric: str, reason: str) -> None:
            raise OSError("database is gone")

    source = ScriptedSource([ok(clock), ZeroDivisionError("bug"), BadPayload("x", "data", "null")])
    p = poller(source, Broken(), clock)
    await p.poll_once()
    assert await p.poll_once() == 60
    assert await p.poll_once() == 120
    assert p.health.last_error == "bad payload at 'data': null"
    assert any("unexpected error" in r.getMessage() for r in caplog.records)


async def test_a_handler_failure_counts_as_a_failed_poll(clock: FakeClock) -> None:
    class StoreDown(Recorder):
        async def handle(self, result: FetchResult) -> None:
            raise SourceError("store", "unreachable")

    p = poller(ScriptedSource([ok(clock)]), StoreDown(), clock)
    assert await p.poll_once() == 60
    assert p.health.failures == 1
    assert p.health.last_success is None
