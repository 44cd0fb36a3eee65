"""Clocks for tests: a monotonic one that moves only when slept on, a wall clock that jumps."""

from __future__ import annotations

import time
from datetime import datetime, timedelta


class FakeTime:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class JumpingClock:
    """A wall clock that runs from `start` at real speed and jumps ahead when the test says so.

    For a whole running service: time keeps moving (samples stay in order), yet a test can skip
    to the end of a mute or of the night without waiting for it.
    """

    def __init__(self, start: datetime) -> None:
        self._start = start
        self._began = time.monotonic()
        self._jumped = timedelta(0)

    def __call__(self) -> datetime:
        return self._start + self._jumped + timedelta(seconds=time.monotonic() - self._began)

    def jump(self, **kwargs: float) -> None:
        self._jumped += timedelta(**kwargs)
