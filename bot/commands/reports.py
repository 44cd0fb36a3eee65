"""Typed answers of the command service, for front-ends to render."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from bot.model.alerts import AlertMessage, AlertState, Handling
from bot.model.backtest import Backtest
from bot.model.destinations import Destination
from bot.model.formatting import format_released, format_time
from bot.model.metrics import Lean
from bot.model.quiet import QuietHours, zone_name
from bot.model.regime import Reading


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a command and from where; `can_manage` is the front-end's authority check."""

    destination: Destination
    user: str
    can_manage: bool


class CommandError(Exception):
    """A command that cannot be done as asked; the message is the one-line reply."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAllowed(CommandError):
    """The caller may read here but not change this chat's settings."""


@dataclass(frozen=True, slots=True)
class MetricStatus:
    """A metric's latest value and how much to trust it."""

    metric: str
    label: str
    value: float | None
    formatted: str
    at: datetime | None
    age: timedelta | None
    source: str | None
    stale: bool
    stale_reason: str | None
    detail: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """A rule as a user sees it."""

    id: str
    description: str
    metric: str
    condition: str
    custom: bool
    state: str
    subscribed: bool = False
    # What its firing means: risk-on, risk-off, or None (a metric without a known meaning).
    lean: Lean | None = None
    # The metric's fresh value now, formatted, and whether the condition holds at it (None:
    # no fresh value, or unknown parts decide). A crossing can hold with the rule inactive:
    # it alerts on a crossing, and none was seen yet.
    value: str | None = None
    holds: bool | None = None
    since: datetime | None = None
    # Why the metric has no fresh value now, when it has none (said when an alert is added).
    no_data: str | None = None
    # How the rule would have done on the stored history (said when an alert is added).
    backtest: Backtest | None = None

    @property
    def already_true(self) -> bool:
        """Return True when the rule fires now or its condition holds now."""
        return self.state == "firing" or self.holds is True

    def now_text(self) -> str | None:
        """Return what is true of the rule now, in plain words, or None when nothing is."""
        at = f" at {self.value}" if self.value is not None else ""
        if self.state == "firing":
            since = f" since {format_time(self.since)}" if self.since is not None else ""
            return f"firing{since}{at}"
        if self.holds is True:
            if self.condition.split()[1:2] == ["crosses"]:
                return f"holds now{at}; it alerts on the next crossing"
            return f"holds now{at}"
        return None


@dataclass(frozen=True, slots=True)
class RegimeStatus:
    """The risk-on score and each component, ticked or not."""

    score: int
    readings: tuple[Reading, ...]
    at: datetime
    stale: bool

    @property
    def out_of(self) -> int:
        return len(self.readings)

    @property
    def unknown(self) -> int:
        return sum(r.verdict == "unknown" for r in self.readings)

    def score_text(self) -> str:
        """Return "4 of 6", or "3 of 6, 1 unknown" when components have no fresh value."""
        unknown = f", {self.unknown} unknown" if self.unknown else ""
        return f"{self.score} of {self.out_of}{unknown}"


@dataclass(frozen=True, slots=True)
class UniverseCoin:
    """A coin the ASI counted, and its 90-day change (None: no close from 90 days ago)."""

    symbol: str
    name: str
    change: float | None


