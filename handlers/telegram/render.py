"""Render command answers and alerts as Telegram HTML, and split long messages safely."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import UTC, tzinfo

from bot.commands import (
    BOT_NAME,
    COMMANDS,
    GREETING,
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
from bot.model.alerts import TONE_MARKS, AlertMessage, FeedNotice, Handling, HeldSummary, lean_tone
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

MAX_MESSAGE = 4096
# An alert's free text (a feed's error, the regime's components) is cut so the whole alert always
# fits one message: one message per alert keeps a retried alert from repeating parts that already
# went out. A rule's description is cut shorter still.
MAX_ALERT_TEXT = 1500
MAX_DESCRIPTION = 300
# Each list of the ASI universe is cut here (plain text), so `/status asi` with four full
# lists, the metric and the firing rules stays inside one 4,096-character message.
MAX_UNIVERSE_LIST = 650


def escape(value: object) -> str:
    """Return `value` as text safe inside Telegram HTML."""
    return html.escape(str(value), quote=False)


def utf16_len(text: str) -> int:
    """Return the length Telegram counts: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def format_value(metric: str, value: float) -> str:
    """Return `value` with its metric's precision and unit."""
    return metric_info(metric).format(value)


def render_help() -> str:
    """Return the command list."""
    lines = [f"{escape(c.usage)} — {escape(c.description)}" for c in COMMANDS]
    return "<b>Commands</b>\n" + "\n".join(lines)


def render_start() -> str:
    """Return the greeting: what the bot does, then the commands."""
    return f"<b>{escape(BOT_NAME)}</b> {escape(GREETING)}\n\n{render_help()}"


def render_status(report: StatusReport, metric: str | None = None, zone: tzinfo = UTC) -> str:
    """Return `/status`: a table of every metric, or the detail of one; times in `zone`."""
    if metric is not None:
        body = "\n\n".join(_metric_detail(m, zone) for m in report.metrics)
    else:
        body = _metric_table(report.metrics)
    parts = [f"<b>Status</b> · {escape(format_time(report.generated_at, zone))}", body]
    if report.universe is not None:
        parts.append(_universe(report.universe))
    if report.regime is not None:
        parts.append(_regime(report.regime))
    if metric is not None:
        if report.rules:
            lines = [
                f"• <code>{escape(r.id)}</code> ({escape(r.condition)}): "
                f"{escape(r.now_text() or r.state)}"
                for r in report.rules
            ]
            parts.append("<b>Rules on it</b>\n" + "\n".join(lines))
        else:
            parts.append("No built-in rule watches it; add your own with /alert.")
    elif report.firing:
        firing = "\n".join(
            f"{TONE_MARKS[lean_tone(r.lean)]} <code>{escape(r.id)}</code> — {escape(r.description)}"
            for r in report.firing
        )
        parts.append(f"<b>Firing</b>\n{firing}")
    else:
        parts.append("No rule is firing.")
    return "\n".join(parts)


def _regime(regime: RegimeStatus) -> str:
    stale = " ⚠ stale" if regime.stale else ""
    lines = [f"<b>Risk-on regime: {escape(regime.score_text())}</b>{stale}"]
    lines += [
        f"{VERDICT_MARKS[r.verdict]} {escape(r.label)} — {escape(r.note)}" for r in regime.readings
    ]
    return "\n".join(lines)


