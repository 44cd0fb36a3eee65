"""One way to call a feed over HTTP: timeouts, pacing, and library errors turned into typed ones."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp
from multidict import CIMultiDict

from signals.types import BadPayload, RateLimited, SourceUnavailable
from timing import IntervalPacer

# Yahoo answers 429 to the default aiohttp agent; a current desktop browser string gets through.
BROWSER_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
DEFAULT_TIMEOUT = 20.0
_SNIPPET = 60


class HttpRefused(SourceUnavailable):
    """The provider refused the request with a client error other than 429 (e.g. 404)."""

    def __init__(self, source: str, status: int, path: str) -> None:
        super().__init__(source, f"HTTP {status} for {path}")
        self.status = status
        self.path = path


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Parse a Retry-After header (seconds or an HTTP date) into seconds from `now`."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True, slots=True)
class FeedResponse:
    """A provider's answer, read in full."""

    path: str
    status: int
    headers: Mapping[str, str]
    content_type: str
    body: bytes

    def text(self, source: str) -> str:
        """Return the body as UTF-8 text, or raise `BadPayload`."""
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadPayload(source, "body", f"{self.path} is not UTF-8 text") from None


class FeedClient:
    """GET from one provider's root URL and translate every failure into a `SourceError`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        source: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        pacer: IntervalPacer | None = None,
    ) -> None:
        self.source = source
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._headers = dict(headers or {})
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._pacer = pacer

    async def get_json(self, path: str, params: Mapping[str, str | int] | None = None) -> object:
        """Return the decoded JSON body of GET `path`, or raise a typed `SourceError`."""
        response = await self.get(path, params)
        self.check_status(response)
        return self._decode(path, response.body, response.content_type)

    async def get_text(self, path: str, params: Mapping[str, str | int] | None = None) -> str:
        """Return the UTF-8 body of GET `path` (CSV, HTML), or raise a typed `SourceError`."""
        response = await self.get(path, params)
        self.check_status(response)
        return response.text(self.source)

    async def get(self, path: str, params: Mapping[str, str | int] | None = None) -> FeedResponse:
        """GET `path` and return the response whatever its status; transport failures raise."""
        if self._pacer is not None:
            await self._pacer.wait()
        url = f"{self.base_url}{path}"
        query = {key: str(value) for key, value in (params or {}).items()}
        try:
            async with self._session.get(
                url, params=query, headers=self._headers, timeout=self._timeout
            ) as response:
                return FeedResponse(
                    path=path,
                    status=response.status,
                    # Case-insensitive, as HTTP headers are (HTTP/2 sends them lower-case).
                    headers=CIMultiDict(response.headers),
                    content_type=response.content_type,
                    body=await response.read(),
                )
        except TimeoutError:
            raise SourceUnavailable(
                self.source, f"no answer from {path} within {self._timeout.total:g} s"
            ) from None
        except aiohttp.ClientPayloadError as exc:
            raise BadPayload(self.source, "body", f"truncated body from {path}: {exc}") from None
        except aiohttp.ClientError as exc:
            raise SourceUnavailable(self.source, f"{type(exc).__name__} on {path}: {exc}") from None

    def check_status(self, response: FeedResponse) -> None:
        """Raise the typed error a non-200 status means: 429, 5xx, other 4xx, anything else."""
        path, status = response.path, response.status
        if status == 429:
            reference = _reference(response.headers.get("Date"))
            raise RateLimited(
                self.source, retry_after_seconds(response.headers.get("Retry-After"), reference)
            )
        if status >= 500:
            raise SourceUnavailable(self.source, f"HTTP {status} for {path}")
        if status >= 400:
            raise HttpRefused(self.source, status, path)
        if status != 200:
            raise SourceUnavailable(self.source, f"unexpected HTTP {status} for {path}")

    def _decode(self, path: str, body: bytes, content_type: str) -> object:
        try:
            return json.loads(body)
        except ValueError:
            # Proxies and bot walls answer 200 with an HTML page; name what came back.
            snippet = body[:_SNIPPET].decode("utf-8", "replace").strip()
            raise BadPayload(
                self.source,
                "body",
                f"{path} sent {content_type or 'no type'}, not JSON: {snippet!r}",
            ) from None


def _reference(server_date: str | None) -> datetime:
    # An HTTP-date Retry-After is relative to the server's clock when it sent one.
    if server_date:
        try:
            when = parsedate_to_datetime(server_date)
        except (TypeError, ValueError):
            return datetime.now(UTC)
        return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return datetime.now(UTC)
