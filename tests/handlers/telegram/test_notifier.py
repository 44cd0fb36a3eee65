"""Alerts through the real python-telegram-bot to the fake Bot API: rendering, limits, errors."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from telegram.ext import ExtBot

from bot.model.alerts import AlertMessage, FeedNotice
from bot.model.delivery import DestinationMoved, PermanentDeliveryError, TransientDeliveryError
from bot.model.destinations import Destination
from handlers.telegram.notifier import TelegramNotifier
from handlers.telegram.pacing import FloodLimits, Pacer
from tests.fakes.telegram_api import (
    Failure,
    FakeLimits,
    TelegramApiFake,
    blocked_by_user,
    chat_not_found,
    kicked_from_group,
    migrated_to,
    server_error,
    too_many_requests,
)
from tests.handlers.telegram.virtual_time import VirtualTime


def alert(event_id: int, description: str = "Altcoin season: ASI at or above 75") -> AlertMessage:
    return AlertMessage(
        event_id=event_id,
        rule_id="altseason",
        rule_description=description,
        state="firing",
        metric="asi",
        value=76.0,
        threshold=75.0,
        previous=70.0,
        source="coingecko",
        at=datetime(2026, 1, 5, 12, 30, tzinfo=UTC),
        op=">=",
        direction="rise",
    )


def to(chat: int, topic: int | None = None) -> Destination:
    return Destination("telegram", str(chat), str(topic) if topic is not None else None)


class Wired:
    """A notifier on a real ExtBot whose pacer and the fake share one virtual clock."""

    def __init__(self, fake: TelegramApiFake, clock: VirtualTime, limits: FloodLimits) -> None:
        self.fake = fake
        self.pacer = Pacer(limits, clock=clock, sleep=clock.sleep)
        self.bot: ExtBot[int] = ExtBot(
            fake.token,
            base_url=f"{fake.api_url}/bot",
            base_file_url=f"{fake.api_url}/file/bot",
            rate_limiter=self.pacer,
        )
        self.notifier = TelegramNotifier(self.bot)


@pytest.fixture
def clock() -> VirtualTime:
    return VirtualTime()


@pytest.fixture
async def wired(clock: VirtualTime) -> AsyncIterator[Wired]:
    async with TelegramApiFake(limits=FakeLimits(), clock=clock) as fake:
        parts = Wired(fake, clock, FloodLimits())
        await parts.bot.initialize()
        parts.notifier.set_online(True)
        yield parts
        await parts.bot.shutdown()


async def deliver_in_order(
    notifier: TelegramNotifier, clock: VirtualTime, chat: int, events: list[int]
) -> list[float | None]:
    """Do what the dispatcher does for one destination: each row in turn, retried when told."""
    waits: list[float | None] = []
    for event_id in events:
        while True:
            try:
                await notifier.send(to(chat), alert(event_id, f"#{event_id}"))
                break
            except TransientDeliveryError as exc:
                waits.append(exc.retry_after)
                await clock.sleep(exc.retry_after or 1.0)
    return waits


def delivered_ids(fake: TelegramApiFake, chat: int) -> list[int]:
    """Return the event numbers that reached `chat`, in arrival order."""
    return [
        int(line.removeprefix("🟢 Risk-on · #"))
        for message in fake.messages(chat)
        for line in message.plain.splitlines()
        if line.startswith("🟢 Risk-on · #")
    ]


async def test_an_alert_states_rule_value_threshold_change_source_and_time(
    wired: Wired, clock: VirtualTime
) -> None:
    message = alert(1, description="ASI <b>76</b> & rising")

    await clock.run(wired.notifier.send(to(42, topic=9), message))

    [sent] = wired.fake.messages(42)
    assert sent.thread_id == 9
    assert sent.parse_mode == "HTML"
    assert sent.plain.splitlines() == [
        "🟢 Risk-on · ASI <b>76</b> & rising",
        "Altcoin Season Index: 76 (rule: at or above 75)",
        "Change: +6 from 70",
        "altseason · via coingecko · 2026-01-05 12:30 UTC",
    ]


async def test_fan_out_to_every_chat_stays_within_telegram_limits(
    wired: Wired, clock: VirtualTime
) -> None:
    private = list(range(1, 401))
    groups = [-1001, -1002, -1003]
    plan = {chat: [1] for chat in private} | {group: list(range(1, 26)) for group in groups}
    for chat in plan:
        wired.fake.add_chat(chat, "private" if chat > 0 else "supergroup")

    waits = await clock.run(
        *(deliver_in_order(wired.notifier, clock, chat, ids) for chat, ids in plan.items()),
        limit=120,
    )

    assert wired.fake.rejections == []
    assert not any(waits)
    for chat, ids in plan.items():
        assert delivered_ids(wired.fake, chat) == ids
    # The 400 private chats and the groups' first messages share the overall rate.
    first_wave = sorted(m.at for m in wired.fake.sent)[:400]
    rate = (len(first_wave) - 1) / (first_wave[-1] - first_wave[0])
    assert rate >= 0.95 * 30
    # A group's 21st message waits for its minute.
    assert wired.fake.messages(-1001)[20].at >= 60.0


async def test_a_429_storm_delays_but_loses_nothing(wired: Wired, clock: VirtualTime) -> None:
    chats = list(range(1, 61))
    for storm in (5, 17, 33):
        wired.fake.fail_next(storm, too_many_requests(3), times=2)

    waits = await clock.run(
        *(deliver_in_order(wired.notifier, clock, chat, [1, 2, 3]) for chat in chats), limit=120
    )

    for chat in chats:
        assert delivered_ids(wired.fake, chat) == [1, 2, 3]
    assert list(itertools.chain(*waits)) == [3.0] * 6
    storms = [r for r in wired.fake.rejections if r.status == 429]
    assert len(storms) == 6  # the scripted ones; pacing caused none
    for refusal in storms:
        # Flood control holds every chat, not just the one refused.
        assert not [m for m in wired.fake.sent if refusal.at < m.at < refusal.at + 3]


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (blocked_by_user(), PermanentDeliveryError),
        (kicked_from_group(), PermanentDeliveryError),
        (chat_not_found(), PermanentDeliveryError),
        (Failure(400, "Bad Request: message thread not found"), PermanentDeliveryError),
        (server_error(), TransientDeliveryError),
        (Failure(400, "Bad Request: can't parse entities"), TransientDeliveryError),
    ],
)
async def test_refusals_become_delivery_errors(
    wired: Wired, clock: VirtualTime, failure: Failure, expected: type[Exception]
) -> None:
    wired.fake.fail_always(-77, failure)

    async def attempt() -> None:
        with pytest.raises(expected) as raised:
            await wired.notifier.send(to(-77), alert(1))
        assert failure.description.split(": ", 1)[-1].lower() in str(raised.value).lower()

    await clock.run(attempt())


async def test_a_migrated_group_raises_destination_moved(wired: Wired, clock: VirtualTime) -> None:
    wired.fake.fail_always(-55, migrated_to(-100_55))

    async def attempt() -> None:
        with pytest.raises(DestinationMoved) as raised:
            await wired.notifier.send(to(-55), alert(1))
        assert raised.value.new_destination == Destination("telegram", "-10055")

    await clock.run(attempt())


async def test_flood_control_is_transient_with_telegrams_wait(
    wired: Wired, clock: VirtualTime
) -> None:
    wired.fake.fail_next(42, too_many_requests(7))

    async def attempt() -> None:
        with pytest.raises(TransientDeliveryError) as raised:
            await wired.notifier.send(to(42), alert(1))
        assert raised.value.retry_after == 7
        assert wired.pacer.schedule.paused_until == clock.now + 7

    await clock.run(attempt())


async def test_an_unreachable_bot_api_is_transient(clock: VirtualTime) -> None:
    async with TelegramApiFake(clock=clock) as fake:
        wired = Wired(fake, clock, FloodLimits())
        await wired.bot.initialize()
        wired.notifier.set_online(True)
    # The fake has stopped listening: the port refuses connections.

    async def attempt() -> None:
        with pytest.raises(TransientDeliveryError, match="Telegram unreachable"):
            await wired.notifier.send(to(42), alert(1))

    try:
        await clock.run(attempt())
    finally:
        await wired.bot.shutdown()


async def test_a_notifier_not_yet_online_refuses_as_transient(wired: Wired) -> None:
    wired.notifier.set_online(False)

    with pytest.raises(TransientDeliveryError, match="not connected"):
        await wired.notifier.send(to(42), alert(1))
    assert wired.fake.sent == []


async def test_a_long_alert_text_is_cut_to_one_message(wired: Wired, clock: VirtualTime) -> None:
    await clock.run(wired.notifier.send(to(42), alert(1, description="&<>" * 3000)))
    notice = replace(
        alert(2), notice=FeedNotice("yahoo", None, "&<>" * 3000), op=None, direction=None
    )
    await clock.run(wired.notifier.send(to(42), notice))

    sent = wired.fake.messages(42)
    assert len(sent) == 2
    for message in sent:
        assert len(message.plain) < 4096
        assert "&<>&<>" in message.plain
