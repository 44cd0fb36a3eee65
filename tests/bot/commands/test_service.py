"""The command service against a real store (SQLite and PostgreSQL) and a real alert engine."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.commands.reports import (
    Caller,
    CommandError,
    MuteInfo,
    NotAllowed,
    QuietInfo,
    TimeZoneInfo,
    UnmuteInfo,
)
from bot.commands.service import CommandService, parse_duration
from bot.model.delivery import DeliveryOutcome, OutboxItem, Refused, Sent
from bot.model.destinations import Destination
from bot.model.quiet import QuietHours
from bot.model.rules import BUILTIN_RULES, RuleDefaults
from bot.storage import Store
from bot.watch.engine import AlertEngine
from bot.watch.pollers import Poller
from signals.metrics import metric_info
from signals.types import FetchResult, Sample, SourceUnavailable
from signals.universe import AsiUniverse, CountedCoin, ExcludedCoin
from tests.bot.conftest import FakeClock, deliver_due

GROUP = Destination.parse("telegram:-1001")
OTHER = Destination.parse("telegram:-1002")
CHANNEL = Destination.parse("discord:555")
OPERATOR = "telegram:99"
BUILTIN_IDS = tuple(r.id for r in BUILTIN_RULES)


def admin(destination: Destination = GROUP) -> Caller:
    """Return a chat administrator of `destination`."""
    return Caller(destination, "telegram:1", can_manage=True)


def member(destination: Destination = GROUP, user: str = "telegram:2") -> Caller:
    """Return a chat member who may read but not change `destination`."""
    return Caller(destination, user, can_manage=False)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbox row as the platform would have received it."""

    address: str
    rule_id: str
    kind: str
    value: float
    # Delivered inside a summary of held alerts, rather than on its own.
    summary: bool = False


@pytest.fixture
async def engine(store: Store, clock: FakeClock) -> AlertEngine:
    loaded = AlertEngine(store, RuleDefaults(), clock)
    await loaded.reload()
    return loaded


@pytest.fixture
def service(store: Store, engine: AlertEngine, clock: FakeClock) -> CommandService:
    return CommandService(store, engine, clock, operators=[OPERATOR], max_custom_rules=3)


async def drain(
    store: Store, clock: FakeClock, schemes: Sequence[str] = ("telegram", "discord")
) -> list[Delivery]:
    """Deliver every due outbox row with a send that always succeeds; return what went out."""
    out: list[Delivery] = []

    async def send(item: OutboxItem) -> DeliveryOutcome:
        address = item.destination.address
        if item.held:
            out.extend(
                Delivery(address, h.event.rule_id, h.event.kind, h.event.value, summary=True)
                for h in item.held
            )
        else:
            event = item.event
            out.append(Delivery(address, event.rule_id, event.kind, event.value))
        return Sent()

    await deliver_due(store, clock, send, schemes)
    return out


async def feed(
    engine: AlertEngine, clock: FakeClock, metric: str, values: Sequence[float]
) -> datetime:
    """Ingest `values` one minute apart; return the last sample's time."""
    for value in values:
        clock.advance(minutes=1)
        await engine.ingest_sample(Sample(metric, value, clock(), "coingecko"))
    return clock()


async def subscriptions(store: Store, destination: Destination) -> tuple[str, ...] | None:
    """Return the rule ids stored for `destination`, or None when it was never seen."""
    found = await store.destination(destination.address)
    return None if found is None else found.rule_ids


# --- subscribe -------------------------------------------------------------------------------


async def test_subscribe_to_named_rules(service: CommandService) -> None:
    change = await service.subscribe(admin(), ["asi-above-50", " ALTSEASON ", "asi-above-50"])
    assert change.added == ("asi-above-50", "altseason")
    assert change.removed == ()
    assert change.current == ("altseason", "asi-above-50")
    again = await service.subscribe(admin(), ["altseason"])
    assert again.added == ()
    assert again.current == ("altseason", "asi-above-50")


async def test_subscribe_all(service: CommandService, store: Store) -> None:
    change = await service.subscribe(admin(), ["All"])
    assert change.added == ("all",)
    assert change.current == ("all",)
    assert await subscriptions(store, GROUP) == ("*",)


async def test_subscribe_unknown_rule_names_it_and_changes_nothing(
    service: CommandService, store: Store
) -> None:
    with pytest.raises(CommandError) as caught:
        await service.subscribe(admin(), ["altseason", "moonshot"])
    assert "'moonshot'" in caught.value.message
    assert "/rules" in caught.value.message
    assert await subscriptions(store, GROUP) is None


@pytest.mark.parametrize("words", [[], [""], ["  ", "\t"]])
async def test_subscribe_without_rules_gives_usage(
    service: CommandService, words: list[str]
) -> None:
    with pytest.raises(CommandError, match=r"^usage: /subscribe"):
        await service.subscribe(admin(), words)


async def test_subscribe_to_another_chats_custom_rule_is_refused(service: CommandService) -> None:
    mine = await service.add_alert(admin(OTHER), "btc_usd > 100k")
    with pytest.raises(CommandError, match=repr(mine.id)):
        await service.subscribe(admin(), [mine.id])


# --- unsubscribe -----------------------------------------------------------------------------


