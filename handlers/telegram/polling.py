"""Long-poll the Bot API for updates, riding out outages and a second instance on the same token."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from telegram import Update
from telegram.error import Conflict, InvalidToken, RetryAfter, TelegramError
from telegram.ext import ExtBot

from handlers.telegram.pacing import retry_after_seconds
from timing import Backoff, Sleep

log = logging.getLogger(__name__)

Deliver = Callable[[Update], Awaitable[None]]
Prepare = Callable[[], Awaitable[None]]

# Waits between failed polls: 1 s, doubling, at most a minute.
POLL_BACKOFF = Backoff(base=1.0, cap=60.0)


class Poller:
    """Fetch updates with getUpdates and hand them on, in order, each exactly once."""

    # python-telegram-bot's own Updater would do, but it logs every 409 with a stack trace,
    # retries on the real clock and never says when polling recovered; this loop logs one line
    # when trouble starts and one when it ends, and waits through an injectable `sleep`.

    def __init__(
        self,
        bot: ExtBot[int],
        deliver: Deliver,
        *,
        prepare: Prepare | None = None,
        timeout: int = 30,
        allowed_updates: Sequence[str] = ("message", "channel_post", "callback_query"),
        sleep: Sleep = asyncio.sleep,
        backoff: Backoff | None = None,
    ) -> None:
        self._bot = bot
        self._deliver = deliver
        self._prepare = prepare
        self._timeout = timeout
        self._allowed = list(allowed_updates)
        self._sleep = sleep
        self._backoff = backoff or POLL_BACKOFF
        self._offset: int | None = None
        self._trouble: str | None = None
        self._failures = 0

    async def run(self) -> None:
        """Prepare (once), then poll until cancelled or the token is rejected."""
        while True:
            try:
                if self._prepare is not None:
                    await self._prepare()
                    self._prepare = None
                    self._recovered()
                    continue
                updates = await self._bot.get_updates(
                    offset=self._offset, timeout=self._timeout, allowed_updates=self._allowed
                )
            except InvalidToken:
                # PTB's message for this names the token; the token is a secret, so say less.
                log.error("The Bot API rejected TELEGRAM_TOKEN; Telegram polling stopped")
                return
            except Conflict:
                self._troubled(
                    "conflict",
                    "Another instance is polling this Telegram token (409 Conflict): only one "
                    "may run; this one keeps retrying with backoff until the other stops",
                )
                await self._sleep(self._backoff.delay(self._failures))
                continue
            except RetryAfter as exc:
                wait = retry_after_seconds(exc)
                self._troubled("flood", f"Telegram asked to wait {wait:.0f} s before polling again")
                await self._sleep(wait)
                continue
            except TelegramError as exc:
                what = (
                    "Telegram polling (getUpdates)"
                    if self.prepared
                    else "Connecting to Telegram (getMe, setMyCommands, deleteWebhook)"
                )
                self._troubled("error", f"{what} failed: {exc.message}; retrying with backoff")
                await self._sleep(self._backoff.delay(self._failures))
                continue
            self._recovered()
            for update in updates:
                await self._deliver(update)
                self._offset = update.update_id + 1

    @property
    def prepared(self) -> bool:
        """Say whether the one-off preparation has succeeded."""
        return self._prepare is None

    async def acknowledge(self) -> None:
        """Confirm the updates handed on so far, so a restart does not fetch them again."""
        if self._offset is None:
            return
        try:
            await self._bot.get_updates(offset=self._offset, timeout=0, limit=1)
        except TelegramError as exc:
            log.info("could not confirm the last Telegram updates (%s); they may repeat", exc)

    def _troubled(self, kind: str, line: str) -> None:
        self._failures += 1
        if self._trouble != kind:
            log.warning(line)
            self._trouble = kind

    def _recovered(self) -> None:
        if self._trouble is not None:
            log.info("Telegram polling is working again after %d failed attempts", self._failures)
        self._trouble = None
        self._failures = 0
