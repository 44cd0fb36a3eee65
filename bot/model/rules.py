"""Rule definitions: the built-in rules, and the parser for a chat's custom `/alert`."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Literal

from bot.model.metrics import Lean, lean_of
from bot.model.text import digit_problem, strip_invisible
from signals.metrics import METRICS, metric_info
from signals.specs.coingecko import MarketsMetric
from signals.specs.exchange import ExchangeMetric
from signals.specs.farside import FarsideMetric
from signals.specs.fred import FredMetric
from signals.specs.futures import FuturesMetric
from signals.specs.global_market import GlobalMetric
from signals.specs.regime import RegimeMetric
from signals.specs.yahoo import YahooMetric

# A chat subscribed to every built-in rule holds this one subscription instead of one per rule.
ALL_BUILTINS = "*"
CUSTOM_PREFIX = "c"
_CUSTOM_ID = re.compile(rf"{CUSTOM_PREFIX}([0-9]{{1,18}})")

Op = Literal[">", "<", ">=", "<=", "crosses above", "crosses below", "new high"]
LEVEL_OPS: tuple[Op, ...] = (">", "<", ">=", "<=")
CROSSING_OPS: tuple[Op, ...] = ("crosses above", "crosses below")
ALL_OPS: tuple[Op, ...] = (*LEVEL_OPS, *CROSSING_OPS, "new high")
RISING_OPS: frozenset[Op] = frozenset({">", ">=", "crosses above", "new high"})

# Beyond this no market number makes sense; it also keeps floats exact enough to compare.
_MAX_ABS_VALUE = 1e15


@dataclass(frozen=True, slots=True)
class Rule:
    """A condition on one metric, and how its alerts repeat and resolve."""

    id: str
    metric: str
    op: Op
    threshold: float | None
    description: str
    band: float = 0.0
    for_duration: timedelta = timedelta(0)
    repeat_interval: timedelta | None = None
    send_resolved: bool = True
    owner: str | None = None

    @property
    def custom(self) -> bool:
        return self.owner is not None

    @property
    def rises(self) -> bool:
        """Return True when the rule fires on a value going up."""
        return op_rises(self.op)

    @property
    def lean(self) -> Lean | None:
        """Return what this rule firing means for the rotation thesis (its metric's declaration
        decides); None for a metric without a known meaning."""
        return lean_of(self.metric, self.rises)

    @property
    def condition(self) -> str:
        if self.op == "new high":
            return f"{self.metric} new high"
        assert self.threshold is not None
        return f"{self.metric} {self.op} {format_number(self.threshold)}"


def op_rises(op: Op) -> bool:
    """Return True when a rule with `op` fires on a value going up."""
    return op in RISING_OPS


@dataclass(frozen=True, slots=True)
class RuleDefaults:
    """Settings that shape every rule unless the rule says otherwise."""

    for_duration: timedelta = timedelta(0)
    repeat_interval: timedelta | None = None
    send_resolved: bool = True


def format_number(value: float) -> str:
    """Render a threshold compactly: 50, 59.5, 100000."""
    return f"{value:.10g}" if abs(value) < 1e10 else f"{value:.0f}"


def _rule(rule_id: str, metric: str, op: Op, threshold: float | None, text: str) -> Rule:
    band = metric_info(metric).hysteresis(threshold) if threshold is not None else 0.0
    return Rule(rule_id, metric, op, threshold, text, band=band)


BUILTIN_RULES: tuple[Rule, ...] = (
    _rule(
        "asi-above-50",
        MarketsMetric.ASI,
        "crosses above",
        50,
        "Altcoin Season Index rises above 50",
    ),
    _rule("altseason", MarketsMetric.ASI, ">=", 75, "Altcoin season: the index reaches 75"),
    _rule("bitcoin-season", MarketsMetric.ASI, "<=", 25, "Bitcoin season: the index falls to 25"),
    _rule(
        "btc-dominance-below-59",
        GlobalMetric.BTC_DOMINANCE,
        "crosses below",
        59,
        "Bitcoin dominance falls below 59%",
    ),
    _rule(
        "rut-new-high",
        YahooMetric.RUT,
        "new high",
        None,
        "Russell 2000 closes at a new all-time high",
    ),
    _rule(
        "rut-beats-spx-9",
        YahooMetric.RUT_SPX_STREAK,
        ">=",
        9,
        "Russell 2000 beats the S&P 500 nine sessions running",
    ),
    _rule(
        "eth-btc-rising",
        ExchangeMetric.ETH_BTC_VS_SMA50,
        "crosses above",
        0,
        "ETH/BTC closes above its 50-day average after being below it",
    ),
    _rule(
        "btc-100k", ExchangeMetric.BTC_USD, "crosses above", 100_000, "Bitcoin rises above $100,000"
    ),
    _rule("eth-5200", ExchangeMetric.ETH_USD, "crosses above", 5_200, "Ether rises above $5,200"),
    _rule("sol-280", ExchangeMetric.SOL_USD, "crosses above", 280, "Solana rises above $280"),
    _rule(
        "alt-longs-dominate",
        FuturesMetric.ALT_LONG_SHORT,
        "crosses above",
        1,
        "Longs outnumber shorts on the top altcoin perpetuals (median ratio above 1)",
    ),
    _rule(
        "alt-volume-surge",
        MarketsMetric.ALT_VOLUME_RATIO,
        ">=",
        1.5,
        "Altcoin volume reaches 1.5x its 30-day mean",
    ),
    _rule(
        "altbtc-macd-bullish",
        MarketsMetric.ALTBTC_MACD,
        "crosses above",
        0,
        "Alt/BTC index: daily MACD histogram turns positive",
    ),
    _rule(
        "altbtc-rsi-oversold",
        MarketsMetric.ALTBTC_RSI,
        "<",
        30,
        "Alt/BTC index: RSI(14) falls below 30",
    ),
    _rule(
        "liquidity-rising",
        FredMetric.NET_LIQUIDITY_4W,
        ">",
        0,
        "Net liquidity (Fed balance sheet - TGA - reverse repo) is up over four weeks",
    ),
    _rule(
        "etf-inflow-streak",
        FarsideMetric.BTC_ETF_STREAK,
        ">=",
        3,
        "US spot Bitcoin ETFs take in money three trading days running",
    ),
    _rule(
        "risk-on-regime",
        RegimeMetric.RISK_ON,
        ">=",
        4,
        "Risk-on regime: at least 4 of the 6 rotation signals agree",
    ),
)


def builtin_rules(defaults: RuleDefaults) -> tuple[Rule, ...]:
    """Return the built-in rules with the configured defaults applied."""
    return tuple(
        replace(
            r,
            for_duration=defaults.for_duration,
            repeat_interval=defaults.repeat_interval,
            send_resolved=defaults.send_resolved,
        )
        for r in BUILTIN_RULES
    )


class RuleSyntaxError(ValueError):
    """A custom rule that does not parse; the message says which word and what was expected."""


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A parsed `/alert` condition, before it gets an id and an owner."""

    metric: str
    op: Op
    threshold: float | None


