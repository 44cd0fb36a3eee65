"""`/chart` on Discord: an embed whose image is the PNG attached to the same message."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.commands import Caller, ChartReport, CommandService
from handlers.discord.frontend import DiscordFrontEnd
from signals.types import FetchResult, Sample
from tests.bot.charts.test_render import png_size
from tests.fakes.discord_api import option
from tests.handlers.discord.conftest import (
    Radar,
    SlowService,
    StartFrontEnd,
    World,
    slow_commands,
)


async def _asi_history(radar: Radar) -> None:
    start = radar.clock.now - timedelta(days=9)
    for n, value in enumerate([40, 44, 48, 53, 58, 61, 57, 49, 45, 52]):
        at = start + timedelta(days=n)
        radar.clock.now = at
        await radar.engine.ingest(FetchResult(samples=(Sample("asi", value, at, "coingecko"),)))


async def test_chart_is_an_embed_showing_the_attached_png(
    frontend: DiscordFrontEnd, world: World, radar: Radar
) -> None:
    await _asi_history(radar)
    interaction = await world.fake.slash_command(
        "chart", [option("metric", "asi"), option("days", 30, 4)], channel=world.general
    )
    [reply] = await interaction.wait_replies()

    assert not reply.ephemeral
    [upload] = reply.files
    assert upload.filename == "asi-30d.png"
    assert png_size(upload.data) == (1280, 720)
    [embed] = reply.embeds
    assert embed["image"]["url"] == "attachment://asi-30d.png"
    assert embed["title"] == "📊 Altcoin Season Index: 52"
    assert "Rules drawn: asi-above-50, altseason, bitcoin-season" in embed["description"]
    assert "source coingecko" in embed["description"]


async def test_chart_options_are_declared_and_bad_input_is_one_private_line(
    frontend: DiscordFrontEnd, world: World
) -> None:
    chart = next(c for c in world.fake.global_commands if c["name"] == "chart")
    options = {o["name"]: o for o in chart["options"]}
    assert options["metric"]["required"] and options["metric"]["autocomplete"]
    assert (options["days"]["type"], options["days"]["min_value"]) == (4, 1)
    for metric in ("nope", "asi"):
        interaction = await world.fake.slash_command(
            "chart", [option("metric", metric)], channel=world.general
        )
        [reply] = await interaction.wait_replies()
        assert reply.ephemeral and not reply.files
        assert len(reply.content.splitlines()) == 1
    assert reply.content == "No asi values stored in the last 90 days: nothing to draw yet."


class SlowChart(SlowService):
    """The real service, holding its chart until the test releases it."""

    async def chart(
        self, caller: Caller | None, metric: str | None, days: str | None = None
    ) -> ChartReport:
        await self.release.wait()
        return await CommandService.chart(self, caller, metric, days)


async def test_a_slow_chart_is_deferred_then_edited_in_with_its_file(
    start_frontend: StartFrontEnd, world: World, radar: Radar
) -> None:
    await _asi_history(radar)
    service = SlowChart(radar.store, radar.engine, radar.clock)
    service.release = asyncio.Event()
    await start_frontend(service=service, commands=slow_commands(service))
    interaction = await world.fake.slash_command(
        "chart", [option("metric", "asi")], channel=world.general
    )
    await interaction.wait_callback(5)
    service.release.set()
    [reply] = await interaction.wait_replies()
    [upload] = reply.files
    assert png_size(upload.data) == (1280, 720)
    assert reply.embeds[0]["image"]["url"] == "attachment://asi-90d.png"
