"""Discord renderings of alerts and command answers: embeds for numbers, Markdown for lists."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from enum import Enum

import discord

from bot.commands import (
    EventInfo,
    MetricStatus,
    MuteInfo,
    RegimeStatus,
    RuleInfo,
    StatusReport,
    SubscriptionChange,
)
from bot.model.alerts import AlertMessage
from bot.model.metrics import metric_info
from bot.model.regime import VERDICT_MARKS
from handlers.discord.layout import EmbedSpec, Field, truncate


class Direction(Enum):
    """Which way an alert's metric moved, which sets the embed's colour."""

    UP = 0x2ECC71
    DOWN = 0xE74C3C
    FLAT = 0x5865F2
    RESOLVED = 0x95A5A6


STATUS_COLOUR = 0x5865F2
STALE_MARK = "⚠️"


def direction(message: AlertMessage) -> Direction:
    """Return the direction of an alert: against the previous value, else against the threshold."""
    if message.state == "resolved":
        return Direction.RESOLVED
    reference = message.previous if message.previous is not None else message.threshold
    if reference is None or message.value == reference:
        return Direction.FLAT
    return Direction.UP if message.value > reference else Direction.DOWN


def _sign(number: float) -> str:
    return "+" if number >= 0 else "−"


def change_text(message: AlertMessage) -> str | None:
    """Return the move since the previous value, e.g. `+$1,200 (+1.21%) from $99,000`."""
    if message.previous is None:
        return None
    info = metric_info(message.metric)
    delta = message.value - message.previous
    text = _sign(delta) + info.format(abs(delta))
    if message.previous != 0:
        ratio = delta / abs(message.previous)
        text += f" ({_sign(ratio)}{abs(ratio):.2%})"
    return f"{text} from {info.format(message.previous)}"


def alert_embed(message: AlertMessage) -> EmbedSpec:
    """Render an alert: rule, value against threshold, change, provider, time, colour by direction."""
    info = metric_info(message.metric)
    heading = "🔔" if message.state == "firing" else "✅ Resolved:"
    fields = [Field("Value", f"**{info.format(message.value)}** `{message.metric}`", True)]
    if message.threshold is not None:
        fields.append(Field("Threshold", info.format(message.threshold), True))
    change = change_text(message)
    if change is not None:
        fields.append(Field("Change", change, True))
    fields.append(Field("Provider", message.source or "unknown", True))
    return EmbedSpec(
        title=f"{heading} {message.rule_description}",
        description=message.text,
        fields=tuple(fields),
        colour=direction(message).value,
        timestamp=message.at,
        footer=f"rule {message.rule_id} · alert #{message.event_id}",
    )


def age_text(age: timedelta) -> str:
    """Render an age compactly: `45s`, `12m`, `3h 5m`, `2d 4h`."""
    seconds = max(0, int(age.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def _metric_field(row: MetricStatus) -> Field:
    lines = [f"**{row.formatted}**" if row.value is not None else "no data yet"]
    seen = [age_text(row.age) + " ago" if row.age is not None else "", row.source or ""]
    if any(seen):
        lines.append(" · ".join(part for part in seen if part))
    if row.stale:
        lines.append(f"{STALE_MARK} stale" + (f": {row.stale_reason}" if row.stale_reason else ""))
    lines.extend(f"{key}: {value}" for key, value in row.detail)
    mark = f" {STALE_MARK}" if row.stale else ""
    return Field(f"{row.label} ({row.metric}){mark}", "\n".join(lines), True)


def _regime_field(regime: RegimeStatus) -> Field:
    lines = [f"{VERDICT_MARKS[r.verdict]} {r.label} — {r.note}" for r in regime.readings]
    mark = f" {STALE_MARK}" if regime.stale else ""
    return Field(f"Risk-on regime: {regime.score}/{regime.out_of}{mark}", "\n".join(lines), False)


def status_embed(report: StatusReport) -> EmbedSpec:
    """Render `/status`: one field per metric, the firing rules in the description."""
    if report.firing:
        firing = "\n".join(f"🔥 `{r.id}` — {r.description}" for r in report.firing)
    else:
        firing = "No rule is firing."
    if not report.metrics:
        firing += "\nNo metric has a value yet: the feeds have not answered since the start."
    return EmbedSpec(
        title="Risk-On Radar — status",
        description=firing,
        fields=(
            *((_regime_field(report.regime),) if report.regime is not None else ()),
            *(_metric_field(row) for row in report.metrics),
        ),
        colour=STATUS_COLOUR,
        timestamp=report.generated_at,
    )


def rules_text(rules: Sequence[RuleInfo], *, custom_only: bool = False) -> str:
    """Render rules one a line: id, description, condition, state, and a tick when subscribed."""
    if not rules:
        if custom_only:
            return "No custom alerts here. Add one with `/alert add`."
        return "No rules."
    heading = "**Custom alerts here**" if custom_only else "**Rules** (✅ = this channel gets it)"
    lines = [heading]
    for rule in rules:
        tick = "✅ " if rule.subscribed else ""
        state = "" if rule.state == "inactive" else f" — **{rule.state}**"
        lines.append(f"{tick}`{rule.id}` {rule.description} (`{rule.condition}`){state}")
    return "\n".join(lines)


def _ids(ids: Sequence[str]) -> str:
    return ", ".join(f"`{i}`" for i in ids) if ids else "nothing"


def subscription_text(change: SubscriptionChange, where: str) -> str:
    """Render what a subscribe or unsubscribe did to `where`."""
    lines = []
    if change.added:
        lines.append(f"Subscribed {where} to {_ids(change.added)}.")
    if change.removed:
        lines.append(f"Unsubscribed {where} from {_ids(change.removed)}.")
    if not change.added and not change.removed:
        lines.append(f"No change for {where}.")
    lines.append(f"{where[0].upper()}{where[1:]} now gets: {_ids(change.current)}.")
    return "\n".join(lines)


def added_alert_text(rule: RuleInfo) -> str:
    """Render a newly created custom alert."""
    return f"Added alert `{rule.id}`: `{rule.condition}`. Remove it with `/alert remove {rule.id}`."


def discord_time(at: datetime) -> str:
    """Return Discord's timestamp markup, shown in each reader's own time zone."""
    return discord.utils.format_dt(at if at.tzinfo is not None else at.replace(tzinfo=UTC), "f")


def mute_text(mute: MuteInfo) -> str:
    """Render how long alerts here stay muted."""
    return f"🔕 Alerts here are muted until {discord_time(mute.until)}. `/unmute` ends it early."


def history_text(events: Sequence[EventInfo]) -> str:
    """Render past alerts, newest first."""
    if not events:
        return "No alert has been sent here yet."
    lines = ["**Recent alerts**"]
    for event in events:
        mark = "🔔" if event.state == "firing" else "✅"
        value = metric_info(event.metric).format(event.value)
        text = truncate(event.text.replace("\n", " "), 300)
        lines.append(f"{mark} {discord_time(event.at)} `{event.rule_id}` {value} — {text}")
    return "\n".join(lines)


def to_embed(spec: EmbedSpec) -> discord.Embed:
    """Build discord.py's embed from a spec already cut to size."""
    embed = discord.Embed(
        title=spec.title or None,
        description=spec.description or None,
        colour=spec.colour,
        timestamp=spec.timestamp,
    )
    for item in spec.fields:
        embed.add_field(name=item.name, value=item.value, inline=item.inline)
    if spec.footer:
        embed.set_footer(text=spec.footer)
    return embed
