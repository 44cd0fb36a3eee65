"""True or silent, through the whole service: outages, a fresh start, failing feeds, what is true now.

Six scripted sources publish the regime's inputs the way the real feeds do (one poller each, a
failure raised as the feed's error), the real regime source scores them from the store, and the
Telegram front-end talks to the fake Bot API. Steady data agrees 4 of 6: the Russell 2000 at its
high, ASI 62, ETH/BTC above its average and net liquidity rising; dominance 60% (not below 59)
and the alt/BTC MACD histogram negative.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest

from bot.app import run
from bot.model.alerts import StoredEvent
from bot.model.rules import ALL_BUILTINS
from bot.settings import Settings
from bot.storage import Store
from bot.watch.regime import RegimeSource
from signals.types import FetchResult, Sample, Source, SourceUnavailable
from tests.fakes.telegram_api import TelegramApiFake
from tests.handlers.telegram.test_e2e import DELIVERY_TIMEOUT, STOP_TIMEOUT, USER, settings_for

STEADY: dict[str, dict[str, float]] = {
    "coingecko": {"asi": 62.0, "altbtc_macd": -0.001},
    "global": {"btc_dominance": 60.0, "total2": 1.3e12, "total3": 1.0e12},
    "yahoo": {"rut": 2500.0, "rut_sessions_since_high": 0.0, "rut_spx_streak": 2.0},
    "exchange": {"eth_btc": 0.05, "eth_btc_vs_sma50": 2.0, "btc_usd": 95_000.0},
    "fred": {"net_liquidity": 5_800.0, "net_liquidity_4w": 50.0},
}
CHAT = f"telegram:{USER}"


@dataclass
class Steady:
    """A feed that publishes the same values on every poll, or fails while `down` says why."""

    name: str
    values: dict[str, float]
    down: str | None = None
    polls: int = 0
    polled: asyncio.Event = field(default_factory=asyncio.Event)

    async def fetch(self, now: datetime) -> FetchResult:
        self.polls += 1
        self.polled.set()
        if self.down is not None:
            raise SourceUnavailable(self.name, self.down)
        return FetchResult(
            samples=tuple(Sample(m, v, now, self.name) for m, v in self.values.items())
        )

    async def wait_polls(self, count: int, timeout: float = 20.0) -> None:
        """Wait until this feed has been polled `count` more times."""
        target = self.polls + count
        async with asyncio.timeout(timeout):
            while self.polls < target:
                self.polled.clear()
                await self.polled.wait()


@dataclass
class World:
    """The service running on the steady feeds, the fake Bot API, and the store it writes."""

    settings: Settings
    fake: TelegramApiFake
    feeds: dict[str, Steady]
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def events(self) -> list[StoredEvent]:
        """Return the alerts delivered to the user's chat, oldest first."""
        store = await Store.open(self.settings.async_database_url)
        try:
            return list(reversed(await store.delivered_events(CHAT, 50)))
        finally:
            await store.close()

    async def rule_state(self, rule_id: str) -> str:
        store = await Store.open(self.settings.async_database_url)
        try:
            state = (await store.rule_states()).get(rule_id)
        finally:
            await store.close()
        return "inactive" if state is None else state.state

    async def until(self, what: str, check: object, timeout: float = DELIVERY_TIMEOUT) -> None:
        """Poll `check` (an async predicate) until it holds."""
        try:
            async with asyncio.timeout(timeout):
                while not await check():  # type: ignore[operator]
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None

    async def dm(self, text: str) -> str:
        before = len(self.fake.messages(USER))
        self.fake.private_message(USER, text)
        messages = await self.fake.wait_for_messages(USER, before + 1, DELIVERY_TIMEOUT)
        return messages[before].plain


async def start(tmp_path: Path, fake: TelegramApiFake, *, subscribed: bool) -> World:
    settings = settings_for(tmp_path, fake)
    if subscribed:
        store = await Store.open(settings.async_database_url)
        await store.subscribe(CHAT, [ALL_BUILTINS], datetime.now().astimezone())
        await store.close()
    feeds = {name: Steady(name, dict(values)) for name, values in STEADY.items()}
    stop = asyncio.Event()

    def sources(
        _settings: Settings, _session: aiohttp.ClientSession, store: Store
    ) -> Sequence[Source]:
        return [*feeds.values(), RegimeSource(store, name="regime")]

    task = asyncio.create_task(run(settings, stop=stop, sources=sources))
    ready = asyncio.ensure_future(fake.wait_until(lambda: fake.calls["getUpdates"] > 0))
    done, _ = await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        ready.cancel()
        task.result()
        pytest.fail("the service returned before its Telegram front-end polled")
    return World(settings, fake, feeds, stop, task)


