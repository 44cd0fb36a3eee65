"""Build the live feeds from `Settings`: one shared session, one CoinGecko rate budget."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import aiohttp

from bot.settings import Settings, SettingsError
from bot.storage import Store
from signals.dominance import GlobalMarket
from signals.sources.coingecko import CoinGeckoClient, CoinGeckoMarkets
from signals.sources.coinpaprika import CoinPaprikaClient
from signals.sources.exchange import ExchangePrices
from signals.sources.farside import FarsideEtfFlows
from signals.sources.fred import FredClient, FredLiquidity
from signals.sources.futures import AltLongShort
from signals.sources.yahoo import YahooClient, YahooIndices
from signals.types import Source


def build_sources(
    settings: Settings, session: aiohttp.ClientSession, store: Store
) -> Sequence[Source]:
    """Return every network source: CoinGecko markets, dominance, indices, prices, macro, futures."""
    key = settings.coingecko_api_key.get_secret_value() if settings.coingecko_api_key else None
    # Both CoinGecko sources share one client, so they share one pacer and one rate budget.
    coingecko = CoinGeckoClient(
        session,
        str(settings.coingecko_api_url),
        key or None,
        calls_per_minute=settings.coingecko_calls_per_minute,
    )
    paprika = CoinPaprikaClient(session, str(settings.coinpaprika_api_url))
    yahoo = YahooClient(session, str(settings.yahoo_api_url))
    markets = CoinGeckoMarkets(coingecko, store, name="coingecko")
    try:
        prices = ExchangePrices(
            settings.exchange,
            settings.exchange_fallbacks,
            api_url=settings.exchange_api_url,
            name="exchange",
        )
    except ValueError as exc:
        raise SettingsError(f"invalid EXCHANGE or EXCHANGE_FALLBACKS: {exc}") from None
    return (
        markets,
        GlobalMarket(
            coingecko,
            paprika,
            name="global",
            fallback_interval=timedelta(seconds=settings.poll_interval("coinpaprika")),
        ),
        YahooIndices(yahoo, name="yahoo"),
        prices,
        FredLiquidity(FredClient(session, settings.fred_api_url), name="fred"),
        FarsideEtfFlows(session, settings.farside_api_url, name="farside"),
        # The ten largest alts are the ASI's universe, ranked by the markets call it already makes.
        AltLongShort(markets.alt_symbols, api_url=settings.futures_api_url, name="futures"),
    )
