"""The risk-on regime score: derived from six other metrics, computed by the bot from its store.

The arithmetic is `bot.model.regime`, the source `bot.watch.regime.RegimeSource` (it reads the
store, so the bot builds it: no factory here). `reads` lists the six components' metrics; the
bot checks at start that its components read exactly these.
"""

from __future__ import annotations

from enum import StrEnum

from signals.catalog import INTRADAY, MetricInfo, SourceSpec, ValidRange
from signals.specs.coingecko import MarketsMetric
from signals.specs.exchange import ExchangeMetric
from signals.specs.fred import FredMetric
from signals.specs.global_market import GlobalMetric
from signals.specs.yahoo import YahooMetric

NAME = "regime"


class RegimeMetric(StrEnum):
    RISK_ON = "risk_on"


METRICS = (
    MetricInfo(
        RegimeMetric.RISK_ON,
        "Risk-on regime score",
        "of 6",
        0,
        INTRADAY,
        0.5,
        reads=(
            YahooMetric.RUT_SESSIONS_SINCE_HIGH,
            MarketsMetric.ASI,
            GlobalMetric.BTC_DOMINANCE,
            ExchangeMetric.ETH_BTC_VS_SMA50,
            MarketsMetric.ALTBTC_MACD,
            FredMetric.NET_LIQUIDITY_4W,
        ),
        valid_range=ValidRange(0, 6, kind="a score"),
        rising="risk-on",
        counts=True,
    ),
)

SPEC = SourceSpec(NAME, METRICS)
