"""`POST /ingest/<metric>`: pushed-in values through the real aiohttp server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDict, MultiDict

from bot.model.rules import RuleDefaults
from bot.settings import load_settings
from bot.storage import Store, StoreUnavailable
from bot.watch.engine import AlertEngine
from bot.web.health import build_app
from bot.web.ingest import (
    IngestConfig,
    Pushed,
    add_ingest_routes,
    offered_tokens,
    parse_push,
    read_time,
    token_matches,
)
from signals.types import Sample
from tests.bot.conftest import FakeClock

TOKEN = "tv-push-7f3c9a1e"
WRONG = "tv-push-guess-0001"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
METRICS = frozenset({"others_d", "tv_total3"})


class Recorder:
    """The `accept` callback: remembers samples, or fails as told."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self.fail: Exception | None = None

    async def __call__(self, sample: Sample) -> None:
        if self.fail is not None:
            raise self.fail
        self.samples.append(sample)


class HealthyStore:
    """Enough of a store for `/healthz` to answer 200."""

    async def ping(self) -> None:
        return None

    async def pending_count(self) -> int:
        return 0


def make_app(
    clock: FakeClock,
    accept: Callable[[Sample], Awaitable[object]],
    *,
    token: str | None = TOKEN,
    per_minute: int = 6,
    store: Any = None,
) -> web.Application:
    app = build_app(store or HealthyStore(), list, clock)
    add_ingest_routes(app, IngestConfig(token, METRICS, per_minute), accept, clock)
    return app


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def client(clock: FakeClock, recorder: Recorder) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(make_app(clock, recorder), host="127.0.0.1")) as test_client:
        yield test_client


async def push(
    client: TestClient, metric: str, body: Any, headers: dict[str, str] | None = None, **kw: Any
) -> tuple[int, dict[str, Any], Any]:
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    response = await client.post(f"/ingest/{metric}", data=data, headers=headers, **kw)
    return response.status, dict(response.headers), await response.json()


# --- accepted pushes ----------------------------------------------------------------------------


async def test_value_is_accepted_and_stamped_now(
    client: TestClient, recorder: Recorder, clock: FakeClock
) -> None:
    status, _, body = await push(client, "others_d", {"value": 8.5}, BEARER)
    assert status == 202
    assert body == {"metric": "others_d", "value": 8.5, "at": "2026-01-05T12:00:00Z"}
    assert recorder.samples == [Sample("others_d", 8.5, clock(), "ingest")]


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2026-01-05T11:58:30Z", datetime(2026, 1, 5, 11, 58, 30, tzinfo=UTC)),
        ("2026-01-05T12:58:30+01:00", datetime(2026, 1, 5, 11, 58, 30, tzinfo=UTC)),
        # No offset: taken as UTC.
        ("2026-01-05T11:58:30", datetime(2026, 1, 5, 11, 58, 30, tzinfo=UTC)),
        (1767614310, datetime(2026, 1, 5, 11, 58, 30, tzinfo=UTC)),
        (1767614310500, datetime(2026, 1, 5, 11, 58, 30, 500000, tzinfo=UTC)),
        ("1767614310", datetime(2026, 1, 5, 11, 58, 30, tzinfo=UTC)),
        # The edges of what is accepted: 60 s of clock skew ahead (stored as now), 30 days back.
        ("2026-01-05T12:01:00Z", datetime(2026, 1, 5, 12, 0, tzinfo=UTC)),
        ("2026-01-05T12:00:00.5Z", datetime(2026, 1, 5, 12, 0, tzinfo=UTC)),
        ("2025-12-06T12:00:00Z", datetime(2025, 12, 6, 12, 0, tzinfo=UTC)),
    ],
)
async def test_at_sets_the_sample_time(
    client: TestClient, recorder: Recorder, at: object, expected: datetime
) -> None:
    status, _, body = await push(client, "tv_total3", {"value": -3, "at": at}, BEARER)
    assert status == 202, body
    assert body["at"] == expected.isoformat().replace("+00:00", "Z")
    assert recorder.samples == [Sample("tv_total3", -3.0, expected, "ingest")]
    assert recorder.samples[0].at.utcoffset() == timedelta(0)


