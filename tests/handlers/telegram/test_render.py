"""Telegram HTML: every dynamic value escaped, long messages split where Telegram allows."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.commands import EventInfo, MetricStatus, RuleInfo, StatusReport, SubscriptionChange
from bot.model.alerts import TONE_MARKS, AlertMessage, FeedNotice
from bot.model.regime import Reading
from handlers.discord.render import TONE_COLOURS, alert_embed
from handlers.telegram.render import (
    escape,
    render_alert,
    render_help,
    render_history,
    render_rules,
    render_status,
    render_subscription,
    split_html,
    utf16_len,
)
from tests.fakes.telegram_api import parse_html

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def metric(
    name: str, value: float | None, formatted: str, minutes: int, stale: bool = False
) -> MetricStatus:
    return MetricStatus(
        metric=name,
        label=name.upper(),
        value=value,
        formatted=formatted,
        at=NOW - timedelta(minutes=minutes) if value is not None else None,
        age=timedelta(minutes=minutes) if value is not None else None,
        source="coingecko" if value is not None else None,
        stale=stale,
        stale_reason="feed <down> & out" if stale else None,
    )


def test_escape_covers_what_telegram_parses() -> None:
    assert escape("<b>&'\"") == "&lt;b&gt;&amp;'\""
    assert parse_html(escape("a < b && c > d")) == "a < b && c > d"


def test_help_lists_every_command_with_escaped_usage() -> None:
    text = render_help()

    assert "&lt;metric&gt; &lt;op&gt; &lt;value&gt;" in text
    assert parse_html(text).count("\n") == 12


def test_status_table_aligns_columns_and_marks_stale_values() -> None:
    report = StatusReport(
        metrics=(
            metric("asi", 61.0, "61", 5),
            metric("btc_dominance", 58.4, "58.40%", 130, stale=True),
            metric("rut", None, "no data yet", 0, stale=True),
        ),
        firing=(RuleInfo("asi-above-50", "ASI > 50 & rising", "asi", "asi > 50", False, "firing"),),
        generated_at=NOW,
    )

    text = render_status(report)
    plain = parse_html(text)

    table = re.search(r"<pre>(.*)</pre>", text, re.S)
    assert table is not None
    # Columns are two spaces apart; an age such as "2h 10m" has one inside.
    rows = [re.split(r" {2,}", line.strip()) for line in parse_html(table.group(1)).splitlines()]
    assert rows == [
        ["metric", "value", "age", "source"],
        ["asi", "61", "5m", "coingecko"],
        ["btc_dominance*", "58.40%", "2h 10m", "coingecko"],
        ["rut*", "-", "-", "-"],
    ]
    widths = {len(line) for line in parse_html(table.group(1)).splitlines()[1:3]}
    assert len(widths) == 1
    assert "* btc_dominance: feed <down> & out" in plain
    assert "• asi-above-50 — ASI > 50 & rising" in plain


def test_rules_and_subscriptions_render_ids_as_code() -> None:
    rules = (
        RuleInfo("altseason", "Altcoin season", "asi", "asi >= 75", False, "inactive", True),
        RuleInfo("custom-1", "<mine>", "btc_usd", "btc_usd > 1e5", True, "pending"),
    )

    text = render_rules(rules)

    assert "✅ <code>altseason</code>" in text
    assert "▫️ <code>custom-1</code> — &lt;mine&gt;" in text
    change = SubscriptionChange(("altseason",), (), ("altseason", "rut-new-high"))
    assert parse_html(render_subscription(change)) == (
        "Subscribed to altseason.\nThis chat gets alerts for altseason, rut-new-high."
    )


def alert(**changes: object) -> AlertMessage:
    base: dict[str, object] = {
        "event_id": 3,
        "rule_id": "btc-dominance-below-59",
        "rule_description": "Bitcoin dominance falls below 59%",
        "state": "resolved",
        "metric": "btc_dominance",
        "value": 59.5,
        "threshold": 59.0,
        "previous": 60.25,
        "source": "coinpaprika",
        "at": datetime(2026, 1, 5, 9, 5),
        "op": "crosses below",
        "direction": "fall",
    }
    base.update(changes)
    return AlertMessage(**base)  # type: ignore[arg-type]


def test_resolved_alert_with_a_fall_and_a_naive_time() -> None:
    assert parse_html(render_alert(alert())).splitlines() == [
        "⚪ Resolved: Bitcoin dominance falls below 59%",
        "Bitcoin dominance: 59.50% (crosses below 59.00%)",
        "Change: −0.75 pp from 60.25%",
        "btc-dominance-below-59 · via coinpaprika · 2026-01-05 09:05 UTC",
    ]


def test_an_alert_states_its_value_exactly_once() -> None:
    message = alert(
        rule_id="asi-above-50",
        rule_description="Altcoin Season Index rises above 50",
        state="firing",
        metric="asi",
        value=57.0,
        threshold=50.0,
        previous=48.0,
        op="crosses above",
        direction="rise",
    )
    text = parse_html(render_alert(message))
    assert text.count("57") == 1
    assert "<b>57</b>" in render_alert(message)
    assert "crosses above 50" in text
    assert "Change: +9 from 48" in text


@pytest.mark.parametrize(
    ("op", "direction", "mark", "colour"),
    [("crosses above", "rise", "📈", 0x2ECC71), (">=", "rise", "📈", 0x2ECC71),
     ("crosses below", "fall", "📉", 0xE74C3C), ("<=", "fall", "📉", 0xE74C3C)],
)  # fmt: skip
def test_firing_marks_and_discord_colours_follow_the_rules_direction(
    op: str, direction: str, mark: str, colour: int
) -> None:
    # The value moved against the rule's direction last: the rule decides, not the tick.
    message = alert(state="firing", op=op, direction=direction, value=58.9, previous=58.8)
    assert render_alert(message).startswith(f"{mark} <b>")
    embed = alert_embed(message)
    assert embed.title.startswith(f"{mark} ")
    assert embed.colour == colour
    assert TONE_MARKS[message.tone] == mark and TONE_COLOURS[message.tone] == colour


def test_resolved_alerts_agree_on_both_front_ends() -> None:
    message = alert()
    assert render_alert(message).startswith("⚪ <b>Resolved: ")
    assert alert_embed(message).title.startswith("⚪ Resolved: ")
    assert alert_embed(message).colour == TONE_COLOURS["resolved"]


def test_alert_without_threshold_or_previous_value() -> None:
    lines = parse_html(render_alert(alert(op=None, threshold=None, previous=None))).splitlines()

    assert "Bitcoin dominance: 59.50%" in lines
    assert not any(line.startswith("Change") for line in lines)


def test_a_regime_alert_lists_its_components_escaped() -> None:
    readings = (
        Reading("asi", "Altcoin Season Index above 50", "yes", "ASI <55>"),
        Reading("liquidity", "Net liquidity rising (4 weeks)", "unknown", "no fresh value"),
    )
    message = alert(
        rule_id="risk-on-regime",
        rule_description="Risk-on regime: at least 4 of the 6 rotation signals agree",
        state="firing",
        metric="risk_on",
        value=4.0,
        threshold=4.0,
        previous=3.0,
        op=">=",
        direction="rise",
        components=readings,
    )
    html = render_alert(message)
    assert "ASI &lt;55&gt;" in html
    assert parse_html(html).splitlines()[1:5] == [
        "Risk-on regime score: 4 of 6 (at or above 4 of 6)",
        "Change: +1 from 3 of 6",
        "✅ Altcoin Season Index above 50 — ASI <55>",
        "❔ Net liquidity rising (4 weeks) — no fresh value",
    ]


def test_feed_notices_word_their_facts_escaped() -> None:
    since = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    down = alert(
        rule_id="source-down:yahoo",
        rule_description="Feed yahoo is down",
        state="firing",
        metric="feed",
        value=0.0,
        threshold=None,
        previous=None,
        source="radar",
        op=None,
        direction=None,
        at=datetime(2026, 1, 5, 9, 5, tzinfo=UTC),
        notice=FeedNotice("yahoo", since, "HTTP 503 <html>"),
    )
    assert parse_html(render_alert(down)).splitlines() == [
        "⚠️ Feed yahoo is down",
        "Failing since 2026-01-05 08:00 UTC (1h 5m)",
        "Error: HTTP 503 <html>",
        "source-down:yahoo · 2026-01-05 09:05 UTC",
    ]
    assert "&lt;html&gt;" in render_alert(down)
    back = replace(down, state="resolved", notice=FeedNotice("yahoo", since))
    assert parse_html(render_alert(back)).splitlines() == [
        "✅ Feed yahoo answers again",
        "Down for 1h 5m, since 2026-01-05 08:00 UTC",
        "source-down:yahoo · 2026-01-05 09:05 UTC",
    ]


def test_history_words_each_alert_from_its_data() -> None:
    notice = FeedNotice("yahoo", None, "<timeout>")
    events = (
        EventInfo(alert()),
        EventInfo(alert(event_id=4, rule_id="source-down:yahoo", state="firing", op=None,
                        direction=None, metric="feed", notice=notice)),
    )  # fmt: skip
    assert parse_html(render_history(events)).splitlines() == [
        "Recent alerts",
        "2026-01-05 09:05 UTC · ⚪ btc-dominance-below-59 · resolved · Bitcoin dominance: "
        "59.50% (crosses below 59.00%)",
        "2026-01-05 09:05 UTC · ⚠️ source-down:yahoo · Feed yahoo is down: <timeout>",
    ]


def test_short_text_is_one_part() -> None:
    assert split_html("<b>hi</b>") == ["<b>hi</b>"]


def test_lines_split_on_their_boundaries() -> None:
    lines = [f"line {i} " + "x" * 40 for i in range(200)]

    parts = split_html("\n".join(lines), limit=1000)

    assert all(utf16_len(p) <= 1000 for p in parts)
    assert "\n".join(parts).splitlines() == lines


def test_a_pre_block_split_is_closed_and_reopened() -> None:
    table = "\n".join(f"row {i:03d} {'-' * 30}" for i in range(100))
    text = f"<b>Status</b>\n<pre>{table}</pre>\nend"

    parts = split_html(text, limit=500)

    assert len(parts) > 3
    for part in parts[1:-1]:
        assert part.startswith("<pre>")
        assert part.endswith("</pre>")
    rows = [line for p in parts for line in parse_html(p).splitlines() if line.startswith("row")]
    assert rows == table.splitlines()


def test_a_line_without_breaks_splits_on_spaces_then_anywhere_but_in_entities() -> None:
    words = " ".join(["&amp;&lt;word&gt;"] * 300)
    parts = split_html(f"<i>{words}</i>", limit=200)

    assert all(utf16_len(p) <= 200 for p in parts)
    assert "".join(parse_html(p) for p in parts) == parse_html(f"<i>{words}</i>")
    unbroken = "&amp;" * 100
    pieces = split_html(unbroken, limit=42)
    assert all(re.fullmatch(r"(&amp;)+", p) for p in pieces)
    assert "".join(pieces) == unbroken


def test_astral_characters_count_twice() -> None:
    parts = split_html("🚀" * 100, limit=50)

    assert [utf16_len(p) for p in parts] == [50, 50, 50, 50]


_PLAIN = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=60
)
_LINE = st.one_of(
    _PLAIN.map(escape),
    _PLAIN.map(lambda t: f"<b>{escape(t)}</b>"),
    _PLAIN.map(lambda t: f'<a href="https://example.com/?q=1&amp;r=2">{escape(t)}</a>'),
    st.tuples(_PLAIN, _PLAIN).map(lambda t: f"<i>{escape(t[0])} <code>{escape(t[1])}</code></i>"),
)
_BLOCK = st.one_of(
    _LINE,
    st.lists(_PLAIN, min_size=1, max_size=8).map(
        lambda rows: "<pre>" + "\n".join(escape(r) for r in rows) + "</pre>"
    ),
    st.lists(_LINE, min_size=1, max_size=4).map(lambda ls: "<b>" + "\n".join(ls) + "</b>"),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_BLOCK, min_size=1, max_size=40), st.integers(min_value=120, max_value=600))
def test_any_split_is_valid_html_and_loses_nothing(blocks: list[str], limit: int) -> None:
    text = "\n".join(blocks)
    # Renderers never send blank text (Telegram refuses it); only text with content is split.
    assume(text.strip())

    parts = split_html(text, limit=limit)

    for part in parts:
        assert utf16_len(part) <= limit
        assert parse_html(part).strip()
    joined = "".join(parse_html(p) for p in parts)
    assert re.sub(r"\s", "", joined) == re.sub(r"\s", "", parse_html(text))
