"""Hostile text from chats and pushes: invisible characters and digits from other scripts."""

from __future__ import annotations

import unicodedata

ASCII_DIGITS = "use the digits 0-9"


def strip_invisible(text: str) -> str:
    """Return `text` without format characters (Unicode category Cf).

    Zero-width spaces and joiners, word joiners, byte-order marks, direction marks and soft
    hyphens (U+00AD is Cf too) come with copy-paste and cannot be seen: they are dropped, so
    `asi\\u200b` means what the reader sees, `asi`.
    """
    if text.isascii():
        return text
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def foreign_digit(text: str) -> str | None:
    """Return the first digit in `text` that is not ASCII 0-9 (e.g. `٣`, `３`), or None."""
    if text.isascii():
        return None
    for c in text:
        if c.isdigit() and not ("0" <= c <= "9"):
            return c
    return None


def describe(char: str) -> str:
    """Name one character for a reply: `'٣' (arabic-indic digit three)`."""
    return f"{char!r} ({unicodedata.name(char, f'U+{ord(char):04X}').lower()})"


def digit_problem(text: str, what: str = "a number") -> str | None:
    """Return a one-line refusal when `text` writes digits outside ASCII, else None."""
    digit = foreign_digit(text)
    if digit is None:
        return None
    return f"{text[:40]!r} is not {what}: {describe(digit)} is not an ASCII digit; {ASCII_DIGITS}"
