"""The real python-telegram-bot front-end against the fake Bot API and the real command service."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from bot.commands import COMMANDS, Caller, CommandService, EventInfo
from bot.model.alerts import AlertMessage, FeedNotice
from bot.model.delivery import TransientDeliveryError
from bot.model.destinations import Destination
from bot.storage import Store
from bot.watch.engine import AlertEngine
from handlers.telegram import TelegramStartError
from signals.types import Sample
from tests.fakes.telegram_api import SentMessage, conflict, server_error
from tests.handlers.telegram.conftest import OPERATOR, Env, MakeEnv, WallClock
from timing import Backoff

USER = 4242
GROUP = -100_555
ADMIN = 7
MEMBER = 8
CHANNEL = -100_777
ALERT = AlertMessage(
    1,
    "altseason",
    "Altcoin season",
    "firing",
    "asi",
    76.0,
    75.0,
    70.0,
    "coingecko",
    datetime(2026, 1, 5, 12, tzinfo=UTC),
    ">=",
    "rise",
)


def buttons(message: SentMessage) -> list[tuple[str, str]]:
    """Return (label, callback data) of every inline button under `message`."""
    assert message.reply_markup is not None
    return [
        (b["text"], b["callback_data"])
        for row in message.reply_markup["inline_keyboard"]
        for b in row
    ]


async def reply_to(env: Env, chat_id: int, before: int) -> SentMessage:
    """Wait for the next message in `chat_id` after the `before` already there."""
    return (await env.fake.wait_for_messages(chat_id, before + 1))[before]


async def test_start_publishes_the_menu_and_greets_in_a_dm(running: Env) -> None:
    running.fake.private_message(USER, "/start")

    reply = await reply_to(running, USER, 0)

    assert [c["command"] for c in running.fake.commands] == [c.name for c in COMMANDS]
    assert running.fake.webhook_deleted == 1
    assert reply.parse_mode == "HTML"
    assert "Risk-On Radar" in reply.plain
    for spec in COMMANDS:
        assert spec.usage in reply.plain


async def test_subscribe_in_a_dm_changes_the_chat(running: Env) -> None:
    running.fake.private_message(USER, "/subscribe asi-above-50 altseason")

    reply = await reply_to(running, USER, 0)

    assert "Subscribed to asi-above-50, altseason" in reply.plain
    assert await running.subscriptions(f"telegram:{USER}") == ("altseason", "asi-above-50")


async def test_subscribe_without_rules_offers_buttons_that_toggle(running: Env) -> None:
    fake = running.fake
    fake.private_message(USER, "/subscribe")
    menu = await reply_to(running, USER, 0)
    assert ("➕ altseason", "sub:altseason") in buttons(menu)

    fake.callback_query(USER, USER, menu.message_id, "sub:altseason")
    await fake.wait_until(lambda: len(fake.callback_answers) == 1)
    await fake.wait_until(lambda: fake.messages(USER)[0].edits == 1)

    assert fake.callback_answers[0].text == "Subscribed to altseason"
    assert ("✅ altseason", "unsub:altseason") in buttons(fake.messages(USER)[0])
    assert await running.subscriptions(f"telegram:{USER}") == ("altseason",)

    fake.callback_query(USER, USER, menu.message_id, "unsub:altseason")
    await fake.wait_until(lambda: fake.messages(USER)[0].edits == 2)
    assert ("➕ altseason", "sub:altseason") in buttons(fake.messages(USER)[0])
    assert await running.subscriptions(f"telegram:{USER}") == ()


async def test_group_admin_subscribes(running: Env) -> None:
    running.fake.set_admins(GROUP, ADMIN)
    running.fake.group_message(GROUP, ADMIN, "/subscribe all", supergroup=True)

    reply = await reply_to(running, GROUP, 0)

    assert "Subscribed to all" in reply.plain
    caller = Caller(Destination.parse(f"telegram:{GROUP}"), "telegram:1", can_manage=False)
    rules = await running.service.rules(caller)
    assert rules
    assert all(r.subscribed for r in rules)


async def test_group_member_is_refused_and_nothing_changes(running: Env) -> None:
    fake = running.fake
    fake.set_admins(GROUP, ADMIN)
    for text in ("/subscribe all", "/alert btc_usd > 100000", "/mute 2h", "/unsubscribe all"):
        before = len(fake.messages(GROUP))
        fake.group_message(GROUP, MEMBER, text, supergroup=True)
        reply = await reply_to(running, GROUP, before)
        assert reply.plain == "Only this chat's administrators can change its alerts."

    assert await running.store.destination(f"telegram:{GROUP}") is None
    # Reading is for everyone.
    fake.group_message(GROUP, MEMBER, "/rules", supergroup=True)
    assert "altseason" in (await reply_to(running, GROUP, 4)).plain


async def test_group_member_cannot_press_buttons_either(running: Env) -> None:
    fake = running.fake
    fake.set_admins(GROUP, ADMIN)
    fake.group_message(GROUP, MEMBER, "/subscribe", supergroup=True)
    menu = await reply_to(running, GROUP, 0)

    fake.callback_query(GROUP, MEMBER, menu.message_id, "sub:altseason")
    await fake.wait_until(lambda: len(fake.callback_answers) == 1)

    assert fake.callback_answers[0].text == "Only this chat's administrators can change its alerts."
    assert fake.messages(GROUP)[0].edits == 0
    assert await running.store.destination(f"telegram:{GROUP}") is None


async def test_anonymous_admin_is_recognised_without_asking_telegram(running: Env) -> None:
    running.fake.anonymous_admin_message(GROUP, "/subscribe altseason")

    reply = await reply_to(running, GROUP, 0)

    assert "Subscribed to altseason" in reply.plain
    assert running.fake.calls["getChatAdministrators"] == 0
    assert await running.subscriptions(f"telegram:{GROUP}") == ("altseason",)


async def test_operator_may_manage_a_group_they_do_not_administer(running: Env) -> None:
    running.fake.set_admins(GROUP, ADMIN)
    running.fake.group_message(GROUP, OPERATOR, "/subscribe altseason", supergroup=True)

    assert "Subscribed" in (await reply_to(running, GROUP, 0)).plain
    assert await running.subscriptions(f"telegram:{GROUP}") == ("altseason",)


async def test_forum_topic_is_its_own_destination(running: Env) -> None:
    running.fake.set_admins(GROUP, ADMIN)
    running.fake.group_message(GROUP, ADMIN, "/subscribe altseason", thread_id=77)

    reply = await reply_to(running, GROUP, 0)

    assert reply.thread_id == 77
    assert await running.subscriptions(f"telegram:{GROUP}/77") == ("altseason",)
    assert await running.store.destination(f"telegram:{GROUP}") is None


async def test_channel_post_from_the_channel_subscribes_the_channel(running: Env) -> None:
    running.fake.channel_post(CHANNEL, "/subscribe bitcoin-season")

    reply = await reply_to(running, CHANNEL, 0)

    assert "Subscribed to bitcoin-season" in reply.plain
    assert await running.subscriptions(f"telegram:{CHANNEL}") == ("bitcoin-season",)


async def test_admin_list_is_cached_for_a_minute(running: Env) -> None:
    fake = running.fake
    fake.set_admins(GROUP, ADMIN)
    fake.group_message(GROUP, ADMIN, "/subscribe altseason", supergroup=True)
    fake.group_message(GROUP, ADMIN, "/subscribe asi-above-50", supergroup=True)
    await fake.wait_for_messages(GROUP, 2)
    assert fake.calls["getChatAdministrators"] == 1

    # The admin was demoted; the bot notices once the cached list expires.
    fake.set_admins(GROUP)
    running.clock.advance(61)
    fake.group_message(GROUP, ADMIN, "/unsubscribe all", supergroup=True)
    reply = await reply_to(running, GROUP, 2)

    assert fake.calls["getChatAdministrators"] == 2
    assert reply.plain == "Only this chat's administrators can change its alerts."
    assert await running.subscriptions(f"telegram:{GROUP}") == ("altseason", "asi-above-50")


async def test_status_is_a_compact_table(running: Env) -> None:
    at = running.wall.now - timedelta(minutes=5)
    await running.engine.ingest_sample(Sample("asi", 40.0, at - timedelta(hours=1), "coingecko"))
    await running.engine.ingest_sample(Sample("asi", 61.0, at, "coingecko"))
    await running.engine.ingest_sample(Sample("btc_dominance", 58.4, at, "coinpaprika"))
    running.fake.private_message(USER, "/status")

    reply = await reply_to(running, USER, 0)

    assert "<pre>" in reply.text
    lines = reply.plain.splitlines()
    asi = next(line for line in lines if line.startswith("asi "))
    assert asi.split() == ["asi", "61", "5", "min", "ago", "coingecko"]
    dominance = next(line for line in lines if line.startswith("btc_dominance "))
    assert dominance.split() == ["btc_dominance", "58.40%", "5", "min", "ago", "coinpaprika"]
    firing = (await running.service.status()).firing
    assert [r.id for r in firing] == ["asi-above-50"]
    assert "Firing\n🟢 asi-above-50 — " in reply.plain


async def test_status_of_one_metric_and_of_an_unknown_one(running: Env) -> None:
    at = running.wall.now - timedelta(hours=3)
    await running.engine.ingest_sample(Sample("asi", 40.0, at, "coingecko"))
    running.fake.private_message(USER, "/status asi")
    running.fake.private_message(USER, "/status <b>nope</b>")

    detail, unknown = await running.fake.wait_for_messages(USER, 2)

    assert "Altcoin Season Index (asi)" in detail.plain
    assert "Stale" in detail.plain  # three hours is past the two-hour freshness of asi
    assert unknown.plain.startswith("unknown metric '<b>nope</b>'")


class LongHistory(CommandService):
    """The real service, with a history long enough to need two messages."""

    async def history(self, caller: Caller, count: str | None = None) -> tuple[EventInfo, ...]:
        at = datetime(2026, 1, 5, tzinfo=UTC)
        return tuple(
            EventInfo(
                AlertMessage(
                    i, "source-down:yahoo", "Feed yahoo is down", "firing", "feed", 0.0, None,
                    None, "radar", at, None, None,
                    notice=FeedNotice("yahoo", at, f"event {i} " + "x" * 100),
                )
            )
            for i in range(40)
        )  # fmt: skip


async def test_a_6000_character_reply_arrives_as_two_messages(
    make_env: MakeEnv, store: Store, engine: AlertEngine, wall: WallClock
) -> None:
    env = make_env(service=LongHistory(store, engine, wall))
    await env.frontend.start()
    env.fake.private_message(USER, "/history")

    await env.fake.wait_for_messages(USER, 2)
    parts = env.fake.messages(USER)

    assert len(parts) == 2
    total = sum(len(p.plain) for p in parts)
    assert 6000 < total < 8192
    assert all(len(p.plain) <= 4096 for p in parts)
    events = [line for p in parts for line in p.plain.splitlines() if "event " in line]
    assert [int(e.split("event ")[1].split()[0]) for e in events] == list(range(40))


async def test_conflict_logs_one_line_and_keeps_going(
    make_env: MakeEnv, caplog: pytest.LogCaptureFixture
) -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    env = make_env(sleep=record, backoff=Backoff(base=1, cap=30))
    env.fake.fail_polls(conflict(), times=4)
    with caplog.at_level(logging.INFO, logger="handlers.telegram"):
        await env.frontend.start()
        env.fake.private_message(USER, "/help")
        reply = await reply_to(env, USER, 0)

    assert "Commands" in reply.plain
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "Another instance is polling this Telegram token" in warnings[0].getMessage()
    assert waits[:4] == [1, 2, 4, 8]
    assert any("working again" in r.getMessage() for r in caplog.records)


async def test_a_failed_poll_says_what_failed_in_one_line(
    make_env: MakeEnv, caplog: pytest.LogCaptureFixture
) -> None:
    async def record(seconds: float) -> None:
        pass

    env = make_env(sleep=record, backoff=Backoff(base=1, cap=30))
    env.fake.fail_polls(server_error(), times=3)
    with caplog.at_level(logging.INFO, logger="handlers.telegram"):
        await env.frontend.start()
        env.fake.private_message(USER, "/help")
        await reply_to(env, USER, 0)

    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == ["Telegram polling (getUpdates) failed: Bad Gateway; retrying with backoff"]


async def test_a_rejected_token_stops_start_without_quoting_it(make_env: MakeEnv) -> None:
    env = make_env(token="999:not-the-token")

    with pytest.raises(TelegramStartError) as raised:
        await env.frontend.start()

    assert "999:not-the-token" not in str(raised.value)


async def test_migrated_group_takes_its_subscriptions_along(running: Env) -> None:
    old, new = -4321, -100_4321
    running.fake.set_admins(old, ADMIN)
    running.fake.group_message(old, ADMIN, "/subscribe altseason")
    await reply_to(running, old, 0)

    running.fake.group_migrated(old, new)
    # Updates from one chat are handled in order: once this is answered, the move is done.
    running.fake.group_message(old, ADMIN, "/rules")
    await reply_to(running, old, 1)

    assert await running.subscriptions(f"telegram:{new}") == ("altseason",)
    assert await running.subscriptions(f"telegram:{old}") == ()


async def test_unknown_commands_get_a_hint_in_private_and_silence_in_groups(running: Env) -> None:
    running.fake.group_message(GROUP, MEMBER, "/frobnicate", supergroup=True)
    running.fake.private_message(USER, "/frobnicate <now>")
    running.fake.group_message(GROUP, MEMBER, "/help", supergroup=True)

    hint = await reply_to(running, USER, 0)
    group = await running.fake.wait_for_messages(GROUP, 1)

    assert hint.plain == "Unknown command /frobnicate. /help lists what I understand."
    assert len(group) == 1
    assert group[0].plain.startswith("Commands")


async def test_bad_arguments_get_a_one_line_usage(running: Env) -> None:
    for text in ("/alert", "/mute", "/alert remove", "/history abc", "/subscribe nosuchrule"):
        running.fake.private_message(USER, text)
    replies = await running.fake.wait_for_messages(USER, 5)

    assert [r.plain.splitlines()[0] for r in replies] == [
        "usage: /alert <metric> <op> <value> | <metric> new high | remove <id>",
        "usage: /mute <duration>",
        "usage: /alert remove <id>; /alerts lists the ids",
        "usage: /history [n], n from 1 to 50",
        "unknown rule 'nosuchrule': see /rules for the ids",
    ]
    assert all(len(r.plain.splitlines()) == 1 for r in replies)


async def test_custom_alert_mute_and_history_round_trip(running: Env) -> None:
    running.fake.private_message(USER, "/alert btc_usd > 100000")
    added = await reply_to(running, USER, 0)
    rule_id = added.plain.split()[2].rstrip(":")

    running.fake.private_message(USER, "/alerts")
    running.fake.private_message(USER, "/mute 2h")
    running.fake.private_message(USER, "/unmute")
    running.fake.private_message(USER, "/history")
    running.fake.private_message(USER, f"/alert remove {rule_id}")
    listed, muted, unmuted, history, removed = (await running.fake.wait_for_messages(USER, 6))[1:]

    assert rule_id in listed.plain
    assert "btc_usd" in listed.plain
    assert muted.plain.startswith("Alerts here are muted until 2026-01-05 14:00 UTC")
    assert unmuted.plain == "Alerts here are back on."
    assert history.plain == "No alerts have been sent here yet."
    assert removed.plain == f"Removed alert {rule_id}."


async def test_stop_is_idempotent_and_takes_the_notifier_offline(running: Env) -> None:
    running.fake.private_message(USER, "/help")
    await reply_to(running, USER, 0)

    await running.frontend.stop()
    await running.frontend.stop()

    with pytest.raises(TransientDeliveryError):
        await running.frontend.notifier.send(Destination("telegram", str(USER)), ALERT)
    assert len(running.fake.messages(USER)) == 1


INVISIBLE = ["\u200b", "\u2060", "\ufeff", "\u200f", "\u00ad", "\u200d"]


@pytest.mark.parametrize("mark", INVISIBLE, ids=lambda c: f"U+{ord(c):04X}")
async def test_an_invisible_character_after_a_command_is_not_part_of_its_name(
    running: Env, mark: str
) -> None:
    running.fake.set_admins(GROUP, ADMIN)
    # Telegram's bot_command entity covers `/help` only; the rest is argument text.
    running.fake.private_message(USER, f"/help{mark}")
    running.fake.group_message(GROUP, ADMIN, f"/help@radar_test_bot{mark}", supergroup=True)
    running.fake.private_message(USER, f"/status{mark}btc_dominance")

    help_dm, status = await running.fake.wait_for_messages(USER, 2)
    (help_group,) = await running.fake.wait_for_messages(GROUP, 1)

    assert help_dm.plain.startswith("Commands")
    assert help_group.plain.startswith("Commands")
    assert "Bitcoin dominance" in status.plain
    assert running.frontend.commands.failures == 0


async def test_invisible_characters_in_arguments_are_stripped(running: Env) -> None:
    running.fake.private_message(USER, "/alert asi\u200b >\u2060 5\u00ad0\ufeff")
    running.fake.private_message(USER, "/mute \u200f2h")
    added, muted = await running.fake.wait_for_messages(USER, 2)

    assert added.plain.startswith("Added alert ")
    assert "asi > 50" in added.plain
    assert muted.plain.startswith("Alerts here are muted until 2026-01-05 14:00 UTC")
    assert running.frontend.commands.failures == 0


async def test_foreign_digits_and_out_of_range_thresholds_get_one_line_and_change_nothing(
    running: Env,
) -> None:
    texts = (
        "/alert btc_dominance >= 123",
        "/alert asi >= 2b",
        "/alert btc_usd > 0",
        "/alert asi > \u0663\u0660",  # Arabic-Indic 30
        "/alert asi > \uff13\uff10",  # full-width 30
        "/mute \u0969h",  # Devanagari 3
        "/history \u0663",
    )
    for text in texts:
        running.fake.private_message(USER, text)
    replies = await running.fake.wait_for_messages(USER, len(texts))

    assert [r.plain for r in replies] == [
        "btc_dominance is a percentage from 0 to 100; got 123. Usage: /alert <metric> <op> <value>",
        "asi is an index from 0 to 100; got 2000000000. Usage: /alert <metric> <op> <value>",
        "btc_usd is an amount in USD above 0; got 0. Usage: /alert <metric> <op> <value>",
        "'٣٠' is not a number: '٣' (arabic-indic digit three) is not an ASCII digit; "
        "use the digits 0-9. Usage: /alert <metric> <op> <value>",
        "'３０' is not a number: '３' (fullwidth digit three) is not an ASCII digit; "
        "use the digits 0-9. Usage: /alert <metric> <op> <value>",
        "'३h' is not a duration: '३' (devanagari digit three) is not an ASCII digit; "
        "use the digits 0-9, e.g. 30m, 2h, 1d or 1w",
        "'٣' is not a count: '٣' (arabic-indic digit three) is not an ASCII digit; "
        "use the digits 0-9. Usage: /history [n], n from 1 to 50",
    ]
    destination = await running.store.destination(f"telegram:{USER}")
    assert destination is None or (destination.rule_ids == () and destination.muted_until is None)
    assert await running.store.custom_rule_rows() == []
    assert running.frontend.commands.failures == 0
