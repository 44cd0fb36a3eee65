"""The whole service with the Telegram front-end: a scripted feed in, messages out on the fake Bot API."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest

import bot.charts
from bot.app import run
from bot.charts import ChartError, ChartImage, ChartSpec
from bot.model.destinations import DestinationInfo
from bot.model.rules import BUILTIN_RULES
from bot.settings import Settings
from bot.storage import Store
from handlers.telegram import FloodLimits
from signals.metrics import metric_info
from signals.sources.coingecko import CoinGeckoClient, CoinGeckoMarkets
from signals.types import Source
from tests.fakes.clock import JumpingClock
from tests.fakes.feeds import FeedServer
from tests.fakes.scripted import ScriptedDominance, start_service
from tests.fakes.telegram_api import (
    SentMessage,
    TelegramApiFake,
    blocked_by_user,
    migrated_to,
    too_many_requests,
)
from tests.signals import scenario
from timing import utcnow

RULE = "btc-dominance-below-59"
METRIC = "btc_dominance"
POLL_SECONDS = 0.05
# Feed polls to let pass after an alert before asserting that no second copy follows it. A second
# copy would be paced one per-chat slot (a second) behind the first, so the wait must outlast it.
_PER_CHAT = FloodLimits().per_chat
SETTLE_POLLS = 6 + math.ceil(1.5 * _PER_CHAT.seconds / _PER_CHAT.count / POLL_SECONDS)
STOP_TIMEOUT = 10.0
# Telegram paces each chat to one message a second, so a chat's alert can trail its reply by that.
DELIVERY_TIMEOUT = 15.0

USER = 4242
OTHER_USER = 5151
ADMIN = 7
MEMBER = 8
GROUP = -100_555
CHANNEL = -100_777
OLD_GROUP = -4321
NEW_GROUP = -100_4321
REFUSED = "Only this chat's administrators can change its alerts."


@dataclass
class Running:
    """The service running in a task against the fake Bot API, and how to stop it."""

    settings: Settings
    fake: TelegramApiFake
    feed: ScriptedDominance
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def shutdown(self) -> None:
        """Set the stop event and wait for `run` to return."""
        self.stop.set()
        await asyncio.wait_for(self.task, STOP_TIMEOUT)

    async def next_message(self, chat_id: int, before: int) -> SentMessage:
        """Wait for the message that follows the `before` already in `chat_id`."""
        messages = await self.fake.wait_for_messages(chat_id, before + 1, DELIVERY_TIMEOUT)
        return messages[before]

    async def dm(self, user_id: int, text: str) -> SentMessage:
        """Send `text` to the bot in `user_id`'s private chat and wait for the reply."""
        before = len(self.fake.messages(user_id))
        self.fake.private_message(user_id, text)
        return await self.next_message(user_id, before)

    async def in_group(
        self, chat_id: int, user_id: int, text: str, *, supergroup: bool = True
    ) -> SentMessage:
        """Send `text` as `user_id` in a group and wait for the reply."""
        before = len(self.fake.messages(chat_id))
        self.fake.group_message(chat_id, user_id, text, supergroup=supergroup)
        return await self.next_message(chat_id, before)

    async def in_channel(self, chat_id: int, text: str) -> SentMessage:
        """Post `text` in a channel and wait for the reply."""
        before = len(self.fake.messages(chat_id))
        self.fake.channel_post(chat_id, text)
        return await self.next_message(chat_id, before)

    async def cross_threshold(self) -> None:
        """Publish dominance above the threshold, then below it."""
        self.feed.publish(60.0, 58.0)
        await self.feed.wait_caught_up()

    async def only_alerts(self, replies: dict[int, int]) -> list[SentMessage]:
        """Wait for one alert after each chat's `replies`; fail if a second copy follows any."""
        alerts = [await self.next_message(chat, before) for chat, before in replies.items()]
        await self.feed.wait_polls(SETTLE_POLLS)
        for (chat, before), alert in zip(replies.items(), alerts, strict=True):
            assert self.fake.messages(chat)[before:] == [alert], f"chat {chat}"
        return alerts

    async def only_alert(self, chat_id: int, before: int) -> SentMessage:
        """Wait for the alert after the `before` replies in `chat_id`; fail if a second follows."""
        [alert] = await self.only_alerts({chat_id: before})
        return alert

    async def destination(self, chat_id: int) -> DestinationInfo | None:
        """Return what the store (opened afresh) holds for `chat_id`."""
        store = await Store.open(self.settings.async_database_url)
        try:
            return await store.destination(f"telegram:{chat_id}")
        finally:
            await store.close()


