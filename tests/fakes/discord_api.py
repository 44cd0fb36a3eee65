"""A local Discord: REST v10 and the gateway websocket on 127.0.0.1, driven by the real discord.py.

The fake keeps what a test needs to look at (synced commands, posted messages, interaction replies)
and lets a test script what Discord would do: rate limits, refusals, outages, dropped gateways, and
application-command interactions from members with or without Manage Channels, in a guild or a DM.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import secrets
import time
import zlib
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

JSON = dict[str, Any]

DISCORD_EPOCH_MS = 1_420_070_400_000
MANAGE_CHANNELS = 1 << 4
# What a plain member holds in a channel: view, send, read history, use application commands.
MEMBER_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 16) | (1 << 31)
MODERATOR_PERMISSIONS = MEMBER_PERMISSIONS | MANAGE_CHANNELS
EPHEMERAL = 1 << 6

TEXT_CHANNEL = 0
DM_CHANNEL = 1
VOICE_CHANNEL = 2
ANNOUNCEMENT_CHANNEL = 5

# Discord's documented message and embed limits, enforced so an oversize send fails like the real one.
CONTENT_LIMIT = 2000
EMBEDS_PER_MESSAGE = 10
EMBED_TOTAL = 6000
EMBED_FIELDS = 25
EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
FIELD_NAME = 256
FIELD_VALUE = 1024
FOOTER_TEXT = 2048

_ids = itertools.count(1)


def snowflake() -> int:
    """Return a fresh snowflake stamped with the current time, as Discord mints them."""
    return ((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | (next(_ids) & 0x3FFFFF)


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    # discord.py decodes a body only when Content-Type is exactly application/json (no charset).
    return web.Response(
        status=status,
        body=json.dumps(data).encode(),
        content_type="application/json",
        headers=headers,
    )


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"code": code, "message": message}, status)


@dataclass(frozen=True, slots=True)
class Failure:
    """One scripted answer to a channel-message POST instead of success."""

    status: int
    code: int = 0
    message: str = ""
    retry_after: float = 0.0
    is_global: bool = False
    # Discord's 429s carry `Via`; Cloudflare's bans do not, and discord.py tells them apart by it.
    via: bool = True


@dataclass(frozen=True, slots=True)
class Attempt:
    """One POST to a channel's messages route and the status it got."""

    channel_id: int
    status: int
    at: float


@dataclass(frozen=True, slots=True)
class FileUpload:
    """A file sent with a message as a multipart `files[n]` part."""

    filename: str
    content_type: str | None
    data: bytes


@dataclass(frozen=True, slots=True)
class PostedMessage:
    """A message the bot created in a channel."""

    id: int
    channel_id: int
    content: str
    embeds: tuple[JSON, ...]
    nonce: str | None
    at: float
    files: tuple[FileUpload, ...] = ()


@dataclass(slots=True)
class Reply:
    """One user-visible message produced in answer to an interaction."""

    content: str
    embeds: list[JSON]
    ephemeral: bool
    loading: bool = False
    files: list[FileUpload] = field(default_factory=list)

    @property
    def text(self) -> str:
        """Return the content and every embed's text, for assertions that do not care where."""
        parts = [self.content]
        for embed in self.embeds:
            parts.append(embed.get("title", ""))
            parts.append(embed.get("description", ""))
            for item in embed.get("fields", []):
                parts.extend((item["name"], item["value"]))
        return "\n".join(p for p in parts if p)


@dataclass(slots=True)
class FakeInteraction:
    """An interaction the fake dispatched, and everything the bot answered to it."""

    id: int
    token: str
    type: int
    callbacks: list[JSON] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    choices: list[JSON] | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def deferred(self) -> bool:
        return any(cb["type"] == 5 for cb in self.callbacks)

    def visible(self) -> list[Reply]:
        """Return the replies a user sees now, without 'thinking…' placeholders."""
        return [r for r in self.replies if not r.loading]

    async def wait_replies(self, count: int = 1, timeout: float = 5.0) -> list[Reply]:
        """Wait until at least `count` finished replies exist, then return them."""
        async with asyncio.timeout(timeout):
            while len(self.visible()) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.visible()

    async def wait_callback(self, callback_type: int, timeout: float = 5.0) -> JSON:
        """Wait for the bot's callback of `callback_type` (4 message, 5 deferred, 8 choices)."""
        async with asyncio.timeout(timeout):
            while True:
                for cb in self.callbacks:
                    if cb["type"] == callback_type:
                        return cb
                self.changed.clear()
                await self.changed.wait()

    async def wait_choices(self, timeout: float = 5.0) -> list[JSON]:
        """Wait for the autocomplete answer and return its choices."""
        await self.wait_callback(8, timeout)
        assert self.choices is not None
        return self.choices

    def _touch(self) -> None:
        self.changed.set()


