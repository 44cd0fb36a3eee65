"""Telegram, Discord, the console and webhooks agree on what every built-in rule means.

Each rule's firing is risk-on (bullish for altcoins) or risk-off by its metric's declaration in
the catalogue; a resolution points the other way. Both chat front-ends show the same mark for it,
Discord in the colour of that mark, and every front-end writes an age the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.commands import MetricStatus, StatusReport
from bot.delivery.notifiers import console_line, webhook_payload
from bot.model.alerts import AlertMessage, AlertState, FeedNotice, direction_of
from bot.model.formatting import format_age, format_ago
from bot.model.metrics import Lean, metric_info
from bot.model.regime import Reading
from bot.model.rules import BUILTIN_RULES, Rule
from handlers.discord.layout import Reply, pack
from handlers.discord.render import alert_embed, status_embed, to_embed
from handlers.telegram.render import render_alert, render_status, utf16_len
from tests.fakes.discord_api import message_problem
from tests.fakes.telegram_api import parse_html

AT = datetime(2026, 3, 14, 14, 5, tzinfo=UTC)

# What each built-in rule's firing means for the rotation thesis: pinned here so that a change
# to a metric's declaration (`MetricInfo.rising`) shows up as a failing line.
MEANINGS: dict[str, Lean] = {
    "asi-above-50": "risk-on",
    "altseason": "risk-on",
    "bitcoin-season": "risk-off",
    "btc-dominance-below-59": "risk-on",
    "rut-new-high": "risk-on",
    "rut-beats-spx-9": "risk-on",
    "eth-btc-rising": "risk-on",
    "btc-100k": "risk-on",
    "eth-5200": "risk-on",
    "sol-280": "risk-on",
    "alt-longs-dominate": "risk-on",
    "alt-volume-surge": "risk-on",
    "altbtc-macd-bullish": "risk-on",
    "altbtc-rsi-oversold": "risk-off",
    "liquidity-rising": "risk-on",
    "etf-inflow-streak": "risk-on",
    "risk-on-regime": "risk-on",
}
# One mark, one word and one embed colour per meaning, on every front-end.
LOOKS: dict[Lean, tuple[str, int]] = {
    "risk-on": ("🟢 Risk-on · ", 0x2ECC71),
    "risk-off": ("🔴 Risk-off · ", 0xE74C3C),
}
OTHER: dict[Lean, Lean] = {"risk-on": "risk-off", "risk-off": "risk-on"}
COMPONENTS = tuple(
    Reading(f"k{i}", f"Component <{i}> & more", "yes" if i % 2 else "no", "n" * 300)
    for i in range(6)
)


def alert_for(rule: Rule, state: AlertState) -> AlertMessage:
    """Return an alert of `rule` as the engine records it, with a plausible value."""
    threshold = rule.threshold if rule.threshold is not None else 2_000.0
    step = 1.0 if metric_info(rule.metric).counts else abs(threshold) * 0.01 or 1.0
    fired_up = rule.rises == (state == "firing")
    value = threshold + step if fired_up else threshold - step
    return AlertMessage(
        event_id=7,
        rule_id=rule.id,
        rule_description=rule.description,
        state=state,
        metric=rule.metric,
        value=value,
        threshold=rule.threshold,
        previous=value - step if fired_up else value + step,
        source="test",
        at=AT,
        op=rule.op,
        direction=direction_of(rule.op),
        components=COMPONENTS if rule.id == "risk-on-regime" else (),
    )


def test_every_built_in_rule_has_a_pinned_meaning() -> None:
    assert {r.id for r in BUILTIN_RULES} == set(MEANINGS)
    assert {r.id: r.lean for r in BUILTIN_RULES} == MEANINGS


@pytest.mark.parametrize("rule", BUILTIN_RULES, ids=lambda r: r.id)
@pytest.mark.parametrize("state", ["firing", "resolved"])
def test_both_platforms_mark_and_colour_a_rule_by_its_meaning(
    rule: Rule, state: AlertState
) -> None:
    meaning = MEANINGS[rule.id] if state == "firing" else OTHER[MEANINGS[rule.id]]
    prefix, colour = LOOKS[meaning]
    message = alert_for(rule, state)
    assert message.lean == meaning

    html = render_alert(message)
    assert parse_html(html).startswith(prefix)
    assert utf16_len(html) <= 4096
    embed = alert_embed(message)
    assert embed.title.startswith(prefix)
    assert embed.colour == colour
    for outgoing in pack(Reply(embeds=(embed,))):
        assert message_problem({"embeds": [to_embed(e).to_dict() for e in outgoing.embeds]}) is None
    assert console_line(message).startswith(prefix)
    assert str(webhook_payload(message)["text"]).startswith(prefix)
    if state == "resolved":
        assert prefix + "Resolved: " + rule.description in parse_html(html)


def test_a_change_of_a_count_is_never_a_percent() -> None:
    for rule in BUILTIN_RULES:
        if not metric_info(rule.metric).counts:
            continue
        html = parse_html(render_alert(alert_for(rule, "firing")))
        change = next(line for line in html.splitlines() if line.startswith("Change: "))
        assert "%" not in change and change.startswith("Change: up from "), (rule.id, change)


def test_one_age_format_on_every_front_end() -> None:
    age = timedelta(hours=31, minutes=45)
    row = MetricStatus(
        "rut", "Russell 2000 close", 2291.37, "2,291.37", AT - age, age, "yahoo", False, None
    )
    report = StatusReport((row,), (), AT)
    assert format_ago(age) == "31 h ago"
    assert "31 h ago" in parse_html(render_status(report))
    assert status_embed(report).fields[0].value.splitlines()[1] == "31 h ago · yahoo"
    notice = AlertMessage(
        event_id=9,
        rule_id="source-down:yahoo",
        rule_description="Feed yahoo is down",
        state="firing",
        metric="feed",
        value=0.0,
        threshold=None,
        previous=None,
        source="radar",
        at=AT,
        op=None,
        direction=None,
        notice=FeedNotice("yahoo", AT - age, "HTTP 503"),
    )
    shown = format_age(age)
    assert shown == "31 h"
    assert f"Failing for {shown}, since" in parse_html(render_alert(notice))
    assert ("For", shown) in [(f.name, f.value) for f in alert_embed(notice).fields]
    assert f"failing for {shown}, since" in console_line(notice)
    assert f"failing for {shown}, since" in str(webhook_payload(notice)["text"])
