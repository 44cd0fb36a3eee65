"""The catalogue of metric ids: what each measures, its unit, and how long a value stays fresh."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


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

    def hysteresis(self, threshold: float) -> float:
        """Return the re-arm band for a rule on this metric at `threshold`."""
        return abs(threshold) * self.band if self.band_is_fraction else self.band

    def format(self, value: float) -> str:
        """Render a value with this metric's precision and unit."""
        if self.unit == "USD":
            # Market caps read compactly: $1.32T, $845.20B.
            for size, suffix in ((1e12, "T"), (1e9, "B")):
                if abs(value) >= size:
                    return f"${value / size:,.2f}{suffix}"
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

METRICS: dict[str, MetricInfo] = {
    m.id: m
    for m in (
        MetricInfo("asi", "Altcoin Season Index", "", 0, _INTRADAY, 4.0),
        MetricInfo("btc_dominance", "Bitcoin dominance", "%", 2, _INTRADAY, 0.25),
        MetricInfo("total2", "Crypto market cap ex BTC", "USD", 0, _INTRADAY, 0.01, True),
        MetricInfo("total3", "Crypto market cap ex BTC and ETH", "USD", 0, _INTRADAY, 0.01, True),
        MetricInfo("rut", "Russell 2000 close", "", 2, _SESSION, 0.005, True),
        MetricInfo(
            "rut_spx_streak", "Russell 2000 beat S&P 500 streak", "sessions", 0, _SESSION, 1.0
        ),
        MetricInfo(
            "rut_sessions_since_high",
            "Sessions since the Russell 2000's closing high",
            "sessions",
            0,
            _SESSION,
            0.0,
        ),
        MetricInfo("eth_btc", "ETH/BTC", "", 5, _INTRADAY, 0.005, True),
        MetricInfo("eth_btc_vs_sma50", "ETH/BTC close vs its 50-day average", "%", 2, _DAILY, 0.25),
        MetricInfo("btc_usd", "Bitcoin price", "USD", 0, _INTRADAY, 0.01, True),
        MetricInfo("eth_usd", "Ether price", "USD", 2, _INTRADAY, 0.01, True),
        MetricInfo("sol_usd", "Solana price", "USD", 2, _INTRADAY, 0.01, True),
        MetricInfo("alt_long_short", "Altcoin long/short ratio", "", 3, _INTRADAY, 0.05),
        MetricInfo("alt_volume_ratio", "Altcoin volume vs 30-day mean", "x", 2, _INTRADAY, 0.1),
        MetricInfo("altbtc_macd", "Alt/BTC MACD histogram", "", 5, timedelta(days=2), 0.0),
        MetricInfo("altbtc_rsi", "Alt/BTC RSI(14)", "", 1, timedelta(days=2), 2.0),
        MetricInfo("net_liquidity", "Net liquidity", "USD bn", 1, _WEEKLY, 0.005, True),
        MetricInfo("net_liquidity_4w", "Net liquidity, 4-week change", "USD bn", 1, _WEEKLY, 5.0),
        MetricInfo("btc_etf_flow", "US spot Bitcoin ETF net flow", "USD m", 1, _TRADING_DAY, 10.0),
        MetricInfo("btc_etf_streak", "Bitcoin ETF net-inflow streak", "days", 0, _TRADING_DAY, 1.0),
        MetricInfo("risk_on", "Risk-on regime score", "of 6", 0, _INTRADAY, 0.5),
    )
}


def metric_info(metric_id: str) -> MetricInfo:
    """Return the catalogue entry for `metric_id`, or a neutral one for pushed-in metrics."""
    known = METRICS.get(metric_id)
    if known is not None:
        return known
    return MetricInfo(metric_id, metric_id, "", 4, _INTRADAY, 0.0)
