"""A local fake of FRED's graph CSV endpoint and Farside's ETF flow page, scriptable per test.

Set `fred` (series id -> `(date, value)` rows, values as FRED writes them, "." or "" for a
missing point) and `farside` (the page's HTML), or queue exact replies: per series with
`queue_series`, or per path with `queue` (a Cloudflare challenge, a 429 with Retry-After, a
500, a truncated body, a hang); queued replies go out first, in order. Every request is
recorded in `seen`, so a test can count calls and check query and headers.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from datetime import date

from aiohttp import web

from tests.fakes.feeds import FeedServer, Reply

FRED_PATH = "/graph/fredgraph.csv"
FARSIDE_PATH = "/bitcoin-etf-flow-all-data/"

CHALLENGE_PAGE = (
    '<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>'
    '<meta http-equiv="refresh" content="390"></head><body><div class="main-wrapper">'
    "<noscript>Enable JavaScript and cookies to continue</noscript></div>"
    '<script>window._cf_chl_opt={cvId: "3",cType: "managed"};</script></body></html>'
)


def challenge(status: int = 403) -> Reply:
    """Return Cloudflare's "Just a moment..." interstitial with `status`."""
    return Reply(
        status,
        raw=CHALLENGE_PAGE.encode(),
        content_type="text/html",
        headers={"cf-mitigated": "challenge", "Server": "cloudflare"},
    )


def csv_reply(text: str, *, truncate: int | None = None) -> Reply:
    """Return a 200 carrying CSV `text`, cut after `truncate` bytes when given."""
    return Reply(raw=text.encode(), content_type="text/csv", truncate=truncate)


def html_reply(text: str, status: int = 200) -> Reply:
    """Return an HTML page with `status`."""
    return Reply(status, raw=text.encode(), content_type="text/html")


def fred_csv(series_id: str, rows: Sequence[tuple[str, str]]) -> str:
    """Return a graph CSV body as FRED writes it: header, then one `date,value` row each."""
    lines = [f"observation_date,{series_id}", *(f"{day},{value}" for day, value in rows)]
    return "\n".join(lines) + "\n"


def farside_page(tickers: Sequence[str], days: Sequence[tuple[str, Sequence[str], str]]) -> str:
    """Return Farside's all-data page: `days` are (`11 Jan 2024`, per-fund cells, total cell).

    The table carries a ticker header, a fee row and the summary rows Farside puts under the
    days, each cell's text wrapped in a span as on the real page.
    """

    def row(cells: Sequence[str], tag: str = "td") -> str:
        inner = "".join(f'<{tag}><span class="tabletext">{cell}</span></{tag}>' for cell in cells)
        return f"<tr>{inner}</tr>"

    head = row(["", *tickers, "Total"], "th") + row(["Fee", *("0.25%" for _ in tickers), ""], "th")
    body = "".join(row([day, *funds, total]) for day, funds, total in days)
    summary = "".join(
        row([label, *("" for _ in tickers), "0.0"]) for label in ("Total", "Average", "Maximum")
    )
    return (
        "<!DOCTYPE html><html><head><title>Bitcoin ETF Flow – All Data – Farside Investors"
        "</title></head><body><h1>Bitcoin ETF Flow (US$m)</h1>"
        f'<table class="etf"><thead>{head}</thead><tbody>{body}</tbody>'
        f"<tfoot>{summary}</tfoot></table></body></html>"
    )


class MacroServer(FeedServer):
    """An aiohttp app on 127.0.0.1 (ephemeral port) speaking FRED's CSV and Farside's HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.fred: dict[str, list[tuple[str, str]]] = {}
        self.farside: str | None = None
        self._series_queues: dict[str, deque[Reply]] = defaultdict(deque)

    async def __aenter__(self) -> MacroServer:
        await super().__aenter__()
        return self

    def queue_series(self, series_id: str, *replies: Reply) -> None:
        """Serve `replies`, in order, to the next requests for FRED series `series_id`."""
        self._series_queues[series_id].extend(replies)

    def _routes(self) -> Sequence[tuple[str, Callable[[web.Request, str], Reply]]]:
        return ((FRED_PATH, self._fred), (FARSIDE_PATH, self._farside))

    def _fred(self, request: web.Request, _: str) -> Reply:
        series_id = request.query.get("id", "")
        queued = self._series_queues.get(series_id)
        if queued:
            return queued.popleft()
        rows = self.fred.get(series_id)
        if rows is None:
            return html_reply("<html><body>Series not found</body></html>", 404)
        since = request.query.get("cosd")
        if since is not None:
            start = date.fromisoformat(since)
            rows = [(day, value) for day, value in rows if date.fromisoformat(day) >= start]
        return csv_reply(fred_csv(series_id, rows))

    def _farside(self, request: web.Request, _: str) -> Reply:
        if self.farside is None:
            return html_reply("<html><body>Not scripted</body></html>", 404)
        return html_reply(self.farside)
