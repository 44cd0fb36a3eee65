"""The catalogue holds together with the rest: rules, regime, settings and the README agree with it."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from bot import app
from bot.model import checks
from bot.model.checks import catalogue_problems, prepare_catalogue
from bot.model.metrics import CATALOGUE, METRICS, UnknownMetric, metric_info
from bot.model.regime import READS
from bot.model.rules import BUILTIN_RULES
from bot.settings import Settings
from signals.catalog import CatalogueError

ROOT = Path(__file__).resolve().parent.parent


def test_rules_regime_and_reads_name_only_catalogued_metrics() -> None:
    assert catalogue_problems(CATALOGUE, BUILTIN_RULES, READS) == []
    for rule in BUILTIN_RULES:
        assert rule.metric in METRICS, rule.id


def test_every_catalogued_metric_is_in_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## What it watches", 1)[1].split("\n\n", 2)[1]
    listed = set(
        re.findall(r"`([a-z0-9_]+)`", "\n".join(r.split("|")[1] for r in table.splitlines()))
    )
    assert set(METRICS) <= listed, set(METRICS) - listed


def test_the_readme_says_what_each_built_in_rule_firing_means() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("| Rule id | Condition | Firing means |", 1)[1].split("\n\n", 1)[0]
    said = {}
    for row in table.splitlines()[1:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        for rule_id in re.findall(r"`([a-z0-9-]+)`", cells[0]):
            said[rule_id] = cells[-1]
    assert said == {rule.id: rule.lean for rule in BUILTIN_RULES}


def test_every_setting_a_source_reads_is_a_setting() -> None:
    for spec in CATALOGUE.sources:
        missing = set(spec.settings) - set(Settings.model_fields)
        assert not missing, (spec.name, missing)


def test_a_rule_on_an_undeclared_metric_is_found() -> None:
    broken = (*BUILTIN_RULES, replace(BUILTIN_RULES[0], id="typo", metric="btc_dominence"))
    assert catalogue_problems(CATALOGUE, broken, READS) == [
        "built-in rule typo watches btc_dominence, which no source declares"
    ]


def test_a_regime_reading_other_than_it_declares_is_found() -> None:
    problems = catalogue_problems(CATALOGUE, BUILTIN_RULES, (*READS[:-1], "net_liquidity"))
    assert len(problems) == 1 and "risk_on declares it reads" in problems[0]


async def test_the_bot_refuses_to_start_on_a_rule_naming_an_undeclared_metric(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = (*BUILTIN_RULES, replace(BUILTIN_RULES[0], id="typo", metric="btc_dominence"))
    monkeypatch.setattr(checks, "BUILTIN_RULES", broken)
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'radar.db'}",
        _env_file=None,  # type: ignore[call-arg]
    )
    with pytest.raises(CatalogueError, match="btc_dominence"):
        await app.build_service(settings)
    # Refused before anything opened: not even the database file exists.
    assert not (tmp_path / "radar.db").exists()


def test_pushed_in_metrics_are_known_once_registered_at_start() -> None:
    with pytest.raises(UnknownMetric):
        metric_info("tv_others_dominance")
    prepare_catalogue(("tv_others_dominance",))
    assert metric_info("tv_others_dominance").label == "tv_others_dominance"
    assert "tv_others_dominance" not in METRICS
