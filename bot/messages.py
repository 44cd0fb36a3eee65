"""Plain-text wording of alerts, shared by the console, webhooks and the event history."""

from __future__ import annotations

from datetime import datetime

from bot.engine import Transition
from bot.rules import Rule
from signals.metrics import metric_info


def when(at: datetime) -> str:
    """Render a timestamp the way every message does."""
    return at.strftime("%Y-%m-%d %H:%M UTC")


def alert_text(rule: Rule, transition: Transition, source: str) -> str:
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
    return (
        f"{head} {rule.description} — {'; '.join(parts)} · via {source} · "
        f"{when(transition.at)} [{rule.id}]"
    )
