"""Bitcoin dominance, TOTAL2 and TOTAL3 from CoinGecko's `/global`, CoinPaprika as fallback."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from signals.catalog import (
    INTRADAY,
    PERCENT,
    USD_AMOUNT,
    BuildContext,
    MetricInfo,
    SourceSpec,
    setting_names,
)
from signals.specs import coingecko

if TYPE_CHECKING:
    from signals.types import Source

NAME = "global"


class GlobalMetric(StrEnum):
    BTC_DOMINANCE = "btc_dominance"
    TOTAL2 = "total2"
    TOTAL3 = "total3"


METRICS = (
    MetricInfo(
        GlobalMetric.BTC_DOMINANCE,
        "Bitcoin dominance",
        "%",
        2,
        INTRADAY,
        0.25,
        valid_range=PERCENT,
        # Money leaving Bitcoin for the alts is the rotation itself.
        rising="risk-off",
    ),
    MetricInfo(
        GlobalMetric.TOTAL2,
        "Crypto market cap ex BTC",
        "USD",
        0,
        INTRADAY,
        0.01,
        True,
        valid_range=USD_AMOUNT,
        rising="risk-on",
        compact=True,
    ),
    MetricInfo(
        GlobalMetric.TOTAL3,
        "Crypto market cap ex BTC and ETH",
        "USD",
        0,
        INTRADAY,
        0.01,
        True,
        valid_range=USD_AMOUNT,
        rising="risk-on",
        compact=True,
    ),
)


class GlobalSettings(coingecko.CoinGeckoSettings):
    coinpaprika_api_url: str
    # CoinPaprika is the fallback: asked at most this often (else every POLL_SECONDS).
    coinpaprika_poll_seconds: float | None
    poll_seconds: float


def build(settings: GlobalSettings, ctx: BuildContext) -> Source:
    """Build the dominance source on the shared CoinGecko client."""
    from signals.dominance import GlobalMarket  # noqa: PLC0415  (keeps specs light)
    from signals.sources.coinpaprika import CoinPaprikaClient  # noqa: PLC0415

    every = settings.coinpaprika_poll_seconds
    return GlobalMarket(
        coingecko.client(settings, ctx),
        CoinPaprikaClient(ctx.session, str(settings.coinpaprika_api_url)),
        name=NAME,
        fallback_interval=timedelta(seconds=every if every is not None else settings.poll_seconds),
    )


# It asks CoinGecko's /global, so COINGECKO_POLL_SECONDS paces it too.
SPEC = SourceSpec(
    NAME,
    METRICS,
    settings=setting_names(GlobalSettings),
    build=build,
    poll_key=coingecko.NAME,
)
