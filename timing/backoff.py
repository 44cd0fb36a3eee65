"""Wait longer after each consecutive failure: exponential, capped, optionally jittered."""

from __future__ import annotations

import random
from dataclasses import dataclass

from timing.clock import Rng


@dataclass(frozen=True, slots=True)
class Backoff:
    """Wait `base` after the first failure, `factor` times longer after each next, at most `cap`.

    The capped delay is then multiplied by a factor drawn uniformly from `jitter` (low, high), so
    many clients failing together do not retry together; the default (1, 1) draws nothing.
    """

    base: float
    cap: float
    factor: float = 2.0
    jitter: tuple[float, float] = (1.0, 1.0)

    def __post_init__(self) -> None:
        low, high = self.jitter
        if self.base <= 0 or self.cap <= 0 or self.factor < 1 or not 0 <= low <= high:
            raise ValueError(
                f"a backoff needs base and cap > 0, factor >= 1 and 0 <= low <= high, got {self}"
            )

    def delay(self, failures: int, rng: Rng = random.random) -> float:
        """Return the seconds to wait after `failures` consecutive failures (1 or more)."""
        try:
            ceiling = min(self.cap, self.base * self.factor ** max(0, failures - 1))
        except OverflowError:
            # Past a float's range the cap was reached long ago.
            ceiling = self.cap
        low, high = self.jitter
        if low == high:
            return ceiling * low
        return ceiling * (low + rng() * (high - low))
