"""Command line: run the service, or do an operator's chores without a chat."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence

import aiohttp

from bot.app import (
    asi_universe_of,
    close_sources,
    configure_logging,
    default_sources,
    rule_defaults,
    run,
)
from bot.commands import UniverseStatus, universe_status
from bot.model.checks import prepare_catalogue
from bot.model.destinations import BadDestination, Destination
from bot.model.formatting import format_fraction, format_time
from bot.model.metrics import CATALOGUE, CatalogueError, LatestValue, metric_info
from bot.model.regime import METRIC as REGIME_METRIC
from bot.model.regime import SOURCE as REGIME_SOURCE
from bot.model.regime import VERDICT_MARKS, Regime, assess
from bot.model.rules import ALL_BUILTINS, builtin_rules
from bot.settings import Settings, SettingsError, load_settings
from bot.storage import Store, StoreUnavailable
from bot.watch.regime import RegimeSource, dominance_reference
from bot.web.health import CannotListen
from signals.specs.coingecko import MarketsMetric
from signals.types import FetchResult, SourceError
from timing import utcnow

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Risk-On Radar")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="run the service (the default)")
    status = commands.add_parser("status", help="fetch every source once and print the metrics")
    status.add_argument(
        "metric", nargs="?", help="show only this metric (asi adds the coins it counted)"
    )
    status.add_argument("--json", action="store_true", help="print JSON")
    for name, verb in (("subscribe", "send"), ("unsubscribe", "stop sending")):
        sub = commands.add_parser(name, help=f"{verb} a destination alerts")
        sub.add_argument(
            "destination",
            help="telegram:<chat>[/<topic>], discord:<channel>, webhook:<url>, console",
        )
        sub.add_argument("rules", nargs="*", help="rule ids, or all (the default)")
    commands.add_parser("rules", help="list the built-in rules")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit code."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"risk-on-radar: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    command = args.command or "run"
    try:
        if command == "run":
            asyncio.run(run(settings))
            return 0
        if command == "rules":
            return _rules(settings)
        if command == "status":
            return asyncio.run(_status(settings, args.metric, as_json=args.json))
        return asyncio.run(_subscription(settings, command, args.destination, args.rules))
    except (StoreUnavailable, CannotListen) as exc:
        print(f"risk-on-radar: {exc}", file=sys.stderr)
        return 1
    except SettingsError as exc:
        # Settings checked against a library's catalogue (ccxt exchange ids) fail here.
        print(f"risk-on-radar: {exc}", file=sys.stderr)
        return 2
    except CatalogueError as exc:
        print(f"risk-on-radar: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


def _rules(settings: Settings) -> int:
    for rule in builtin_rules(rule_defaults(settings)):
        print(f"{rule.id:<24} {rule.condition:<32} {rule.description}")
    return 0


async def _subscription(settings: Settings, command: str, address: str, rules: list[str]) -> int:
    try:
        destination = Destination.parse(address)
    except BadDestination as exc:
        print(f"risk-on-radar: {exc}", file=sys.stderr)
        return 2
    known = {r.id for r in builtin_rules(rule_defaults(settings))}
    wanted = [r.lower() for r in rules] or ["all"]
    unknown = [r for r in wanted if r != "all" and r not in known]
    if unknown:
        print(
            f"risk-on-radar: unknown rule {unknown[0]!r}; see `python -m bot rules`",
            file=sys.stderr,
        )
        return 2
    ids = [ALL_BUILTINS] if "all" in wanted else wanted
    store = await Store.open(settings.async_database_url)
    try:
        if command == "subscribe":
            changed = await store.subscribe(destination.address, ids, utcnow())
            print(f"{destination}: subscribed to {', '.join(changed) or 'nothing new'}")
        else:
            removed = await store.unsubscribe(destination.address, None if "all" in wanted else ids)
            print(f"{destination}: unsubscribed from {', '.join(removed) or 'nothing'}")
    finally:
        await store.close()
    return 0


async def _regime(store: Store, results: Sequence[FetchResult | BaseException]) -> Regime:
    """Score the regime from what was just fetched, over what the store already knew."""
    now = utcnow()
    latest = await store.latest_values()
    for result in results:
        if not isinstance(result, FetchResult):
            continue
        for sample in sorted(result.samples, key=lambda s: s.at):
            latest[sample.metric] = LatestValue(
                sample.metric, sample.value, sample.at, sample.source, sample.detail, None, now
            )
    return assess(latest, await dominance_reference(store, now), now)


async def _status(settings: Settings, metric: str | None, *, as_json: bool) -> int:
    prepare_catalogue(settings.ingest_metrics)
    if metric is not None:
        metric = metric.strip().lower()
        if metric not in CATALOGUE:
            known = ", ".join(CATALOGUE.builtin)
            print(f"risk-on-radar: unknown metric {metric!r}; try one of {known}", file=sys.stderr)
            return 2
    universe: UniverseStatus | None = None
    store = await Store.open(settings.async_database_url)
    try:
        async with aiohttp.ClientSession() as session:
            everything = default_sources(settings, session, store)
            sources = [s for s in everything if not isinstance(s, RegimeSource)]
            # A source that needs another's input (the long/short source ranks alts by the
            # markets call) goes once those answered.
            needing = {spec.name for spec in CATALOGUE.sources if spec.needs}
            later = [s for s in sources if s.name in needing]
            first = [s for s in sources if s not in later]
            try:
                results = await asyncio.gather(
                    *(source.fetch(utcnow()) for source in first), return_exceptions=True
                )
                results += await asyncio.gather(
                    *(source.fetch(utcnow()) for source in later), return_exceptions=True
                )
                sources = first + later
                if metric == MarketsMetric.ASI:
                    universe = universe_status(asi_universe_of(everything)())
            finally:
                await close_sources(everything)
        states = await store.rule_states()
        regime = await _regime(store, results)
    finally:
        await store.close()
    metrics: dict[str, dict[str, object]] = {}
    errors: dict[str, str] = {}
    answered = 0
    for source, result in zip(sources, results, strict=True):
        if isinstance(result, FetchResult):
            # A source that only says why it has nothing (waiting, a bot wall) gave no number.
            answered += bool(result.samples)
            for sample in result.samples:
                metrics[sample.metric] = {
                    "value": sample.value,
                    "at": sample.at.isoformat().replace("+00:00", "Z"),
                    "source": sample.source,
                }
            for stale in result.stale:
                metrics.setdefault(stale.metric, {"value": None, "stale": stale.reason})
        elif isinstance(result, SourceError):
            errors[source.name] = result.message
        else:
            errors[source.name] = f"{type(result).__name__}: {result}"
    if regime.known:
        metrics[REGIME_METRIC] = {
            "value": float(regime.score),
            "at": utcnow().isoformat().replace("+00:00", "Z"),
            "source": REGIME_SOURCE,
            "components": {r.key: r.verdict for r in regime.readings},
        }
    rules = {
        rule.id: {"state": states[rule.id].state if rule.id in states else "inactive"}
        for rule in builtin_rules(rule_defaults(settings))
        if metric is None or rule.metric == metric
    }
    if metric is not None:
        metrics = {metric: metrics.get(metric, {"value": None, "stale": "no source gave it"})}
    if as_json:
        report: dict[str, object] = {"metrics": metrics, "rules": rules, "errors": errors}
        if universe is not None:
            report["universe"] = _universe_json(universe)
        print(json.dumps(report, indent=2))
    else:
        for metric, row in metrics.items():
            value = row.get("value")
            shown = (
                metric_info(metric).format(value)
                if isinstance(value, float)
                else f"stale: {row.get('stale')}"
            )
            print(f"{metric:<24} {shown:<24} {row.get('source', '')} {row.get('at', '')}")
        if regime.known and metric in (None, REGIME_METRIC):
            for reading in regime.readings:
                print(f"  {VERDICT_MARKS[reading.verdict]} {reading.label}: {reading.note}")
        if universe is not None:
            print("\n".join(_universe_lines(universe)))
        for rule_id, rule_row in rules.items():
            print(f"rule {rule_id:<24} {rule_row['state']}")
        for name, error in errors.items():
            print(f"source {name} failed: {error}", file=sys.stderr)
    return 0 if answered else 1


def _universe_lines(universe: UniverseStatus) -> list[str]:
    """Return the ASI universe as plain lines, every coin named (a terminal has room)."""
    if universe.at is None:
        return ["asi universe: not computed yet"]
    lines = [f"asi universe as of {format_time(universe.at)}"]
    if universe.bitcoin_change is None:
        lines.append("  bitcoin has no close from 90 days ago yet")
    else:
        lines.append(
            f"  bitcoin over 90 days {format_fraction(universe.bitcoin_change)}; "
            f"{len(universe.beat)} of {universe.counted} coins beat it"
        )
    for title, coins in (
        ("beat bitcoin", universe.beat),
        ("behind", universe.behind),
        ("no 90-day close", universe.without_history),
    ):
        if coins:
            shown = ", ".join(
                f"{c.symbol} {format_fraction(c.change)}" if c.change is not None else c.symbol
                for c in coins
            )
            lines.append(f"  {title} ({len(coins)}): {shown}")
    for reason, symbols in universe.excluded_by_reason():
        lines.append(f"  excluded, {reason}: {', '.join(symbols)}")
    return lines


def _universe_json(universe: UniverseStatus) -> dict[str, object]:
    return {
        "at": None if universe.at is None else universe.at.isoformat().replace("+00:00", "Z"),
        "bitcoin_90d": universe.bitcoin_change,
        "coins": [{"symbol": c.symbol, "name": c.name, "90d": c.change} for c in universe.coins],
        "excluded": [
            {"symbol": e.symbol, "name": e.name, "reason": e.reason} for e in universe.excluded
        ],
    }
