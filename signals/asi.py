"""The Altcoin Season Index by the blockchaincenter method, as pure functions.

Take the coins ranked by market cap, drop Bitcoin and every excluded coin (stablecoins,
asset-backed, wrapped, bridged and liquid-staking tokens; see `data/asi_exclusions.json`), keep
the top 50 that remain, and report the share of them whose 90-day price change beats Bitcoin's,
0-100. A coin the categories miss but whose daily closes never left a band of +-2% around one
price over the 90 days is pegged to something and excluded too (`is_pegged`): when Bitcoin
falls, every pegged coin would "beat" it.

Windows: a change is the current price over the reference close minus one. The reference close is
the last daily close completed 90 days before now (see `reference_day`); when that day's close is
missing, the latest close up to `tolerance_days` earlier stands in. A coin with no reference close
"lacks history" and is left out of both counts; the index is published only when at least
`min_history` coins of the universe have one, and is then the share among those coins. Equal to
Bitcoin's change does not count as beating it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from signals.market import MarketCoin
from signals.specs.coingecko import MarketsMetric
from signals.types import Sample, Stale
from signals.universe import AsiUniverse, CountedCoin, ExcludedCoin

BITCOIN = "bitcoin"
UNIVERSE_SIZE = 50
MIN_HISTORY = 45
LOOKBACK = timedelta(days=90)
TOLERANCE_DAYS = 3
# Closes that never left +-2 % around one price over the window: the coin is pegged.
PEG_BAND = 0.02


@dataclass(frozen=True, slots=True)
class Exclusions:
    """The rules that keep a coin out of the universe, each with its reason.

    `categories` maps each excluded CoinGecko category id to the name shown for its members
    when CoinGecko's own list does not give one.
    """

    categories: Mapping[str, str]
    coins: Mapping[str, str]
    name_patterns: tuple[tuple[re.Pattern[str], str], ...]

    def reason(self, coin: MarketCoin, category_members: Mapping[str, str]) -> str | None:
        """Return why `coin` is excluded, or None when it belongs in the universe.

        `category_members` maps a coin id to the name of the excluded category it is in.
        """
        if coin.id in category_members:
            return category_members[coin.id]
        if coin.id in self.coins:
            return self.coins[coin.id]
        for pattern, why in self.name_patterns:
            if pattern.search(coin.name):
                return why
        return None


def load_exclusions(text: str | None = None) -> Exclusions:
    """Parse the exclusion rules from `text`, or from the packaged `asi_exclusions.json`."""
    if text is None:
        text = resources.files("signals").joinpath("data/asi_exclusions.json").read_text("utf-8")
    raw: dict[str, Any] = json.loads(text)
    categories = {}
    for entry in raw["categories"]:
        _field(entry, "reason")  # every rule says why, even where the name is what users see
        categories[_field(entry, "id")] = _field(entry, "name")
    coins = {_field(entry, "id"): _field(entry, "reason") for entry in raw["coins"]}
    patterns = tuple(
        (re.compile(_field(entry, "pattern")), _field(entry, "reason"))
        for entry in raw["name_patterns"]
    )
    return Exclusions(categories, coins, patterns)


def _field(entry: Mapping[str, Any], key: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"asi exclusion entry {entry!r} needs a non-empty {key!r}")
    return value


def rank_candidates(
    coins: Iterable[MarketCoin],
    exclusions: Exclusions,
    category_members: Mapping[str, str] | None = None,
) -> tuple[tuple[MarketCoin, ...], tuple[ExcludedCoin, ...]]:
    """Return the coins by market cap that may enter the universe, and those excluded, with why.

    Bitcoin is in neither: it is the benchmark.
    """
    members = category_members or {}
    candidates: list[MarketCoin] = []
    excluded: list[ExcludedCoin] = []
    for coin in sorted(coins, key=lambda coin: coin.market_cap, reverse=True):
        if coin.id == BITCOIN:
            continue
        why = exclusions.reason(coin, members)
        if why is None:
            candidates.append(coin)
        else:
            excluded.append(ExcludedCoin(coin.id, coin.symbol, coin.name, coin.rank, why))
    return tuple(candidates), tuple(excluded)


def select_universe(
    coins: Iterable[MarketCoin],
    exclusions: Exclusions,
    category_members: Mapping[str, str] | None = None,
    size: int = UNIVERSE_SIZE,
) -> tuple[MarketCoin, ...]:
    """Return the `size` largest coins by market cap that are neither Bitcoin nor excluded."""
    candidates, _ = rank_candidates(coins, exclusions, category_members)
    return candidates[:size]


def is_pegged(closes: Iterable[float], band: float = PEG_BAND) -> bool:
    """Tell whether every close lies within +-`band` of one price (no positive close: no)."""
    values = [close for close in closes if close > 0]
    if not values:
        return False
    # Some price p has max <= p (1 + band) and min >= p (1 - band) exactly when this holds.
    return max(values) / (1 + band) <= min(values) / (1 - band)


def reference_day(now: datetime, lookback: timedelta = LOOKBACK) -> date:
    """Return the day of the last daily close completed `lookback` before `now` (UTC)."""
    then = (now - lookback).astimezone(UTC)
    # The close of day d is the price at 00:00 UTC on d + 1, so it completes as d + 1 begins.
    return then.date() - timedelta(days=1)


def closes_frame(closes: Mapping[str, Mapping[date, float]]) -> pd.DataFrame:
    """Return closes as a frame: one row per day (sorted), one column per coin, NaN where absent."""
    days = sorted(set().union(*closes.values()))
    row = {day: i for i, day in enumerate(days)}
    # Filled column by column through numpy: a Series per coin from date keys is ~30x slower.
    grid = np.full((len(days), len(closes)), np.nan)
    for column, values in enumerate(closes.values()):
        grid[[row[day] for day in values], column] = list(values.values())
    return pd.DataFrame(grid, index=pd.DatetimeIndex(days), columns=list(closes))


def reference_closes(
    closes: pd.DataFrame, day: date, tolerance_days: int = TOLERANCE_DAYS
) -> pd.Series:
    """Return each coin's close on `day`, or its latest within `tolerance_days` before; NaN if none."""
    start = pd.Timestamp(day - timedelta(days=tolerance_days))
    window = closes.loc[(closes.index >= start) & (closes.index <= pd.Timestamp(day))]
    if window.empty:
        return pd.Series(float("nan"), index=closes.columns, dtype="float64")
    usable = window.where(window > 0)
    return usable.ffill().iloc[-1]


