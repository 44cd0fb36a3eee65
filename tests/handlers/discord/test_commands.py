"""Slash commands end to end: the fake gateway dispatches, discord.py runs them, the fake records."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import timedelta
from typing import Any

import pytest

from bot.commands import Caller
from bot.model.destinations import Destination
from handlers.discord.frontend import DiscordFrontEnd
from handlers.telegram.render import render_start
from signals.types import Sample
from tests.fakes.discord_api import EPHEMERAL, MANAGE_CHANNELS, option, subcommand
from tests.fakes.telegram_api import parse_html
from tests.handlers.discord.conftest import (
    Radar,
    SlowService,
    StartFrontEnd,
    World,
    slow_commands,
)

EXPECTED = {"status", "rules", "subscribe", "unsubscribe", "alert", "alerts", "mute", "unmute"}
EXPECTED |= {"history", "backtest", "chart", "help", "start", "quiet", "timezone"}


def caller_in(channel_id: int, user: int) -> Caller:
    return Caller(Destination("discord", str(channel_id)), f"discord:{user}", False)


async def subscribed(radar: Radar, channel_id: int) -> set[str]:
    rules = await radar.service.rules(caller_in(channel_id, 0))
    return {r.id for r in rules if r.subscribed}


def by_name(commands: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in commands}


async def test_commands_are_synced_globally_with_typed_options(
    frontend: DiscordFrontEnd, world: World
) -> None:
    fake = world.fake
    assert fake.command_syncs == [None]
    commands = by_name(fake.global_commands)
    assert set(commands) == EXPECTED

    subscribe = commands["subscribe"]
    assert subscribe["default_member_permissions"] == str(MANAGE_CHANNELS)
    assert sorted(subscribe["contexts"]) == [0, 1]
    options = by_name(subscribe["options"])
    assert options["rules"]["type"] == 3
    assert options["rules"]["required"] is True
    assert options["rules"]["autocomplete"] is True
    assert options["channel"]["type"] == 7
    assert sorted(options["channel"]["channel_types"]) == [0, 5]

    assert commands["status"].get("default_member_permissions") is None
    assert by_name(commands["status"]["options"])["metric"]["autocomplete"] is True
    count = by_name(commands["history"]["options"])["count"]
    assert (count["type"], count["min_value"], count["max_value"]) == (4, 1, 50)

    alert = commands["alert"]
    assert alert["default_member_permissions"] == str(MANAGE_CHANNELS)
    add = by_name(alert["options"])["add"]
    add_options = by_name(add["options"])
    assert add_options["value"]["type"] == 10
    conditions = {c["value"] for c in add_options["condition"]["choices"]}
    assert conditions == {">", "<", ">=", "<=", "crosses above", "crosses below", "new high"}

    backtest = by_name(commands["backtest"]["options"])
    assert (backtest["rule"]["type"], backtest["rule"]["required"]) == (3, True)
    years = backtest["years"]
    assert (years["type"], years["min_value"], years["max_value"]) == (4, 1, 50)


async def test_commands_sync_to_one_guild_when_configured(
    start_frontend: StartFrontEnd, world: World, radar: Radar
) -> None:
    fake = world.fake
    await start_frontend(guild_id=world.guild.id)
    assert fake.command_syncs == [world.guild.id]
    assert fake.global_commands == []
    assert {c["name"] for c in fake.guild_commands[world.guild.id]} == EXPECTED

    interaction = await fake.slash_command(
        "subscribe",
        [option("rules", "altseason")],
        channel=world.alerts,
        user_id=world.moderator,
        manage_channels=True,
    )
    await interaction.wait_replies()
    assert await subscribed(radar, world.alerts.id) == {"altseason"}


async def test_moderator_subscribes_the_channel(
    frontend: DiscordFrontEnd, world: World, radar: Radar
) -> None:
    interaction = await world.fake.slash_command(
        "subscribe",
        [option("rules", "altseason rut-new-high")],
        channel=world.alerts,
        user_id=world.moderator,
        manage_channels=True,
    )
    [reply] = await interaction.wait_replies()
    assert not reply.ephemeral
    assert "Subscribed this channel to `altseason`, `rut-new-high`" in reply.content
    assert await subscribed(radar, world.alerts.id) == {"altseason", "rut-new-high"}


async def test_plain_member_is_refused_ephemerally(
    frontend: DiscordFrontEnd, world: World, radar: Radar
) -> None:
    interaction = await world.fake.slash_command(
        "subscribe", [option("rules", "all")], channel=world.alerts, user_id=world.member
    )
    [reply] = await interaction.wait_replies()
    assert reply.ephemeral
    assert interaction.callbacks[0]["data"]["flags"] & EPHEMERAL
    assert reply.content == (
        "Changing a server channel's alerts needs the Manage Channels permission in that "
        "channel (or Administrator); anyone can read them."
    )
    assert await subscribed(radar, world.alerts.id) == set()


async def test_moderator_subscribes_another_channel_from_anywhere(
    frontend: DiscordFrontEnd, world: World, radar: Radar
) -> None:
    fake = world.fake
    interaction = await fake.slash_command(
        "subscribe",
        [option("rules", "all"), option("channel", str(world.alerts.id), 7)],
        resolved=fake.resolved_channel(world.alerts, manage_channels=True),
        channel=world.general,
        user_id=world.moderator,
        manage_channels=True,
    )
    [reply] = await interaction.wait_replies()
    assert f"Subscribed <#{world.alerts.id}> to `all`" in reply.content
    assert await subscribed(radar, world.alerts.id) >= {"altseason", "rut-new-high"}
    assert await subscribed(radar, world.general.id) == set()


async def test_target_channel_needs_manage_channels_there_too(
    frontend: DiscordFrontEnd, world: World, radar: Radar
) -> None:
    fake = world.fake
    interaction = await fake.slash_command(
        "subscribe",
        [option("rules", "all"), option("channel", str(world.alerts.id), 7)],
        resolved=fake.resolved_channel(world.alerts, manage_channels=False),
        channel=world.general,
        user_id=world.moderator,
        manage_channels=True,
    )
    [reply] = await interaction.wait_replies()
    assert reply.ephemeral
    assert await subscribed(radar, world.alerts.id) == set()


async def test_dm_subscribes_the_dm_channel_for_anyone(
    frontend: DiscordFrontEnd, world: World, radar: Radar
) -> None:
    interaction = await world.fake.slash_command(
        "subscribe", [option("rules", "bitcoin-season")], channel=world.dm
    )
    [reply] = await interaction.wait_replies()
    assert not reply.ephemeral
    assert await subscribed(radar, world.dm.id) == {"bitcoin-season"}


async def test_status_is_an_embed_with_a_field_per_metric(
    frontend: DiscordFrontEnd, world: World, radar: Radar
) -> None:
    await radar.feed(asi=80.0, btc_dominance=57.3, btc_usd=101_250.0)
    interaction = await world.fake.slash_command("status", channel=world.general)
    [reply] = await interaction.wait_replies()
    assert not reply.ephemeral
    [embed] = reply.embeds
    assert embed["title"] == "Risk-On Radar — status"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert {
        "Altcoin Season Index (asi)",
        "Bitcoin dominance (btc_dominance)",
        "Bitcoin price (btc_usd)",
    } <= set(fields)
    assert fields["Bitcoin price (btc_usd)"].startswith("**$101,250**")
    assert "5 min ago · coingecko" in fields["Altcoin Season Index (asi)"]
    assert "🟢 `altseason`" in embed["description"]


async def test_unknown_metric_gets_an_ephemeral_usage_reply(
    frontend: DiscordFrontEnd, world: World
) -> None:
    interaction = await world.fake.slash_command(
        "status", [option("metric", "moon_phase")], channel=world.general
    )
    [reply] = await interaction.wait_replies()
    assert reply.ephemeral
    assert "unknown metric 'moon_phase'" in reply.content


async def test_unknown_rule_ids_get_an_ephemeral_reply(
    frontend: DiscordFrontEnd, world: World, radar: Radar
) -> None:
    interaction = await world.fake.slash_command(
        "subscribe",
        [option("rules", "altseason to-the-moon")],
        channel=world.alerts,
        user_id=world.moderator,
        manage_channels=True,
    )
    [reply] = await interaction.wait_replies()
    assert reply.ephemeral
    assert "unknown rule 'to-the-moon'" in reply.content
    assert await subscribed(radar, world.alerts.id) == set()


async def test_custom_alert_lifecycle(frontend: DiscordFrontEnd, world: World) -> None:
    add = subcommand(
        "add", option("metric", "btc_usd"), option("condition", ">"), option("value", 100_000, 10)
    )
    added = await world.as_moderator("alert", add)
    [reply] = await added.wait_replies()
    assert "`btc_usd > 100000`" in reply.content

    listed = await world.fake.slash_command("alerts", channel=world.alerts)
    [reply] = await listed.wait_replies()
    assert "btc_usd > 100000" in reply.content
    rule_id = reply.content.split("`")[1]

    removed = await world.as_moderator("alert", subcommand("remove", option("id", rule_id)))
    [reply] = await removed.wait_replies()
    assert reply.content == f"Removed alert `{rule_id}`."


async def test_new_high_alert_takes_no_value(frontend: DiscordFrontEnd, world: World) -> None:
    metric, high = option("metric", "rut"), option("condition", "new high")
    interaction = await world.as_moderator(
        "alert", subcommand("add", metric, high, option("value", 5, 10))
    )
    [reply] = await interaction.wait_replies()
    assert reply.ephemeral
    assert "new high takes no value" in reply.content

    interaction = await world.as_moderator("alert", subcommand("add", metric, high))
    [reply] = await interaction.wait_replies()
    assert "`rut new high`" in reply.content


async def test_mute_unmute_and_history(frontend: DiscordFrontEnd, world: World) -> None:
    muted = await world.as_moderator("mute", option("duration", "2h"))
    [reply] = await muted.wait_replies()
    assert "muted until <t:" in reply.content

    refused = await world.as_moderator("mute", option("duration", "forever"))
    [reply] = await refused.wait_replies()
    assert reply.ephemeral
    assert "not a duration" in reply.content

    unmuted = await world.as_moderator("unmute")
    [reply] = await unmuted.wait_replies()
    assert "back on" in reply.content

    history = await world.fake.slash_command(
        "history", [option("count", 5, 4)], channel=world.alerts
    )
    [reply] = await history.wait_replies()
    assert reply.content == "No alert has been sent here yet."


async def test_backtest_answers_with_the_summary_or_one_usage_line(
    frontend: DiscordFrontEnd, world: World, radar: Radar
) -> None:
    first = radar.clock.now - timedelta(days=40)
    await radar.store.save_history(
        [
            Sample("asi", v, first + timedelta(days=5 * k), "import")
            for k, v in enumerate([40.0, 52.0, 45.0, 51.0])
        ]
    )
    asked = await world.fake.slash_command(
        "backtest", [option("rule", "asi-above-50"), option("years", 2, 4)], channel=world.alerts
    )
    [reply] = await asked.wait_replies()
    lines = reply.content.splitlines()
    assert lines[0] == "**Backtest of asi-above-50: asi crosses above 50 (re-arms below 46)**"
    assert sum("fired at" in line for line in lines) == 2
    assert lines[-1].startswith("Fired 2 times")

    wrong = await world.fake.slash_command(
        "backtest", [option("rule", "asi > 200")], channel=world.alerts
    )
    [reply] = await wrong.wait_replies()
    assert reply.ephemeral
    assert reply.content == (
        "asi is an index from 0 to 100; got 200. Usage: /backtest <rule | metric op value> "
        "[years], e.g. /backtest asi-above-50 2"
    )


async def test_rules_marks_subscriptions(
    frontend: DiscordFrontEnd, world: World, radar: Radar
) -> None:
    await radar.service.subscribe(
        Caller(Destination("discord", str(world.alerts.id)), "discord:1", True), ["altseason"]
    )
    interaction = await world.fake.slash_command("rules", channel=world.alerts)
    [reply] = await interaction.wait_replies()
    assert "✅ `altseason`" in reply.content
    assert "✅ `bitcoin-season`" not in reply.content
    assert "`bitcoin-season`" in reply.content


async def test_autocomplete_offers_metric_and_rule_ids(
    frontend: DiscordFrontEnd, world: World
) -> None:
    fake = world.fake
    metric = await fake.autocomplete(
        "status", [option("metric", "btc", focused=True)], channel=world.general
    )
    names = [c["value"] for c in await metric.wait_choices()]
    assert names[:2] == ["btc_dominance", "btc_usd"]

    rules = await fake.autocomplete(
        "subscribe", [option("rules", "altseason a", focused=True)], channel=world.alerts
    )
    offered = [c["value"] for c in await rules.wait_choices()]
    assert offered[:2] == ["altseason all", "altseason asi-above-50"]
    assert all(len(c) <= 100 for c in offered)


async def test_slow_answer_is_deferred_then_filled_in(
    start_frontend: StartFrontEnd, world: World, radar: Radar
) -> None:
    service = SlowService(radar.store, radar.engine, radar.clock)
    service.release = asyncio.Event()
    await start_frontend(service=service, commands=slow_commands(service))
    interaction = await world.fake.slash_command("status", channel=world.general)
    deferred = await interaction.wait_callback(5)
    assert not int(deferred.get("data", {}).get("flags") or 0) & EPHEMERAL
    assert interaction.visible() == []

    service.release.set()
    [reply] = await interaction.wait_replies()
    assert reply.embeds[0]["title"] == "Risk-On Radar — status"
    assert not reply.ephemeral


async def test_slow_refusal_after_deferring_stays_private(
    start_frontend: StartFrontEnd, world: World, radar: Radar
) -> None:
    service = SlowService(radar.store, radar.engine, radar.clock)
    service.release = asyncio.Event()
    await start_frontend(service=service, commands=slow_commands(service))
    interaction = await world.fake.slash_command(
        "status", [option("metric", "nope")], channel=world.general
    )
    await interaction.wait_callback(5)
    service.release.set()
    [reply] = await interaction.wait_replies()
    assert reply.ephemeral
    assert "unknown metric" in reply.content


async def test_malformed_options_get_a_usage_reply(frontend: DiscordFrontEnd, world: World) -> None:
    asi, above = option("metric", "asi"), option("condition", ">")
    cases = [
        ("history", [option("count", 0, 4)], "count must be from 1 to 50"),
        ("history", [option("count", "many", 4)], "count must be a whole number"),
        (
            "alert",
            [subcommand("add", asi, above, option("value", "x", 10))],
            "value must be a number",
        ),
        ("alert", [subcommand("add", asi, option("condition", "~"))], "condition must be one of"),
        ("status", [option("colour", "blue")], "unknown option 'colour'"),
        ("subscribe", [], "missing rules"),
        ("subscribe", [option("rules", "all"), option("channel", "123", 7)], "channel must be"),
    ]
    for name, options, expected in cases:
        interaction = await world.as_moderator(name, *options)
        [reply] = await interaction.wait_replies()
        assert reply.ephemeral, name
        assert expected in reply.content, reply.content
        assert "Usage: `/" in reply.content


async def test_start_greets_as_telegram_does_then_lists_the_commands(
    frontend: DiscordFrontEnd, world: World
) -> None:
    interaction = await world.fake.slash_command("start", channel=world.general)
    [reply] = await interaction.wait_replies()
    assert not reply.ephemeral
    greeting = (
        "Risk-On Radar watches the signals behind the small-caps-then-altcoins rotation and "
        "tells this chat the moment a rule you subscribe to fires.\n"
        "Start with /rules, then /subscribe.\n\n"
    )
    assert reply.content.replace("**", "").startswith(greeting)
    assert parse_html(render_start()).startswith(greeting)
    assert "`/start` — Introduce the bot and list the commands" in reply.content
    assert "`/status [metric]`" in reply.content


async def test_unknown_command_gets_an_answer(frontend: DiscordFrontEnd, world: World) -> None:
    interaction = await world.fake.slash_command("no-such-command", channel=world.general)
    [reply] = await interaction.wait_replies()
    assert reply.ephemeral
    assert "/help" in reply.content


VALUES: dict[int, list[Any]] = {
    3: ["", " ", "all", "asi", "btc_usd", "altseason", "c1", "💥" * 50, "x" * 3000, "a\nb", "1d"],
    4: [-1, 0, 1, 50, 51, 10**20],
    10: [0, -1.5, 1e300, 100_000, 59.5],
    5: [True, False],
    7: ["1", "0"],
}
JUNK: list[Any] = [None, "NaN", "7", True, 3.5, [], {"a": 1}, "x", -(2**70)]


def _random_options(rng: random.Random, declared: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pick some of the declared options (and now and then a stranger) with random values."""
    options = []
    for spec in rng.sample(declared, rng.randint(0, len(declared))):
        kind = spec["type"]
        pool = VALUES.get(kind, JUNK) if rng.random() < 0.7 else JUNK
        if "choices" in spec and rng.random() < 0.5:
            pool = [c["value"] for c in spec["choices"]]
        options.append(option(spec["name"], rng.choice(pool), kind))
    if rng.random() < 0.15:
        options.append(option("bogus", rng.choice(JUNK)))
    return options