async def test_tradingview_alert_with_token_in_body_and_close_as_text(
    client: TestClient, recorder: Recorder
) -> None:
    # What TradingView sends for a message template with {{close}}, {{time}} and {{timenow}}.
    message = (
        '{"token": "' + TOKEN + '", "ticker": "OTHERS.D", "exchange": "CRYPTOCAP",'
        ' "close": "8.412", "price": "9",'
        ' "time": "2026-01-05T00:00:00Z", "timenow": "2026-01-05T11:59:00Z"}'
    )
    status, _, body = await push(
        client, "others_d", message, {"Content-Type": "text/plain; charset=utf-8"}
    )
    assert status == 202, body
    at = datetime(2026, 1, 5, 11, 59, tzinfo=UTC)
    assert recorder.samples == [Sample("others_d", 8.412, at, "ingest")]


async def test_price_is_used_when_there_is_no_value_or_close(
    client: TestClient, recorder: Recorder
) -> None:
    status, _, _ = await push(client, "others_d", {"price": " 7.25 ", "close_time": 1}, BEARER)
    assert status == 202
    assert [s.value for s in recorder.samples] == [7.25]


@pytest.mark.parametrize(
    ("headers", "query", "extra"),
    [
        ({"Authorization": f"Bearer {TOKEN}"}, None, {}),
        ({"Authorization": f"bearer  {TOKEN} "}, None, {}),
        ({"X-Ingest-Token": TOKEN}, None, {}),
        (None, {"token": TOKEN}, {}),
        (None, None, {"token": TOKEN}),
        # Every offered token is compared; one right one is enough.
        ({"X-Ingest-Token": WRONG}, None, {"token": TOKEN}),
        ({"Authorization": f"Bearer {TOKEN}", "X-Ingest-Token": WRONG}, {"token": WRONG}, {}),
    ],
    ids=[
        "bearer",
        "bearer-lower-case",
        "x-ingest-token",
        "query",
        "body",
        "right-last",
        "right-first",
    ],
)
async def test_each_token_location_is_accepted(
    client: TestClient,
    recorder: Recorder,
    headers: dict[str, str] | None,
    query: dict[str, str] | None,
    extra: dict[str, str],
) -> None:
    status, _, body = await push(client, "others_d", {"value": 1, **extra}, headers, params=query)
    assert status == 202, body
    assert len(recorder.samples) == 1


async def test_value_wins_over_close_and_price(client: TestClient, recorder: Recorder) -> None:
    status, _, _ = await push(client, "others_d", {"value": 1, "close": 2, "price": 3}, BEARER)
    assert status == 202
    assert recorder.samples[0].value == 1.0


async def test_body_of_exactly_the_limit_is_read(client: TestClient, recorder: Recorder) -> None:
    raw = json.dumps({"value": 2.5}).encode()
    raw += b" " * (4096 - len(raw))
    status, _, _ = await push(client, "others_d", raw, BEARER)
    assert status == 202
    assert len(recorder.samples) == 1


# --- refused pushes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "headers", "body"),
    [
        ("others_d", {"Authorization": f"Bearer {WRONG}"}, {"value": 1}),
        ("others_d", {"X-Ingest-Token": WRONG}, {"value": 1}),
        ("others_d", None, {"value": 1, "token": WRONG}),
        ("others_d", {"Authorization": f"Basic {TOKEN}"}, {"value": 1}),
        ("others_d", None, {"value": 1}),
        ("others_d", None, {"value": 1, "token": 12345}),
        # No token anywhere: auth fails before the body or the metric is judged.
        ("others_d", None, b"not json"),
        ("no_such_metric", None, {"value": 1}),
        ("no_such_metric", {"X-Ingest-Token": WRONG}, {"value": 1}),
    ],
    ids=[
        "wrong-bearer",
        "wrong-header",
        "wrong-body",
        "basic-scheme",
        "missing",
        "token-not-text",
        "missing-bad-body",
        "missing-unknown-metric",
        "wrong-unknown-metric",
    ],
)
async def test_missing_or_wrong_token_is_401(
    client: TestClient,
    recorder: Recorder,
    metric: str,
    headers: dict[str, str] | None,
    body: Any,
) -> None:
    status, response_headers, answer = await push(client, metric, body, headers)
    assert status == 401
    assert response_headers["WWW-Authenticate"] == "Bearer"
    assert answer == {"error": "missing or wrong token"}
    assert recorder.samples == []


