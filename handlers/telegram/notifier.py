"""Deliver alerts to Telegram chats, translating Bot API errors into the dispatcher's terms."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, tzinfo

from telegram import InputFile, LinkPreviewOptions, Message
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
from bot.model.delivery import (
    AlertChart,
    ChartSource,
    DeliveryError,
    DestinationMoved,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from bot.model.destinations import Destination, Scheme
from handlers.telegram.pacing import retry_after_seconds
from handlers.telegram.render import caption_fits, render_alert, render_summary

log = logging.getLogger(__name__)

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
# Events whose uploaded chart's file id is kept: the rest of a fan-out sends it by id.
_KEPT_FILE_IDS = 64


@dataclass
class _Upload:
    """One event's chart on Telegram's side: its file id once uploaded, one upload at a time."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    file_id: str | None = None


class TelegramNotifier:
    """Send each alert as one HTML message, or a photo of its chart captioned with it.

    Raises `DeliveryError`s the dispatcher acts on. With `charts`, an alert goes as its chart
    with the alert as the caption, or as the text followed by the chart when the caption would
    pass Telegram's 1,024 characters. An event's chart is uploaded once; the rest of its fan-out
    sends Telegram's file id. Held-alert summaries and operator notices stay text.
    """

    # Flood control is answered by pausing every send (the bot's `Pacer` does that) and raising
    # `TransientDeliveryError` with Telegram's `retry_after`: the dispatcher keeps the row, its
    # per-chat order and its attempt count, so nothing is retried behind its back and no worker
    # sits blocked for the length of the pause.

    scheme: Scheme = "telegram"

    def __init__(self, bot: ExtBot[int], charts: ChartSource | None = None) -> None:
        self._bot = bot
        self._online = False
        self._charts = charts
        self._uploads: OrderedDict[int, _Upload] = OrderedDict()

    def use_charts(self, charts: ChartSource | None) -> None:
        """Put a chart on each alert from now on (None: text only)."""
        self._charts = charts

    def set_online(self, online: bool) -> None:
        """Accept sends once the bot is connected, refuse them (as transient) after it stops."""
        self._online = online

    async def send(
        self, destination: Destination, message: AlertMessage, zone: tzinfo = UTC
    ) -> None:
        """Deliver `message` to `destination`, its times in `zone`, or raise a `DeliveryError`."""
        self._check(destination)
        text = render_alert(message, zone)
        image = await self._charts.image(message) if self._charts is not None else None
        if image is None:
            await self._deliver(destination, text)
            return
        self._check(destination)
        if caption_fits(text):
            await self._send_chart(destination, message.event_id, image, text)
            return
        # Too long for a caption: the text first, then the chart on its own.
        await self._deliver(destination, text)
        try:
            await self._send_chart(destination, message.event_id, image, None)
        except DeliveryError as exc:
            # The alert is out; sending it again for the sake of its chart would repeat it.
            log.warning(
                "alert %d reached %s without its chart: %s", message.event_id, destination, exc
            )

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
        await self._call(
            lambda chat_id, thread: self._bot.send_message(
                chat_id,
                text,
                parse_mode=ParseMode.HTML,
                message_thread_id=thread,
                link_preview_options=_NO_PREVIEW,
            ),
            destination,
        )

    async def _send_chart(
        self, destination: Destination, event_id: int, image: AlertChart, caption: str | None
    ) -> None:
        """Send the event's chart: by file id when it was uploaded, else upload it (once)."""
        upload = self._uploads.get(event_id)
        if upload is None:
            upload = self._uploads[event_id] = _Upload()
            while len(self._uploads) > _KEPT_FILE_IDS:
                self._uploads.popitem(last=False)
        if upload.file_id is None:
            # One upload per event: the rest of the fan-out waits for its file id.
            async with upload.lock:
                if upload.file_id is None:
                    photo = InputFile(image.png, filename=f"alert-{event_id}.png")
                    sent = await self._call(self._photo_call(photo, caption), destination)
                    if sent.photo:
                        upload.file_id = max(sent.photo, key=lambda p: p.width).file_id
                    return
        file_id = upload.file_id
        try:
            await self._call(self._photo_call(file_id, caption), destination, raw_bad_request=True)
        except BadRequest as exc:
            if "file" not in exc.message.lower():
                raise self._translate(exc) from exc
            # Telegram no longer knows the id: upload again.
            upload.file_id = None
            await self._call(
                self._photo_call(InputFile(image.png, filename=f"alert-{event_id}.png"), caption),
                destination,
            )

    def _photo_call(
        self, photo: InputFile | str, caption: str | None
    ) -> Callable[[int, int | None], Awaitable[Message]]:
        def call(chat_id: int, thread: int | None) -> Awaitable[Message]:
            return self._bot.send_photo(
                chat_id,
                photo,
                caption=caption,
                parse_mode=ParseMode.HTML if caption else None,
                message_thread_id=thread,
            )

        return call

    async def _call(
        self,
        call: Callable[[int, int | None], Awaitable[Message]],
        destination: Destination,
        *,
        raw_bad_request: bool = False,
    ) -> Message:
        chat_id = int(destination.target)
        thread = int(destination.topic) if destination.topic else None
        try:
            return await call(chat_id, thread)
        except BadRequest as exc:
            if raw_bad_request and not any(p in exc.message.lower() for p in _GONE):
                raise
            raise self._translate(exc) from exc
        except TelegramError as exc:
            raise self._translate(exc) from exc

    @staticmethod
    def _translate(exc: TelegramError) -> DeliveryError:
        """Return what the dispatcher should make of a Bot API error."""
        if isinstance(exc, RetryAfter):
            return TransientDeliveryError("Telegram flood control", retry_after_seconds(exc))
        if isinstance(exc, ChatMigrated):
            return DestinationMoved(Destination("telegram", str(exc.new_chat_id)))
        if isinstance(exc, Forbidden):
            return PermanentDeliveryError(exc.message)
        if isinstance(exc, BadRequest):
            if any(phrase in exc.message.lower() for phrase in _GONE):
                return PermanentDeliveryError(exc.message)
            # Any other refusal is a fault of this message, not of the chat: retrying lets the
            # dispatcher give up on the row without switching the chat off.
            return TransientDeliveryError(f"Telegram refused the message: {exc.message}")
        if isinstance(exc, InvalidToken):
            return TransientDeliveryError("the Bot API rejected TELEGRAM_TOKEN")
        # NetworkError, TimedOut and 5xx answers all land here.
        return TransientDeliveryError(f"Telegram unreachable: {exc.message}")
