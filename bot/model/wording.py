"""Plain-text wording of alerts, shared by the console, webhooks and the event history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.model.evaluation import Transition
from bot.model.regime import METRIC as REGIME_METRIC
from bot.model.regime import VERDICT_MARKS, from_detail
from bot.model.rules import Rule
from signals.metrics import metric_info


def when(at: datetime) -> str:
    """Render a timestamp the way every message does."""
    return at.strftime("%Y-%m-%d %H:%M UTC")


def alert_text(
    rule: Rule, transition: Transition, source: str, detail: Sequence[tuple[str, str]] = ()
) -> str:
    """Word an alert: what happened, the value against the threshold, the change, source and time."""
    info = metric_info(rule.metric)
    head = "🔔" if transition.kind == "firing" else "✅ Resolved:"
    parts = [f"{info.label} {info.format(transition.value)}"]
    if rule.op == "new high" and transition.previous is not None:
        parts.append(f"previous high {info.format(transition.previous)}")
    elif rule.threshold is not None:
        parts.append(f"threshold {info.format(rule.threshold)}")
    if transition.previous is not None and rule.op != "new high":
        change = transition.value - transition.previous
        parts.append(f"was {info.format(transition.previous)}, {change:+,.{info.decimals}f}")
    text = (
        f"{head} {rule.description} — {'; '.join(parts)} · via {source} · "
        f"{when(transition.at)} [{rule.id}]"
    )
    if rule.metric == REGIME_METRIC:
        # A regime alert is only useful with the signals that make up its score.
        readings = from_detail(detail)
        text += "".join(f"\n{VERDICT_MARKS[r.verdict]} {r.label} — {r.note}" for r in readings)
    return text