def settings_for(tmp_path: Path, fake: TelegramApiFake) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'radar.db'}",
        port=0,
        poll_seconds=POLL_SECONDS,
        telegram_token=fake.token,
        telegram_api_url=fake.api_url,
        # Named so a token in the developer's environment cannot add a second front-end.
        discord_token=None,
        admin_ids=(),
        _env_file=None,
    )


@pytest.fixture
async def live(tmp_path: Path, fake: TelegramApiFake) -> AsyncIterator[Running]:
    feed = ScriptedDominance()
    settings = settings_for(tmp_path, fake)
    # The first long poll comes once the front-end has started and its notifier is registered.
    polled = fake.wait_until(lambda: fake.calls["getUpdates"] > 0)
    stop, task = await start_service(settings, feed, polled, "its Telegram front-end polled")
    running = Running(settings, fake, feed, stop, task)
    yield running
    # Also re-raises here whatever `run` died of, should a test not have looked.
    await running.shutdown()


def rejections(fake: TelegramApiFake, chat_id: int) -> list[int]:
    # Alerts go as photos of their chart (ALERT_CHARTS is on by default), replies as messages.
    sends = ("sendMessage", "sendPhoto")
    return [r.status for r in fake.rejections if r.method in sends and r.chat_id == chat_id]


def assert_names_the_alert(alert: SentMessage) -> None:
    rule = next(r for r in BUILTIN_RULES if r.id == RULE)
    assert alert.parse_mode == "HTML"
    assert rule.description in alert.plain
    assert RULE in alert.plain
    assert metric_info(METRIC).format(58.0) in alert.plain


async def test_dm_group_and_channel_each_get_one_alert(live: Running) -> None:
    fake = live.fake
    fake.set_admins(GROUP, ADMIN)
    assert "Risk-On Radar" in (await live.dm(USER, "/start")).plain
    assert f"Subscribed to {RULE}" in (await live.dm(USER, f"/subscribe {RULE}")).plain
    await live.in_group(GROUP, ADMIN, "/start")
    assert (
        f"Subscribed to {RULE}" in (await live.in_group(GROUP, ADMIN, f"/subscribe {RULE}")).plain
    )
    await live.in_channel(CHANNEL, "/start")
    assert f"Subscribed to {RULE}" in (await live.in_channel(CHANNEL, f"/subscribe {RULE}")).plain
    replies = {chat: len(fake.messages(chat)) for chat in (USER, GROUP, CHANNEL)}
    assert replies == {USER: 2, GROUP: 2, CHANNEL: 2}

    await live.cross_threshold()
    alerts = await live.only_alerts(replies)

    for alert in alerts:
        assert_names_the_alert(alert)
    assert {m.chat_id for m in fake.sent} == {USER, GROUP, CHANNEL}
    assert fake.rejections == []

    await live.shutdown()
    assert live.task.done()
    assert live.task.exception() is None


async def test_group_member_is_refused_and_the_group_gets_no_alert(live: Running) -> None:
    fake = live.fake
    fake.set_admins(GROUP, ADMIN)
    refused = await live.in_group(GROUP, MEMBER, f"/subscribe {RULE}")
    assert refused.plain == REFUSED
    # A subscribed DM is the control: once its alert is out, the group has had its chance.
    await live.dm(USER, f"/subscribe {RULE}")

    await live.cross_threshold()
    await live.only_alert(USER, 1)

    assert fake.messages(GROUP) == [refused]
    assert rejections(fake, GROUP) == []
    assert await live.destination(GROUP) is None


async def test_status_shows_the_latest_dominance(live: Running) -> None:
    live.feed.publish(61.25)
    await live.feed.wait_caught_up()

    reply = await live.dm(USER, "/status")

    line = next(x for x in reply.plain.splitlines() if x.startswith(f"{METRIC} "))
    assert line.split()[1] == metric_info(METRIC).format(61.25)
    assert line.split()[-1] == "coingecko"
    assert not live.task.done()


async def test_flood_control_delays_the_alert_but_sends_it_once(live: Running) -> None:
    fake = live.fake
    await live.dm(USER, f"/subscribe {RULE}")
    fake.fail_next(USER, too_many_requests(1), times=3)

    await live.cross_threshold()
    alert = await live.only_alert(USER, 1)

    assert_names_the_alert(alert)
    assert rejections(fake, USER) == [429, 429, 429]
    last_refusal = max(r.at for r in fake.rejections if r.chat_id == USER)
    # Telegram asked for a one-second pause each time; the send after the last one honours it.
    assert alert.at - last_refusal >= 1.0


