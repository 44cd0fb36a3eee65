"""The notifiers the core ships: the console, and HTTP webhooks."""

from __future__ import annotations

import json
import sys
from typing import TextIO

import aiohttp

from bot.destinations import Destination, Scheme
from bot.notify import AlertMessage, PermanentDeliveryError, TransientDeliveryError

_RETRYABLE = frozenset({408, 425, 429})


class ConsoleNotifier:
    """Print alerts to standard output: the default when no chat front-end is configured."""

    scheme: Scheme = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    async def send(self, destination: Destination, message: AlertMessage) -> None:
        """Write the alert's text as one line."""
        stream = self._stream or sys.stdout
        stream.write(message.text + "\n")
        stream.flush()


def webhook_payload(message: AlertMessage) -> dict[str, object]:
    """Return the JSON body of DESIGN.md's webhook format."""
    return {
        "id": message.event_id,
        "rule": message.rule_id,
        "state": message.state,
        "metric": message.metric,
        "value": message.value,
        "threshold": message.threshold,
        "at": message.at.isoformat().replace("+00:00", "Z"),
        "text": message.text,
    }


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds <= 86_400 else None


class WebhookNotifier:
    """POST each alert as JSON with an `Idempotency-Key`, so receivers can drop repeats."""

    scheme: Scheme = "webhook"

    def __init__(self, session: aiohttp.ClientSession, timeout: float = 10.0) -> None:
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def send(self, destination: Destination, message: AlertMessage) -> None:
        """Deliver one alert; 2xx is success, 408/429/5xx and network trouble are retried."""
        body = json.dumps(webhook_payload(message))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": message.idempotency_key,
            "User-Agent": "risk-on-radar",
        }
        try:
            async with self._session.post(
                destination.target, data=body, headers=headers, timeout=self._timeout
            ) as response:
                status = response.status
                retry_after = _retry_after(response.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientDeliveryError(f"webhook unreachable: {type(exc).__name__}") from exc
        if 200 <= status < 300:
            return
        if status in _RETRYABLE or status >= 500:
            raise TransientDeliveryError(f"webhook answered {status}", retry_after)
        raise PermanentDeliveryError(f"webhook answered {status}")
