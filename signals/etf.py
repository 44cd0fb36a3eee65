"""US spot Bitcoin ETF daily net flows, read from Farside's all-data HTML table."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from html.parser import HTMLParser

from signals.types import BadPayload

# Marks of Cloudflare's interstitial ("Just a moment...") and its JavaScript challenge.
_CHALLENGE_MARKS = ("just a moment", "cf-chl", "attention required")
_NUMBER = re.compile(r"(?P<sign>-)?(?P<digits>\d{1,3}(?:,\d{3})+|\d+)(?P<fraction>\.\d+)?")
_NO_DATA = frozenset({"-", ""})


@dataclass(frozen=True, slots=True)
class DailyFlow:
    """One trading day's net flow into all US spot Bitcoin ETFs, in USD millions."""

    day: date
    usd_m: float


@dataclass(slots=True)
class _Table:
    rows: list[list[str]] = field(default_factory=list)
    closed: bool = False


class _TableReader(HTMLParser):
    """Collect every top-level table's rows as lists of cell texts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[_Table] = []
        self._depth = 0
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._depth += 1
            if self._depth == 1:
                self.tables.append(_Table())
        elif self._depth != 1:
            return
        elif tag == "tr":
            self._end_row()
            self._row = []
        elif tag in ("td", "th"):
            self._end_cell()
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self._depth > 0:
            if self._depth == 1:
                self._end_row()
                self.tables[-1].closed = True
            self._depth -= 1
        elif self._depth != 1:
            return
        elif tag == "tr":
            self._end_row()
        elif tag in ("td", "th"):
            self._end_cell()

    def handle_data(self, data: str) -> None:
        if self._cell is not None and self._depth == 1:
            self._cell.append(data)

    def _end_cell(self) -> None:
        if self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
        self._cell = None

    def _end_row(self) -> None:
        self._end_cell()
        if self._row is not None and self.tables:
            self.tables[-1].rows.append(self._row)
        self._row = None


def is_challenge(page: str) -> bool:
    """Tell whether `page` is a bot-wall interstitial rather than content."""
    head = page[:4000].lower()
    return any(mark in head for mark in _CHALLENGE_MARKS)


def parse_flows(source: str, page: str) -> tuple[DailyFlow, ...] | None:
    """Return the daily totals of Farside's flow table, oldest first, or None without one.

    A row is a day when its first cell reads like `11 Jan 2024`; its last cell is the Total
    column. A day without data is left out, never read as zero: its total is `-`, or every
    fund cell is `-` (Farside writes `0.0` in the Total of a US market holiday and of a day not
    yet reported). Raise `BadPayload` when the table is there but cut short or not as described.
    """
    reader = _TableReader()
    reader.feed(page)
    reader.close()
    for table in reader.tables:
        days = [(row, day) for row in table.rows if row and (day := _day(row[0])) is not None]
        if days:
            return _flows(source, table, days)
    return None


def _flows(source: str, table: _Table, days: list[tuple[list[str], date]]) -> tuple[DailyFlow, ...]:
    if not table.closed:
        raise BadPayload(source, "table", "the flow table never ends (truncated page)")
    if not any(row[-1].lower() == "total" for row in table.rows if _day(row[0]) is None):
        raise BadPayload(source, "table", "no header row ending in a Total column")
    width = max(len(row) for row, _ in days)
    flows: dict[date, float] = {}
    seen: set[date] = set()
    for row, day in days:
        if len(row) != width:
            raise BadPayload(source, str(day), f"{len(row)} cells, other days have {width}")
        if day in seen:
            raise BadPayload(source, str(day), "day listed twice")
        seen.add(day)
        funds = row[1:-1]
        if funds and all(cell.strip() in _NO_DATA for cell in funds):
            # Not a flat day: no fund reported at all, whatever the Total column says.
            continue
        total = parse_amount(source, str(day), row[-1])
        if total is not None:
            flows[day] = total
    return tuple(DailyFlow(day, total) for day, total in sorted(flows.items()))


def _day(cell: str) -> date | None:
    try:
        return datetime.strptime(cell, "%d %b %Y").date()
    except ValueError:
        return None


def parse_amount(source: str, where: str, cell: str) -> float | None:
    """Return a Farside amount in USD millions: `(12.5)` is negative, `-` means no data."""
    text = cell.strip()
    if text in _NO_DATA:
        return None
    negative = text.startswith("(") and text.endswith(")")
    body = text[1:-1].strip() if negative else text
    match = _NUMBER.fullmatch(body)
    if match is None or (negative and match["sign"]):
        raise BadPayload(source, where, f"not an amount: {cell!r}")
    value = float(match["digits"].replace(",", "") + (match["fraction"] or ""))
    return -value if negative or match["sign"] else value


def inflow_streaks(flows: Sequence[DailyFlow]) -> tuple[tuple[date, int], ...]:
    """Return, for each day oldest first, the run of net-inflow days ending on it."""
    streaks: list[tuple[date, int]] = []
    run = 0
    for flow in sorted(flows, key=lambda flow: flow.day):
        run = run + 1 if flow.usd_m > 0 else 0
        streaks.append((flow.day, run))
    return tuple(streaks)
