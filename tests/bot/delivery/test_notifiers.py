"""The console and webhook notifiers; webhooks against a local aiohttp receiver."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone

import aiohttp
import pytest
from aiohttp import web

from bot.delivery.notifiers import ConsoleNotifier, WebhookNotifier, console_line, webhook_payload
from bot.model.alerts import AlertMessage, FeedNotice
from bot.model.delivery import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from bot.model.destinations import Destination
from bot.model.regime import Reading

MESSAGE = AlertMessage(
    event_id=42,
    rule_id="asi-above-50",
    rule_description="Altcoin Season Index rises above 50",
    state="firing",
    metric="asi",
    value=55.0,
    threshold=50.0,
    previous=40.0,
    source="coingecko",
    at=datetime(2026, 1, 5, 12, 30, tzinfo=UTC),
    op="crosses above",
    direction="rise",
)
LINE = (
    "🟢 Risk-on · Altcoin Season Index rises above 50 — Altcoin Season Index 55, +15 from 40 "
    "(rule: crosses above 50) · via coingecko · 2026-01-05 12:30 UTC [asi-above-50]"
)
READINGS = (
    Reading("asi", "Altcoin Season Index above 50", "yes", "ASI 55"),
    Reading("liquidity", "Net liquidity rising (4 weeks)", "unknown", "no fresh value"),
)
REGIME = replace(
    MESSAGE,
    rule_id="risk-on-regime",
    rule_description="Risk-on regime: at least 4 of the 6 rotation signals agree",
    metric="risk_on",
    value=4.0,
    threshold=4.0,
    previous=3.0,
    source="radar",
    op=">=",
    components=READINGS,
)
DOWN = replace(
    MESSAGE,
    rule_id="source-down:coingecko",
    rule_description="Feed coingecko is down",
    metric="feed",
    value=0.0,
    threshold=None,
    previous=None,
    source="radar",
    op=None,
    direction=None,
    notice=FeedNotice(
        "coingecko", datetime(2026, 1, 5, 11, 0, tzinfo=UTC), "HTTP 503\nService Unavailable"
    ),
)
BACK = replace(DOWN, state="resolved", notice=FeedNotice("coingecko", DOWN.at - timedelta(hours=2)))


@dataclass(frozen=True, slots=True)
class Received:
    """One request the receiver saw."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook endpoint that records requests and answers as the test scripts."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def _record(self, request: web.Request) -> None:
        body = await request.read()
        self.requests.append(Received(request.method, request.path, dict(request.headers), body))

    async def hook(self, request: web.Request) -> web.Response:
        await self._record(request)
        status, headers = self.answers.pop(0) if self.answers else (200, {})
        return web.Response(status=status, headers=headers)

    async def hang(self, request: web.Request) -> web.Response:
        await self._record(request)
        await self.release.wait()
        return web.Response(status=200)

    async def moved(self, request: web.Request) -> web.Response:
        await self._record(request)
        raise web.HTTPFound("/landing")

    async def landing(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.Response(status=200)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/hook", found.hook)
    app.router.add_post("/hang", found.hang)
    app.router.add_post("/moved", found.moved)
    app.router.add_route("*", "/landing", found.landing)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    found.url = f"http://{host}:{port}"
    yield found
    # A hanging handler must finish before the runner's shutdown waits on it.
    found.release.set()
    await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


def hook(receiver: Receiver, path: str = "/hook") -> Destination:
    return Destination.parse(f"webhook:{receiver.url}{path}")


# --- webhook: what is sent -------------------------------------------------------------------


async def test_body_and_headers_follow_the_design(
    receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    await WebhookNotifier(session).send(hook(receiver), MESSAGE)
    (request,) = receiver.requests
    assert (request.method, request.path) == ("POST", "/hook")
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == "42"
    assert json.loads(request.body) == {
        "id": 42,
        "rule": "asi-above-50",
        "state": "firing",
        "metric": "asi",
        "value": 55.0,
        "threshold": 50.0,
        "at": "2026-01-05T12:30:00Z",
        "text": LINE,
    }


@pytest.mark.parametrize("message", [MESSAGE, REGIME, DOWN, BACK], ids=lambda m: m.rule_id)
def test_every_alert_kind_fills_every_contract_key(message: AlertMessage) -> None:
    body = webhook_payload(message)
    assert set(body) == {"id", "rule", "state", "metric", "value", "threshold", "at", "text"}
    assert isinstance(body["text"], str) and body["text"].strip()
    assert body["id"] == message.event_id


def test_webhook_text_words_the_regime_components_a_line_each() -> None:
    lines = str(webhook_payload(REGIME)["text"]).splitlines()
    assert lines == [
        "🟢 Risk-on · Risk-on regime: at least 4 of the 6 rotation signals agree — Risk-on "
        "regime score 4 of 6, up from 3 (rule: at or above 4 of 6) · via radar · "
        "2026-01-05 12:30 UTC [risk-on-regime]",
        "✅ Altcoin Season Index above 50 — ASI 55",
        "❔ Net liquidity rising (4 weeks) — no fresh value",
    ]


def test_operator_notices_are_worded_from_their_facts() -> None:
    assert webhook_payload(DOWN)["text"] == (
        "⚠️ Feed coingecko is down — failing for 1 h, since 2026-01-05 11:00 UTC: HTTP 503\n"
        "Service Unavailable · 2026-01-05 12:30 UTC [source-down:coingecko]"
    )
    assert console_line(DOWN) == (
        "⚠️ Feed coingecko is down — failing for 1 h, since 2026-01-05 11:00 UTC: HTTP 503 "
        "Service Unavailable · 2026-01-05 12:30 UTC [source-down:coingecko]"
    )
    assert console_line(BACK) == (
        "✅ Feed coingecko answers again — down for 2 h · 2026-01-05 12:30 UTC "
        "[source-down:coingecko]"
    )


def test_a_resolved_risk_on_alert_reads_as_a_move_toward_risk_off() -> None:
    message = replace(
        MESSAGE,
        rule_id="btc-dominance-below-59",
        rule_description="Bitcoin dominance falls below 59%",
        state="resolved",
        metric="btc_dominance",
        value=59.5,
        threshold=59.0,
        previous=58.8,
        op="crosses below",
        direction="fall",
    )
    assert console_line(message) == (
        "🔴 Risk-off · Resolved: Bitcoin dominance falls below 59% — Bitcoin dominance 59.50%, "
        "+0.70 pp from 58.80% (rule: crosses below 59.00%) · via coingecko · "
        "2026-01-05 12:30 UTC [btc-dominance-below-59]"
    )


async def test_a_resolved_new_high_sends_a_null_threshold(
    receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    message = replace(
        MESSAGE, event_id=7, rule_id="rut-new-high", state="resolved", metric="rut", threshold=None
    )
    await WebhookNotifier(session).send(hook(receiver), message)
    body = json.loads(receiver.requests[0].body)
    assert (body["id"], body["rule"], body["state"], body["threshold"]) == (
        7,
        "rut-new-high",
        "resolved",
        None,
    )
    assert receiver.requests[0].headers["Idempotency-Key"] == "7"


async def test_at_is_always_utc(receiver: Receiver, session: aiohttp.ClientSession) -> None:
    paris = datetime(2026, 1, 5, 13, 30, tzinfo=timezone(timedelta(hours=1)))
    await WebhookNotifier(session).send(hook(receiver), replace(MESSAGE, at=paris))
    assert json.loads(receiver.requests[0].body)["at"] == "2026-01-05T12:30:00Z"


async def test_a_retry_carries_the_same_idempotency_key_and_body(
    receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    notifier = WebhookNotifier(session)
    receiver.answers.append((503, {}))
    with pytest.raises(TransientDeliveryError):
        await notifier.send(hook(receiver), MESSAGE)
    await notifier.send(hook(receiver), MESSAGE)
    first, second = receiver.requests
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] == "42"
    assert first.body == second.body


# --- webhook: what the answer means ----------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204])
async def test_2xx_is_delivered(
    receiver: Receiver, session: aiohttp.ClientSession, status: int
) -> None:
    receiver.answers.append((status, {}))
    await WebhookNotifier(session).send(hook(receiver), MESSAGE)
    assert len(receiver.requests) == 1


@pytest.mark.parametrize(
    ("header", "retry_after"),
    [
        ("30", 30.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("-5", 0.0),
        ("86401", None),
        ("soon", None),
    ],
)
async def test_429_is_transient_with_retry_after(
    receiver: Receiver,
    session: aiohttp.ClientSession,
    header: str,
    retry_after: float | None,
) -> None:
    receiver.answers.append((429, {"Retry-After": header}))
    with pytest.raises(TransientDeliveryError) as caught:
        await WebhookNotifier(session).send(hook(receiver), MESSAGE)
    assert caught.value.retry_after == retry_after
    assert "429" in caught.value.reason


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
async def test_timeouts_throttling_and_5xx_are_transient(
    receiver: Receiver, session: aiohttp.ClientSession, status: int
) -> None:
    receiver.answers.append((status, {}))
    with pytest.raises(TransientDeliveryError) as caught:
        await WebhookNotifier(session).send(hook(receiver), MESSAGE)
    assert caught.value.retry_after is None
    assert str(status) in caught.value.reason


async def test_retry_after_on_a_503_is_honoured(
    receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    receiver.answers.append((503, {"Retry-After": "120"}))
    with pytest.raises(TransientDeliveryError) as caught:
        await WebhookNotifier(session).send(hook(receiver), MESSAGE)
    assert caught.value.retry_after == 120.0


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 410, 413, 422])
async def test_client_errors_are_permanent(
    receiver: Receiver, session: aiohttp.ClientSession, status: int
) -> None:
    receiver.answers.append((status, {}))
    with pytest.raises(PermanentDeliveryError) as caught:
        await WebhookNotifier(session).send(hook(receiver), MESSAGE)
    assert str(status) in caught.value.reason


async def test_connection_refused_is_transient(session: aiohttp.ClientSession) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port now that the probe is closed.
    destination = Destination.parse(f"webhook:http://127.0.0.1:{port}/hook")
    with pytest.raises(TransientDeliveryError, match="unreachable") as caught:
        await WebhookNotifier(session).send(destination, MESSAGE)
    assert caught.value.retry_after is None


async def test_a_receiver_that_hangs_past_the_timeout_is_transient(
    receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    started = time.monotonic()
    with pytest.raises(TransientDeliveryError, match="unreachable"):
        await WebhookNotifier(session, timeout=0.2).send(hook(receiver, "/hang"), MESSAGE)
    assert time.monotonic() - started < 5
    assert [r.path for r in receiver.requests] == ["/hang"]


async def test_a_redirect_is_not_counted_as_delivered(
    receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(DeliveryError):
        await WebhookNotifier(session).send(hook(receiver, "/moved"), MESSAGE)
    assert [(r.method, r.path) for r in receiver.requests] == [("POST", "/moved")]


# --- console ---------------------------------------------------------------------------------


async def test_console_writes_one_line_per_alert_to_its_stream() -> None:
    stream = io.StringIO()
    notifier = ConsoleNotifier(stream)
    assert notifier.scheme == "console"
    await notifier.send(Destination.parse("console"), MESSAGE)
    await notifier.send(Destination.parse("console"), REGIME)
    first, second = stream.getvalue().splitlines()
    assert first == LINE
    assert second.startswith("🟢 Risk-on · Risk-on regime")
    assert second.endswith(
        "✅ Altcoin Season Index above 50 — ASI 55; ❔ Net liquidity rising (4 weeks) — no fresh value"
    )


async def test_console_defaults_to_standard_output(capsys: pytest.CaptureFixture[str]) -> None:
    await ConsoleNotifier().send(Destination.parse("console"), MESSAGE)
    assert capsys.readouterr().out == LINE + "\n"


def test_webhook_scheme() -> None:
    assert WebhookNotifier.scheme == "webhook"
