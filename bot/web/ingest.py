"""Pushed-in metrics: `POST /ingest/<metric>` turns an authenticated JSON value into a `Sample`.

A push is `{"value": <number>, "at": <time>}` or a TradingView alert message such as
`{"token": "...", "close": "{{close}}", "timenow": "{{timenow}}"}`. The value is the first of
`value`, `close`, `price` present; a number or a numeric string. The time is the first of `at`,
`timenow`, `time` present (`timenow` before `time` because TradingView's `{{time}}` is the bar's
open, not when the value held): ISO 8601 with `Z` or an offset, a time without an offset is UTC,
or unix seconds or milliseconds; absent means now. Numbers and times are written in ASCII digits.

A time ahead of the bot's clock is clock skew: up to `FUTURE_SLACK` (60 s) it is stored as the
time the push arrived, so a point dated ahead never hides the real-time pushes after it; further
ahead it is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiohttp import web
from multidict import MultiMapping

from bot.model.text import describe, foreign_digit
from bot.settings import Settings
from bot.storage import StoreUnavailable
from signals.types import Sample
from timing import SlidingWindows, WallClock

log = logging.getLogger(__name__)

Accept = Callable[[Sample], Awaitable[object]]

SOURCE = "ingest"
MAX_BODY = 4 * 1024
# A body must arrive within this; a client trickling it holds a connection no longer.
BODY_TIMEOUT = 10.0
MAX_ABS_VALUE = 1e15
# Clock skew accepted on a pushed time; a later time is refused, an earlier one stored as "now".
FUTURE_SLACK = timedelta(seconds=60)
MAX_AGE = timedelta(days=30)
WINDOW = timedelta(seconds=60)
AUTH_FAILURES_PER_MINUTE = 20
VALUE_KEYS = ("value", "close", "price")
TIME_KEYS = ("at", "timenow", "time")
DISABLED = "ingest is disabled: set INGEST_TOKEN"

# ASCII digits only: `\d` and float() also take Arabic-Indic, Devanagari and full-width digits.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Unix times this large are milliseconds: 1e11 seconds is the year 5138, 1e11 ms is 1973.
_MILLIS_FROM = 1e11
_MAX_TIME_TEXT = 64
# Failed-auth bookkeeping is per client address; sweep idle ones once this many are tracked.
_SWEEP_AT = 4096
# The limits count in whole microseconds since the epoch: exact, as the datetimes they come from.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TICK = timedelta(microseconds=1)
_TICKS_PER_SECOND = 1_000_000


@dataclass(frozen=True, slots=True)
class IngestConfig:
    """Who may push (the token), which metric ids, and how often each."""

    token: str | None = field(repr=False)
    metrics: frozenset[str]
    per_minute: int

    def __post_init__(self) -> None:
        if self.per_minute < 1:
            raise ValueError("IngestConfig.per_minute must be at least 1")

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestConfig:
        """Build the config from `INGEST_TOKEN`, `INGEST_METRICS` and `INGEST_PER_MINUTE`."""
        secret = settings.ingest_token
        token = secret.get_secret_value() if secret is not None else None
        return cls(token or None, frozenset(settings.ingest_metrics), settings.ingest_per_minute)


@dataclass(frozen=True, slots=True)
class Pushed:
    """One validated push: the metric, its value and the UTC time it held."""

    metric: str
    value: float
    at: datetime

    def sample(self) -> Sample:
        """Return the push as the `Sample` the rule engine takes."""
        return Sample(self.metric, self.value, self.at, SOURCE)


class Rejected(Exception):
    """A push the route refuses: the HTTP status and the short reason the caller sees."""

    def __init__(
        self,
        status: int,
        error: str,
        *,
        field_name: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.field_name = field_name
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    @classmethod
    def too_many(cls, error: str, wait: float) -> Rejected:
        """Return a 429 telling the caller how many whole seconds to wait."""
        seconds = max(1, math.ceil(wait))
        return cls(
            429, error, headers={"Retry-After": str(seconds)}, extra={"retry_after": seconds}
        )

    def response(self) -> web.Response:
        """Return the JSON error response."""
        body: dict[str, object] = {"error": self.error}
        if self.field_name is not None:
            body["field"] = self.field_name
        body.update(self.extra)
        response = web.json_response(body, status=self.status, headers=self.headers)
        if self.status in (408, 413):
            # The rest of the body is not wanted; do not reuse the connection after it.
            response.force_close()
        return response


def parse_body(raw: bytes) -> dict[str, object]:
    """Decode the request body as a JSON object."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise Rejected(400, "body is not valid JSON") from None
    if not isinstance(data, dict):
        raise Rejected(400, 'body must be a JSON object such as {"value": 8.5}')
    return data


