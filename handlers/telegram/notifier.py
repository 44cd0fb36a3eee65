"""Deliver alerts to Telegram chats, translating Bot API errors into the dispatcher's terms."""

from __future__ import annotations

from datetime import UTC, tzinfo

from telegram import LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
)
from telegram.ext import ExtBot

from bot.model.alerts import AlertMessage, HeldSummary
from bot.model.delivery import DestinationMoved, PermanentDeliveryError, TransientDeliveryError
from bot.model.destinations import Destination, Scheme
from handlers.telegram.pacing import retry_after_seconds
from handlers.telegram.render import render_alert, render_summary

# BadRequest descriptions that mean the chat or topic is gone for good, not a fault of the message.
_GONE = (
    "chat not found",
    "message thread not found",
    "group chat was deactivated",
    "not enough rights to send",
    "need administrator rights in the channel chat",
    "have no rights to send a message",
)

_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


class TelegramNotifier:
    """Send each alert as one HTML message; raise `DeliveryError`s the dispatcher acts on."""

    # Flood control is answered by pausing every send (the bot's `Pacer` does that) and raising
    # `TransientDeliveryError` with Telegram's `retry_after`: the dispatcher keeps the row, its
    # per-chat order and its attempt count, so nothing is retried behind its back and no worker
    # sits blocked for the length of the pause.

    scheme: Scheme = "telegram"

    def __init__(self, bot: ExtBot[int]) -> None:
        self._bot = bot
        self._online = False

    def set_online(self, online: bool) -> None:
        """Accept sends once the bot is connected, refuse them (as transient) after it stops."""
        self._online = online

    async def send(
        self, destination: Destination, message: AlertMessage, zone: tzinfo = UTC
    ) -> None:
        """Deliver `message` to `destination`, its times in `zone`, or raise a `DeliveryError`."""
        self._check(destination)
        await self._deliver(destination, render_alert(message, zone))

    async def send_summary(
        self, destination: Destination, summary: HeldSummary, zone: tzinfo = UTC
    ) -> None:
        """Deliver held alerts as one message, or raise a `DeliveryError`."""
        self._check(destination)
        await self._deliver(destination, render_summary(summary, zone))

    def _check(self, destination: Destination) -> None:
        if destination.scheme != "telegram":
            raise PermanentDeliveryError(f"{destination} is not a Telegram chat")
        if not self._online:
            raise TransientDeliveryError("the Telegram front-end is not connected")

    async def _deliver(self, destination: Destination, text: str) -> None:
        chat_id = int(destination.target)
        thread = int(destination.topic) if destination.topic else None
        try:
            await self._bot.send_message(
                chat_id,
                text,
                parse_mode=ParseMode.HTML,
                message_thread_id=thread,
                link_preview_options=_NO_PREVIEW,
            )
        except RetryAfter as exc:
            raise TransientDeliveryError(
                "Telegram flood control", retry_after_seconds(exc)
            ) from exc
        except ChatMigrated as exc:
            raise DestinationMoved(Destination("telegram", str(exc.new_chat_id))) from exc
        except Forbidden as exc:
            raise PermanentDeliveryError(exc.message) from exc
        except BadRequest as exc:
            if any(phrase in exc.message.lower() for phrase in _GONE):
                raise PermanentDeliveryError(exc.message) from exc
            # Any other refusal is a fault of this message, not of the chat: retrying lets the
            # dispatcher give up on the row without switching the chat off.
            raise TransientDeliveryError(f"Telegram refused the message: {exc.message}") from exc
        except InvalidToken as exc:
            raise TransientDeliveryError("the Bot API rejected TELEGRAM_TOKEN") from exc
        except TelegramError as exc:
            # NetworkError, TimedOut and 5xx answers all land here.
            raise TransientDeliveryError(f"Telegram unreachable: {exc.message}") from exc
