"""Backtests: a metric's stored history replayed through the live engine's `evaluate`. No I/O.

Each sample is evaluated at its own time, so freshness and `for` durations hold as they did;
a `new high` rule starts from the highest value stored before the window, as the live engine
seeds it. What the result holds (every firing and resolution with its time and value) is enough
to list them, count them and draw them.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.model.evaluation import EventKind, RuleState, evaluate, seed_high
from bot.model.formatting import format_age, format_fraction, format_time
from bot.model.metrics import metric_info
from bot.model.rules import Rule, format_number
from signals.types import Sample

BITCOIN = "btc_usd"
ALTBTC = "altbtc_index"
# What happened next is told by these, each this many days after a firing.
REFERENCES: Mapping[str, str] = {BITCOIN: "Bitcoin", ALTBTC: "alt/BTC index"}
HORIZONS: tuple[int, ...] = (30, 90)
# A reference value stands for a day only if it lies this close to it: markets close on
# weekends and holidays, and a feed may have been down.
NEAREST = timedelta(days=7)
# Fewer samples than this cannot show a rule moving: a crossing needs a before and an after.
MIN_SAMPLES = 2


@dataclass(frozen=True, slots=True)
class Event:
    """A firing or a resolution the rule would have sent."""

    state: EventKind
    at: datetime
    value: float


@dataclass(frozen=True, slots=True)
class Change:
    """How far a reference metric moved in the `days` after a firing; None: not enough history."""

    metric: str
    days: int
    change: float | None


@dataclass(frozen=True, slots=True)
class Aftermath:
    """What the reference metrics did after one firing."""

    at: datetime
    changes: tuple[Change, ...]


@dataclass(frozen=True, slots=True)
class Backtest:
    """A rule replayed over a window of its metric's history."""

    rule: Rule
    start: datetime | None
    end: datetime | None
    samples: int
    first: datetime | None
    last: datetime | None
    events: tuple[Event, ...]
    firing_time: timedelta
    still_firing: bool
    aftermath: tuple[Aftermath, ...] = ()

    @property
    def firings(self) -> tuple[Event, ...]:
        return tuple(e for e in self.events if e.state == "firing")

    @property
    def enough(self) -> bool:
        """Return True when the history is long enough to say anything."""
        return self.samples >= MIN_SAMPLES


