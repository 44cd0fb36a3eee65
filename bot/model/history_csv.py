"""History from a CSV file: a header, a date or time column and a value column. No I/O.

TradingView's export (`time,open,high,low,close,...`, time in unix seconds) reads as it is.
Every row is checked before anything is kept, so a file is imported whole or not at all.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from signals.types import Sample

TIME_COLUMNS = ("date", "time", "timestamp")
VALUE_COLUMNS = ("value", "close")
# ASCII digits only: float() also takes other scripts' digits.
_NUMBER = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
# Unix times above this are milliseconds (this many seconds is the year 5138).
_MILLISECONDS = 1e11


class CsvError(ValueError):
    """A file that cannot be read as history at all (no header, no usable columns)."""


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that cannot be imported: its line number in the file, and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ParsedHistory:
    """The samples a file holds, oldest first, and the rows that are wrong."""

    samples: tuple[Sample, ...]
    bad: tuple[BadRow, ...]


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 date or time (UTC unless it says otherwise) or unix seconds."""
    text = text.strip()
    if _NUMBER.match(text):
        seconds = float(text)
        if abs(seconds) > _MILLISECONDS:
            seconds /= 1000
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{text[:40]!r} is out of range as unix seconds") from None
    try:
        if _DAY.match(text):
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text[:40]!r} is not a date or time (use 2025-01-31, 2025-01-31T16:00:00Z "
            "or unix seconds)"
        ) from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def parse_value(text: str) -> float:
    """Parse a plain decimal number (ASCII digits, a dot for decimals)."""
    text = text.strip()
    if not _NUMBER.match(text):
        raise ValueError(f"{text[:40]!r} is not a number")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]!r} is out of range")
    return value


def _column(header: list[str], names: Iterable[str], what: str) -> int:
    for name in names:
        if name in header:
            return header.index(name)
    shown = ", ".join(h for h in header if h)[:200] or "nothing"
    raise CsvError(f"no {what} column: expected one of {', '.join(names)}; the header has {shown}")


def parse_history(
    lines: Iterable[str],
    metric: str,
    source: str,
    now: datetime,
    range_problem: Callable[[float], str | None],
) -> ParsedHistory:
    """Read `lines` of CSV into samples of `metric`; rows that are wrong are listed, not kept.

    A time after `now` is wrong (history is the past), and so is a value `range_problem` refuses
    and a time given twice.
    """
    reader = csv.reader(lines)
    try:
        header = [h.strip().lower().lstrip("\ufeff") for h in next(reader)]
    except StopIteration:
        raise CsvError("the file is empty: expected a header row, e.g. date,value") from None
    except csv.Error as exc:
        raise CsvError(f"line 1: {exc}") from None
    time_at = _column(header, TIME_COLUMNS, "date or time")
    value_at = _column(header, VALUE_COLUMNS, "value")
    samples: dict[datetime, Sample] = {}
    lines_of: dict[datetime, int] = {}
    bad: list[BadRow] = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            bad.append(BadRow(reader.line_num, str(exc)))
            continue
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(time_at, value_at):
            bad.append(BadRow(line, f"{len(row)} columns, the header has {len(header)}"))
            continue
        try:
            at = parse_time(row[time_at])
            value = parse_value(row[value_at])
        except ValueError as exc:
            bad.append(BadRow(line, str(exc)))
            continue
        problem = range_problem(value)
        if problem is not None:
            bad.append(BadRow(line, problem))
        elif at > now:
            bad.append(BadRow(line, f"{at.isoformat()} is in the future"))
        elif at in samples:
            bad.append(BadRow(line, f"the same time as line {lines_of[at]}"))
        else:
            samples[at] = Sample(metric, value, at, source)
            lines_of[at] = line
    ordered = tuple(samples[at] for at in sorted(samples))
    return ParsedHistory(ordered, tuple(bad))
