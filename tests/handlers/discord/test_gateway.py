"""The gateway's fate never stops alerts: drops resume, fatal closes reconnect, REST carries on."""

from __future__ import annotations

import asyncio

from bot.model.destinations import Destination
from tests.fakes.discord_api import option
from tests.handlers.discord.conftest import StartFrontEnd, World, alert_message


class GatedSleep:
    """A sleep that records each delay and returns only when the test opens the gate."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        self.waiting.set()
        await self.gate.wait()


async def test_connection_is_identified_with_zlib_stream(
    start_frontend: StartFrontEnd, world: World
) -> None:
    await start_frontend()
    fake = world.fake
    assert fake.identifies == 1
    assert fake.compression == "zlib-stream"
    assert fake.heartbeats >= 1
    # GUILDS only: the bot needs no privileged intent.
    assert fake.intents == 1


async def test_dropped_gateway_resumes_and_replays_missed_interactions(
    start_frontend: StartFrontEnd, world: World
) -> None:
    await start_frontend()
    fake = world.fake
    await fake.drop_gateway(code=4000)
    # Dispatched while the bot is disconnected: it arrives through the RESUME replay.
    interaction = await fake.slash_command("help", channel=world.general)
    [reply] = await interaction.wait_replies(timeout=10)
    assert "/subscribe" in reply.content
    assert (fake.identifies, fake.resumes) == (1, 1)


async def test_alerts_go_out_while_the_gateway_is_down(
    start_frontend: StartFrontEnd, world: World
) -> None:
    frontend = await start_frontend()
    fake = world.fake
    fake.gateway_open = False
    await fake.drop_gateway(code=4000)
    await frontend.notifier.send(Destination("discord", str(world.alerts.id)), alert_message())
    assert len(fake.messages_in(world.alerts.id)) == 1


async def test_fatal_close_reconnects_with_a_fresh_client_and_alerts_continue(
    start_frontend: StartFrontEnd, world: World
) -> None:
    sleep = GatedSleep()
    frontend = await start_frontend(sleep=sleep)
    fake = world.fake
    # 4014: Discord refuses the intents; discord.py closes the client for good.
    await fake.drop_gateway(code=4014)
    await asyncio.wait_for(sleep.waiting.wait(), 5)
    assert sleep.delays == [5.0]

    await frontend.notifier.send(Destination("discord", str(world.alerts.id)), alert_message())
    assert len(fake.messages_in(world.alerts.id)) == 1

    sleep.gate.set()
    await fake.wait_connected()
    await frontend.wait_until_ready()
    assert fake.identifies == 2
    interaction = await fake.slash_command(
        "status", [option("metric", "asi")], channel=world.general
    )
    [reply] = await interaction.wait_replies()
    assert reply.embeds[0]["title"] == "Risk-On Radar — status"
