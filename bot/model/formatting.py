"""The one way every front-end writes a time, an age, a value change and a rule's condition.

Plain text only: each front-end escapes or marks these up its own way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from bot.model.metrics import metric_info
from bot.model.rules import Op

# A real minus sign: it lines up with "+" and cannot be read as a hyphen.
MINUS = "−"

_OP_WORDS: dict[Op, str] = {
    ">": "above",
    ">=": "at or above",
    "<": "below",
    "<=": "at or below",
    "crosses above": "crosses above",
    "crosses below": "crosses below",
    "new high": "new high",
}


def format_time(at: datetime) -> str:
    """Return `at` in UTC to the minute: `2026-01-05 12:30 UTC` (a naive time is taken as UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def format_age(age: timedelta) -> str:
    """Return an age in its two largest units: `45s`, `12m`, `3h 5m`, `1d 7h` (negative: `0s`)."""
    seconds = max(0, int(age.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def _sign(number: float) -> str:
    return MINUS if number < 0 else "+"


def format_change(metric: str, value: float, previous: float) -> str:
    """Return the move from `previous` to `value` in the metric's own unit.

    Percent metrics move in percentage points (`−2.30 pp from 60.50%`); proportional ones, prices,
    market caps and index levels, also show the relative move (`+$1,200 (+1.2%) from $99,000`);
    counts and scores show the plain difference (`+2 from 2 of 6`), where a percent means nothing.
    """
    info = metric_info(metric)
    delta = value - previous
    shown = f"{abs(delta):,.{info.decimals}f}"
    if float(shown.replace(",", "")) == 0:
        return f"no change from {info.format(previous)}"
    sign = _sign(delta)
    if info.unit == "%":
        return f"{sign}{shown} pp from {info.format(previous)}"
    # A money change keeps its currency; a count's or a score's unit goes once, on the old value.
    amount = info.format(abs(delta)) if info.unit.startswith("USD") else shown
    text = f"{sign}{amount}"
    # The catalogue gives proportional metrics (prices, caps, index levels) a hysteresis band that
    # is a fraction of the threshold: exactly the metrics whose relative move means something.
    if info.band_is_fraction and previous != 0:
        ratio = delta / abs(previous) * 100
        text += f" ({_sign(ratio)}{abs(ratio):.1f}%)"
    return f"{text} from {info.format(previous)}"


def format_condition(metric: str, op: Op, threshold: float | None) -> str:
    """Return a rule's condition in words, with the metric's unit: `crosses below 59.00%`."""
    if op == "new high" or threshold is None:
        return _OP_WORDS[op]
    return f"{_OP_WORDS[op]} {metric_info(metric).format(threshold)}"


def format_fraction(change: float) -> str:
    """Return a fractional change as a signed percentage to one decimal: `+12.5%`, `−3.0%`."""
    shown = f"{abs(change) * 100:,.1f}"
    return f"{'+' if float(shown.replace(',', '')) == 0 else _sign(change)}{shown}%"


def join_capped(items: Sequence[str], limit: int, separator: str = ", ") -> str:
    """Join `items` within `limit` characters; what does not fit is counted: `… and 7 more`."""
    shown: list[str] = []
    used = 0
    for index, item in enumerate(items):
        rest = len(items) - index - 1
        # Room for this item and, if others follow, for the tail that would count them.
        tail = len(f" … and {rest} more") if rest else 0
        cost = len(item) + (len(separator) if shown else 0)
        if used + cost + tail > limit:
            left = len(items) - index
            return f"{separator.join(shown)} … and {left} more".lstrip()
        shown.append(item)
        used += cost
    return separator.join(shown)