async def test_unsubscribe_named_rules(service: CommandService) -> None:
    await service.subscribe(admin(), ["asi-above-50", "altseason", "rut-new-high"])
    change = await service.unsubscribe(admin(), ["ALTSEASON", "rut-new-high"])
    assert change.added == ()
    assert change.removed == ("altseason", "rut-new-high")
    assert change.current == ("asi-above-50",)


async def test_unsubscribe_all_removes_every_subscription_but_keeps_custom_alerts(
    service: CommandService, store: Store
) -> None:
    await service.subscribe(admin(), ["all", "altseason"])
    custom = await service.add_alert(admin(), "eth_usd crosses above 5k")
    # On "all" already: naming a built-in adds nothing (it would only be a second copy).
    assert (await service.subscribe(admin(), ["altseason"])).added == ()
    change = await service.unsubscribe(admin(), ["all"])
    assert set(change.removed) == {"all", custom.id}
    assert change.current == ()
    assert await subscriptions(store, GROUP) == ()
    alerts = await service.list_alerts(admin())
    assert [(a.id, a.subscribed) for a in alerts] == [(custom.id, False)]


async def test_unsubscribe_unknown_rule_names_it_and_changes_nothing(
    service: CommandService, store: Store
) -> None:
    await service.subscribe(admin(), ["altseason"])
    with pytest.raises(CommandError, match="'nope'"):
        await service.unsubscribe(admin(), ["altseason", "nope"])
    assert await subscriptions(store, GROUP) == ("altseason",)


@pytest.mark.parametrize("words", [[], [" "]])
async def test_unsubscribe_without_rules_gives_usage(
    service: CommandService, words: list[str]
) -> None:
    with pytest.raises(CommandError, match=r"^usage: /unsubscribe"):
        await service.unsubscribe(admin(), words)


async def test_unsubscribe_one_rule_while_subscribed_to_all_keeps_the_others(
    service: CommandService, store: Store, engine: AlertEngine, clock: FakeClock
) -> None:
    await service.subscribe(admin(), ["all"])
    change = await service.unsubscribe(admin(), ["asi-above-50"])
    assert change.removed == ("asi-above-50",)
    assert set(change.current) == set(BUILTIN_IDS) - {"asi-above-50"}
    # Both asi-above-50 and altseason fire on 80; only altseason may reach the chat.
    await feed(engine, clock, "asi", [40, 80])
    assert [(d.address, d.rule_id) for d in await drain(store, clock)] == [
        (GROUP.address, "altseason")
    ]


async def test_unsubscribe_reports_only_what_was_removed(service: CommandService) -> None:
    await service.subscribe(admin(), ["asi-above-50"])
    change = await service.unsubscribe(admin(), ["altseason"])
    assert change.removed == ()
    assert change.current == ("asi-above-50",)


async def test_unsubscribing_a_custom_alert_keeps_the_all_subscription(
    service: CommandService,
) -> None:
    await service.subscribe(admin(), ["all"])
    custom = await service.add_alert(admin(), "btc_usd > 100k")
    change = await service.unsubscribe(admin(), [custom.id])
    assert change.removed == (custom.id,)
    assert change.current == ("all",)


# --- who may change a chat -------------------------------------------------------------------


async def test_members_may_not_change_a_chat_and_nothing_changes(
    service: CommandService, store: Store, clock: FakeClock
) -> None:
    await service.subscribe(admin(), ["altseason"])
    custom = await service.add_alert(admin(), "btc_usd > 100k")
    until = (await service.mute(admin(), "1h")).until
    before = await store.destination(GROUP.address)
    reader = member()
    attempts: list[Callable[[], Awaitable[object]]] = [
        lambda: service.subscribe(reader, ["asi-above-50"]),
        lambda: service.subscribe(reader, ["all"]),
        lambda: service.unsubscribe(reader, ["altseason"]),
        lambda: service.unsubscribe(reader, ["all"]),
        lambda: service.add_alert(reader, "asi > 50"),
        lambda: service.remove_alert(reader, custom.id),
        lambda: service.mute(reader, "2h"),
        lambda: service.unmute(reader),
        lambda: service.quiet(reader, ["23:00-07:00"]),
        lambda: service.quiet(reader, ["off"]),
        lambda: service.set_time_zone(reader, "Europe/Berlin"),
    ]
    for attempt in attempts:
        with pytest.raises(NotAllowed, match="administrators"):
            await attempt()
    assert await store.destination(GROUP.address) == before
    assert before is not None
    assert before.muted_until == until
    assert [a.id for a in await service.list_alerts(reader)] == [custom.id]


async def test_members_may_read(service: CommandService) -> None:
    await service.subscribe(admin(), ["altseason"])
    reader = member()
    assert [r.id for r in await service.rules(reader) if r.subscribed] == ["altseason"]
    assert await service.list_alerts(reader) == ()
    assert await service.history(reader) == ()
    assert all(m.value is None for m in (await service.status()).metrics)
    assert await service.quiet(reader, []) == QuietInfo(None)
    assert (await service.show_time_zone(reader)).zone is UTC


