"""US spot Bitcoin ETF net flows from Farside Investors' table."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from signals.catalog import COUNT, TRADING_DAY, BuildContext, MetricInfo, SourceSpec, setting_names

if TYPE_CHECKING:
    from signals.types import Source

NAME = "farside"


class FarsideMetric(StrEnum):
    BTC_ETF_FLOW = "btc_etf_flow"
    BTC_ETF_STREAK = "btc_etf_streak"


METRICS = (
    MetricInfo(
        FarsideMetric.BTC_ETF_FLOW,
        "US spot Bitcoin ETF net flow",
        "USD m",
        1,
        TRADING_DAY,
        10.0,
        rising="risk-on",
        compact=True,
    ),
    MetricInfo(
        FarsideMetric.BTC_ETF_STREAK,
        "Bitcoin ETF net-inflow streak",
        "days",
        0,
        TRADING_DAY,
        1.0,
        reads=(FarsideMetric.BTC_ETF_FLOW,),
        valid_range=COUNT,
        rising="risk-on",
        counts=True,
    ),
)


class FarsideSettings(Protocol):
    farside_api_url: str


def build(settings: FarsideSettings, ctx: BuildContext) -> Source:
    """Build the ETF flows source."""
    from signals.sources.farside import FarsideEtfFlows  # noqa: PLC0415  (keeps specs light)

    return FarsideEtfFlows(ctx.session, settings.farside_api_url, name=NAME)


SPEC = SourceSpec(NAME, METRICS, settings=setting_names(FarsideSettings), build=build)
