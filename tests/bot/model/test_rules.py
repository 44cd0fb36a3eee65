"""The `/alert` parser and the built-in rule catalogue."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.model.rules import (
    ALL_OPS,
    BUILTIN_RULES,
    LEVEL_OPS,
    Rule,
    RuleDefaults,
    RuleSpec,
    RuleSyntaxError,
    builtin_rules,
    parse_number,
    parse_rule,
)
from signals.metrics import METRICS

# --- parse_number ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("50", 50.0),
        ("59.5", 59.5),
        ("-3", -3.0),
        ("+7", 7.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("0", 0.0),
        ("1e3", 1_000.0),
        ("2.5E-2", 0.025),
        ("100k", 100_000.0),
        ("100K", 100_000.0),
        ("1.5m", 1_500_000.0),
        ("1.5M", 1_500_000.0),
        ("2b", 2e9),
        ("2B", 2e9),
        ("2bn", 2e9),
        ("2BN", 2e9),
        ("3t", 3e12),
        ("59%", 59.0),
        ("1_000", 1_000.0),
        ("1_000_000", 1e6),
        ("1,000", 1_000.0),
        ("1e15", 1e15),
        ("-1e15", -1e15),
    ],
)
def test_parse_number_accepts(word: str, expected: float) -> None:
    assert parse_number(word) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "word", ["", "abc", "k", "%", "1.2.3", "1x", "1 k", "inf", "nan", "0x10", "--1", "1e", "_"]
)
def test_parse_number_rejects_with_the_word_named(word: str) -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        parse_number(word)
    message = str(caught.value)
    assert repr(word) in message
    assert "is not a number" in message
    assert "100k" in message  # the examples say what a number looks like


@pytest.mark.parametrize("word", ["1e16", "-1e16", "2000t", "1e400", "1000001b"])
def test_parse_number_rejects_out_of_range(word: str) -> None:
    with pytest.raises(RuleSyntaxError, match="out of range") as caught:
        parse_number(word)
    assert repr(word) in str(caught.value)


# --- parse_rule: good input ------------------------------------------------------------------


@pytest.mark.parametrize("op", LEVEL_OPS)
def test_every_level_operator(op: str) -> None:
    assert parse_rule(f"asi {op} 50") == RuleSpec("asi", op, 50.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("btc_usd crosses above 100k", RuleSpec("btc_usd", "crosses above", 100_000.0)),
        ("btc_dominance crosses below 59%", RuleSpec("btc_dominance", "crosses below", 59.0)),
        ("rut new high", RuleSpec("rut", "new high", None)),
        ("RUT NEW HIGH", RuleSpec("rut", "new high", None)),
        ("Btc_Usd CROSSES Above 1.5M", RuleSpec("btc_usd", "crosses above", 1_500_000.0)),
        ("ASI >= 75", RuleSpec("asi", ">=", 75.0)),
        ("  asi\t>\n 50  ", RuleSpec("asi", ">", 50.0)),
        ("total2 > 1_500b", RuleSpec("total2", ">", 1.5e12)),
        ("net_liquidity < 5.8k", RuleSpec("net_liquidity", "<", 5_800.0)),
        ("altbtc_macd crosses below -0.002", RuleSpec("altbtc_macd", "crosses below", -0.002)),
        ("eth_btc <= .035", RuleSpec("eth_btc", "<=", 0.035)),
    ],
)
def test_parse_rule_accepts(text: str, expected: RuleSpec) -> None:
    parsed = parse_rule(text)
    assert (parsed.metric, parsed.op) == (expected.metric, expected.op)
    if expected.threshold is None:
        assert parsed.threshold is None
    else:
        assert parsed.threshold == pytest.approx(expected.threshold, rel=1e-12)


def test_parse_rule_accepts_every_metric_of_the_catalogue() -> None:
    for metric in METRICS:
        assert parse_rule(f"{metric} > 1") == RuleSpec(metric, ">", 1.0)


def test_known_metrics_narrow_what_parses() -> None:
    assert parse_rule("foo > 1", frozenset({"foo"})) == RuleSpec("foo", ">", 1.0)
    with pytest.raises(RuleSyntaxError, match="expected one of foo"):
        parse_rule("asi > 1", frozenset({"foo"}))


@pytest.mark.parametrize("rule", BUILTIN_RULES, ids=lambda r: r.id)
def test_each_builtin_condition_parses_back_to_its_rule(rule: Rule) -> None:
    assert parse_rule(rule.condition) == RuleSpec(rule.metric, rule.op, rule.threshold)


# --- parse_rule: bad input, one test per error branch -----------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_text_asks_for_a_metric(text: str) -> None:
    with pytest.raises(RuleSyntaxError, match=r"missing metric: expected <metric> <op> <value>"):
        parse_rule(text)


def test_unknown_metric_is_named_and_the_known_ones_listed() -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        parse_rule("doge > 1")
    message = str(caught.value)
    assert "unknown metric 'doge'" in message
    assert "expected one of" in message
    for metric in METRICS:
        assert metric in message


def test_unknown_metric_is_cut_short_in_the_message() -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        parse_rule("x" * 500 + " > 1")
    assert "x" * 41 not in str(caught.value)
    assert "x" * 40 in str(caught.value)


def test_missing_operator_lists_the_operators() -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        parse_rule("asi")
    message = str(caught.value)
    assert "missing operator after the metric" in message
    for op in ALL_OPS:
        assert op in message


def test_words_after_new_high_are_named() -> None:
    with pytest.raises(RuleSyntaxError, match=r"unexpected 'today' after 'new high'"):
        parse_rule("rut new high today")


@pytest.mark.parametrize(
    ("text", "got"),
    [("asi crosses over 50", "'over'"), ("asi crosses", "nothing"), ("asi CROSSES 50", "'50'")],
)
def test_crosses_needs_above_or_below(text: str, got: str) -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        parse_rule(text)
    assert str(caught.value) == f"expected 'above' or 'below' after 'crosses', got {got}"


@pytest.mark.parametrize("word", ["==", "=", "=>", "above", "new", ">50", "≥"])
def test_unknown_operator_is_named_and_the_operators_listed(word: str) -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        parse_rule(f"asi {word} 50")
    message = str(caught.value)
    assert f"unknown operator {word!r}" in message
    for op in ALL_OPS:
        assert op in message


@pytest.mark.parametrize(
    ("text", "op"), [("asi >", "'>'"), ("asi crosses above", "'crosses above'")]
)
def test_missing_value_names_the_operator_and_asks_for_a_number(text: str, op: str) -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        parse_rule(text)
    message = str(caught.value)
    assert f"missing value after {op}" in message
    assert "expected a number" in message


def test_extra_word_after_the_value_is_named() -> None:
    with pytest.raises(RuleSyntaxError, match=r"unexpected 'usd' after the value"):
        parse_rule("btc_usd > 100k usd")


def test_bad_value_is_named() -> None:
    with pytest.raises(RuleSyntaxError, match=r"'fifty' is not a number"):
        parse_rule("asi > fifty")


def test_value_out_of_range_is_named() -> None:
    with pytest.raises(RuleSyntaxError, match=r"'1e99' is out of range"):
        parse_rule("btc_usd crosses above 1e99")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("btc_dominance >= 123", "btc_dominance is a percentage from 0 to 100; got 123"),
        ("btc_dominance < -1", "btc_dominance is a percentage from 0 to 100; got -1"),
        ("asi >= 2b", "asi is an index from 0 to 100; got 2000000000"),
        ("altbtc_rsi > 101", "altbtc_rsi is an index from 0 to 100; got 101"),
        ("btc_usd crosses above 0", "btc_usd is an amount in USD above 0; got 0"),
        ("total3 < -5b", "total3 is an amount in USD above 0; got -5000000000"),
        ("eth_btc < 0", "eth_btc is a number above 0; got 0"),
        ("risk_on >= 7", "risk_on is a score from 0 to 6; got 7"),
        ("rut_spx_streak >= -1", "rut_spx_streak is a count of at least 0; got -1"),
        ("btc_etf_streak >= -2", "btc_etf_streak is a count of at least 0; got -2"),
        (
            "eth_btc_vs_sma50 crosses below -101",
            "eth_btc_vs_sma50 is a percentage difference from -100 to 1000; got -101",
        ),
    ],
)
def test_threshold_outside_the_metrics_range_is_refused(text: str, message: str) -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        parse_rule(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "threshold"),
    [
        ("btc_dominance <= 0", 0.0),
        ("btc_dominance >= 100%", 100.0),
        ("risk_on >= 6", 6.0),
        ("eth_btc_vs_sma50 crosses below -5", -5.0),
        ("altbtc_macd < -0.5", -0.5),
        ("net_liquidity_4w < -200", -200.0),
        ("btc_etf_flow < -500", -500.0),
        ("rut_sessions_since_high >= 0", 0.0),
    ],
)
def test_edges_of_the_range_and_metrics_without_one_parse(text: str, threshold: float) -> None:
    assert parse_rule(text).threshold == threshold


@pytest.mark.parametrize(
    ("word", "digit"),
    [
        ("\u0663", "'٣' (arabic-indic digit three)"),
        ("\u0665\u0660k", "'٥' (arabic-indic digit five)"),
        ("\uff15\uff10", "'５' (fullwidth digit five)"),
        ("\u096b\u0966", "'५' (devanagari digit five)"),
        ("5\u0660", "'٠' (arabic-indic digit zero)"),
        ("1e\u0663", "'٣' (arabic-indic digit three)"),
        ("\U0001d7d3", "'𝟓' (mathematical bold digit five)"),
    ],
)
def test_digits_of_other_scripts_are_refused_naming_the_digit(word: str, digit: str) -> None:
    # float() and `\d` accept every one of these; a threshold is written in ASCII digits.
    with pytest.raises(RuleSyntaxError) as caught:
        parse_number(word)
    assert str(caught.value) == (
        f"{word!r} is not a number: {digit} is not an ASCII digit; use the digits 0-9"
    )
    with pytest.raises(RuleSyntaxError, match="is not an ASCII digit"):
        parse_rule(f"asi > {word}")


def test_invisible_characters_are_stripped_before_parsing() -> None:
    text = "\ufeffasi\u200b >=\u2060 5\u00ad0\u200d\u200f"
    assert parse_rule(text) == RuleSpec("asi", ">=", 50.0)


# --- parse_rule: anything at all --------------------------------------------------------------

_METRIC_WORDS = st.one_of(
    st.sampled_from(sorted(METRICS)),
    st.sampled_from(sorted(METRICS)).map(str.upper),
    st.text(max_size=6),
)
_OP_WORDS = st.sampled_from(
    [
        *(">", "<", ">=", "<=", "=", "crosses above", "CROSSES BELOW", "crosses", "crosses up"),
        *("new high", "New High", "new", "above", "high new"),
    ]
)
_VALUE_WORDS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**20), 10**20).map(str),
    st.from_regex(r"\A[+-]?[0-9_,]{0,6}\.?[0-9]{0,3}(e[+-]?[0-9]{1,3})?(k|m|b|bn|t|%|x)?\Z"),
    st.text(max_size=6),
)
# Mostly rule-shaped, so that the property meets successes as well as every error branch.
_PHRASES = st.tuples(
    _METRIC_WORDS,
    st.one_of(st.none(), _OP_WORDS),
    st.one_of(st.none(), _VALUE_WORDS),
    st.one_of(st.none(), st.text(max_size=4)),
).map(lambda parts: " ".join(p for p in parts if p is not None))


def _check_outcome(text: str) -> None:
    error: RuleSyntaxError | None = None
    try:
        spec = parse_rule(text)
    except RuleSyntaxError as exc:
        error = exc
    if error is not None:
        # The message becomes a chat's one-line reply.
        assert str(error)
        assert "\n" not in str(error)
        return
    assert isinstance(spec, RuleSpec)
    assert spec.metric in METRICS
    assert spec.op in ALL_OPS
    if spec.op == "new high":
        assert spec.threshold is None
    else:
        assert spec.threshold is not None
        assert math.isfinite(spec.threshold)
        assert abs(spec.threshold) <= 1e15
        assert METRICS[spec.metric].range_problem(spec.threshold) is None


@settings(max_examples=400)
@given(st.text())
def test_arbitrary_text_parses_or_raises_rule_syntax_error(text: str) -> None:
    _check_outcome(text)


@settings(max_examples=400)
@given(_PHRASES)
def test_rule_like_phrases_parse_or_raise_rule_syntax_error(text: str) -> None:
    _check_outcome(text)


@given(st.sampled_from(sorted(METRICS)), st.sampled_from(ALL_OPS), st.integers(-(10**12), 10**12))
def test_well_formed_rules_always_parse(metric: str, op: str, value: int) -> None:
    text = f"{metric} {op}" if op == "new high" else f"{metric} {op} {value}"
    if op != "new high" and (problem := METRICS[metric].range_problem(value)) is not None:
        with pytest.raises(RuleSyntaxError) as caught:
            parse_rule(text)
        assert str(caught.value) == problem
        return
    spec = parse_rule(text)
    assert (spec.metric, spec.op) == (metric, op)
    assert spec.threshold == (None if op == "new high" else float(value))


# --- built-in rules ---------------------------------------------------------------------------


def test_builtin_rule_ids_match_the_design() -> None:
    assert [r.id for r in BUILTIN_RULES] == [
        "asi-above-50",
        "altseason",
        "bitcoin-season",
        "btc-dominance-below-59",
        "rut-new-high",
        "rut-beats-spx-9",
        "eth-btc-rising",
        "btc-100k",
        "eth-5200",
        "sol-280",
        "alt-longs-dominate",
        "alt-volume-surge",
        "altbtc-macd-bullish",
        "altbtc-rsi-oversold",
        "liquidity-rising",
        "etf-inflow-streak",
        "risk-on-regime",
    ]


@pytest.mark.parametrize(
    ("rule_id", "metric", "op", "threshold"),
    [
        ("asi-above-50", "asi", "crosses above", 50.0),
        ("altseason", "asi", ">=", 75.0),
        ("bitcoin-season", "asi", "<=", 25.0),
        ("btc-dominance-below-59", "btc_dominance", "crosses below", 59.0),
        ("rut-new-high", "rut", "new high", None),
        ("rut-beats-spx-9", "rut_spx_streak", ">=", 9.0),
    ],
)
def test_builtin_rules_watch_what_the_design_says(
    rule_id: str, metric: str, op: str, threshold: float | None
) -> None:
    rule = next(r for r in BUILTIN_RULES if r.id == rule_id)
    assert (rule.metric, rule.op, rule.threshold) == (metric, op, threshold)
    assert rule.metric in METRICS
    assert not rule.custom


def test_builtin_descriptions_are_one_line() -> None:
    for rule in BUILTIN_RULES:
        assert rule.description.strip()
        assert "\n" not in rule.description


def test_builtin_rules_take_the_configured_defaults() -> None:
    defaults = RuleDefaults(timedelta(minutes=5), timedelta(hours=6), send_resolved=False)
    rules = builtin_rules(defaults)
    assert [r.id for r in rules] == [r.id for r in BUILTIN_RULES]
    for rule in rules:
        assert rule.for_duration == timedelta(minutes=5)
        assert rule.repeat_interval == timedelta(hours=6)
        assert rule.send_resolved is False
