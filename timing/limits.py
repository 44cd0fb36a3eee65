"""Rate limits: spacing events at a steady rate, and counting them in a sliding window.

The arithmetic takes times as plain numbers on one timeline (seconds on a monotonic clock, or any
other unit if span and times agree), so policies can compose it; `IntervalPacer` and
`SlidingWindowLimiter` add an injected clock (and sleep) for the common single-limit cases.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

from timing.clock import MonotonicClock, Sleep

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class CellRate:
    """One event per `interval`, allowed up to `tolerance` early (GCRA, the generic cell rate).

    The state is one number, the theoretical time the next event is due; callers keep it (one per
    channel, one overall...), starting from minus infinity or any time before the first event.
    """

    interval: float
    tolerance: float = 0.0

    @classmethod
    def bursting(cls, count: float, window: float) -> CellRate:
        """Return the rate of `count` per `window` that lets all `count` go at once when idle."""
        interval = window / count
        return cls(interval, window - interval)

    def ready_at(self, due: float) -> float:
        """Return the earliest time the next event may go, given when it is `due`."""
        return due - self.tolerance

    def next_due(self, due: float, at: float) -> float:
        """Return when the event after one sent `at` is due."""
        return max(due, at) + self.interval


class SlidingWindow:
    """At most `limit` events in any `span`; times are passed in, so it does no I/O."""

    __slots__ = ("_times", "limit", "span")

    def __init__(self, limit: int, span: float) -> None:
        _check(limit, span)
        self.limit = limit
        self.span = span
        # Only the newest `limit` events can hold the window shut; older ones fall off by themselves.
        self._times: deque[float] = deque(maxlen=limit)

    def ready_at(self) -> float:
        """Return when one more event fits: when the oldest of a full window leaves it, or -inf."""
        return self._times[0] + self.span if len(self._times) == self.limit else -math.inf

    def fits(self, now: float) -> bool:
        """Say whether one more event fits at `now`."""
        return len(self._times) < self.limit or self._times[0] <= now - self.span

    def wait(self, now: float) -> float:
        """Return how long from `now` until one more event fits (0.0 when it fits now)."""
        return 0.0 if self.fits(now) else self._times[0] + self.span - now

    def record(self, at: float) -> None:
        """Count one event at `at`."""
        self._times.append(at)

    def discard(self, at: float) -> None:
        """Forget one event counted at `at`, if there is one."""
        if at in self._times:
            self._times.remove(at)

    def idle_since(self, now: float) -> bool:
        """Say whether every event has left the window by `now`, so forgetting it changes nothing."""
        return not self._times or self._times[-1] + self.span <= now

    def __len__(self) -> int:
        return len(self._times)


class SlidingWindows(Generic[K]):
    """One `SlidingWindow` per key, made on first use.

    With `forget_idle_at`, counting an event while that many keys are held first forgets the idle
    ones, so a stream of one-off keys (client addresses) cannot grow the table without end.
    """

    def __init__(self, limit: int, span: float, *, forget_idle_at: int | None = None) -> None:
        _check(limit, span)
        self.limit = limit
        self.span = span
        self._forget_idle_at = forget_idle_at
        self._windows: dict[K, SlidingWindow] = {}

    def window(self, key: K) -> SlidingWindow:
        """Return `key`'s window, made empty if it has none."""
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = SlidingWindow(self.limit, self.span)
        return window

    def wait(self, key: K, now: float) -> float:
        """Return how long from `now` until `key` may count one more event (0.0 for now)."""
        window = self._windows.get(key)
        return 0.0 if window is None else window.wait(now)

    def record(self, key: K, at: float) -> None:
        """Count one event for `key` at `at`."""
        if self._forget_idle_at is not None and len(self._windows) >= self._forget_idle_at:
            self.forget_idle(at)
        self.window(key).record(at)

    def discard(self, key: K, at: float) -> None:
        """Forget one event of `key` counted at `at`, if there is one."""
        window = self._windows.get(key)
        if window is not None:
            window.discard(at)

    @contextmanager
    def held(self, key: K, at: float) -> Iterator[None]:
        """Count one event for `key` while the block runs, and give it back if the block fails."""
        self.record(key, at)
        try:
            yield
        except BaseException:
            self.discard(key, at)
            raise

    def forget_idle(self, now: float) -> None:
        """Drop the windows whose every event has left them by `now`."""
        for key in [k for k, window in self._windows.items() if window.idle_since(now)]:
            del self._windows[key]

    def __len__(self) -> int:
        return len(self._windows)


class SlidingWindowLimiter:
    """Allow at most `limit` requests in any `window` seconds, on an injected monotonic clock."""

    def __init__(self, limit: int, window: float, clock: MonotonicClock = time.monotonic) -> None:
        self._sent = SlidingWindow(limit, window)
        self.limit = limit
        self.window = window
        self._clock = clock

    @classmethod
    def under_cap(
        cls, cap: int, window: float, safety: float, clock: MonotonicClock = time.monotonic
    ) -> SlidingWindowLimiter:
        """Return a limiter that uses `safety` (0-1] of a provider's cap of `cap` per `window`."""
        if not 0 < safety <= 1:
            raise ValueError(f"safety must be in (0, 1], got {safety:g}")
        return cls(max(1, math.floor(cap * safety)), window, clock)

    def try_acquire(self) -> bool:
        """Take a slot for one request now, or return False when the window is full."""
        now = self._clock()
        if not self._sent.fits(now):
            return False
        self._sent.record(now)
        return True

    def retry_after(self) -> float:
        """Return the seconds until a slot frees (0 when one is free now)."""
        return self._sent.wait(self._clock())


class IntervalPacer:
    """Space calls at least `interval` seconds apart, on an injected clock and sleep."""

    def __init__(
        self, interval: float, clock: MonotonicClock = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        self.interval = interval
        self._rate = CellRate(interval)
        self._clock = clock
        self._sleep = sleep
        self._due = -math.inf

    @classmethod
    def per_minute(
        cls, calls: float, clock: MonotonicClock = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> IntervalPacer:
        """Return a pacer that allows `calls` calls a minute."""
        return cls(60.0 / calls, clock, sleep)

    async def wait(self) -> float:
        """Wait for the next free slot and return how long that took."""
        now = self._clock()
        slot = max(now, self._rate.ready_at(self._due))
        # Reserving the slot before sleeping keeps concurrent callers from sharing one.
        self._due = self._rate.next_due(self._due, slot)
        delay = slot - now
        if delay > 0:
            await self._sleep(delay)
        return delay


def _check(limit: int, span: float) -> None:
    if limit < 1 or span <= 0:
        raise ValueError(f"need limit >= 1 and span > 0, got {limit} per {span:g}")
