"""The outbox dispatcher: every row once, in order, retried, refused and moved as the platform says."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest

from bot.delivery.dispatcher import RETRY_BACKOFF, Dispatcher
from bot.model.alerts import AlertMessage, HeldSummary
from bot.model.delivery import (
    DeliveryError,
    DestinationMoved,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from bot.model.destinations import Destination, Scheme
from bot.model.rules import RuleDefaults
from bot.storage import Store
from bot.watch.engine import AlertEngine
from signals.types import Sample
from tests.bot.conftest import FakeClock, reset_postgres


@dataclass
class RecordingNotifier:
    """A notifier that records deliveries and fails as scripted, per address."""

    scheme: Scheme = "telegram"
    delivered: list[tuple[str, int]] = field(default_factory=list)
    failures: dict[str, list[DeliveryError | Exception]] = field(default_factory=dict)
    delay: float = 0.0
    started: int = 0
    summaries: list[tuple[str, tuple[int, ...], tzinfo]] = field(default_factory=list)

    async def send(
        self, destination: Destination, message: AlertMessage, zone: tzinfo = UTC
    ) -> None:
        self.started += 1
        script = self.failures.get(destination.address)
        if script:
            raise script.pop(0)
        if self.delay:
            await asyncio.sleep(self.delay)
        self.delivered.append((destination.address, message.event_id))

    async def send_summary(
        self, destination: Destination, summary: HeldSummary, zone: tzinfo = UTC
    ) -> None:
        self.started += 1
        script = self.failures.get(destination.address)
        if script:
            raise script.pop(0)
        ids = tuple(a.event_id for a in summary.alerts)
        self.summaries.append((destination.address, ids, zone))


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for `predicate` to hold, polling the loop."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


async def until_scheduled(store: Store, clock: FakeClock) -> None:
    """Wait until every destination's next row waits for a later time (a failure was recorded)."""
    async with asyncio.timeout(10):
        while await store.due_destinations(clock(), 10, ["telegram"]):
            await asyncio.sleep(0.005)


async def fire(engine: AlertEngine, clock: FakeClock, values: list[float]) -> None:
    """Feed ASI values one minute apart."""
    for value in values:
        clock.advance(minutes=1)
        await engine.ingest_sample(Sample("asi", value, clock(), "test"))


async def setup(store: Store, clock: FakeClock, chats: list[str]) -> AlertEngine:
    engine = AlertEngine(store, RuleDefaults(), clock)
    await engine.reload()
    for chat in chats:
        await store.subscribe(chat, ["asi-above-50"], clock())
    return engine


