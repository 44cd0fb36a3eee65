"""The catalogue of metric ids: what each measures, its unit, and how long a value stays fresh."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class ValidRange:
    """The values a metric can take: a rule's threshold outside them can never mean anything."""

    low: float = -math.inf
    high: float = math.inf
    # True when `low` itself is impossible: a price or a ratio is above 0, never 0.
    above_low: bool = False
    kind: str = "a number"

    def problem(self, metric: str, value: float) -> str | None:
        """Return why `value` is out of range for `metric`, or None when it is in range."""
        too_low = value <= self.low if self.above_low else value < self.low
        if too_low or value > self.high:
            return f"{metric} is {self}; got {_plain(value)}"
        return None

    def __str__(self) -> str:
        if math.isinf(self.high):
            return f"{self.kind} {'above' if self.above_low else 'of at least'} {_plain(self.low)}"
        return f"{self.kind} from {_plain(self.low)} to {_plain(self.high)}"


def _plain(value: float) -> str:
    return f"{value:.10g}" if abs(value) < 1e10 else f"{value:.0f}"


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """What a metric id means to a reader and to the rule engine."""

    id: str
    label: str
    unit: str
    decimals: int
    max_age: timedelta
    band: float
    band_is_fraction: bool = False
    # What a threshold on this metric may be; None: any number (a change, a flow, a histogram).
    valid_range: ValidRange | None = None

    def range_problem(self, value: float) -> str | None:
        """Return why `value` cannot be a threshold on this metric, or None when it can."""
        return None if self.valid_range is None else self.valid_range.problem(self.id, value)

    def hysteresis(self, threshold: float) -> float:
        """Return the re-arm band for a rule on this metric at `threshold`."""
        return abs(threshold) * self.band if self.band_is_fraction else self.band

    def format(self, value: float) -> str:
        """Render a value with this metric's precision and unit."""
        if self.unit == "USD":
            return f"${value:,.{self.decimals}f}"
        if self.unit == "USD bn":
            return f"${value:,.{self.decimals}f} bn"
        if self.unit == "USD m":
            return f"${value:,.{self.decimals}f} m"
        suffix = self.unit if self.unit in ("%",) else (f" {self.unit}" if self.unit else "")
        return f"{value:,.{self.decimals}f}{suffix}"


_INTRADAY = timedelta(hours=2)
# Index closes arrive once per session: a long weekend plus a holiday is four days without one.
_SESSION = timedelta(days=4)
# FRED's weekly series publish on Thursdays for the Wednesday before.
_WEEKLY = timedelta(days=10)
# A daily figure stamped at midnight of its day, published that evening or the next morning.
_DAILY = timedelta(days=2)
# Trading-day figures (ETF flows) skip weekends and holidays.
_TRADING_DAY = timedelta(days=5)

_PCT = ValidRange(0, 100, kind="a percentage")
_INDEX = ValidRange(0, 100, kind="an index")
_USD = ValidRange(0, above_low=True, kind="an amount in USD")
_LEVEL = ValidRange(0, above_low=True)
_COUNT = ValidRange(0, kind="a count")
_RATIO = ValidRange(0, kind="a ratio")
# A % distance from an average: it cannot fall 100 % below; ten-fold above is beyond any market.
_VS_AVG = ValidRange(-100, 1000, kind="a percentage difference")

METRICS: dict[str, MetricInfo] = {
    m.id: m
    for m in (
        MetricInfo("asi", "Altcoin Season Index", "", 0, _INTRADAY, 4.0, valid_range=_INDEX),
        MetricInfo("btc_dominance", "Bitcoin dominance", "%", 2, _INTRADAY, 0.25, valid_range=_PCT),
        MetricInfo(
            "total2", "Crypto market cap ex BTC", "USD", 0, _INTRADAY, 0.01, True, valid_range=_USD
        ),
        MetricInfo(
            "total3",
            "Crypto market cap ex BTC and ETH",
            "USD",
            0,
            _INTRADAY,
            0.01,
            True,
            valid_range=_USD,
        ),
        MetricInfo("rut", "Russell 2000 close", "", 2, _SESSION, 0.005, True, valid_range=_LEVEL),
        MetricInfo(
            "rut_spx_streak",
            "Russell 2000 beat S&P 500 streak",
            "sessions",
            0,
            _SESSION,
            1.0,
            valid_range=_COUNT,
        ),
        MetricInfo(
            "rut_sessions_since_high",
            "Sessions since the Russell 2000's closing high",
            "sessions",
            0,
            _SESSION,
            0.0,
            valid_range=_COUNT,
        ),
        MetricInfo("eth_btc", "ETH/BTC", "", 5, _INTRADAY, 0.005, True, valid_range=_LEVEL),
        MetricInfo(
            "eth_btc_vs_sma50",
            "ETH/BTC close vs its 50-day average",
            "%",
            2,
            _DAILY,
            0.25,
            valid_range=_VS_AVG,
        ),
        MetricInfo("btc_usd", "Bitcoin price", "USD", 0, _INTRADAY, 0.01, True, valid_range=_USD),
        MetricInfo("eth_usd", "Ether price", "USD", 2, _INTRADAY, 0.01, True, valid_range=_USD),
        MetricInfo("sol_usd", "Solana price", "USD", 2, _INTRADAY, 0.01, True, valid_range=_USD),
        MetricInfo(
            "alt_long_short", "Altcoin long/short ratio", "", 3, _INTRADAY, 0.05, valid_range=_LEVEL
        ),
        MetricInfo(
            "alt_volume_ratio",
            "Altcoin volume vs 30-day mean",
            "x",
            2,
            _INTRADAY,
            0.1,
            valid_range=_RATIO,
        ),
        MetricInfo("altbtc_macd", "Alt/BTC MACD histogram", "", 5, timedelta(days=2), 0.0),
        MetricInfo(
            "altbtc_rsi", "Alt/BTC RSI(14)", "", 1, timedelta(days=2), 2.0, valid_range=_INDEX
        ),
        MetricInfo("net_liquidity", "Net liquidity", "USD bn", 1, _WEEKLY, 0.005, True),
        MetricInfo("net_liquidity_4w", "Net liquidity, 4-week change", "USD bn", 1, _WEEKLY, 5.0),
        MetricInfo("btc_etf_flow", "US spot Bitcoin ETF net flow", "USD m", 1, _TRADING_DAY, 10.0),
        MetricInfo(
            "btc_etf_streak",
            "Bitcoin ETF net-inflow streak",
            "days",
            0,
            _TRADING_DAY,
            1.0,
            valid_range=_COUNT,
        ),
        MetricInfo(
            "risk_on",
            "Risk-on regime score",
            "of 6",
            0,
            _INTRADAY,
            0.5,
            valid_range=ValidRange(0, 6, kind="a score"),
        ),
    )
}


def metric_info(metric_id: str) -> MetricInfo:
    """Return the catalogue entry for `metric_id`, or a neutral one for pushed-in metrics."""
    known = METRICS.get(metric_id)
    if known is not None:
        return known
    return MetricInfo(metric_id, metric_id, "", 4, _INTRADAY, 0.0)
