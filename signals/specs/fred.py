"""Net liquidity (Fed balance sheet - TGA - reverse repo) from FRED's CSV downloads."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from signals.catalog import WEEKLY, BuildContext, MetricInfo, SourceSpec, setting_names

if TYPE_CHECKING:
    from signals.types import Source

NAME = "fred"


class FredMetric(StrEnum):
    NET_LIQUIDITY = "net_liquidity"
    NET_LIQUIDITY_4W = "net_liquidity_4w"


METRICS = (
    MetricInfo(
        FredMetric.NET_LIQUIDITY,
        "Net liquidity",
        "USD bn",
        1,
        WEEKLY,
        0.005,
        True,
        rising="risk-on",
        compact=True,
    ),
    MetricInfo(
        FredMetric.NET_LIQUIDITY_4W,
        "Net liquidity, 4-week change",
        "USD bn",
        1,
        WEEKLY,
        5.0,
        reads=(FredMetric.NET_LIQUIDITY,),
        rising="risk-on",
        compact=True,
    ),
)


class FredSettings(Protocol):
    fred_api_url: str


def build(settings: FredSettings, ctx: BuildContext) -> Source:
    """Build the liquidity source."""
    from signals.sources.fred import FredClient, FredLiquidity  # noqa: PLC0415  (keeps specs light)

    return FredLiquidity(FredClient(ctx.session, settings.fred_api_url), name=NAME)


SPEC = SourceSpec(NAME, METRICS, settings=setting_names(FredSettings), build=build)
