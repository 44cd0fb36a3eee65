"""The whole service with the Discord front-end: a scripted feed in, embeds out on the fake Discord."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.model.rules import BUILTIN_RULES
from bot.settings import Settings
from bot.storage import Store
from signals.metrics import metric_info
from tests.fakes.discord_api import EPHEMERAL, FakeChannel, FakeInteraction, PostedMessage, option
from tests.fakes.scripted import ScriptedDominance, start_service
from tests.handlers.discord.conftest import World

RULE = "btc-dominance-below-59"
METRIC = "btc_dominance"
POLL_SECONDS = 0.05
# Feed polls to let pass after an alert before asserting that no second copy follows it.
SETTLE_POLLS = 6
STOP_TIMEOUT = 10.0


@dataclass
class Running:
    """The service running in a task against the fake Discord, and how to stop it."""

    settings: Settings
    world: World
    feed: ScriptedDominance
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def shutdown(self) -> None:
        """Set the stop event and wait for `run` to return."""
        self.stop.set()
        await asyncio.wait_for(self.task, STOP_TIMEOUT)

    async def subscribe(
        self, channel: FakeChannel, user_id: int, *, manage_channels: bool
    ) -> FakeInteraction:
        """Run `/subscribe rules:<RULE>` in `channel` and wait for its answer."""
        interaction = await self.world.fake.slash_command(
            "subscribe",
            [option("rules", RULE)],
            channel=channel,
            user_id=user_id,
            manage_channels=manage_channels,
        )
        await interaction.wait_replies()
        return interaction

    async def cross_threshold(self) -> None:
        """Publish dominance above the threshold, then below it."""
        self.feed.publish(60.0, 58.0)
        await self.feed.wait_caught_up()


def settings_for(tmp_path: Path, world: World) -> Settings:
    fake = world.fake
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'radar.db'}",
        port=0,
        poll_seconds=POLL_SECONDS,
        discord_token=fake.token,
        discord_api_url=fake.api_url,
        discord_gateway_url=fake.gateway_url,
        # Named so a token or guild in the developer's environment cannot change the setup.
        discord_guild_id=None,
        telegram_token=None,
        admin_ids=(),
        _env_file=None,
    )


@pytest.fixture
async def service(tmp_path: Path, world: World) -> AsyncIterator[Running]:
    feed = ScriptedDominance()
    settings = settings_for(tmp_path, world)
    stop, task = await start_service(
        settings, feed, world.fake.wait_connected(), "its Discord front-end connected"
    )
    running = Running(settings, world, feed, stop, task)
    yield running
    # Also re-raises here whatever `run` died of, should a test not have looked.
    await running.shutdown()


def only_embed(message: PostedMessage) -> dict[str, object]:
    [embed] = message.embeds
    return embed


def fields_of(embed: dict[str, object]) -> dict[str, str]:
    items = embed["fields"]
    assert isinstance(items, list)
    return {item["name"]: item["value"] for item in items}


def statuses(world: World, channel: FakeChannel) -> list[int]:
    return [a.status for a in world.fake.attempts if a.channel_id == channel.id]


async def destination_active(settings: Settings, channel: FakeChannel) -> bool:
    store = await Store.open(settings.async_database_url)
    try:
        info = await store.destination(f"discord:{channel.id}")
    finally:
        await store.close()
    assert info is not None
    return info.active


async def test_moderator_subscribes_and_one_alert_arrives(service: Running, world: World) -> None:
    fake = world.fake
    interaction = await service.subscribe(world.alerts, world.moderator, manage_channels=True)
    [reply] = interaction.visible()
    assert not reply.ephemeral
    assert RULE in reply.content

    await service.cross_threshold()
    [message] = await fake.wait_messages(world.alerts.id)
    await service.feed.wait_polls(SETTLE_POLLS)
    assert fake.messages_in(world.alerts.id) == [message]

    embed = only_embed(message)
    rule = next(r for r in BUILTIN_RULES if r.id == RULE)
    assert rule.description in str(embed["title"])
    assert RULE in str(embed["footer"])
    value = fields_of(embed)["Value"]
    assert metric_info(METRIC).format(58.0) in value
    assert METRIC in value

    await service.shutdown()
    assert service.task.done()
    assert service.task.exception() is None


async def test_plain_member_is_refused_and_gets_no_alert(service: Running, world: World) -> None:
    fake = world.fake
    refused = await service.subscribe(world.alerts, world.member, manage_channels=False)
    [reply] = refused.visible()
    assert reply.ephemeral
    assert refused.callbacks[0]["data"]["flags"] & EPHEMERAL
    # A moderator's channel is the control: once its alert is out, #alerts has had its chance.
    await service.subscribe(world.general, world.moderator, manage_channels=True)

    await service.cross_threshold()
    await fake.wait_messages(world.general.id)
    await service.feed.wait_polls(SETTLE_POLLS)
    assert fake.messages_in(world.alerts.id) == []
    assert statuses(world, world.alerts) == []


async def test_status_shows_the_latest_dominance(service: Running, world: World) -> None:
    service.feed.publish(61.25)
    await service.feed.wait_caught_up()

    interaction = await world.fake.slash_command("status", channel=world.general)
    [reply] = await interaction.wait_replies()
    assert not reply.ephemeral
    [embed] = reply.embeds
    info = metric_info(METRIC)
    shown = fields_of(embed)[f"{info.label} ({METRIC})"]
    assert shown.startswith(f"**{info.format(61.25)}**")
    assert "coingecko" in shown
    assert not service.task.done()


async def test_rate_limit_delays_the_alert_but_loses_nothing(
    service: Running, world: World
) -> None:
    fake = world.fake
    await service.subscribe(world.alerts, world.moderator, manage_channels=True)
    retry_after = 0.3
    fake.rate_limit_next(world.alerts.id, retry_after)

    await service.cross_threshold()
    [message] = await fake.wait_messages(world.alerts.id)
    await service.feed.wait_polls(SETTLE_POLLS)
    assert fake.messages_in(world.alerts.id) == [message]
    assert statuses(world, world.alerts) == [429, 200]
    limited, sent = (a for a in fake.attempts if a.channel_id == world.alerts.id)
    assert sent.at - limited.at >= retry_after
    assert RULE in str(only_embed(message)["footer"])


async def test_deleted_channel_is_deactivated_and_the_service_runs_on(
    service: Running, world: World
) -> None:
    fake = world.fake
    await service.subscribe(world.alerts, world.moderator, manage_channels=True)
    await service.subscribe(world.general, world.moderator, manage_channels=True)
    fake.delete_channel(world.alerts.id)

    await service.cross_threshold()
    await fake.wait_messages(world.general.id)
    await service.feed.wait_polls(SETTLE_POLLS)
    # Refused once, and never retried.
    assert statuses(world, world.alerts) == [404]
    assert fake.messages_in(world.alerts.id) == []

    # The service still answers commands after the refusal.
    interaction = await fake.slash_command("status", channel=world.general)
    [reply] = await interaction.wait_replies()
    assert not reply.ephemeral
    assert not service.task.done()

    await service.shutdown()
    assert not await destination_active(service.settings, world.alerts)
    assert await destination_active(service.settings, world.general)
