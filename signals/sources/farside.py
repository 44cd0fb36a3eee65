"""Farside Investors: the `btc_etf_flow` source (US spot Bitcoin ETFs' daily net flow, USD m)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import aiohttp

from signals.etf import DailyFlow, is_challenge, parse_flows
from signals.http import BROWSER_USER_AGENT, DEFAULT_TIMEOUT, HttpRefused, retry_after_seconds
from signals.types import (
    BadPayload,
    FetchResult,
    RateLimited,
    Sample,
    SourceUnavailable,
    Stale,
)

PROVIDER = "farside"
DEFAULT_URL = "https://farside.co.uk"
FLOWS_PATH = "/bitcoin-etf-flow-all-data/"
METRIC = "btc_etf_flow"
# Cloudflare answers its interstitial with one of these statuses.
_CHALLENGE_STATUSES = frozenset({403, 503})
# Days re-sent on each later refresh: a long weekend plus a holiday, with room to spare.
_RESEND = 5


class FarsideEtfFlows:
    """The `btc_etf_flow` source, read from Farside's all-data table.

    Each sample holds at 00:00 UTC of its trading day (Farside dates carry no time). The
    first refresh returns every day but the newest as `FetchResult.history`, oldest first,
    with the newest in `samples`; later refreshes return the newest few days again and the
    rule engine drops those it has seen. A bot-wall page (Cloudflare's "Just a moment...")
    or a page without the table yields a `Stale` notice, never a number.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str = DEFAULT_URL,
        *,
        name: str = PROVIDER,
        user_agent: str = BROWSER_USER_AGENT,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.name = name
        self._session = session
        self._url = f"{base_url.rstrip('/')}{FLOWS_PATH}"
        self._headers = {"User-Agent": user_agent, "Accept": "text/html"}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._started = False

    async def fetch(self, now: datetime) -> FetchResult:
        """Download the table and return the daily totals as samples."""
        status, mitigated, page = await self._get()
        if status in _CHALLENGE_STATUSES and (mitigated or is_challenge(page)):
            return _stale(f"Cloudflare challenge (HTTP {status})")
        if status >= 500:
            raise SourceUnavailable(PROVIDER, f"HTTP {status} for {FLOWS_PATH}")
        if status >= 400:
            raise HttpRefused(PROVIDER, status, FLOWS_PATH)
        if status != 200:
            raise SourceUnavailable(PROVIDER, f"unexpected HTTP {status} for {FLOWS_PATH}")
        flows = parse_flows(PROVIDER, page)
        if flows is None:
            kind = "Cloudflare challenge" if is_challenge(page) else "no flow table"
            return _stale(f"{kind} (HTTP 200)")
        if not flows:
            return _stale("the flow table has no day with data")
        points = tuple(self._sample(flow) for flow in flows)
        if not self._started:
            self._started = True
            return FetchResult(samples=points[-1:], history=points[:-1])
        return FetchResult(samples=points[-_RESEND:])

    async def _get(self) -> tuple[int, bool, str]:
        try:
            async with self._session.get(
                self._url, headers=self._headers, timeout=self._timeout
            ) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After")
                mitigated = response.headers.get("cf-mitigated", "").lower() == "challenge"
                body = await response.read()
        except TimeoutError:
            raise SourceUnavailable(
                PROVIDER, f"no answer from {FLOWS_PATH} within {self._timeout.total:g} s"
            ) from None
        except aiohttp.ClientPayloadError as exc:
            raise BadPayload(PROVIDER, "body", f"truncated body from {FLOWS_PATH}: {exc}") from None
        except aiohttp.ClientError as exc:
            raise SourceUnavailable(
                PROVIDER, f"{type(exc).__name__} on {FLOWS_PATH}: {exc}"
            ) from None
        if status == 429:
            raise RateLimited(PROVIDER, retry_after_seconds(retry_after, datetime.now(UTC)))
        # A bad byte must not hide the table; a mangled number is still refused by the parser.
        return status, mitigated, body.decode("utf-8", "replace")

    def _sample(self, flow: DailyFlow) -> Sample:
        return Sample(METRIC, flow.usd_m, _midnight(flow.day), self.name)


def _stale(reason: str) -> FetchResult:
    return FetchResult(stale=(Stale(METRIC, reason),))


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
