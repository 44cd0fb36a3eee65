"""The notifiers the core ships: the console, and HTTP webhooks."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import TextIO

import aiohttp

from bot.model.alerts import AlertMessage
from bot.model.delivery import PermanentDeliveryError, TransientDeliveryError
from bot.model.destinations import Destination, Scheme
from bot.model.formatting import (
    alert_headline,
    format_age,
    format_change,
    format_condition,
    format_time,
)
from bot.model.metrics import metric_info
from bot.model.regime import VERDICT_MARKS
from signals.http import retry_after_seconds

_RETRYABLE = frozenset({408, 425, 429})
# A receiver asking for more than a day is misconfigured; fall back to our own backoff.
_MAX_RETRY_AFTER = 86_400.0


def _facts(message: AlertMessage) -> str:
    """Return what happened in one phrase: the value once, its rule, change, source, time."""
    notice = message.notice
    if notice is not None:
        if notice.since is None:
            facts = "down" if message.state == "firing" else "back"
        elif message.state == "firing":
            facts = (
                f"failing for {format_age(message.at - notice.since)}, "
                f"since {format_time(notice.since)}"
            )
        else:
            facts = f"down for {format_age(message.at - notice.since)}"
        if notice.error:
            facts += f": {notice.error}"
        return f"{facts} · {format_time(message.at)} [{message.rule_id}]"
    info = metric_info(message.metric)
    facts = f"{info.label} {info.format(message.value)}"
    if message.previous is not None:
        facts += f", {format_change(message.metric, message.value, message.previous)}"
    if message.op is not None:
        facts += f" (rule: {format_condition(message.metric, message.op, message.threshold)})"
    elif message.threshold is not None:
        facts += f" (threshold {info.format(message.threshold)})"
    return f"{facts} · via {message.source} · {format_time(message.at)} [{message.rule_id}]"


def _components(message: AlertMessage) -> list[str]:
    return [f"{VERDICT_MARKS[r.verdict]} {r.label} — {r.note}" for r in message.components]


def console_line(message: AlertMessage) -> str:
    """Word an alert as one plain line, the regime's components included."""
    line = f"{alert_headline(message)} — {_facts(message)}"
    components = _components(message)
    if components:
        line += " · " + "; ".join(components)
    return " ".join(line.split("\n"))


def webhook_text(message: AlertMessage) -> str:
    """Word an alert as the webhook payload's plain `text`: a headline line, then any components."""
    return "\n".join([f"{alert_headline(message)} — {_facts(message)}", *_components(message)])


class ConsoleNotifier:
    """Print alerts to standard output: the default when no chat front-end is configured."""

    scheme: Scheme = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    async def send(self, destination: Destination, message: AlertMessage) -> None:
        """Write the alert as one line."""
        stream = self._stream or sys.stdout
        stream.write(console_line(message) + "\n")
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
        "at": message.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "text": webhook_text(message),
    }


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
            # A redirect would be followed as a GET without the body and look like success.
            async with self._session.post(
                destination.target,
                data=body,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                status = response.status
                retry_after = retry_after_seconds(
                    response.headers.get("Retry-After"), datetime.now(UTC)
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientDeliveryError(f"webhook unreachable: {type(exc).__name__}") from exc
        if 200 <= status < 300:
            return
        if retry_after is not None and retry_after > _MAX_RETRY_AFTER:
            retry_after = None
        if status in _RETRYABLE or status >= 500:
            raise TransientDeliveryError(f"webhook answered {status}", retry_after)
        if 300 <= status < 400:
            raise PermanentDeliveryError(f"webhook redirected ({status}): configure the final URL")
        raise PermanentDeliveryError(f"webhook answered {status}")