async def test_blocked_user_is_deactivated_and_others_still_get_theirs(live: Running) -> None:
    fake = live.fake
    fake.set_admins(GROUP, ADMIN)
    await live.dm(USER, f"/subscribe {RULE}")
    await live.dm(OTHER_USER, f"/subscribe {RULE}")
    await live.in_group(GROUP, ADMIN, f"/subscribe {RULE}")
    fake.fail_next(USER, blocked_by_user())

    await live.cross_threshold()
    await live.only_alerts({OTHER_USER: 1, GROUP: 1})

    # Refused once and never retried.
    assert rejections(fake, USER) == [403]
    assert len(fake.messages(USER)) == 1
    await live.shutdown()
    blocked = await live.destination(USER)
    assert blocked is not None
    assert not blocked.active
    for chat in (OTHER_USER, GROUP):
        kept = await live.destination(chat)
        assert kept is not None
        assert kept.active


async def test_migrated_group_gets_its_alert_at_the_new_id(live: Running) -> None:
    fake = live.fake
    fake.set_admins(OLD_GROUP, ADMIN)
    await live.in_group(OLD_GROUP, ADMIN, f"/subscribe {RULE}", supergroup=False)
    fake.fail_next(OLD_GROUP, migrated_to(NEW_GROUP))

    await live.cross_threshold()
    alert = await live.only_alert(NEW_GROUP, 0)

    assert_names_the_alert(alert)
    assert rejections(fake, OLD_GROUP) == [400]
    assert len(fake.messages(OLD_GROUP)) == 1
    await live.shutdown()
    moved = await live.destination(NEW_GROUP)
    assert moved is not None
    assert moved.active
    assert moved.rule_ids == (RULE,)
    assert await live.destination(OLD_GROUP) is None


def ranking_calls(feeds: FeedServer) -> int:
    return sum(1 for s in feeds.seen if s.path.endswith("/markets") and "category" not in s.query)


async def test_status_asi_shows_the_universe_the_live_coingecko_source_computed(
    tmp_path: Path, fake: TelegramApiFake
) -> None:
    now = datetime.now(UTC)
    async with FeedServer() as feeds:
        # A hundred days of closes: enough for the 90-day reference, quick to store.
        scenario.install(feeds, now, history_days=100)
        markets: list[CoinGeckoMarkets] = []

        def sources(_: Settings, session: aiohttp.ClientSession, store: Store) -> list[Source]:
            client = CoinGeckoClient(session, feeds.coingecko_url, calls_per_minute=100_000)
            markets.append(CoinGeckoMarkets(client, store))
            return [*markets]

        stop = asyncio.Event()
        settings = settings_for(tmp_path, fake)
        task = asyncio.create_task(run(settings, stop=stop, clock=utcnow, sources=sources))
        try:
            # A poller fetches again only once the last result is stored: a second ranking call
            # means the first refresh's value and universe are both in place.
            async with asyncio.timeout(DELIVERY_TIMEOUT):
                while ranking_calls(feeds) < 2:
                    await asyncio.sleep(POLL_SECONDS)
            fake.private_message(USER, "/status asi")
            (reply,) = await fake.wait_for_messages(USER, 1, DELIVERY_TIMEOUT)
        finally:
            stop.set()
            await asyncio.wait_for(task, STOP_TIMEOUT)

    assert reply.parse_mode == "HTML"
    lines = reply.plain.splitlines()
    assert "Altcoin Season Index (asi)" in lines
    assert "Value: 40" in lines
    start = next(i for i, line in enumerate(lines) if line.startswith("ASI universe · "))
    assert lines[start + 1 : start + 3] == [
        "Bitcoin over 90 days: +10.0% · 20 of 50 coins beat it",
        "✅ Beat Bitcoin (20): " + ", ".join(f"ALT{i:02d} +{50 + i}.0%" for i in range(20, 0, -1)),
    ]
    assert lines[start + 3].startswith("❌ Behind (30): ALT21 +10.0%, ALT22 −10.0%")
    assert lines[start + 4] == (
        "🚫 Excluded (7): TETHER, USD-COIN, NEW-DOLLAR (Stablecoins); "
        "STAKED-ETHER, MEGA-LST (Liquid Staking Tokens); WRAPPED-BITCOIN (Wrapped-Tokens); "
        "BRIDGED-THING (the name says it is a bridged copy of another chain's token)"
    )
    # The stored list of winners is not repeated above the universe.
    assert "ALT20: +70.00%" not in reply.plain


