"""Typed values and errors that cross the signals boundary."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Sample:
    """One observation of a metric: its value, when it held, and who said so."""

    metric: str
    value: float
    at: datetime
    source: str
    detail: tuple[tuple[str, str], ...] = ()
    # A value built from parts some of which are unknown lies somewhere in (low, high): a rule
    # moves only when its verdict is the same at both ends. None: the value is exact.
    bounds: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("Sample.at must be timezone-aware")
        if self.bounds is not None and not self.bounds[0] <= self.value <= self.bounds[1]:
            raise ValueError("Sample.value must lie within its bounds")

    @property
    def exact(self) -> bool:
        """Return True unless some of what makes up the value is unknown."""
        return self.bounds is None or self.bounds[0] == self.bounds[1]


@dataclass(frozen=True, slots=True)
class Stale:
    """A metric the source could not publish this time, and why."""

    metric: str
    reason: str


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one refresh of a source produced."""

    samples: tuple[Sample, ...] = ()
    stale: tuple[Stale, ...] = ()
    history: tuple[Sample, ...] = field(default=(), repr=False)


class SourceError(Exception):
    """A source could not produce a result; the base of every feed error."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.message = message


class SourceUnavailable(SourceError):
    """The provider did not answer usefully (timeout, connection refused, 5xx)."""


class RateLimited(SourceError):
    """The provider asked us to slow down."""

    def __init__(self, source: str, retry_after: float | None) -> None:
        hint = f" (retry after {retry_after:g} s)" if retry_after is not None else ""
        super().__init__(source, f"rate limited{hint}")
        self.retry_after = retry_after


class BadPayload(SourceError):
    """The provider answered, but not with what its contract promises."""

    def __init__(self, source: str, field_name: str, problem: str) -> None:
        super().__init__(source, f"bad payload at {field_name!r}: {problem}")
        self.field_name = field_name
        self.problem = problem


@runtime_checkable
class Warming(Protocol):
    """A source that needs a first long refresh (a back-fill) before its values mean anything."""

    def warming(self) -> str | None:
        """Return how far the warm-up is ("back-fill 31 of 51 coins"), or None when warm."""
        ...


class Source(Protocol):
    """A feed that a poller refreshes: one provider, one or more metrics."""

    name: str

    async def fetch(self, now: datetime) -> FetchResult:
        """Refresh once, returning samples and stale notices, or raise a `SourceError`."""
        ...


@runtime_checkable
class ReportsProgress(Protocol):
    """A source whose refresh can take minutes (a first back-fill) and says how it gets on.

    Whoever waits on it (the `status` command) sets `on_progress`; the source calls it with one
    plain line now and then while the long part runs.
    """

    on_progress: Callable[[str], None] | None