@dataclass(frozen=True, slots=True)
class AsiReading:
    """The index over one universe, with the figures behind it."""

    universe: tuple[str, ...]
    bitcoin_change: float | None
    changes: tuple[tuple[str, float], ...]
    min_history: int = MIN_HISTORY

    @property
    def counted(self) -> int:
        """Return how many coins of the universe have a 90-day change."""
        return len(self.changes)

    @property
    def missing(self) -> tuple[str, ...]:
        """Return the coins of the universe without a 90-day change."""
        have = {coin for coin, _ in self.changes}
        return tuple(coin for coin in self.universe if coin not in have)

    @property
    def winners(self) -> tuple[tuple[str, float], ...]:
        """Return the coins whose change beats Bitcoin's, best first."""
        if self.bitcoin_change is None:
            return ()
        btc = self.bitcoin_change
        beat = [(coin, change) for coin, change in self.changes if change > btc]
        return tuple(sorted(beat, key=lambda item: item[1], reverse=True))

    @property
    def share(self) -> float:
        """Return the percentage of counted coins that beat Bitcoin (0 when none is counted)."""
        return 100.0 * len(self.winners) / self.counted if self.counted else 0.0


def publish(
    reading: AsiReading, at: datetime, source: str, symbols: Mapping[str, str]
) -> Sample | Stale:
    """Return the `asi` sample, or a stale notice when too few coins have 90 days of history.

    The sample's detail lists Bitcoin's change, the coverage, and each coin that beat Bitcoin
    (by upper-case symbol, best first), for `/status asi`.
    """
    btc = reading.bitcoin_change
    if btc is None:
        return Stale(MarketsMetric.ASI, "bitcoin has no close from 90 days ago yet")
    if reading.counted < reading.min_history:
        return Stale(
            MarketsMetric.ASI,
            f"only {reading.counted} of {len(reading.universe)} coins have 90 days of history "
            f"({reading.min_history} needed)",
        )
    detail = [
        ("bitcoin_90d", f"{btc:+.2%}"),
        ("counted", f"{reading.counted} of {len(reading.universe)}"),
        ("beat_bitcoin", str(len(reading.winners))),
    ]
    detail += [
        (symbols.get(coin, coin).upper(), f"{change:+.2%}") for coin, change in reading.winners
    ]
    return Sample(MarketsMetric.ASI, reading.share, at, source, tuple(detail))


