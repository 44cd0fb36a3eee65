"""Thousands of hostile command strings through the fake: the bot answers or ignores each one,
never dies, never sends HTML Telegram would refuse, and never lets a non-admin change a group."""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.commands import COMMANDS, CommandService
from bot.model.rules import RuleDefaults
from bot.storage import Store
from bot.watch.engine import AlertEngine
from handlers.telegram import FloodLimits, TelegramFrontEnd
from tests.fakes.telegram_api import TelegramApiFake

pytestmark = pytest.mark.asyncio(loop_scope="module")

USER = 31337
GROUP = -100_31337
ADMIN = 1
MEMBER = 2
KNOWN = {c.name for c in COMMANDS}
# Telegram's rule for a bot_command: ASCII name and bot, not followed by a word character (a
# letter or digit of any script, `_`) or `/<>`; a zero-width space after the name ends it.
_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,64})(?:@([A-Za-z0-9_]{3,32})(?![A-Za-z0-9_]))?")


def _command(text: str) -> re.Match[str] | None:
    match = _COMMAND.match(text)
    if match is None:
        return None
    after = text[match.end() : match.end() + 1]
    if after and (after in "_/<>" or unicodedata.category(after)[0] in "LN"):
        return None
    return match


@dataclass
class World:
    fake: TelegramApiFake
    frontend: TelegramFrontEnd
    store: Store
    sentinels: itertools.count[int]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    path = tmp_path_factory.mktemp("fuzz") / "radar.db"
    store = await Store.open(f"sqlite+aiosqlite:///{path}")
    clock = lambda: datetime(2026, 1, 5, 12, tzinfo=UTC)  # noqa: E731
    engine = AlertEngine(store, RuleDefaults(), clock)
    await engine.reload()
    service = CommandService(store, engine, clock)
    async with TelegramApiFake() as fake:
        fake.set_admins(GROUP, ADMIN)
        frontend = TelegramFrontEnd(
            token=fake.token,
            service=service,
            api_url=fake.api_url,
            limits=FloodLimits().scaled(1000),
            poll_timeout=2,
        )
        await frontend.start()
        yield World(fake, frontend, store, itertools.count())
        await frontend.stop()
    await store.close()


_WORDS = [
    *sorted(KNOWN),
    "START",
    "help@radar_test_bot",
    "status@other_bot",
    "frobnicate",
    "alert@radar_test_bot",
    # Invisible characters glued to a name: Telegram's entity ends before them.
    "help\u200b",
    "status\u00ad",
    "alert\u2060",
    "rules@radar_test_bot\ufeff",
]
_ARGS = st.sampled_from(
    [
        "",
        "all",
        "altseason",
        "asi-above-50",
        "remove",
        "remove custom-1",
        "<b>",
        "</pre>",
        "&amp;",
        "&",
        "'; DROP TABLE subscriptions; --",
        '" OR 1=1 --',
        "99999999999999999999999999999999",
        "-1e308",
        "1e999",
        "nan",
        "inf",
        "0",
        "2h",
        "30m",
        "999999d",
        "btc_usd > 100000",
        "asi crosses above 60",
        "rut new high",
        "asi > <script>",
        "\u202e\u0000",
        "🚀" * 50,
        "x" * 300,
    ]
)
_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=120
).filter(lambda t: t.strip())
_COMMAND_TEXT = st.one_of(
    _TEXT,
    st.builds(lambda t: "/" + t, _TEXT),
    st.builds(
        lambda word, args: f"/{word} {' '.join(args)}".strip(),
        st.sampled_from(_WORDS),
        st.lists(st.one_of(_ARGS, _TEXT), max_size=4),
    ),
)


def expected_replies(texts: list[str], private: bool) -> int:
    """Count the commands Telegram would mark that the bot must answer in this kind of chat."""
    count = 0
    for text in texts:
        match = _command(text)
        if match is None:
            continue
        ours = match.group(2) is None or match.group(2).lower() == "radar_test_bot"
        known = match.group(1).lower() in KNOWN
        if private or (ours and known):
            count += 1
    return count


async def group_state(store: Store) -> object:
    """Return everything a group's administrators could change: subscriptions, mute, alerts."""
    address = f"telegram:{GROUP}"
    custom = [row for row in await store.custom_rule_rows() if row[1] == address]
    return await store.destination(address), custom


@settings(
    max_examples=70,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(texts=st.lists(_COMMAND_TEXT, min_size=1, max_size=30))
async def test_random_commands_are_answered_or_ignored_and_never_break_authority(
    world: World, texts: list[str]
) -> None:
    fake = world.fake
    before_group = await group_state(world.store)
    before = len(fake.messages(USER)), len(fake.messages(GROUP))
    for text in texts:
        fake.group_message(GROUP, MEMBER, text, supergroup=True)
        fake.private_message(USER, text)
    # Each chat's updates are handled in order, so its sentinel's answer comes last.
    sentinel = f"nosuchmetric{next(world.sentinels)}"
    fake.group_message(GROUP, MEMBER, f"/status {sentinel}", supergroup=True)
    fake.private_message(USER, f"/status {sentinel}")

    def answered(chat: int) -> bool:
        return any(sentinel in m.plain for m in fake.messages(chat)[-1:])

    await fake.wait_until(lambda: answered(USER) and answered(GROUP), timeout=60)

    assert fake.rejections == []
    assert world.frontend.commands.failures == 0
    assert world.frontend.updates.dropped == 0
    assert len(fake.messages(USER)) - before[0] == expected_replies(texts, private=True) + 1
    assert len(fake.messages(GROUP)) - before[1] == expected_replies(texts, private=False) + 1
    assert await group_state(world.store) == before_group
