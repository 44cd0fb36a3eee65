"""The one way every front-end writes a time, an age, a value change, a rule's condition and an
alert's headline.

Plain text only: each front-end escapes or marks these up its own way. Times keep their zone on
them (`14:05 UTC`); ages have one form everywhere (`40 s ago`, `12 min ago`, `31 h ago`, `3 d ago`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from bot.model.alerts import AlertMessage
from bot.model.metrics import MINUS, metric_info
from bot.model.rules import Op

__all__ = [
    "MINUS",
    "alert_headline",
    "format_age",
    "format_ago",
    "format_change",
    "format_condition",
    "format_time",
]

_OP_WORDS: dict[Op, str] = {
    ">": "above",
    ">=": "at or above",
    "<": "below",
    "<=": "at or below",
    "crosses above": "crosses above",
    "crosses below": "crosses below",
    "new high": "new high",
}
_MINUTE = 60
_HOUR = 60 * _MINUTE
# Up to two days an age reads in hours (31 h says more than 1 d), beyond in days.
_HOURS_UP_TO = 48 * _HOUR
_DAY = 24 * _HOUR


def format_time(at: datetime) -> str:
    """Return `at` in UTC to the minute: `2026-01-05 12:30 UTC` (a naive time is taken as UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def format_age(age: timedelta) -> str:
    """Return a length of time in its one largest unit, rounded down: `45 s`, `12 min`, `31 h`,
    `3 d` (a negative one is `0 s`). The only way a duration or an age is written."""
    seconds = max(0, int(age.total_seconds()))
    if seconds < _MINUTE:
        return f"{seconds} s"
    if seconds < _HOUR:
        return f"{seconds // _MINUTE} min"
    if seconds < _HOURS_UP_TO:
        return f"{seconds // _HOUR} h"
    return f"{seconds // _DAY} d"


def format_ago(age: timedelta) -> str:
    """Return how long ago something was: `12 min ago`."""
    return f"{format_age(age)} ago"


def _sign(number: float) -> str:
    return MINUS if number < 0 else "+"


def format_change(metric: str, value: float, previous: float) -> str:
    """Return the move from `previous` to `value`, labelled by what kind of number it is.

    Percent metrics move in percentage points (`−2.30 pp from 60.50%`); proportional ones
    (prices, market caps, index levels) in percent (`+3.8% from $91,200`); counts and scores by
    plain difference (`up from 2`), never a percent; any other number by its signed difference
    in its own unit (`−7 from 55`, `+$15.5B from −$3.00B`).
    """
    info = metric_info(metric)
    delta = value - previous
    if round(abs(delta), info.decimals) == 0:
        return f"no change from {info.format(previous)}"
    sign = _sign(delta)
    if info.unit == "%":
        return f"{sign}{abs(delta):,.{info.decimals}f} pp from {info.format(previous)}"
    if info.counts:
        return f"{'up' if delta > 0 else 'down'} from {previous:,.{info.decimals}f}"
    # The catalogue gives proportional metrics (prices, caps, index levels) a hysteresis band that
    # is a fraction of the threshold: exactly the metrics whose relative move means something.
    if info.band_is_fraction and previous != 0:
        ratio = abs(delta / previous * 100)
        shown = f"{ratio:.2f}" if ratio < 0.1 else f"{ratio:,.1f}"
        return f"{sign}{shown}% from {info.format(previous)}"
    # A money change keeps its currency; any other unit goes once, on the old value.
    if info.unit.startswith("USD"):
        amount = info.format(abs(delta))
    else:
        amount = f"{abs(delta):,.{info.decimals}f}"
    return f"{sign}{amount} from {info.format(previous)}"


def format_condition(metric: str, op: Op, threshold: float | None) -> str:
    """Return a rule's condition in words, with the metric's unit: `crosses below 59.00%`."""
    if op == "new high" or threshold is None:
        return _OP_WORDS[op]
    return f"{_OP_WORDS[op]} {metric_info(metric).format(threshold)}"


def alert_headline(message: AlertMessage, description: str | None = None) -> str:
    """Return an alert's first line: its mark, which way it points, and what happened.

    `🟢 Risk-on · Bitcoin dominance falls below 59%`, `🔴 Risk-off · Resolved: ...` for the
    end of a risk-on signal, `🔵 Alert · ...` and `⚪ Resolved: ...` for a rule whose metric
    has no known meaning, `⚠️ Feed coingecko is down` for an operator notice. `description`
    replaces the rule's own (a front-end may shorten it).
    """
    notice = message.notice
    if notice is not None:
        what = "is down" if message.state == "firing" else "answers again"
        return f"{message.mark} Feed {notice.feed} {what}"
    text = message.rule_description if description is None else description
    resolved = "Resolved: " if message.state == "resolved" else ""
    if message.lean is None:
        return f"{message.mark} {resolved or 'Alert · '}{text}"
    return f"{message.mark} {message.lean.capitalize()} · {resolved}{text}"


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
