"""Fixtures: the fake Bot API, the real command service on SQLite, and a running front-end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.commands import CommandService
from bot.model.rules import RuleDefaults
from bot.storage import Store
from bot.watch.engine import AlertEngine
from handlers.telegram import FloodLimits, TelegramFrontEnd
from tests.fakes.telegram_api import TelegramApiFake
from timing import Backoff, Sleep

OPERATOR = 999_000
# Fast enough that a test never waits on pacing, with the same shape as Telegram's limits.
FAST = FloodLimits().scaled(200)


@dataclass
class WallClock:
    """Datetime clock for the core: fixed, moved by the test."""

    now: datetime = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class ShiftedClock:
    """A monotonic clock the test can move forward without anyone sleeping."""

    offset: float = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class Env:
    """A running front-end wired to the fake Bot API and the real service."""

    fake: TelegramApiFake
    frontend: TelegramFrontEnd
    service: CommandService
    store: Store
    engine: AlertEngine
    clock: ShiftedClock
    wall: WallClock

    async def subscriptions(self, address: str) -> tuple[str, ...]:
        found = await self.store.destination(address)
        return found.rule_ids if found is not None else ()


@pytest.fixture(autouse=True)
def _timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB 22 warns on every RetryAfter it builds unless the process opts into timedelta periods;
    # outside tests that DeprecationWarning is silent, here warnings are errors.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'radar.db'}")
    yield opened
    await opened.close()


@pytest.fixture
def wall() -> WallClock:
    return WallClock()


@pytest.fixture
async def engine(store: Store, wall: WallClock) -> AlertEngine:
    built = AlertEngine(store, RuleDefaults(), wall)
    await built.reload()
    return built


@pytest.fixture
def service(store: Store, engine: AlertEngine, wall: WallClock) -> CommandService:
    return CommandService(store, engine, wall, operators=(f"telegram:{OPERATOR}",))


@pytest.fixture
async def fake() -> AsyncIterator[TelegramApiFake]:
    async with TelegramApiFake() as api:
        yield api


class MakeEnv:
    """Build front-ends against the fake; each is stopped when the test ends."""

    def __init__(
        self,
        fake: TelegramApiFake,
        service: CommandService,
        store: Store,
        engine: AlertEngine,
        wall: WallClock,
    ) -> None:
        self._parts = (fake, service, store, engine, wall)
        self.built: list[TelegramFrontEnd] = []

    def __call__(
        self,
        *,
        service: CommandService | None = None,
        limits: FloodLimits = FAST,
        sleep: Sleep = asyncio.sleep,
        backoff: Backoff | None = None,
        token: str | None = None,
    ) -> Env:
        fake, default_service, store, engine, wall = self._parts
        clock = ShiftedClock()
        frontend = TelegramFrontEnd(
            token=token or fake.token,
            service=service or default_service,
            api_url=fake.api_url,
            limits=limits,
            poll_timeout=2,
            backoff=backoff,
            clock=clock,
            sleep=sleep,
        )
        self.built.append(frontend)
        return Env(fake, frontend, service or default_service, store, engine, clock, wall)


@pytest.fixture
async def make_env(
    fake: TelegramApiFake,
    service: CommandService,
    store: Store,
    engine: AlertEngine,
    wall: WallClock,
) -> AsyncIterator[MakeEnv]:
    maker = MakeEnv(fake, service, store, engine, wall)
    yield maker
    for frontend in maker.built:
        await frontend.stop()


@pytest.fixture
async def running(make_env: MakeEnv) -> Env:
    env = make_env()
    await env.frontend.start()
    return env
