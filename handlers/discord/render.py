"""Discord renderings of alerts and command answers: embeds for numbers, Markdown for lists."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo

import discord

from bot.commands import (
    ChartReport,
    EventInfo,
    MetricStatus,
    MuteInfo,
    QuietInfo,
    RegimeStatus,
    RuleInfo,
    StatusReport,
    SubscriptionChange,
    TimeZoneInfo,
    UniverseCoin,
    UniverseStatus,
    UnmuteInfo,
)
from bot.model.alerts import (
    TONE_MARKS,
    AlertMessage,
    FeedNotice,
    Handling,
    HeldSummary,
    lean_tone,
)
from bot.model.backtest import Backtest, brief, report_lines
from bot.model.formatting import (
    alert_headline,
    format_age,
    format_ago,
    format_change,
    format_condition,
    format_fraction,
    format_held_headline,
    format_time,
    join_capped,
)
from bot.model.metrics import metric_info
from bot.model.regime import VERDICT_MARKS, Reading
from handlers.discord.layout import DESCRIPTION_LIMIT, FIELD_VALUE_LIMIT, EmbedSpec, Field, truncate

STATUS_COLOUR = 0x5865F2
HELD_COLOUR = 0x95A5A6
STALE_MARK = "⚠️"


def _readings(readings: Sequence[Reading]) -> str:
    return "\n".join(f"{VERDICT_MARKS[r.verdict]} {r.label} — {r.note}" for r in readings)


def _condition(message: AlertMessage) -> str | None:
    if message.op is not None:
        return format_condition(message.metric, message.op, message.threshold)
    if message.threshold is not None:
        return f"threshold {metric_info(message.metric).format(message.threshold)}"
    return None


def alert_embed(message: AlertMessage, zone: tzinfo = UTC) -> EmbedSpec:
    """Render an alert: the value once with its condition, change, provider, time; colour by tone."""
    if message.notice is not None:
        return _notice_embed(message, message.notice, zone)
    info = metric_info(message.metric)
    fields = [Field("Value", f"**{info.format(message.value)}** `{message.metric}`", True)]
    condition = _condition(message)
    if condition is not None:
        fields.append(Field("Rule", condition, True))
    if message.previous is not None:
        change = format_change(message.metric, message.value, message.previous)
        fields.append(Field("Change", change, True))
    fields.append(Field("Provider", message.source or "unknown", True))
    return EmbedSpec(
        title=alert_headline(message),
        description=_readings(message.components),
        fields=tuple(fields),
        colour=message.colour,
        timestamp=message.at,
        footer=f"rule {message.rule_id} · alert #{message.event_id}",
    )


def _notice_embed(message: AlertMessage, notice: FeedNotice, zone: tzinfo) -> EmbedSpec:
    down = message.state == "firing"
    fields = []
    if notice.since is not None:
        age = format_age(message.at - notice.since)
        fields.append(
            Field("Failing since" if down else "Down since", format_time(notice.since, zone), True)
        )
        fields.append(Field("For", age, True))
    return EmbedSpec(
        title=alert_headline(message),
        description=f"Error: {notice.error}" if down and notice.error else "",
        fields=tuple(fields),
        colour=message.colour,
        timestamp=message.at,
        footer=f"rule {message.rule_id} · alert #{message.event_id}",
    )


def _metric_field(row: MetricStatus) -> Field:
    lines = [f"**{row.formatted}**" if row.value is not None else "no data yet"]
    seen = [format_ago(row.age) if row.age is not None else "", row.source or ""]
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


def _universe_fields(universe: UniverseStatus) -> tuple[Field, ...]:
    if universe.at is None:
        return (Field("ASI universe", "not computed yet", False),)
    if universe.bitcoin_change is not None:
        headline = (
            f"Bitcoin over 90 days: **{format_fraction(universe.bitcoin_change)}** · "
            f"{len(universe.beat)} of {universe.counted} coins beat it"
        )
    else:
        headline = "Bitcoin has no close from 90 days ago yet"
    fields = [Field(f"ASI universe · {format_time(universe.at)}", headline, False)]
    groups = (
        ("✅ Beat Bitcoin", universe.beat),
        ("❌ Behind", universe.behind),
        ("❔ No 90-day close", universe.without_history),
    )
    fields += [Field(f"{t} ({len(c)})", _coins(c), False) for t, c in groups if c]
    if universe.excluded:
        reasons = [f"{', '.join(s)} ({r})" for r, s in universe.excluded_by_reason()]
        shown = join_capped(reasons, FIELD_VALUE_LIMIT, "; ")
        fields.append(Field(f"🚫 Excluded ({len(universe.excluded)})", shown, False))
    return tuple(fields)


def _coins(coins: Sequence[UniverseCoin]) -> str:
    items = [
        f"{coin.symbol} {format_fraction(coin.change)}" if coin.change is not None else coin.symbol
        for coin in coins
    ]
    # Cut here, where what does not fit is counted; the layout would cut mid-word.
    return join_capped(items, FIELD_VALUE_LIMIT)


def status_embed(report: StatusReport) -> EmbedSpec:
    """Render `/status`: one field per metric, the firing rules in the description."""
    if report.rules or len(report.metrics) == 1:
        firing = (
            "\n".join(f"`{r.id}` ({r.condition}): {r.now_text() or r.state}" for r in report.rules)
            or "No built-in rule watches it; add your own with `/alert add`."
        )
    elif report.firing:
        firing = "\n".join(
            f"{TONE_MARKS[lean_tone(r.lean)]} `{r.id}` — {r.description}" for r in report.firing
        )
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
            *(_universe_fields(report.universe) if report.universe is not None else ()),
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
        lean = f", {rule.lean}" if rule.lean is not None else ""
        now = rule.now_text()
        state = f" — **{now}**" if now else ""
        lines.append(f"{tick}`{rule.id}` {rule.description} (`{rule.condition}`{lean}){state}")
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
    if rule.backtest is not None:
        text += f"\nBacktest: {brief(rule.backtest)}."
    return text


def backtest_text(backtest: Backtest) -> str:
    """Render `/backtest`: the window, each firing and resolution, what followed, the totals."""
    head, *rest = report_lines(backtest)
    return "\n".join([f"**{head}**", *rest])


def discord_time(at: datetime) -> str:
    """Return Discord's timestamp markup, shown in each reader's own time zone."""
    return discord.utils.format_dt(at if at.tzinfo is not None else at.replace(tzinfo=UTC), "f")


def when(at: datetime, zone: tzinfo = UTC) -> str:
    """Return a time in the channel's `/timezone`, labelled; without one, Discord's own markup.

    A channel that set no zone sees Discord's timestamp, which every reader's app shows in
    that reader's own zone: better than UTC when nobody chose.
    """
    return discord_time(at) if zone is UTC else format_time(at, zone)


def mute_text(mute: MuteInfo) -> str:
    """Render how long alerts here stay muted."""
    return (
        f"🔕 Alerts here are muted until {when(mute.until, mute.zone)}. Alerts that fire "
        "meanwhile are held and sent in one summary when it ends; `/unmute` ends it now."
    )


def unmute_text(info: UnmuteInfo) -> str:
    """Render an unmute and what it let go."""
    return f"🔔 {info.text()}"


def quiet_text(info: QuietInfo) -> str:
    """Render a channel's quiet hours and what switching them let go."""
    return f"🌙 {info.text()}" if info.quiet is not None else info.text()