async def test_disabled_ingest_is_404(clock: FakeClock, recorder: Recorder) -> None:
    app = make_app(clock, recorder, token=None)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        status, _, body = await push(client, "others_d", {"value": 1, "token": TOKEN}, BEARER)
    assert status == 404
    assert body == {"error": "ingest is disabled: set INGEST_TOKEN"}
    assert recorder.samples == []


async def test_unknown_metric_after_auth_is_404_with_the_accepted_ids(
    client: TestClient, recorder: Recorder
) -> None:
    status, _, body = await push(client, "btc_dominance", {"value": 58.1}, BEARER)
    assert status == 404
    assert body["accepted"] == ["others_d", "tv_total3"]
    assert body["error"] == "unknown metric; accepted: others_d, tv_total3"
    assert recorder.samples == []


async def test_declared_large_body_is_413_without_being_read(client: TestClient) -> None:
    # A raw request that promises 10 MB and sends none of it: the answer must not wait for it.
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(
        b"POST /ingest/others_d HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: 10000000\r\n\r\n"
    )
    try:
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v for k, _, v in (ln.partition(": ") for ln in lines[1:] if ln)}
        payload = await reader.readexactly(int(headers["content-length"]))
    finally:
        writer.close()
        await writer.wait_closed()
    assert lines[0] == "HTTP/1.1 413 Request Entity Too Large"
    assert headers["connection"] == "close"
    assert json.loads(payload) == {"error": "body is larger than 4096 bytes"}


async def test_oversized_body_is_413(client: TestClient, recorder: Recorder) -> None:
    raw = json.dumps({"value": 1, "pad": "x" * 5000})
    status, _, body = await push(client, "others_d", raw, BEARER)
    assert status == 413
    assert body == {"error": "body is larger than 4096 bytes"}
    assert recorder.samples == []


async def test_oversized_chunked_body_is_413(client: TestClient, recorder: Recorder) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"value": 1, "pad": "'
        for _ in range(10):
            yield b"x" * 500
        yield b'"}'

    response = await client.post("/ingest/others_d", data=chunks(), headers=BEARER)
    assert response.request_info.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in response.request_info.headers
    assert response.status == 413
    assert await response.json() == {"error": "body is larger than 4096 bytes"}
    assert recorder.samples == []


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"value=8.5", "body is not valid JSON"),
        (b"", "body is not valid JSON"),
        (b'{"value": 8.5', "body is not valid JSON"),
        (b'{"value": "\xff"}', "body is not valid JSON"),
        (b"[" * 3000, "body is not valid JSON"),
        (b"[8.5]", 'body must be a JSON object such as {"value": 8.5}'),
        (b"8.5", 'body must be a JSON object such as {"value": 8.5}'),
    ],
    ids=["form", "empty", "truncated", "not-utf8", "deep", "array", "number"],
)
async def test_body_that_is_not_a_json_object_is_400(
    client: TestClient, recorder: Recorder, raw: bytes, error: str
) -> None:
    status, _, body = await push(client, "others_d", raw, BEARER)
    assert status == 400
    assert body == {"error": error}
    assert recorder.samples == []


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"value": "abc"}', "value"),
        ('{"value": "8,5"}', "value"),
        ('{"value": ""}', "value"),
        ('{"value": true}', "value"),
        ('{"value": null}', "value"),
        ('{"value": [1]}', "value"),
        ('{"value": NaN}', "value"),
        ('{"value": Infinity}', "value"),
        ('{"value": "nan"}', "value"),
        ('{"value": "inf"}', "value"),
        ('{"value": 1e400}', "value"),
        ('{"value": 1e16}', "value"),
        ('{"value": -2000000000000000}', "value"),
        ('{"value": 1' + "0" * 400 + "}", "value"),
        ('{"close": "{{close}}"}', "close"),
        ('{"price": false}', "price"),
        # The first key present decides; a bad value is not rescued by close.
        ('{"value": "x", "close": 2}', "value"),
        ('{"ticker": "OTHERS.D"}', "value"),
        # float() reads all of these; a pushed number is written in ASCII digits.
        ('{"value": "\u0663"}', "value"),
        ('{"close": "\uff18.\uff15"}', "close"),
        ('{"price": "1\u0966\u0966"}', "price"),
    ],
)
async def test_value_that_is_not_a_usable_number_is_422(
    client: TestClient, recorder: Recorder, raw: str, field: str
) -> None:
    status, _, body = await push(client, "others_d", raw, BEARER)
    assert status == 422
    assert body["field"] == field
    assert field in body["error"]
    assert recorder.samples == []


