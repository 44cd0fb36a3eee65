"""The altcoins' 24 h volume against its 30-day mean, as pure functions.

Altcoin volume: the sum of CoinGecko's 24 h `total_volume` (USD) over the ASI universe, the 50
largest coins that are neither Bitcoin nor excluded (`signals.asi.select_universe`), so Bitcoin,
stablecoin, wrapped-token and liquid-staking volume is left out. A sum is taken only when coins
holding at least `COVERAGE` (90 %) of the universe's current market cap have a volume; it is then
the sum over those coins, never scaled up.

Daily series: each refresh stores the day's (UTC) sum under `SERIES`, replacing the day's earlier
reading, so a past day keeps its last one. A cold start seeds past days from the same
`/coins/{id}/market_chart` calls that back-fill the closes (see `seed_volumes`).

Ratio: the current sum over the mean of the `DAYS` (30) most recent stored days before today,
looking back at most `LOOKBACK_DAYS` (40) days, so a day the bot missed costs no month of
warm-up. Until 30 such days are stored the metric is stale ("collecting").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from signals.market import MarketCoin
from signals.specs.coingecko import MarketsMetric
from signals.types import Sample, Stale

METRIC = MarketsMetric.ALT_VOLUME_RATIO
SERIES = "alt_volume_usd"
DAYS = 30
LOOKBACK_DAYS = 40
COVERAGE = 0.9


@dataclass(frozen=True, slots=True)
class UniverseVolume:
    """The universe's summed 24 h volume and the share of its market cap that has one."""

    total: float
    coverage: float

    @property
    def usable(self) -> bool:
        """Return whether enough of the universe reported a volume for the sum to stand."""
        return self.coverage >= COVERAGE


def universe_volume(universe: Iterable[MarketCoin]) -> UniverseVolume:
    """Sum the 24 h volumes of `universe`, noting the share of its market cap that has one."""
    coins = list(universe)
    cap = sum(coin.market_cap for coin in coins)
    known = [coin for coin in coins if coin.volume_24h is not None and coin.volume_24h >= 0]
    covered = sum(coin.market_cap for coin in known)
    total = sum(coin.volume_24h for coin in known if coin.volume_24h is not None)
    return UniverseVolume(total, covered / cap if cap > 0 else 0.0)


def seed_volumes(
    volumes: Mapping[str, Mapping[date, float]],
    caps: Mapping[str, float],
    days: Iterable[date],
) -> dict[date, float]:
    """Return past days' universe volume sums from back-filled per-coin daily volumes.

    `caps` are the universe's current market caps. A day gets a sum only when coins holding at
    least `COVERAGE` of the total cap have a volume that day; the sum is over those coins.
    """
    total_cap = sum(cap for cap in caps.values() if cap > 0)
    if total_cap <= 0:
        return {}
    sums: dict[date, float] = {}
    for day in days:
        present = {
            coin: volumes[coin][day] for coin in caps if coin in volumes and day in volumes[coin]
        }
        covered = sum(caps[coin] for coin in present if caps[coin] > 0)
        if covered >= COVERAGE * total_cap:
            sums[day] = sum(present.values())
    return sums


def window(today: date) -> list[date]:
    """Return the past days a ratio on `today` may draw on, oldest first."""
    return [today - timedelta(days=n) for n in range(LOOKBACK_DAYS, 0, -1)]


def volume_ratio(
    current: float, stored: Mapping[date, float], now: datetime, source: str
) -> Sample | Stale:
    """Return `alt_volume_ratio` at `now`: `current` over the mean of the last 30 stored days.

    `stored` holds the daily series; today's (UTC) value and days outside the window are ignored.
    """
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=LOOKBACK_DAYS)
    past = sorted(day for day in stored if first <= day < today)
    if len(past) < DAYS:
        return Stale(METRIC, f"collecting: {len(past)} of {DAYS} days of volume")
    mean = sum(stored[day] for day in past[-DAYS:]) / DAYS
    if mean <= 0:
        return Stale(METRIC, f"the {DAYS}-day mean volume is zero")
    detail = (
        ("volume_usd", f"{current:.0f}"),
        ("mean_30d_usd", f"{mean:.0f}"),
        ("days", str(DAYS)),
    )
    return Sample(METRIC, current / mean, now, source, detail)
