"""What the core knows of a metric: its catalogue entry and its latest stored value."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from signals.metrics import METRICS, MetricInfo, metric_info

__all__ = ["METRICS", "LatestValue", "MetricInfo", "metric_info"]


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