def altcoin_season(
    prices: Mapping[str, float],
    references: pd.Series,
    universe: Sequence[str],
    min_history: int = MIN_HISTORY,
) -> AsiReading:
    """Compare each universe coin's change from its reference close with Bitcoin's."""
    current = pd.Series(prices, dtype="float64")
    wanted = [*universe, BITCOIN]
    change = current.reindex(wanted) / references.reindex(wanted) - 1.0
    btc = change[BITCOIN]
    btc_change = None if pd.isna(btc) else float(btc)
    alts = change.iloc[:-1].dropna()
    return AsiReading(
        universe=tuple(universe),
        bitcoin_change=btc_change,
        changes=tuple((str(coin), float(value)) for coin, value in alts.items()),
        min_history=min_history,
    )


def describe_universe(
    reading: AsiReading,
    universe: Sequence[MarketCoin],
    excluded: Sequence[ExcludedCoin],
    outcome: Sample | Stale,
    at: datetime,
) -> AsiUniverse:
    """Return the universe behind `outcome`: each coin's change and each exclusion's reason."""
    changes = dict(reading.changes)
    coins = tuple(
        CountedCoin(coin.id, coin.symbol, coin.name, coin.rank, changes.get(coin.id))
        for coin in universe
    )
    last = max((coin.rank for coin in universe), default=0)
    shown = sorted((e for e in excluded if e.rank < last), key=lambda e: e.rank)
    if isinstance(outcome, Sample):
        return AsiUniverse(at, reading.bitcoin_change, coins, tuple(shown), outcome.value)
    return AsiUniverse(at, reading.bitcoin_change, coins, tuple(shown), None, outcome.reason)


def asi_history(
    closes: Mapping[str, Mapping[date, float]],
    universe: Sequence[str],
    first: date,
    last: date,
    source: str,
    min_history: int = MIN_HISTORY,
    lookback: timedelta = LOOKBACK,
) -> tuple[Sample, ...]:
    """Return the index for each day from `first` to `last` that has `lookback` of closes behind.

    Each day counts the coins of `universe` (today's: the history carries survivorship bias)
    whose change over `lookback` to that day's close beats Bitcoin's, as `altcoin_season` does
    live, and is stamped at the close (00:00 UTC the next day). Days with too few coins are left
    out, never guessed.
    """
    wanted = [coin for coin in (*universe, BITCOIN) if closes.get(coin)]
    if BITCOIN not in wanted:
        return ()
    frame = closes_frame({coin: closes[coin] for coin in wanted})
    samples: list[Sample] = []
    day = first
    while day <= last:
        now = reference_closes(frame, day, 0)
        then = reference_closes(frame, day - lookback)
        reading = altcoin_season(
            {str(coin): float(close) for coin, close in now.dropna().items()},
            then,
            [coin for coin in universe if coin in frame.columns],
            min_history,
        )
        if reading.bitcoin_change is not None and reading.counted >= min_history:
            at = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
            samples.append(Sample(MarketsMetric.ASI, reading.share, at, source))
        day += timedelta(days=1)
    return tuple(samples)