def replay(
    rule: Rule,
    samples: Iterable[Sample],
    max_age: timedelta,
    *,
    high_before: float | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Backtest:
    """Replay `samples` of `rule`'s metric, oldest first, through `evaluate` at each sample's time.

    `high_before` is the highest value stored before the first sample (for `new high` rules).
    """
    # A reminder is not a new firing: counted, it would make a long firing look like many.
    rule = replace(rule, repeat_interval=None)
    ordered = sorted((s for s in samples if s.metric == rule.metric), key=lambda s: s.at)
    state = RuleState()
    if rule.op == "new high":
        state = seed_high(state, high_before)
    events: list[Event] = []
    firing_time = timedelta(0)
    firing_since: datetime | None = None
    for sample in ordered:
        outcome = evaluate(rule, state, sample, sample.at, max_age)
        if outcome.transition is not None:
            t = outcome.transition
            events.append(Event(t.kind, t.at, t.value))
        now_firing = outcome.state.state == "firing"
        if now_firing and firing_since is None:
            firing_since = sample.at
        elif not now_firing and firing_since is not None:
            firing_time += sample.at - firing_since
            firing_since = None
        state = outcome.state
    last = ordered[-1].at if ordered else None
    if firing_since is not None and last is not None:
        firing_time += last - firing_since
    return Backtest(
        rule=rule,
        start=start,
        end=end,
        samples=len(ordered),
        first=ordered[0].at if ordered else None,
        last=last,
        events=tuple(events),
        firing_time=firing_time,
        still_firing=firing_since is not None,
    )


def change_after(series: Sequence[Sample], at: datetime, days: int) -> float | None:
    """Return the relative move of `series` (oldest first) from `at` to `days` later, if known.

    The value at `at` is the last one at or before it, the later one the first at or after
    `at + days`; each must lie within `NEAREST` of its day, or there is not enough history.
    """
    return _change([s.at for s in series], series, at, days)


def _change(
    times: Sequence[datetime], series: Sequence[Sample], at: datetime, days: int
) -> float | None:
    before = bisect_right(times, at) - 1
    if before < 0 or at - times[before] > NEAREST:
        return None
    target = at + timedelta(days=days)
    after = bisect_left(times, target)
    if after == len(times) or times[after] - target > NEAREST:
        return None
    base = series[before].value
    if base <= 0:
        return None
    return series[after].value / base - 1


def with_aftermath(backtest: Backtest, references: Mapping[str, Sequence[Sample]]) -> Backtest:
    """Return `backtest` with each firing's aftermath read from `references` (oldest first)."""
    series = {metric: references.get(metric, ()) for metric in REFERENCES}
    times = {metric: [s.at for s in points] for metric, points in series.items()}
    aftermath = tuple(
        Aftermath(
            firing.at,
            tuple(
                Change(metric, days, _change(times[metric], series[metric], firing.at, days))
                for days in HORIZONS
                for metric in REFERENCES
            ),
        )
        for firing in backtest.firings
    )
    return replace(backtest, aftermath=aftermath)


def reference_window(backtest: Backtest) -> tuple[datetime, datetime] | None:
    """Return the span of reference history the firings' aftermath needs, None without firings."""
    firings = backtest.firings
    if not firings:
        return None
    return firings[0].at - NEAREST, firings[-1].at + timedelta(days=max(HORIZONS)) + NEAREST


# --- words ---------------------------------------------------------------------------------------


def _day(at: datetime) -> str:
    return format_time(at)[:10]


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def condition_text(rule: Rule) -> str:
    """Return the rule's condition with its re-arm level: `asi crosses above 50 (re-arms below 46)`."""
    text = rule.condition
    if rule.band and rule.threshold is not None:
        level = rule.threshold - rule.band if rule.rises else rule.threshold + rule.band
        word = "below" if rule.rises else "above"
        verb = "re-arms" if rule.op in ("crosses above", "crosses below") else "resolves"
        text += f" ({verb} {word} {format_number(level)})"
    return text


def brief(backtest: Backtest) -> str:
    """Return one sentence: how often the rule would have fired, since when, and when last."""
    if not backtest.enough or backtest.first is None:
        stored = (
            "1 stored sample" if backtest.samples == 1 else f"{backtest.samples} stored samples"
        )
        return f"not enough history yet ({stored} of {backtest.rule.metric})"
    firings = backtest.firings
    since = _day(backtest.first)
    if not firings:
        return f"would not have fired since {since} ({backtest.samples} samples)"
    return f"would have fired {_times(len(firings))} since {since}, last on {_day(firings[-1].at)}"


def _aftermath_lines(aftermath: Aftermath) -> list[str]:
    lines = []
    for days in HORIZONS:
        changes = [c for c in aftermath.changes if c.days == days]
        known = [c for c in changes if c.change is not None]
        if not known:
            lines.append(f"    {days} days later: not enough history")
            continue
        parts = [
            f"{REFERENCES[c.metric]} "
            + (format_fraction(c.change) if c.change is not None else "not enough history")
            for c in changes
        ]
        lines.append(f"    {days} days later: {', '.join(parts)}")
    return lines


def report_lines(backtest: Backtest) -> list[str]:
    """Return the backtest in plain lines: the window, each event, what followed, the totals."""
    rule = backtest.rule
    info = metric_info(rule.metric)
    condition = condition_text(rule)
    # A condition typed out is its own name.
    named = condition if condition.startswith(rule.id) else f"{rule.id}: {condition}"
    lines = [f"Backtest of {named}"]
    if backtest.first is None or backtest.last is None or not backtest.enough:
        lines.append(brief(backtest)[0].upper() + brief(backtest)[1:] + ".")
        return lines
    lines.append(
        f"History: {backtest.samples} samples of {rule.metric}, "
        f"{_day(backtest.first)} to {_day(backtest.last)}"
    )
    after = {a.at: a for a in backtest.aftermath}
    for event in backtest.events:
        word = "fired" if event.state == "firing" else "resolved"
        lines.append(f"{format_time(event.at)}  {word} at {info.format(event.value)}")
        if event.state == "firing" and event.at in after:
            lines += _aftermath_lines(after[event.at])
    firings = len(backtest.firings)
    if not firings:
        lines.append("It would not have fired.")
        return lines
    total = f"Fired {_times(firings)}; firing for {format_age(backtest.firing_time)} in all"
    if backtest.still_firing:
        total += ", still firing at the end"
    lines.append(total + ".")
    return lines
