"""Net liquidity: the Fed's balance sheet minus the Treasury's account minus reverse repo."""

from __future__ import annotations

import pandas as pd

from signals.specs.fred import FredMetric

# WALCL and WTREGEN are published in millions of USD, RRPONTSYD in billions.
_MILLIONS_PER_BILLION = 1000.0
FOUR_WEEKS = pd.Timedelta(days=28)


def net_liquidity(walcl: pd.Series, wtregen: pd.Series, rrp: pd.Series) -> pd.Series:
    """Return net liquidity in USD billions on every date any input has a value.

    Each input is indexed by observation date, oldest first, with missing points already
    dropped. Every series is carried forward to the dates of the others (weekly balance
    sheet against daily reverse repo); dates before all three have started are left out.
    """
    frame = pd.concat(
        {
            "walcl": walcl / _MILLIONS_PER_BILLION,
            "wtregen": wtregen / _MILLIONS_PER_BILLION,
            "rrp": rrp,
        },
        axis=1,
    ).sort_index()
    filled = frame.ffill().dropna()
    result = filled["walcl"] - filled["wtregen"] - filled["rrp"]
    result.name = str(FredMetric.NET_LIQUIDITY)
    return result


def four_week_changes(series: pd.Series) -> pd.Series:
    """Return each date's change over the 28 days before it, where the series reaches that far.

    The earlier value is the last one on or before the date 28 days back, so a holiday on the
    exact day does not hide the change; dates too early to have one are left out.
    """
    values = series.dropna().sort_index()
    if values.empty:
        return values.copy()
    stamps = pd.DatetimeIndex(values.index)
    earlier = values.reindex(stamps - FOUR_WEEKS, method="ffill")
    change = pd.Series(values.to_numpy() - earlier.to_numpy(), index=stamps, name=series.name)
    return change.dropna()
