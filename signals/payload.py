"""Read decoded JSON with errors that name the field that was wrong."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeGuard

from signals.types import BadPayload


@dataclass(frozen=True, slots=True)
class Payload:
    """A JSON value, the provider it came from, and its path inside the body."""

    source: str
    value: object
    where: str = "$"

    def fail(self, problem: str) -> BadPayload:
        """Return the error for this field having `problem`."""
        return BadPayload(self.source, self.where, problem)

    def __getitem__(self, key: str) -> Payload:
        """Return the member `key` of this object; a missing member is a bad payload."""
        members = self.mapping()
        child = self._child(key)
        if key not in members:
            raise child.fail("missing")
        return Payload(self.source, members[key], child.where)

    def get(self, key: str) -> Payload | None:
        """Return the member `key`, or None when it is absent or null."""
        members = self.mapping()
        value = members.get(key)
        return None if value is None else Payload(self.source, value, self._child(key).where)

    def _child(self, key: str) -> Payload:
        where = key if self.where == "$" else f"{self.where}.{key}"
        return Payload(self.source, None, where)

    def mapping(self) -> dict[str, object]:
        """Return this value as a JSON object."""
        if not isinstance(self.value, dict):
            raise self.fail(f"expected an object, got {_kind(self.value)}")
        return self.value

    def items(self) -> Iterator[Payload]:
        """Iterate over this JSON array's elements."""
        for index, item in enumerate(self.array()):
            yield Payload(self.source, item, f"{self.where}[{index}]")

    def array(self) -> list[object]:
        """Return this value as a JSON array of raw values."""
        if not isinstance(self.value, list):
            raise self.fail(f"expected an array, got {_kind(self.value)}")
        return self.value

    def length(self) -> int:
        """Return the length of this JSON array."""
        return len(self.array())

    @property
    def is_null(self) -> bool:
        """Tell whether this value is JSON null."""
        return self.value is None

    def number(self) -> float:
        """Return this value as a finite number."""
        value = self.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"expected a number, got {_kind(value)}")
        result = float(value)
        if not math.isfinite(result):
            raise self.fail("not a finite number")
        return result

    def positive(self) -> float:
        """Return this value as a number above zero."""
        result = self.number()
        if result <= 0:
            raise self.fail(f"expected a positive number, got {result:g}")
        return result

    def percent(self) -> float:
        """Return this value as a percentage, 0 to 100."""
        result = self.number()
        if not 0 <= result <= 100:
            raise self.fail(f"expected a percentage, got {result:g}")
        return result

    def integer(self) -> int:
        """Return this value as an integer."""
        value = self.value
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"expected an integer, got {_kind(value)}")
        return value

    def text(self) -> str:
        """Return this value as a non-empty string."""
        if not isinstance(self.value, str) or not self.value:
            raise self.fail(f"expected a non-empty string, got {_kind(self.value)}")
        return self.value


def is_number(value: object) -> TypeGuard[int | float]:
    """Tell whether a decoded JSON value is a finite number (booleans are not)."""
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, str) and not value:
        return "an empty string"
    return type(value).__name__


class SkipLog:
    """Log each skipped data point once, however often a refresh sees it again."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._seen: set[str] = set()

    def skip(self, key: str, message: str, *args: object) -> None:
        """Log `message` the first time `key` is skipped."""
        if self.first(key):
            self._logger.warning(message, *args)

    def first(self, key: str) -> bool:
        """Return True the first time `key` is skipped (for a caller that logs a batch at once)."""
        if key in self._seen:
            return False
        self._seen.add(key)
        return True
