"""The catalogue of metric ids, assembled from each source's own declaration in `signals.specs`.

Adding a source means adding its module under `signals.specs` and one line to `SOURCES`; adding a
metric to a source means adding it to that source's module. Nothing here lists metrics by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from signals.catalog import Catalogue, CatalogueError, MetricInfo, SourceSpec, UnknownMetric
from signals.specs import coingecko, exchange, farside, fred, futures, global_market, regime, yahoo

__all__ = [
    "CATALOGUE",
    "METRICS",
    "CatalogueError",
    "MetricInfo",
    "SourceSpec",
    "UnknownMetric",
    "metric_info",
    "register_pushed",
]

# Declaration order is the order sources are built and polled, and metrics listed.
SOURCES: tuple[SourceSpec, ...] = (
    coingecko.SPEC,
    global_market.SPEC,
    yahoo.SPEC,
    exchange.SPEC,
    fred.SPEC,
    farside.SPEC,
    futures.SPEC,
    regime.SPEC,
)

CATALOGUE = Catalogue(SOURCES)
# The metrics the bot computes itself (pushed-in ones are not among them).
METRICS: Mapping[str, MetricInfo] = CATALOGUE.builtin


def metric_info(metric_id: str) -> MetricInfo:
    """Return the catalogue entry for `metric_id`; raise `UnknownMetric` for an undeclared id."""
    return CATALOGUE.info(metric_id)


def register_pushed(metric_ids: Iterable[str]) -> None:
    """Register metrics pushed in from outside (`INGEST_METRICS`): they get a neutral entry."""
    CATALOGUE.register_pushed(metric_ids)