def offered_tokens(
    headers: MultiMapping[str], query: MultiMapping[str], body: Mapping[str, object]
) -> list[str]:
    """Return every token the caller offered: bearer header, `X-Ingest-Token`, `?token=`, body."""
    offered: list[str] = []
    for authorization in headers.getall("Authorization", []):
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            offered.append(credentials.strip())
    offered.extend(headers.getall("X-Ingest-Token", []))
    offered.extend(query.getall("token", []))
    in_body = body.get("token")
    if isinstance(in_body, str):
        offered.append(in_body)
    return offered


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def token_matches(expected: str, offered: Iterable[str]) -> bool:
    """Return whether any offered token equals `expected`, comparing each in constant time."""
    want = _digest(expected)
    matched = False
    for candidate in offered:
        # Digests have one length, so the comparison does not reveal the token's length either.
        matched |= hmac.compare_digest(want, _digest(candidate))
    return matched


def _bad(key: str, problem: str) -> Rejected:
    return Rejected(422, f"{key} {problem}", field_name=key)


def _number(key: str, raw: object) -> float:
    if isinstance(raw, bool):
        raise _bad(key, "must be a number, not true or false")
    number: float | int
    if isinstance(raw, int | float):
        number = raw
    elif isinstance(raw, str) and (digit := foreign_digit(raw)) is not None:
        raise _bad(key, f"must be written with the ASCII digits 0-9, not {describe(digit)}")
    elif isinstance(raw, str) and _NUMBER.fullmatch(raw.strip()):
        number = float(raw.strip())
    else:
        raise _bad(key, "must be a number or a numeric string")
    if isinstance(number, float) and not math.isfinite(number):
        raise _bad(key, "must be a finite number")
    if abs(number) > MAX_ABS_VALUE:
        raise _bad(key, f"is out of range (more than {MAX_ABS_VALUE:g} in size)")
    return float(number)


def read_value(body: Mapping[str, object]) -> float:
    """Return the pushed number: the first of `value`, `close`, `price` the body has."""
    for key in VALUE_KEYS:
        if key in body:
            return _number(key, body[key])
    raise Rejected(
        422,
        'no value: send {"value": <number>} (or TradingView\'s close/price)',
        field_name="value",
    )


def _from_unix(key: str, number: float) -> datetime:
    try:
        seconds = number / 1000 if abs(number) >= _MILLIS_FROM else number
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise _bad(key, "is not a usable unix time") from None


def _instant(key: str, raw: object) -> datetime:
    problem = "must be an ISO 8601 time (e.g. 2024-01-03T15:04:05Z) or unix seconds"
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise _bad(key, problem)
    if not isinstance(raw, str):
        return _from_unix(key, raw)
    text = raw.strip()
    if len(text) > _MAX_TIME_TEXT:
        raise _bad(key, problem)
    digit = foreign_digit(text)
    if digit is not None:
        raise _bad(key, f"must be written with the ASCII digits 0-9, not {describe(digit)}")
    if _NUMBER.fullmatch(text):
        return _from_unix(key, float(text))
    try:
        parsed = datetime.fromisoformat(text)
        # A time without an offset is UTC: TradingView and most tools that push send UTC.
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _bad(key, problem) from None


def read_time(body: Mapping[str, object], now: datetime) -> datetime:
    """Return when the value held: the first of `at`, `timenow`, `time`, else `now`.

    A time up to `FUTURE_SLACK` ahead of `now` is clock skew and comes back as `now`: stored with
    a future time, the point would hide every real-time push until that time had passed.
    """
    key = next((k for k in TIME_KEYS if k in body), None)
    if key is None:
        return now
    at = _instant(key, body[key])
    if at > now + FUTURE_SLACK:
        ahead = (at - now).total_seconds()
        raise _bad(
            key,
            f"is {ahead:.0f} s in the future: at most {FUTURE_SLACK.seconds} s of clock skew is "
            "accepted; send the time the value held, in UTC or with an offset",
        )
    if at < now - MAX_AGE:
        raise _bad(key, "is more than 30 days old")
    return min(at, now)


def parse_push(metric: str, body: Mapping[str, object], now: datetime) -> Pushed:
    """Validate a decoded push for `metric` into a `Pushed`."""
    return Pushed(metric, read_value(body), read_time(body, now))


