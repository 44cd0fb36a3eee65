"""Store round trips, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Boolean,
    Connection,
    Float,
    Integer,
    String,
    Text,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.sql import TableClause, column, table

import bot.storage.store
from bot.model.alerts import FeedNotice
from bot.model.delivery import Outcome, Sent
from bot.model.evaluation import RuleState
from bot.model.rules import ALL_BUILTINS, RuleDefaults, RuleSpec
from bot.storage import Store, StoreUnavailable
from bot.storage.database import _migrations_config
from bot.storage.schema import UTCDateTime, events, metadata
from bot.watch.engine import AlertEngine
from signals.types import FetchResult, Sample, Stale
from tests.bot.conftest import FakeClock, deliver_due, reset_postgres


async def test_samples_upsert_and_latest_tracks_the_newest(store: Store, clock: FakeClock) -> None:
    engine = AlertEngine(store, RuleDefaults(), clock)
    t1, t2 = clock(), clock() + timedelta(minutes=1)
    detail = (("beats_btc", "eth,sol"),)
    await engine.ingest(FetchResult(samples=(Sample("asi", 40, t2, "coingecko", detail),)))
    # An older sample arriving late is kept in history but does not replace the latest value.
    await engine.ingest(FetchResult(samples=(Sample("asi", 30, t1, "coingecko"),)))
    await engine.ingest(FetchResult(samples=(Sample("asi", 41, t2, "coingecko", detail),)))
    latest = (await store.latest_values())["asi"]
    assert (latest.value, latest.at, latest.source, latest.detail) == (41, t2, "coingecko", detail)
    assert await store.samples_since("asi", t1) == [(t1, 30), (t2, 41)]


async def test_stale_mark_keeps_the_value_and_clears_on_the_next_sample(
    store: Store, clock: FakeClock
) -> None:
    engine = AlertEngine(store, RuleDefaults(), clock)
    await engine.ingest(FetchResult(samples=(Sample("asi", 40, clock(), "coingecko"),)))
    await engine.ingest(FetchResult(stale=(Stale("asi", "only 44 of 50 coins have history"),)))
    latest = (await store.latest_values())["asi"]
    assert latest.value == 40
    assert latest.stale_reason == "only 44 of 50 coins have history"
    clock.advance(minutes=1)
    await engine.ingest(FetchResult(samples=(Sample("asi", 42, clock(), "coingecko"),)))
    assert (await store.latest_values())["asi"].stale_reason is None


async def test_history_seeds_new_high(store: Store, clock: FakeClock) -> None:
    await store.subscribe("console", [ALL_BUILTINS], clock())
    engine = AlertEngine(store, RuleDefaults(), clock)
    days = [clock() - timedelta(days=n) for n in range(5, 0, -1)]
    history = tuple(
        Sample("rut", v, d, "yahoo") for v, d in zip([10, 30, 20, 25, 28], days, strict=True)
    )
    below = Sample("rut", 29, clock(), "yahoo")
    fired = await engine.ingest(FetchResult(samples=(below,), history=history))
    assert fired == []
    clock.advance(days=1)
    fired = await engine.ingest(FetchResult(samples=(Sample("rut", 31, clock(), "yahoo"),)))
    assert [(f.rule_id, f.kind) for f in fired] == [("rut-new-high", "firing")]
    assert await store.pending_count() == 1
    events = await store.recent_events(5)
    assert events[0].previous == 30


async def test_coin_closes_round_trip(store: Store) -> None:
    await store.save_closes("solana", {date(2026, 1, 1): 100.0, date(2026, 1, 2): 101.5})
    await store.save_closes("solana", {date(2026, 1, 2): 102.0})
    assert await store.closes("solana", date(2026, 1, 2)) == {date(2026, 1, 2): 102.0}
    assert await store.closes("cardano", date(2026, 1, 1)) == {}


async def test_daily_series_round_trip(store: Store) -> None:
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(3)]
    await store.save_daily_values("alt_volume_usd", {day: 1.0e10 + n for n, day in enumerate(days)})
    # A later reading of the same day replaces it; another series is kept apart.
    await store.save_daily_values("alt_volume_usd", {days[2]: 3.5e10})
    await store.save_daily_values("other", {days[2]: 7.0})
    await store.save_daily_values("other", {})
    assert await store.daily_values("alt_volume_usd", days[1]) == {
        days[1]: 1.0e10 + 1,
        days[2]: 3.5e10,
    }
    assert await store.daily_values("other", days[0]) == {days[2]: 7.0}
    assert await store.daily_values("missing", days[0]) == {}


def _migrate(conn: Connection, revision: str) -> None:
    config = Config()
    config.set_main_option(
        "script_location", str(Path(bot.storage.store.__file__).with_name("migrations"))
    )
    config.attributes["connection"] = conn
    command.downgrade(config, revision)


async def test_a_database_at_0001_gains_the_daily_series_when_opened(store_url: str) -> None:
    first = await Store.open(store_url)
    try:
        await first.save_closes("solana", {date(2026, 1, 1): 100.0})
        async with first.engine.begin() as conn:
            await conn.run_sync(_migrate, "0001")
            assert not await conn.run_sync(lambda c: inspect(c).has_table("daily_series"))
    finally:
        await first.close()
    reopened = await Store.open(store_url)
    try:
        await reopened.save_daily_values("alt_volume_usd", {date(2026, 1, 1): 2.0e10})
        assert await reopened.daily_values("alt_volume_usd", date(2026, 1, 1)) == {
            date(2026, 1, 1): 2.0e10
        }
        assert await reopened.closes("solana", date(2026, 1, 1)) == {date(2026, 1, 1): 100.0}
    finally:
        await reopened.close()


def _old_tables() -> dict[str, TableClause]:
    """The tables as revision 0002 left them, for writing rows the way that release did."""
    return {
        "events": table(
            "events",
            column("id", Integer()), column("rule_id", String()), column("kind", String()),
            column("metric", String()), column("value", Float()), column("previous", Float()),
            column("threshold", Float()), column("source", String()), column("at", UTCDateTime()),
            column("created_at", UTCDateTime()), column("description", Text()),
            column("text", Text()),
        ),
        "custom_rules": table(
            "custom_rules",
            column("id", Integer()), column("owner", String()), column("metric", String()),
            column("op", String()), column("threshold", Float()),
            column("created_at", UTCDateTime()),
        ),
        "destinations": table(
            "destinations",
            column("id", Integer()), column("address", String()), column("active", Boolean()),
            column("created_at", UTCDateTime()),
        ),
        "deliveries": table(
            "deliveries",
            column("id", Integer()), column("destination_id", Integer()),
            column("event_id", Integer()), column("sent_at", UTCDateTime()),
        ),
        "outbox": table(
            "outbox",
            column("id", Integer()), column("event_id", Integer()),
            column("destination_id", Integer()), column("status", String()),
            column("attempts", Integer()), column("next_attempt_at", UTCDateTime()),
            column("created_at", UTCDateTime()),
        ),
    }  # fmt: skip


async def test_a_database_holding_old_events_keeps_them_through_0004(
    store_url: str, clock: FakeClock
) -> None:
    first = await Store.open(store_url)
    at = clock()
    old = _old_tables()

    def event(rule_id: str, kind: str, metric: str, text: str) -> dict[str, object]:
        return {
            "rule_id": rule_id, "kind": kind, "metric": metric, "value": 55.0,
            "previous": 48.0, "threshold": 50.0, "source": "coingecko", "at": at,
            "created_at": at, "description": f"rule {rule_id}", "text": text,
        }  # fmt: skip

    try:
        async with first.engine.begin() as conn:
            await conn.run_sync(_migrate, "0002")
            assert "op" not in {
                c["name"] for c in await conn.run_sync(lambda c: inspect(c).get_columns("events"))
            }
            await conn.execute(
                insert(old["custom_rules"]),
                [{"owner": "telegram:1", "metric": "btc_usd", "op": "<", "threshold": 9e4,
                  "created_at": at}],
            )  # fmt: skip
            await conn.execute(
                insert(old["events"]),
                [
                    event("asi-above-50", "firing", "asi", "🔔 ASI 55 [asi-above-50]"),
                    event("c1", "firing", "btc_usd", "🔔 custom"),
                    event("source-down:yahoo", "firing", "feed", "⚠️ Feed yahoo has failed"),
                    event("gone-rule", "resolved", "asi", "✅ Resolved: gone"),
                ],
            )
            await conn.execute(
                insert(old["destinations"]),
                [{"address": "telegram:1", "active": True, "created_at": at}],
            )
            await conn.execute(
                insert(old["deliveries"]),
                [
                    {"id": i, "destination_id": 1, "event_id": i, "sent_at": at}
                    for i in (1, 2, 3, 4)
                ],
            )
            # A delivery still waiting when the upgrade runs must still be waiting after it.
            await conn.execute(
                insert(old["outbox"]),
                [{"event_id": 4, "destination_id": 1, "status": "pending", "attempts": 0,
                  "next_attempt_at": at, "created_at": at}],
            )  # fmt: skip
    finally:
        await first.close()

    reopened = await Store.open(store_url)
    try:
        assert await reopened.pending_count() == 1
        history = await reopened.delivered_events("telegram:1", 10)
        assert [(e.id, e.rule_id, e.op) for e in history] == [
            (4, "gone-rule", None),
            (3, "source-down:yahoo", None),
            (2, "c1", "<"),
            (1, "asi-above-50", "crosses above"),
        ]
        by_id = {e.id: e.message() for e in history}
        assert by_id[1].direction == "rise" and by_id[1].tone == "risk-on"
        assert by_id[2].direction == "fall"
        assert by_id[3].notice == FeedNotice("yahoo", None, None)
        assert by_id[3].tone == "down"
        # Without its op, a resolution that rose from 48 to 55 ended a rule that fired on a
        # fall of the ASI (risk-off): its end reads as risk-on.
        assert (by_id[4].op, by_id[4].tone, by_id[4].value) == (None, "risk-on", 55.0)
        async with reopened.engine.connect() as conn:
            texts = (await conn.execute(select(events.c.id, events.c.text))).all()
        assert dict(texts)[1] == "🔔 ASI 55 [asi-above-50]"

        # New events keep data, and no text.
        engine = AlertEngine(reopened, RuleDefaults(), clock)
        clock.advance(minutes=5)
        await engine.ingest_sample(Sample("btc_dominance", 60.0, clock(), "coingecko"))
        clock.advance(minutes=1)
        [fired] = await engine.ingest_sample(Sample("btc_dominance", 58.5, clock(), "coingecko"))
        async with reopened.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(events.c.op, events.c.text).where(events.c.id == fired.event_id)
                )
            ).one()
        assert tuple(row) == ("crosses below", None)
        [new] = await reopened.recent_events(1)
        assert (new.op, new.message().tone, new.previous) == ("crosses below", "risk-on", 60.0)
    finally:
        await reopened.close()


async def test_migrations_build_the_schema_the_code_declares(store: Store) -> None:
    def differences(conn: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))

    async with store.engine.connect() as conn:
        assert await conn.run_sync(differences) == []


async def test_custom_rules_subscriptions_and_limits(store: Store, clock: FakeClock) -> None:
    spec = RuleSpec("btc_usd", "crosses above", 100_000.0)
    first = await store.add_custom_rule("telegram:7", spec, clock(), limit=2)
    second = await store.add_custom_rule("telegram:7", spec, clock(), limit=2)
    assert first is not None
    assert second is not None
    assert await store.add_custom_rule("telegram:7", spec, clock(), limit=2) is None
    rows = await store.custom_rule_rows("telegram:7")
    assert [r[0] for r in rows] == [first, second]
    info = await store.destination("telegram:7")
    assert info is not None
    assert set(info.rule_ids) == {first, second}
    assert not await store.remove_custom_rule("telegram:8", first)
    assert not await store.remove_custom_rule("telegram:7", "c99999999999999999999")
    assert await store.remove_custom_rule("telegram:7", first)
    assert [r[0] for r in await store.custom_rule_rows()] == [second]
    assert first not in await store.rule_states()


async def test_subscribe_unsubscribe_and_mute(store: Store, clock: FakeClock) -> None:
    assert await store.subscribe(
        "discord:5", ["altseason", "altseason", "rut-new-high"], clock()
    ) == (
        "altseason",
        "rut-new-high",
    )
    assert await store.subscribe("discord:5", ["altseason"], clock()) == ()
    assert await store.unsubscribe("discord:5", ["altseason", "nope"]) == ("altseason",)
    await store.set_mute("discord:5", clock() + timedelta(hours=2), clock())
    info = await store.destination("discord:5")
    assert info is not None
    assert info.rule_ids == ("rut-new-high",)
    assert info.muted_until == clock() + timedelta(hours=2)
    assert await store.unsubscribe("discord:5", None) == ("rut-new-high",)
    assert await store.unsubscribe("discord:404", None) == ()


async def test_moving_into_an_existing_destination_merges(store: Store, clock: FakeClock) -> None:
    await store.subscribe("telegram:-1", ["altseason", "asi-above-50"], clock())
    await store.subscribe("telegram:-1002", ["altseason"], clock())
    await store.move_destination("telegram:-1", "telegram:-1002")
    merged = await store.destination("telegram:-1002")
    assert merged is not None
    assert merged.rule_ids == ("altseason", "asi-above-50")
    assert await store.destination("telegram:-1") is None


async def test_one_transaction_writes_state_event_and_outbox(
    store: Store, clock: FakeClock
) -> None:
    for chat in ("telegram:1", "telegram:2"):
        await store.subscribe(chat, ["asi-above-50"], clock())
    await store.subscribe("telegram:3", [ALL_BUILTINS], clock())
    await store.set_mute("telegram:2", clock() + timedelta(hours=1), clock())
    engine = AlertEngine(store, RuleDefaults(), clock)
    await engine.ingest_sample(Sample("asi", 40, clock(), "coingecko"))
    clock.advance(minutes=1)
    fired = await engine.ingest_sample(Sample("asi", 55, clock(), "coingecko"))
    assert [f.rule_id for f in fired] == ["asi-above-50"]
    assert await store.pending_count() == 2
    states = await store.rule_states()
    assert states["asi-above-50"].state == "firing"
    assert states["altseason"] == RuleState(state="inactive")
    assert states["asi-above-50"].since == clock()
    due = await store.due_destinations(clock(), 10, ["telegram"])
    assert len(due) == 2

    async def send(_item: object) -> Sent:
        return Sent()

    assert await deliver_due(store, clock, send) == 2
    history = await store.delivered_events("telegram:1", 10)
    assert [(e.rule_id, e.kind, e.value) for e in history] == [("asi-above-50", "firing", 55)]
    assert await store.delivered_events("telegram:2", 10) == []


async def test_recording_the_same_answers_twice_logs_one_delivery(
    store: Store, clock: FakeClock
) -> None:
    # A commit whose reply was lost is retried with the same answers: nothing may double.
    await store.subscribe("telegram:1", ["asi-above-50"], clock())
    engine = AlertEngine(store, RuleDefaults(), clock)
    await engine.ingest_sample(Sample("asi", 40, clock(), "coingecko"))
    clock.advance(minutes=1)
    await engine.ingest_sample(Sample("asi", 55, clock(), "coingecko"))
    claimed = await store.claim("w", ["telegram"], 10, clock(), timedelta(minutes=1), [])
    assert len(claimed) == 1
    answers = [Outcome(claimed[0].item, Sent(), clock())]
    await store.record(answers, "w", 5)
    await store.record(answers, "w", 5)
    assert len(await store.delivered_events("telegram:1", 10)) == 1
    assert await store.pending_count() == 0


async def test_a_claim_skips_rows_held_and_rows_claimed_elsewhere(
    store: Store, clock: FakeClock
) -> None:
    for chat in ("telegram:1", "telegram:2", "telegram:3"):
        await store.subscribe(chat, ["asi-above-50"], clock())
    engine = AlertEngine(store, RuleDefaults(), clock)
    await engine.ingest_sample(Sample("asi", 40, clock(), "coingecko"))
    clock.advance(minutes=1)
    await engine.ingest_sample(Sample("asi", 55, clock(), "coingecko"))
    first = await store.claim("a", ["telegram"], 1, clock(), timedelta(minutes=1))
    assert [c.item.destination.address for c in first] == ["telegram:1"]
    # Another worker gets the rest, never the row "a" holds; "a" asking again gets nothing.
    rest = await store.claim("b", ["telegram"], 10, clock(), timedelta(minutes=1))
    assert sorted(c.item.destination.address for c in rest) == ["telegram:2", "telegram:3"]
    held = [c.item.id for c in first]
    assert await store.claim("a", ["telegram"], 10, clock(), timedelta(minutes=1), held) == []
    # Once the lease runs out, the row is anybody's again.
    clock.advance(minutes=2)
    again = await store.claim("b", ["telegram"], 10, clock(), timedelta(minutes=1))
    assert sorted(c.item.destination.address for c in again) == [
        "telegram:1",
        "telegram:2",
        "telegram:3",
    ]


async def test_prune_keeps_each_days_last_sample_past_retention(
    store: Store, clock: FakeClock
) -> None:
    engine = AlertEngine(store, RuleDefaults(), clock)
    old = datetime(2024, 8, 1, tzinfo=UTC)  # 522 days before the clock
    # Two old days polled every 8 hours, the last at 23:59:59.5; an old day with one sample;
    # a recent day polled twice; and another metric the same old day.
    old_day = [old + timedelta(hours=h) for h in (0, 8, 16)] + [
        old + timedelta(hours=23, minutes=59, seconds=59.5)
    ]
    next_day = [old + timedelta(days=1, hours=h) for h in (1, 13)]
    lone = old + timedelta(days=5, hours=12)
    recent = [clock() - timedelta(days=3, hours=h) for h in (2, 1)]
    series = [*old_day, *next_day, lone, *recent]
    await store.save_history([Sample("asi", float(k), at, "x") for k, at in enumerate(series)])
    await store.save_history(
        [Sample("btc_usd", 1e5 + h, old + timedelta(hours=h), "x") for h in (1, 2)]
    )
    await engine.ingest_sample(Sample("asi", 99.0, clock(), "x"))

    await store.prune(clock(), timedelta(days=400))

    kept = await store.samples_since("asi", old - timedelta(days=1))
    assert kept == [
        (old_day[-1], 3.0),
        (next_day[-1], 5.0),
        (lone, 6.0),
        (recent[0], 7.0),
        (recent[1], 8.0),
        (clock(), 99.0),
    ]
    assert await store.samples_since("btc_usd", old) == [(old + timedelta(hours=2), 1e5 + 2)]
    # Pruning again changes nothing: every old day is down to one sample.
    await store.prune(clock(), timedelta(days=400))
    assert await store.samples_since("asi", old - timedelta(days=1)) == kept


async def test_history_reads_a_window_oldest_first(store: Store, clock: FakeClock) -> None:
    days = [clock() - timedelta(days=n) for n in (3, 2, 1)]
    await store.save_history([Sample("asi", 40.0 + k, at, "import") for k, at in enumerate(days)])
    assert await store.metric_history("asi") == [
        Sample("asi", 40.0, days[0], "import"),
        Sample("asi", 41.0, days[1], "import"),
        Sample("asi", 42.0, days[2], "import"),
    ]
    assert [s.value for s in await store.metric_history("asi", days[1], days[2])] == [41.0]
    assert await store.highest_before("asi", days[2]) == 41.0
    assert await store.highest_before("asi", days[0]) is None


async def test_ping(store: Store) -> None:
    await store.ping()


async def test_checkpoint_runs_outside_a_transaction(store: Store, clock: FakeClock) -> None:
    await store.subscribe("console", [ALL_BUILTINS], clock())
    await store.checkpoint()
    await store.checkpoint()
    info = await store.destination("console")
    assert info is not None
    assert info.rule_ids == (ALL_BUILTINS,)


async def test_a_database_gone_mid_run_is_store_unavailable_everywhere(
    tmp_path: Path, clock: FakeClock
) -> None:
    folder = tmp_path / "gone"
    store = await Store.open(f"sqlite+aiosqlite:///{folder / 'radar.db'}")
    engine = AlertEngine(store, RuleDefaults(), clock)
    await engine.reload()
    await store.engine.dispose()  # no pooled connection survives the folder
    shutil.rmtree(folder)
    try:
        with pytest.raises(StoreUnavailable):
            await store.latest_values()
        with pytest.raises(StoreUnavailable):
            await engine.ingest_sample(Sample("asi", 55.0, clock(), "coingecko"))
        with pytest.raises(StoreUnavailable):
            await store.ping()
    finally:
        await store.close()


HEAD = ScriptDirectory.from_config(_migrations_config()).get_current_head()


async def test_replicas_opening_a_fresh_database_together_migrate_once() -> None:
    # Three replicas of a deployment start at the same moment on an empty PostgreSQL database.
    url = await reset_postgres()
    opened = await asyncio.gather(*(Store.open(url) for _ in range(3)), return_exceptions=True)
    try:
        failures = [o for o in opened if isinstance(o, BaseException)]
        assert failures == []
        stores = [o for o in opened if isinstance(o, Store)]
        # One of them built the schema; the others waited for it and found nothing left to do.
        assert sorted(s.migration.before is None for s in stores) == [False, False, True]
        assert {s.migration.after for s in stores} == {HEAD}
    finally:
        for o in opened:
            if isinstance(o, Store):
                await o.close()


async def test_a_schema_newer_than_the_code_is_refused_in_one_line(store_url: str) -> None:
    first = await Store.open(store_url)
    async with first.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    await first.close()
    with pytest.raises(StoreUnavailable) as caught:
        await Store.open(store_url)
    message = str(caught.value)
    assert "\n" not in message
    assert f"revision 9999, newer than this version of the bot knows (up to {HEAD})" in message