def _universe(universe: UniverseStatus) -> str:
    if universe.at is None:
        return "<b>ASI universe</b>: not computed yet"
    lines = [f"<b>ASI universe</b> · {escape(format_time(universe.at))}"]
    if universe.bitcoin_change is not None:
        btc = format_fraction(universe.bitcoin_change)
        lines.append(
            f"Bitcoin over 90 days: <b>{escape(btc)}</b> · "
            f"{len(universe.beat)} of {universe.counted} coins beat it"
        )
    else:
        lines.append("Bitcoin has no close from 90 days ago yet")
    groups = (
        ("✅ Beat Bitcoin", universe.beat),
        ("❌ Behind", universe.behind),
        ("❔ No 90-day close", universe.without_history),
    )
    lines += [f"{title} ({len(coins)}): {_coins(coins)}" for title, coins in groups if coins]
    if universe.excluded:
        reasons = [
            f"{', '.join(symbols)} ({reason})" for reason, symbols in universe.excluded_by_reason()
        ]
        shown = join_capped(reasons, MAX_UNIVERSE_LIST, "; ")
        lines.append(f"🚫 Excluded ({len(universe.excluded)}): {escape(shown)}")
    return "\n".join(lines)


def _coins(coins: Sequence[UniverseCoin]) -> str:
    items = [
        f"{coin.symbol} {format_fraction(coin.change)}" if coin.change is not None else coin.symbol
        for coin in coins
    ]
    return escape(join_capped(items, MAX_UNIVERSE_LIST))


def _metric_table(metrics: Sequence[MetricStatus]) -> str:
    if not metrics:
        return "No metric has a value yet."
    rows = [("metric", "value", "updated", "source")]
    rows += [
        (
            m.metric + ("*" if m.stale else ""),
            m.formatted if m.value is not None else "-",
            format_ago(m.age) if m.age is not None else "-",
            m.source or "-",
        )
        for m in metrics
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}".rstrip()
        for r in rows
    ]
    table = f"<pre>{escape(chr(10).join(lines))}</pre>"
    stale = [m for m in metrics if m.stale]
    if stale:
        notes = "\n".join(
            f"* <code>{escape(m.metric)}</code>: {escape(m.stale_reason or 'stale')}" for m in stale
        )
        table += "\n" + notes
    return table


def _metric_detail(m: MetricStatus, zone: tzinfo) -> str:
    lines = [f"<b>{escape(m.label)}</b> (<code>{escape(m.metric)}</code>)"]
    lines.append(f"Value: <b>{escape(m.formatted)}</b>" if m.value is not None else "Value: none")
    if m.at is not None:
        age = f" ({escape(format_ago(m.age))})" if m.age is not None else ""
        lines.append(f"As of: {escape(format_time(m.at, zone))}{age}")
    lines.append(f"Source: {escape(m.source or '-')}")
    if m.stale:
        lines.append(f"⚠ Stale: {escape(m.stale_reason or 'no recent value')}")
    lines += [f"{escape(key)}: {escape(value)}" for key, value in m.detail]
    return "\n".join(lines)


def render_rules(rules: Sequence[RuleInfo]) -> str:
    """Return `/rules`: every rule, marked where this chat is subscribed."""
    if not rules:
        return "No rules are defined."
    lines = ["<b>Rules</b> (✅ = this chat is subscribed)"]
    lines += [_rule_line(r) for r in rules]
    lines.append("Subscribe with /subscribe &lt;rule&gt; or /subscribe all.")
    return "\n".join(lines)


def _rule_line(rule: RuleInfo) -> str:
    mark = "✅" if rule.subscribed else "▫️"
    lean = f"{rule.lean}; " if rule.lean is not None else ""
    return (
        f"{mark} <code>{escape(rule.id)}</code> — {escape(rule.description)} "
        f"<i>({escape(rule.condition)}; {lean}{escape(rule.now_text() or rule.state)})</i>"
    )


def render_subscription(change: SubscriptionChange) -> str:
    """Return what a subscribe or unsubscribe did and where the chat stands now."""
    lines = []
    if change.added:
        lines.append("Subscribed to " + _codes(change.added) + ".")
    if change.removed:
        lines.append("Unsubscribed from " + _codes(change.removed) + ".")
    if not change.added and not change.removed:
        lines.append("Nothing changed.")
    if change.current:
        lines.append("This chat gets alerts for " + _codes(change.current) + ".")
    else:
        lines.append("This chat has no subscriptions.")
    if change.already:
        lines.append("<b>Already true</b>")
        lines += [_now_line(r) for r in change.already]
    return "\n".join(lines)


