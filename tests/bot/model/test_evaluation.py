"""The pure rule engine: crossings, hysteresis, `for`, repeats, new highs, stale data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.model.evaluation import Outcome, RuleState, evaluate, seed_high
from bot.model.rules import BUILTIN_RULES, Rule
from signals.types import Sample

T0 = datetime(2026, 1, 5, tzinfo=UTC)
MAX_AGE = timedelta(hours=2)
CROSS_UP = Rule("up", "asi", "crosses above", 50.0, "ASI rises above 50", band=4.0)
CROSS_DOWN = Rule("down", "btc_dominance", "crosses below", 59.0, "dominance < 59", band=0.25)
LEVEL = Rule("alt", "asi", ">=", 75.0, "altseason", band=4.0)
HIGH = Rule("high", "rut", "new high", None, "new high")


def run(
    rule: Rule, values: list[float], *, step: timedelta = timedelta(minutes=1)
) -> list[Outcome]:
    """Feed `values` as fresh samples one `step` apart and return every outcome."""
    state = RuleState()
    outcomes = []
    for i, value in enumerate(values):
        at = T0 + i * step
        outcome = evaluate(rule, state, Sample(rule.metric, value, at, "test"), at, MAX_AGE)
        outcomes.append(outcome)
        state = outcome.state
    return outcomes


def kinds(outcomes: list[Outcome]) -> list[str]:
    return [o.transition.kind for o in outcomes if o.transition is not None]


def test_crossing_fires_once_while_wobbling_inside_the_band() -> None:
    outcomes = run(CROSS_UP, [40, 51, 49, 50.5, 47, 52, 45.9, 51])
    # 51 fires; the wobble to 49/47 stays inside the 4-point band; 45.9 re-arms (and resolves).
    assert kinds(outcomes) == ["firing", "resolved", "firing"]
    assert outcomes[1].transition is not None and outcomes[1].transition.previous == 40


def test_crossing_needs_a_before_the_first_sample_above_does_not_fire() -> None:
    assert kinds(run(CROSS_UP, [55, 60, 70])) == []
    assert kinds(run(CROSS_UP, [55, 44, 51])) == ["firing"]


def test_crossing_below_mirrors_above() -> None:
    assert kinds(run(CROSS_DOWN, [60, 58.9, 59.1, 59.2, 58, 59.3, 58.5])) == [
        "firing",
        "resolved",
        "firing",
    ]


def test_level_rule_resolves_only_past_the_band() -> None:
    assert kinds(run(LEVEL, [70, 75, 72, 71, 76, 70.9, 75])) == ["firing", "resolved", "firing"]


def test_for_duration_holds_pending_until_it_elapses() -> None:
    rule = Rule("alt", "asi", ">=", 75.0, "altseason", band=4.0, for_duration=timedelta(minutes=3))
    outcomes = run(rule, [80, 80, 80, 80, 80])
    assert [o.state.state for o in outcomes] == [
        "pending",
        "pending",
        "pending",
        "firing",
        "firing",
    ]
    assert kinds(outcomes) == ["firing"]
    # Dropping below the threshold while pending cancels without any message.
    outcomes = run(rule, [80, 80, 70, 80, 80])
    assert kinds(outcomes) == []
    assert outcomes[-1].state.state == "pending"


def test_repeat_interval_renotifies_while_firing() -> None:
    rule = Rule("alt", "asi", ">=", 75.0, "altseason", repeat_interval=timedelta(minutes=30))
    outcomes = run(rule, [80] * 70, step=timedelta(minutes=1))
    assert kinds(outcomes) == ["firing", "firing", "firing"]


def test_resolved_notice_can_be_switched_off() -> None:
    rule = Rule("alt", "asi", ">=", 75.0, "altseason", band=4.0, send_resolved=False)
    assert kinds(run(rule, [80, 60, 80])) == ["firing", "firing"]


def test_new_high_fires_once_per_higher_close() -> None:
    outcomes = run(HIGH, [100, 101, 101, 99, 102, 102], step=timedelta(days=1))
    assert kinds(outcomes) == ["firing", "firing"]
    fired = [o.transition for o in outcomes if o.transition]
    assert [(t.value, t.previous) for t in fired] == [(101, 100), (102, 101)]


def test_new_high_is_seeded_from_history() -> None:
    state = seed_high(RuleState(), 2500.0)
    at = T0
    below = evaluate(HIGH, state, Sample("rut", 2400, at, "yahoo"), at, timedelta(days=4))
    assert below.transition is None
    above = evaluate(
        HIGH,
        below.state,
        Sample("rut", 2501, at + timedelta(days=1), "y"),
        at + timedelta(days=1),
        timedelta(days=4),
    )
    assert above.transition is not None and above.transition.previous == 2500.0


def test_same_session_polled_again_does_not_fire_again() -> None:
    state = seed_high(RuleState(), 100.0)
    sample = Sample("rut", 101, T0, "yahoo")
    first = evaluate(HIGH, state, sample, T0, MAX_AGE)
    again = evaluate(HIGH, first.state, sample, T0 + timedelta(minutes=5), MAX_AGE)
    revised = evaluate(HIGH, again.state, Sample("rut", 101.5, T0, "yahoo"), T0, MAX_AGE)
    assert first.transition is not None
    assert again.transition is None and revised.transition is None
    assert revised.state.high == 101.5


def test_stale_and_out_of_order_samples_change_nothing() -> None:
    state = run(CROSS_UP, [40])[-1].state
    old = Sample("asi", 90, T0 - timedelta(hours=3), "test")
    assert evaluate(CROSS_UP, state, old, T0, MAX_AGE) == Outcome(state)
    earlier = Sample("asi", 90, T0 - timedelta(minutes=1), "test")
    assert evaluate(CROSS_UP, state, earlier, T0, MAX_AGE) == Outcome(state)
    other_metric = Sample("btc_dominance", 90, T0, "test")
    assert evaluate(CROSS_UP, state, other_metric, T0, MAX_AGE) == Outcome(state)


values = st.floats(min_value=0, max_value=100, allow_nan=False)
crossing_rules = st.sampled_from([CROSS_UP, CROSS_DOWN])


@settings(max_examples=300, deadline=None)
@given(rule=crossing_rules, seq=st.lists(values, max_size=60))
def test_crossing_never_fires_twice_without_rearming_past_the_band(
    rule: Rule, seq: list[float]
) -> None:
    assert rule.threshold is not None
    rearm = (
        (lambda v: v < rule.threshold - rule.band)
        if rule.op == "crosses above"
        else (lambda v: v > rule.threshold + rule.band)
    )
    rearmed_since_fire = True
    for value, outcome in zip(seq, run(rule, seq), strict=True):
        if outcome.transition is not None and outcome.transition.kind == "firing":
            assert rearmed_since_fire, f"fired twice without re-arming: {seq}"
            rearmed_since_fire = False
        elif rearm(value):
            rearmed_since_fire = True


@settings(max_examples=300, deadline=None)
@given(
    rule=st.sampled_from([CROSS_UP, CROSS_DOWN, LEVEL, HIGH]),
    seq=st.lists(st.tuples(values, st.booleans()), max_size=60),
)
def test_stale_samples_never_transition(rule: Rule, seq: list[tuple[float, bool]]) -> None:
    state = RuleState()
    for i, (value, stale) in enumerate(seq):
        now = T0 + timedelta(minutes=i)
        at = now - (MAX_AGE + timedelta(seconds=1) if stale else timedelta(0))
        outcome = evaluate(rule, state, Sample(rule.metric, value, at, "t"), now, MAX_AGE)
        if stale:
            assert outcome == Outcome(state)
        state = outcome.state


@settings(max_examples=300, deadline=None)
@given(seq=st.lists(values, min_size=1, max_size=60))
def test_new_high_fires_exactly_on_record_closes(seq: list[float]) -> None:
    fired = [o.transition.value for o in run(HIGH, seq) if o.transition is not None]
    expected = []
    record = seq[0]
    for value in seq[1:]:
        if value > record:
            expected.append(value)
            record = value
    assert fired == expected


@pytest.mark.parametrize(
    ("values", "turned"),
    [
        ((-1.0, 0.5), True),
        ((-1.0, 0.0, 0.5), True),
        ((0.2, 0.5), False),
        ((0.5, -0.1), False),
        ((-0.5, 0.0), False),
        ((0.5,), False),
        ((), False),
    ],
)
def test_altbtc_macd_bullish_fires_on_the_day_the_histogram_turns_positive(
    values: tuple[float, ...], turned: bool
) -> None:
    # The histogram's warm-up days are never published, so the rule sees defined values only.
    rule = next(r for r in BUILTIN_RULES if r.id == "altbtc-macd-bullish")
    outcomes = run(rule, list(values), step=timedelta(days=1))
    fired_last = bool(outcomes) and outcomes[-1].transition is not None
    assert fired_last is turned
    assert kinds(outcomes) == (["firing"] if turned else [])


# --- evidence: a value with unknown parts ---------------------------------------------------------

REGIME = next(r for r in BUILTIN_RULES if r.id == "risk-on-regime")


def run_bounded(rule: Rule, readings: list[tuple[float, int]]) -> list[Outcome]:
    """Feed (agreeing, unknown) scores as the regime publishes them, a minute apart."""
    state = RuleState()
    outcomes = []
    for i, (score, unknown) in enumerate(readings):
        at = T0 + i * timedelta(minutes=1)
        sample = Sample(rule.metric, score, at, "radar", bounds=(score, score + unknown))
        outcome = evaluate(rule, state, sample, at, MAX_AGE)
        outcomes.append(outcome)
        state = outcome.state
    return outcomes


def test_an_outage_neither_resolves_nor_refires_the_regime() -> None:
    # 4 of 6 agree; CoinGecko goes away (ASI, dominance, MACD unknown: 2 known, 3 unknown); back.
    outcomes = run_bounded(REGIME, [(3, 0), (4, 0), (2, 3), (2, 3), (4, 0), (4, 0)])
    assert kinds(outcomes) == ["firing"]
    assert [o.state.state for o in outcomes] == ["inactive", *["firing"] * 5]


def test_known_agreement_fires_whatever_the_unknown_components_are() -> None:
    assert kinds(run_bounded(REGIME, [(2, 1), (4, 2)])) == ["firing"]


def test_a_warm_up_never_fires_nor_arms_on_a_guess() -> None:
    # 2 known, 3 still warming: 2 to 5, which might or might not reach 4: nothing moves.
    outcomes = run_bounded(REGIME, [(2, 3), (2, 3), (3, 2)])
    assert kinds(outcomes) == []
    assert all(o.state == RuleState() for o in outcomes)


def test_the_regime_resolves_only_when_it_would_even_if_every_unknown_agreed() -> None:
    # Firing at 4; then 3 known + 1 unknown (might be 4: hold); then 2 + 1 (at most 3: resolve).
    outcomes = run_bounded(REGIME, [(3, 0), (4, 0), (3, 1), (2, 1)])
    assert kinds(outcomes) == ["firing", "resolved"]
    assert outcomes[2].state.state == "firing"


def test_a_crossing_arms_only_when_surely_on_the_near_side() -> None:
    up = Rule("up", "risk_on", "crosses above", 3.5, "regime up", band=0.5)
    # (2, 3) might already be above: no arming, so the later (4, 0) is no crossing.
    assert kinds(run_bounded(up, [(2, 3), (4, 0)])) == []
    assert kinds(run_bounded(up, [(2, 1), (4, 0)])) == ["firing"]


def test_a_sample_refuses_a_value_outside_its_bounds() -> None:
    with pytest.raises(ValueError, match="within its bounds"):
        Sample("risk_on", 5, T0, "radar", bounds=(2, 4))