async def test_an_operator_may_manage_any_chat(service: CommandService, store: Store) -> None:
    operator = member(user=OPERATOR)
    assert service.is_operator(OPERATOR)
    assert not service.is_operator("discord:99")
    change = await service.subscribe(operator, ["altseason"])
    assert change.current == ("altseason",)
    custom = await service.add_alert(operator, "asi > 60")
    await service.mute(operator, "1h")
    await service.unmute(operator)
    await service.remove_alert(operator, custom.id)
    await service.unsubscribe(operator, ["altseason"])
    assert await subscriptions(store, GROUP) == ()
    with pytest.raises(NotAllowed):
        await service.subscribe(member(user="discord:99"), ["altseason"])


# --- custom alerts ---------------------------------------------------------------------------


async def test_add_list_and_remove_a_custom_alert(
    service: CommandService, engine: AlertEngine
) -> None:
    info = await service.add_alert(admin(), "BTC_USD crosses above 100k")
    assert info.id.startswith("c")
    assert (info.metric, info.condition) == ("btc_usd", "btc_usd crosses above 100000")
    assert (info.custom, info.subscribed, info.state) == (True, True, "inactive")
    assert "btc_usd crosses above 100000" in info.description
    # Stored all the same, with a word that nothing is known of the metric yet.
    assert info.no_data == "no value yet"
    # And how it would have done on the stored history: there is none yet.
    assert info.backtest is not None
    assert (info.backtest.samples, info.backtest.events) == (0, ())
    assert await service.list_alerts(admin()) == (replace(info, no_data=None, backtest=None),)
    assert await service.list_alerts(admin(OTHER)) == ()
    assert info.id in await service.rule_ids(admin())
    assert info.id not in await service.rule_ids(admin(OTHER))
    assert info.id not in await service.rule_ids()

    await service.remove_alert(admin(), f" {info.id.upper()} ")
    assert await service.list_alerts(admin()) == ()
    assert info.id not in [r.id for r in await engine.rules()]


async def test_new_high_alert(service: CommandService) -> None:
    info = await service.add_alert(admin(), "eth_btc new high")
    assert (info.metric, info.condition) == ("eth_btc", "eth_btc new high")


async def test_custom_alert_limit(service: CommandService) -> None:
    created = [await service.add_alert(admin(), f"asi > {n}") for n in (10, 20, 30)]
    with pytest.raises(CommandError, match=r"has 3 custom alerts already") as caught:
        await service.add_alert(admin(), "asi > 40")
    assert "/alert remove" in caught.value.message
    assert len(await service.list_alerts(admin())) == 3
    # The limit is per chat, and removing one makes room again.
    await service.add_alert(admin(OTHER), "asi > 40")
    await service.remove_alert(admin(), created[0].id)
    await service.add_alert(admin(), "asi > 40")
    assert len(await service.list_alerts(admin())) == 3


async def test_another_chat_cannot_remove_my_alert(service: CommandService) -> None:
    mine = await service.add_alert(admin(), "asi > 60")
    with pytest.raises(CommandError) as caught:
        await service.remove_alert(admin(OTHER), mine.id)
    assert repr(mine.id) in caught.value.message
    assert "/alerts" in caught.value.message
    assert [a.id for a in await service.list_alerts(admin())] == [mine.id]


@pytest.mark.parametrize("rule_id", ["c999", "altseason", "", "c", "c-1", "c1.5", "x1"])
async def test_removing_an_unknown_alert_names_it(service: CommandService, rule_id: str) -> None:
    await service.add_alert(admin(), "asi > 60")
    with pytest.raises(CommandError, match=r"^no custom alert"):
        await service.remove_alert(admin(), rule_id)
    assert len(await service.list_alerts(admin())) == 1


async def test_removing_an_alert_with_a_superscript_id_is_a_command_error(
    service: CommandService,
) -> None:
    with pytest.raises(CommandError):
        await service.remove_alert(admin(), "c²")


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("", "missing metric"),
        ("doge > 1", "'doge'"),
        ("asi", "missing operator"),
        ("asi == 50", "'=='"),
        ("asi crosses over 50", "'over'"),
        ("asi >", "missing value"),
        ("asi > fifty", "'fifty'"),
        ("asi > 50 now", "'now'"),
        ("rut new high again", "'again'"),
        ("btc_usd > 1e99", "out of range"),
    ],
)
async def test_bad_alert_specs_give_a_one_line_usage(
    service: CommandService, store: Store, spec: str, named: str
) -> None:
    with pytest.raises(CommandError) as caught:
        await service.add_alert(admin(), spec)
    message = caught.value.message
    assert named in message
    assert message.endswith("Usage: /alert <metric> <op> <value>")
    assert "\n" not in message
    assert await store.custom_rule_rows() == []


# --- mute ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("30", timedelta(minutes=30)),
        ("1", timedelta(minutes=1)),
        ("45min", timedelta(minutes=45)),
        ("45 mins", timedelta(minutes=45)),
        ("1 minute", timedelta(minutes=1)),
        ("90 minutes", timedelta(minutes=90)),
        ("2h", timedelta(hours=2)),
        (" 2H ", timedelta(hours=2)),
        ("1 hour", timedelta(hours=1)),
        ("12hours", timedelta(hours=12)),
        ("1d", timedelta(days=1)),
        ("3 days", timedelta(days=3)),
        ("1w", timedelta(weeks=1)),
        ("2 weeks", timedelta(weeks=2)),
        ("4w", timedelta(weeks=4)),
        ("30d", timedelta(days=30)),
        ("720h", timedelta(days=30)),
        ("43200", timedelta(days=30)),
    ],
)
def test_parse_duration_accepts(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "abc", "-5m", "1.5h", "5s", "1y", "h", "2 h 30 m", "1234567m", "5 fortnights"]
)
def test_parse_duration_rejects_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse_duration(text)
    assert caught.value.message == f"{text!r} is not a duration: use e.g. 30m, 2h, 1d or 1w"


