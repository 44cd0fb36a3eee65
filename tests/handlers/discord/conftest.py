"""Fixtures: the fake Discord, the real command service on SQLite, and a started front-end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import discord
import pytest
import yarl
from discord.gateway import DiscordWebSocket

from bot.commands import CommandService, StatusReport
from bot.model.alerts import AlertMessage
from bot.model.rules import RuleDefaults
from bot.storage import Store
from bot.watch.engine import AlertEngine
from handlers.discord.commands import RadarCommands
from handlers.discord.frontend import DiscordFrontEnd
from handlers.discord.pacing import Pacer
from signals.types import FetchResult, Sample
from tests.fakes.discord_api import FakeChannel, FakeDiscord, FakeGuild, FakeInteraction


@dataclass
class Clock:
    """A wall clock that moves only when the test says so."""

    now: datetime = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Radar:
    """The real command service over a fresh SQLite store."""

    store: Store
    engine: AlertEngine
    service: CommandService
    clock: Clock

    async def feed(self, **values: float) -> None:
        """Store one sample per metric, five minutes old, as a source would."""
        at = self.clock.now - timedelta(minutes=5)
        samples = tuple(Sample(m, v, at, "coingecko") for m, v in values.items())
        await self.engine.ingest(FetchResult(samples=samples))


class SlowService(CommandService):
    """The real service whose `/status` waits until the test lets it answer."""

    release: asyncio.Event

    async def status(self, metric: str | None = None) -> StatusReport:
        await self.release.wait()
        return await super().status(metric)


@dataclass
class World:
    """A guild with #alerts and #general on the fake, and who is who."""

    fake: FakeDiscord
    guild: FakeGuild
    alerts: FakeChannel
    general: FakeChannel
    moderator: int = 1111
    member: int = 2222
    dm_user: int = 3333
    dm: FakeChannel = field(init=False)

    def __post_init__(self) -> None:
        self.dm = self.fake.open_dm(self.dm_user)

    async def as_moderator(self, name: str, *options: dict[str, Any]) -> FakeInteraction:
        """Dispatch `/name` in #alerts from a member holding Manage Channels."""
        return await self.fake.slash_command(
            name, options, channel=self.alerts, user_id=self.moderator, manage_channels=True
        )


@pytest.fixture(autouse=True)
def _restore_discord_roots() -> Any:
    # The front-end points discord.py's process-wide roots at the fake; put them back after.
    base, gateway = discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    yield
    discord.http.Route.BASE = base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(str(gateway))


@pytest.fixture
async def radar(tmp_path: Path) -> AsyncIterator[Radar]:
    clock = Clock()
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'radar.db'}")
    engine = AlertEngine(store, RuleDefaults(), clock)
    yield Radar(store, engine, CommandService(store, engine, clock), clock)
    await store.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


@pytest.fixture
def world(fake: FakeDiscord) -> World:
    guild = fake.add_guild("Radar Fans", ["alerts", "general"])
    return World(
        fake, guild, fake.channel_by_name(guild, "alerts"), fake.channel_by_name(guild, "general")
    )


StartFrontEnd = Callable[..., Awaitable[DiscordFrontEnd]]


@pytest.fixture
async def start_frontend(fake: FakeDiscord, radar: Radar) -> AsyncIterator[StartFrontEnd]:
    """Start front-ends against the fake (stopped at teardown); keywords go to DiscordFrontEnd."""
    started: list[DiscordFrontEnd] = []

    async def start(**options: Any) -> DiscordFrontEnd:
        options.setdefault("service", radar.service)
        options.setdefault("guild_ready_timeout", 0.05)
        # Alerts in tests go out unpaced unless a test brings its own pacer.
        options.setdefault("pacer", Pacer(per_channel=1000, overall_per_second=1e6))
        frontend = DiscordFrontEnd(
            token=fake.token, api_url=fake.api_url, gateway_url=fake.gateway_url, **options
        )
        started.append(frontend)
        await frontend.start()
        await fake.wait_connected()
        await frontend.wait_until_ready()
        return frontend

    yield start
    for frontend in started:
        await frontend.stop()


@pytest.fixture
async def frontend(start_frontend: StartFrontEnd, world: World) -> DiscordFrontEnd:
    return await start_frontend()


def slow_commands(service: CommandService) -> RadarCommands:
    """Commands that defer at once, so a slow answer always goes through the deferred path."""
    return RadarCommands(service, defer_after=0.0)


def alert_message(**changes: Any) -> AlertMessage:
    """Return a firing BTC price alert; keywords override fields."""
    fields: dict[str, Any] = {
        "event_id": 41,
        "rule_id": "c1",
        "rule_description": "Custom alert: btc_usd > 100000",
        "state": "firing",
        "metric": "btc_usd",
        "value": 101_250.0,
        "threshold": 100_000.0,
        "previous": 99_000.0,
        "source": "binance",
        "at": datetime(2026, 3, 2, 14, 25, tzinfo=UTC),
        "op": ">",
        "direction": "rise",
    }
    fields.update(changes)
    return AlertMessage(**fields)
