"""Pure rule evaluation: a rule, its last state and a sample in; the next state and any alert out.

A rule moves only on evidence. A sample whose value is only known to lie within bounds (a score
with components nobody knows now) fires a rule only if it would fire at every value in them,
resolves it only if it would resolve at every value in them, and otherwise changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from bot.model.rules import Rule
from signals.types import Sample

StateName = Literal["inactive", "pending", "firing"]
EventKind = Literal["firing", "resolved"]


@dataclass(frozen=True, slots=True)
class RuleState:
    """What the engine remembers about a rule between samples.

    `armed` matters to crossing rules only: a crossing fires only from the armed side, and re-arms
    only once the value has gone back past the hysteresis band. `high` is the highest value seen,
    for `new high` rules.
    """

    state: StateName = "inactive"
    armed: bool = False
    since: datetime | None = None
    value: float | None = None
    sample_at: datetime | None = None
    notified_at: datetime | None = None
    high: float | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """An alert the engine decided to send."""

    kind: EventKind
    value: float
    previous: float | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Outcome:
    """The engine's verdict for one rule and one sample."""

    state: RuleState
    transition: Transition | None = None

    @property
    def changed(self) -> bool:
        return self.transition is not None


def is_fresh(sample: Sample, now: datetime, max_age: timedelta) -> bool:
    """Return True when `sample` is recent enough to act on."""
    return now - sample.at <= max_age


def evaluate(
    rule: Rule, state: RuleState, sample: Sample, now: datetime, max_age: timedelta
) -> Outcome:
    """Advance `rule` from `state` given `sample` at time `now`; stale or old samples change nothing."""
    if sample.metric != rule.metric or not is_fresh(sample, now, max_age):
        return Outcome(state)
    if state.sample_at is not None and sample.at < state.sample_at:
        return Outcome(state)
    if rule.op == "new high":
        return _new_high(rule, state, sample, now)
    if rule.op in ("crosses above", "crosses below"):
        return _crossing(rule, state, sample, now)
    return _level(rule, state, sample, now)


def _holds(rule: Rule, value: float) -> bool:
    threshold = rule.threshold
    assert threshold is not None
    match rule.op:
        case ">" | "crosses above":
            return value > threshold
        case ">=":
            return value >= threshold
        case "<" | "crosses below":
            return value < threshold
        case "<=":
            return value <= threshold
    raise AssertionError(rule.op)


def _cleared(rule: Rule, value: float) -> bool:
    """Return True once `value` is back past the threshold by the hysteresis band."""
    threshold = rule.threshold
    assert threshold is not None
    if rule.rises:
        return value < threshold - rule.band if rule.band else not _holds(rule, value)
    return value > threshold + rule.band if rule.band else not _holds(rule, value)


def _surely(test: Callable[[float], bool], sample: Sample) -> bool | None:
    """Return `test`'s verdict if it is the same wherever in its bounds the value lies, else None.

    Thresholds are monotonic in the value, so testing both ends covers everything between.
    """
    if sample.bounds is None:
        return test(sample.value)
    low, high = sample.bounds
    verdict = test(low)
    return verdict if test(high) == verdict else None


def _observed(state: RuleState, sample: Sample) -> RuleState:
    return replace(state, value=sample.value, sample_at=sample.at)


def _fire(rule: Rule, state: RuleState, sample: Sample, now: datetime) -> Outcome:
    fired = replace(_observed(state, sample), state="firing", since=now, notified_at=now)
    return Outcome(fired, Transition("firing", sample.value, state.value, sample.at))


def _activate(rule: Rule, state: RuleState, sample: Sample, now: datetime) -> Outcome:
    """Enter pending, or fire at once when the rule has no `for` duration."""
    if state.state == "pending" and state.since is not None:
        if now - state.since >= rule.for_duration:
            return _fire(rule, state, sample, now)
        return Outcome(_observed(state, sample))
    if rule.for_duration <= timedelta(0):
        return _fire(rule, state, sample, now)
    return Outcome(replace(_observed(state, sample), state="pending", since=now))


