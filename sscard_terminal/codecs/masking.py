"""Masking of personal data for error messages and logs.

Neither a full citizen ID number (GB 11643-1999) nor a full name ever goes into an
error message, a log line or a trace: they go through these helpers first. The ID
number keeps its address code (the first 6 characters, GB/T 2260) and its last 4
characters (sequence code tail and check character, GB 11643-1999 clause 4), so
that an operator can still tell two records apart; the birth date is hidden.
"""

from __future__ import annotations

__all__ = ["mask_id_number", "mask_name"]

_MASK = "*"


def mask_id_number(value: str) -> str:
    """Mask a citizen ID number: ``"330203199001011236" -> "330203********1236"``.

    Strings of 14 characters or more keep their first 6 and last 4 characters (the
    15-digit numbers of the first generation too); anything shorter, which cannot
    be a valid ID number, is masked completely, so that a malformed input never
    leaks more than a well-formed one.
    """
    if len(value) >= 14:
        return value[:6] + _MASK * (len(value) - 10) + value[-4:]
    return _MASK * len(value)


def mask_name(name: str) -> str:
    """Mask a name: ``"张三丰" -> "张**"``, keeping only the first character.

    A name of one character is masked completely (keeping it would show all of it).
    """
    if len(name) <= 1:
        return _MASK * len(name)
    return name[0] + _MASK * (len(name) - 1)
