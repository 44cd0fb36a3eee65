"""The clocks and sleeps that time-dependent code takes injected, so tests can drive time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

WallClock = Callable[[], datetime]
"""Return the current time, timezone-aware: what stored times and alert ages are measured on."""

MonotonicClock = Callable[[], float]
"""Return seconds on a clock that never goes back: what intervals and rate limits are measured on."""

Sleep = Callable[[float], Awaitable[None]]
"""Wait this many seconds (`asyncio.sleep`, or a test's virtual sleep)."""

Rng = Callable[[], float]
"""Return a number in [0, 1) (`random.random`, or a test's fixed draw)."""


def utcnow() -> datetime:
    """Return the current time, timezone-aware."""
    return datetime.now(UTC)
