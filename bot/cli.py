"""Command line: run the service, or do an operator's chores without a chat."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiohttp

from bot.app import close_sources, configure_logging, default_sources, rule_defaults, run
from bot.charts import ChartError, draw
from bot.charts.data import chart_spec
from bot.model.checks import prepare_catalogue
from bot.model.destinations import BadDestination, Destination
from bot.model.evaluation import condition_holds
from bot.model.metrics import CATALOGUE, CatalogueError, LatestValue, metric_info
from bot.model.regime import METRIC as REGIME_METRIC
from bot.model.regime import SOURCE as REGIME_SOURCE
from bot.model.regime import VERDICT_MARKS, Regime, assess
from bot.model.rules import ALL_BUILTINS, Rule, builtin_rules
from bot.settings import Settings, SettingsError, load_settings
from bot.storage import Store, StoreUnavailable
from bot.watch.engine import AlertEngine
from bot.watch.regime import RegimeSource, dominance_reference
from bot.web.health import CannotListen
from signals.types import FetchResult, Sample, SourceError
from timing import utcnow

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Risk-On Radar")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="run the service (the default)")
    status = commands.add_parser("status", help="fetch every source once and print the metrics")
    status.add_argument("--json", action="store_true", help="print JSON")
    for name, verb in (("subscribe", "send"), ("unsubscribe", "stop sending")):
        sub = commands.add_parser(name, help=f"{verb} a destination alerts")
        sub.add_argument(
            "destination",
            help="telegram:<chat>[/<topic>], discord:<channel>, webhook:<url>, console",
        )
        sub.add_argument("rules", nargs="*", help="rule ids, or all (the default)")
    commands.add_parser("rules", help="list the built-in rules")
    chart = commands.add_parser("chart", help="draw a metric's history and rules to a PNG")
    chart.add_argument("metric", help="a metric id, e.g. asi")
    # Values are checked by `_chart_span`, which answers bad input in one line.
    chart.add_argument("--days", help=f"the last N days (default {CHART_DAYS})")
    chart.add_argument("--from", dest="start", metavar="YYYY-MM-DD", help="first day (UTC)")
    chart.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="last day (UTC)")
    chart.add_argument(
        "--rule",
        dest="rules",
        action="append",
        default=[],
        metavar="ID",
        help="draw only these rules (built-in or custom ids); default: the built-in ones",
    )
    chart.add_argument("--output", metavar="FILE.png", help="where to write the PNG")
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
            return asyncio.run(_status(settings, as_json=args.json))
        if command == "chart":
            return asyncio.run(_chart(settings, args))
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


CHART_DAYS = 90


class BadChartRequest(ValueError):
    """A chart request that cannot be drawn as asked; the message is the one line shown."""


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadChartRequest(f"{option} {text!r} is not a date: use YYYY-MM-DD") from None


def _chart_span(
    args: argparse.Namespace, now: datetime, max_days: int
) -> tuple[datetime, datetime]:
    """Return the span a chart covers, from `--days` or `--from`/`--to`."""
    if args.days is not None and (args.start is not None or args.end is not None):
        raise BadChartRequest("give --days or --from/--to, not both")
    if args.start is None and args.end is None:
        days = CHART_DAYS if args.days is None else args.days
        if not str(days).isdigit() or not 1 <= int(days) <= max_days:
            raise BadChartRequest(f"--days takes a whole number from 1 to {max_days}")
        return now - timedelta(days=int(days)), now
    if args.start is None or args.end is None:
        raise BadChartRequest("--from and --to go together")
    first, last = _day(args.start, "--from"), _day(args.end, "--to")
    if last < first:
        raise BadChartRequest("--to is before --from")
    start = datetime.combine(first, datetime.min.time(), UTC)
    # The last day counts whole: up to its final instant.
    end = datetime.combine(last, datetime.min.time(), UTC) + timedelta(days=1, microseconds=-1)
    return start, end


async def _chart(settings: Settings, args: argparse.Namespace) -> int:
    prepare_catalogue(settings.ingest_metrics)
    metric = args.metric.strip().lower()
    try:
        if metric not in CATALOGUE:
            raise BadChartRequest(f"unknown metric {args.metric[:40]!r}; see `python -m bot rules`")
        if not args.output:
            raise BadChartRequest("--output FILE.png is required")
        start, end = _chart_span(args, utcnow(), settings.sample_retention_days)
    except BadChartRequest as exc:
        print(f"risk-on-radar: chart: {exc}", file=sys.stderr)
        return 2
    store = await Store.open(settings.async_database_url)
    try:
        engine = AlertEngine(store, rule_defaults(settings), utcnow)
        every = {rule.id: rule for rule in await engine.rules()}
        wanted = [r.strip().lower() for r in args.rules]
        unknown = [r for r in wanted if r not in every]
        elsewhere = [r for r in wanted if r in every and every[r].metric != metric]
        if unknown or elsewhere:
            problem = (
                f"unknown rule {unknown[0]!r}; see `python -m bot rules`"
                if unknown
                else f"rule {elsewhere[0]!r} watches {every[elsewhere[0]].metric}, not {metric}"
            )
            print(f"risk-on-radar: chart: {problem}", file=sys.stderr)
            return 2
        rules = [every[r] for r in wanted] if wanted else list(engine.builtins)
        spec = await chart_spec(store, metric, rules, start, end)
    finally:
        await store.close()
    if spec is None:
        print(
            f"risk-on-radar: chart: no {metric} values stored from {start:%Y-%m-%d} "
            f"to {end:%Y-%m-%d}",
            file=sys.stderr,
        )
        return 1
    try:
        image = await draw(spec)
        await asyncio.to_thread(Path(args.output).write_bytes, image.png)
    except ChartError as exc:
        print(f"risk-on-radar: chart: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"risk-on-radar: chart: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"{args.output}: {metric}, {len(spec.points)} points, {image.width}x{image.height}")
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


def _holds_now(
    rule: Rule, fetched: Mapping[str, Sample], history: Sequence[Sample], regime: Regime
) -> bool | None:
    """Return whether `rule`'s condition holds on what this run fetched (None: cannot tell).

    The database's rule states say what was alerted; this says what is true now, so that a
    fresh database does not read "inactive" beside a Russell 2000 closing at its high.
    """
    if rule.metric == REGIME_METRIC:
        if not regime.known:
            return None
        unknown = len(regime.readings) - regime.known
        return condition_holds(rule, regime.score, (regime.score, regime.score + unknown))
    sample = fetched.get(rule.metric)
    if sample is None:
        return None
    if rule.op == "new high":
        before = [s.value for s in history if s.metric == rule.metric and s.at < sample.at]
        return sample.value > max(before) if before else None
    return condition_holds(rule, sample.value)


async def _status(settings: Settings, *, as_json: bool) -> int:
    prepare_catalogue(settings.ingest_metrics)
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
    fetched = {s.metric: s for r in results if isinstance(r, FetchResult) for s in r.samples}
    earlier = [s for r in results if isinstance(r, FetchResult) for s in r.history]
    rules: dict[str, dict[str, object]] = {}
    for rule in builtin_rules(rule_defaults(settings)):
        state = states[rule.id].state if rule.id in states else "inactive"
        rules[rule.id] = {"state": state, "holds": _holds_now(rule, fetched, earlier, regime)}
    if as_json:
        print(json.dumps({"metrics": metrics, "rules": rules, "errors": errors}, indent=2))
    else:
        for metric, row in metrics.items():
            value = row.get("value")
            shown = (
                metric_info(metric).format(value)
                if isinstance(value, float)
                else f"stale: {row.get('stale')}"
            )
            print(f"{metric:<24} {shown:<24} {row.get('source', '')} {row.get('at', '')}")
        if regime.known:
            for reading in regime.readings:
                print(f"  {VERDICT_MARKS[reading.verdict]} {reading.label}: {reading.note}")
        for rule_id, rule_row in rules.items():
            holds = {True: "holds now", False: "does not hold", None: "unknown"}[
                rule_row["holds"]  # type: ignore[index]
            ]
            print(f"rule {rule_id:<24} {rule_row['state']:<9} {holds}")
        for name, error in errors.items():
            print(f"source {name} failed: {error}", file=sys.stderr)
    return 0 if answered else 1
