"""Backtests over the store: the same samples through the live engine and through a backtest agree."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from bot.commands.backtests import resolve_rule, run_backtest
from bot.model.rules import RuleDefaults, parse_rule
from bot.storage import Store
from bot.watch.engine import AlertEngine
from signals.types import Sample
from tests.bot.conftest import FakeClock

START = datetime(2025, 3, 1, tzinfo=UTC)


def asi_series() -> list[Sample]:
    """Six-hourly ASI swinging 20..80 with a wobble: it crosses 25, 50 and 75 many times."""
    return [
        Sample(
            "asi",
            round(50 + 30 * math.sin(k / 9) + 6 * math.sin(k * 1.7), 2),
            START + timedelta(hours=6 * k),
            "coingecko",
        )
        for k in range(240)
    ]


def rut_series() -> list[Sample]:
    """Daily closes that climb with pullbacks, so new highs come in runs."""
    return [
        Sample("rut", 2000 + 5 * k - 60 * math.sin(k / 4) ** 2, START + timedelta(days=k), "yahoo")
        for k in range(60)
    ]


async def test_the_live_engine_and_the_backtest_agree(store: Store, clock: FakeClock) -> None:
    # A `for` of 30 hours makes the level rules wait across samples, in both.
    defaults = RuleDefaults(for_duration=timedelta(hours=30))
    engine = AlertEngine(store, defaults, clock)
    custom = await store.add_custom_rule(
        "telegram:1", parse_rule("asi crosses below 40"), START, 20
    )
    assert custom is not None
    # The Russell 2000's record before the window: the first live closes are not new highs.
    before = [Sample("rut", 2100.0 - k, START - timedelta(days=10 - k), "yahoo") for k in range(5)]
    await store.save_history(before)

    live: dict[str, list[tuple[str, datetime, float]]] = {}
    for sample in sorted(asi_series() + rut_series(), key=lambda s: s.at):
        clock.now = sample.at + timedelta(minutes=1)
        for fired in await engine.ingest_sample(sample):
            live.setdefault(fired.rule_id, []).append((fired.kind, sample.at, sample.value))

    rules = [r for r in await engine.rules() if r.metric in ("asi", "rut")]
    assert {r.id for r in rules} == {
        "asi-above-50",
        "altseason",
        "bitcoin-season",
        "rut-new-high",
        custom,
    }
    for rule in rules:
        result = await run_backtest(store, rule, START)
        replayed = [(e.state, e.at, e.value) for e in result.events]
        assert replayed == live.get(rule.id, []), rule.id
        assert result.samples == (240 if rule.metric == "asi" else 60)
    # Every rule had something to say, so the agreement is not two empty lists.
    assert all(len(live.get(r.id, [])) >= 2 for r in rules), live


async def test_a_typed_condition_runs_as_a_custom_alert_with_its_band(store: Store) -> None:
    rule = resolve_rule(["asi", ">=", "75"], [], frozenset({"asi"}), RuleDefaults())
    assert (rule.id, rule.metric, rule.op, rule.threshold, rule.band) == (
        "asi >= 75",
        "asi",
        ">=",
        75,
        4.0,
    )
    await store.save_history(asi_series())
    result = await run_backtest(store, rule, START, START + timedelta(days=30))
    assert result.samples == 120
    assert result.firings
    assert all(START <= e.at < START + timedelta(days=30) for e in result.events)


async def test_a_regime_backtest_holds_where_components_were_unknown(
    store: Store, clock: FakeClock
) -> None:
    # 4 of 6, then an outage (2 known agree, 3 unknown), then 4 again: live it fires once.
    def score(k: int, agree: int, unknown: int) -> Sample:
        verdicts = ["yes"] * agree + ["unknown"] * unknown
        verdicts += ["no"] * (6 - len(verdicts))
        keys = ("rut_high", "asi", "dominance", "eth_btc", "altbtc_macd", "liquidity")
        detail = tuple((key, f"{v}; note") for key, v in zip(keys, verdicts, strict=True))
        at = START + timedelta(hours=k)
        return Sample("risk_on", float(agree), at, "radar", detail, (agree, agree + unknown))

    series = [score(0, 3, 0), score(1, 4, 0), score(2, 2, 3), score(3, 2, 3), score(4, 4, 0)]
    engine = AlertEngine(store, RuleDefaults(), clock)
    live = []
    for sample in series:
        clock.now = sample.at + timedelta(minutes=1)
        live += [(f.kind, sample.at) for f in await engine.ingest_sample(sample)]
    assert live == [("firing", series[1].at)]
    rule = next(r for r in engine.builtins if r.id == "risk-on-regime")
    result = await run_backtest(store, rule, START)
    assert [(e.state, e.at) for e in result.events] == live
