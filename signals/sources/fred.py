"""FRED's graph CSV: the `net_liquidity` source (WALCL - WTREGEN - RRPONTSYD, USD bn)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import aiohttp
import pandas as pd

from signals.http import DEFAULT_TIMEOUT, FeedClient
from signals.liquidity import four_week_changes, net_liquidity
from signals.specs.fred import FredMetric
from signals.types import BadPayload, FetchResult, Sample

PROVIDER = "fred"
DEFAULT_URL = "https://fred.stlouisfed.org"
CSV_PATH = "/graph/fredgraph.csv"
BALANCE_SHEET = "WALCL"
TREASURY_ACCOUNT = "WTREGEN"
REVERSE_REPO = "RRPONTSYD"
METRIC = FredMetric.NET_LIQUIDITY
CHANGE_METRIC = FredMetric.NET_LIQUIDITY_4W
# FRED writes a missing observation (a holiday) as "." or leaves the value empty.
_MISSING = frozenset({"", "."})
_SNIPPET = 60


def parse_fred_csv(series_id: str, text: str) -> pd.Series:
    """Return a FRED graph CSV's observations indexed by date, skipping missing ones.

    Raise `BadPayload` for anything but `observation_date,<series_id>` rows of ISO dates,
    in increasing order, and finite numbers, ending with a newline.
    """
    stripped = text.lstrip("\ufeff")
    if stripped.lstrip().startswith("<"):
        snippet = stripped[:_SNIPPET].strip()
        raise BadPayload(PROVIDER, series_id, f"an HTML page, not CSV: {snippet!r}")
    # FRED ends every row with a newline; without one the body was cut mid-row.
    if not stripped.endswith("\n"):
        raise BadPayload(PROVIDER, series_id, "body ends mid-row (truncated)")
    lines = stripped.splitlines()
    expected = f"observation_date,{series_id}"
    if not lines or lines[0].strip() != expected:
        header = lines[0][:_SNIPPET] if lines else ""
        raise BadPayload(PROVIDER, series_id, f"header {header!r}, expected {expected!r}")
    days: list[date] = []
    values: list[float] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        day, value = _row(series_id, number, line)
        if days and day <= days[-1]:
            raise BadPayload(PROVIDER, series_id, f"line {number}: {day} is not after {days[-1]}")
        if value is not None:
            days.append(day)
            values.append(value)
    return pd.Series(values, index=pd.DatetimeIndex(days), name=series_id, dtype=float)


def _row(series_id: str, number: int, line: str) -> tuple[date, float | None]:
    cells = line.rstrip("\r").split(",")
    if len(cells) != 2:
        raise BadPayload(PROVIDER, series_id, f"line {number}: {len(cells)} fields, expected 2")
    raw_day, raw_value = (cell.strip() for cell in cells)
    try:
        day = date.fromisoformat(raw_day)
    except ValueError:
        raise BadPayload(PROVIDER, series_id, f"line {number}: bad date {raw_day!r}") from None
    if raw_value in _MISSING:
        return day, None
    try:
        value = float(raw_value)
    except ValueError:
        raise BadPayload(PROVIDER, series_id, f"line {number}: bad value {raw_value!r}") from None
    if not math.isfinite(value):
        raise BadPayload(PROVIDER, series_id, f"line {number}: value {raw_value!r} not finite")
    return day, value


class FredClient:
    """Download FRED series as graph CSV and translate every failure into a `SourceError`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str = DEFAULT_URL,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._feed = FeedClient(session, PROVIDER, base_url, timeout=timeout)

    async def series(self, series_id: str, since: date | None = None) -> pd.Series:
        """Return the observations of `series_id`, all of them or those from `since` on."""
        params = {"id": series_id}
        if since is not None:
            params["cosd"] = since.isoformat()
        return parse_fred_csv(series_id, await self._feed.get_text(CSV_PATH, params))


@dataclass(frozen=True, slots=True)
class _Window:
    """How far back a later refresh asks, and how many of the newest points it re-sends."""

    # Four weeks for the change, plus a week to carry the weekly series forward.
    lookback: timedelta = timedelta(days=42)
    resend: int = 7


class FredLiquidity:
    """The `net_liquidity` source: WALCL/1000 - WTREGEN/1000 - RRPONTSYD, in USD billions.

    It also publishes `net_liquidity_4w`, each date's change over the four weeks before it.
    Each sample holds at 00:00 UTC of its observation date (FRED dates carry no time). The
    first refresh downloads the three series in full and returns every point but the newest
    as `FetchResult.history`, oldest first, with the newest in `samples`. Later refreshes ask
    only for the last five weeks (enough to carry the weekly series forward) and return the
    newest few points again; the rule engine drops the ones it has seen.
    """

    def __init__(self, client: FredClient, *, name: str = PROVIDER) -> None:
        self.name = name
        self._client = client
        self._window = _Window()
        self._newest: date | None = None

    async def fetch(self, now: datetime) -> FetchResult:
        """Download the three series and return net liquidity samples."""
        since = None if self._newest is None else self._newest - self._window.lookback
        walcl = await self._client.series(BALANCE_SHEET, since)
        wtregen = await self._client.series(TREASURY_ACCOUNT, since)
        rrp = await self._client.series(REVERSE_REPO, since)
        liquidity = net_liquidity(walcl, wtregen, rrp)
        if liquidity.empty:
            raise BadPayload(PROVIDER, METRIC, "the three series share no date")
        points = self._points(METRIC, liquidity)
        changes = self._points(CHANGE_METRIC, four_week_changes(liquidity))
        first = self._newest is None
        self._newest = points[-1].at.date()
        if first:
            return FetchResult(
                samples=points[-1:] + changes[-1:], history=points[:-1] + changes[:-1]
            )
        resend = self._window.resend
        return FetchResult(samples=points[-resend:] + changes[-resend:])

    def _points(self, metric: str, series: pd.Series) -> tuple[Sample, ...]:
        days = pd.DatetimeIndex(series.index)
        return tuple(
            Sample(metric, float(value), _midnight(stamp.date()), self.name)
            for stamp, value in zip(days, series.to_list(), strict=True)
        )


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
