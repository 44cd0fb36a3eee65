"""A local Telegram Bot API server that speaks the real wire format, for tests and benchmarks.

It serves `/bot<token>/<method>` on 127.0.0.1, keeps every message it accepted per chat, checks
HTML the way Telegram does (strictly: a bare `<`, `>` or `&` is refused), can enforce Telegram's
flood limits on its own clock, and lets a test queue updates and script failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import math
import re
import struct
import time
import unicodedata
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

from aiohttp import web

Clock = Callable[[], float]
JSON = dict[str, Any]

GROUP_ANONYMOUS_BOT_ID = 1087968824
MAX_TEXT = 4096
MAX_CAPTION = 1024
# The Bot API's photo limits: 10 MB, width + height at most 10,000, sides at most 20:1.
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_PHOTO_SIDES = 10_000
MAX_PHOTO_RATIO = 20
# The widths Telegram scales an uploaded photo to (the largest is capped at 1280).
PHOTO_WIDTHS = (90, 320, 800, 1280)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True, slots=True)
class Upload:
    """A file part of a multipart request, as the Bot API receives it."""

    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(frozen=True, slots=True)
class SentPhoto:
    """A photo the fake accepted: its bytes, its size, its file id, and whether it was uploaded."""

    file_id: str
    file_unique_id: str
    width: int
    height: int
    data: bytes
    uploaded: bool


@dataclass(frozen=True, slots=True)
class Rate:
    """At most `count` messages in any window of `seconds`."""

    count: int
    seconds: float


@dataclass(frozen=True, slots=True)
class FakeLimits:
    """The flood limits the fake enforces, Telegram's by default."""

    overall: Rate = Rate(30, 1.0)
    per_chat: Rate = Rate(1, 1.0)
    per_group: Rate = Rate(20, 60.0)

    def scaled(self, speedup: float) -> FakeLimits:
        """Return the same limits with every window `speedup` times shorter."""
        return FakeLimits(
            Rate(self.overall.count, self.overall.seconds / speedup),
            Rate(self.per_chat.count, self.per_chat.seconds / speedup),
            Rate(self.per_group.count, self.per_group.seconds / speedup),
        )


@dataclass(frozen=True, slots=True)
class Failure:
    """One Bot API error answer: HTTP status, description and response parameters."""

    status: int
    description: str
    parameters: Mapping[str, int] = field(default_factory=dict)

    def body(self) -> JSON:
        """Return the JSON body Telegram sends for this error."""
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = dict(self.parameters)
        return body


def too_many_requests(retry_after: int) -> Failure:
    """Return the 429 flood-control answer."""
    return Failure(
        429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
    )


def blocked_by_user() -> Failure:
    """Return the 403 a blocked bot gets."""
    return Failure(403, "Forbidden: bot was blocked by the user")


def kicked_from_group() -> Failure:
    """Return the 403 a removed bot gets."""
    return Failure(403, "Forbidden: bot was kicked from the group chat")


def chat_not_found() -> Failure:
    """Return the 400 for a chat that does not exist."""
    return Failure(400, "Bad Request: chat not found")


def migrated_to(new_chat_id: int) -> Failure:
    """Return the 400 a group that became a supergroup answers with."""
    return Failure(
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        {"migrate_to_chat_id": new_chat_id},
    )


def conflict() -> Failure:
    """Return the 409 a second poller of one token gets."""
    return Failure(
        409,
        "Conflict: terminated by other getUpdates request; "
        "make sure that only one bot instance is running",
    )


