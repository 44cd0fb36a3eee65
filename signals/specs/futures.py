"""The top altcoin perpetuals' long/short ratio from Binance USD-M futures data."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, cast

from signals.catalog import INTRADAY, LEVEL, BuildContext, MetricInfo, SourceSpec, setting_names
from signals.specs.coingecko import ALT_RANKING

if TYPE_CHECKING:
    from signals.types import Source

NAME = "futures"


class FuturesMetric(StrEnum):
    ALT_LONG_SHORT = "alt_long_short"


METRICS = (
    MetricInfo(
        FuturesMetric.ALT_LONG_SHORT,
        "Altcoin long/short ratio",
        "",
        3,
        INTRADAY,
        0.05,
        valid_range=LEVEL,
        rising="risk-on",
    ),
)


class FuturesSettings(Protocol):
    futures_api_url: str | None


def build(settings: FuturesSettings, ctx: BuildContext) -> Source:
    """Build the long/short source on the markets source's ranking (its ten largest alts)."""
    from signals.sources.futures import AltLongShort  # noqa: PLC0415  (keeps specs light)

    ranking = cast(Callable[[], Sequence[str]], ctx.needed(ALT_RANKING))
    return AltLongShort(ranking, api_url=settings.futures_api_url, name=NAME)


SPEC = SourceSpec(
    NAME,
    METRICS,
    settings=setting_names(FuturesSettings),
    build=build,
    needs=(ALT_RANKING,),
)
