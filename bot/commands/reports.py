"""Typed answers of the command service, for front-ends to render."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from bot.model.alerts import AlertMessage, AlertState, Handling
from bot.model.destinations import Destination
from bot.model.quiet import QuietHours
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


@dataclass(frozen=True, slots=True)
class StatusReport:
    """Everything `/status` shows."""

    metrics: tuple[MetricStatus, ...]
    firing: tuple[RuleInfo, ...]
    generated_at: datetime
    regime: RegimeStatus | None = None


@dataclass(frozen=True, slots=True)
class SubscriptionChange:
    """What a subscribe or unsubscribe did, and what the chat is subscribed to now."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    current: tuple[str, ...]


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


@dataclass(frozen=True, slots=True)
class QuietInfo:
    """A chat's quiet hours (None: off), and how many held alerts a change let go."""

    quiet: QuietHours | None
    released: int = 0


@dataclass(frozen=True, slots=True)
class TimeZoneInfo:
    """The zone a chat's times are shown in, and the time there now."""

    zone: tzinfo
    now: datetime
