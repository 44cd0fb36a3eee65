"""A year of realistic synthetic history, fed through the real alert engine into a real store.

`python bench/chart_data.py <sqlite file>` fills a database with 2025's ASI, Bitcoin dominance,
Russell 2000 and risk-on score (one sample a day, each evaluated by the engine, so the rules fire
and resolve where they would have), plus one custom alert. `bench/charts.py` and the README's
charts (docs/) are drawn from it.
"""

from __future__ import annotations

import asyncio
import math
import random
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

# Run as a script, this folder comes first on the path, and bench/signals.py would shadow the
# signals package: put the project root ahead of it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.model.regime import COMPONENTS
from bot.model.rules import RuleDefaults, RuleSpec
from bot.storage import Store
from bot.watch.engine import AlertEngine
from signals.types import FetchResult, Sample

FIRST = datetime(2025, 1, 1, 23, 0, tzinfo=UTC)
DAYS = 365
# A chat's own alert, so the ASI chart shows a custom level beside the built-in ones.
CUSTOM_OWNER = "telegram:1001"
CUSTOM_ASI = RuleSpec("asi", ">", 65)


def _path(waypoints: Sequence[tuple[int, float]], noise: float, seed: int) -> list[float]:
    """Return a daily series through `waypoints` (day, value) with smooth, seeded noise."""
    rng = random.Random(seed)
    values = []
    drift = 0.0
    for day in range(DAYS):
        before = max((w for w in waypoints if w[0] <= day), key=lambda w: w[0])
        after = min((w for w in waypoints if w[0] >= day), key=lambda w: w[0])
        share = 0.0 if after[0] == before[0] else (day - before[0]) / (after[0] - before[0])
        # Cosine easing: markets turn, they do not meet at corners.
        eased = (1 - math.cos(share * math.pi)) / 2
        base = before[1] + (after[1] - before[1]) * eased
        drift = drift * 0.8 + rng.gauss(0, noise)
        values.append(base + drift)
    return values


def asi_path() -> list[float]:
    """Return 2025's ASI: Bitcoin season in spring, an alt rally in late summer, a fade after."""
    points = [
        (0, 46),
        (40, 30),
        (95, 16),
        (140, 22),
        (200, 48),
        (232, 79),
        (262, 66),
        (300, 38),
        (330, 24),
        (364, 31),
    ]
    return [min(100.0, max(0.0, round(v))) for v in _path(points, 2.4, 1)]


def dominance_path() -> list[float]:
    """Return Bitcoin dominance, %: high in spring, dipping under 59 with the alt rally."""
    points = [
        (0, 57.2),
        (95, 64.6),
        (180, 62.5),
        (232, 57.4),
        (262, 58.6),
        (330, 59.4),
        (364, 58.9),
    ]
    return [round(v, 2) for v in _path(points, 0.18, 2)]


def rut_path() -> list[float]:
    """Return Russell 2000 closes: the April drawdown, then new highs into the autumn."""
    points = [
        (0, 2235),
        (45, 2290),
        (97, 1765),
        (150, 2110),
        (215, 2290),
        (285, 2480),
        (318, 2390),
        (345, 2505),
        (364, 2470),
    ]
    return [round(v, 2) for v in _path(points, 14.0, 3)]


def trading_day(day: int) -> bool:
    """Return True on weekdays: index closes come only from sessions."""
    return (FIRST + timedelta(days=day)).weekday() < 5


def regime_details() -> list[tuple[int, tuple[tuple[str, str], ...]]]:
    """Return each day's regime score and component detail, as the regime source writes them."""
    rng = random.Random(4)
    asi = asi_path()
    dominance = dominance_path()
    rut = rut_path()
    eth_btc = _path([(0, -6), (90, -14), (190, 3), (240, 11), (290, -2), (364, -5)], 1.2, 5)
    macd = _path([(0, -1), (80, -3), (175, 2), (245, 3), (300, -2), (364, -1)], 0.6, 6)
    liquidity = _path([(0, -40), (60, 25), (120, -30), (200, 60), (300, 45), (364, -15)], 12.0, 7)
    days: list[tuple[int, tuple[tuple[str, str], ...]]] = []
    high = 0.0
    since_high = 99
    for day in range(DAYS):
        if trading_day(day):
            if rut[day] > high:
                high, since_high = rut[day], 0
            else:
                since_high += 1
        verdicts = {
            "rut_high": since_high < 5,
            "asi": asi[day] > 50,
            "dominance": dominance[day] < 59 and day >= 7 and dominance[day] < dominance[day - 7],
            "eth_btc": eth_btc[day] > 0,
            "altbtc_macd": macd[day] > 0,
            "liquidity": liquidity[day] > 0,
        }
        detail = []
        for component in COMPONENTS:
            # A CoinGecko outage in May leaves the ASI and the MACD unknown for four days; FRED's
            # series start a fortnight late; a week of exchange trouble in October.
            outage = (
                (component.key in ("asi", "altbtc_macd") and 128 <= day < 132)
                or (component.key == "liquidity" and day < 14)
                or (component.key == "eth_btc" and 283 <= day < 290)
                or rng.random() < 0.01
            )
            if outage:
                detail.append((component.key, "unknown; unknown: no fresh value"))
            else:
                word = "yes" if verdicts[component.key] else "no"
                detail.append((component.key, f"{word}; synthetic"))
        days.append((day, tuple(detail)))
    return days


async def fill(store: Store) -> None:
    """Feed the year through the alert engine one day at a time, as the pollers would."""
    clock = [FIRST]
    engine = AlertEngine(store, RuleDefaults(), lambda: clock[0])
    await store.add_custom_rule(CUSTOM_OWNER, CUSTOM_ASI, FIRST, 20)
    await engine.reload()
    asi, dominance, rut = asi_path(), dominance_path(), rut_path()
    for day, detail in regime_details():
        at = FIRST + timedelta(days=day)
        clock[0] = at
        samples = [
            Sample("asi", asi[day], at, "coingecko"),
            Sample("btc_dominance", dominance[day], at, "coingecko"),
        ]
        if trading_day(day):
            samples.append(Sample("rut", rut[day], at - timedelta(hours=2), "yahoo"))
        agree = sum(text.startswith("yes") for _, text in detail)
        unknown = sum(text.startswith("unknown") for _, text in detail)
        samples.append(
            Sample("risk_on", float(agree), at, "radar", detail, (agree, agree + unknown))
        )
        await engine.ingest(FetchResult(samples=tuple(samples)))


async def _main(path: str) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{path}")
    try:
        await fill(store)
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1]))
