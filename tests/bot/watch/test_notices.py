"""Operator notices: a feed down or back is recorded as data and queued like any alert."""

from __future__ import annotations

from datetime import timedelta

from bot.delivery.notifiers import console_line
from bot.model.alerts import FeedNotice
from bot.model.rules import RuleDefaults
from bot.storage import Store
from bot.watch.engine import AlertEngine
from tests.bot.conftest import FakeClock


async def test_a_feed_down_and_back_is_recorded_with_its_facts(
    store: Store, clock: FakeClock
) -> None:
    queued: list[int] = []
    engine = AlertEngine(store, RuleDefaults(), clock, on_queued=lambda: queued.append(1))
    since = clock() - timedelta(minutes=70)
    await engine.operator_notice(
        FeedNotice("yahoo", since, "HTTP 503"), "firing", ["telegram:1", "console"]
    )
    clock.advance(minutes=20)
    await engine.operator_notice(FeedNotice("yahoo", since), "resolved", ["telegram:1"])

    back, down = await store.recent_events(2)
    assert (down.rule_id, down.kind, down.op) == ("source-down:yahoo", "firing", None)
    assert down.notice == FeedNotice("yahoo", since, "HTTP 503")
    assert back.notice == FeedNotice("yahoo", since, None)
    assert (down.message().tone, back.message().tone) == ("down", "back")
    assert await store.pending_count() == 3
    assert len(queued) == 2
    assert console_line(down.message()).startswith(
        "⚠️ Feed yahoo is down — failing for 1 h, since 2026-01-05 10:50 UTC: HTTP 503"
    )
    assert console_line(back.message()).startswith("✅ Feed yahoo answers again — down for 1 h")
