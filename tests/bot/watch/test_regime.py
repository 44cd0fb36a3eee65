"""The risk-on regime: each component's verdict, the score, its rule, and how /status shows it."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from bot.commands.reports import Caller
from bot.commands.service import CommandService
from bot.model.destinations import Destination
from bot.model.metrics import LatestValue
from bot.model.regime import assess, from_detail, to_detail
from bot.model.rules import RuleDefaults
from bot.storage import Store
from bot.watch.engine import AlertEngine
from bot.watch.regime import RegimeSource, dominance_reference
from handlers.discord.render import status_embed
from handlers.telegram.render import render_status
from signals.types import Sample
from tests.bot.conftest import FakeClock

NOW = datetime.fromisoformat("2026-01-05T12:00:00+00:00")
GROUP = Destination.parse("telegram:-1001")

# Every component agreeing: RUT high 2 sessions ago, ASI 62, dominance 57 (down from 58.5),
# ETH/BTC 3 % above its average, alt/BTC histogram positive, liquidity up 40 bn.
AGREEING = {
    "rut_sessions_since_high": 2.0,
    "asi": 62.0,
    "btc_dominance": 57.0,
    "eth_btc_vs_sma50": 3.0,
    "altbtc_macd": 0.0012,
    "net_liquidity_4w": 40.0,
}
WEEK_AGO = (NOW - timedelta(days=7), 58.5)


def latest(values: dict[str, float], at: datetime = NOW, **stale: str) -> dict[str, LatestValue]:
    return {
        metric: LatestValue(metric, value, at, "test", (), stale.get(metric), at)
        for metric, value in values.items()
    }


def verdicts(
    values: dict[str, float], before: tuple[datetime, float] | None = WEEK_AGO
) -> dict[str, str]:
    return {r.key: r.verdict for r in assess(latest(values), before, NOW).readings}


def test_every_component_agreeing_scores_six() -> None:
    regime = assess(latest(AGREEING), WEEK_AGO, NOW)
    assert regime.score == 6
    assert [r.key for r in regime.readings] == [
        "rut_high",
        "asi",
        "dominance",
        "eth_btc",
        "altbtc_macd",
        "liquidity",
    ]
    # Dominance moves in percentage points; liquidity's change reads as compact money.
    assert regime.readings[2].note == "57.00%, −1.50 pp over 7 d"
    assert regime.readings[5].note == "+$40.0B over 4 weeks"
    # Every sign is a real minus sign, as in the rest of an alert.
    falling = assess(latest({**AGREEING, "eth_btc_vs_sma50": -0.41, "altbtc_macd": -0.00012}),
                     WEEK_AGO, NOW)  # fmt: skip
    assert [r.note for r in falling.readings[3:5]] == [
        "−0.41% vs its 50-day average",
        "histogram −0.00012",
    ]


def test_nothing_known_scores_zero_with_every_component_unknown() -> None:
    regime = assess({}, None, NOW)
    assert (regime.score, regime.known) == (0, 0)
    assert {r.verdict for r in regime.readings} == {"unknown"}


@pytest.mark.parametrize(
    ("metric", "value", "key"),
    [
        ("rut_sessions_since_high", 5.0, "rut_high"),  # a high six sessions back is too old
        ("asi", 50.0, "asi"),  # above 50, not at it
        ("btc_dominance", 59.0, "dominance"),
        ("eth_btc_vs_sma50", -0.5, "eth_btc"),
        ("altbtc_macd", 0.0, "altbtc_macd"),
        ("net_liquidity_4w", -3.0, "liquidity"),
    ],
)
def test_each_component_disagrees_on_its_own_side_of_the_line(
    metric: str, value: float, key: str
) -> None:
    got = verdicts({**AGREEING, metric: value})
    assert got[key] == "no"
    assert sum(v == "yes" for v in got.values()) == 5


def test_rut_high_four_sessions_ago_still_counts() -> None:
    assert verdicts({**AGREEING, "rut_sessions_since_high": 4.0})["rut_high"] == "yes"


def test_dominance_below_59_but_rising_does_not_agree() -> None:
    assert verdicts(AGREEING, (NOW - timedelta(days=7), 56.0))["dominance"] == "no"


def test_dominance_trend_needs_a_day_of_history() -> None:
    assert verdicts(AGREEING, None)["dominance"] == "unknown"
    assert verdicts(AGREEING, (NOW - timedelta(hours=3), 58.0))["dominance"] == "unknown"
    assert verdicts(AGREEING, (NOW - timedelta(days=1), 58.0))["dominance"] == "yes"


def test_stale_or_old_values_are_unknown_not_agreeing() -> None:
    marked = latest(AGREEING, asi="coingecko: HTTP 503")
    assert {r.key: r.verdict for r in assess(marked, WEEK_AGO, NOW).readings}["asi"] == "unknown"
    # The ASI's values go stale after two hours; a weekly series (liquidity) does not.
    old = latest(AGREEING, at=NOW - timedelta(hours=3))
    got = {r.key: r.verdict for r in assess(old, WEEK_AGO, NOW).readings}
    assert got["asi"] == "unknown"
    assert got["liquidity"] == "yes"


def test_detail_round_trips_every_reading() -> None:
    regime = assess(latest({**AGREEING, "asi": 40.0}), None, NOW)
    assert from_detail(to_detail(regime)) == regime.readings
    assert from_detail((("nonsense", "yes; x"), ("asi", "maybe; y")))[0].verdict == "unknown"


# --- through the store, the engine and the command service -----------------------------------


async def ingest(engine: AlertEngine, values: dict[str, float], at: datetime) -> None:
    for metric, value in values.items():
        await engine.ingest_sample(Sample(metric, value, at, "test"))


async def test_regime_source_scores_from_the_store_and_its_rule_fires_once_at_four(
    store: Store, clock: FakeClock
) -> None:
    engine = AlertEngine(store, RuleDefaults(), clock)
    await engine.reload()
    service = CommandService(store, engine, clock)
    await service.subscribe(Caller(GROUP, "telegram:1", can_manage=True), ["risk-on-regime"])
    source = RegimeSource(store)

    # A week ago dominance stood at 58.5; today three components agree.
    await ingest(engine, {"btc_dominance": 58.5}, clock() - timedelta(days=7))
    await ingest(engine, {"asi": 62.0, "btc_dominance": 57.0, "net_liquidity_4w": 12.0}, clock())
    first = await source.fetch(clock())
    [score] = first.samples
    assert (score.metric, score.value, score.source) == ("risk_on", 3.0, "radar")
    assert await engine.ingest(first) == []

    clock.advance(minutes=1)
    await ingest(engine, {"eth_btc_vs_sma50": 1.5}, clock())
    fired = await engine.ingest(await source.fetch(clock()))
    assert [(f.rule_id, f.kind) for f in fired] == [("risk-on-regime", "firing")]
    [event] = [e for e in await store.recent_events(5) if e.rule_id == "risk-on-regime"]
    # The alert carries the components behind the score, as data.
    components = {r.key: (r.verdict, r.note) for r in event.components}
    assert components["eth_btc"] == ("yes", "+1.50% vs its 50-day average")
    assert components["altbtc_macd"] == ("unknown", "unknown: no value yet")
    assert len(components) == 6
    assert event.message().components == event.components
    assert (event.op, event.message().direction) == (">=", "rise")

    # Holding at four or five sends nothing more.
    clock.advance(minutes=1)
    await ingest(engine, {"altbtc_macd": 0.002}, clock())
    assert await engine.ingest(await source.fetch(clock())) == []

    report = await service.status()
    assert report.regime is not None
    assert (report.regime.score, report.regime.out_of, report.regime.stale) == (5, 6, False)
    ticks = {r.key: r.verdict for r in report.regime.readings}
    assert ticks == {
        "rut_high": "unknown",
        "asi": "yes",
        "dominance": "yes",
        "eth_btc": "yes",
        "altbtc_macd": "yes",
        "liquidity": "yes",
    }
    # /status risk_on: the score's own row, the rule on it, and the components block.
    firing = tuple(r for r in report.firing if r.metric == "risk_on")
    assert await service.status("risk_on") == replace(
        report,
        metrics=tuple(m for m in report.metrics if m.metric == "risk_on"),
        firing=firing,
        rules=firing,
    )
    assert firing[0].value == "5 of 6, 1 unknown"
    text = render_status(report)
    assert "<b>Risk-on regime: 5 of 6, 1 unknown</b>" in text
    assert "✅ Altcoin Season Index above 50 — ASI 62" in text
    assert "❔ Russell 2000 at a new high within 5 sessions — unknown: no value yet" in text
    embed = status_embed(report)
    assert embed.fields[0].name == "Risk-on regime: 5 of 6, 1 unknown"
    assert "✅ Bitcoin dominance below 59% and falling" in embed.fields[0].value


async def test_regime_with_nothing_stored_is_stale_not_zero(store: Store, clock: FakeClock) -> None:
    result = await RegimeSource(store).fetch(clock())
    assert result.samples == ()
    assert [s.metric for s in result.stale] == ["risk_on"]


async def test_dominance_is_compared_with_the_point_a_week_back_else_the_oldest(
    store: Store,
) -> None:
    day = timedelta(days=1)
    assert await dominance_reference(store, NOW) is None
    await store.save_history([Sample("btc_dominance", 58.0, NOW - 6 * day, "test")])
    assert await dominance_reference(store, NOW) == (NOW - 6 * day, 58.0)
    await store.save_history(
        [
            Sample("btc_dominance", 61.0, NOW - 30 * day, "test"),  # too old to stand for a week
            Sample("btc_dominance", 60.0, NOW - 8 * day, "test"),
            Sample("btc_dominance", 58.5, NOW - 7 * day, "test"),
        ]
    )
    assert await dominance_reference(store, NOW) == (NOW - 7 * day, 58.5)
