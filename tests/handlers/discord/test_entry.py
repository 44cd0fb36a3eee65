"""The composition root's entry point: settings in, a front-end that reaches the configured roots."""

from __future__ import annotations

import pytest

from bot.model.destinations import Destination
from bot.settings import load_settings
from handlers.discord import build_frontend
from tests.handlers.discord.conftest import Radar, World, alert_message


async def test_build_frontend_reaches_the_configured_api_and_gateway(
    world: World, radar: Radar
) -> None:
    fake = world.fake
    settings = load_settings(
        discord_token=fake.token,
        discord_api_url=fake.api_url,
        discord_gateway_url=fake.gateway_url,
        discord_guild_id=world.guild.id,
    )
    frontend = build_frontend(settings.discord, radar.service)
    assert frontend.name == "discord"
    assert frontend.notifier.scheme == "discord"
    await frontend.start()
    try:
        await fake.wait_connected()
        assert fake.identifies == 1
        assert fake.command_syncs == [world.guild.id]
        await frontend.notifier.send(Destination("discord", str(world.alerts.id)), alert_message())
        assert len(fake.messages_in(world.alerts.id)) == 1
        interaction = await fake.slash_command("help", channel=world.general)
        await interaction.wait_replies()
    finally:
        await frontend.stop()
        await frontend.stop()


async def test_a_refused_token_fails_the_start_clearly(world: World, radar: Radar) -> None:
    fake = world.fake
    settings = load_settings(
        discord_token="not-the-token",
        discord_api_url=fake.api_url,
        discord_gateway_url=fake.gateway_url,
    )
    frontend = build_frontend(settings.discord, radar.service)
    with pytest.raises(Exception, match="Discord refused DISCORD_TOKEN"):
        await frontend.start()
    await frontend.stop()
    assert fake.identifies == 0


def test_build_frontend_needs_a_token(radar: Radar) -> None:
    with pytest.raises(ValueError, match="DISCORD_TOKEN"):
        build_frontend(load_settings(discord_token=None).discord, radar.service)


async def test_a_start_that_failed_while_discord_was_down_succeeds_once_it_is_back(
    world: World, radar: Radar
) -> None:
    # A failed start closes its client; a later start must build a fresh one, not reuse a
    # client whose HTTP session is closed ("Session is closed" for ever, alerts queued).
    fake = world.fake
    settings = load_settings(
        discord_token=fake.token,
        discord_api_url=fake.api_url,
        discord_gateway_url=fake.gateway_url,
    )
    frontend = build_frontend(settings.discord, radar.service)
    fake.rest_down = True
    with pytest.raises(Exception, match="HTTP 503"):
        await frontend.start()
    with pytest.raises(Exception, match="HTTP 503"):
        await frontend.start()
    fake.rest_down = False
    await frontend.start()
    try:
        await frontend.notifier.send(Destination("discord", str(world.alerts.id)), alert_message())
        assert len(fake.messages_in(world.alerts.id)) == 1
    finally:
        await frontend.stop()
