"""Fixtures for the core: a store on SQLite and on PostgreSQL, and a clock the test moves."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from bot.model.delivery import DeliveryOutcome, OutboxItem, Outcome
from bot.storage import Store

PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


@dataclass
class FakeClock:
    """A clock that moves only when the test says so."""

    now: datetime = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# Each test process gets its own database, so parallel runs (a developer's and CI's) never meet.
_DB_NAME = f"radar_test_{os.getpid()}"
_created = False


def _url_for(database: str) -> str:
    return PG_URL.rsplit("/", 1)[0] + "/" + database


async def reset_postgres() -> str:
    """Empty this process's test database and return its async URL; skip when no server."""
    global _created  # noqa: PLW0603
    try:
        admin = await asyncpg.connect(PG_URL, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    try:
        if not _created:
            await admin.execute(f'DROP DATABASE IF EXISTS "{_DB_NAME}"')
            await admin.execute(f'CREATE DATABASE "{_DB_NAME}"')
            _created = True
    finally:
        await admin.close()
    conn = await asyncpg.connect(_url_for(_DB_NAME), timeout=3)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()
    return _url_for(_DB_NAME).replace("postgresql://", "postgresql+asyncpg://", 1)


async def _drop_database() -> None:
    admin = await asyncpg.connect(PG_URL, timeout=3)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{_DB_NAME}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session", autouse=True)
def _drop_test_database() -> Iterator[None]:
    yield
    if _created:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(_drop_database())
        finally:
            loop.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'radar.db'}"
    return await reset_postgres()


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(store_url)
    yield opened
    await opened.close()


async def deliver_due(
    store: Store,
    clock: Callable[[], datetime],
    send: Callable[[OutboxItem], Awaitable[DeliveryOutcome]],
    schemes: Sequence[str] = ("telegram",),
    max_attempts: int = 5,
) -> int:
    """Claim, send and record due rows the way the dispatcher does, until none is due; return how many."""
    done = 0
    while claimed := await store.claim("test", list(schemes), 100, clock(), timedelta(minutes=1)):
        outcomes = [Outcome(c.item, await send(c.item), clock()) for c in claimed]
        await store.record(outcomes, "test", max_attempts)
        done += len(outcomes)
    return done