def _now_line(rule: RuleInfo) -> str:
    return f"• <code>{escape(rule.id)}</code> {escape(rule.now_text() or rule.state)}"


def _codes(ids: Sequence[str]) -> str:
    return ", ".join(f"<code>{escape(i)}</code>" for i in ids)


def render_subscribe_menu(rules: Sequence[RuleInfo]) -> str:
    """Return the text above the subscribe keyboard."""
    subscribed = [r.id for r in rules if r.subscribed]
    now = _codes(subscribed) if subscribed else "nothing"
    return f"Tap a rule to subscribe or unsubscribe this chat.\nSubscribed now: {now}."


def render_alert_added(rule: RuleInfo) -> str:
    """Return the confirmation of a new custom alert."""
    text = (
        f"Added alert <code>{escape(rule.id)}</code>: {escape(rule.condition)}.\n"
        f"Remove it with /alert remove {escape(rule.id)}"
    )
    if rule.no_data is not None:
        text += (
            f"\n⚠ <code>{escape(rule.metric)}</code> has no fresh value now "
            f"({escape(rule.no_data)}); the alert waits for one."
        )
    elif rule.now_text() is not None:
        text += f"\nAlready true: {escape(rule.now_text())}."
    if rule.backtest is not None:
        text += f"\nBacktest: {escape(brief(rule.backtest))}."
    return text


def render_alert_removed(rule_id: str) -> str:
    """Return the confirmation of a removed custom alert."""
    return f"Removed alert <code>{escape(rule_id)}</code>."


def render_alerts(rules: Sequence[RuleInfo]) -> str:
    """Return `/alerts`: this chat's custom alerts."""
    if not rules:
        return "No custom alerts here. Add one with /alert &lt;metric&gt; &lt;op&gt; &lt;value&gt;."
    lines = ["<b>Custom alerts</b>"]
    lines += [
        f"• <code>{escape(r.id)}</code> — {escape(r.condition)} <i>({escape(r.state)})</i>"
        for r in rules
    ]
    return "\n".join(lines)


def render_backtest(backtest: Backtest) -> str:
    """Return `/backtest`: the window, each firing and resolution, what followed, the totals."""
    head, *rest = report_lines(backtest)
    return "\n".join([f"<b>{escape(head)}</b>", *(escape(line) for line in rest)])


def render_mute(info: MuteInfo) -> str:
    """Return the confirmation of a mute."""
    return (
        f"Alerts here are muted until {escape(format_time(info.until, info.zone))}. "
        "Alerts that fire meanwhile are held and sent in one summary when it ends; "
        "/unmute ends it now."
    )


def render_unmute(info: UnmuteInfo) -> str:
    """Return the confirmation of an unmute, and what it let go."""
    return escape(info.text())


def render_quiet(info: QuietInfo) -> str:
    """Return a chat's quiet hours, and what switching them let go."""
    return escape(info.text())


def render_time_zone(info: TimeZoneInfo) -> str:
    """Return the zone a chat's times are shown in."""
    return escape(info.text())


_HANDLING: dict[Handling, str] = {
    "sent": "",
    "summary": " · <i>in a summary</i>",
    "held": " · <i>held</i>",
}
# Room a summary keeps for its last line, which says how many alerts did not fit.
_SUMMARY_TAIL = 80


def _history_line(alert: AlertMessage, zone: tzinfo) -> str:
    return (
        f"{escape(format_time(alert.at, zone))} · {alert.mark} <code>{escape(alert.rule_id)}</code>"
        f" · {_summary(alert)}"
    )


def render_history(events: Sequence[EventInfo], zone: tzinfo = UTC) -> str:
    """Return `/history`: the latest alerts, newest first as the service orders them."""
    if not events:
        return "No alerts have been sent here yet."
    lines = ["<b>Recent alerts</b>"]
    lines += [_history_line(e.alert, zone) + _HANDLING[e.handling] for e in events]
    return "\n".join(lines)


