"""The Russell 2000 (and the S&P 500 it is compared with) from Yahoo's chart API."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from signals.catalog import (
    COUNT,
    LEVEL,
    SESSION,
    BuildContext,
    MetricInfo,
    SourceSpec,
    setting_names,
)

if TYPE_CHECKING:
    from signals.types import Source

NAME = "yahoo"


class YahooMetric(StrEnum):
    RUT = "rut"
    RUT_SPX_STREAK = "rut_spx_streak"
    # Sessions since the Russell 2000 last closed at its all-time high (0: this session did).
    RUT_SESSIONS_SINCE_HIGH = "rut_sessions_since_high"


METRICS = (
    MetricInfo(
        YahooMetric.RUT,
        "Russell 2000 close",
        "",
        2,
        SESSION,
        0.005,
        True,
        valid_range=LEVEL,
        rising="risk-on",
    ),
    MetricInfo(
        YahooMetric.RUT_SPX_STREAK,
        "Russell 2000 beat S&P 500 streak",
        "sessions",
        0,
        SESSION,
        1.0,
        reads=(YahooMetric.RUT,),
        valid_range=COUNT,
        rising="risk-on",
        counts=True,
    ),
    MetricInfo(
        YahooMetric.RUT_SESSIONS_SINCE_HIGH,
        "Sessions since the Russell 2000's closing high",
        "sessions",
        0,
        SESSION,
        0.0,
        reads=(YahooMetric.RUT,),
        valid_range=COUNT,
        # The longer since the small caps' high, the staler the lead.
        rising="risk-off",
        counts=True,
    ),
)


class YahooSettings(Protocol):
    yahoo_api_url: str


def build(settings: YahooSettings, ctx: BuildContext) -> Source:
    """Build the indices source."""
    from signals.sources.yahoo import YahooClient, YahooIndices  # noqa: PLC0415  (keeps specs light)

    return YahooIndices(YahooClient(ctx.session, str(settings.yahoo_api_url)), name=NAME)


SPEC = SourceSpec(NAME, METRICS, settings=setting_names(YahooSettings), build=build)
