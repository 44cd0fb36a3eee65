"""What production does to a bot, done to the real process: database outages, cut sessions, a
frozen replica, a deleted database file. The bot lives through each, and every subscriber gets
every alert, with the duplicates each case allows."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from bot.storage import Store
from tests.bot.conftest import PG_URL, reset_postgres
from tests.fakes.feeds import FeedServer, cg_global, offline_feeds
from tests.fakes.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow

HOOKS = 40
RULE = "btc-dominance-below-59"
LEASE = 8


@dataclass
class Receivers:
    """Webhooks at /hook<n> that answer at once; a request counts the moment it arrives."""

    received: list[tuple[str, str]] = field(default_factory=list)
    slow: float = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((request.path, request.headers["Idempotency-Key"]))
        if self.slow:
            await asyncio.sleep(self.slow)
        return web.Response(status=200)

    def unique(self) -> int:
        return len(set(self.received))

    def duplicates(self) -> int:
        return len(self.received) - self.unique()

    def keys(self) -> set[str]:
        return {key for _, key in self.received}

    def everyone_has(self, key: str) -> bool:
        return all((f"/hook{i}", key) in self.received for i in range(HOOKS))


@pytest.fixture
async def hooks() -> AsyncIterator[tuple[Receivers, str]]:
    rec = Receivers()
    app = web.Application()
    app.router.add_post("/{name}", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield rec, f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def until(predicate: Callable[[], bool], what: str, timeout: float = 60) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def health(port: int) -> int:
    """Return /healthz's status, or 0 when it does not answer within two seconds."""
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"http://127.0.0.1:{port}/healthz", timeout=aiohttp.ClientTimeout(total=2)
            ) as response,
        ):
            return response.status
    except (aiohttp.ClientError, TimeoutError):
        return 0


class World:
    """Feeds, webhooks and a database for `python -m bot` processes started by the test."""

    def __init__(self, feeds: FeedServer, rec: Receivers, base: str, database_url: str) -> None:
        self.feeds = feeds
        self.rec = rec
        self.base = base
        self.database_url = database_url
        self.start = datetime.now(UTC)
        self.value = 60.0
        self.flips = 0
        self.processes: list[asyncio.subprocess.Process] = []
        self.set_dominance(60.0)

    def env(self, port: int) -> dict[str, str]:
        env = {
            **os.environ,
            **{name.upper(): url for name, url in offline_feeds().items()},
            "DATABASE_URL": self.database_url,
            "COINGECKO_API_URL": self.feeds.coingecko_url,
            "COINPAPRIKA_API_URL": self.feeds.url,
            "POLL_SECONDS": "0.2",
            "COINGECKO_CALLS_PER_MINUTE": "6000",
            "COINPAPRIKA_POLL_SECONDS": "0.2",
            "DELIVERY_LEASE_SECONDS": str(LEASE),
            "PORT": str(port),
            "LOG_LEVEL": os.environ.get("FAULT_LOG_LEVEL", "WARNING"),
        }
        env.pop("TELEGRAM_TOKEN", None)
        env.pop("DISCORD_TOKEN", None)
        return env

    def set_dominance(self, value: float) -> None:
        self.value = value
        at = self.start + timedelta(seconds=self.flips)
        self.feeds.coingecko_global = cg_global(2.5e12, value, 15.0, at)

    def flip(self) -> None:
        """60 -> 58 fires the rule; 58 -> 60 resolves it: one event each."""
        self.flips += 1
        self.set_dominance(58.0 if self.value == 60.0 else 60.0)

    async def subscribe(self) -> None:
        url = self.database_url
        url = url.replace("postgresql://", "postgresql+asyncpg://")
        url = url.replace("sqlite:///", "sqlite+aiosqlite:///")
        store = await Store.open(url)
        try:
            for i in range(HOOKS):
                await store.subscribe(f"webhook:{self.base}/hook{i}", [RULE], datetime.now(UTC))
        finally:
            await store.close()

    async def launch(self, port: int) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            env=self.env(port),
            stdout=asyncio.subprocess.DEVNULL,
        )
        self.processes.append(proc)
        await until(lambda: self.feeds.calls("/api/v3/global") >= 2, "the first polls")
        return proc

    async def stop_all(self) -> None:
        for proc in self.processes:
            if proc.returncode is None:
                proc.send_signal(signal.SIGCONT)
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes:
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()