_SUFFIX = {"k": 1e3, "m": 1e6, "b": 1e9, "bn": 1e9, "t": 1e12}
# ASCII digits only: `\d` and float() also take Arabic-Indic, Devanagari and full-width digits.
_NUMBER = re.compile(
    r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:e[+-]?[0-9]+)?)(k|m|bn|b|t|%)?$", re.IGNORECASE
)
_THOUSANDS = re.compile(r"^[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?([a-z%]{0,2})$", re.IGNORECASE)
_OP_WORDS: dict[str, Op] = {"above": "crosses above", "below": "crosses below"}


def parse_number(word: str) -> float:
    """Parse `100000`, `100k`, `1.5m`, `59%`, `1_000`; raise `RuleSyntaxError` otherwise.

    Digits are ASCII 0-9: `٣` or `３` is refused with a line that says so.
    """
    problem = digit_problem(word)
    if problem is not None:
        raise RuleSyntaxError(problem)
    text = word.replace("_", "")
    if "," in text:
        # Only thousands separators: "1,5" must not quietly become 15.
        if not _THOUSANDS.match(text):
            raise RuleSyntaxError(
                f"{word!r}: use a dot for decimals (1.5) and commas only for thousands"
            )
        text = text.replace(",", "")
    match = _NUMBER.match(text)
    if not match:
        raise RuleSyntaxError(f"{word!r} is not a number (examples: 50, 59.5, 100k, 1.2m)")
    value = float(match.group(1))
    suffix = (match.group(2) or "").lower()
    value *= _SUFFIX.get(suffix, 1.0)
    if not math.isfinite(value) or abs(value) > _MAX_ABS_VALUE:
        raise RuleSyntaxError(f"{word!r} is out of range")
    return value