async def test_random_option_values_never_go_unanswered(
    frontend: DiscordFrontEnd, world: World, radar: Radar, caplog: pytest.LogCaptureFixture
) -> None:
    fake = world.fake
    await radar.feed(asi=55.0, btc_usd=90_000.0)
    commands = by_name(fake.global_commands)
    rng = random.Random(20260302)
    for round_ in range(80):
        name = rng.choice(sorted(commands))
        declared = commands[name].get("options", [])
        if name == "alert":
            sub = rng.choice(declared)
            options = [subcommand(sub["name"], *_random_options(rng, sub.get("options", [])))]
        else:
            options = _random_options(rng, declared)
        channel = rng.choice([world.alerts, world.general, world.dm])
        interaction = await fake.slash_command(
            name, options, channel=channel, manage_channels=rng.random() < 0.5
        )
        replies = await interaction.wait_replies()
        assert replies, (round_, name, options)
        assert all(r.content or r.embeds for r in replies)

    still_alive = await fake.slash_command("help", channel=world.general)
    [reply] = await still_alive.wait_replies()
    assert "/status" in reply.content
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures == []


async def test_quiet_hours_and_time_zone(frontend: DiscordFrontEnd, world: World) -> None:
    zone = await world.as_moderator("timezone", option("zone", "Europe/Berlin"))
    [reply] = await zone.wait_replies()
    assert reply.content.startswith("Times here are shown in Europe/Berlin: it is ")
    assert reply.content.endswith(("CET now.", "CEST now."))

    quiet = await world.as_moderator("quiet", option("hours", "23:00-07:00"))
    [reply] = await quiet.wait_replies()
    assert reply.content.startswith("🌙 Quiet hours here: 23:00-07:00 Europe/Berlin, every day.")

    bad = await world.as_moderator("quiet", option("hours", "23:00-7"))
    [reply] = await bad.wait_replies()
    assert reply.ephemeral
    assert reply.content == (
        "'7' is not a time of day HH:MM. Usage: /quiet <HH:MM-HH:MM> [zone] | off, "
        "e.g. /quiet 23:00-07:00 Europe/Berlin"
    )

    # Anyone may look; only a moderator may change.
    shown = await world.fake.slash_command("quiet", channel=world.alerts, user_id=world.member)
    [reply] = await shown.wait_replies()
    assert "23:00-07:00 Europe/Berlin" in reply.content
    refused = await world.fake.slash_command(
        "quiet", [option("hours", "off")], channel=world.alerts, user_id=world.member
    )
    [reply] = await refused.wait_replies()
    assert reply.ephemeral
    assert "Manage Channels" in reply.content

    off = await world.as_moderator("quiet", option("hours", "off"))
    [reply] = await off.wait_replies()
    assert reply.content == "Quiet hours are off here."