@dataclass(slots=True)
class FakeChannel:
    """A channel the fake knows, in a guild or a DM."""

    id: int
    name: str
    type: int
    guild_id: int | None = None
    recipient_id: int | None = None

    def payload(self) -> JSON:
        data: JSON = {"id": str(self.id), "type": self.type, "name": self.name, "flags": 0}
        if self.guild_id is not None:
            data.update(
                guild_id=str(self.guild_id),
                position=0,
                permission_overwrites=[],
                nsfw=False,
                parent_id=None,
                topic=None,
                last_message_id=None,
                rate_limit_per_user=0,
            )
            if self.type == VOICE_CHANNEL:
                data.update(bitrate=64000, user_limit=0)
        else:
            data.update(recipients=[_user_payload(self.recipient_id or 0, "member")])
        return data


@dataclass(slots=True)
class FakeGuild:
    """A guild with its channels, sent in GUILD_CREATE."""

    id: int
    name: str
    owner_id: int
    channels: dict[int, FakeChannel] = field(default_factory=dict)

    def payload(self, bot: JSON) -> JSON:
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "owner_id": str(self.owner_id),
            "unavailable": False,
            "member_count": 2,
            "large": False,
            "features": [],
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "afk_timeout": 300,
            "system_channel_flags": 0,
            "joined_at": _now_iso(),
            "roles": [
                {
                    "id": str(self.id),
                    "name": "@everyone",
                    "permissions": str(MEMBER_PERMISSIONS),
                    "position": 0,
                    "colors": {"primary_color": 0},
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                    "flags": 0,
                }
            ],
            "emojis": [],
            "stickers": [],
            "channels": [c.payload() for c in self.channels.values()],
            "threads": [],
            "members": [_member_payload(bot, MEMBER_PERMISSIONS)],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }


@dataclass(slots=True)
class _Session:
    id: str
    seq: int = 0
    log: list[tuple[int, str]] = field(default_factory=list)
    socket: _Socket | None = None


