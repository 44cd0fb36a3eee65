"""A scripted feed for end-to-end tests: publish values one poll at a time, count polls."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from bot.app import run
from bot.settings import Settings
from signals.types import FetchResult, Sample, Source
from timing import WallClock, utcnow

METRIC = "btc_dominance"


@dataclass
class ScriptedDominance:
    """Publish queued BTC dominance values one per poll, stamped `now`, then repeat the last."""

    name: str = "coingecko"
    script: deque[float] = field(default_factory=deque)
    last: float | None = None
    polls: int = 0
    caught_up: asyncio.Event = field(default_factory=asyncio.Event)
    polled: asyncio.Event = field(default_factory=asyncio.Event)

    def publish(self, *values: float) -> None:
        """Queue `values` for the next polls, in order."""
        self.script.extend(values)
        self.caught_up.clear()

    async def fetch(self, now: datetime) -> FetchResult:
        """Return the next queued value, or the last one again once the queue is empty."""
        self.polls += 1
        self.polled.set()
        if self.script:
            self.last = self.script.popleft()
        elif self.last is not None:
            # A poller fetches only after handling the previous result, so an empty queue here
            # means every published value has been ingested.
            self.caught_up.set()
        if self.last is None:
            return FetchResult()
        return FetchResult(samples=(Sample(METRIC, self.last, now, "coingecko"),))

    async def wait_caught_up(self, timeout: float = 5.0) -> None:
        """Wait until every published value has been ingested by the service."""
        async with asyncio.timeout(timeout):
            await self.caught_up.wait()

    async def wait_polls(self, count: int, timeout: float = 5.0) -> None:
        """Wait until the service has polled `count` more times."""
        target = self.polls + count
        async with asyncio.timeout(timeout):
            while self.polls < target:
                self.polled.clear()
                await self.polled.wait()


async def start_service(
    settings: Settings,
    feed: ScriptedDominance,
    ready: Coroutine[Any, Any, Any],
    what: str,
    clock: WallClock = utcnow,
) -> tuple[asyncio.Event, asyncio.Task[None]]:
    """Run the whole service on `feed` until `ready` completes; return its stop event and task."""
    stop = asyncio.Event()

    def sources(*_args: object) -> Sequence[Source]:
        return [feed]

    task = asyncio.create_task(run(settings, stop=stop, clock=clock, sources=sources))
    waiting = asyncio.ensure_future(ready)
    # A service that dies while starting must fail the test with its own error, not a timeout.
    done, _ = await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        waiting.cancel()
        await asyncio.wait({waiting})
        task.result()
        pytest.fail(f"the service returned before {what}")
    waiting.result()
    return stop, task