def server_error() -> Failure:
    """Return a 502 as the Bot API front sends when its back end is down."""
    return Failure(502, "Bad Gateway")


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message the fake accepted (or its latest edit)."""

    message_id: int
    chat_id: int
    thread_id: int | None
    text: str
    plain: str
    parse_mode: str | None
    reply_markup: Mapping[str, Any] | None
    at: float
    edits: int = 0
    # A photo message: `text` and `plain` are then its caption.
    photo: SentPhoto | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    """A call the fake answered with an error."""

    method: str
    chat_id: int | None
    status: int
    description: str
    at: float


@dataclass(frozen=True, slots=True)
class CallbackAnswer:
    """An answerCallbackQuery call."""

    callback_query_id: str
    text: str | None
    show_alert: bool


class HtmlError(ValueError):
    """Text that Telegram's HTML parse mode refuses; the message is Telegram's wording."""


_TAG = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+\s*=\s*(?:\"[^\"<>]*\"|'[^'<>]*'))*)\s*>"
)
_ATTR = re.compile(r"([a-zA-Z-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")
_ENTITY_TEXT = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ALLOWED_ATTRS: dict[str, frozenset[str]] = {
    "b": frozenset(),
    "strong": frozenset(),
    "i": frozenset(),
    "em": frozenset(),
    "u": frozenset(),
    "ins": frozenset(),
    "s": frozenset(),
    "strike": frozenset(),
    "del": frozenset(),
    "tg-spoiler": frozenset(),
    "span": frozenset({"class"}),
    "a": frozenset({"href"}),
    "code": frozenset({"class"}),
    "pre": frozenset(),
    "blockquote": frozenset({"expandable"}),
    "tg-emoji": frozenset({"emoji-id"}),
}


def utf16_len(text: str) -> int:
    """Return the length Telegram counts: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def parse_html(text: str) -> str:
    """Return the visible text of a Telegram HTML message, or raise `HtmlError`."""
    plain: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "<":
            match = _TAG.match(text, i)
            if match is None:
                raise HtmlError(f"can't parse entities: Unsupported start tag at byte offset {i}")
            closing, name, attrs = match.group(1), match.group(2).lower(), match.group(3)
            if name not in _ALLOWED_ATTRS:
                raise HtmlError(f'can\'t parse entities: Unsupported start tag "{name}"')
            if closing:
                if not stack or stack[-1] != name:
                    raise HtmlError(
                        f"can't parse entities: Unmatched end tag at byte offset {i}, expected \""
                        f'{stack[-1] if stack else ""}", found "{name}"'
                    )
                stack.pop()
            else:
                for attr in _ATTR.finditer(attrs):
                    if attr.group(1).lower() not in _ALLOWED_ATTRS[name]:
                        raise HtmlError(f"can't parse entities: unsupported attribute in <{name}>")
                if (
                    stack
                    and stack[-1] in ("pre", "code")
                    and not (stack[-1] == "pre" and name == "code")
                ):
                    raise HtmlError(f"can't parse entities: <{name}> inside <{stack[-1]}>")
                stack.append(name)
            i = match.end()
        elif char == "&":
            match = _ENTITY.match(text, i)
            if match is None:
                raise HtmlError(f"can't parse entities: bare '&' at byte offset {i}")
            plain.append(_entity_text(match.group(1)))
            i = match.end()
        elif char == ">":
            raise HtmlError(f"can't parse entities: bare '>' at byte offset {i}")
        else:
            plain.append(char)
            i += 1
    if stack:
        raise HtmlError(
            f"can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1]}\""
        )
    return "".join(plain)


def _entity_text(name: str) -> str:
    if name.startswith("#x"):
        return chr(int(name[2:], 16))
    if name.startswith("#"):
        return chr(int(name[1:]))
    return _ENTITY_TEXT[name]


_COMMAND = re.compile(r"^/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32}(?![A-Za-z0-9_]))?")


def leading_command(text: str) -> str | None:
    """Return the `/name` or `/name@bot` Telegram marks as a bot_command at the start of `text`.

    As Telegram (tdlib's match_bot_commands) does it: the command is ASCII letters, digits and
    `_`; it counts unless the character after it is a word character (a letter or a digit of any
    script, `_`) or one of `/<>`. A zero-width space or a soft hyphen after `/help` therefore
    ends the command, and the entity covers `/help` alone.
    """
    match = _COMMAND.match(text)
    if match is None:
        return None
    after = text[match.end() : match.end() + 1]
    if after and (after in "_/<>" or unicodedata.category(after)[0] in "LN"):
        return None
    return match.group(0)


