"""The command service's `/chart`: the regime with its strip, the chat's own rules, and failures."""

from __future__ import annotations

import pytest

import bot.commands.service
from bot.charts import ChartError, ChartImage, ChartSpec
from bot.commands import Caller, CommandError, CommandService
from bot.model.destinations import Destination
from bot.model.rules import RuleDefaults
from bot.storage import Store
from bot.watch.engine import AlertEngine
from signals.types import FetchResult, Sample
from tests.bot.conftest import FakeClock

CHAT = Caller(Destination("telegram", "7"), "telegram:7", True)
OTHER = Caller(Destination("telegram", "8"), "telegram:8", True)


async def _regime_days(engine: AlertEngine, clock: FakeClock, scores: list[int]) -> None:
    for score in scores:
        clock.advance(days=1)
        keys = ("rut_high", "asi", "dominance", "eth_btc", "altbtc_macd")
        known = [(key, "yes; x" if n < score else "no; x") for n, key in enumerate(keys)]
        detail = (*known, ("liquidity", "unknown; unknown: no fresh value"))
        sample = Sample("risk_on", float(score), clock(), "radar", detail, (score, score + 1))
        await engine.ingest(FetchResult(samples=(sample,)))


async def test_the_regime_chart_carries_its_strip_and_only_this_chats_rules(
    store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = AlertEngine(store, RuleDefaults(), clock)
    service = CommandService(store, engine, clock)
    await service.add_alert(CHAT, "risk_on >= 3")
    await service.add_alert(OTHER, "risk_on >= 2")
    await _regime_days(engine, clock, [1, 2, 4, 5, 3, 1])
    drawn: list[ChartSpec] = []
    real = bot.commands.service.draw

    async def spy(spec: ChartSpec) -> ChartImage:
        drawn.append(spec)
        return await real(spec)

    monkeypatch.setattr(bot.commands.service, "draw", spy)

    report = await service.chart(CHAT, "RISK_ON", "7d")

    assert report.rules == ("risk-on-regime", "c1")
    assert (report.width, report.height, report.days) == (1280, 720, 7)
    assert report.png.startswith(b"\x89PNG")
    [spec] = drawn
    assert spec.strip is not None and len(spec.strip.rows) == 6
    assert {t.rule_id for t in spec.thresholds} == {"risk-on-regime", "c1"}
    assert report.fired == sum(m.state == "firing" for m in spec.markers) >= 1
    assert report.caption_lines()[0] == "📊 Risk-on regime score: 1 of 6"


async def test_a_chart_that_cannot_be_drawn_is_one_line_and_logged(
    store: Store,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = AlertEngine(store, RuleDefaults(), clock)
    service = CommandService(store, engine, clock)
    await engine.ingest(FetchResult(samples=(Sample("asi", 40, clock(), "coingecko"),)))

    async def broken(spec: ChartSpec) -> ChartImage:
        raise ChartError("could not draw the asi chart: boom")

    monkeypatch.setattr(bot.commands.service, "draw", broken)
    with pytest.raises(
        CommandError, match=r"^Could not draw the asi chart just now; it has been logged\.$"
    ):
        await service.chart(None, "asi")
    assert "chart of asi failed: could not draw the asi chart: boom" in caplog.text
    clock.advance(days=500)
    with pytest.raises(CommandError, match="usage: /chart <metric> \\[days\\], days from 1 to 400"):
        await service.chart(None, "asi", "401")