@pytest.fixture
async def world(tmp_path: Path, fake: TelegramApiFake) -> AsyncIterator[World]:
    running = await start(tmp_path, fake, subscribed=True)
    yield running
    running.stop.set()
    await asyncio.wait_for(running.task, STOP_TIMEOUT)


@pytest.fixture
async def unsubscribed(tmp_path: Path, fake: TelegramApiFake) -> AsyncIterator[World]:
    running = await start(tmp_path, fake, subscribed=False)
    yield running
    running.stop.set()
    await asyncio.wait_for(running.task, STOP_TIMEOUT)


async def test_a_fresh_start_on_steady_data_sends_each_firing_rule_once(world: World) -> None:
    async def regime_sent() -> bool:
        return any(e.rule_id == "risk-on-regime" for e in await world.events())

    await world.until("the regime's alert", regime_sent)
    # Long past any warm-up: every source polled many more times on the same data.
    await world.feeds["coingecko"].wait_polls(40)
    events = await world.events()
    kinds = [(e.rule_id, e.kind) for e in events]
    assert len(kinds) == len(set(kinds)), kinds
    assert all(kind == "firing" for _, kind in kinds), kinds
    # Rules on a level that holds fire once; crossings (ASI above 50...) need a crossing.
    assert {rule for rule, _ in kinds} == {"risk-on-regime", "liquidity-rising"}
    regime = next(e for e in events if e.rule_id == "risk-on-regime")
    # A score counted over a warm-up is not a "before": no "was 2 of 6".
    assert (regime.value, regime.previous) == (4.0, None)
    assert len(world.fake.messages(USER)) == len(events)


async def test_a_coingecko_outage_and_its_recovery_send_nothing(world: World) -> None:
    async def both_sent() -> bool:
        return len(await world.events()) == 2

    await world.until("the regime's and liquidity's alerts", both_sent)
    sent = len(world.fake.messages(USER))
    assert sent == 2
    # CoinGecko and its fallback both answer 500: ASI, MACD and dominance become unknown.
    for name in ("coingecko", "global"):
        world.feeds[name].down = "HTTP 500 Internal Server Error"
    steady = world.feeds["yahoo"]
    await steady.wait_polls(30)
    status = await world.dm("/status")
    assert "coingecko failing for" in status and "HTTP 500" in status, status
    assert await world.rule_state("risk-on-regime") == "firing"
    for name in ("coingecko", "global"):
        world.feeds[name].down = None
    await steady.wait_polls(30)
    assert await world.rule_state("risk-on-regime") == "firing"
    # The /status reply is the only new message: no resolved, no second firing.
    assert len(world.fake.messages(USER)) == sent + 1
    assert [e.kind for e in await world.events() if e.rule_id == "risk-on-regime"] == ["firing"]


async def test_status_lists_a_failing_feeds_metrics_with_the_reason(unsubscribed: World) -> None:
    world = unsubscribed
    world.feeds["exchange"].down = "HTTP 451: Service unavailable from a restricted location"
    await world.feeds["exchange"].wait_polls(3)
    status = await world.dm("/status")
    for metric in ("eth_btc", "eth_btc_vs_sma50", "btc_usd", "eth_usd", "sol_usd"):
        assert metric in status, (metric, status)
    assert "exchange failing for" in status and "HTTP 451" in status, status


async def test_subscribing_after_a_rule_fired_names_it(unsubscribed: World) -> None:
    async def regime_firing() -> bool:
        return await unsubscribed.rule_state("risk-on-regime") == "firing"

    await unsubscribed.until("the regime to fire", regime_firing)
    reply = await unsubscribed.dm("/subscribe all")
    assert "Already true" in reply, reply
    assert "risk-on-regime firing since" in reply, reply
    assert "liquidity-rising firing since" in reply, reply
    # ASI 62 is above 50, but asi-above-50 alerts on a crossing: say it holds, and what comes.
    assert "asi-above-50 holds now at 62" in reply, reply