@pytest.fixture
async def postgres_world(
    hooks: tuple[Receivers, str],
) -> AsyncIterator[tuple[World, TcpProxy]]:
    async_url = await reset_postgres()
    database = async_url.rsplit("/", 1)[1]
    host, port = PG_URL.split("@", 1)[1].split("/", 1)[0].split(":")
    rec, base = hooks
    async with TcpProxy(host, int(port)) as proxy, FeedServer() as feeds:
        user = PG_URL.split("://", 1)[1].split("@", 1)[0]
        world = World(feeds, rec, base, f"postgresql://{user}@127.0.0.1:{proxy.port}/{database}")
        await world.subscribe()
        try:
            yield world, proxy
        finally:
            proxy.restore()
            await world.stop_all()


async def outage(proxy: TcpProxy, seconds: float, port: int) -> list[int]:
    """Refuse the database for `seconds`, probing /healthz meanwhile; return its statuses."""
    proxy.cut()
    statuses = []
    loop = asyncio.get_running_loop()
    ends = loop.time() + seconds
    while loop.time() < ends:
        statuses.append(await health(port))
        await asyncio.sleep(0.5)
    proxy.restore()
    return statuses


async def test_postgres_refusing_for_8_s_mid_fan_out_and_idle(
    postgres_world: tuple[World, TcpProxy],
) -> None:
    world, proxy = postgres_world
    world.rec.slow = 0.02  # a fan-out long enough to cut in the middle of
    port = free_port()
    proc = await world.launch(port)

    world.flip()  # fires
    await until(lambda: world.rec.unique() >= 10, "the fan-out to start")
    during = await outage(proxy, 8, port)
    await until(lambda: len(world.rec.keys()) == 1 and world.rec.unique() == HOOKS, "all fired")
    assert proc.returncode is None, "the bot died of the outage"
    # /healthz answered (never hung) and said 503 while the database was away.
    assert 503 in during and 0 not in during, during

    idle = await outage(proxy, 8, port)
    assert 503 in idle and 0 not in idle, idle
    world.flip()  # resolves, after the database is back
    (fired,) = world.rec.keys()
    await until(lambda: world.rec.unique() == 2 * HOOKS, "every resolved notice")
    assert proc.returncode is None
    assert world.rec.everyone_has(fired)
    assert world.rec.duplicates() <= 1, world.rec.received
    assert await health(port) == 200


async def test_cut_sessions_mid_fan_out_send_nothing_twice(
    postgres_world: tuple[World, TcpProxy],
) -> None:
    world, _proxy = postgres_world
    world.rec.slow = 0.02
    port = free_port()
    proc = await world.launch(port)
    database = world.database_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(PG_URL, timeout=5)
    try:
        world.flip()
        await until(lambda: world.rec.unique() >= 10, "the fan-out to start")
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
        assert killed >= 1
        await until(lambda: world.rec.unique() == HOOKS, "every alert after the cut")
    finally:
        await admin.close()
    await asyncio.sleep(1)
    assert proc.returncode is None
    assert world.rec.duplicates() == 0, world.rec.received


async def test_a_frozen_replica_loses_its_claims_to_another_within_the_lease(
    postgres_world: tuple[World, TcpProxy],
) -> None:
    world, _proxy = postgres_world
    # Slow receivers keep rows claimed and queued in the replica that gets frozen.
    world.rec.slow = 0.2
    frozen = await world.launch(free_port())
    other = await world.launch(free_port())
    world.flip()
    await until(lambda: world.rec.unique() >= 2, "the fan-out to start")
    frozen.send_signal(signal.SIGSTOP)
    stopped_at = asyncio.get_running_loop().time()
    try:
        await until(lambda: world.rec.unique() == HOOKS, "the other replica to finish", LEASE + 30)
        taken_over_in = asyncio.get_running_loop().time() - stopped_at
    finally:
        frozen.send_signal(signal.SIGCONT)
    assert other.returncode is None
    # Within the lease (plus the other replica's poll and the slow receivers' own time).
    assert taken_over_in < LEASE + 15, taken_over_in
    await asyncio.sleep(2)
    # The thawed replica drops what it held past its lease instead of sending it again; only
    # sends it had in flight when frozen may repeat.
    assert world.rec.duplicates() <= 16, world.rec.received


async def test_a_deleted_sqlite_file_is_reported(
    tmp_path: Path, hooks: tuple[Receivers, str]
) -> None:
    rec, base = hooks
    database = tmp_path / "radar.db"
    async with FeedServer() as feeds:
        world = World(feeds, rec, base, f"sqlite:///{database}")
        await world.subscribe()
        port = free_port()
        try:
            await world.launch(port)
            for _ in range(100):
                if await health(port) == 200:
                    break
                await asyncio.sleep(0.1)
            assert await health(port) == 200
            database.unlink()
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{port}/healthz") as response,
            ):
                body = await response.json()
            assert response.status == 503
            assert "deleted" in body["error"]
        finally:
            await world.stop_all()