def time_zone_text(info: TimeZoneInfo) -> str:
    """Render the zone a channel's times are shown in."""
    return info.text()


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
        text += f" (rule: {condition})"
    return ("resolved · " if alert.state == "resolved" else "") + text


_HANDLING: dict[Handling, str] = {"sent": "", "summary": " *(in a summary)*", "held": " *(held)*"}


def _history_line(alert: AlertMessage, zone: tzinfo) -> str:
    summary = _summary(alert).replace("\n", " ")
    return f"{alert.mark} {when(alert.at, zone)} `{alert.rule_id}` {summary}"


def history_text(events: Sequence[EventInfo], zone: tzinfo = UTC) -> str:
    """Render past alerts, newest first."""
    if not events:
        return "No alert has been sent here yet."
    lines = ["**Recent alerts**"]
    lines += [_history_line(e.alert, zone) + _HANDLING[e.handling] for e in events]
    return "\n".join(lines)


# A summary is one embed: its description stops short of the limit, with room for the last line.
_SUMMARY_ROOM = DESCRIPTION_LIMIT - 80


def summary_embed(summary: HeldSummary, zone: tzinfo = UTC) -> EmbedSpec:
    """Render held alerts as one embed: why and how many, then each alert in a line."""
    lines: list[str] = []
    for shown, alert in enumerate(summary.alerts):
        line = f"• {_history_line(alert, zone)}"
        if sum(len(x) + 1 for x in lines) + len(line) > _SUMMARY_ROOM:
            lines.append(f"… and {len(summary.alerts) - shown} more: see `/history`")
            break
        lines.append(line)
    return EmbedSpec(
        title=f"🔕 {format_held_headline(summary.reasons, len(summary.alerts))}",
        description="\n".join(lines),
        colour=HELD_COLOUR,
        footer=f"held alerts #{summary.key}",
    )


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