@dataclass(slots=True)
class _Chat:
    id: int
    type: str
    title: str
    is_forum: bool = False

    def to_json(self) -> JSON:
        data: JSON = {"id": self.id, "type": self.type}
        if self.type == "private":
            data["first_name"] = self.title
        else:
            data["title"] = self.title
        if self.is_forum:
            data["is_forum"] = True
        return data


def _user(user_id: int, *, is_bot: bool = False, username: str | None = None) -> JSON:
    data: JSON = {"id": user_id, "is_bot": is_bot, "first_name": f"User {user_id}"}
    if username:
        data["username"] = username
    return data


class _Window:
    """Send times within a rate's window, oldest first."""

    __slots__ = ("rate", "times")

    def __init__(self, rate: Rate) -> None:
        self.rate = rate
        self.times: deque[float] = deque()

    def wait(self, now: float) -> float:
        """Return how long until one more message fits, 0 if it fits now."""
        while self.times and self.times[0] <= now - self.rate.seconds:
            self.times.popleft()
        if len(self.times) < self.rate.count:
            return 0.0
        return self.times[0] + self.rate.seconds - now

    def add(self, now: float) -> None:
        self.times.append(now)


class TelegramApiFake:
    """The Bot API on 127.0.0.1: use `async with TelegramApiFake() as fake`, then `fake.api_url`."""

    def __init__(
        self,
        token: str = "123456:TEST-token",
        *,
        bot_id: int = 123456,
        username: str = "radar_test_bot",
        limits: FakeLimits | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.token = token
        self.bot_id = bot_id
        self.username = username
        self.limits = limits
        self._clock = clock
        self.calls: Counter[str] = Counter()
        self.sent: list[SentMessage] = []
        self.rejections: list[Rejection] = []
        self.callback_answers: list[CallbackAnswer] = []
        self.commands: list[JSON] = []
        self.webhook_deleted = 0
        # Photos by file id, as Telegram keeps them for re-sending without an upload.
        self.files: dict[str, SentPhoto] = {}
        self._messages: dict[int, list[SentMessage]] = defaultdict(list)
        self._chats: dict[int, _Chat] = {}
        self._admins: dict[int, set[int]] = {}
        self._owners: dict[int, int] = {}
        self._scripted: dict[int, deque[Failure]] = defaultdict(deque)
        self._standing: dict[int, Failure] = {}
        self._poll_failures: deque[Failure] = deque()
        self._updates: list[JSON] = []
        self._confirmed = 0
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._poller: asyncio.Future[None] | None = None
        self._overall: _Window | None = None
        self._chat_windows: dict[int, _Window] = {}
        self._group_windows: dict[int, _Window] = {}
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._closing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._methods: dict[str, Callable[[JSON], Awaitable[Any]]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setMyCommands": self._set_my_commands,
            "deleteWebhook": self._delete_webhook,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "editMessageText": self._edit_message_text,
            "answerCallbackQuery": self._answer_callback_query,
            "getChatAdministrators": self._get_chat_administrators,
            "getChatMember": self._get_chat_member,
        }

    # lifecycle

    async def start(self) -> None:
        """Listen on an ephemeral loopback port."""
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        """Answer any waiting long poll and stop listening."""
        self._closing = True
        async with self._changed:
            self._changed.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> TelegramApiFake:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def api_url(self) -> str:
        """Return the root to give the bot as TELEGRAM_API_URL."""
        return f"http://127.0.0.1:{self._port}"

    # what a test inspects

    def messages(self, chat_id: int) -> list[SentMessage]:
        """Return the messages in `chat_id`, oldest first, edits applied."""
        return list(self._messages.get(chat_id, ()))

    def too_many_requests_count(self) -> int:
        """Return how many calls got a 429."""
        return sum(1 for r in self.rejections if r.status == 429)

    async def wait_for_messages(
        self, chat_id: int, count: int, timeout: float = 10.0
    ) -> list[SentMessage]:
        """Wait until `chat_id` holds at least `count` messages and return them all."""
        await self.wait_until(lambda: len(self._messages.get(chat_id, ())) >= count, timeout)
        return self.messages(chat_id)

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until `predicate()` holds after some call; fail the test after `timeout`."""

        async def _wait() -> None:
            async with self._changed:
                await self._changed.wait_for(predicate)

        await asyncio.wait_for(_wait(), timeout)

    async def wait_until_fetched(self, timeout: float = 10.0) -> None:
        """Wait until the bot confirmed every queued update by polling past it."""
        await self.wait_until(
            lambda: not self._updates or self._confirmed > self._updates[-1]["update_id"],
            timeout,
        )

    # chats and admins

    def add_chat(
        self, chat_id: int, chat_type: str, *, title: str | None = None, is_forum: bool = False
    ) -> None:
        """Make a chat known with its type (private, group, supergroup or channel)."""
        self._chats[chat_id] = _Chat(chat_id, chat_type, title or f"Chat {chat_id}", is_forum)

    def set_admins(self, chat_id: int, *user_ids: int, owner: int | None = None) -> None:
        """Set a group's administrators (the owner counts as one)."""
        self._admins[chat_id] = set(user_ids)
        if owner is not None:
            self._owners[chat_id] = owner

    # scripted failures

    def fail_next(self, chat_id: int, failure: Failure, times: int = 1) -> None:
        """Answer the next `times` sends or edits to `chat_id` with `failure`."""
        self._scripted[chat_id].extend([failure] * times)

    def fail_always(self, chat_id: int, failure: Failure) -> None:
        """Answer every send to `chat_id` with `failure` (blocked, kicked, gone, migrated)."""
        self._standing[chat_id] = failure

    def fail_polls(self, failure: Failure, times: int = 1) -> None:
        """Answer the next `times` getUpdates calls with `failure`."""
        self._poll_failures.extend([failure] * times)

    # updates a test injects

    def private_message(self, user_id: int, text: str) -> int:
        """Queue a message from a user in their private chat with the bot."""
        if user_id not in self._chats:
            self.add_chat(user_id, "private", title=f"User {user_id}")
        return self._queue_message(user_id, text, sender=_user(user_id))

    def group_message(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        supergroup: bool = False,
        thread_id: int | None = None,
    ) -> int:
        """Queue a message from a user in a group, supergroup or forum topic."""
        self._ensure_group(chat_id, supergroup or thread_id is not None, thread_id is not None)
        return self._queue_message(chat_id, text, sender=_user(user_id), thread_id=thread_id)

    def anonymous_admin_message(self, chat_id: int, text: str, *, supergroup: bool = True) -> int:
        """Queue a message an administrator sent anonymously, on behalf of the group itself."""
        self._ensure_group(chat_id, supergroup, False)
        return self._queue_message(
            chat_id,
            text,
            sender=_user(GROUP_ANONYMOUS_BOT_ID, is_bot=True, username="GroupAnonymousBot"),
            sender_chat=self._chats[chat_id].to_json(),
        )

    def channel_post(self, chat_id: int, text: str) -> int:
        """Queue a post in a channel (only its administrators can post)."""
        if chat_id not in self._chats:
            self.add_chat(chat_id, "channel")
        chat = self._chats[chat_id].to_json()
        message = self._message_json(chat_id, text, sender=None, sender_chat=chat)
        return self._queue({"channel_post": message})

    def group_migrated(self, old_chat_id: int, new_chat_id: int) -> int:
        """Queue the service message an old group shows when it became a supergroup."""
        self._ensure_group(old_chat_id, False, False)
        self.add_chat(new_chat_id, "supergroup", title=self._chats[old_chat_id].title)
        owner = _user(self._owners.get(old_chat_id, 1))
        message = self._message_json(old_chat_id, None, sender=owner, sender_chat=None)
        message["migrate_to_chat_id"] = new_chat_id
        return self._queue({"message": message})

    def callback_query(self, chat_id: int, user_id: int, message_id: int, data: str) -> int:
        """Queue a press on an inline button under one of the bot's messages."""
        sent = next(m for m in self._messages[chat_id] if m.message_id == message_id)
        query: JSON = {
            "id": str(next(self._callback_ids)),
            "from": _user(user_id),
            "message": self._sent_json(sent),
            "chat_instance": f"ci{chat_id}",
            "data": data,
        }
        return self._queue({"callback_query": query})

    def _ensure_group(self, chat_id: int, supergroup: bool, forum: bool) -> None:
        known = self._chats.get(chat_id)
        if (
            known is None
            or (supergroup and known.type == "group")
            or (forum and not known.is_forum)
        ):
            self.add_chat(chat_id, "supergroup" if supergroup else "group", is_forum=forum)

    def _queue_message(
        self,
        chat_id: int,
        text: str,
        *,
        sender: JSON,
        thread_id: int | None = None,
        sender_chat: JSON | None = None,
    ) -> int:
        message = self._message_json(chat_id, text, sender=sender, sender_chat=sender_chat)
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        return self._queue({"message": message})

    def _message_json(
        self, chat_id: int, text: str | None, *, sender: JSON | None, sender_chat: JSON | None
    ) -> JSON:
        message: JSON = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self._chat(chat_id).to_json(),
        }
        if sender is not None:
            message["from"] = sender
        if sender_chat is not None:
            message["sender_chat"] = sender_chat
        if text is not None:
            message["text"] = text
            command = leading_command(text)
            if command:
                message["entities"] = [
                    {"offset": 0, "length": utf16_len(command), "type": "bot_command"}
                ]
        return message

    def _queue(self, payload: JSON) -> int:
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, **payload})
        self._notify_soon()
        return update_id

    def _notify_soon(self) -> None:
        # Injection helpers are plain functions, so waking waiters is scheduled, not awaited.
        task = asyncio.get_running_loop().create_task(self._wake())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _chat(self, chat_id: int) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            if chat_id > 0:
                chat = _Chat(chat_id, "private", f"User {chat_id}")
            elif str(chat_id).startswith("-100"):
                chat = _Chat(chat_id, "supergroup", f"Chat {chat_id}")
            else:
                chat = _Chat(chat_id, "group", f"Chat {chat_id}")
            self._chats[chat_id] = chat
        return chat

    def _sent_json(self, sent: SentMessage) -> JSON:
        data: JSON = {
            "message_id": sent.message_id,
            "from": _user(self.bot_id, is_bot=True, username=self.username),
            "chat": self._chat(sent.chat_id).to_json(),
            "date": int(time.time()),
        }
        if sent.photo is None:
            data["text"] = sent.plain
        else:
            data["photo"] = _photo_sizes(sent.photo)
            if sent.plain:
                data["caption"] = sent.plain
        if sent.thread_id is not None:
            data["message_thread_id"] = sent.thread_id
            data["is_topic_message"] = True
        if sent.reply_markup is not None:
            data["reply_markup"] = dict(sent.reply_markup)
        return data

    # the HTTP side

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        params = await _read_params(request)
        self.calls[method] += 1
        handler = self._methods.get(method)
        if handler is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found: method not found"},
                status=404,
            )
        try:
            result = await handler(params)
        except _Refused as refused:
            chat_id = _maybe_int(params.get("chat_id"))
            self.rejections.append(
                Rejection(
                    method,
                    chat_id,
                    refused.failure.status,
                    refused.failure.description,
                    self._clock(),
                )
            )
            await self._wake()
            return web.json_response(refused.failure.body(), status=refused.failure.status)
        await self._wake()
        return web.json_response({"ok": True, "result": result})

    async def _wake(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _get_me(self, params: JSON) -> Any:
        return {
            **_user(self.bot_id, is_bot=True, username=self.username),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _get_updates(self, params: JSON) -> Any:
        if self._poll_failures:
            raise _Refused(self._poll_failures.popleft())
        offset = _int(params.get("offset", 0))
        limit = _int(params.get("limit", 100)) or 100
        timeout = float(params.get("timeout", 0) or 0)
        if offset:
            self._confirmed = max(self._confirmed, offset - 1)
        # Telegram answers an older waiting poll with 409 when a newer one arrives.
        if self._poller is not None and not self._poller.done():
            self._poller.set_result(None)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._poller = mine
        await self._wake()

        def ready() -> bool:
            return mine.done() or self._closing or bool(self._pending(offset))

        async with self._changed:
            if not ready() and timeout > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait_for(ready), timeout)
        if mine.done() and self._poller is not mine:
            raise _Refused(conflict())
        return self._pending(offset)[:limit]

    def _pending(self, offset: int) -> list[JSON]:
        return [u for u in self._updates if u["update_id"] >= max(offset, self._confirmed + 1)]

    async def _set_my_commands(self, params: JSON) -> Any:
        self.commands = list(_json(params["commands"]))
        return True

    async def _delete_webhook(self, params: JSON) -> Any:
        self.webhook_deleted += 1
        return True

    async def _send_message(self, params: JSON) -> Any:
        chat_id = _chat_id(params)
        self._check_failures(chat_id)
        text = str(params.get("text", ""))
        parse_mode = params.get("parse_mode")
        plain = self._checked_text(text, parse_mode)
        self._check_limits(chat_id)
        thread = params.get("message_thread_id")
        markup = params.get("reply_markup")
        sent = SentMessage(
            message_id=next(self._message_ids),
            chat_id=chat_id,
            thread_id=_int(thread) if thread is not None else None,
            text=text,
            plain=plain,
            parse_mode=str(parse_mode) if parse_mode else None,
            reply_markup=_json(markup) if markup is not None else None,
            at=self._clock(),
        )
        self._messages[chat_id].append(sent)
        self.sent.append(sent)
        return self._sent_json(sent)

    async def _send_photo(self, params: JSON) -> Any:
        chat_id = _chat_id(params)
        self._check_failures(chat_id)
        photo = self._photo(params)
        caption = str(params.get("caption") or "")
        parse_mode = params.get("parse_mode")
        plain = ""
        if caption:
            try:
                plain = parse_html(caption) if parse_mode == "HTML" else caption
            except HtmlError as exc:
                raise _Refused(Failure(400, f"Bad Request: {exc}")) from None
            if utf16_len(plain) > MAX_CAPTION:
                raise _Refused(Failure(400, "Bad Request: message caption is too long"))
        self._check_limits(chat_id)
        thread = params.get("message_thread_id")
        markup = params.get("reply_markup")
        sent = SentMessage(
            message_id=next(self._message_ids),
            chat_id=chat_id,
            thread_id=_int(thread) if thread is not None else None,
            text=caption,
            plain=plain,
            parse_mode=str(parse_mode) if parse_mode else None,
            reply_markup=_json(markup) if markup is not None else None,
            at=self._clock(),
            photo=photo,
        )
        self.files.setdefault(photo.file_id, replace(photo, uploaded=False))
        self._messages[chat_id].append(sent)
        self.sent.append(sent)
        return self._sent_json(sent)

    def _photo(self, params: JSON) -> SentPhoto:
        """Return the photo a sendPhoto names: a file part (direct or `attach://`) or a file id."""
        value = params.get("photo")
        if isinstance(value, str) and value.startswith("attach://"):
            value = params.get(value.removeprefix("attach://"))
        if isinstance(value, str) and value:
            known = self.files.get(value)
            if known is None:
                raise _Refused(
                    Failure(400, "Bad Request: wrong file identifier/HTTP URL specified")
                )
            return known
        if not isinstance(value, Upload):
            raise _Refused(Failure(400, "Bad Request: there is no photo in the request"))
        if len(value.data) > MAX_PHOTO_BYTES:
            raise _Refused(Failure(400, "Bad Request: file is too big"))
        size = png_size(value.data)
        if size is None:
            raise _Refused(Failure(400, "Bad Request: IMAGE_PROCESS_FAILED"))
        width, height = size
        if width + height > MAX_PHOTO_SIDES or max(width, height) > MAX_PHOTO_RATIO * min(
            width, height
        ):
            raise _Refused(Failure(400, "Bad Request: PHOTO_INVALID_DIMENSIONS"))
        digest = hashlib.sha256(value.data).hexdigest()
        return SentPhoto(
            f"AgAC{digest[:40]}", f"AQAD{digest[:12]}", width, height, value.data, True
        )

    async def _edit_message_text(self, params: JSON) -> Any:
        chat_id = _chat_id(params)
        message_id = _int(params.get("message_id"))
        self._check_failures(chat_id)
        text = str(params.get("text", ""))
        parse_mode = params.get("parse_mode")
        plain = self._checked_text(text, parse_mode)
        history = self._messages[chat_id]
        for index, old in enumerate(history):
            if old.message_id == message_id:
                markup = params.get("reply_markup")
                if old.text == text and old.reply_markup == (_json(markup) if markup else None):
                    raise _Refused(
                        Failure(
                            400,
                            "Bad Request: message is not modified: specified new message content "
                            "and reply markup are exactly the same as a current content and reply "
                            "markup of the message",
                        )
                    )
                edited = replace(
                    old,
                    text=text,
                    plain=plain,
                    parse_mode=str(parse_mode) if parse_mode else None,
                    reply_markup=_json(markup) if markup is not None else None,
                    edits=old.edits + 1,
                )
                history[index] = edited
                return self._sent_json(edited)
        raise _Refused(Failure(400, "Bad Request: message to edit not found"))

    async def _answer_callback_query(self, params: JSON) -> Any:
        text = params.get("text")
        self.callback_answers.append(
            CallbackAnswer(
                str(params["callback_query_id"]),
                str(text) if text is not None else None,
                _bool(params.get("show_alert", False)),
            )
        )
        return True

    async def _get_chat_administrators(self, params: JSON) -> Any:
        chat_id = _int(params.get("chat_id"))
        if chat_id in self._standing:
            raise _Refused(self._standing[chat_id])
        members = []
        owner = self._owners.get(chat_id)
        if owner is not None:
            members.append(self._member_json(chat_id, owner))
        for user_id in sorted(self._admins.get(chat_id, ())):
            if user_id != owner:
                members.append(self._member_json(chat_id, user_id))
        return members

    async def _get_chat_member(self, params: JSON) -> Any:
        chat_id = _int(params.get("chat_id"))
        if chat_id in self._standing:
            raise _Refused(self._standing[chat_id])
        return self._member_json(chat_id, _int(params.get("user_id")))

    def _member_json(self, chat_id: int, user_id: int) -> JSON:
        user = _user(user_id)
        if self._owners.get(chat_id) == user_id:
            return {"status": "creator", "user": user, "is_anonymous": False}
        if user_id in self._admins.get(chat_id, ()):
            rights = (
                "can_manage_chat",
                "can_delete_messages",
                "can_manage_video_chats",
                "can_restrict_members",
                "can_change_info",
                "can_invite_users",
                "can_post_stories",
                "can_edit_stories",
                "can_delete_stories",
                "can_pin_messages",
            )
            return {
                "status": "administrator",
                "user": user,
                "can_be_edited": False,
                "is_anonymous": False,
                "can_promote_members": False,
                **dict.fromkeys(rights, True),
            }
        return {"status": "member", "user": user}

    def _check_failures(self, chat_id: int) -> None:
        standing = self._standing.get(chat_id)
        if standing is not None:
            raise _Refused(standing)
        scripted = self._scripted.get(chat_id)
        if scripted:
            raise _Refused(scripted.popleft())

    def _checked_text(self, text: str, parse_mode: Any) -> str:
        try:
            plain = parse_html(text) if parse_mode == "HTML" else text
        except HtmlError as exc:
            raise _Refused(Failure(400, f"Bad Request: {exc}")) from None
        if not plain.strip():
            raise _Refused(Failure(400, "Bad Request: message text is empty"))
        if utf16_len(plain) > MAX_TEXT:
            raise _Refused(Failure(400, "Bad Request: message is too long"))
        return plain

    def _check_limits(self, chat_id: int) -> None:
        if self.limits is None:
            return
        now = self._clock()
        if self._overall is None:
            self._overall = _Window(self.limits.overall)
        windows = [self._overall, self._window(self._chat_windows, chat_id, self.limits.per_chat)]
        if chat_id < 0:
            windows.append(self._window(self._group_windows, chat_id, self.limits.per_group))
        wait = max(w.wait(now) for w in windows)
        if wait > 0:
            raise _Refused(too_many_requests(max(1, math.ceil(wait))))
        for window in windows:
            window.add(now)

    @staticmethod
    def _window(windows: dict[int, _Window], chat_id: int, rate: Rate) -> _Window:
        window = windows.get(chat_id)
        if window is None:
            window = windows[chat_id] = _Window(rate)
        return window


class _Refused(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.description)
        self.failure = failure


async def _read_params(request: web.Request) -> JSON:
    """Merge query and body parameters, whatever encoding the client chose."""
    params: JSON = dict(request.query)
    if request.content_type == "application/json":
        body = await request.json()
        if isinstance(body, dict):
            params.update(body)
    elif request.can_read_body:
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, str):
                params[key] = value
            elif isinstance(value, web.FileField):
                params[key] = Upload(value.filename, value.content_type, value.file.read())
    return params


