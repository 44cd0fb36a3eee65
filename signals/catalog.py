"""The signal catalogue's vocabulary: what a source declares, and the catalogue assembled from it.

Each source declares itself once, in its module under `signals.specs`: its metric ids (a
`StrEnum`), their `MetricInfo`, the `Settings` fields it reads (a `Protocol`), the inputs it
needs from other sources and the factory that builds it. `signals.metrics` assembles those
declarations into the one `Catalogue` everything else asks. An id the catalogue does not list
is an error (`UnknownMetric`), never a neutral guess; metrics pushed in from outside
(`INGEST_METRICS`) are registered explicitly at start.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

if TYPE_CHECKING:
    import aiohttp

    from signals.history import MarketHistory
    from signals.types import Source

T = TypeVar("T")

# What a move means for the rotation thesis: `risk-on` is bullish for altcoins, `risk-off` not.
Lean = Literal["risk-on", "risk-off"]
# A real minus sign: it lines up with "+" and cannot be read as a hyphen.
MINUS = "−"
# Money units and what one unit is worth in dollars.
_MONEY: dict[str, float] = {"USD": 1.0, "USD m": 1e6, "USD bn": 1e9}
_COMPACT = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))

INTRADAY = timedelta(hours=2)
# Index closes arrive once per session: a long weekend plus a holiday is four days without one.
SESSION = timedelta(days=4)
# FRED's weekly series publish on Thursdays for the Wednesday before.
WEEKLY = timedelta(days=10)
# A daily figure stamped at midnight of its day, published that evening or the next morning.
DAILY = timedelta(days=2)
# Trading-day figures (ETF flows) skip weekends and holidays.
TRADING_DAY = timedelta(days=5)


class UnknownMetric(LookupError):
    """A metric id the catalogue does not list (a typo, or a pushed-in id never registered)."""

    def __init__(self, metric_id: str) -> None:
        super().__init__(metric_id)
        self.metric_id = metric_id

    def __str__(self) -> str:
        return (
            f"unknown metric id {self.metric_id!r}: not declared by any source in signals.specs "
            "nor registered as a pushed-in metric (INGEST_METRICS)"
        )


class BadSettings(ValueError):
    """A factory refused a setting's value; the message names the variable."""


class CatalogueError(ValueError):
    """The declarations do not fit together; the bot refuses to start. One line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("signal catalogue is inconsistent: " + "; ".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True, slots=True)
class ValidRange:
    """The values a metric can take: a rule's threshold outside them can never mean anything."""

    low: float = -math.inf
    high: float = math.inf
    # True when `low` itself is impossible: a price or a ratio is above 0, never 0.
    above_low: bool = False
    kind: str = "a number"

    def problem(self, metric: str, value: float) -> str | None:
        """Return why `value` is out of range for `metric`, or None when it is in range."""
        too_low = value <= self.low if self.above_low else value < self.low
        if too_low or value > self.high:
            return f"{metric} is {self}; got {_plain(value)}"
        return None

    def __str__(self) -> str:
        if math.isinf(self.high):
            return f"{self.kind} {'above' if self.above_low else 'of at least'} {_plain(self.low)}"
        return f"{self.kind} from {_plain(self.low)} to {_plain(self.high)}"


def _plain(value: float) -> str:
    return f"{value:.10g}" if abs(value) < 1e10 else f"{value:.0f}"


