"""What a chart shows, as plain data: the renderer draws exactly this and nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from bot.model.alerts import AlertState, Direction
from bot.model.regime import Verdict

# Telegram shows photos up to 1280 px wide; 16:9 fills a phone held sideways or upright.
WIDTH = 1280
HEIGHT = 720


@dataclass(frozen=True, slots=True)
class Point:
    """One value of the metric."""

    at: datetime
    value: float


@dataclass(frozen=True, slots=True)
class Threshold:
    """A rule's level, drawn as a labelled horizontal line."""

    rule_id: str
    value: float
    label: str
    custom: bool


@dataclass(frozen=True, slots=True)
class Marker:
    """Where a rule fired or resolved."""

    rule_id: str
    at: datetime
    value: float
    state: AlertState
    direction: Direction | None


@dataclass(frozen=True, slots=True)
class StripRow:
    """One regime component: its verdict on each day (None: no sample that day)."""

    label: str
    verdicts: tuple[Verdict | None, ...]


@dataclass(frozen=True, slots=True)
class ComponentStrip:
    """The regime's components day by day, from `first` on, one column a day."""

    first: date
    rows: tuple[StripRow, ...]


@dataclass(frozen=True, slots=True)
class ChartSpec:
    """Everything one chart shows: the series, rule levels and events, and where it came from."""

    metric: str
    title: str
    subtitle: str
    start: datetime
    end: datetime
    points: tuple[Point, ...]
    provider: str
    thresholds: tuple[Threshold, ...] = ()
    markers: tuple[Marker, ...] = ()
    # Rules that fire on a new high: the running high is drawn as their level.
    running_high: bool = False
    strip: ComponentStrip | None = None
    # Score-like metrics (risk_on) step from value to value; the rest are lines.
    steps: bool = False
    width: int = WIDTH
    height: int = HEIGHT


DrawnKind = Literal["series", "threshold", "marker", "strip_row", "running_high", "offscale"]


@dataclass(frozen=True, slots=True)
class Drawn:
    """What ended up in the figure, read back from its artists: tests and logs look at this."""

    kind: DrawnKind
    name: str
    count: int = 1


@dataclass(frozen=True, slots=True)
class ChartImage:
    """A rendered chart: PNG bytes, their size in pixels, and what was drawn."""

    png: bytes
    width: int
    height: int
    drawn: tuple[Drawn, ...]

    def has(self, kind: DrawnKind, name: str | None = None) -> bool:
        """Return True when something of `kind` (named `name`, if given) was drawn."""
        return any(d.kind == kind and (name is None or d.name == name) for d in self.drawn)


class ChartError(Exception):
    """A chart could not be drawn; the message says why in one line."""


def compact_number(value: float) -> str:
    """Return a short axis label: 1.3T, 845B, 12.5M, 98.2K, 950, 0.052."""
    size = abs(value)
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if size >= scale:
            text = f"{value / scale:.1f}".rstrip("0").rstrip(".")
            return f"{text}{suffix}"
    return _plain(value)


def _plain(value: float) -> str:
    size = abs(value)
    if size == 0 or size >= 100:
        return f"{value:,.0f}"
    if size >= 1:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def axis_label(unit: str, value: float) -> str:
    """Return an axis tick in the metric's unit, compactly: $1.3T, $6.2T (from bn), 59%, 2,400.

    Money shortens from $10K (a Bitcoin price reads $98K), other numbers from 100K: an index
    at 2,400 reads better in full than as 2.4K.
    """
    sign = "−" if value < 0 else ""
    if unit in ("USD", "USD bn", "USD m"):
        amount = abs(value) * {"USD": 1.0, "USD bn": 1e9, "USD m": 1e6}[unit]
        text = compact_number(amount) if amount >= 1e4 else _plain(amount)
        return f"{sign}${text}"
    text = compact_number(abs(value)) if abs(value) >= 1e5 else _plain(abs(value))
    suffix = {"%": "%", "x": "x"}.get(unit, "")
    return f"{sign}{text}{suffix}"
