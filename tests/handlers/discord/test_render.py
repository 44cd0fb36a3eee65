"""Renderings: alert colours and numbers, /status fields, and a big /status cut to Discord's size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.commands import EventInfo, MetricStatus, MuteInfo, RuleInfo, StatusReport
from handlers.discord.layout import Reply, pack
from handlers.discord.render import (
    Direction,
    age_text,
    alert_embed,
    change_text,
    direction,
    history_text,
    mute_text,
    rules_text,
    status_embed,
    to_embed,
)
from tests.fakes.discord_api import message_problem
from tests.handlers.discord.conftest import alert_message

AT = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def metric_row(index: int, *, stale: bool = False) -> MetricStatus:
    return MetricStatus(
        metric=f"m{index}",
        label=f"Metric number {index}",
        value=float(index),
        formatted=f"{index:,}",
        at=AT - timedelta(minutes=index),
        age=timedelta(minutes=index),
        source="coingecko",
        stale=stale,
        stale_reason="no update for 3 h" if stale else None,
        detail=(("note", "n" * 200),),
    )


def test_direction_follows_the_previous_value_then_the_threshold() -> None:
    assert direction(alert_message()) is Direction.UP
    assert direction(alert_message(value=95_000.0, previous=99_000.0)) is Direction.DOWN
    assert direction(alert_message(previous=None, value=95_000.0)) is Direction.DOWN
    assert direction(alert_message(previous=None, threshold=None)) is Direction.FLAT
    assert direction(alert_message(state="resolved")) is Direction.RESOLVED


def test_change_reads_as_signed_amount_and_percent() -> None:
    assert change_text(alert_message()) == "+$2,250 (+2.27%) from $99,000"
    down = alert_message(metric="btc_dominance", value=58.8, previous=59.3)
    assert change_text(down) == "−0.50% (−0.84%) from 59.30%"
    assert change_text(alert_message(previous=None)) is None


def test_resolved_alert_is_grey_and_says_so() -> None:
    embed = alert_embed(alert_message(state="resolved", value=98_000.0))
    assert embed.title == "✅ Resolved: Custom alert: btc_usd > 100000"
    assert embed.colour == Direction.RESOLVED.value


def test_alert_without_threshold_or_previous_has_no_such_fields() -> None:
    embed = alert_embed(alert_message(metric="rut", threshold=None, previous=None, value=2500.5))
    assert [f.name for f in embed.fields] == ["Value", "Provider"]


def test_status_marks_stale_metrics() -> None:
    report = StatusReport((metric_row(1), metric_row(2, stale=True)), (), AT)
    embed = status_embed(report)
    assert embed.description == "No rule is firing."
    stale = embed.fields[1]
    assert stale.name == "Metric number 2 (m2) ⚠️"
    assert "⚠️ stale: no update for 3 h" in stale.value
    assert embed.fields[0].value.splitlines()[:2] == ["**1**", "1m ago · coingecko"]


def test_a_status_of_30_metrics_is_split_into_messages_discord_accepts() -> None:
    firing = tuple(
        RuleInfo(f"rule-{i}", "d" * 300, "asi", "asi > 1", False, "firing") for i in range(20)
    )
    report = StatusReport(tuple(metric_row(i) for i in range(30)), firing, AT)
    messages = pack(Reply(embeds=(status_embed(report),)))
    embeds = [to_embed(e).to_dict() for m in messages for e in m.embeds]
    for message in messages:
        payload = {"embeds": [to_embed(e).to_dict() for e in message.embeds]}
        assert message_problem(payload) is None
    assert sum(len(e.get("fields", [])) for e in embeds) == 30
    assert len(embeds) >= 2
    assert embeds[0]["title"] == "Risk-On Radar — status"
    assert "timestamp" in embeds[-1]


def test_ages_are_compact() -> None:
    assert [age_text(timedelta(seconds=s)) for s in (5, 300, 3600, 3900, 200_000)] == [
        "5s",
        "5m",
        "1h",
        "1h 5m",
        "2d 7h",
    ]


def test_lists_render_as_markdown_lines() -> None:
    rules = (
        RuleInfo("altseason", "Altcoin season", "asi", "asi >= 75", False, "firing", True),
        RuleInfo("c3", "Custom", "btc_usd", "btc_usd > 1", True, "inactive"),
    )
    text = rules_text(rules)
    assert "✅ `altseason` Altcoin season (`asi >= 75`) — **firing**" in text
    assert "\n`c3` Custom (`btc_usd > 1`)" in text
    assert "No custom alerts" in rules_text((), custom_only=True)

    event = EventInfo(7, "altseason", "firing", "asi", 76.0, 75.0, AT, "ASI hit 76")
    assert f"🔔 <t:{int(AT.timestamp())}:f> `altseason` 76 — ASI hit 76" in history_text((event,))
    assert mute_text(MuteInfo(AT)).startswith(
        f"🔕 Alerts here are muted until <t:{int(AT.timestamp())}"
    )
