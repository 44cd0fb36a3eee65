"""Discord renderings of alerts and command answers: embeds for numbers, Markdown for lists."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import discord

from bot.commands import (
    ChartReport,
    EventInfo,
    MetricStatus,
    MuteInfo,
    RegimeStatus,
    RuleInfo,
    StatusReport,
    SubscriptionChange,
)
from bot.model.alerts import AlertMessage, FeedNotice, Tone
from bot.model.formatting import format_age, format_change, format_condition, format_time
from bot.model.metrics import metric_info
from bot.model.regime import VERDICT_MARKS, Reading
from handlers.discord.layout import EmbedSpec, Field, truncate

# Each tone's embed colour; the same tone gives Telegram's mark (`TONE_MARKS`), so both agree.
TONE_COLOURS: dict[Tone, int] = {
    "rise": 0x2ECC71,
    "fall": 0xE74C3C,
    "resolved": 0x95A5A6,
    "down": 0xE67E22,
    "back": 0x2ECC71,
}
STATUS_COLOUR = 0x5865F2
STALE_MARK = "⚠️"


def _readings(readings: Sequence[Reading]) -> str:
    return "\n".join(f"{VERDICT_MARKS[r.verdict]} {r.label} — {r.note}" for r in readings)


def _condition(message: AlertMessage) -> str | None:
    if message.op is not None:
        return format_condition(message.metric, message.op, message.threshold)
    if message.threshold is not None:
        return f"threshold {metric_info(message.metric).format(message.threshold)}"
    return None


def alert_embed(message: AlertMessage) -> EmbedSpec:
    """Render an alert: the value once with its condition, change, provider, time; colour by tone."""
    if message.notice is not None:
        return _notice_embed(message, message.notice)
    info = metric_info(message.metric)
    resolved = "Resolved: " if message.state == "resolved" else ""
    fields = [Field("Value", f"**{info.format(message.value)}** `{message.metric}`", True)]
    condition = _condition(message)
    if condition is not None:
        fields.append(Field("Condition", condition, True))
    if message.previous is not None:
        change = format_change(message.metric, message.value, message.previous)
        fields.append(Field("Change", change, True))
    fields.append(Field("Provider", message.source or "unknown", True))
    return EmbedSpec(
        title=f"{message.mark} {resolved}{message.rule_description}",
        description=_readings(message.components),
        fields=tuple(fields),
        colour=TONE_COLOURS[message.tone],
        timestamp=message.at,
        footer=f"rule {message.rule_id} · alert #{message.event_id}",
    )


def _notice_embed(message: AlertMessage, notice: FeedNotice) -> EmbedSpec:
    down = message.state == "firing"
    fields = []
    if notice.since is not None:
        age = format_age(message.at - notice.since)
        fields.append(
            Field("Failing since" if down else "Down since", format_time(notice.since), True)
        )
        fields.append(Field("For", age, True))
    return EmbedSpec(
        title=f"{message.mark} Feed {notice.feed} {'is down' if down else 'answers again'}",
        description=f"Error: {notice.error}" if down and notice.error else "",
        fields=tuple(fields),
        colour=TONE_COLOURS[message.tone],
        timestamp=message.at,
        footer=f"rule {message.rule_id} · alert #{message.event_id}",
    )


def _metric_field(row: MetricStatus) -> Field:
    lines = [f"**{row.formatted}**" if row.value is not None else "no data yet"]
    seen = [format_age(row.age) + " ago" if row.age is not None else "", row.source or ""]
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
    return Field(f"Risk-on regime: {regime.score_text()}{mark}", "\n".join(lines), False)


def status_embed(report: StatusReport) -> EmbedSpec:
    """Render `/status`: one field per metric, the firing rules in the description."""
    if report.rules or len(report.metrics) == 1:
        firing = (
            "\n".join(f"`{r.id}` ({r.condition}): {r.now_text() or r.state}" for r in report.rules)
            or "No built-in rule watches it; add your own with `/alert add`."
        )
    elif report.firing:
        firing = "\n".join(f"🔥 `{r.id}` — {r.description}" for r in report.firing)
    else:
        firing = "No rule is firing."
    if not any(m.value is not None for m in report.metrics):
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
        now = rule.now_text()
        state = f" — **{now}**" if now else ""
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
    if change.already:
        lines.append("**Already true**")
        lines += [f"• `{r.id}` {r.now_text() or r.state}" for r in change.already]
    return "\n".join(lines)


def added_alert_text(rule: RuleInfo) -> str:
    """Render a newly created custom alert."""
    text = f"Added alert `{rule.id}`: `{rule.condition}`. Remove it with `/alert remove {rule.id}`."
    if rule.no_data is not None:
        text += (
            f"\n⚠ `{rule.metric}` has no fresh value now ({rule.no_data}); the alert waits for one."
        )
    elif rule.now_text() is not None:
        text += f"\nAlready true: {rule.now_text()}."
    return text


def discord_time(at: datetime) -> str:
    """Return Discord's timestamp markup, shown in each reader's own time zone."""
    return discord.utils.format_dt(at if at.tzinfo is not None else at.replace(tzinfo=UTC), "f")


def mute_text(mute: MuteInfo) -> str:
    """Render how long alerts here stay muted."""
    return f"🔕 Alerts here are muted until {discord_time(mute.until)}. `/unmute` ends it early."


def _summary(alert: AlertMessage) -> str:
    if alert.notice is not None:
        if alert.state == "resolved":
            return f"feed {alert.notice.feed} answers again"
        error = f": {truncate(alert.notice.error, 200)}" if alert.notice.error else ""
        return f"feed {alert.notice.feed} is down{error}"
    info = metric_info(alert.metric)
    text = f"{info.label} **{info.format(alert.value)}**"
    condition = _condition(alert)
    if condition is not None:
        text += f" ({condition})"
    return ("resolved · " if alert.state == "resolved" else "") + text


def history_text(events: Sequence[EventInfo]) -> str:
    """Render past alerts, newest first."""
    if not events:
        return "No alert has been sent here yet."
    lines = ["**Recent alerts**"]
    for event in events:
        alert = event.alert
        summary = _summary(alert).replace("\n", " ")
        lines.append(f"{alert.mark} {discord_time(alert.at)} `{alert.rule_id}` {summary}")
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
    if spec.image:
        embed.set_image(url=spec.image)
    return embed


def chart_embed(report: ChartReport, image: str) -> EmbedSpec:
    """Render a chart: its value as the title, span, source and rules below, the image inside."""
    title, *lines = report.caption_lines()
    return EmbedSpec(
        title=title,
        description="\n".join(lines),
        colour=STATUS_COLOUR,
        timestamp=report.at,
        image=image,
    )
