"""Where a Telegram update came from, and whether its sender may change that chat's alerts."""

from __future__ import annotations

import time
from dataclasses import dataclass

from telegram import Chat, Message, User
from telegram.error import TelegramError
from telegram.ext import ExtBot

from bot.model.destinations import Destination
from timing import MonotonicClock

# Telegram shows a group's anonymous administrators as this bot user.
GROUP_ANONYMOUS_BOT_ID = 1087968824


@dataclass(frozen=True, slots=True)
class Origin:
    """The chat (and forum topic) a command came from, and who sent it."""

    chat_id: int
    chat_type: str
    thread_id: int | None
    user_id: int | None
    anonymous_admin: bool

    @property
    def destination(self) -> Destination:
        topic = str(self.thread_id) if self.thread_id is not None else None
        return Destination("telegram", str(self.chat_id), topic)

    @property
    def user(self) -> str:
        """Return the sender as the service names users: `telegram:<id>`."""
        return f"telegram:{self.user_id if self.user_id is not None else self.chat_id}"

    @property
    def is_group(self) -> bool:
        return self.chat_type in (Chat.GROUP, Chat.SUPERGROUP)


def message_origin(message: Message) -> Origin:
    """Return where `message` was posted and by whom."""
    chat = message.chat
    sender = message.from_user
    # Only forum topics are separate places; a reply thread in a plain group is not.
    thread = message.message_thread_id if message.is_topic_message else None
    if chat.type == Chat.CHANNEL:
        return Origin(chat.id, chat.type, thread, None, False)
    anonymous = chat.type in (Chat.GROUP, Chat.SUPERGROUP) and (
        (message.sender_chat is not None and message.sender_chat.id == chat.id)
        or (sender is not None and sender.id == GROUP_ANONYMOUS_BOT_ID)
    )
    user_id = None if anonymous or sender is None else sender.id
    return Origin(chat.id, chat.type, thread, user_id, anonymous)


def button_origin(message: Message, presser: User) -> Origin:
    """Return where an inline button was pressed and by whom."""
    thread = message.message_thread_id if message.is_topic_message else None
    return Origin(message.chat.id, message.chat.type, thread, presser.id, False)


class AuthorityUnavailable(Exception):
    """Telegram could not say who the chat's administrators are."""


@dataclass(frozen=True, slots=True)
class _Admins:
    user_ids: frozenset[int]
    expires: float


class AdminCache:
    """Each chat's administrators, asked of Telegram at most once per `ttl` seconds."""

    def __init__(
        self, bot: ExtBot[int], *, ttl: float = 60.0, clock: MonotonicClock = time.monotonic
    ):
        self._bot = bot
        self._ttl = ttl
        self._clock = clock
        self._chats: dict[int, _Admins] = {}

    async def is_admin(self, chat_id: int, user_id: int) -> bool:
        """Say whether `user_id` administers `chat_id`; raise `AuthorityUnavailable` if unknown."""
        now = self._clock()
        known = self._chats.get(chat_id)
        if known is None or known.expires <= now:
            try:
                members = await self._bot.get_chat_administrators(chat_id)
            except TelegramError as exc:
                raise AuthorityUnavailable(str(exc)) from exc
            known = _Admins(frozenset(m.user.id for m in members), now + self._ttl)
            self._chats[chat_id] = known
            self._forget_expired(now)
        return user_id in known.user_ids

    def forget(self, chat_id: int) -> None:
        """Drop what is known of `chat_id`, e.g. after it moved."""
        self._chats.pop(chat_id, None)

    def _forget_expired(self, now: float) -> None:
        if len(self._chats) > 1024:
            for chat_id in [c for c, a in self._chats.items() if a.expires <= now]:
                del self._chats[chat_id]

    async def may_manage(self, origin: Origin) -> bool:
        """Decide whether `origin`'s sender may change the chat's subscriptions and alerts."""
        if origin.chat_type == Chat.PRIVATE:
            return True
        if origin.anonymous_admin:
            return True
        if origin.user_id is None:
            # A channel post carries no user: only the channel's administrators can post.
            return origin.chat_type == Chat.CHANNEL
        return await self.is_admin(origin.chat_id, origin.user_id)