@pytest.mark.parametrize("text", ["0", "0m", "0d", "31d", "5w", "721h", "43201"])
def test_parse_duration_rejects_out_of_bounds(text: str) -> None:
    with pytest.raises(CommandError, match=r"^mute for between 1 minute and 30 days$"):
        parse_duration(text)


async def test_mute_and_unmute(service: CommandService, store: Store, clock: FakeClock) -> None:
    muted = await service.mute(admin(), "2h")
    assert muted == MuteInfo(clock() + timedelta(hours=2))
    found = await store.destination(GROUP.address)
    assert found is not None
    assert found.muted_until == clock() + timedelta(hours=2)
    await service.unmute(admin())
    found = await store.destination(GROUP.address)
    assert found is not None
    assert found.muted_until is None


async def test_bad_mute_changes_nothing(service: CommandService, store: Store) -> None:
    await service.mute(admin(), "1h")
    before = await store.destination(GROUP.address)
    for text in ("forever", "31d"):
        with pytest.raises(CommandError):
            await service.mute(admin(), text)
    assert await store.destination(GROUP.address) == before


# --- history ---------------------------------------------------------------------------------


async def _twelve_events(
    service: CommandService, engine: AlertEngine, clock: FakeClock
) -> list[int]:
    """Make altseason fire and resolve six times each for GROUP; return event ids, oldest first."""
    await service.subscribe(admin(), ["altseason"])
    fired = []
    for value in [80, 70] * 6:
        clock.advance(minutes=1)
        fired += await engine.ingest_sample(Sample("asi", value, clock(), "coingecko"))
    assert [f.kind for f in fired] == ["firing", "resolved"] * 6
    return [f.event_id for f in fired]


async def test_history_counts(
    service: CommandService, engine: AlertEngine, store: Store, clock: FakeClock
) -> None:
    ids = await _twelve_events(service, engine, clock)
    # Only what was delivered counts as sent here.
    assert await service.history(admin()) == ()
    await drain(store, clock)
    newest_first = ids[::-1]
    assert [e.id for e in await service.history(admin())] == newest_first[:10]
    assert [e.id for e in await service.history(admin(), None)] == newest_first[:10]
    assert [e.id for e in await service.history(admin(), "  ")] == newest_first[:10]
    assert [e.id for e in await service.history(admin(), "3")] == newest_first[:3]
    assert [e.id for e in await service.history(admin(), " 1 ")] == newest_first[:1]
    assert [e.id for e in await service.history(admin(), "50")] == newest_first
    latest = (await service.history(admin(), "1"))[0]
    assert (latest.rule_id, latest.state, latest.metric, latest.value) == (
        "altseason",
        "resolved",
        "asi",
        70,
    )
    assert latest.threshold == 75
    # The history keeps the alert as data for each front-end to word.
    alert = latest.alert
    assert (alert.op, alert.direction, alert.tone) == (">=", "rise", "risk-off")
    assert alert.rule_description.startswith("Altcoin season")
    assert alert.previous is not None
    assert await service.history(admin(OTHER)) == ()


@pytest.mark.parametrize("count", ["0", "51", "-1", "+3", "abc", "2.5", "1e1", "10 20"])
async def test_history_rejects_bad_counts(service: CommandService, count: str) -> None:
    with pytest.raises(CommandError, match=r"^usage: /history \[n\], n from 1 to 50$"):
        await service.history(admin(), count)


async def test_history_rejects_a_superscript_count(service: CommandService) -> None:
    with pytest.raises(CommandError):
        await service.history(admin(), "²")


# --- status ----------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["doge", "asi_", "rut-new-high"])
async def test_status_of_an_unknown_metric_names_it(service: CommandService, metric: str) -> None:
    with pytest.raises(CommandError) as caught:
        await service.status(metric)
    assert f"unknown metric {metric!r}" in caught.value.message
    assert "btc_dominance" in caught.value.message


async def test_status_before_any_data(service: CommandService, clock: FakeClock) -> None:
    report = await service.status()
    assert (report.firing, report.generated_at) == ((), clock())
    # Every metric is listed, each saying why it has no value.
    assert [m.metric for m in report.metrics] == list(await service.metric_ids())
    assert {(m.value, m.stale_reason) for m in report.metrics} == {(None, "no value yet")}
    (row,) = (await service.status("asi")).metrics
    assert (row.metric, row.value, row.formatted, row.stale, row.source) == (
        "asi",
        None,
        "no data yet",
        True,
        None,
    )


