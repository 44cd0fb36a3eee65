"""Virtual seconds for pacing tests: time moves only when every participant is asleep.

The code under test and the fake Bot API share the clock, so limits are enforced in virtual time
while requests still travel over real loopback HTTP, and no test sleeps for real.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class VirtualTime:
    """A clock (call it) and a `sleep` to inject; `run` drives participants to completion."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._changed = asyncio.Event()
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Return once virtual time has moved `seconds` on."""
        self.slept.append(seconds)
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), wake))
        self._changed.set()
        await wake

    async def run(self, *coroutines: Coroutine[Any, Any, T], limit: float = 60.0) -> list[T]:
        """Run the participants together; move time only while all of them sleep."""
        tasks = [asyncio.ensure_future(c) for c in coroutines]
        for task in tasks:
            task.add_done_callback(lambda _: self._changed.set())
        try:
            await asyncio.wait_for(self._drive(tasks), limit)
        finally:
            for task in tasks:
                task.cancel()
        return [task.result() for task in tasks]

    async def _drive(self, tasks: list[asyncio.Task[T]]) -> None:
        while True:
            running = sum(1 for t in tasks if not t.done())
            if running == 0:
                return
            if len(self._sleepers) == running:
                until = self._sleepers[0][0]
                self.now = max(self.now, until)
                while self._sleepers and self._sleepers[0][0] <= until:
                    heapq.heappop(self._sleepers)[2].set_result(None)
            self._changed.clear()
            await self._changed.wait()
