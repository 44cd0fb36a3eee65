"""Spot prices and ETH/BTC's trend from a ccxt exchange, with fallbacks."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from signals.catalog import (
    DAILY,
    INTRADAY,
    LEVEL,
    USD_AMOUNT,
    BadSettings,
    BuildContext,
    MetricInfo,
    SourceSpec,
    ValidRange,
    setting_names,
)

if TYPE_CHECKING:
    from signals.types import Source

NAME = "exchange"


class ExchangeMetric(StrEnum):
    ETH_BTC = "eth_btc"
    # ETH/BTC's last daily close against its 50-day average, in percent: above zero is above it.
    ETH_BTC_VS_SMA50 = "eth_btc_vs_sma50"
    BTC_USD = "btc_usd"
    ETH_USD = "eth_usd"
    SOL_USD = "sol_usd"


METRICS = (
    MetricInfo(
        ExchangeMetric.ETH_BTC,
        "ETH/BTC",
        "",
        5,
        INTRADAY,
        0.005,
        True,
        valid_range=LEVEL,
        rising="risk-on",
    ),
    MetricInfo(
        ExchangeMetric.ETH_BTC_VS_SMA50,
        "ETH/BTC close vs its 50-day average",
        "%",
        2,
        DAILY,
        0.25,
        reads=(ExchangeMetric.ETH_BTC,),
        valid_range=ValidRange(-100, 1000, kind="a percentage difference"),
        rising="risk-on",
    ),
    MetricInfo(
        ExchangeMetric.BTC_USD,
        "Bitcoin price",
        "USD",
        0,
        INTRADAY,
        0.01,
        True,
        valid_range=USD_AMOUNT,
        rising="risk-on",
    ),
    MetricInfo(
        ExchangeMetric.ETH_USD,
        "Ether price",
        "USD",
        2,
        INTRADAY,
        0.01,
        True,
        valid_range=USD_AMOUNT,
        rising="risk-on",
    ),
    MetricInfo(
        ExchangeMetric.SOL_USD,
        "Solana price",
        "USD",
        2,
        INTRADAY,
        0.01,
        True,
        valid_range=USD_AMOUNT,
        rising="risk-on",
    ),
)


class ExchangeSettings(Protocol):
    exchange: str
    exchange_fallbacks: tuple[str, ...]
    exchange_api_url: str | None


def build(settings: ExchangeSettings, ctx: BuildContext) -> Source:
    """Build the prices source; raise `BadSettings` for an exchange ccxt does not know."""
    from signals.sources.exchange import (  # noqa: PLC0415  (keeps specs light)
        HISTORY_SINCE,
        ExchangePrices,
    )

    try:
        return ExchangePrices(
            settings.exchange,
            settings.exchange_fallbacks,
            api_url=settings.exchange_api_url,
            name=NAME,
            history_since=HISTORY_SINCE,
        )
    except ValueError as exc:
        raise BadSettings(f"invalid EXCHANGE or EXCHANGE_FALLBACKS: {exc}") from None


SPEC = SourceSpec(NAME, METRICS, settings=setting_names(ExchangeSettings), build=build)
