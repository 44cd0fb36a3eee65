"""Deliver alerts to Discord channels over REST, as embeds, with Discord's errors sorted for retry."""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import replace
from datetime import UTC, tzinfo
from typing import Any

import aiohttp
import discord

from bot.model.alerts import AlertMessage, HeldSummary
from bot.model.delivery import ChartSource, PermanentDeliveryError, TransientDeliveryError
from bot.model.destinations import Destination, Scheme
from handlers.discord.layout import Attachment, EmbedSpec, Outgoing, Reply, pack
from handlers.discord.pacing import Backlogged, Pacer
from handlers.discord.render import alert_embed, summary_embed, to_embed

log = logging.getLogger(__name__)

# Discord's JSON error codes that mean this destination will never take the message.
UNKNOWN_CHANNEL = 10003
MISSING_ACCESS = 50001
CANNOT_MESSAGE_USER = 50007
_REFUSED_CODES = frozenset({UNKNOWN_CHANNEL, MISSING_ACCESS, CANNOT_MESSAGE_USER})
# Discord keeps at most 25 characters of a nonce.
_NONCE_LENGTH = 25


def message_nonce(channel_id: int, key: str, part: int) -> str:
    """Return the nonce that lets Discord drop a resent copy of one part of one alert.

    `key` is the alert's (or held summary's) idempotency key, the same on every retry.
    """
    text = f"{channel_id}:{key}:{part}".encode()
    return hashlib.sha256(text).hexdigest()[:_NONCE_LENGTH]


def _describe(exc: discord.HTTPException) -> str:
    text = exc.text or "no detail"
    return f"HTTP {exc.status}, code {exc.code}: {text}"


class DiscordNotifier:
    """A `bot.notify.Notifier` for `discord:<channel id>` destinations.

    It posts through a logged-in client's HTTP session, so it needs no gateway and no cache:
    discord.py handles the per-route rate-limit buckets and waits out short 429s itself.
    """

    scheme: Scheme = "discord"

    def __init__(
        self,
        client: discord.Client | None,
        pacer: Pacer | None = None,
        charts: ChartSource | None = None,
    ) -> None:
        self._client = client
        self._pacer = pacer or Pacer()
        self._charts = charts

    def use_charts(self, charts: ChartSource | None) -> None:
        """Put a chart in each alert's embed from now on (None: no image)."""
        self._charts = charts

    def use(self, client: discord.Client) -> None:
        """Post through `client` from now on (the front-end builds a fresh one at each start)."""
        self._client = client

    async def send(
        self, destination: Destination, message: AlertMessage, zone: tzinfo = UTC
    ) -> None:
        """Post `message` to the destination's channel or raise a `DeliveryError`.

        With charts on, the event's chart rides along as an attachment shown in the embed.
        """
        self._check(destination)
        embed = alert_embed(message, zone)
        image = await self._charts.image(message) if self._charts is not None else None
        files: tuple[Attachment, ...] = ()
        if image is not None:
            chart = Attachment(f"alert-{message.event_id}.png", image.png)
            embed = replace(embed, image=chart.url)
            files = (chart,)
        await self._send(destination, embed, message.idempotency_key, files)

    async def send_summary(
        self, destination: Destination, summary: HeldSummary, zone: tzinfo = UTC
    ) -> None:
        """Post held alerts as one embed or raise a `DeliveryError`."""
        await self._send(destination, summary_embed(summary, zone), summary.idempotency_key)

    @staticmethod
    def _check(destination: Destination) -> None:
        if destination.scheme != "discord" or not destination.target.isdigit():
            raise PermanentDeliveryError(f"{destination} is not a Discord channel")

    async def _send(
        self,
        destination: Destination,
        embed: EmbedSpec,
        key: str,
        files: tuple[Attachment, ...] = (),
    ) -> None:
        self._check(destination)
        client = self._client
        if client is None or client.user is None or client.is_closed():
            raise TransientDeliveryError("the Discord client is not logged in yet")
        channel_id = int(destination.target)
        channel = client.get_partial_messageable(channel_id)
        for part, outgoing in enumerate(pack(Reply(embeds=(embed,), files=files))):
            try:
                await self._pacer.acquire(channel_id)
            except Backlogged as exc:
                raise TransientDeliveryError(
                    f"channel {channel_id} is paced: {exc}", exc.wait
                ) from None
            await self._post(channel, outgoing, message_nonce(channel_id, key, part))

    async def _post(
        self, channel: discord.PartialMessageable, outgoing: Outgoing, nonce: str
    ) -> None:
        kwargs: dict[str, Any] = {"embeds": [to_embed(e) for e in outgoing.embeds], "nonce": nonce}
        if outgoing.content:
            kwargs["content"] = outgoing.content
        if outgoing.files:
            # Fresh files each try: discord.py reads them to the end when it posts.
            kwargs["files"] = [
                discord.File(io.BytesIO(f.data), filename=f.filename) for f in outgoing.files
            ]
        try:
            await channel.send(**kwargs)
        except discord.RateLimited as exc:
            raise TransientDeliveryError(
                f"Discord asks to wait {exc.retry_after:.0f}s", exc.retry_after
            ) from None
        except (discord.Forbidden, discord.NotFound) as exc:
            raise PermanentDeliveryError(
                f"Discord refused channel {channel.id}: {_describe(exc)}"
            ) from None
        except discord.HTTPException as exc:
            raise self._translate(channel.id, exc) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise TransientDeliveryError(f"cannot reach Discord: {exc!r}") from None

    @staticmethod
    def _translate(channel_id: int, exc: discord.HTTPException) -> Exception:
        if exc.code in _REFUSED_CODES:
            return PermanentDeliveryError(f"Discord refused channel {channel_id}: {_describe(exc)}")
        if exc.status >= 500:
            return TransientDeliveryError(f"Discord failed: {_describe(exc)}")
        if exc.status == 429:
            # A 429 discord.py did not wait out: Cloudflare's ban on too many invalid requests.
            wait = exc.response.headers.get("Retry-After", "")
            retry_after = float(wait) if wait.replace(".", "", 1).isdigit() else None
            return TransientDeliveryError(f"Discord blocks this bot: {_describe(exc)}", retry_after)
        # Any other 4xx is this bot's own fault (a malformed body, a revoked token): retry it,
        # and let the dispatcher give up after its attempts, rather than drop the channel.
        log.error("Discord rejected an alert for channel %s: %s", channel_id, _describe(exc))
        return TransientDeliveryError(f"Discord rejected the message: {_describe(exc)}")
