"""The one way every front-end writes a time, an age, a value change and a rule's condition.

Plain text only: each front-end escapes or marks these up its own way.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

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


def format_time(at: datetime, zone: tzinfo = UTC) -> str:
    """Return `at` in `zone` to the minute, labelled: `2026-01-05 13:30 CET` (naive means UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    local = at.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or 'UTC'}"


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


def format_held_headline(reasons: frozenset[str], count: int) -> str:
    """Return a held-alerts summary's first words: `While muted: 3 alerts`."""
    if reasons == {"quiet"}:
        when = "During quiet hours"
    elif reasons == {"mute"}:
        when = "While muted"
    else:
        when = "While muted or in quiet hours"
    return f"{when}: {count} alert{'' if count == 1 else 's'}"


def format_released(count: int, when: str) -> str:
    """Return what a command let go: `The 3 alerts held meanwhile follow in one message.`"""
    if count == 1:
        return f"The alert held {when} follows."
    return f"The {count} alerts held {when} follow in one message."