def render_summary(summary: HeldSummary, zone: tzinfo = UTC) -> str:
    """Return held alerts as one message: why and how many, then each alert in a line."""
    headline = format_held_headline(summary.reasons, len(summary.alerts))
    text = f"🔕 <b>{escape(headline)}</b>"
    for shown, alert in enumerate(summary.alerts):
        line = f"\n• {_history_line(alert, zone)}"
        if utf16_len(text + line) > MAX_MESSAGE - _SUMMARY_TAIL:
            # Always one message: a retried summary must not repeat parts already sent.
            return text + f"\n… and {len(summary.alerts) - shown} more: see /history"
        text += line
    return text


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _condition(message: AlertMessage) -> str | None:
    if message.op is not None:
        return format_condition(message.metric, message.op, message.threshold)
    if message.threshold is not None:
        return f"threshold {format_value(message.metric, message.threshold)}"
    return None


def _value_line(message: AlertMessage, *, bold: bool) -> str:
    """Return `<label>: <value> (rule: <condition>)`, the one place an alert states its value."""
    value = escape(format_value(message.metric, message.value))
    line = f"{escape(metric_info(message.metric).label)}: {f'<b>{value}</b>' if bold else value}"
    condition = _condition(message)
    return line + (f" (rule: {escape(condition)})" if condition else "")


def _summary(alert: AlertMessage) -> str:
    """Return an alert in one line, for the history."""
    if alert.notice is not None:
        if alert.state == "resolved":
            return f"Feed {escape(alert.notice.feed)} answers again"
        error = f": {escape(_clip(alert.notice.error, 200))}" if alert.notice.error else ""
        return f"Feed {escape(alert.notice.feed)} is down{error}"
    resolved = "resolved · " if alert.state == "resolved" else ""
    return resolved + _value_line(alert, bold=False)


def render_alert(message: AlertMessage, zone: tzinfo = UTC) -> str:
    """Return an alert: what happened, the value once with its condition, change, source, time.

    Always one message, whatever the lengths of its free text.
    """
    if message.notice is not None:
        return _render_notice(message, message.notice, zone)
    description = _clip(message.rule_description, MAX_DESCRIPTION)
    lines = [f"<b>{escape(alert_headline(message, description))}</b>"]
    lines.append(_value_line(message, bold=True))
    if message.previous is not None:
        change = format_change(message.metric, message.value, message.previous)
        lines.append(f"Change: {escape(change)}")
    if message.components:
        lines.append(escape(_clip(_readings(message.components), MAX_ALERT_TEXT)))
    lines.append(
        f"<code>{escape(message.rule_id)}</code> · via {escape(message.source)} · "
        f"{escape(format_time(message.at, zone))}"
    )
    return "\n".join(lines)


def _readings(readings: Sequence[Reading]) -> str:
    return "\n".join(f"{VERDICT_MARKS[r.verdict]} {r.label} — {r.note}" for r in readings)


def _render_notice(message: AlertMessage, notice: FeedNotice, zone: tzinfo) -> str:
    lines = [f"<b>{escape(alert_headline(message))}</b>"]
    if message.state == "firing":
        if notice.since is not None:
            lines.append(
                f"Failing for {escape(format_age(message.at - notice.since))}, since "
                f"{escape(format_time(notice.since, zone))}"
            )
        if notice.error:
            lines.append(f"Error: {escape(_clip(notice.error, MAX_ALERT_TEXT))}")
    elif notice.since is not None:
        lines.append(
            f"Down for {escape(format_age(message.at - notice.since))}, since "
            f"{escape(format_time(notice.since, zone))}"
        )
    lines.append(
        f"<code>{escape(message.rule_id)}</code> · {escape(format_time(message.at, zone))}"
    )
    return "\n".join(lines)


