"""Backtests over the store: read a rule's history, replay it, read what followed each firing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from bot.commands.reports import CommandError
from bot.model.backtest import REFERENCES, Backtest, reference_window, replay, with_aftermath
from bot.model.metrics import metric_info
from bot.model.regime import METRIC as REGIME_METRIC
from bot.model.regime import bounds as regime_bounds
from bot.model.rules import Rule, RuleDefaults, RuleSyntaxError, parse_rule
from bot.storage import Store
from bot.watch.engine import custom_rule

USAGE = "usage: /backtest <rule | metric op value> [years], e.g. /backtest asi-above-50 2"
# A condition typed out is backtested as the chat's own alert would run, under this owner.
_ADHOC_OWNER = "backtest"


def resolve_rule(
    words: Sequence[str], rules: Sequence[Rule], metrics: frozenset[str], defaults: RuleDefaults
) -> Rule:
    """Return the rule `words` name: a rule id, or `<metric> <op> <value>` as a custom alert."""
    if not words:
        raise RuleSyntaxError("name a rule id or a condition")
    by_id = {rule.id: rule for rule in rules}
    if len(words) == 1:
        word = words[0].lower()
        if word in by_id:
            return by_id[word]
        if word not in metrics:
            raise RuleSyntaxError(
                f"unknown rule {words[0][:40]!r}: give a rule id or a condition such as asi >= 75"
            )
    spec = parse_rule(" ".join(words), metrics)
    rule = custom_rule("", _ADHOC_OWNER, spec, defaults)
    return replace(rule, id=rule.condition)


async def run_backtest(
    store: Store, rule: Rule, start: datetime | None = None, end: datetime | None = None
) -> Backtest:
    """Replay the stored samples of `rule`'s metric with start <= at < end, with their aftermath."""
    samples = await store.metric_history(rule.metric, start, end)
    if rule.metric == REGIME_METRIC:
        # As the live engine saw them: a score with unknown components moves nothing.
        samples = [replace(s, bounds=regime_bounds(s.value, s.detail)) for s in samples]
    high = None
    if rule.op == "new high" and samples:
        # As the live engine seeds it: the record is everything stored before.
        high = await store.highest_before(rule.metric, samples[0].at)
    result = replay(
        rule, samples, metric_info(rule.metric).max_age, high_before=high, start=start, end=end
    )
    window = reference_window(result)
    if window is None:
        return result
    references = {metric: await store.metric_history(metric, *window) for metric in REFERENCES}
    return with_aftermath(result, references)


def usage_error(problem: object) -> CommandError:
    """Return the one-line refusal of a `/backtest` that cannot run as asked."""
    return CommandError(f"{problem}. {USAGE[0].upper()}{USAGE[1:]}")
