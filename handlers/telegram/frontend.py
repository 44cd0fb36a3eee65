"""The Telegram front-end: a python-telegram-bot Application run inside the core's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable
from typing import Any

from telegram import BotCommand, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application, ApplicationBuilder, BaseUpdateProcessor, ExtBot

from bot.commands import COMMANDS, CommandService
from handlers.telegram.authority import AdminCache
from handlers.telegram.commands import ChatCommands
from handlers.telegram.notifier import TelegramNotifier
from handlers.telegram.pacing import FloodLimits, Pacer
from handlers.telegram.polling import Poller
from timing import Backoff, MonotonicClock, Sleep

log = logging.getLogger(__name__)

_STOP_GRACE = 1.0


class TelegramStartError(Exception):
    """The front-end cannot run as configured (the token was rejected)."""


class PerChatUpdates(BaseUpdateProcessor):
    """Handle updates from different chats concurrently and from one chat in arrival order."""

    # A chat's replies are paced to one a second, so handling every update in one line would let
    # a single busy chat hold up all the others.

    def __init__(self, max_concurrent: int = 256, max_queued_per_chat: int = 32) -> None:
        super().__init__(max_concurrent)
        self._max_queued = max_queued_per_chat
        self._chats: dict[int, tuple[asyncio.Lock, list[int]]] = {}
        self.dropped = 0

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run `coroutine` after the chat's earlier updates; drop it when the chat floods."""
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        entry = self._chats.get(chat.id)
        if entry is None:
            entry = self._chats[chat.id] = (asyncio.Lock(), [0])
        lock, queued = entry
        if queued[0] >= self._max_queued:
            self.dropped += 1
            if inspect.iscoroutine(coroutine):
                coroutine.close()
            log.warning("Telegram chat %d is flooding the bot; dropped an update", chat.id)
            return
        queued[0] += 1
        try:
            async with lock:
                await coroutine
        finally:
            queued[0] -= 1
            if queued[0] == 0:
                del self._chats[chat.id]

    async def initialize(self) -> None:
        """Hold nothing to set up."""

    async def shutdown(self) -> None:
        """Hold nothing to release."""


class TelegramFrontEnd:
    """Answer commands over long polling and deliver alerts through `notifier`."""

    name = "telegram"

    def __init__(
        self,
        *,
        token: str,
        service: CommandService,
        api_url: str = "https://api.telegram.org",
        limits: FloodLimits | None = None,
        admin_ttl: float = 60.0,
        poll_timeout: int = 30,
        backoff: Backoff | None = None,
        clock: MonotonicClock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        root = api_url.rstrip("/")
        self.pacer = Pacer(limits, clock=clock, sleep=sleep)
        self.updates = PerChatUpdates()
        self.application: Application[ExtBot[int], Any, Any, Any, Any, Any] = (
            ApplicationBuilder()
            .token(token)
            .base_url(f"{root}/bot")
            .base_file_url(f"{root}/file/bot")
            .rate_limiter(self.pacer)
            .concurrent_updates(self.updates)
            .updater(None)
            .build()
        )
        bot = self.application.bot
        self.admins = AdminCache(bot, ttl=admin_ttl, clock=clock)
        self.commands = ChatCommands(service, self.admins, bot)
        self.notifier = TelegramNotifier(bot, service.alert_charts)
        for handler in self.commands.handlers():
            self.application.add_handler(handler)
        self.application.add_error_handler(self.commands.on_error)
        self._poll_timeout = poll_timeout
        self._backoff = backoff
        self._sleep = sleep
        self.poller: Poller | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect, publish the command menu and poll in the background; a bad token raises."""
        # An unreachable Bot API is retried in the background rather than raised: a network blip
        # at boot must not leave the bot deaf until the next restart.
        if self._task is not None:
            return
        retry_connect = None
        try:
            await self._connect()
        except InvalidToken:
            await self.application.bot.shutdown()
            # PTB's own message quotes the token, a secret.
            raise TelegramStartError("the Bot API rejected TELEGRAM_TOKEN") from None
        except TelegramError as exc:
            log.warning("Telegram Bot API unreachable (%s); retrying in the background", exc)
            retry_connect = self._connect
        self.poller = Poller(
            self.application.bot,
            self.application.update_queue.put,
            prepare=retry_connect,
            timeout=self._poll_timeout,
            sleep=self._sleep,
            backoff=self._backoff,
        )
        self._task = asyncio.create_task(self.poller.run(), name="telegram-polling")

    async def stop(self) -> None:
        """Stop polling, confirm the updates taken, and close the Application; idempotent."""
        self.notifier.set_online(False)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        poller, self.poller = self.poller, None
        if poller is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(poller.acknowledge(), _STOP_GRACE)
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()
        # The Application skips this when it never finished initializing.
        await self.application.bot.shutdown()

    async def _connect(self) -> None:
        """Check the token, publish the command menu, and make sure no webhook is set."""
        await self.application.initialize()
        bot = self.application.bot
        await bot.set_my_commands([BotCommand(c.name, c.description) for c in COMMANDS])
        # A webhook left set by an earlier deployment makes getUpdates fail with 409.
        await bot.delete_webhook(drop_pending_updates=False)
        if not self.application.running:
            await self.application.start()
        self.notifier.set_online(True)