async def test_status_shows_value_source_and_age(
    service: CommandService, engine: AlertEngine, clock: FakeClock
) -> None:
    at = clock()
    detail = (("beats_btc", "eth,sol"),)
    await engine.ingest_sample(Sample("asi", 55, at, "coingecko", detail))
    await engine.ingest_sample(Sample("btc_dominance", 58.25, at, "coinpaprika"))
    clock.advance(minutes=5)
    report = await service.status()
    known = [m for m in report.metrics if m.value is not None]
    assert [m.metric for m in known] == ["asi", "btc_dominance"]
    asi, dominance = known
    assert (asi.value, asi.formatted, asi.source, asi.at, asi.age) == (
        55,
        metric_info("asi").format(55),
        "coingecko",
        at,
        timedelta(minutes=5),
    )
    assert (asi.stale, asi.stale_reason, asi.detail) == (False, None, ())
    assert (dominance.value, dominance.formatted, dominance.source) == (
        58.25,
        "58.25%",
        "coinpaprika",
    )
    (only,) = (await service.status(" ASI ")).metrics
    assert only.metric == "asi"
    assert only.detail == detail


async def test_status_shows_a_metric_marked_stale_with_its_reason(
    service: CommandService, store: Store, engine: AlertEngine, clock: FakeClock
) -> None:
    await engine.ingest_sample(Sample("asi", 55, clock(), "coingecko"))
    await store.mark_stale("asi", "only 44 of 50 coins have history", clock())
    (row,) = (await service.status("asi")).metrics
    assert (row.value, row.stale, row.stale_reason) == (
        55,
        True,
        "only 44 of 50 coins have history",
    )


async def test_status_shows_a_never_seen_metric_marked_stale(
    service: CommandService, store: Store, clock: FakeClock
) -> None:
    await store.mark_stale("rut", "yahoo answered 503", clock())
    row = next(m for m in (await service.status()).metrics if m.metric == "rut")
    assert (row.metric, row.value, row.stale, row.stale_reason) == (
        "rut",
        None,
        True,
        "yahoo answered 503",
    )


async def test_status_shows_a_value_older_than_its_max_age_as_stale(
    service: CommandService, engine: AlertEngine, clock: FakeClock
) -> None:
    await engine.ingest_sample(Sample("asi", 55, clock(), "coingecko"))
    max_age = metric_info("asi").max_age
    clock.advance(seconds=max_age.total_seconds())
    (row,) = (await service.status("asi")).metrics
    assert (row.stale, row.stale_reason) == (False, None)
    clock.advance(minutes=1)
    (row,) = (await service.status("asi")).metrics
    assert row.value == 55
    assert row.stale
    assert row.stale_reason == "no update for 2 h"
    clock.advance(days=3)
    (row,) = (await service.status("asi")).metrics
    assert row.stale_reason == "no update for 3 d"


async def test_status_lists_firing_built_in_rules(
    service: CommandService, engine: AlertEngine, clock: FakeClock
) -> None:
    await service.add_alert(admin(), "asi > 30")
    await feed(engine, clock, "asi", [40, 55])
    report = await service.status()
    assert [(r.id, r.state) for r in report.firing] == [("asi-above-50", "firing")]
    assert [r.id for r in (await service.status("asi")).firing] == ["asi-above-50"]
    assert (await service.status("btc_dominance")).firing == ()


# --- rules -----------------------------------------------------------------------------------


async def test_rules_marks_subscriptions(service: CommandService) -> None:
    assert [(r.id, r.subscribed) for r in await service.rules()] == [
        (i, False) for i in BUILTIN_IDS
    ]
    await service.subscribe(admin(), ["altseason"])
    assert [r.id for r in await service.rules(admin()) if r.subscribed] == ["altseason"]
    assert [r.id for r in await service.rules(admin(OTHER)) if r.subscribed] == []
    rule = next(r for r in await service.rules(admin()) if r.id == "altseason")
    assert (rule.metric, rule.condition, rule.custom, rule.state) == (
        "asi",
        "asi >= 75",
        False,
        "inactive",
    )


async def test_rules_with_all_marks_every_built_in_but_custom_only_when_named(
    service: CommandService,
) -> None:
    custom = await service.add_alert(admin(), "sol_usd < 100")
    await service.unsubscribe(admin(), [custom.id])
    await service.subscribe(admin(), ["all"])
    rules = await service.rules(admin())
    assert [r.id for r in rules] == [*BUILTIN_IDS, custom.id]
    assert [r.subscribed for r in rules] == [True] * len(BUILTIN_IDS) + [False]
    await service.subscribe(admin(), [custom.id])
    assert all(r.subscribed for r in await service.rules(admin()))


async def test_rules_show_state(
    service: CommandService, engine: AlertEngine, clock: FakeClock
) -> None:
    await feed(engine, clock, "asi", [40, 80])
    states = {r.id: r.state for r in await service.rules()}
    assert states["asi-above-50"] == "firing"
    assert states["altseason"] == "firing"
    assert states["bitcoin-season"] == "inactive"


async def test_a_deactivated_chat_shows_no_subscriptions(
    service: CommandService, store: Store, engine: AlertEngine, clock: FakeClock
) -> None:
    await service.subscribe(admin(), ["asi-above-50"])
    await feed(engine, clock, "asi", [40, 55])

    async def refuse(item: OutboxItem) -> DeliveryOutcome:
        return Refused("bot was kicked")

    assert await deliver_due(store, clock, refuse) == 1
    assert not any(r.subscribed for r in await service.rules(admin()))


# --- moving a chat ---------------------------------------------------------------------------