@pytest.mark.parametrize(
    ("when", "field", "problem"),
    [
        ({"at": "yesterday"}, "at", "must be an ISO 8601 time"),
        ({"at": ""}, "at", "must be an ISO 8601 time"),
        ({"at": True}, "at", "must be an ISO 8601 time"),
        ({"at": None}, "at", "must be an ISO 8601 time"),
        ({"at": "2026-13-01T00:00:00Z"}, "at", "must be an ISO 8601 time"),
        ({"at": "0001-01-01T00:00:00+05:00"}, "at", "must be an ISO 8601 time"),
        ({"at": 1e300}, "at", "is not a usable unix time"),
        ({"at": "2026-01-05T12:01:01Z"}, "at", "is 61 s in the future: at most 60 s of clock skew"),
        ({"at": "2026-01-05T12:04:50Z"}, "at", "is 290 s in the future: at most 60 s"),
        ({"at": 1767615000000}, "at", "is 600 s in the future"),
        ({"at": "٢٠٢٦-01-05T12:00:00Z"}, "at", "must be written with the ASCII"),
        ({"at": "１７６７６１４３１０"}, "at", "must be"),
        ({"at": "2025-12-06T11:59:59Z"}, "at", "is more than 30 days old"),
        ({"at": 0}, "at", "is more than 30 days old"),
        ({"timenow": "{{timenow}}"}, "timenow", "must be an ISO 8601 time"),
        ({"time": "2025-01-05T00:00:00Z"}, "time", "is more than 30 days old"),
        # `at` decides even when TradingView's times are good.
        ({"at": "soon", "timenow": "2026-01-05T12:00:00Z"}, "at", "must be an ISO 8601 time"),
    ],
)
async def test_time_that_is_unusable_is_422(
    client: TestClient, recorder: Recorder, when: dict[str, Any], field: str, problem: str
) -> None:
    status, _, body = await push(client, "others_d", {"value": 1, **when}, BEARER)
    assert status == 422
    assert body["field"] == field
    assert body["error"].startswith(f"{field} {problem}")
    assert recorder.samples == []


# --- rate limits --------------------------------------------------------------------------------


async def test_flood_is_capped_per_metric_and_leaves_the_rest_alone(
    client: TestClient, recorder: Recorder, clock: FakeClock
) -> None:
    flood = [client.post("/ingest/others_d", json={"value": n}, headers=BEARER) for n in range(50)]
    health = [client.get("/healthz") for _ in range(5)]
    responses = await asyncio.gather(*flood, *health)
    statuses = [r.status for r in responses[:50]]
    assert statuses.count(202) == 6
    assert statuses.count(429) == 44
    for response in responses[:50]:
        if response.status == 429:
            assert response.headers["Retry-After"] == "60"
            body = await response.json()
            assert body == {
                "error": "others_d: at most 6 pushes a minute",
                "retry_after": 60,
            }
    assert [r.status for r in responses[50:]] == [200] * 5
    assert len(recorder.samples) == 6

    # Another metric has its own budget.
    status, _, _ = await push(client, "tv_total3", {"value": 1}, BEARER)
    assert status == 202

    clock.advance(seconds=45)
    status, headers, _ = await push(client, "others_d", {"value": 1}, BEARER)
    assert (status, headers["Retry-After"]) == (429, "15")
    clock.advance(seconds=15)
    status, _, _ = await push(client, "others_d", {"value": 1}, BEARER)
    assert status == 202
    assert len(recorder.samples) == 8


