"""CoinGecko markets: the ASI and what the same ranking call yields (volume ratio, alt/BTC)."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from signals.catalog import (
    DAILY,
    INDEX,
    INTRADAY,
    LEVEL,
    RATIO,
    BuildContext,
    MetricInfo,
    SourceSpec,
    setting_names,
)

if TYPE_CHECKING:
    from pydantic import SecretStr

    from signals.sources.coingecko import CoinGeckoClient
    from signals.types import Source

NAME = "coingecko"
# The ASI's universe (the 50 largest alts, exclusions applied), ranked by the markets call: the
# volume ratio and the alt/BTC index are computed over it, the futures source asks its top ten.
ALT_RANKING = "coingecko.alt_ranking"


class MarketsMetric(StrEnum):
    ASI = "asi"
    ALT_VOLUME_RATIO = "alt_volume_ratio"
    ALTBTC_MACD = "altbtc_macd"
    ALTBTC_RSI = "altbtc_rsi"
    ALTBTC_INDEX = "altbtc_index"


METRICS = (
    MetricInfo(
        MarketsMetric.ASI,
        "Altcoin Season Index",
        "",
        0,
        INTRADAY,
        4.0,
        valid_range=INDEX,
        rising="risk-on",
    ),
    MetricInfo(
        MarketsMetric.ALT_VOLUME_RATIO,
        "Altcoin volume vs 30-day mean",
        "x",
        2,
        INTRADAY,
        0.1,
        reads=(ALT_RANKING,),
        valid_range=RATIO,
        rising="risk-on",
    ),
    MetricInfo(
        MarketsMetric.ALTBTC_MACD,
        "Alt/BTC MACD histogram",
        "",
        5,
        DAILY,
        0.0,
        reads=(ALT_RANKING,),
        rising="risk-on",
    ),
    MetricInfo(
        MarketsMetric.ALTBTC_RSI,
        "Alt/BTC RSI(14)",
        "",
        1,
        DAILY,
        2.0,
        reads=(ALT_RANKING,),
        valid_range=INDEX,
        # Alts gaining on Bitcoin; oversold (below 30) is alts at their weakest against it.
        rising="risk-on",
    ),
    MetricInfo(
        MarketsMetric.ALTBTC_INDEX,
        "Alt/BTC index",
        "",
        2,
        DAILY,
        0.01,
        band_is_fraction=True,
        reads=(ALT_RANKING,),
        valid_range=LEVEL,
    ),
)


class CoinGeckoSettings(Protocol):
    coingecko_api_url: str
    coingecko_api_key: SecretStr | None
    coingecko_calls_per_minute: float | None


def client(settings: CoinGeckoSettings, ctx: BuildContext) -> CoinGeckoClient:
    """Return the one CoinGecko client every CoinGecko source shares: one pacer, one budget."""
    from signals.sources.coingecko import CoinGeckoClient  # noqa: PLC0415  (keeps specs light)

    key = settings.coingecko_api_key.get_secret_value() if settings.coingecko_api_key else None
    return ctx.shared(
        NAME,
        lambda: CoinGeckoClient(
            ctx.session,
            str(settings.coingecko_api_url),
            key or None,
            calls_per_minute=settings.coingecko_calls_per_minute,
        ),
    )


def build(settings: CoinGeckoSettings, ctx: BuildContext) -> Source:
    """Build the markets source and offer its ranking to the sources that need it."""
    from signals.sources.coingecko import CoinGeckoMarkets  # noqa: PLC0415

    markets = CoinGeckoMarkets(client(settings, ctx), ctx.history, name=NAME)
    ctx.provide(ALT_RANKING, markets.alt_symbols)
    return markets


SPEC = SourceSpec(
    NAME,
    METRICS,
    settings=setting_names(CoinGeckoSettings),
    build=build,
    provides=(ALT_RANKING,),
)
