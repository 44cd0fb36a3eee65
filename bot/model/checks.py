"""The check the bot runs before it starts: every id its rules and regime name is catalogued."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.model.metrics import CATALOGUE, CatalogueError, register_pushed
from bot.model.regime import METRIC as REGIME_METRIC
from bot.model.regime import READS as REGIME_READS
from bot.model.rules import BUILTIN_RULES, Rule
from signals.catalog import Catalogue


def catalogue_problems(
    catalogue: Catalogue, rules: Iterable[Rule], regime_reads: Sequence[str]
) -> list[str]:
    """Return what does not fit: the catalogue's own reads and needs, the rules', the regime's."""
    problems = catalogue.problems()
    problems += [
        f"built-in rule {rule.id} watches {rule.metric!s}, which no source declares"
        for rule in rules
        if rule.metric not in catalogue
    ]
    problems += [
        f"the regime reads {metric!s}, which no source declares"
        for metric in regime_reads
        if metric not in catalogue
    ]
    if REGIME_METRIC in catalogue:
        declared = set(catalogue.info(REGIME_METRIC).reads)
        if declared != set(regime_reads):
            problems.append(
                f"{REGIME_METRIC!s} declares it reads {sorted(declared)}, "
                f"but its components read {sorted(set(regime_reads))}"
            )
    return problems


def prepare_catalogue(pushed: Sequence[str]) -> None:
    """Register the pushed-in metrics, then refuse to start (`CatalogueError`) on any problem."""
    register_pushed(pushed)
    problems = catalogue_problems(CATALOGUE, BUILTIN_RULES, REGIME_READS)
    if problems:
        raise CatalogueError(problems)