_MARKUP = re.compile(r"<[^<>]*>|&#?[0-9A-Za-z]+;")
_TAGS = re.compile(r"<[^<>]*>")
_TAG_NAME = re.compile(r"</?([a-zA-Z][a-zA-Z0-9-]*)")


def split_html(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Split Telegram HTML into messages of at most `limit` UTF-16 units, tags kept balanced."""
    # Splits fall on line boundaries where possible, then on spaces, never inside a tag or an
    # entity; tags open at a split close at the end of one part and reopen at the next.
    if utf16_len(text) <= limit:
        return [text]
    parts: list[str] = []
    stack: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        prefix = "".join(opening for _, opening in stack)
        cut, resume, stack_at_cut = _find_cut(text, pos, stack, limit - utf16_len(prefix))
        closers = "".join(f"</{name}>" for name, _ in reversed(stack_at_cut))
        parts.append(prefix + text[pos:cut] + closers)
        stack = list(stack_at_cut)
        pos = resume
        # What is left may be only closing tags and newlines: no part of its own.
        if not _TAGS.sub("", text[pos:]).strip():
            break
    return parts


def _find_cut(
    text: str, start: int, stack: list[tuple[str, str]], budget: int
) -> tuple[int, int, tuple[tuple[str, str], ...]]:
    """Return where the part starting at `start` ends, where the next begins, and open tags."""
    open_tags = tuple(stack)
    used = 0
    has_text = False
    at_line: tuple[int, int, tuple[tuple[str, str], ...]] | None = None
    at_space: tuple[int, int, tuple[tuple[str, str], ...]] | None = None
    anywhere: tuple[int, int, tuple[tuple[str, str], ...]] | None = None
    i = start
    while i < len(text):
        char = text[i]
        markup = _MARKUP.match(text, i) if char in "<&" else None
        atom = markup.group(0) if markup else char
        tags = _after_tag(open_tags, atom) if markup else open_tags
        cost = utf16_len(atom)
        if has_text and used + cost + _closers_len(tags) > budget:
            break
        if has_text and char == "\n":
            at_line = (i, i + 1, open_tags)
        used += cost
        open_tags = tags
        i += len(atom)
        has_text = has_text or (not char.isspace() and not atom.startswith("<"))
        if has_text:
            anywhere = (i, i, open_tags)
            if char == " ":
                at_space = anywhere
    else:
        return len(text), len(text), open_tags
    for choice in (at_line, at_space, anywhere):
        if choice is not None:
            return choice
    raise ValueError(f"a limit of {budget} leaves no room for any text")


def _after_tag(open_tags: tuple[tuple[str, str], ...], atom: str) -> tuple[tuple[str, str], ...]:
    """Return the open tags after `atom`; entities leave them as they are."""
    name = _TAG_NAME.match(atom)
    if name is None:
        return open_tags
    if atom.startswith("</"):
        return open_tags[:-1] if open_tags and open_tags[-1][0] == name.group(1) else open_tags
    return (*open_tags, (name.group(1), atom))


def _closers_len(open_tags: tuple[tuple[str, str], ...]) -> int:
    return sum(len(name) + 3 for name, _ in open_tags)


def render_chart_caption(report: ChartReport) -> str:
    """Render a chart's caption: the value in bold, then span, source and the rules drawn."""
    first, *rest = report.caption_lines()
    return "\n".join([f"<b>{escape(first)}</b>", *(escape(line) for line in rest)])


# Telegram's limit on a photo's caption, counted after entity parsing, in UTF-16 units.
CAPTION_LIMIT = 1024


def caption_fits(html_text: str) -> bool:
    """Return True when HTML text stays within a photo caption's 1,024 characters once parsed."""
    plain = re.sub(r"<[^>]+>", "", html_text)
    return utf16_len(html.unescape(plain)) <= CAPTION_LIMIT