def _repeat_or_hold(rule: Rule, state: RuleState, sample: Sample, now: datetime) -> Outcome:
    due = (
        rule.repeat_interval is not None
        and state.notified_at is not None
        and now - state.notified_at >= rule.repeat_interval
    )
    if due:
        repeated = replace(_observed(state, sample), notified_at=now)
        return Outcome(repeated, Transition("firing", sample.value, state.value, sample.at))
    return Outcome(_observed(state, sample))


def _resolve(rule: Rule, state: RuleState, sample: Sample, now: datetime, armed: bool) -> Outcome:
    after = replace(_observed(state, sample), state="inactive", since=None, armed=armed)
    if not rule.send_resolved:
        return Outcome(after)
    return Outcome(after, Transition("resolved", sample.value, state.value, sample.at))


def _level(rule: Rule, state: RuleState, sample: Sample, now: datetime) -> Outcome:
    if state.state == "firing":
        cleared = _surely(lambda v: _cleared(rule, v), sample)
        if cleared is None:
            # Whether it cleared hangs on inputs nobody knows now: hold, say nothing.
            return Outcome(state)
        if cleared:
            return _resolve(rule, state, sample, now, armed=False)
        return _repeat_or_hold(rule, state, sample, now)
    holds = _surely(lambda v: _holds(rule, v), sample)
    if holds is None:
        return Outcome(state)
    if holds:
        return _activate(rule, state, sample, now)
    return Outcome(replace(_observed(state, sample), state="inactive", since=None))


def _crossing(rule: Rule, state: RuleState, sample: Sample, now: datetime) -> Outcome:
    if state.state == "firing":
        cleared = _surely(lambda v: _cleared(rule, v), sample)
        if cleared is None:
            return Outcome(state)
        if cleared:
            return _resolve(rule, state, sample, now, armed=True)
        return _repeat_or_hold(rule, state, sample, now)
    holds = _surely(lambda v: _holds(rule, v), sample)
    if holds is None:
        return Outcome(state)
    if not holds:
        # The first look at the metric arms the rule as long as the value is on the near side:
        # a crossing needs a before and an after.
        return Outcome(replace(_observed(state, sample), state="inactive", since=None, armed=True))
    if not state.armed:
        return Outcome(_observed(state, sample))
    return _activate(rule, state, sample, now)


def _new_high(rule: Rule, state: RuleState, sample: Sample, now: datetime) -> Outcome:
    value = sample.value
    if state.high is None:
        # Without history there is no "every earlier close" to beat: start the record here.
        return Outcome(replace(_observed(state, sample), high=value))
    if value > state.high:
        if state.state == "firing" and state.sample_at == sample.at:
            # The same session's close, revised upwards: still the one high already announced.
            return Outcome(replace(_observed(state, sample), high=value))
        fired = _fire(rule, replace(state, high=value), sample, now)
        return Outcome(fired.state, Transition("firing", value, state.high, sample.at))
    if state.state == "firing" and value < state.high:
        return Outcome(replace(_observed(state, sample), state="inactive", since=None))
    return Outcome(_observed(state, sample))


def seed_high(state: RuleState, history_max: float | None) -> RuleState:
    """Start a `new high` rule's record from the stored history."""
    if history_max is None or (state.high is not None and state.high >= history_max):
        return state
    return replace(state, high=history_max)


def condition_holds(
    rule: Rule, value: float, bounds: tuple[float, float] | None = None
) -> bool | None:
    """Return whether `rule`'s condition holds at `value` (None: unknown parts decide, or a high)."""
    if rule.op == "new high" or rule.threshold is None:
        return None
    lo, hi = bounds if bounds is not None else (value, value)
    verdict = _holds(rule, lo)
    return verdict if _holds(rule, hi) == verdict else None
