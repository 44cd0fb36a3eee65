"""Time mechanics shared by signals, bot and handlers: clocks, backoff and rate limits.

This package sits below all three and imports none of them.
"""

from timing.backoff import Backoff
from timing.clock import MonotonicClock, Rng, Sleep, WallClock, utcnow
from timing.limits import (
    CellRate,
    IntervalPacer,
    SlidingWindow,
    SlidingWindowLimiter,
    SlidingWindows,
)

__all__ = [
    "Backoff",
    "CellRate",
    "IntervalPacer",
    "MonotonicClock",
    "Rng",
    "Sleep",
    "SlidingWindow",
    "SlidingWindowLimiter",
    "SlidingWindows",
    "WallClock",
    "utcnow",
]
