"""Where coins' daily closes and other daily series are kept between refreshes.

A coin's close for day `d` is its USD price at 00:00 UTC on `d + 1`, the instant CoinGecko
stamps its daily points with. A named daily series keeps one value per UTC day (for example the
altcoins' 24 h volume, see `signals.volume`), so a rolling mean needs no history call.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Protocol


class PriceHistory(Protocol):
    """A store of daily closes per coin; `bot` implements it on the SQL store."""

    async def closes(self, coin_id: str, since: date) -> Mapping[date, float]:
        """Return a coin's stored daily closes from `since` on (empty when none)."""
        ...

    async def save_closes(self, coin_id: str, closes: Mapping[date, float]) -> None:
        """Store a coin's daily closes, replacing any already stored for the same day."""
        ...


class DailySeries(Protocol):
    """A store of named series with one value per UTC day; `bot` implements it on the SQL store."""

    async def daily_values(self, series: str, since: date) -> Mapping[date, float]:
        """Return a series' stored values from `since` on (empty when none)."""
        ...

    async def save_daily_values(self, series: str, values: Mapping[date, float]) -> None:
        """Store a series' values, replacing any already stored for the same day."""
        ...


class MarketHistory(PriceHistory, DailySeries, Protocol):
    """Both stores: what the CoinGecko markets source keeps between refreshes."""


class InMemoryPriceHistory:
    """A `MarketHistory` in dicts, for tests, the bench and a run without a database."""

    def __init__(self) -> None:
        self._closes: dict[str, dict[date, float]] = {}
        self._series: dict[str, dict[date, float]] = {}
        self.reads = 0
        self.writes = 0
        self.series_reads = 0
        self.series_writes = 0

    async def closes(self, coin_id: str, since: date) -> dict[date, float]:
        """Return a coin's stored daily closes from `since` on (empty when none)."""
        self.reads += 1
        stored = self._closes.get(coin_id, {})
        return {day: close for day, close in stored.items() if day >= since}

    async def save_closes(self, coin_id: str, closes: Mapping[date, float]) -> None:
        """Store a coin's daily closes, replacing any already stored for the same day."""
        self.writes += 1
        self._closes.setdefault(coin_id, {}).update(closes)

    def days_stored(self, coin_id: str) -> int:
        """Return how many closes are stored for `coin_id`."""
        return len(self._closes.get(coin_id, {}))

    async def daily_values(self, series: str, since: date) -> dict[date, float]:
        """Return a series' stored values from `since` on (empty when none)."""
        self.series_reads += 1
        stored = self._series.get(series, {})
        return {day: value for day, value in stored.items() if day >= since}

    async def save_daily_values(self, series: str, values: Mapping[date, float]) -> None:
        """Store a series' values, replacing any already stored for the same day."""
        self.series_writes += 1
        self._series.setdefault(series, {}).update(values)
