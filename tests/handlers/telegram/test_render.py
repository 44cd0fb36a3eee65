"""Telegram HTML: every dynamic value escaped, long messages split where Telegram allows."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.commands import MetricStatus, RuleInfo, StatusReport, SubscriptionChange
from bot.model.alerts import AlertMessage
from handlers.telegram.render import (
    escape,
    format_age,
    render_alert,
    render_help,
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
    assert parse_html(text).count("\n") == 11


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
    rows = [line.split() for line in parse_html(table.group(1)).splitlines()]
    assert rows == [
        ["metric", "value", "age", "source"],
        ["asi", "61", "5m", "coingecko"],
        ["btc_dominance*", "58.40%", "2h", "coingecko"],
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
        "rule_description": "Bitcoin dominance below 59%",
        "state": "resolved",
        "metric": "btc_dominance",
        "value": 59.5,
        "threshold": 59.0,
        "previous": 60.25,
        "source": "coinpaprika",
        "at": datetime(2026, 1, 5, 9, 5),
        "text": "",
    }
    base.update(changes)
    return AlertMessage(**base)  # type: ignore[arg-type]


def test_resolved_alert_with_a_fall_and_a_naive_time() -> None:
    assert parse_html(render_alert(alert())).splitlines() == [
        "🟢 Resolved: Bitcoin dominance below 59%",
        "Rule: btc-dominance-below-59",
        "Bitcoin dominance: 59.50% (threshold 59.00%)",
        "Change: -0.75% from 60.25% (-1.2%)",
        "Source: coinpaprika · 2026-01-05 09:05 UTC",
    ]


def test_alert_without_threshold_or_previous_value() -> None:
    lines = parse_html(render_alert(alert(threshold=None, previous=None))).splitlines()

    assert "Bitcoin dominance: 59.50%" in lines
    assert not any(line.startswith("Change") for line in lines)


@pytest.mark.parametrize(
    ("age", "shown"),
    [(None, "-"), (timedelta(seconds=-3), "0s"), (timedelta(seconds=59), "59s"),
     (timedelta(minutes=61), "1h"), (timedelta(days=3, hours=5), "3d")],
)  # fmt: skip
def test_ages_show_their_largest_unit(age: timedelta | None, shown: str) -> None:
    assert format_age(age) == shown


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

    parts = split_html(text, limit=limit)

    for part in parts:
        assert utf16_len(part) <= limit
        assert parse_html(part).strip()
    joined = "".join(parse_html(p) for p in parts)
    assert re.sub(r"\s", "", joined) == re.sub(r"\s", "", parse_html(text))
