"""Held alerts in the store: kept while a chat is muted or quiet, released once, summarised once."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, inspect, select

import bot.storage.store
from bot.model.delivery import Claimed, Outcome, Refused, Retry, Sent
from bot.model.quiet import parse_quiet
from bot.model.rules import RuleDefaults
from bot.storage import Store
from bot.storage.outbox import SUMMARY_MAX
from bot.storage.schema import outbox
from bot.watch.engine import AlertEngine
from signals.types import Sample
from tests.bot.conftest import FakeClock

CHAT = "telegram:1"
OTHER = "telegram:2"
BERLIN = ZoneInfo("Europe/Berlin")
LEASE = timedelta(minutes=1)


async def crossings(engine: AlertEngine, clock: FakeClock, count: int) -> list[int]:
    """Make asi-above-50 fire and resolve until `count` events; return their ids, oldest first."""
    ids: list[int] = []
    values = itertools.cycle([40.0, 55.0])
    while len(ids) < count:
        clock.advance(minutes=1)
        fired = await engine.ingest_sample(Sample("asi", next(values), clock(), "test"))
        ids += [f.event_id for f in fired]
    return ids


async def fire_once(engine: AlertEngine, clock: FakeClock) -> int:
    """Make asi-above-50 fire (from below 50); return the event id."""
    clock.advance(minutes=1)
    await engine.ingest_sample(Sample("asi", 40.0, clock(), "test"))
    clock.advance(minutes=1)
    [fired] = await engine.ingest_sample(Sample("asi", 55.0, clock(), "test"))
    return fired.event_id


async def statuses(store: Store) -> list[tuple[str, str | None]]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(select(outbox.c.status, outbox.c.held).order_by(outbox.c.id))
        return [(row.status, row.held) for row in rows]


async def claim(store: Store, clock: FakeClock) -> list[Claimed]:
    return await store.claim("w", ["telegram"], 10, clock(), LEASE)


async def setup(store: Store, clock: FakeClock, *chats: str) -> AlertEngine:
    engine = AlertEngine(store, RuleDefaults(), clock)
    await engine.reload()
    for chat in chats:
        await store.subscribe(chat, ["asi-above-50"], clock())
    return engine


async def test_a_muted_chat_holds_its_rows_and_unmute_sends_them_once_as_one_summary(
    store: Store, clock: FakeClock
) -> None:
    engine = await setup(store, clock, CHAT, OTHER)
    await store.set_mute(CHAT, clock() + timedelta(hours=2), clock())
    ids = await crossings(engine, clock, 3)

    # Only the other chat's rows can be claimed; the muted chat's wait held.
    claimed = await claim(store, clock)
    assert [c.item.destination.address for c in claimed] == [OTHER]
    assert await store.pending_count() == 3
    assert [s for s in await statuses(store) if s[0] == "held"] == [("held", "mute")] * 3

    assert await store.set_mute(CHAT, None, clock()) == 3

    [summary] = [c for c in await claim(store, clock) if c.item.destination.address == CHAT]
    assert [h.event.id for h in summary.item.held] == ids
    assert {h.reason for h in summary.item.held} == {"mute"}
    assert summary.item.row_ids[0] == summary.item.id
    assert summary.item.summary().reasons == frozenset({"mute"})
    await store.record([Outcome(summary.item, Sent(), clock())], "w", 5)

    # Delivered once: nothing of the chat is left, and each alert is logged as sent in a summary.
    assert [c.item.destination.address for c in await claim(store, clock)] == []
    history = await store.history(CHAT, 10)
    assert [(e.event.id, e.handling) for e in history] == [(i, "summary") for i in ids[::-1]]


async def test_held_alerts_show_in_the_history_until_their_summary_is_sent(
    store: Store, clock: FakeClock
) -> None:
    engine = await setup(store, clock, CHAT)
    await store.set_mute(CHAT, clock() + timedelta(hours=1), clock())
    first = await fire_once(engine, clock)
    assert [(e.event.id, e.handling) for e in await store.history(CHAT, 10)] == [(first, "held")]
    await store.set_mute(CHAT, None, clock())
    # Released, not yet sent: still held as far as the chat can tell.
    assert [(e.event.id, e.handling) for e in await store.history(CHAT, 10)] == [(first, "held")]


async def test_a_mute_that_runs_out_is_released_by_the_periodic_check(
    store: Store, clock: FakeClock
) -> None:
    engine = await setup(store, clock, CHAT)
    await store.set_mute(CHAT, clock() + timedelta(minutes=30), clock())
    await fire_once(engine, clock)
    assert await store.release_due(clock()) == 0
    clock.advance(minutes=30)
    assert await store.release_due(clock()) == 1
    assert await store.release_due(clock()) == 0
    [summary] = await claim(store, clock)
    assert len(summary.item.held) == 1


async def test_an_alert_after_the_mute_ran_out_goes_after_the_summary(
    store: Store, clock: FakeClock
) -> None:
    # The fan-out releases ended holds before queuing: the summary stays ahead of newer alerts
    # even when the periodic check has not run yet.
    engine = await setup(store, clock, CHAT)
    await store.set_mute(CHAT, clock() + timedelta(minutes=5), clock())
    held = await fire_once(engine, clock)
    clock.advance(minutes=10)
    [resolved] = await engine.ingest_sample(Sample("asi", 40.0, clock(), "test"))
    [first] = await claim(store, clock)
    assert [h.event.id for h in first.item.held] == [held]
    await store.record([Outcome(first.item, Sent(), clock())], "w", 5)
    [second] = await claim(store, clock)
    assert (second.item.event.id, second.item.held) == (resolved.event_id, ())


async def test_quiet_hours_across_midnight_hold_until_they_end(
    store: Store, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 1, 5, 23, 30, tzinfo=BERLIN).astimezone(UTC)
    engine = await setup(store, clock, CHAT)
    await store.set_quiet(CHAT, parse_quiet("23:00-07:00", BERLIN), clock())
    await store.set_time_zone(CHAT, "Europe/Berlin", clock())
    await fire_once(engine, clock)
    clock.now = datetime(2026, 1, 6, 3, 0, tzinfo=BERLIN).astimezone(UTC)
    clock.advance(minutes=1)
    [resolved] = await engine.ingest_sample(Sample("asi", 40.0, clock(), "test"))
    assert await statuses(store) == [("held", "quiet")] * 2

    clock.now = datetime(2026, 1, 6, 6, 59, tzinfo=BERLIN).astimezone(UTC)
    assert await store.release_due(clock()) == 0
    assert await claim(store, clock) == []
    clock.now = datetime(2026, 1, 6, 7, 0, tzinfo=BERLIN).astimezone(UTC)
    assert await store.release_due(clock()) == 2

    [summary] = await claim(store, clock)
    assert [h.event.id for h in summary.item.held][-1] == resolved.event_id
    assert summary.item.summary().reasons == frozenset({"quiet"})
    assert summary.item.zone == BERLIN


async def test_switching_quiet_hours_off_releases_at_once(store: Store, clock: FakeClock) -> None:
    engine = await setup(store, clock, CHAT)
    assert clock() == datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    await store.set_quiet(CHAT, parse_quiet("11:00-13:00", UTC), clock())
    await fire_once(engine, clock)
    assert await claim(store, clock) == []
    assert await store.set_quiet(CHAT, None, clock()) == 1
    info = await store.destination(CHAT)
    assert info is not None
    assert info.quiet is None
    assert len((await claim(store, clock))[0].item.held) == 1


async def test_held_rows_survive_a_restart(store_url: str, clock: FakeClock) -> None:
    first = await Store.open(store_url)
    try:
        engine = await setup(first, clock, CHAT)
        await first.set_mute(CHAT, clock() + timedelta(hours=1), clock())
        held = await fire_once(engine, clock)
    finally:
        await first.close()
    reopened = await Store.open(store_url)
    try:
        assert [e.handling for e in await reopened.history(CHAT, 5)] == ["held"]
        clock.advance(hours=1)
        assert await reopened.release_due(clock()) == 1
        [summary] = await claim(reopened, clock)
        assert [h.event.id for h in summary.item.held] == [held]
    finally:
        await reopened.close()


async def test_a_failed_summary_is_retried_whole_and_given_up_whole(
    store: Store, clock: FakeClock
) -> None:
    engine = await setup(store, clock, CHAT)
    await store.set_mute(CHAT, clock() + timedelta(hours=1), clock())
    ids = await crossings(engine, clock, 2)
    await store.set_mute(CHAT, None, clock())

    [first] = await claim(store, clock)
    retry = Retry(timedelta(seconds=5), "Telegram unreachable")
    await store.record([Outcome(first.item, retry, clock())], "w", 3)
    assert await claim(store, clock) == []
    clock.advance(seconds=5)
    [again] = await claim(store, clock)
    assert [h.event.id for h in again.item.held] == ids
    assert again.item.attempts == 1

    clock.advance(seconds=5)
    await store.record([Outcome(again.item, Retry(timedelta(0), "down"), clock())], "w", 2)
    assert await store.pending_count() == 0
    assert [s for s, _ in await statuses(store)] == ["dead", "dead"]


async def test_a_refusal_drops_held_rows_with_the_pending_ones(
    store: Store, clock: FakeClock
) -> None:
    engine = await setup(store, clock, CHAT)
    await fire_once(engine, clock)
    await store.set_mute(CHAT, clock() + timedelta(hours=1), clock())
    clock.advance(minutes=1)
    await engine.ingest_sample(Sample("asi", 40.0, clock(), "test"))
    [plain] = await claim(store, clock)
    await store.record([Outcome(plain.item, Refused("blocked"), clock())], "w", 5)
    assert [s for s, _ in await statuses(store)] == ["dead", "dead"]
    clock.advance(hours=2)
    assert await store.release_due(clock()) == 0


async def test_a_long_hold_goes_out_in_summaries_of_at_most_the_limit(
    store: Store, clock: FakeClock
) -> None:
    engine = await setup(store, clock, CHAT)
    await store.set_mute(CHAT, clock() + timedelta(days=1), clock())
    ids = await crossings(engine, clock, SUMMARY_MAX + 3)
    await store.set_mute(CHAT, None, clock())
    sent: list[int] = []
    while claimed := await claim(store, clock):
        [summary] = claimed
        sent += [h.event.id for h in summary.item.held]
        await store.record([Outcome(summary.item, Sent(), clock())], "w", 5)
    assert sent == ids
    assert await store.pending_count() == 0


async def test_destination_settings_round_trip(store: Store, clock: FakeClock) -> None:
    quiet = parse_quiet("22:30-06:15", BERLIN)
    await store.set_quiet(CHAT, quiet, clock())
    await store.set_time_zone(CHAT, "Europe/Berlin", clock())
    info = await store.destination(CHAT)
    assert info is not None
    assert (info.quiet, info.time_zone) == (quiet, "Europe/Berlin")


def _downgrade(conn: Connection, revision: str) -> None:
    config = Config()
    config.set_main_option(
        "script_location", str(Path(bot.storage.store.__file__).with_name("migrations"))
    )
    config.attributes["connection"] = conn
    command.downgrade(config, revision)


async def test_a_database_at_0004_keeps_its_deliveries_through_0005(
    store_url: str, clock: FakeClock
) -> None:
    first = await Store.open(store_url)
    try:
        engine = await setup(first, clock, CHAT, OTHER)
        await first.set_mute(OTHER, clock() + timedelta(hours=1), clock())
        fired = await fire_once(engine, clock)
        [sent] = await claim(first, clock)
        await first.record([Outcome(sent.item, Sent(), clock())], "w", 5)
        clock.advance(minutes=1)
        await engine.ingest_sample(Sample("asi", 40.0, clock(), "test"))
        async with first.engine.begin() as conn:
            await conn.run_sync(_downgrade, "0004")
            columns = await conn.run_sync(lambda c: inspect(c).get_columns("outbox"))
            assert "held" not in {c["name"] for c in columns}
    finally:
        await first.close()

    reopened = await Store.open(store_url)
    try:
        # Going back to 0004 turned the held rows into ordinary pending ones; nothing was lost.
        assert await reopened.pending_count() == 3
        assert [(e.event.id, e.handling) for e in await reopened.history(CHAT, 5)] == [
            (fired, "sent")
        ]
        info = await reopened.destination(CHAT)
        assert info is not None
        assert (info.quiet, info.time_zone, info.rule_ids) == (None, None, ("asi-above-50",))
    finally:
        await reopened.close()
