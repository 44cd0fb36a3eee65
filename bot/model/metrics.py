"""What the core knows of a metric: its catalogue entry and its latest stored value."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from signals.catalog import MINUS, Lean, opposite
from signals.metrics import (
    CATALOGUE,
    METRICS,
    CatalogueError,
    MetricInfo,
    UnknownMetric,
    metric_info,
    register_pushed,
)

__all__ = [
    "CATALOGUE",
    "FEED_NOTICES",
    "METRICS",
    "MINUS",
    "CatalogueError",
    "LatestValue",
    "Lean",
    "MetricInfo",
    "UnknownMetric",
    "lean_of",
    "metric_info",
    "opposite",
    "register_pushed",
]

# Operator notices (a feed down, a feed back) are events on this id; no source publishes it.
FEED_NOTICES = "feed"
register_pushed([FEED_NOTICES])


def lean_of(metric: str, rises: bool) -> Lean | None:
    """Return what `metric` moving up (`rises`) or down means: its catalogue entry decides.

    None for a metric without a known meaning (pushed in from outside, or no longer listed).
    """
    try:
        info = metric_info(metric)
    except UnknownMetric:
        return None
    return info.lean(rises)


@dataclass(frozen=True, slots=True)
class LatestValue:
    """A metric's last good value, and why it is stale if it is."""

    metric: str
    value: float | None
    at: datetime | None
    source: str | None
    detail: tuple[tuple[str, str], ...]
    stale_reason: str | None
    checked_at: datetime