async def test_refused_pushes_do_not_spend_the_budget(clock: FakeClock, recorder: Recorder) -> None:
    app = make_app(clock, recorder, per_minute=2)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        for body in ({"value": "x"}, {"at": "bad", "value": 1}, b"[]", b"{"):
            status, _, _ = await push(client, "others_d", body, BEARER)
            assert status in (400, 422)
        recorder.fail = StoreUnavailable("database is locked")
        status, _, _ = await push(client, "others_d", {"value": 1}, BEARER)
        assert status == 503
        recorder.fail = None
        statuses = [(await push(client, "others_d", {"value": n}, BEARER))[0] for n in range(3)]
    assert statuses == [202, 202, 429]
    assert [s.value for s in recorder.samples] == [0.0, 1.0]


async def test_failed_token_attempts_are_throttled_per_address_but_the_right_token_passes(
    client: TestClient, recorder: Recorder, clock: FakeClock
) -> None:
    for n in range(20):
        status, _, _ = await push(client, "others_d", {"value": 1}, {"X-Ingest-Token": f"g{n}"})
        assert status == 401
    clock.advance(seconds=10)
    # The 21st wrong token from this address is held for what is left of the minute.
    status, headers, body = await push(client, "others_d", {"value": 1}, {"X-Ingest-Token": "g"})
    assert status == 429
    assert headers["Retry-After"] == "50"
    assert body["error"] == "too many failed token attempts from this address"
    # A sender with the right token behind the same address (TradingView, a NAT) is not.
    status, _, body = await push(client, "others_d", {"value": 2}, BEARER)
    assert status == 202, body
    status, _, _ = await push(client, "tv_total3", {"value": 3, "token": TOKEN})
    assert status == 202
    assert [s.value for s in recorder.samples] == [2.0, 3.0]
    assert (await client.get("/healthz")).status == 200

    clock.advance(seconds=50)
    status, _, _ = await push(client, "others_d", {"value": 1}, {"X-Ingest-Token": "g"})
    assert status == 401


# --- the store ----------------------------------------------------------------------------------


async def test_store_down_is_503(client: TestClient, recorder: Recorder) -> None:
    recorder.fail = StoreUnavailable("connection refused")
    status, _, body = await push(client, "others_d", {"value": 1}, BEARER)
    assert status == 503
    assert body == {"error": "store unavailable; retry later"}
    assert recorder.samples == []


