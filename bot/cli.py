"""Command line: run the service, or do an operator's chores without a chat."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiohttp

from bot.app import (
    asi_universe_of,
    close_sources,
    configure_logging,
    default_sources,
    rule_defaults,
    run,
)
from bot.charts import ChartError, draw
from bot.charts.data import backtest_chart_spec, chart_spec
from bot.charts.spec import ChartSpec
from bot.commands import UniverseStatus, universe_status
from bot.commands.backtests import resolve_rule, run_backtest
from bot.model.backtest import Backtest, report_lines
from bot.model.checks import prepare_catalogue
from bot.model.destinations import BadDestination, Destination
from bot.model.evaluation import condition_holds
from bot.model.formatting import format_age, format_ago, format_fraction, format_time
from bot.model.history_csv import CsvError, parse_history
from bot.model.metrics import CATALOGUE, FEED_NOTICES, CatalogueError, LatestValue, metric_info
from bot.model.regime import METRIC as REGIME_METRIC
from bot.model.regime import SOURCE as REGIME_SOURCE
from bot.model.regime import VERDICT_MARKS, Regime, assess
from bot.model.rules import ALL_BUILTINS, Rule, RuleSyntaxError, builtin_rules
from bot.settings import Settings, SettingsError, load_settings
from bot.storage import Store, StoreUnavailable
from bot.watch.engine import AlertEngine, custom_rule
from bot.watch.regime import RegimeSource, dominance_reference
from bot.web.health import CannotListen
from signals.specs.coingecko import MarketsMetric
from signals.types import FetchResult, ReportsProgress, Sample, Source, SourceError
from timing import MonotonicClock, Sleep, utcnow

log = logging.getLogger(__name__)

# While `status` waits, a line on stderr this often says for what.
PROGRESS_SECONDS = 10.0
# Imported samples name where they came from, as every sample names its source.
_IMPORT_SOURCE = "import"
_BAD_ROWS_SHOWN = 20


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
    commands.add_parser(
        "migrate", help="bring the database schema up to date and exit (a release phase's job)"
    )
    backtest = commands.add_parser(
        "backtest", help="replay a rule on the stored history through the live engine"
    )
    backtest.add_argument("rule", nargs="+", help='a rule id, or "<metric> <op> <value>"')
    backtest.add_argument("--from", dest="start", type=_day, help="first day, YYYY-MM-DD (UTC)")
    backtest.add_argument("--to", dest="end", type=_day, help="last day, YYYY-MM-DD (UTC)")
    backtest.add_argument("--json", action="store_true", help="print JSON")
    backtest.add_argument(
        "--chart", metavar="FILE.png", help="also draw the metric with a marker per firing"
    )
    history = commands.add_parser("history", help="manage stored history")
    history_commands = history.add_subparsers(dest="history_command", required=True)
    imported = history_commands.add_parser(
        "import", help="import a metric's history from a CSV file (no alert fires)"
    )
    imported.add_argument("metric", help="a metric id (python -m bot status lists them)")
    imported.add_argument("file", help="CSV with a header: date, time or timestamp; value or close")
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


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: use YYYY-MM-DD") from None


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
        if command == "migrate":
            return asyncio.run(_migrate(settings))
        if command == "status":
            return asyncio.run(_status(settings, args.metric, as_json=args.json))
        if command == "backtest":
            return asyncio.run(
                _backtest(
                    settings, args.rule, args.start, args.end, as_json=args.json, chart=args.chart
                )
            )
        if command == "history":
            return _import(settings, args.metric, args.file)
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


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat().replace("+00:00", "Z")


async def _backtest(
    settings: Settings,
    words: list[str],
    start: date | None,
    end: date | None,
    *,
    as_json: bool,
    chart: str | None = None,
) -> int:
    prepare_catalogue(settings.ingest_metrics)
    begin = None if start is None else datetime.combine(start, datetime.min.time(), UTC)
    # --to names the last day replayed, all of it.
    until = (
        None if end is None else datetime.combine(end + timedelta(days=1), datetime.min.time(), UTC)
    )
    if begin is not None and until is not None and begin >= until:
        print("risk-on-radar: --from must not be after --to", file=sys.stderr)
        return 2
    defaults = rule_defaults(settings)
    store = await Store.open(settings.async_database_url)
    try:
        customs = [
            custom_rule(rule_id, owner, spec, defaults)
            for rule_id, owner, spec in await store.custom_rule_rows()
            if spec.metric in CATALOGUE
        ]
        rules = [*builtin_rules(defaults), *customs]
        try:
            # "asi >= 75" may come quoted as one argument or unquoted as three.
            split = " ".join(words).split()
            rule = resolve_rule(split, rules, frozenset(_metric_ids()), defaults)
        except RuleSyntaxError as exc:
            print(f"risk-on-radar: {exc}", file=sys.stderr)
            return 2
        result = await run_backtest(store, rule, begin, until)
        spec = await backtest_chart_spec(store, result) if chart else None
    finally:
        await store.close()
    if as_json:
        print(json.dumps(_backtest_json(result, start, end), indent=2))
    else:
        print("\n".join(report_lines(result)))
    if chart:
        return await _write_chart(spec, chart, rule.metric)
    return 0


async def _write_chart(spec: ChartSpec | None, output: str, metric: str) -> int:
    """Draw `spec` to `output`; one line on stderr when there is nothing to draw or it fails."""
    if spec is None:
        print(f"risk-on-radar: chart: no {metric} values stored to draw", file=sys.stderr)
        return 1
    try:
        image = await draw(spec)
        await asyncio.to_thread(Path(output).write_bytes, image.png)
    except ChartError as exc:
        print(f"risk-on-radar: chart: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"risk-on-radar: chart: cannot write {output}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"{output}: {metric}, {len(spec.points)} points, {image.width}x{image.height}")
    return 0


def _backtest_json(result: Backtest, start: date | None, end: date | None) -> dict[str, object]:
    """Return the backtest as JSON: the contracted keys first, then the totals and aftermath."""
    first = None if result.first is None else result.first.date()
    last = None if result.last is None else result.last.date()
    shown_from, shown_to = start or first, end or last
    return {
        "rule": result.rule.id,
        "metric": result.rule.metric,
        "from": None if shown_from is None else shown_from.isoformat(),
        "to": None if shown_to is None else shown_to.isoformat(),
        "samples": result.samples,
        "events": [{"state": e.state, "at": _iso(e.at), "value": e.value} for e in result.events],
        "condition": result.rule.condition,
        "fired": len(result.firings),
        "firing_seconds": result.firing_time.total_seconds(),
        "still_firing": result.still_firing,
        "after": [
            {
                "at": _iso(a.at),
                "changes": [
                    {"metric": c.metric, "days": c.days, "change": c.change} for c in a.changes
                ],
            }
            for a in result.aftermath
        ],
    }


def _metric_ids() -> tuple[str, ...]:
    return (*CATALOGUE.builtin, *CATALOGUE.pushed)


def _import(settings: Settings, metric: str, path: str) -> int:
    prepare_catalogue(settings.ingest_metrics)
    metric = metric.strip().lower()
    if metric not in CATALOGUE or metric == FEED_NOTICES:
        print(
            f"risk-on-radar: unknown metric {metric[:40]!r}: expected one of "
            f"{', '.join(sorted(m for m in _metric_ids() if m != FEED_NOTICES))} "
            "(pushed-in metrics must be listed in INGEST_METRICS)",
            file=sys.stderr,
        )
        return 2
    info = metric_info(metric)
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            parsed = parse_history(handle, metric, _IMPORT_SOURCE, utcnow(), info.range_problem)
    except OSError as exc:
        print(f"risk-on-radar: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except UnicodeDecodeError:
        print(f"risk-on-radar: {path} is not UTF-8 text", file=sys.stderr)
        return 2
    except CsvError as exc:
        print(f"risk-on-radar: {path}: {exc}", file=sys.stderr)
        return 2
    if parsed.bad:
        print(
            f"risk-on-radar: {path}: {len(parsed.bad)} bad rows, nothing imported",
            file=sys.stderr,
        )
        for row in parsed.bad[:_BAD_ROWS_SHOWN]:
            print(f"  {row}", file=sys.stderr)
        if len(parsed.bad) > _BAD_ROWS_SHOWN:
            print(f"  and {len(parsed.bad) - _BAD_ROWS_SHOWN} more", file=sys.stderr)
        return 1
    if not parsed.samples:
        print(f"risk-on-radar: {path}: no rows after the header, nothing imported", file=sys.stderr)
        return 1
    asyncio.run(_store_history(settings, parsed.samples))
    first, last = parsed.samples[0].at, parsed.samples[-1].at
    print(
        f"imported {len(parsed.samples)} samples of {metric}, "
        f"from {format_time(first)} to {format_time(last)}"
    )
    return 0


async def _store_history(settings: Settings, samples: Sequence[Sample]) -> None:
    store = await Store.open(settings.async_database_url)
    try:
        await AlertEngine(store, rule_defaults(settings), utcnow).import_history(samples)
    finally:
        await store.close()


CHART_DAYS = 90


class BadChartRequest(ValueError):
    """A chart request that cannot be drawn as asked; the message is the one line shown."""


def _chart_day(text: str, option: str) -> date:
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
    first, last = _chart_day(args.start, "--from"), _chart_day(args.end, "--to")
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
    return await _write_chart(spec, args.output, metric)


async def _migrate(settings: Settings) -> int:
    store = await Store.open(settings.async_database_url)
    await store.close()
    before, after = store.migration.before, store.migration.after
    if before == after:
        print(f"the database schema is up to date (revision {after})")
    else:
        print(f"migrated the database schema from revision {before or 'none'} to {after}")
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


class _Progress:
    """Tell the operator on stderr what `status` waits for: a fresh database's first ASI
    back-fill takes minutes, and silence that long reads as a hang."""

    def __init__(
        self,
        names: Sequence[str],
        every: float = PROGRESS_SECONDS,
        *,
        sleep: Sleep = asyncio.sleep,
        clock: MonotonicClock = time.monotonic,
    ) -> None:
        self._pending = list(names)
        self._every = every
        self._sleep = sleep
        self._clock = clock
        self._started = clock()
        self.say(
            f"asking {len(names)} sources once: {', '.join(names)} (on a fresh database the "
            "ASI first back-fills a year of closes: a few minutes)"
        )

    @staticmethod
    def say(line: str) -> None:
        print(f"status: {line}", file=sys.stderr, flush=True)

    async def watch(self, source: Source) -> FetchResult:
        try:
            return await source.fetch(utcnow())
        finally:
            self._pending.remove(source.name)

    async def tick(self) -> None:
        while True:
            await self._sleep(self._every)
            if self._pending:
                waited = timedelta(seconds=self._clock() - self._started)
                self.say(f"still waiting for {', '.join(self._pending)} ({format_age(waited)})")


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
            progress = _Progress([s.name for s in first + later])
            for source in sources:
                if isinstance(source, ReportsProgress):
                    source.on_progress = progress.say
            ticker = asyncio.ensure_future(progress.tick())
            try:
                results = await asyncio.gather(
                    *(progress.watch(source) for source in first), return_exceptions=True
                )
                results += await asyncio.gather(
                    *(progress.watch(source) for source in later), return_exceptions=True
                )
                sources = first + later
                if metric == MarketsMetric.ASI:
                    universe = universe_status(asi_universe_of(everything)())
            finally:
                ticker.cancel()
                await close_sources(everything)
        states = await store.rule_states()
        regime = await _regime(store, results)
    finally:
        await store.close()
    metrics: dict[str, dict[str, object]] = {}
    times: dict[str, datetime] = {}
    errors: dict[str, str] = {}
    answered = 0
    for source, result in zip(sources, results, strict=True):
        if isinstance(result, FetchResult):
            # A source that only says why it has nothing (waiting, a bot wall) gave no number.
            answered += bool(result.samples)
            for sample in result.samples:
                times[sample.metric] = sample.at
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
        times[REGIME_METRIC] = utcnow()
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
        if metric is not None and rule.metric != metric:
            continue
        state = states[rule.id].state if rule.id in states else "inactive"
        rules[rule.id] = {"state": state, "holds": _holds_now(rule, fetched, earlier, regime)}
    if metric is not None:
        metrics = {metric: metrics.get(metric, {"value": None, "stale": "no source gave it"})}
    if as_json:
        report: dict[str, object] = {"metrics": metrics, "rules": rules, "errors": errors}
        if universe is not None:
            report["universe"] = _universe_json(universe)
        print(json.dumps(report, indent=2))
    else:
        now = utcnow()
        for metric_id, row in metrics.items():
            value = row.get("value")
            at = times.get(metric_id)
            if not isinstance(value, float) or at is None:
                print(f"{metric_id:<24} stale: {row.get('stale')}")
                continue
            shown = metric_info(metric_id).format(value)
            when = f"{format_ago(now - at)} ({format_time(at)})"
            print(f"{metric_id:<24} {shown:>14}  {row.get('source', ''):<16} {when}")
        if regime.known and metric in (None, REGIME_METRIC):
            for reading in regime.readings:
                print(f"  {VERDICT_MARKS[reading.verdict]} {reading.label}: {reading.note}")
        if universe is not None:
            print("\n".join(_universe_lines(universe)))
        for rule_id, rule_row in rules.items():
            holds = {True: "holds now", False: "does not hold", None: "unknown"}[
                rule_row["holds"]  # type: ignore[index]
            ]
            print(f"rule {rule_id:<24} {rule_row['state']:<9} {holds}")
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