class Running:
    """Run a dispatcher in the background for the length of a `with` block."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher

    async def __aenter__(self) -> Dispatcher:
        self.task = asyncio.create_task(self.dispatcher.run())
        return self.dispatcher

    async def __aexit__(self, *exc: object) -> None:
        await self.dispatcher.stop()
        await asyncio.wait_for(self.task, 10)


def make(store: Store, clock: FakeClock, notifier: RecordingNotifier, **kw: int) -> Dispatcher:
    return Dispatcher(store, {"telegram": notifier}, clock, idle_poll=0.01, rng=lambda: 0.5, **kw)


async def test_every_row_is_sent_once(store: Store, clock: FakeClock) -> None:
    chats = [f"telegram:{i}" for i in range(1, 31)]
    engine = await setup(store, clock, chats)
    await fire(engine, clock, [40, 55, 40, 56])
    notifier = RecordingNotifier()
    async with Running(make(store, clock, notifier)):
        await until(lambda: len(notifier.delivered) == 90)
    # 55 fires, 40 resolves, 56 fires again: three events for each of thirty chats.
    assert sorted(notifier.delivered) == sorted((c, e) for c in chats for e in (1, 2, 3))
    assert await store.pending_count() == 0
    again = RecordingNotifier()
    async with Running(make(store, clock, again)):
        await asyncio.sleep(0.05)
    assert again.delivered == []


async def test_transient_failure_waits_for_retry_after_and_keeps_order(
    store: Store, clock: FakeClock
) -> None:
    engine = await setup(store, clock, ["telegram:1", "telegram:2"])
    await fire(engine, clock, [40, 55, 40])
    notifier = RecordingNotifier()
    notifier.failures["telegram:1"] = [TransientDeliveryError("flood", retry_after=30)]
    async with Running(make(store, clock, notifier)):
        await until(lambda: len(notifier.delivered) == 2)
        await until_scheduled(store, clock)
        # The resolved notice must not overtake the alert that is waiting out its retry-after.
        assert notifier.delivered == [("telegram:2", 1), ("telegram:2", 2)]
        clock.advance(seconds=29)
        await asyncio.sleep(0.05)
        assert len(notifier.delivered) == 2
        clock.advance(seconds=2)
        await until(lambda: len(notifier.delivered) == 4)
    assert notifier.delivered[2:] == [("telegram:1", 1), ("telegram:1", 2)]


async def test_backoff_grows_and_gives_up_after_max_attempts(
    store: Store, clock: FakeClock
) -> None:
    engine = await setup(store, clock, ["telegram:1"])
    await fire(engine, clock, [40, 55])
    notifier = RecordingNotifier()
    notifier.failures["telegram:1"] = [TransientDeliveryError("down") for _ in range(3)]
    async with Running(make(store, clock, notifier, max_attempts=3)):
        for attempt in range(2):
            await until_scheduled(store, clock)
            assert len(notifier.failures["telegram:1"]) == 2 - attempt
            clock.advance(seconds=RETRY_BACKOFF.delay(attempt + 1, lambda: 1.0) + 1)
        async with asyncio.timeout(10):
            while await store.pending_count():
                await asyncio.sleep(0.01)
    assert notifier.delivered == []


async def test_permanent_refusal_deactivates_only_that_destination(
    store: Store, clock: FakeClock
) -> None:
    engine = await setup(store, clock, ["telegram:1", "telegram:2"])
    await fire(engine, clock, [40, 55, 40])
    notifier = RecordingNotifier()
    notifier.failures["telegram:1"] = [PermanentDeliveryError("bot was blocked by the user")]
    async with Running(make(store, clock, notifier)):
        await until(lambda: len(notifier.delivered) == 2)
    blocked = await store.destination("telegram:1")
    assert blocked is not None and not blocked.active
    assert await store.pending_count() == 0
    await fire(engine, clock, [55])
    async with Running(make(store, clock, notifier)):
        await until(lambda: len(notifier.delivered) == 3)
    assert notifier.delivered[-1] == ("telegram:2", 3)
    # Subscribing again (the user unblocked the bot) reactivates the chat.
    await store.subscribe("telegram:1", ["asi-above-50"], clock())
    reactivated = await store.destination("telegram:1")
    assert reactivated is not None and reactivated.active


async def test_moved_destination_gets_the_row_at_its_new_address(
    store: Store, clock: FakeClock
) -> None:
    engine = await setup(store, clock, ["telegram:-100"])
    await fire(engine, clock, [40, 55])
    notifier = RecordingNotifier()
    moved = DestinationMoved(Destination("telegram", "-1009999"))
    notifier.failures["telegram:-100"] = [moved]
    async with Running(make(store, clock, notifier)):
        await until(lambda: len(notifier.delivered) == 1)
    assert notifier.delivered == [("telegram:-1009999", 1)]
    assert await store.destination("telegram:-100") is None
    new = await store.destination("telegram:-1009999")
    assert new is not None and new.rule_ids == ("asi-above-50",)


async def test_a_notifier_bug_is_retried_not_fatal(store: Store, clock: FakeClock) -> None:
    engine = await setup(store, clock, ["telegram:1", "telegram:2"])
    await fire(engine, clock, [40, 55])
    notifier = RecordingNotifier()
    notifier.failures["telegram:1"] = [RuntimeError("renderer bug")]
    async with Running(make(store, clock, notifier)):
        await until(lambda: ("telegram:2", 1) in notifier.delivered)
        await until_scheduled(store, clock)
        clock.advance(seconds=10)
        await until(lambda: ("telegram:1", 1) in notifier.delivered)


async def test_rows_for_schemes_without_a_notifier_wait(store: Store, clock: FakeClock) -> None:
    engine = await setup(store, clock, ["discord:42", "telegram:1"])
    await fire(engine, clock, [40, 55])
    notifier = RecordingNotifier()
    async with Running(make(store, clock, notifier)):
        await until(lambda: len(notifier.delivered) == 1)
    assert await store.pending_count() == 1
    discord = RecordingNotifier(scheme="discord")
    dispatcher = Dispatcher(store, {}, clock, idle_poll=0.01)
    dispatcher.add_notifier(discord)
    async with Running(dispatcher):
        await until(lambda: len(discord.delivered) == 1)


async def test_stop_lets_the_row_in_flight_finish(store: Store, clock: FakeClock) -> None:
    engine = await setup(store, clock, ["telegram:1"])
    await fire(engine, clock, [40, 55, 40, 55])
    notifier = RecordingNotifier(delay=0.2)
    dispatcher = make(store, clock, notifier)
    task = asyncio.create_task(dispatcher.run())
    await until(lambda: notifier.started == 1)
    await dispatcher.stop()
    await asyncio.wait_for(task, 5)
    assert notifier.delivered == [("telegram:1", 1)]
    assert await store.pending_count() == 2


async def test_several_workers_on_postgres_send_each_row_once_in_order(clock: FakeClock) -> None:
    url = await reset_postgres()
    stores = [await Store.open(url) for _ in range(3)]
    try:
        chats = [f"telegram:{i}" for i in range(1, 41)]
        engine = await setup(stores[0], clock, chats)
        await fire(engine, clock, [40, 55, 40, 55, 40])
        notifier = RecordingNotifier(delay=0.002)
        workers = [make(s, clock, notifier) for s in stores]
        running = [Running(w) for w in workers]
        for r in running:
            await r.__aenter__()
        try:
            await until(lambda: len(notifier.delivered) == 160)
            await asyncio.sleep(0.1)
        finally:
            for r in running:
                await r.__aexit__()
        assert len(notifier.delivered) == len(set(notifier.delivered)) == 160
        for chat in chats:
            assert [e for c, e in notifier.delivered if c == chat] == [1, 2, 3, 4]
    finally:
        for s in stores:
            await s.close()


@pytest.mark.parametrize("attempts", [0, 1, 5, 30])
def test_backoff_is_bounded_and_jittered(attempts: int) -> None:
    low = timedelta(seconds=RETRY_BACKOFF.delay(attempts + 1, lambda: 0.0))
    high = timedelta(seconds=RETRY_BACKOFF.delay(attempts + 1, lambda: 1.0))
    assert timedelta(seconds=1) <= low < high <= timedelta(seconds=600)


async def test_a_stalled_platform_never_holds_up_another(store: Store, clock: FakeClock) -> None:
    # Telegram in a flood (every send waiting out its pacer) must not delay webhooks: each
    # platform has its own lane of send slots.
    chats = [f"telegram:{i}" for i in range(1, 41)]
    hooks = [f"webhook:http://127.0.0.1:9/hook{i}" for i in range(40)]
    engine = await setup(store, clock, chats + hooks)
    await fire(engine, clock, [40, 55])
    release = asyncio.Event()

    @dataclass
    class Flooded(RecordingNotifier):
        async def send(
            self, destination: Destination, message: AlertMessage, zone: tzinfo = UTC
        ) -> None:
            self.started += 1
            await release.wait()
            self.delivered.append((destination.address, message.event_id))

    telegram = Flooded()
    webhook = RecordingNotifier(scheme="webhook")
    dispatcher = Dispatcher(
        store, {"telegram": telegram, "webhook": webhook}, clock, workers=4, idle_poll=0.01
    )
    async with Running(dispatcher):
        await until(lambda: len(webhook.delivered) == 40)
        # Only Telegram's own four slots are taken by the stall.
        assert telegram.started == 4
        assert telegram.delivered == []
        release.set()
        await until(lambda: len(telegram.delivered) == 40)
    assert await store.pending_count() == 0


async def test_a_muted_chat_gets_one_summary_in_its_zone_once_the_mute_runs_out(
    store: Store, clock: FakeClock
) -> None:
    engine = await setup(store, clock, ["telegram:1", "telegram:2"])
    await store.set_mute("telegram:1", clock() + timedelta(hours=1), clock())
    await store.set_time_zone("telegram:1", "Europe/Berlin", clock())
    await fire(engine, clock, [40, 55, 40])
    notifier = RecordingNotifier()
    async with Running(make(store, clock, notifier)):
        await until(lambda: len(notifier.delivered) == 2)
        # A send is recorded a moment after it is made: wait for the second one's commit.
        async with asyncio.timeout(10):
            while await store.pending_count():
                await asyncio.sleep(0.005)
        # The muted chat's alerts wait held: nothing due, nothing sent, both in its history.
        assert notifier.delivered == [("telegram:2", 1), ("telegram:2", 2)]
        assert await store.due_destinations(clock(), 10, ["telegram"]) == []
        assert [e.handling for e in await store.history("telegram:1", 10)] == ["held", "held"]

        clock.advance(hours=1)
        await until(lambda: len(notifier.summaries) == 1)

    assert notifier.summaries == [("telegram:1", (1, 2), ZoneInfo("Europe/Berlin"))]
    assert notifier.delivered == [("telegram:2", 1), ("telegram:2", 2)]
    assert await store.pending_count() == 0
    assert [e.handling for e in await store.history("telegram:1", 10)] == ["summary", "summary"]