# A winter evening in Berlin (CET, UTC+1), half an hour into the quiet hours the tests set.
BERLIN = ZoneInfo("Europe/Berlin")
EVENING = datetime(2026, 1, 5, 23, 30, tzinfo=BERLIN)


@pytest.fixture
async def at_night(
    tmp_path: Path, fake: TelegramApiFake
) -> AsyncIterator[tuple[Running, JumpingClock]]:
    """The service on a wall clock that starts at `EVENING` and that the test can move ahead."""
    feed = ScriptedDominance()
    settings = settings_for(tmp_path, fake)
    clock = JumpingClock(EVENING.astimezone(UTC))
    polled = fake.wait_until(lambda: fake.calls["getUpdates"] > 0)
    stop, task = await start_service(settings, feed, polled, "its Telegram front-end polled", clock)
    running = Running(settings, fake, feed, stop, task)
    yield running, clock
    await running.shutdown()


async def held_until_history_says_so(live: Running, chat_id: int) -> SentMessage:
    """Cross the threshold, let the dispatcher run a while, and return `/history` (it is held)."""
    before = len(live.fake.messages(chat_id))
    await live.cross_threshold()
    # Polls, not a timer: were the alert sent, it would have arrived by now (see SETTLE_POLLS).
    await live.feed.wait_polls(SETTLE_POLLS)
    assert len(live.fake.messages(chat_id)) == before
    history = await live.dm(chat_id, "/history")
    assert RULE in history.plain
    assert history.plain.splitlines()[-1].endswith(" · held")
    return history


async def replies_and_summary(live: Running, chat_id: int, before: int) -> tuple[str, SentMessage]:
    """Wait for a command's reply and the summary it let go (in either order); return both."""
    messages = (await live.fake.wait_for_messages(chat_id, before + 2, DELIVERY_TIMEOUT))[before:]
    [summary] = [m for m in messages if m.plain.startswith("🔕 ")]
    [reply] = [m for m in messages if m is not summary]
    await live.feed.wait_polls(SETTLE_POLLS)
    assert len(live.fake.messages(chat_id)) == before + 2, "a summary went out twice"
    return reply.plain, summary


async def test_a_muted_chat_gets_nothing_then_one_summary_on_unmute(
    at_night: tuple[Running, JumpingClock],
) -> None:
    live, _ = at_night
    await live.dm(USER, f"/subscribe {RULE}")
    muted = await live.dm(USER, "/mute 1h")
    assert muted.plain == (
        "Alerts here are muted until 2026-01-05 23:30 UTC. Alerts that fire meanwhile are held "
        "and sent in one summary when it ends; /unmute ends it now."
    )

    await held_until_history_says_so(live, USER)

    before = len(live.fake.messages(USER))
    live.fake.private_message(USER, "/unmute")
    reply, summary = await replies_and_summary(live, USER, before)
    assert reply == "Alerts here are back on. The alert held meanwhile follows."
    lines = summary.plain.splitlines()
    assert lines[0] == "🔕 While muted: 1 alert"
    assert lines[1].startswith("• 2026-01-05 22:3")
    assert f"🟢 {RULE} · Bitcoin dominance: {metric_info(METRIC).format(58.0)}" in lines[1]
    history = await live.dm(USER, "/history")
    assert history.plain.splitlines()[-1].endswith(" · in a summary")


async def test_quiet_hours_hold_an_alert_until_the_morning(
    at_night: tuple[Running, JumpingClock],
) -> None:
    live, clock = at_night
    await live.dm(USER, f"/subscribe {RULE}")
    quiet = await live.dm(USER, "/quiet 23:00-07:00 Europe/Berlin")
    assert quiet.plain == (
        "Quiet hours here: 23:00-07:00 Europe/Berlin, every day. Alerts that fire then are held "
        "and sent in one summary when they end."
    )
    bad = await live.dm(USER, "/quiet 25:00-07:00")
    assert bad.plain == (
        "'25:00' is not a time of day: use 00:00 to 23:59. Usage: /quiet <HH:MM-HH:MM> [zone] "
        "| off, e.g. /quiet 23:00-07:00 Europe/Berlin"
    )
    assert (await live.dm(USER, "/quiet")).plain == quiet.plain

    await held_until_history_says_so(live, USER)

    before = len(live.fake.messages(USER))
    clock.jump(hours=8)  # 07:30 in Berlin: the night is over
    summary = await live.next_message(USER, before)
    lines = summary.plain.splitlines()
    assert lines[0] == "🔕 During quiet hours: 1 alert"
    assert RULE in lines[1]
    await live.feed.wait_polls(SETTLE_POLLS)
    assert live.fake.messages(USER)[before:] == [summary]