@dataclass(frozen=True, slots=True)
class UniverseExclusion:
    """A coin ranked among the ASI's 50 but left out, and why (a category, a reason, `pegged`)."""

    symbol: str
    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class UniverseStatus:
    """The ASI's universe as its last computation left it; `at` None: not computed yet."""

    at: datetime | None
    bitcoin_change: float | None = None
    coins: tuple[UniverseCoin, ...] = ()
    excluded: tuple[UniverseExclusion, ...] = ()

    @property
    def computed(self) -> bool:
        return self.at is not None

    @property
    def counted(self) -> int:
        """Return how many coins have a 90-day change, the ones the index is a share of."""
        return sum(1 for coin in self.coins if coin.change is not None)

    @property
    def beat(self) -> tuple[UniverseCoin, ...]:
        """Return the coins whose change beats Bitcoin's, best first."""
        btc = self.bitcoin_change
        return _best_first(c for c in self.coins if _beats(c.change, btc))

    @property
    def behind(self) -> tuple[UniverseCoin, ...]:
        """Return the coins with a change that does not beat Bitcoin's, best first."""
        btc = self.bitcoin_change
        return _best_first(
            c for c in self.coins if c.change is not None and not _beats(c.change, btc)
        )

    @property
    def without_history(self) -> tuple[UniverseCoin, ...]:
        """Return the coins without a close from 90 days ago, by market cap."""
        return tuple(c for c in self.coins if c.change is None)

    def excluded_by_reason(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Return each reason with the symbols it excluded, reasons in order of first use."""
        groups: dict[str, list[str]] = {}
        for exclusion in self.excluded:
            groups.setdefault(exclusion.reason, []).append(exclusion.symbol)
        return tuple((reason, tuple(symbols)) for reason, symbols in groups.items())


def _beats(change: float | None, bitcoin: float | None) -> bool:
    return change is not None and bitcoin is not None and change > bitcoin


def _best_first(coins: Iterable[UniverseCoin]) -> tuple[UniverseCoin, ...]:
    return tuple(sorted(coins, key=lambda coin: coin.change or 0.0, reverse=True))


@dataclass(frozen=True, slots=True)
class StatusReport:
    """Everything `/status` shows; `universe` only for `/status asi`."""

    metrics: tuple[MetricStatus, ...]
    firing: tuple[RuleInfo, ...]
    generated_at: datetime
    regime: RegimeStatus | None = None
    # For `/status <metric>`: every built-in rule on it, with its state.
    rules: tuple[RuleInfo, ...] = ()
    universe: UniverseStatus | None = None


@dataclass(frozen=True, slots=True)
class SubscriptionChange:
    """What a subscribe or unsubscribe did, and what the chat is subscribed to now."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    current: tuple[str, ...]
    # The newly subscribed rules that are already true: firing, or their condition holding.
    already: tuple[RuleInfo, ...] = ()


@dataclass(frozen=True, slots=True)
class EventInfo:
    """One alert event from the history: the alert's data, which each front-end words.

    `handling` says whether it went out on its own, in a summary of held alerts, or is held still.
    """

    alert: AlertMessage
    handling: Handling = "sent"

    @property
    def id(self) -> int:
        return self.alert.event_id

    @property
    def rule_id(self) -> str:
        return self.alert.rule_id

    @property
    def state(self) -> AlertState:
        return self.alert.state

    @property
    def metric(self) -> str:
        return self.alert.metric

    @property
    def value(self) -> float:
        return self.alert.value

    @property
    def threshold(self) -> float | None:
        return self.alert.threshold

    @property
    def at(self) -> datetime:
        return self.alert.at


@dataclass(frozen=True, slots=True)
class MuteInfo:
    """How long a chat stays muted, and the chat's time zone to say it in."""

    until: datetime
    zone: tzinfo = UTC


@dataclass(frozen=True, slots=True)
class UnmuteInfo:
    """What an unmute let go: how many held alerts now go out in a summary.

    `quiet` is set when the chat is inside its quiet hours, which hold alerts still.
    """

    released: int
    quiet: QuietHours | None = None

    def text(self) -> str:
        """Return the reply in plain words, the same on every front-end."""
        text = "Alerts here are back on."
        if self.released:
            text += " " + format_released(self.released, "meanwhile")
        if self.quiet is not None:
            text += (
                f" Quiet hours ({self.quiet.span} {self.quiet.zone}) hold alerts until they end."
            )
        return text


@dataclass(frozen=True, slots=True)
class QuietInfo:
    """A chat's quiet hours (None: off), and how many held alerts a change let go."""

    quiet: QuietHours | None
    released: int = 0

    def text(self) -> str:
        """Return the reply in plain words, the same on every front-end."""
        if self.quiet is None:
            text = "Quiet hours are off here."
        else:
            text = (
                f"Quiet hours here: {self.quiet.span} {self.quiet.zone}, every day. Alerts that "
                "fire then are held and sent in one summary when they end."
            )
        if self.released:
            text += " " + format_released(self.released, "so far")
        return text


@dataclass(frozen=True, slots=True)
class TimeZoneInfo:
    """The zone a chat's times are shown in, and the time there now."""

    zone: tzinfo
    now: datetime

    def text(self) -> str:
        """Return the reply in plain words, the same on every front-end."""
        now = format_time(self.now, self.zone)
        return f"Times here are shown in {zone_name(self.zone)}: it is {now} now."


@dataclass(frozen=True, slots=True)
class ChartReport:
    """A chart of one metric, ready to send: the PNG and what its caption says."""

    metric: str
    label: str
    png: bytes
    width: int
    height: int
    days: int
    # The newest value drawn, formatted, and when it held.
    value: str
    at: datetime
    provider: str
    # The rules whose levels and alerts are drawn.
    rules: tuple[str, ...]
    fired: int
    resolved: int

    @property
    def filename(self) -> str:
        return f"{self.metric}-{self.days}d.png"

    def caption_lines(self) -> tuple[str, ...]:
        """Return the caption in plain text, one line each: value, span and source, rules."""
        alerts = f"{self.fired} alert{'s' if self.fired != 1 else ''} fired"
        if self.resolved:
            alerts += f", {self.resolved} resolved"
        rules = (
            f"Rules drawn: {', '.join(self.rules)} · {alerts}"
            if self.rules
            else f"No rule watches {self.metric} here; /alert {self.metric} > <value> adds one"
        )
        return (
            f"📊 {self.label}: {self.value}",
            f"{'Last day' if self.days == 1 else f'Last {self.days} days'} to "
            f"{format_time(self.at)} · source {self.provider}",
            rules,
        )