PERCENT = ValidRange(0, 100, kind="a percentage")
INDEX = ValidRange(0, 100, kind="an index")
USD_AMOUNT = ValidRange(0, above_low=True, kind="an amount in USD")
LEVEL = ValidRange(0, above_low=True)
COUNT = ValidRange(0, kind="a count")
RATIO = ValidRange(0, kind="a ratio")


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """What a metric id means to a reader and to the rule engine.

    `reads` names what a derived metric is computed from: other metric ids, or inputs a source
    provides (`SourceSpec.provides`); the catalogue checks each one exists.
    """

    id: str
    label: str
    unit: str
    decimals: int
    max_age: timedelta
    band: float
    band_is_fraction: bool = False
    reads: tuple[str, ...] = ()
    # What a threshold on this metric may be; None: any number (a change, a flow, a histogram).
    valid_range: ValidRange | None = None
    # What a rise means for the rotation thesis (a fall means the opposite); None: no known
    # meaning. The one place a rule's, an alert's and a resolution's risk-on/off comes from.
    rising: Lean | None = None
    # Money that reads compactly ($1.32T, $937.6B, $91.2k); prices keep their precision.
    compact: bool = False
    # A whole number of things (sessions, days, signals agreeing): changes are plain
    # differences ("up from 2"), never a percent.
    counts: bool = False

    def range_problem(self, value: float) -> str | None:
        """Return why `value` cannot be a threshold on this metric, or None when it can."""
        return None if self.valid_range is None else self.valid_range.problem(self.id, value)

    def hysteresis(self, threshold: float) -> float:
        """Return the re-arm band for a rule on this metric at `threshold`."""
        return abs(threshold) * self.band if self.band_is_fraction else self.band

    def lean(self, rises: bool) -> Lean | None:
        """Return what a move up (`rises`) or down in this metric means, None when unknown."""
        if self.rising is None:
            return None
        return self.rising if rises else opposite(self.rising)

    def format(self, value: float) -> str:
        """Render a value with this metric's precision and unit: `58.71%`, `$1.32T`, `4 of 6`."""
        sign = MINUS if value < 0 and round(value, self.decimals) != 0 else ""
        size = abs(value)
        if self.unit in _MONEY:
            if self.compact:
                return sign + compact_usd(size * _MONEY[self.unit])
            return f"{sign}${size:,.{self.decimals}f}"
        suffix = self.unit if self.unit == "%" else (f" {self.unit}" if self.unit else "")
        return f"{sign}{size:,.{self.decimals}f}{suffix}"


def opposite(lean: Lean) -> Lean:
    """Return the other way: a resolution of a risk-on signal is a move toward risk-off."""
    return "risk-off" if lean == "risk-on" else "risk-on"


def compact_usd(amount: float) -> str:
    """Return a non-negative dollar amount in three or four digits: $1.32T, $937.6B, $91.2k, $512."""
    for index, (size, suffix) in enumerate(_COMPACT):
        if amount >= size:
            scaled = amount / size
            text = f"{scaled:.2f}" if scaled < 10 else f"{scaled:,.1f}"
            if scaled >= 999.95 and index > 0:
                # 999.96B rounds to 1000.0B: that is $1.00T.
                bigger, bigger_suffix = _COMPACT[index - 1]
                return f"${amount / bigger:.2f}{bigger_suffix}"
            return f"${text}{suffix}"
    text = f"{amount:.0f}"
    return "$1.00k" if text == "1000" else f"${text}"


def pushed_info(metric_id: str) -> MetricInfo:
    """Return the neutral entry a metric pushed in from outside gets: no unit, four decimals."""
    return MetricInfo(metric_id, metric_id, "", 4, INTRADAY, 0.0)


class BuildContext:
    """What a source's factory gets besides the settings: shared clients and other sources' inputs."""

    def __init__(self, session: aiohttp.ClientSession, history: MarketHistory) -> None:
        self.session = session
        self.history = history
        self._shared: dict[str, object] = {}
        self._provided: dict[str, object] = {}

    def shared(self, key: str, make: Callable[[], T]) -> T:
        """Return the object kept under `key`, making it the first time (one client, one budget)."""
        if key not in self._shared:
            self._shared[key] = make()
        found: T = self._shared[key]  # type: ignore[assignment]
        return found

    def provide(self, name: str, value: object) -> None:
        """Offer an input (declared in `SourceSpec.provides`) to the sources that need it."""
        self._provided[name] = value

    def needed(self, name: str) -> object:
        """Return an input another source provided (declared in `SourceSpec.needs`)."""
        try:
            return self._provided[name]
        except KeyError:
            problem = f"input {name!r} was needed before any source provided it"
            raise CatalogueError([problem]) from None


Factory = Callable[[Any, BuildContext], "Source"]


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """One source's declaration: its poller name, metrics, settings, inputs and factory.

    `settings` names the `Settings` fields the factory reads (see `setting_names`); `build` is
    None for a source the bot builds itself (the regime reads the bot's store). `poll_key` names
    the `<SOURCE>_POLL_SECONDS` that paces it, when not its own name.
    """

    name: str
    metrics: tuple[MetricInfo, ...]
    settings: tuple[str, ...] = ()
    build: Factory | None = None
    needs: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    poll_key: str | None = None

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.metrics)


def setting_names(protocol: type) -> tuple[str, ...]:
    """Return the fields a settings `Protocol` declares, its bases' included."""
    names: dict[str, None] = {}
    for klass in reversed(protocol.__mro__):
        if klass in (object, Protocol) or klass.__module__ == "typing":
            continue
        names.update(dict.fromkeys(inspect.get_annotations(klass)))
    return tuple(names)


