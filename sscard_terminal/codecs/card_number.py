"""The card number (卡号, EF05 tag 07) and its check character (LD/T 32-2015).

The card number is 9 characters, ``an`` 9: 8 characters (digits and capital
letters) followed by a check character. The check character, as LD/T 32-2015
gives it (see card-spec.md, "EF05"): weights 3, 7, 9, 10, 5, 8, 4, 2 over the 8
characters, digits counting as their value and letters as A=10, B=11, ... Z=35;
``c = 11 - (sum mod 11)``; c = 10 is written ``X`` and c = 11 is written ``0``.
Example: ``D2143569`` -> ``X``, card number ``D2143569X``.
"""

from __future__ import annotations

import string

from sscard_terminal.errors import PersonDataError

__all__ = ["WEIGHTS", "check_character", "is_valid_card_number", "make_card_number"]

WEIGHTS: tuple[int, ...] = (3, 7, 9, 10, 5, 8, 4, 2)
_ALPHABET = string.digits + string.ascii_uppercase  # index = value: 0..9, A=10 .. Z=35


def _body(body8: str) -> str:
    body = body8.upper()
    if len(body) != len(WEIGHTS):
        raise PersonDataError(
            f"card number: the body must be {len(WEIGHTS)} characters, got {len(body)}"
        )
    for position, char in enumerate(body):
        if char not in _ALPHABET:
            raise PersonDataError(
                f"card number: character {char!r} at position {position} "
                "is neither a digit nor a letter A-Z"
            )
    return body


def check_character(body8: str) -> str:
    """The check character of an 8-character card number body (LD/T 32-2015).

    Letters may be given in either case. Raises :class:`PersonDataError` when the
    body is not 8 characters of ``0-9A-Z``.
    """
    body = _body(body8)
    total = sum(_ALPHABET.index(char) * weight for char, weight in zip(body, WEIGHTS, strict=True))
    c = 11 - total % 11
    if c == 10:
        return "X"
    if c == 11:
        return "0"
    return str(c)


def make_card_number(body8: str) -> str:
    """The 9-character card number: the body (upper case) and its check character."""
    body = _body(body8)
    return body + check_character(body)


def is_valid_card_number(s: str) -> bool:
    """Whether ``s`` is a 9-character card number with the right check character.

    Letters are compared case-insensitively, as :func:`make_card_number` accepts
    either case.
    """
    if len(s) != len(WEIGHTS) + 1:
        return False
    try:
        return check_character(s[:-1]) == s[-1].upper()
    except PersonDataError:
        return False