async def test_unexpected_accept_error_is_a_json_500_and_the_route_keeps_working(
    client: TestClient, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    recorder.fail = RuntimeError("bug")
    with caplog.at_level(logging.ERROR, logger="bot.web.ingest"):
        status, _, body = await push(client, "others_d", {"value": 1}, BEARER)
    assert status == 500
    assert body == {"error": "could not store the value"}
    assert "others_d could not be stored" in caplog.text
    recorder.fail = None
    status, _, _ = await push(client, "others_d", {"value": 1}, BEARER)
    assert status == 202


async def test_push_goes_through_the_store_and_rule_engine(store: Store, clock: FakeClock) -> None:
    engine = AlertEngine(store, RuleDefaults(), clock)
    app = make_app(clock, engine.ingest_sample, store=store)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        status, _, _ = await push(client, "others_d", {"value": 8.5}, BEARER)
        assert status == 202
        refused = [
            await push(client, "tv_total3", {"value": "abc"}, BEARER),
            await push(client, "tv_total3", {"value": 1}, {"X-Ingest-Token": WRONG}),
            await push(client, "tv_total3", {"value": 1, "at": "2020-01-01T00:00:00Z"}, BEARER),
        ]
        assert [status for status, _, _ in refused] == [422, 401, 422]
        assert (await client.get("/healthz")).status == 200
    latest = await store.latest_values()
    assert set(latest) == {"others_d"}
    assert (latest["others_d"].value, latest["others_d"].at) == (8.5, clock())
    assert latest["others_d"].source == "ingest"
    assert await store.samples_since("others_d", clock() - timedelta(days=1)) == [(clock(), 8.5)]
    assert await store.samples_since("tv_total3", clock() - timedelta(days=400)) == []


async def test_a_push_dated_ahead_never_hides_the_pushes_after_it(
    store: Store, clock: FakeClock
) -> None:
    engine = AlertEngine(store, RuleDefaults(), clock)
    app = make_app(clock, engine.ingest_sample, store=store)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        # 4 min 50 s ahead: refused, nothing stored.
        ahead = (clock() + timedelta(minutes=4, seconds=50)).isoformat()
        status, _, body = await push(client, "others_d", {"value": 9, "at": ahead}, BEARER)
        assert (status, body["field"]) == (422, "at")
        assert body["error"].startswith("at is 290 s in the future")
        # 50 s ahead (clock skew): stored as the time it arrived.
        skewed = (clock() + timedelta(seconds=50)).isoformat()
        status, _, body = await push(client, "others_d", {"value": 8.5, "at": skewed}, BEARER)
        assert (status, body["at"]) == (202, "2026-01-05T12:00:00Z")
        # The next real-time push, 10 s later, is the latest value.
        clock.advance(seconds=10)
        status, _, _ = await push(client, "others_d", {"value": 8.7}, BEARER)
        assert status == 202
    latest = await store.latest_values()
    assert (latest["others_d"].value, latest["others_d"].at) == (8.7, clock())
    assert [v for _, v in await store.samples_since("others_d", clock() - timedelta(days=1))] == [
        8.5,
        8.7,
    ]


# --- logging and config -------------------------------------------------------------------------


async def test_logs_name_the_push_and_the_address_but_never_a_token(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="bot.web.ingest"):
        await push(client, "others_d", {"value": 8.5}, BEARER)
        await push(client, "others_d", {"value": 1, "token": WRONG})
    accepted = [r for r in caplog.records if r.levelno == logging.INFO]
    refused = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in accepted] == ["ingest: others_d = 8.5 at 2026-01-05T12:00:00Z"]
    assert [r.getMessage() for r in refused] == ["ingest: missing or wrong token from 127.0.0.1"]
    assert TOKEN not in caplog.text
    assert WRONG not in caplog.text


def test_config_from_settings_keeps_the_token_out_of_repr() -> None:
    settings = load_settings(
        ingest_token=TOKEN, ingest_metrics="Others_D, tv_total3", ingest_per_minute=12
    )
    config = IngestConfig.from_settings(settings)
    assert config == IngestConfig(TOKEN, METRICS, 12)
    assert TOKEN not in repr(config)
    assert IngestConfig.from_settings(load_settings()).token is None


def test_token_helpers() -> None:
    headers = CIMultiDict({"authorization": "Bearer a", "x-ingest-token": "b"})
    query = MultiDict([("token", "c"), ("token", "d")])
    assert offered_tokens(headers, query, {"token": "e"}) == ["a", "b", "c", "d", "e"]
    assert offered_tokens(CIMultiDict(), MultiDict(), {"token": ["e"]}) == []
    assert token_matches(TOKEN, ["x", TOKEN])
    assert token_matches(TOKEN, [TOKEN, "x"])
    assert not token_matches(TOKEN, [])
    assert not token_matches(TOKEN, [TOKEN[:-1], TOKEN + " ", "\ud800"])


def test_parse_push_is_pure() -> None:
    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    body = {"close": "1.5e3", "timenow": "2026-01-05T13:59:00+02:00"}
    pushed = parse_push("others_d", body, now)
    assert pushed == Pushed("others_d", 1500.0, datetime(2026, 1, 5, 11, 59, tzinfo=UTC))
    assert pushed.sample() == Sample("others_d", 1500.0, pushed.at, "ingest")


@pytest.fixture
def tokyo_local_time() -> Iterator[None]:
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Tokyo"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.mark.usefixtures("tokyo_local_time")
def test_time_without_offset_is_utc_whatever_the_host_zone() -> None:
    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    at = read_time({"at": "2026-01-05T11:58:30"}, now)
    assert at == datetime(2026, 1, 5, 11, 58, 30, tzinfo=UTC)
    assert at.tzinfo is UTC