@dataclass
class Catalogue:
    """Every metric the bot knows, assembled from the sources' declarations."""

    sources: tuple[SourceSpec, ...]
    _builtin: dict[str, MetricInfo] = field(init=False, repr=False)
    _pushed: dict[str, MetricInfo] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        problems = _duplicates(self.sources)
        if problems:
            raise CatalogueError(problems)
        self._builtin = {m.id: m for spec in self.sources for m in spec.metrics}

    @property
    def builtin(self) -> Mapping[str, MetricInfo]:
        """The metrics the bot computes, in declaration order (read-only)."""
        return MappingProxyType(self._builtin)

    @property
    def pushed(self) -> tuple[str, ...]:
        """The metrics registered as pushed in from outside, in registration order."""
        return tuple(self._pushed)

    def __contains__(self, metric_id: object) -> bool:
        return metric_id in self._builtin or metric_id in self._pushed

    def info(self, metric_id: str) -> MetricInfo:
        """Return `metric_id`'s entry; raise `UnknownMetric` for an id nobody declared."""
        found = self._builtin.get(metric_id) or self._pushed.get(metric_id)
        if found is None:
            raise UnknownMetric(metric_id)
        return found

    def register_pushed(self, metric_ids: Iterable[str]) -> None:
        """Register ids no source computes, each with a neutral entry: metrics pushed in from
        outside (`INGEST_METRICS`), and the bot's own event ids such as operator notices."""
        ids = [str(m) for m in metric_ids]
        clashing = [m for m in ids if m in self._builtin]
        if clashing:
            raise CatalogueError(
                [f"pushed-in metric {m!r} is computed by the bot" for m in clashing]
            )
        for metric_id in ids:
            self._pushed.setdefault(metric_id, pushed_info(metric_id))

    def provider_of(self, metric_id: str) -> SourceSpec:
        """Return the source that declares `metric_id`."""
        for spec in self.sources:
            if metric_id in spec.ids:
                return spec
        raise UnknownMetric(metric_id)

    def problems(self) -> list[str]:
        """Return what does not fit: reads and needs naming nothing, a cycle among sources."""
        inputs = {name for spec in self.sources for name in spec.provides}
        found = []
        for info in self._builtin.values():
            for read in info.reads:
                if read not in self._builtin and read not in inputs:
                    found.append(f"{info.id} reads {read!r}, which no source declares")
                elif read == info.id:
                    found.append(f"{info.id} reads itself")
        for spec in self.sources:
            for need in spec.needs:
                if need not in inputs:
                    found.append(f"source {spec.name} needs {need!r}, which no source provides")
        if not found:
            try:
                self.build_order()
            except CatalogueError as exc:
                found.extend(exc.problems)
        return found

    def check(self) -> None:
        """Raise `CatalogueError` listing every problem, if there is one."""
        problems = self.problems()
        if problems:
            raise CatalogueError(problems)

    def build_order(self) -> tuple[SourceSpec, ...]:
        """Return the sources in declaration order, moved after the sources whose inputs they need."""
        providers = {name: spec.name for spec in self.sources for name in spec.provides}
        done: list[SourceSpec] = []
        waiting = list(self.sources)
        while waiting:
            ready_names = {spec.name for spec in done}
            ready = [
                spec
                for spec in waiting
                if all(providers.get(need) in ready_names for need in spec.needs)
            ]
            if not ready:
                names = ", ".join(spec.name for spec in waiting)
                raise CatalogueError([f"sources {names} need each other's inputs (a cycle)"])
            done.append(ready[0])
            waiting.remove(ready[0])
        return tuple(done)


def _duplicates(sources: Sequence[SourceSpec]) -> list[str]:
    problems = []
    seen_ids: dict[str, str] = {}
    seen_names: set[str] = set()
    seen_inputs: dict[str, str] = {}
    for spec in sources:
        if spec.name in seen_names:
            problems.append(f"two sources are named {spec.name!r}")
        seen_names.add(spec.name)
        for metric_id in spec.ids:
            if metric_id in seen_ids:
                problems.append(
                    f"metric {metric_id!r} is declared by {seen_ids[metric_id]} and {spec.name}"
                )
            seen_ids[metric_id] = spec.name
        for name in spec.provides:
            if name in seen_inputs:
                problems.append(
                    f"input {name!r} is provided by {seen_inputs[name]} and {spec.name}"
                )
            seen_inputs[name] = spec.name
    return problems
