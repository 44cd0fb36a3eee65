"""Reading history from CSV: dates, times and unix seconds; every bad row named by its line."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.model.history_csv import CsvError, ParsedHistory, parse_history
from signals.metrics import metric_info

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def parse(text: str, metric: str = "asi") -> ParsedHistory:
    return parse_history(
        text.splitlines(keepends=True), metric, "import", NOW, metric_info(metric).range_problem
    )


def test_dates_times_and_unix_seconds_are_utc() -> None:
    parsed = parse(
        "Date,Value\n"
        "2025-01-01,40\n"
        "2025-01-02T16:30:00Z,41.5\n"
        "2025-01-03T16:30:00+02:00,42\n"
        "2025-01-04 08:00,43\n"
        "\n"
    )
    assert parsed.bad == ()
    assert [(s.at, s.value) for s in parsed.samples] == [
        (datetime(2025, 1, 1, tzinfo=UTC), 40.0),
        (datetime(2025, 1, 2, 16, 30, tzinfo=UTC), 41.5),
        (datetime(2025, 1, 3, 14, 30, tzinfo=UTC), 42.0),
        (datetime(2025, 1, 4, 8, 0, tzinfo=UTC), 43.0),
    ]
    assert {s.source for s in parsed.samples} == {"import"}


def test_a_tradingview_export_reads_as_it_is() -> None:
    parsed = parse(
        "time,open,high,low,close,Volume\n"
        "1735776000,95000,97000,94000,96500.5,1200\n"
        "1735689600,94000,95500,93000,95000,1100\n",
        "btc_usd",
    )
    assert parsed.bad == ()
    # Oldest first, whatever the file's order.
    assert [(s.at, s.value) for s in parsed.samples] == [
        (datetime(2025, 1, 1, tzinfo=UTC), 95000.0),
        (datetime(2025, 1, 2, tzinfo=UTC), 96500.5),
    ]


def test_every_bad_row_is_named_by_its_line() -> None:
    parsed = parse(
        "date,value\n"
        "2025-01-01,40\n"
        "2025-01-02,abc\n"
        "2025-13-01,50\n"
        "2025-01-04,140\n"
        "2025-01-01,41\n"
        "2027-01-01,41\n"
        "2025-01-07\n"
        "2025-01-08,٤٢\n"
    )
    assert [str(b) for b in parsed.bad] == [
        "line 3: 'abc' is not a number",
        "line 4: '2025-13-01' is not a date or time (use 2025-01-31, 2025-01-31T16:00:00Z or "
        "unix seconds)",
        "line 5: asi is an index from 0 to 100; got 140",
        "line 6: the same time as line 2",
        "line 7: 2027-01-01T00:00:00+00:00 is in the future",
        "line 8: 1 columns, the header has 2",
        "line 9: '٤٢' is not a number",
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "the file is empty"),
        ("day,value\n2025-01-01,4\n", "no date or time column"),
        ("date,open\n2025-01-01,4\n", "no value column: expected one of value, close"),
    ],
)
def test_a_file_without_the_columns_is_refused_whole(text: str, problem: str) -> None:
    with pytest.raises(CsvError, match=problem):
        parse(text)