async def test_move_destination_carries_subscriptions_mute_and_custom_alerts(
    service: CommandService, store: Store, engine: AlertEngine, clock: FakeClock
) -> None:
    supergroup = Destination.parse("telegram:-1009876543210")
    await service.subscribe(admin(), ["asi-above-50", "altseason"])
    custom = await service.add_alert(admin(), "asi > 60")
    until = (await service.mute(admin(), "1h")).until

    await service.move_destination(GROUP, supergroup)

    assert await store.destination(GROUP.address) is None
    moved = await store.destination(supergroup.address)
    assert moved is not None
    assert set(moved.rule_ids) == {"asi-above-50", "altseason", custom.id}
    assert moved.muted_until == until
    assert [a.id for a in await service.list_alerts(admin(supergroup))] == [custom.id]
    assert await service.list_alerts(admin()) == ()
    owners = {r.id: r.owner for r in await engine.rules() if r.custom}
    assert owners == {custom.id: supergroup.address}

    await service.unmute(admin(supergroup))
    await feed(engine, clock, "asi", [40, 65])
    sent = await drain(store, clock)
    assert sorted((d.address, d.rule_id) for d in sent) == [
        (supergroup.address, "asi-above-50"),
        (supergroup.address, custom.id),
    ]


async def test_move_into_an_existing_chat_merges_subscriptions(
    service: CommandService, store: Store
) -> None:
    await service.subscribe(admin(), ["asi-above-50", "altseason"])
    await service.subscribe(admin(OTHER), ["altseason", "bitcoin-season"])
    await service.move_destination(GROUP, OTHER)
    assert await store.destination(GROUP.address) is None
    assert await subscriptions(store, OTHER) == ("altseason", "asi-above-50", "bitcoin-season")


# --- end to end ------------------------------------------------------------------------------


async def test_a_subscribed_chat_gets_one_alert_per_crossing(
    service: CommandService, store: Store, engine: AlertEngine, clock: FakeClock
) -> None:
    await service.subscribe(admin(), ["asi-above-50"])
    await service.subscribe(admin(OTHER), ["btc-dominance-below-59"])
    await service.subscribe(admin(CHANNEL), ["bitcoin-season"])

    await feed(engine, clock, "asi", [40])
    assert await drain(store, clock) == []
    crossed_at = await feed(engine, clock, "asi", [55])
    assert await drain(store, clock, ["telegram"]) == [
        Delivery(GROUP.address, "asi-above-50", "firing", 55)
    ]
    assert await drain(store, clock, ["discord"]) == []

    # The same sample again, and a later one still above: the rule already fired.
    await engine.ingest_sample(Sample("asi", 55, crossed_at, "coingecko"))
    await feed(engine, clock, "asi", [55, 56])
    assert await drain(store, clock) == []
    assert await store.pending_count() == 0
    (event,) = await service.history(admin())
    assert (event.rule_id, event.state, event.value) == ("asi-above-50", "firing", 55)


async def test_a_muted_chat_gets_what_fired_in_a_summary_once_the_mute_ends(
    service: CommandService, store: Store, engine: AlertEngine, clock: FakeClock
) -> None:
    for destination in (GROUP, OTHER):
        await service.subscribe(admin(destination), ["asi-above-50"])
    await service.mute(admin(OTHER), "1h")

    await feed(engine, clock, "asi", [40, 55])
    assert [d.address for d in await drain(store, clock)] == [GROUP.address]
    [held] = await service.history(admin(OTHER))
    assert (held.rule_id, held.state, held.handling) == ("asi-above-50", "firing", "held")

    # Past the mute, the held firing goes out first, in a summary, then the resolve (below 50
    # minus the 4-point band) reaches both chats on its own.
    clock.advance(hours=1)
    await feed(engine, clock, "asi", [45])
    sent = await drain(store, clock)
    assert sorted((d.address, d.kind, d.summary) for d in sent) == [
        (GROUP.address, "resolved", False),
        (OTHER.address, "firing", True),
        (OTHER.address, "resolved", False),
    ]
    assert [d.kind for d in sent if d.address == OTHER.address] == ["firing", "resolved"]
    history = await service.history(admin(OTHER))
    assert [(e.state, e.handling) for e in history] == [("resolved", "sent"), ("firing", "summary")]


async def test_unmute_sends_what_was_held_in_one_summary_then_alerts_as_usual(
    service: CommandService, store: Store, engine: AlertEngine, clock: FakeClock
) -> None:
    await service.subscribe(admin(), ["asi-above-50"])
    await service.mute(admin(), "1d")
    await feed(engine, clock, "asi", [40, 55, 45])
    assert await drain(store, clock) == []
    assert await store.pending_count() == 0

    unmuted = await service.unmute(admin())

    assert unmuted == UnmuteInfo(released=2)
    await feed(engine, clock, "asi", [55])
    assert [(d.kind, d.summary) for d in await drain(store, clock)] == [
        ("firing", True),
        ("resolved", True),
        ("firing", False),
    ]
    # Delivered once: nothing is left to send, and unmuting again lets nothing go.
    assert await drain(store, clock) == []
    assert await service.unmute(admin()) == UnmuteInfo(released=0)


async def test_a_custom_rule_goes_only_to_its_owner(
    service: CommandService, store: Store, engine: AlertEngine, clock: FakeClock
) -> None:
    custom = await service.add_alert(admin(), "total2 > 1.5t")
    await service.subscribe(admin(OTHER), ["all"])
    await service.subscribe(admin(CHANNEL), ["all"])
    await feed(engine, clock, "total2", [1.2e12, 1.6e12])
    assert await drain(store, clock) == [Delivery(GROUP.address, custom.id, "firing", 1.6e12)]
    assert [e.rule_id for e in await service.history(admin())] == [custom.id]
    assert await service.history(admin(OTHER)) == ()