def png_size(data: bytes) -> tuple[int, int] | None:
    """Return a PNG's width and height from its header, or None when `data` is no PNG."""
    if len(data) < 24 or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _photo_sizes(photo: SentPhoto) -> list[JSON]:
    """Return the PhotoSize list Telegram answers with: smaller copies, then the photo itself."""
    widths = [w for w in PHOTO_WIDTHS if w < photo.width] + [photo.width]
    sizes = []
    for index, width in enumerate(widths):
        scale = width / photo.width
        sizes.append(
            {
                "file_id": photo.file_id if scale == 1.0 else f"{photo.file_id}-{width}",
                "file_unique_id": f"{photo.file_unique_id}{index}",
                "width": width,
                "height": round(photo.height * scale),
                "file_size": round(len(photo.data) * scale * scale),
            }
        )
    return sizes


def _json(value: Any) -> Any:
    """Decode a parameter PTB sent as a JSON string in form data; pass native JSON through."""
    return json.loads(value) if isinstance(value, str) else value


def _int(value: Any) -> int:
    return int(_json(value)) if isinstance(value, str) else int(value)


def _chat_id(params: JSON) -> int:
    try:
        return _int(params.get("chat_id"))
    except (TypeError, ValueError):
        raise _Refused(chat_not_found()) from None


def _maybe_int(value: Any) -> int | None:
    try:
        return _int(value)
    except (TypeError, ValueError):
        return None


def _bool(value: Any) -> bool:
    return bool(_json(value)) if isinstance(value, str) else bool(value)
