"""The service as a whole, in process: start, deliver, stop on SIGTERM in order, lose nothing."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from bot.app import run
from bot.model.rules import RuleSpec
from bot.settings import Settings
from bot.storage import Store
from bot.web.health import build_app
from signals.types import FetchResult, Sample, Source
from tests.bot.conftest import FakeClock
from tests.fakes.exchange import ExchangeServer
from tests.fakes.feeds import offline_feeds


@dataclass
class Receiver:
    """A webhook receiver that records each POST and can be slow to answer."""

    delay: float = 0.0
    received: list[tuple[str, str]] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.started.set()
        await asyncio.sleep(self.delay)
        body = await request.json()
        self.received.append((request.path, request.headers["Idempotency-Key"]))
        assert body["id"] == int(request.headers["Idempotency-Key"])
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/{name}", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield rec, f"http://127.0.0.1:{port}"
    await runner.cleanup()


@dataclass
class ScriptedAsi:
    """Publish the next ASI value on each poll."""

    clock: FakeClock
    values: list[float]
    name: str = "coingecko"

    async def fetch(self, now: datetime) -> FetchResult:
        if len(self.values) > 1:
            self.clock.advance(minutes=1)
            value = self.values.pop(0)
        else:
            value = self.values[0]
        return FetchResult(samples=(Sample("asi", value, self.clock(), "coingecko"),))


def settings_for(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'radar.db'}",
        port=0,
        poll_seconds=0.01,
        _env_file=None,  # type: ignore[call-arg]
    )


async def subscribe_hooks(settings: Settings, base: str, count: int) -> None:
    store = await Store.open(settings.async_database_url)
    for i in range(count):
        await store.subscribe(
            f"webhook:{base}/hook{i}", ["asi-above-50"], datetime.now(FakeClock().now.tzinfo)
        )
    await store.close()


async def wait_for(predicate: object, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_sigterm_mid_dispatch_loses_nothing(
    tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    rec, base = receiver
    rec.delay = 0.3
    settings = settings_for(tmp_path)
    await subscribe_hooks(settings, base, 40)
    clock = FakeClock()
    feed = ScriptedAsi(clock, [40, 55, 40, 55])

    def sources(*_args: object) -> Sequence[Source]:
        return [feed]

    service = asyncio.create_task(run(settings, clock=clock, sources=sources))
    await asyncio.wait_for(rec.started.wait(), 10)
    started = asyncio.get_running_loop().time()
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(service, 10)
    assert asyncio.get_running_loop().time() - started < 10
    first_run = len(rec.received)
    # Rows in flight were allowed to finish; none went out twice.
    assert 0 < first_run < 120
    assert len(set(rec.received)) == first_run

    stop = asyncio.Event()
    rec.delay = 0
    again = asyncio.create_task(run(settings, stop=stop, clock=clock, sources=sources))
    await wait_for(lambda: len(rec.received) >= 120)
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.wait_for(again, 10)
    # 55 fires, 40 resolves, 55 fires: three events to each of 40 hooks, each exactly once.
    assert len(rec.received) == len(set(rec.received)) == 120


async def test_health_reports_sources_and_the_store(tmp_path: Path) -> None:
    settings = settings_for(tmp_path).model_copy(update={"port": 18765})
    clock = FakeClock()
    stop = asyncio.Event()

    def sources(*_args: object) -> Sequence[Source]:
        return [ScriptedAsi(clock, [40])]

    service = asyncio.create_task(run(settings, stop=stop, clock=clock, sources=sources))
    async with aiohttp.ClientSession() as session:
        async with asyncio.timeout(10):
            while True:
                try:
                    async with session.get("http://127.0.0.1:18765/healthz") as response:
                        body = await response.json()
                        if body["sources"]["coingecko"]["last_success"]:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.02)
    assert response.status == 200
    assert body["status"] == "ok"
    assert body["sources"]["coingecko"]["fresh"] is True
    stop.set()
    await asyncio.wait_for(service, 10)


async def test_health_is_503_when_the_store_is_unreachable(tmp_path: Path) -> None:
    folder = tmp_path / "gone"
    store = await Store.open(f"sqlite+aiosqlite:///{folder / 'radar.db'}")
    clock = FakeClock()
    app = build_app(store, list, clock)
    await store.close()
    shutil.rmtree(folder)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/healthz")
        body = await response.json()
    await store.close()
    assert response.status == 503
    assert body["status"] == "store unreachable"


PUSH_TOKEN = "s3cret-push-token-0001"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_pushed_value_drives_a_custom_alert_and_a_wrong_token_stores_nothing(
    tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    rec, base = receiver
    port = free_port()
    settings = settings_for(tmp_path).model_copy(
        update={
            "port": port,
            "ingest_token": SecretStr(PUSH_TOKEN),
            "ingest_metrics": ("others_d",),
        }
    )
    clock = FakeClock()
    store = await Store.open(settings.async_database_url)
    await store.add_custom_rule(f"webhook:{base}/hook0", RuleSpec("others_d", ">", 8.0), clock(), 5)
    await store.close()
    stop = asyncio.Event()

    def sources(*_args: object) -> Sequence[Source]:
        return [ScriptedAsi(clock, [40])]

    service = asyncio.create_task(run(settings, stop=stop, clock=clock, sources=sources))
    url = f"http://127.0.0.1:{port}/ingest/others_d"
    async with aiohttp.ClientSession() as session:
        async with asyncio.timeout(10):
            while True:
                try:
                    async with session.post(url, json={"value": 9, "token": "guess"}) as refused:
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.02)
        assert refused.status == 401
        # TradingView's alert JSON: the token in the body, the value as text.
        pushes = [{"value": 7.5}, {"close": "8.6", "token": PUSH_TOKEN}]
        async with session.post(url, json=pushes[0], headers={"X-Ingest-Token": PUSH_TOKEN}) as r:
            assert r.status == 202
        clock.advance(minutes=1)
        async with session.post(url, json=pushes[1]) as r:
            assert r.status == 202
    await wait_for(lambda: len(rec.received) == 1)
    stop.set()
    await asyncio.wait_for(service, 10)
    store = await Store.open(settings.async_database_url)
    try:
        history = await store.samples_since("others_d", clock() - timedelta(hours=1))
    finally:
        await store.close()
    assert [value for _, value in history] == [7.5, 8.6]


async def test_an_exchange_price_crossing_reaches_a_webhook_once_through_the_live_sources(
    tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    rec, base = receiver
    # The fake's tickers close at 2024-06-30 12:00 UTC; the service's clock stands there.
    clock = FakeClock(datetime(2024, 6, 30, 12, 0, tzinfo=UTC))
    async with ExchangeServer() as exchange:
        exchange.prices["binance"]["BTCUSDT"] = 95_000.0
        settings = settings_for(tmp_path).model_copy(
            update={
                "port": free_port(),
                # Every other feed answers from a closed port: nothing leaves the host.
                **offline_feeds(),
                "exchange_api_url": exchange.url,
            }
        )
        store = await Store.open(settings.async_database_url)
        await store.subscribe(f"webhook:{base}/hook0", ["btc-100k"], clock())
        await store.close()
        stop = asyncio.Event()
        service = asyncio.create_task(run(settings, stop=stop, clock=clock))
        await wait_for(lambda: exchange.calls("/api/v3/ticker/24hr") >= 2)
        exchange.prices["binance"]["BTCUSDT"] = 105_000.0
        await wait_for(lambda: len(rec.received) == 1)
        # Later polls of the same price hold the rule: nothing more goes out.
        polled = exchange.calls("/api/v3/ticker/24hr")
        await wait_for(lambda: exchange.calls("/api/v3/ticker/24hr") >= polled + 3)
        stop.set()
        await asyncio.wait_for(service, 10)
    assert [path for path, _ in rec.received] == ["/hook0"]