async def test_a_removed_custom_rule_no_longer_fires(
    service: CommandService, store: Store, engine: AlertEngine, clock: FakeClock
) -> None:
    custom = await service.add_alert(admin(), "total2 > 1.5t")
    await service.remove_alert(admin(), custom.id)
    await feed(engine, clock, "total2", [1.2e12, 1.6e12])
    assert await drain(store, clock) == []
    assert await store.recent_events(10) == []


async def test_an_alert_on_a_pushed_metric_no_longer_configured_stays_listed_and_removable(
    store: Store, clock: FakeClock
) -> None:
    # A chat alerted on a pushed-in metric; the operator since dropped it from INGEST_METRICS.
    pushing = AlertEngine(store, RuleDefaults(), clock)
    before = CommandService(store, pushing, clock, pushed_metrics=["retired_feed_x"])
    await before.add_alert(admin(), "retired_feed_x > 5")
    after = CommandService(store, AlertEngine(store, RuleDefaults(), clock), clock)
    (alert,) = await after.list_alerts(admin())
    assert alert.metric == "retired_feed_x"
    await after.remove_alert(admin(), alert.id)
    assert await after.list_alerts(admin()) == ()


async def test_status_says_a_backfill_is_running_and_how_far(
    store: Store, engine: AlertEngine, clock: FakeClock
) -> None:
    class Backfilling:
        name = "coingecko"
        progress: str | None = "back-fill 31 of 51 coins"
        down: str | None = None

        def warming(self) -> str | None:
            return self.progress

        async def fetch(self, now: datetime) -> FetchResult:
            if self.down is not None:
                raise SourceUnavailable(self.name, self.down)
            return FetchResult()

    source = Backfilling()

    async def nothing(_result: FetchResult) -> None:
        return None

    async def mark(_metric: str, _reason: str) -> None:
        return None

    poller = Poller(source, 60, nothing, mark, clock, metrics=("asi", "altbtc_macd"))
    service = CommandService(store, engine, clock, health=lambda: [poller.health])
    rows = {m.metric: m for m in (await service.status()).metrics}
    assert rows["asi"].stale_reason == "warming up: back-fill 31 of 51 coins"
    assert rows["altbtc_macd"].stale_reason == "warming up: back-fill 31 of 51 coins"
    assert rows["rut"].stale_reason == "no value yet"
    # Done warming, never answered yet: said so; then failing: since when and why.
    source.progress = None
    assert (await service.status("asi")).metrics[0].stale_reason == (
        "the first refresh has not finished yet"
    )
    await poller.poll_once()
    source.down = "HTTP 500"
    await poller.poll_once()
    clock.advance(minutes=5)
    assert (await service.status("asi")).metrics[0].stale_reason == (
        "coingecko failing for 5 min: HTTP 500"
    )
    # /healthz's "fresh": a value was produced, not merely an answer received.
    assert not poller.health.fresh


# --- status asi: the universe ------------------------------------------------------------------


def universe_at(at: datetime) -> AsiUniverse:
    """Return a small universe: Bitcoin -20 %, ETH -30 %, ZEC +150 %, a coin without history."""
    return AsiUniverse(
        at=at,
        bitcoin_change=-0.20,
        coins=(
            CountedCoin("ethereum", "eth", "Ethereum", 2, -0.30),
            CountedCoin("zcash", "zec", "Zcash", 18, 1.5),
            CountedCoin("world-liberty-financial", "wlfi", "World Liberty Financial", 42, None),
        ),
        excluded=(
            ExcludedCoin("tether", "usdt", "Tether", 3, "Stablecoins"),
            ExcludedCoin("usdt0", "usdt0", "USDT0", 34, "Bridged-Tokens"),
            ExcludedCoin("usd1-wlfi", "usd1", "USD1", 47, "pegged"),
            ExcludedCoin("usd-coin", "usdc", "USDC", 7, "Stablecoins"),
        ),
        value=50.0,
    )


async def test_status_asi_shows_the_universe_instead_of_the_stored_detail(
    store: Store, engine: AlertEngine, clock: FakeClock
) -> None:
    at = clock()
    await engine.ingest_sample(Sample("asi", 50, at, "coingecko", (("ZEC", "+150.00%"),)))
    service = CommandService(store, engine, clock, asi_universe=lambda: universe_at(at))

    report = await service.status("asi")

    universe = report.universe
    assert universe is not None and universe.at == at
    assert [(c.symbol, c.change) for c in universe.beat] == [("ZEC", 1.5)]
    assert [c.symbol for c in universe.behind] == ["ETH"]
    assert [c.symbol for c in universe.without_history] == ["WLFI"]
    assert universe.counted == 2
    assert universe.excluded_by_reason() == (
        ("Stablecoins", ("USDT", "USDC")),
        ("Bridged-Tokens", ("USDT0",)),
        ("pegged", ("USD1",)),
    )
    # The universe names every coin with its change: the stored list of winners would repeat it.
    (row,) = report.metrics
    assert row.detail == ()
    assert (await service.status()).universe is None
    assert (await service.status("btc_dominance")).universe is None