async def test_the_chat_time_zone_changes_how_times_read(
    at_night: tuple[Running, JumpingClock],
) -> None:
    live, _ = at_night
    await live.dm(USER, f"/subscribe {RULE}")
    utc = await live.dm(USER, "/timezone")
    assert utc.plain.startswith("Times here are shown in UTC: it is 2026-01-05 22:3")
    berlin = await live.dm(USER, "/timezone Europe/Berlin")
    assert berlin.plain.startswith("Times here are shown in Europe/Berlin: it is 2026-01-05 23:3")
    assert berlin.plain.endswith(" CET now.")
    bad = await live.dm(USER, "/timezone Mars/Base")
    assert bad.plain == (
        "unknown time zone 'Mars/Base': use an IANA name such as Europe/Berlin. "
        "Usage: /timezone <IANA zone>, e.g. /timezone Europe/Berlin"
    )

    await live.cross_threshold()
    alert = await live.only_alert(USER, 4)

    assert_names_the_alert(alert)
    assert alert.plain.splitlines()[-1].endswith(" CET")
    assert " 2026-01-05 23:3" in alert.plain.splitlines()[-1]
    status = await live.dm(USER, f"/status {METRIC}")
    assert "As of: 2026-01-05 23:3" in status.plain
    assert status.plain.splitlines()[0].endswith(" CET")
    history = await live.dm(USER, "/history")
    assert history.plain.splitlines()[1].startswith("2026-01-05 23:3")


# --- a chart on every alert ---------------------------------------------------------------------


async def test_an_alert_fanned_out_is_a_photo_in_each_chat_uploaded_once(live: Running) -> None:
    fake = live.fake
    await live.dm(USER, f"/subscribe {RULE}")
    await live.dm(OTHER_USER, f"/subscribe {RULE}")

    await live.cross_threshold()
    alerts = await live.only_alerts({USER: 1, OTHER_USER: 1})

    for alert in alerts:
        assert alert.photo is not None
        assert_names_the_alert(alert)
    photos = [a.photo for a in alerts if a.photo is not None]
    # One upload; the other chat got the photo by the file id Telegram gave back.
    assert sorted(p.uploaded for p in photos) == [False, True]
    assert photos[0].file_id == photos[1].file_id
    assert sum(1 for m in fake.sent if m.photo is not None and m.photo.uploaded) == 1
    assert fake.rejections == []


@pytest.fixture
async def charts_off(tmp_path: Path, fake: TelegramApiFake) -> AsyncIterator[Running]:
    feed = ScriptedDominance()
    settings = settings_for(tmp_path, fake).model_copy(update={"alert_charts": False})
    polled = fake.wait_until(lambda: fake.calls["getUpdates"] > 0)
    stop, task = await start_service(settings, feed, polled, "its Telegram front-end polled")
    running = Running(settings, fake, feed, stop, task)
    yield running
    await running.shutdown()


async def test_alert_charts_off_sends_plain_text(charts_off: Running) -> None:
    await charts_off.dm(USER, f"/subscribe {RULE}")
    await charts_off.cross_threshold()
    alert = await charts_off.only_alert(USER, 1)
    assert alert.photo is None
    assert_names_the_alert(alert)
    assert charts_off.fake.calls["sendPhoto"] == 0


async def test_a_chart_that_fails_to_draw_lets_the_alert_out_as_text(
    live: Running, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(spec: ChartSpec) -> ChartImage:
        raise ChartError(f"could not draw the {spec.metric} chart: no backend")

    monkeypatch.setattr(bot.charts, "draw_now", broken)
    await live.dm(USER, f"/subscribe {RULE}")
    await live.dm(OTHER_USER, f"/subscribe {RULE}")

    await live.cross_threshold()
    alerts = await live.only_alerts({USER: 1, OTHER_USER: 1})

    for alert in alerts:
        assert alert.photo is None
        assert_names_the_alert(alert)
    failures = [r for r in caplog.records if "goes without a chart" in r.getMessage()]
    assert len(failures) == 1, "logged once per event, not per chat"