def parse_rule(text: str, known_metrics: frozenset[str] | None = None) -> RuleSpec:
    """Parse `<metric> <op> <value>` or `<metric> new high` into a `RuleSpec`.

    Invisible format characters (zero-width spaces, soft hyphens) are dropped first, and the
    value must lie in the metric's valid range (`MetricInfo.valid_range`).
    """
    metrics = known_metrics if known_metrics is not None else frozenset(METRICS)
    words = strip_invisible(text).split()
    if not words:
        raise RuleSyntaxError("missing metric: expected <metric> <op> <value>, e.g. asi > 50")
    metric = words[0].lower()
    if metric not in metrics:
        raise RuleSyntaxError(
            f"unknown metric {words[0][:40]!r}: expected one of {', '.join(sorted(metrics))}"
        )
    rest = [w.lower() for w in words[1:]]
    if not rest:
        raise RuleSyntaxError(
            "missing operator after the metric: expected one of > < >= <= crosses above, "
            "crosses below, new high"
        )
    if rest[:2] == ["new", "high"]:
        if len(rest) > 2:
            raise RuleSyntaxError(f"unexpected {words[3][:40]!r} after 'new high'")
        return RuleSpec(metric, "new high", None)
    op: Op
    if rest[0] in LEVEL_OPS:
        op = rest[0]
        value_words = words[2:]
    elif rest[0] == "crosses" and len(rest) > 1 and rest[1] in _OP_WORDS:
        op = _OP_WORDS[rest[1]]
        value_words = words[3:]
    elif rest[0] == "crosses":
        got = repr(words[2][:40]) if len(words) > 2 else "nothing"
        raise RuleSyntaxError(f"expected 'above' or 'below' after 'crosses', got {got}")
    else:
        raise RuleSyntaxError(
            f"unknown operator {words[1][:40]!r}: expected one of > < >= <= crosses above, "
            "crosses below, new high"
        )
    if not value_words:
        raise RuleSyntaxError(f"missing value after {op!r}: expected a number, e.g. 100k")
    if len(value_words) > 1:
        raise RuleSyntaxError(f"unexpected {value_words[1][:40]!r} after the value")
    threshold = parse_number(value_words[0])
    # Pushed-in metrics carry no range: only the bot's own metrics know what their values can be.
    known = METRICS.get(metric)
    out_of_range = known.range_problem(threshold) if known is not None else None
    if out_of_range is not None:
        raise RuleSyntaxError(out_of_range)
    return RuleSpec(metric, op, threshold)


def custom_rule_id(row_id: int) -> str:
    """Return the public id of custom rule row `row_id`."""
    return f"{CUSTOM_PREFIX}{row_id}"


def custom_rule_row(rule_id: str) -> int | None:
    """Return the row number behind a custom rule id, or None if `rule_id` is not one."""
    match = _CUSTOM_ID.fullmatch(rule_id)
    return None if match is None else int(match.group(1))


def is_custom(rule_id: str) -> bool:
    """Return True when `rule_id` names a chat's custom rule rather than a built-in one."""
    return custom_rule_row(rule_id) is not None
