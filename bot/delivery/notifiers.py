"""The notifiers the core ships: the console, and HTTP webhooks."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, tzinfo
from typing import TextIO

import aiohttp

from bot.model.alerts import AlertMessage, HeldSummary
from bot.model.delivery import PermanentDeliveryError, TransientDeliveryError
from bot.model.destinations import Destination, Scheme
from bot.model.formatting import (
    alert_headline,
    format_age,
    format_change,
    format_condition,
    format_held_headline,
    format_time,
)
from bot.model.metrics import metric_info
from bot.model.regime import VERDICT_MARKS
from signals.http import retry_after_seconds

_RETRYABLE = frozenset({408, 425, 429})
# A receiver asking for more than a day is misconfigured; fall back to our own backoff.
_MAX_RETRY_AFTER = 86_400.0


def _facts(message: AlertMessage, zone: tzinfo = UTC) -> str:
    """Return what happened in one phrase: the value once, its rule, change, source, time."""
    notice = message.notice
    if notice is not None:
        if notice.since is None:
            facts = "down" if message.state == "firing" else "back"
        elif message.state == "firing":
            facts = (
                f"failing for {format_age(message.at - notice.since)}, "
                f"since {format_time(notice.since, zone)}"
            )
        else:
            facts = f"down for {format_age(message.at - notice.since)}"
        if notice.error:
            facts += f": {notice.error}"
        return f"{facts} · {format_time(message.at, zone)} [{message.rule_id}]"
    info = metric_info(message.metric)
    facts = f"{info.label} {info.format(message.value)}"
    if message.previous is not None:
        facts += f", {format_change(message.metric, message.value, message.previous)}"
    if message.op is not None:
        facts += f" (rule: {format_condition(message.metric, message.op, message.threshold)})"
    elif message.threshold is not None:
        facts += f" (threshold {info.format(message.threshold)})"
    return f"{facts} · via {message.source} · {format_time(message.at, zone)} [{message.rule_id}]"


def _components(message: AlertMessage) -> list[str]:
    return [f"{VERDICT_MARKS[r.verdict]} {r.label} — {r.note}" for r in message.components]


def console_line(message: AlertMessage, zone: tzinfo = UTC) -> str:
    """Word an alert as one plain line, the regime's components included."""
    line = f"{alert_headline(message)} — {_facts(message, zone)}"
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

    async def send(
        self, destination: Destination, message: AlertMessage, zone: tzinfo = UTC
    ) -> None:
        """Write the alert as one line."""
        stream = self._stream or sys.stdout
        stream.write(console_line(message, zone) + "\n")
        stream.flush()

    async def send_summary(
        self, destination: Destination, summary: HeldSummary, zone: tzinfo = UTC
    ) -> None:
        """Write the held alerts as one line: the headline, then each alert."""
        headline = format_held_headline(summary.reasons, len(summary.alerts))
        alerts = "; ".join(console_line(alert, zone) for alert in summary.alerts)
        stream = self._stream or sys.stdout
        stream.write(f"🔕 {headline} — {alerts}\n")
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

    async def send_summary(
        self, destination: Destination, summary: HeldSummary, zone: tzinfo = UTC
    ) -> None:
        """Deliver held alerts one POST each, as the webhook format promises, oldest first.

        A failure part way retries the whole summary; the alerts already delivered go again
        with the same `Idempotency-Key`, which lets the receiver drop them.
        """
        for alert in summary.alerts:
            await self.send(destination, alert, zone)

    async def send(
        self, destination: Destination, message: AlertMessage, zone: tzinfo = UTC
    ) -> None:
        """Deliver one alert; 2xx is success, 408/429/5xx and network trouble are retried.

        The payload's times are UTC whatever `zone` says: receivers are programs.
        """
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