async def read_limited(
    request: web.BaseRequest, limit: int = MAX_BODY, within: float = BODY_TIMEOUT
) -> bytes:
    """Read the body, refusing one larger than `limit` bytes without reading past it, and one
    that has not arrived within `within` seconds (a client trickling it) with 408."""
    too_large = Rejected(413, f"body is larger than {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    body = bytearray()
    try:
        async with asyncio.timeout(within):
            while len(body) <= limit:
                chunk = await request.content.read(limit + 1 - len(body))
                if not chunk:
                    break
                body += chunk
    except TimeoutError:
        raise Rejected(408, f"body not received within {within:g} s") from None
    if len(body) > limit:
        raise too_large
    return bytes(body)


def _ticks(at: datetime) -> int:
    return (at - _EPOCH) // _TICK


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


class _IngestRoute:
    """The state behind the route: the config and the two rate limits."""

    def __init__(
        self, config: IngestConfig, accept: Accept, clock: WallClock, body_timeout: float
    ) -> None:
        self._config = config
        self._body_timeout = body_timeout
        self._accept = accept
        self._clock = clock
        span = WINDOW // _TICK
        self._budget: SlidingWindows[str] = SlidingWindows(
            config.per_minute, span, forget_idle_at=_SWEEP_AT
        )
        self._auth_failures: SlidingWindows[str] = SlidingWindows(
            AUTH_FAILURES_PER_MINUTE, span, forget_idle_at=_SWEEP_AT
        )

    async def handle(self, request: web.Request) -> web.Response:
        """Answer one push: 202 with what was stored, or a JSON error."""
        try:
            pushed = await self._admit(request)
            return await self._store(pushed)
        except Rejected as exc:
            return exc.response()

    async def _admit(self, request: web.Request) -> Pushed:
        """Check the token, then the metric, then the body; raise `Rejected` at the first fault."""
        token = self._config.token
        if token is None:
            raise Rejected(404, DISABLED)
        now = self._clock()
        client = request.remote or "unknown"
        raw = await read_limited(request, within=self._body_timeout)
        # The token may be in the body, so decode first but report a bad body only after auth.
        problem: Rejected | None = None
        body: dict[str, object] = {}
        try:
            body = parse_body(raw)
        except Rejected as exc:
            problem = exc
        # The token is compared first (in constant time) and only failures are throttled: senders
        # behind one address (TradingView's, a NAT) keep pushing while a guesser there is held.
        if not token_matches(token, offered_tokens(request.headers, request.query, body)):
            wait = self._auth_failures.wait(client, _ticks(now))
            if wait > 0:
                raise Rejected.too_many(
                    "too many failed token attempts from this address", wait / _TICKS_PER_SECOND
                )
            self._auth_failures.record(client, _ticks(now))
            log.warning("ingest: missing or wrong token from %s", client)
            raise Rejected(401, "missing or wrong token", headers={"WWW-Authenticate": "Bearer"})
        metric = request.match_info["metric"]
        if metric not in self._config.metrics:
            accepted = sorted(self._config.metrics)
            listed = ", ".join(accepted) or "none (set INGEST_METRICS)"
            raise Rejected(404, f"unknown metric; accepted: {listed}", extra={"accepted": accepted})
        if problem is not None:
            raise problem
        return parse_push(metric, body, now)

    async def _store(self, pushed: Pushed) -> web.Response:
        """Spend one of the metric's pushes this minute on `pushed` and hand it to `accept`."""
        metric = pushed.metric
        now = _ticks(self._clock())
        wait = self._budget.wait(metric, now)
        if wait > 0:
            limit = self._config.per_minute
            raise Rejected.too_many(
                f"{metric}: at most {limit} pushes a minute", wait / _TICKS_PER_SECOND
            )
        try:
            with self._budget.held(metric, now):
                await self._accept(pushed.sample())
        except StoreUnavailable as exc:
            log.warning("ingest: %s not stored, store unavailable: %s", metric, exc)
            raise Rejected(503, "store unavailable; retry later") from None
        except Exception:
            # A bug or an untranslated database error: log it in full, answer JSON, keep serving.
            log.exception("ingest: %s could not be stored", metric)
            raise Rejected(500, "could not store the value") from None
        log.info("ingest: %s = %s at %s", metric, pushed.value, _iso(pushed.at))
        return web.json_response(
            {"metric": metric, "value": pushed.value, "at": _iso(pushed.at)}, status=202
        )


def add_ingest_routes(
    app: web.Application,
    config: IngestConfig,
    accept: Accept,
    clock: WallClock,
    *,
    body_timeout: float = BODY_TIMEOUT,
) -> None:
    """Register `POST /ingest/{metric}` on `app`, handing each valid push to `accept`."""
    route = _IngestRoute(config, accept, clock, body_timeout)
    app.router.add_post("/ingest/{metric}", route.handle)
