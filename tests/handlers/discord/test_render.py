"""Renderings: alert colours and numbers, /status fields, and a big /status cut to Discord's size."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.commands import (
    EventInfo,
    MetricStatus,
    MuteInfo,
    RuleInfo,
    StatusReport,
    UniverseCoin,
    UniverseExclusion,
    UniverseStatus,
)
from bot.model.alerts import TONE_COLOURS, FeedNotice
from bot.model.metrics import register_pushed
from bot.model.regime import Reading
from handlers.discord.layout import Reply, pack
from handlers.discord.render import (
    alert_embed,
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


def test_colour_and_mark_follow_what_the_rule_means() -> None:
    rise = alert_embed(alert_message())
    assert rise.title == "🟢 Risk-on · Custom alert: btc_usd > 100000"
    assert rise.colour == TONE_COLOURS["risk-on"] == 0x2ECC71
    # A price rule that fires on a fall is risk-off, even when the value ticked up last.
    fall = alert_embed(
        alert_message(op="crosses below", direction="fall", value=58.8, previous=58.5)
    )
    assert fall.title.startswith("🔴 Risk-off · ")
    assert fall.colour == TONE_COLOURS["risk-off"] == 0xE74C3C


def test_a_resolved_risk_on_alert_is_a_move_toward_risk_off() -> None:
    embed = alert_embed(alert_message(state="resolved", value=98_000.0))
    assert embed.title == "🔴 Risk-off · Resolved: Custom alert: btc_usd > 100000"
    assert embed.colour == TONE_COLOURS["risk-off"]


def test_a_rule_on_a_metric_without_a_meaning_is_neutral() -> None:
    register_pushed(["others_d"])
    embed = alert_embed(alert_message(metric="others_d", rule_description="OTHERS.D > 9"))
    assert (embed.title, embed.colour) == ("🔵 Alert · OTHERS.D > 9", TONE_COLOURS["alert"])
    ended = alert_embed(
        alert_message(metric="others_d", rule_description="OTHERS.D > 9", state="resolved")
    )
    assert (ended.title, ended.colour) == ("⚪ Resolved: OTHERS.D > 9", TONE_COLOURS["resolved"])


def test_alert_states_its_value_once() -> None:
    embed = alert_embed(alert_message())
    shown = [embed.title, embed.description, *(f.value for f in embed.fields)]
    assert sum(part.count("$101,250") for part in shown) == 1
    assert {f.name: f.value for f in embed.fields}["Change"] == "+2.3% from $99,000"


def test_a_dominance_change_reads_in_percentage_points() -> None:
    embed = alert_embed(
        alert_message(metric="btc_dominance", value=58.8, previous=59.3, threshold=59.0)
    )
    assert {f.name: f.value for f in embed.fields}["Change"] == "−0.50 pp from 59.30%"


def test_alert_without_threshold_or_previous_has_no_such_fields() -> None:
    embed = alert_embed(
        alert_message(metric="rut", op=None, threshold=None, previous=None, value=2500.5)
    )
    assert [f.name for f in embed.fields] == ["Value", "Provider"]


def test_regime_alert_lists_its_components() -> None:
    readings = (
        Reading("asi", "Altcoin Season Index above 50", "yes", "ASI 55"),
        Reading("eth_btc", "ETH/BTC above its 50-day average", "no", "-1.20% vs its average"),
    )
    embed = alert_embed(
        alert_message(metric="risk_on", value=4.0, threshold=4.0, previous=3.0, op=">=",
                      components=readings)
    )  # fmt: skip
    assert embed.description.splitlines() == [
        "✅ Altcoin Season Index above 50 — ASI 55",
        "❌ ETH/BTC above its 50-day average — -1.20% vs its average",
    ]
    fields = {f.name: f.value for f in embed.fields}
    assert (fields["Rule"], fields["Change"]) == ("at or above 4 of 6", "up from 3")


def test_feed_notices_render_from_their_facts() -> None:
    since = datetime(2026, 3, 2, 12, 55, tzinfo=UTC)
    down = alert_message(
        rule_id="source-down:yahoo", metric="feed", value=0.0, threshold=None, previous=None,
        op=None, direction=None, source="radar", notice=FeedNotice("yahoo", since, "HTTP 503"),
    )  # fmt: skip
    embed = alert_embed(down)
    assert embed.title == "⚠️ Feed yahoo is down"
    assert embed.description == "Error: HTTP 503"
    assert [(f.name, f.value) for f in embed.fields] == [
        ("Failing since", "2026-03-02 12:55 UTC"),
        ("For", "1 h"),
    ]
    assert embed.colour == TONE_COLOURS["down"]
    back = alert_embed(replace(down, state="resolved", notice=FeedNotice("yahoo", since)))
    assert back.title == "✅ Feed yahoo answers again"
    assert back.colour == TONE_COLOURS["back"]


def test_status_marks_stale_metrics() -> None:
    report = StatusReport((metric_row(1), metric_row(2, stale=True)), (), AT)
    embed = status_embed(report)
    assert embed.description == "No rule is firing."
    stale = embed.fields[1]
    assert stale.name == "Metric number 2 (m2) ⚠️"
    assert "⚠️ stale: no update for 3 h" in stale.value
    assert embed.fields[0].value.splitlines()[:2] == ["**1**", "1 min ago · coingecko"]


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


def test_lists_render_as_markdown_lines() -> None:
    rules = (
        RuleInfo(
            "altseason", "Altcoin season", "asi", "asi >= 75", False, "firing", True, "risk-on"
        ),
        RuleInfo("c3", "Custom", "others_d", "others_d > 1", True, "inactive"),
    )
    text = rules_text(rules)
    assert "✅ `altseason` Altcoin season (`asi >= 75`, risk-on) — **firing**" in text
    assert "\n`c3` Custom (`others_d > 1`)" in text
    assert "No custom alerts" in rules_text((), custom_only=True)

    event = EventInfo(
        alert_message(event_id=7, rule_id="altseason", metric="asi", value=76.0, threshold=75.0,
                      previous=70.0, op=">=", at=AT)
    )  # fmt: skip
    assert (
        f"🟢 <t:{int(AT.timestamp())}:f> `altseason` Altcoin Season Index **76** "
        "(rule: at or above 75)" in history_text((event,))
    )
    assert mute_text(MuteInfo(AT)).startswith(
        f"🔕 Alerts here are muted until <t:{int(AT.timestamp())}"
    )


def test_status_asi_adds_the_universe_as_fields_discord_accepts() -> None:
    young = UniverseCoin("WLFI", "World Liberty Financial", None)
    coins = (*(UniverseCoin(f"COIN{i:08d}", f"Coin {i}", (i - 25) / 100) for i in range(49)), young)
    excluded = tuple(
        UniverseExclusion(f"PEG{i:09d}", f"Peg {i}", "pegged" if i % 2 else "Bridged-Tokens")
        for i in range(80)
    )
    universe = UniverseStatus(AT, -0.20, coins, excluded)
    report = StatusReport((metric_row(1),), (), AT, universe=universe)

    embed = status_embed(report)

    names = [f.name for f in embed.fields[1:]]
    assert names == [
        "ASI universe · 2026-03-02 14:30 UTC",
        "✅ Beat Bitcoin (43)",
        "❌ Behind (6)",
        "❔ No 90-day close (1)",
        "🚫 Excluded (80)",
    ]
    assert embed.fields[1].value == "Bitcoin over 90 days: **−20.0%** · 43 of 49 coins beat it"
    assert embed.fields[3].value.startswith("COIN00000005 −20.0%, COIN00000004 −21.0%")
    assert embed.fields[5].value.endswith("more")
    for message in pack(Reply(embeds=(embed,))):
        payload = {"embeds": [to_embed(e).to_dict() for e in message.embeds]}
        assert message_problem(payload) is None


def test_status_asi_says_when_the_universe_is_not_computed_yet() -> None:
    report = StatusReport((metric_row(1),), (), AT, universe=UniverseStatus(None))
    (field,) = status_embed(report).fields[1:]
    assert (field.name, field.value) == ("ASI universe", "not computed yet")