async def test_status_asi_before_the_first_computation_says_so_and_keeps_the_detail(
    store: Store, engine: AlertEngine, clock: FakeClock
) -> None:
    detail = (("ZEC", "+150.00%"),)
    await engine.ingest_sample(Sample("asi", 50, clock(), "coingecko", detail))
    for keeper in (None, lambda: None):
        service = CommandService(store, engine, clock, asi_universe=keeper)
        report = await service.status("asi")
        assert report.universe is not None
        assert not report.universe.computed
        (row,) = report.metrics
        assert row.detail == detail


# --- quiet hours and time zones ----------------------------------------------------------------

QUIET_USAGE = "Usage: /quiet <HH:MM-HH:MM> [zone] | off, e.g. /quiet 23:00-07:00 Europe/Berlin"
BERLIN = ZoneInfo("Europe/Berlin")


async def test_quiet_hours_are_set_shown_and_switched_off(service: CommandService) -> None:
    night = QuietHours(23 * 60, 7 * 60, "Europe/Berlin")
    assert await service.quiet(admin(), ["23:00-07:00", "europe/berlin"]) == QuietInfo(night)
    assert await service.quiet(member(), []) == QuietInfo(night)
    assert await service.quiet(admin(), ["OFF"]) == QuietInfo(None)
    assert await service.quiet(member(), ["  "]) == QuietInfo(None)


async def test_quiet_hours_default_to_the_chat_zone_else_utc(service: CommandService) -> None:
    assert (await service.quiet(admin(), ["22:00", "-", "06:00"])).quiet == QuietHours(
        22 * 60, 6 * 60, "UTC"
    )
    await service.set_time_zone(admin(), "Asia/Tokyo")
    assert (await service.quiet(admin(), ["22:00-06:00"])).quiet == QuietHours(
        22 * 60, 6 * 60, "Asia/Tokyo"
    )


@pytest.mark.parametrize(
    ("words", "problem"),
    [
        (["25:00-07:00"], "'25:00' is not a time of day: use 00:00 to 23:59"),
        (
            ["23:00-07:00", "Mars/Base"],
            "unknown time zone 'Mars/Base': use an IANA name such as Europe/Berlin",
        ),
        (["23:00", "07:00"], "'23:00 07:00' has no dash between start and end"),
        (["soon"], "'soon' has no dash between start and end"),
        (["07:00-07:00"], "quiet hours must start and end at different times"),
    ],
)
async def test_bad_quiet_hours_get_one_usage_line_and_change_nothing(
    service: CommandService, store: Store, words: list[str], problem: str
) -> None:
    await service.quiet(admin(), ["23:00-07:00", "Europe/Berlin"])
    before = await store.destination(GROUP.address)
    with pytest.raises(CommandError) as caught:
        await service.quiet(admin(), words)
    assert caught.value.message == f"{problem}. {QUIET_USAGE}"
    assert "\n" not in caught.value.message
    assert await store.destination(GROUP.address) == before


async def test_quiet_hours_hold_alerts_and_switching_them_off_sends_a_summary(
    service: CommandService, store: Store, engine: AlertEngine, clock: FakeClock
) -> None:
    await service.subscribe(admin(), ["asi-above-50"])
    assert clock().hour == 12
    await service.quiet(admin(), ["11:30-12:30"])
    await feed(engine, clock, "asi", [40, 55])
    assert await drain(store, clock) == []
    [held] = await service.history(admin())
    assert held.handling == "held"

    assert await service.quiet(admin(), ["off"]) == QuietInfo(None, released=1)

    assert [(d.kind, d.summary) for d in await drain(store, clock)] == [("firing", True)]


async def test_unmute_inside_quiet_hours_says_they_still_hold(
    service: CommandService, store: Store, engine: AlertEngine, clock: FakeClock
) -> None:
    await service.subscribe(admin(), ["asi-above-50"])
    await service.quiet(admin(), ["11:00-13:00"])
    await service.mute(admin(), "1h")
    await feed(engine, clock, "asi", [40, 55])
    unmuted = await service.unmute(admin())
    assert unmuted == UnmuteInfo(0, QuietHours(11 * 60, 13 * 60, "UTC"))
    assert await drain(store, clock) == []


async def test_the_time_zone_is_set_shown_and_used_for_a_mute(
    service: CommandService, clock: FakeClock
) -> None:
    assert await service.show_time_zone(admin()) == TimeZoneInfo(UTC, clock())
    assert await service.set_time_zone(admin(), " europe/BERLIN ") == TimeZoneInfo(BERLIN, clock())
    assert await service.time_zone(member()) == BERLIN
    assert (await service.mute(admin(), "1h")).zone == BERLIN


@pytest.mark.parametrize("name", ["Mars/Base", "", "Europe/Berlin extra", "../../etc/passwd"])
async def test_a_bad_time_zone_gets_one_usage_line_and_changes_nothing(
    service: CommandService, name: str
) -> None:
    await service.set_time_zone(admin(), "Asia/Tokyo")
    with pytest.raises(
        CommandError, match=r"Usage: /timezone <IANA zone>, e\.g\. /timezone Europe/Berlin$"
    ):
        await service.set_time_zone(admin(), name)
    assert await service.time_zone(admin()) == ZoneInfo("Asia/Tokyo")
