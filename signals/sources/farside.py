"""Farside Investors: the `btc_etf_flow` source (US spot Bitcoin ETFs' daily net flow, USD m)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import aiohttp

from signals.etf import DailyFlow, inflow_streaks, is_challenge, parse_flows
from signals.http import BROWSER_USER_AGENT, DEFAULT_TIMEOUT, FeedClient
from signals.specs.farside import FarsideMetric
from signals.types import (
    FetchResult,
    Sample,
    Stale,
)

PROVIDER = "farside"
DEFAULT_URL = "https://farside.co.uk"
FLOWS_PATH = "/bitcoin-etf-flow-all-data/"
METRIC = FarsideMetric.BTC_ETF_FLOW
STREAK_METRIC = FarsideMetric.BTC_ETF_STREAK
# Cloudflare answers its interstitial with one of these statuses.
_CHALLENGE_STATUSES = frozenset({403, 503})
# Days re-sent on each later refresh: a long weekend plus a holiday, with room to spare.
_RESEND = 5


class FarsideEtfFlows:
    """The `btc_etf_flow` source, read from Farside's all-data table: one HTTP call a refresh.

    It also publishes `btc_etf_streak`, the run of net-inflow days ending on each day.

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
        headers = {"User-Agent": user_agent, "Accept": "text/html"}
        self._feed = FeedClient(session, PROVIDER, base_url, headers=headers, timeout=timeout)
        self._started = False

    async def fetch(self, now: datetime) -> FetchResult:
        """Download the table and return the daily totals as samples."""
        response = await self._feed.get(FLOWS_PATH)
        # A bad byte must not hide the table; a mangled number is still refused by the parser.
        page = response.body.decode("utf-8", "replace")
        mitigated = response.headers.get("cf-mitigated", "").lower() == "challenge"
        if response.status in _CHALLENGE_STATUSES and (mitigated or is_challenge(page)):
            return _stale(f"Cloudflare challenge (HTTP {response.status})")
        self._feed.check_status(response)
        flows = parse_flows(PROVIDER, page)
        if flows is None:
            kind = "Cloudflare challenge" if is_challenge(page) else "no flow table"
            return _stale(f"{kind} (HTTP 200)")
        if not flows:
            return _stale("the flow table has no day with data")
        ordered = sorted(flows, key=lambda flow: flow.day)
        points = tuple(self._sample(flow) for flow in ordered)
        streaks = tuple(
            Sample(STREAK_METRIC, float(run), _midnight(day), self.name)
            for day, run in inflow_streaks(ordered)
        )
        if not self._started:
            self._started = True
            return FetchResult(
                samples=points[-1:] + streaks[-1:], history=points[:-1] + streaks[:-1]
            )
        return FetchResult(samples=points[-_RESEND:] + streaks[-_RESEND:])

    def _sample(self, flow: DailyFlow) -> Sample:
        return Sample(METRIC, flow.usd_m, _midnight(flow.day), self.name)


def _stale(reason: str) -> FetchResult:
    return FetchResult(stale=(Stale(METRIC, reason), Stale(STREAK_METRIC, reason)))


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
