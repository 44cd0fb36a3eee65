"""The contract between the dispatcher and every way of delivering an alert."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol

from bot.model.alerts import AlertMessage, HeldSummary, StoredEvent
from bot.model.destinations import Destination, Scheme
from bot.model.quiet import HoldReason


class DeliveryError(Exception):
    """A notifier could not deliver; subclasses tell the dispatcher what to do next."""


class TransientDeliveryError(DeliveryError):
    """Try again later: network trouble, 5xx, flood control."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """The platform refused for good (blocked, kicked, not found): deactivate the destination."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DestinationMoved(DeliveryError):
    """The destination lives at a new address now (a Telegram group became a supergroup)."""

    def __init__(self, new_destination: Destination) -> None:
        super().__init__(f"moved to {new_destination}")
        self.new_destination = new_destination


@dataclass(frozen=True, slots=True)
class AlertChart:
    """An alert's chart as the notifiers send it: PNG bytes and their size in pixels."""

    png: bytes
    width: int
    height: int


class ChartSource(Protocol):
    """What a chat notifier asks for an alert's chart (bot.charts.alerts draws them)."""

    async def image(self, message: AlertMessage) -> AlertChart | None:
        """Return the chart of `message`'s event, or None when it has none."""
        ...


class Notifier(Protocol):
    """Deliver alerts to one kind of destination."""

    scheme: Scheme

    async def send(
        self, destination: Destination, message: AlertMessage, zone: tzinfo = UTC
    ) -> None:
        """Deliver `message`, its times in `zone`, or raise a `DeliveryError`; return once accepted."""
        ...

    async def send_summary(
        self, destination: Destination, summary: HeldSummary, zone: tzinfo = UTC
    ) -> None:
        """Deliver held alerts as one message, or raise a `DeliveryError`, as `send` does."""
        ...


@dataclass(frozen=True, slots=True)
class HeldRow:
    """One held alert that a summary delivers: its outbox row, event, and why it was held."""

    row_id: int
    event: StoredEvent
    reason: HoldReason


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One pending delivery: an event for a destination, or a summary of the rows it held.

    `zone` is the destination's time zone. A summary's `held` lists every row it settles, this
    one first; a plain alert's is empty.
    """

    id: int
    destination_id: int
    destination: Destination
    attempts: int
    event: StoredEvent
    zone: tzinfo = UTC
    held: tuple[HeldRow, ...] = ()

    @property
    def row_ids(self) -> tuple[int, ...]:
        """Return the outbox rows this delivery settles: the summary's, or this one."""
        return tuple(h.row_id for h in self.held) or (self.id,)

    def summary(self) -> HeldSummary:
        """Return the held alerts as the notifier's summary, oldest first."""
        return HeldSummary(
            self.id,
            tuple(h.event.message() for h in self.held),
            frozenset(h.reason for h in self.held),
        )


@dataclass(frozen=True, slots=True)
class Sent:
    """The platform accepted the message."""


@dataclass(frozen=True, slots=True)
class Retry:
    """Try the same row again after `delay`."""

    delay: timedelta
    error: str


@dataclass(frozen=True, slots=True)
class Refused:
    """The destination refused for good: deactivate it."""

    reason: str


@dataclass(frozen=True, slots=True)
class Moved:
    """The destination has a new address; deliver there."""

    new: Destination


DeliveryOutcome = Sent | Retry | Refused | Moved


@dataclass(frozen=True, slots=True)
class Claimed:
    """A row a worker holds until `until`: past that, another worker may take it over."""

    item: OutboxItem
    until: datetime


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one claimed row, and when the platform answered."""

    item: OutboxItem
    result: DeliveryOutcome
    at: datetime
