"""The ASI's universe as typed values: which coins counted, which were left out and why.

Kept apart from `signals.asi` (pandas) so the bot's command layer can name these types cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

# The reason given for a coin whose 90 days of daily closes stayed within +-2 % of one price.
PEGGED = "pegged"


@dataclass(frozen=True, slots=True)
class ExcludedCoin:
    """A coin ranked among the universe but left out of it, and why."""

    id: str
    symbol: str
    name: str
    rank: int
    reason: str


@dataclass(frozen=True, slots=True)
class CountedCoin:
    """A coin of the universe and its 90-day change (None: no close from 90 days ago)."""

    id: str
    symbol: str
    name: str
    rank: int
    change: float | None


@dataclass(frozen=True, slots=True)
class AsiUniverse:
    """Which coins the ASI counted and which it left out, as of one refresh.

    `coins` is the universe by market cap; `excluded` the coins ranked above its last coin
    that were left out (a category's name, a listed reason, or `PEGGED`), by rank. `value` is
    the index published from it, or None with `stale_reason` saying why none was.
    """

    at: datetime
    bitcoin_change: float | None
    coins: tuple[CountedCoin, ...]
    excluded: tuple[ExcludedCoin, ...]
    value: float | None
    stale_reason: str | None = None

    @property
    def beat_bitcoin(self) -> tuple[CountedCoin, ...]:
        """Return the coins whose change beats Bitcoin's, in universe order."""
        btc = self.bitcoin_change
        if btc is None:
            return ()
        return tuple(c for c in self.coins if c.change is not None and c.change > btc)


@runtime_checkable
class UniverseSource(Protocol):
    """A source that keeps the ASI universe of its last refresh, for `/status asi`."""

    def asi_universe(self) -> AsiUniverse | None:
        """Return the universe of the last refresh, or None before the first one."""
        ...
