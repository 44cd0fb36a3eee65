"""The catalogue: assembled from the sources' declarations, strict about ids, checked for fit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from signals.catalog import (
    INTRADAY,
    BuildContext,
    Catalogue,
    CatalogueError,
    MetricInfo,
    SourceSpec,
    UnknownMetric,
)
from signals.metrics import CATALOGUE, METRICS, metric_info
from signals.specs.coingecko import ALT_RANKING, MarketsMetric
from signals.specs.futures import FuturesMetric
from signals.specs.regime import RegimeMetric


def _info(metric_id: str, *reads: str) -> MetricInfo:
    return MetricInfo(metric_id, metric_id, "", 2, INTRADAY, 0.0, reads=reads)


def test_an_unknown_id_is_an_error_that_names_it() -> None:
    with pytest.raises(UnknownMetric) as raised:
        metric_info("btc_dominence")
    assert raised.value.metric_id == "btc_dominence"
    assert "'btc_dominence'" in str(raised.value)
    assert "INGEST_METRICS" in str(raised.value)


def test_a_declared_id_keeps_its_entry() -> None:
    info = metric_info("btc_dominance")
    assert (info.label, info.unit, info.decimals, info.band) == ("Bitcoin dominance", "%", 2, 0.25)
    assert info.max_age == timedelta(hours=2)
    assert metric_info(MarketsMetric.ASI) is METRICS["asi"]


def test_the_shipped_catalogue_fits_together() -> None:
    assert CATALOGUE.problems() == []
    ids = [m.id for spec in CATALOGUE.sources for m in spec.metrics]
    assert len(ids) == len(set(ids)) == len(METRICS)


def test_every_read_names_a_metric_or_an_input_a_source_provides() -> None:
    inputs = {name for spec in CATALOGUE.sources for name in spec.provides}
    for info in METRICS.values():
        for read in info.reads:
            assert read in METRICS or read in inputs, (info.id, read)
    assert set(METRICS[RegimeMetric.RISK_ON].reads) == {
        "rut_sessions_since_high",
        "asi",
        "btc_dominance",
        "eth_btc_vs_sma50",
        "altbtc_macd",
        "net_liquidity_4w",
    }


def test_the_futures_source_is_built_after_the_ranking_it_needs() -> None:
    order = [spec.name for spec in CATALOGUE.build_order()]
    assert order.index("futures") > order.index("coingecko")
    futures = CATALOGUE.provider_of(FuturesMetric.ALT_LONG_SHORT)
    assert futures.needs == (ALT_RANKING,)
    assert CATALOGUE.provider_of("asi").provides == (ALT_RANKING,)


def test_one_id_declared_twice_is_refused() -> None:
    with pytest.raises(CatalogueError, match="'x' is declared by a and b"):
        Catalogue((SourceSpec("a", (_info("x"),)), SourceSpec("b", (_info("x"),))))


def test_a_read_or_a_need_naming_nothing_is_a_problem() -> None:
    catalogue = Catalogue(
        (
            SourceSpec("a", (_info("x", "y"),)),
            SourceSpec("b", (_info("z"),), needs=("ranking",)),
        )
    )
    assert catalogue.problems() == [
        "x reads 'y', which no source declares",
        "source b needs 'ranking', which no source provides",
    ]
    with pytest.raises(CatalogueError):
        catalogue.check()


def test_sources_needing_each_other_are_a_cycle() -> None:
    catalogue = Catalogue(
        (
            SourceSpec("a", (_info("x"),), needs=("b_in",), provides=("a_in",)),
            SourceSpec("b", (_info("z"),), needs=("a_in",), provides=("b_in",)),
        )
    )
    assert any("cycle" in p for p in catalogue.problems())


def test_pushed_in_metrics_get_a_neutral_entry_only_once_registered() -> None:
    catalogue = Catalogue((SourceSpec("a", (_info("x"),)),))
    with pytest.raises(UnknownMetric):
        catalogue.info("others_d")
    catalogue.register_pushed(["others_d"])
    info = catalogue.info("others_d")
    assert (info.label, info.unit, info.decimals, info.band) == ("others_d", "", 4, 0.0)
    assert "others_d" in catalogue and catalogue.pushed == ("others_d",)
    with pytest.raises(CatalogueError, match="computed by the bot"):
        catalogue.register_pushed(["x"])


async def test_an_input_needed_before_it_is_provided_is_an_error() -> None:
    context = BuildContext(None, None)  # type: ignore[arg-type]
    with pytest.raises(CatalogueError, match="needed before any source provided it"):
        context.needed(ALT_RANKING)
    context.provide(ALT_RANKING, "ranking")
    assert context.needed(ALT_RANKING) == "ranking"
    assert context.shared("k", list) is context.shared("k", list)