class _Socket:
    """One gateway connection: its websocket and, when asked for, its zlib stream."""

    def __init__(self, ws: web.WebSocketResponse, compressed: bool) -> None:
        self.ws = ws
        # zlib-stream: one compressor for the whole connection, every message ended by a sync flush.
        self._zlib = zlib.compressobj() if compressed else None

    async def send(self, text: str) -> None:
        if self._zlib is None:
            await self.ws.send_str(text)
            return
        data = self._zlib.compress(text.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
        await self.ws.send_bytes(data)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _user_payload(user_id: int, name: str, *, bot: bool = False) -> JSON:
    return {
        "id": str(user_id),
        "username": name,
        "discriminator": "0",
        "global_name": name,
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
    }


def _member_payload(user: JSON, permissions: int) -> JSON:
    return {
        "user": user,
        "roles": [],
        "nick": None,
        "avatar": None,
        "joined_at": _now_iso(),
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "permissions": str(permissions),
    }


def _embed_problem(embed: JSON) -> str | None:
    title = str(embed.get("title", ""))
    description = str(embed.get("description", ""))
    fields = embed.get("fields", [])
    footer = str(embed.get("footer", {}).get("text", ""))
    if len(title) > EMBED_TITLE:
        return "embed title longer than 256"
    if len(description) > EMBED_DESCRIPTION:
        return "embed description longer than 4096"
    if len(fields) > EMBED_FIELDS:
        return "more than 25 embed fields"
    if len(footer) > FOOTER_TEXT:
        return "embed footer longer than 2048"
    for item in fields:
        name, value = str(item.get("name", "")), str(item.get("value", ""))
        if not name.strip() or not value.strip():
            return "embed field name and value must not be empty"
        if len(name) > FIELD_NAME or len(value) > FIELD_VALUE:
            return "embed field name over 256 or value over 1024"
    if not (title or description or fields):
        return "empty embed"
    return None


def embed_size(embed: JSON) -> int:
    """Return the characters Discord counts toward the 6,000 total of one embed."""
    total = len(str(embed.get("title", ""))) + len(str(embed.get("description", "")))
    total += len(str(embed.get("footer", {}).get("text", "")))
    total += len(str(embed.get("author", {}).get("name", "")))
    for item in embed.get("fields", []):
        total += len(str(item.get("name", ""))) + len(str(item.get("value", "")))
    return total


def _attachment_payload(channel_id: int, upload: FileUpload) -> JSON:
    attachment_id = snowflake()
    url = f"https://cdn.discordapp.com/attachments/{channel_id}/{attachment_id}/{upload.filename}"
    payload: JSON = {
        "id": str(attachment_id),
        "filename": upload.filename,
        "size": len(upload.data),
        "url": url,
        "proxy_url": url.replace("cdn.discordapp.com", "media.discordapp.net"),
    }
    if upload.content_type:
        payload["content_type"] = upload.content_type
    if upload.data.startswith(b"\x89PNG\r\n\x1a\n") and len(upload.data) >= 24:
        payload["width"] = int.from_bytes(upload.data[16:20], "big")
        payload["height"] = int.from_bytes(upload.data[20:24], "big")
    return payload


def message_problem(payload: JSON) -> str | None:
    """Return why Discord would reject this message body, or None when it is acceptable."""
    content = payload.get("content") or ""
    embeds = payload.get("embeds") or []
    if not isinstance(content, str) or len(content) > CONTENT_LIMIT:
        return "content longer than 2000"
    if not content and not embeds:
        return "empty message"
    if len(embeds) > EMBEDS_PER_MESSAGE:
        return "more than 10 embeds"
    for embed in embeds:
        problem = _embed_problem(embed)
        if problem:
            return problem
    if sum(embed_size(e) for e in embeds) > EMBED_TOTAL:
        return "embeds longer than 6000 in total"
    return None


class FakeDiscord:
    """Discord's REST v10 and gateway on one ephemeral loopback port."""

    def __init__(
        self,
        *,
        token: str = "fake-bot-token",
        heartbeat_interval_ms: int = 41_250,
    ) -> None:
        self.token = token
        self.application_id = snowflake()
        self.bot_user = _user_payload(self.application_id, "Risk-On Radar", bot=True)
        self.owner = _user_payload(snowflake(), "owner")
        self.heartbeat_interval_ms = heartbeat_interval_ms

        self.guilds: dict[int, FakeGuild] = {}
        self.channels: dict[int, FakeChannel] = {}
        self.deleted_channels: set[int] = set()
        self.forbidden_channels: set[int] = set()
        self.failures: dict[int, deque[Failure]] = {}

        self.messages: list[PostedMessage] = []
        self.attempts: list[Attempt] = []
        self.global_commands: list[JSON] = []
        self.guild_commands: dict[int, list[JSON]] = {}
        self.command_syncs: list[int | None] = []
        self.interactions: dict[int, FakeInteraction] = {}
        self.requests: list[tuple[str, str]] = []

        self.gateway_open = True
        # While True every REST call answers 503, as during a Discord API outage.
        self.rest_down = False
        self.identifies = 0
        self.resumes = 0
        self.heartbeats = 0
        self.intents: int | None = None
        self.compression: str | None = None
        self._sessions: dict[str, _Session] = {}
        self._session: _Session | None = None
        self._connected = asyncio.Event()
        self._message_posted = asyncio.Event()
        self._sockets: set[web.WebSocketResponse] = set()

        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on 127.0.0.1 at an ephemeral port."""
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/gateway", self._gateway)
        api = "/api/v10"
        routes = [
            ("GET", "/gateway", self._get_gateway),
            ("GET", "/gateway/bot", self._get_gateway_bot),
            ("GET", "/users/@me", self._get_me),
            ("GET", "/oauth2/applications/@me", self._get_application),
            ("GET", "/applications/@me", self._get_application),
            ("PUT", "/applications/{app}/commands", self._put_commands),
            ("PUT", "/applications/{app}/guilds/{guild}/commands", self._put_commands),
            ("POST", "/channels/{channel}/messages", self._post_message),
            ("POST", "/interactions/{id}/{token}/callback", self._callback),
            ("POST", "/webhooks/{app}/{token}", self._followup),
            ("GET", "/webhooks/{app}/{token}/messages/@original", self._get_original),
            ("PATCH", "/webhooks/{app}/{token}/messages/@original", self._edit_original),
            ("DELETE", "/webhooks/{app}/{token}/messages/@original", self._delete_original),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, api + path, handler)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        """Close every gateway connection and stop listening."""
        for ws in list(self._sockets):
            await ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # ---- world building --------------------------------------------------------------------

    def add_guild(
        self, name: str = "Radar Fans", channels: Iterable[str] = ("alerts",)
    ) -> FakeGuild:
        """Create a guild with text channels of these names; the bot is a member."""
        guild = FakeGuild(snowflake(), name, int(self.owner["id"]))
        self.guilds[guild.id] = guild
        for channel_name in channels:
            self.add_channel(guild, channel_name)
        return guild

    def add_channel(
        self, guild: FakeGuild, name: str, channel_type: int = TEXT_CHANNEL
    ) -> FakeChannel:
        """Add a channel to `guild`."""
        channel = FakeChannel(snowflake(), name, channel_type, guild_id=guild.id)
        guild.channels[channel.id] = channel
        self.channels[channel.id] = channel
        return channel

    def open_dm(self, user_id: int) -> FakeChannel:
        """Return the DM channel between the bot and `user_id`, creating it."""
        for channel in self.channels.values():
            if channel.type == DM_CHANNEL and channel.recipient_id == user_id:
                return channel
        channel = FakeChannel(snowflake(), "", DM_CHANNEL, recipient_id=user_id)
        self.channels[channel.id] = channel
        return channel

    def channel_by_name(self, guild: FakeGuild, name: str) -> FakeChannel:
        """Return `guild`'s channel called `name`."""
        return next(c for c in guild.channels.values() if c.name == name)

    # ---- scripting REST --------------------------------------------------------------------

    def fail_next(self, channel_id: int, *failures: Failure) -> None:
        """Answer the next POSTs to `channel_id`'s messages with these failures, in order."""
        self.failures.setdefault(channel_id, deque()).extend(failures)

    def rate_limit_next(
        self, channel_id: int, retry_after: float, *, is_global: bool = False
    ) -> None:
        """Answer the next POST to `channel_id` with a 429 asking to wait `retry_after` seconds."""
        self.fail_next(
            channel_id,
            Failure(429, 20028, "You are being rate limited.", retry_after, is_global),
        )

    def delete_channel(self, channel_id: int) -> None:
        """Make `channel_id` answer 404 Unknown Channel (10003) from now on."""
        self.deleted_channels.add(channel_id)

    def forbid_channel(self, channel_id: int) -> None:
        """Make `channel_id` answer 403 Missing Access (50001) from now on."""
        self.forbidden_channels.add(channel_id)

    def messages_in(self, channel_id: int) -> list[PostedMessage]:
        """Return the messages the bot created in `channel_id`, oldest first."""
        return [m for m in self.messages if m.channel_id == channel_id]

    async def wait_messages(
        self, channel_id: int, count: int = 1, timeout: float = 5.0
    ) -> list[PostedMessage]:
        """Wait until `channel_id` holds at least `count` bot messages, then return them."""
        async with asyncio.timeout(timeout):
            while len(self.messages_in(channel_id)) < count:
                self._message_posted.clear()
                await self._message_posted.wait()
        return self.messages_in(channel_id)

    # ---- scripting the gateway -------------------------------------------------------------

    async def wait_connected(self, timeout: float = 10.0) -> None:
        """Wait until a client has identified (or resumed) and holds a live gateway session."""
        async with asyncio.timeout(timeout):
            await self._connected.wait()

    async def drop_gateway(self, code: int = 4000) -> None:
        """Close the live gateway connection with `code`, keeping its session resumable."""
        self._connected.clear()
        session = self._session
        if session is not None and session.socket is not None:
            socket, session.socket = session.socket, None
            await socket.ws.close(code=code)

    async def dispatch(self, event: str, data: JSON) -> None:
        """Send a dispatch (op 0) on the live session, or queue it for a RESUME."""
        session = self._session
        if session is None:
            raise RuntimeError("no client has identified on the gateway yet")
        session.seq += 1
        text = json.dumps({"op": 0, "t": event, "s": session.seq, "d": data})
        session.log.append((session.seq, text))
        if session.socket is not None:
            await session.socket.send(text)

    def member(self, user_id: int, *, manage_channels: bool) -> JSON:
        """Return a member payload for `user_id`, a moderator when `manage_channels`."""
        permissions = MODERATOR_PERMISSIONS if manage_channels else MEMBER_PERMISSIONS
        return _member_payload(_user_payload(user_id, f"user{user_id}"), permissions)

    async def slash_command(
        self,
        name: str,
        options: Sequence[JSON] = (),
        *,
        channel: FakeChannel,
        user_id: int | None = None,
        manage_channels: bool = False,
        resolved: JSON | None = None,
        guild_scoped: bool | None = None,
        autocomplete: bool = False,
    ) -> FakeInteraction:
        """Dispatch INTERACTION_CREATE for `/name` in `channel` and return its record.

        In a guild channel the member holds Manage Channels when `manage_channels`; in a DM the
        user is the channel's recipient. `options` are raw option payloads (see `option`).
        """
        user_id = user_id if user_id is not None else (channel.recipient_id or snowflake())
        interaction_type = 4 if autocomplete else 2
        interaction = FakeInteraction(snowflake(), secrets.token_urlsafe(24), interaction_type)
        self.interactions[interaction.id] = interaction
        data: JSON = {"id": str(snowflake()), "name": name, "type": 1, "options": list(options)}
        if resolved:
            data["resolved"] = resolved
        payload: JSON = {
            "id": str(interaction.id),
            "application_id": str(self.application_id),
            "type": interaction_type,
            "data": data,
            "channel_id": str(channel.id),
            "channel": channel.payload(),
            "token": interaction.token,
            "version": 1,
            "locale": "en-US",
            "app_permissions": str(MEMBER_PERMISSIONS),
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "authorizing_integration_owners": {},
        }
        if channel.guild_id is not None:
            payload["guild_id"] = str(channel.guild_id)
            payload["guild"] = {"id": str(channel.guild_id), "locale": "en-US", "features": []}
            payload["guild_locale"] = "en-US"
            payload["member"] = self.member(user_id, manage_channels=manage_channels)
            payload["context"] = 0
            scoped = (
                guild_scoped
                if guild_scoped is not None
                else channel.guild_id in self.guild_commands
            )
            if scoped:
                data["guild_id"] = str(channel.guild_id)
        else:
            payload["user"] = _user_payload(user_id, f"user{user_id}")
            payload["context"] = 1
        await self.dispatch("INTERACTION_CREATE", payload)
        return interaction

    async def autocomplete(
        self,
        name: str,
        options: Sequence[JSON],
        *,
        channel: FakeChannel,
        user_id: int | None = None,
    ) -> FakeInteraction:
        """Dispatch an autocomplete interaction; mark the option being typed with `focused`."""
        return await self.slash_command(
            name, options, channel=channel, user_id=user_id, autocomplete=True
        )

    def resolved_channel(self, channel: FakeChannel, *, manage_channels: bool) -> JSON:
        """Return `resolved` data for a channel option, with the member's permissions there."""
        permissions = MODERATOR_PERMISSIONS if manage_channels else MEMBER_PERMISSIONS
        data = channel.payload()
        data["permissions"] = str(permissions)
        return {"channels": {str(channel.id): data}}

    # ---- REST handlers ---------------------------------------------------------------------

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if self.rest_down:
            return _error(503, 0, "503: Service Unavailable")
        public = request.path == "/gateway" or "/webhooks/" in request.path
        public = public or "/interactions/" in request.path
        if not public and request.headers.get("Authorization") != f"Bot {self.token}":
            return _error(401, 0, "401: Unauthorized")
        response: web.StreamResponse = await handler(request)
        return response

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return _json({"url": self.gateway_url})

    async def _get_gateway_bot(self, request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return _json({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})

    async def _get_me(self, request: web.Request) -> web.Response:
        return _json({**self.bot_user, "verified": True, "mfa_enabled": False, "flags": 0})

    async def _get_application(self, request: web.Request) -> web.Response:
        return _json(
            {
                "id": str(self.application_id),
                "name": "Risk-On Radar",
                "icon": None,
                "description": "",
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": self.owner,
                "verify_key": "0" * 64,
                "flags": 0,
                "team": None,
                "bot": self.bot_user,
            }
        )

    async def _put_commands(self, request: web.Request) -> web.Response:
        if request.match_info["app"] != str(self.application_id):
            return _error(403, 50001, "Missing Access")
        body = await request.json()
        guild = request.match_info.get("guild")
        stored = []
        for command in body:
            permissions = command.get("default_member_permissions")
            stored.append(
                {
                    **command,
                    # Discord answers permission bit sets as strings, whatever it was sent.
                    "default_member_permissions": None if permissions is None else str(permissions),
                    "id": str(snowflake()),
                    "application_id": str(self.application_id),
                    "version": str(snowflake()),
                    "type": command.get("type", 1),
                    **({"guild_id": guild} if guild else {}),
                }
            )
        if guild is None:
            self.global_commands = stored
            self.command_syncs.append(None)
        else:
            self.guild_commands[int(guild)] = stored
            self.command_syncs.append(int(guild))
        return _json(stored)

    def _message_payload(self, channel_id: int, body: JSON, message_id: int | None = None) -> JSON:
        attachments = [_attachment_payload(channel_id, f) for f in body.get("_files") or ()]
        urls = {f"attachment://{a['filename']}": a for a in attachments}
        embeds = []
        for sent in body.get("embeds") or []:
            image = (sent.get("image") or {}).get("url")
            if image in urls:
                # Discord answers with the CDN address of the file the embed shows.
                shown = urls[image]
                sent = {**sent, "image": {"url": shown["url"], "proxy_url": shown["proxy_url"]}}  # noqa: PLW2901
            embeds.append(sent)
        return {
            "id": str(message_id or snowflake()),
            "channel_id": str(channel_id),
            "type": 0,
            "content": body.get("content") or "",
            "embeds": embeds,
            "author": self.bot_user,
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments,
            "components": [],
            "pinned": False,
            "flags": int(body.get("flags") or 0),
            "nonce": body.get("nonce"),
        }

    async def _body(self, request: web.Request) -> JSON:
        """Return the JSON body; files of a multipart body come under `_files`, in order."""
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            payload = form.get("payload_json")
            body: JSON = json.loads(str(payload)) if payload is not None else {}
            files = [
                FileUpload(value.filename, value.content_type, value.file.read())
                for key, value in form.items()
                if key.startswith("files[") and isinstance(value, web.FileField)
            ]
            if files:
                body["_files"] = files
            return body
        if not request.can_read_body:
            return {}
        data: JSON = await request.json()
        return data

    async def _post_message(self, request: web.Request) -> web.Response:
        channel_id = int(request.match_info["channel"])
        response = await self._answer_post(channel_id, request)
        self.attempts.append(Attempt(channel_id, response.status, time.monotonic()))
        return response

    async def _answer_post(self, channel_id: int, request: web.Request) -> web.Response:
        queue = self.failures.get(channel_id)
        if queue:
            return self._failure(queue.popleft())
        if channel_id in self.deleted_channels or channel_id not in self.channels:
            return _error(404, 10003, "Unknown Channel")
        if channel_id in self.forbidden_channels:
            return _error(403, 50001, "Missing Access")
        body = await self._body(request)
        problem = message_problem(body)
        if problem:
            return _json({"code": 50035, "message": f"Invalid Form Body: {problem}"}, 400)
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            for earlier in self.messages_in(channel_id):
                if earlier.nonce == nonce:
                    return _json(self._message_payload(channel_id, body, earlier.id))
        message = PostedMessage(
            snowflake(),
            channel_id,
            body.get("content") or "",
            tuple(body.get("embeds") or ()),
            nonce,
            time.monotonic(),
            tuple(body.get("_files") or ()),
        )
        self.messages.append(message)
        self._message_posted.set()
        return _json(self._message_payload(channel_id, body, message.id))

    def _failure(self, failure: Failure) -> web.Response:
        if failure.status == 429:
            retry = failure.retry_after
            body = {"message": failure.message, "retry_after": retry, "global": failure.is_global}
            headers = {
                "Retry-After": str(max(1, math.ceil(retry))),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset-After": str(retry),
                "X-RateLimit-Bucket": "fake-channel-bucket",
                "X-RateLimit-Scope": "global" if failure.is_global else "user",
            }
            if failure.via:
                # Without Via discord.py takes a 429 for a Cloudflare ban and gives up.
                headers["Via"] = "1.1 google"
            if failure.is_global:
                headers["X-RateLimit-Global"] = "true"
            return _json(body, 429, headers)
        if failure.code:
            return _error(failure.status, failure.code, failure.message)
        return web.Response(status=failure.status, text=failure.message or "upstream error")

    def _interaction(self, token: str) -> FakeInteraction | None:
        return next((i for i in self.interactions.values() if i.token == token), None)

    async def _callback(self, request: web.Request) -> web.Response:
        interaction = self.interactions.get(int(request.match_info["id"]))
        if interaction is None or interaction.token != request.match_info["token"]:
            return _error(404, 10062, "Unknown interaction")
        if interaction.callbacks:
            return _error(400, 40060, "Interaction has already been acknowledged.")
        body = await self._body(request)
        kind = body.get("type")
        data: JSON = body.get("data") or {}
        ephemeral = bool(int(data.get("flags") or 0) & EPHEMERAL)
        if kind == 4:
            problem = message_problem(data)
            if problem:
                return _json({"code": 50035, "message": f"Invalid Form Body: {problem}"}, 400)
            interaction.replies.append(
                Reply(
                    data.get("content") or "",
                    list(data.get("embeds") or []),
                    ephemeral,
                    files=list(body.get("_files") or []),
                )
            )
        elif kind == 5:
            interaction.replies.append(Reply("", [], ephemeral, loading=True))
        elif kind == 8:
            choices = list(data.get("choices") or [])
            if len(choices) > 25:
                return _json({"code": 50035, "message": "Invalid Form Body: over 25 choices"}, 400)
            interaction.choices = choices
        else:
            return _json({"code": 50035, "message": f"unsupported callback type {kind}"}, 400)
        interaction.callbacks.append(body)
        interaction._touch()
        message = self._message_payload(0, {**data, "_files": body.get("_files") or []})
        message["flags"] = EPHEMERAL if ephemeral else 0
        return _json(
            {
                "interaction": {
                    "id": str(interaction.id),
                    "type": interaction.type,
                    "response_message_id": message["id"],
                    "response_message_loading": kind == 5,
                    "response_message_ephemeral": ephemeral,
                },
                "resource": {"type": kind, "message": message} if kind in (4, 5) else None,
            }
        )

    async def _followup(self, request: web.Request) -> web.Response:
        interaction = self._interaction(request.match_info["token"])
        if interaction is None:
            return _error(404, 10015, "Unknown Webhook")
        body = await self._body(request)
        problem = message_problem(body)
        if problem:
            return _json({"code": 50035, "message": f"Invalid Form Body: {problem}"}, 400)
        ephemeral = bool(int(body.get("flags") or 0) & EPHEMERAL)
        content, embeds = body.get("content") or "", list(body.get("embeds") or [])
        files = list(body.get("_files") or [])
        placeholder = next((r for r in interaction.replies if r.loading), None)
        if placeholder is not None:
            # The first followup to a deferred reply replaces its "thinking…" message.
            placeholder.content, placeholder.embeds, placeholder.loading = content, embeds, False
            placeholder.files = files
        else:
            interaction.replies.append(Reply(content, embeds, ephemeral, files=files))
        interaction._touch()
        return _json(self._message_payload(0, body))

    async def _get_original(self, request: web.Request) -> web.Response:
        interaction = self._interaction(request.match_info["token"])
        if interaction is None or not interaction.replies:
            return _error(404, 10008, "Unknown Message")
        first = interaction.replies[0]
        return _json(self._message_payload(0, {"content": first.content, "embeds": first.embeds}))

    async def _edit_original(self, request: web.Request) -> web.Response:
        interaction = self._interaction(request.match_info["token"])
        if interaction is None or not interaction.replies:
            return _error(404, 10008, "Unknown Message")
        body = await self._body(request)
        original = interaction.replies[0]
        content = body.get("content", original.content) or ""
        embeds = list(body.get("embeds", original.embeds) or [])
        problem = message_problem({"content": content, "embeds": embeds})
        if problem:
            return _json({"code": 50035, "message": f"Invalid Form Body: {problem}"}, 400)
        original.content, original.embeds, original.loading = content, embeds, False
        if "_files" in body:
            original.files = list(body["_files"])
        interaction._touch()
        return _json(
            self._message_payload(
                0, {"content": content, "embeds": embeds, "_files": original.files}
            )
        )

    async def _delete_original(self, request: web.Request) -> web.Response:
        interaction = self._interaction(request.match_info["token"])
        if interaction is None or not interaction.replies:
            return _error(404, 10008, "Unknown Message")
        interaction.replies.pop(0)
        interaction._touch()
        return web.Response(status=204)

    # ---- gateway ---------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        if not self.gateway_open:
            return web.Response(status=503, text="gateway unavailable")
        compress = request.query.get("compress")
        if compress not in (None, "zlib-stream"):
            return web.Response(status=400, text=f"this fake speaks zlib-stream, not {compress}")
        self.compression = compress
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.add(ws)
        socket = _Socket(ws, compress == "zlib-stream")
        hello = {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None}
        await socket.send(json.dumps(hello))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    break
                await self._on_gateway_message(socket, json.loads(msg.data))
        finally:
            self._sockets.discard(ws)
            session = self._session
            if session is not None and session.socket is socket:
                session.socket = None
                self._connected.clear()
        return ws

    async def _on_gateway_message(self, socket: _Socket, msg: JSON) -> None:
        op, data = msg.get("op"), msg.get("d")
        if op == 1:
            self.heartbeats += 1
            await socket.send(json.dumps({"op": 11, "d": None, "s": None}))
        elif op == 2:
            await self._identify(socket, data or {})
        elif op == 6:
            await self._resume(socket, data or {})

    async def _identify(self, socket: _Socket, data: JSON) -> None:
        if data.get("token") != self.token:
            await socket.ws.close(code=4004, message=b"Authentication failed.")
            return
        self.identifies += 1
        self.intents = data.get("intents")
        session = _Session(secrets.token_hex(16))
        self._sessions[session.id] = session
        self._session = session
        session.socket = socket
        ready = {
            "v": 10,
            "user": {**self.bot_user, "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(g), "unavailable": True} for g in self.guilds],
            "session_id": session.id,
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "geo_ordered_rtc_regions": [],
            "session_type": "normal",
            "_trace": ["fake-discord"],
        }
        await self.dispatch("READY", ready)
        for guild in self.guilds.values():
            await self.dispatch("GUILD_CREATE", guild.payload(self.bot_user))
        self._connected.set()

    async def _resume(self, socket: _Socket, data: JSON) -> None:
        session = self._sessions.get(str(data.get("session_id")))
        if session is None or data.get("token") != self.token:
            await socket.send(json.dumps({"op": 9, "d": False, "s": None}))
            return
        self.resumes += 1
        self._session = session
        session.socket = socket
        after = int(data.get("seq") or 0)
        for seq, text in session.log:
            if seq > after:
                await socket.send(text)
        await self.dispatch("RESUMED", {"_trace": ["fake-discord"]})
        self._connected.set()


def option(name: str, value: Any, option_type: int = 3, *, focused: bool = False) -> JSON:
    """Return one application-command option payload (3 string, 4 integer, 7 channel, 10 number)."""
    data: JSON = {"name": name, "type": option_type, "value": value}
    if focused:
        data["focused"] = True
    return data


def subcommand(name: str, *options: JSON) -> JSON:
    """Return a subcommand option payload wrapping `options`."""
    return {"name": name, "type": 1, "options": list(options)}
