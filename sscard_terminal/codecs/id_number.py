"""The citizen identification number of GB 11643-1999 (公民身份号码).

The social security number on the card (EF06 tag 08) is this 18-character number
(GB 11643-1999 clause 4): address code (6 digits, a GB/T 2260 region code),
birth date code (8 digits, YYYYMMDD, GB/T 7408), sequence code (3 digits, odd for
men and even for women, clause 5.3) and check character (clause 5.4: ISO 7064
MOD 11-2). Clause 5.4 gives weights ``2^(i-1) mod 11``, which for positions 18..2
are 7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2, and the check value
``(12 - (sum mod 11)) mod 11``, written ``X`` when it is 10.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sscard_terminal.codecs.masking import mask_id_number
from sscard_terminal.errors import PersonDataError

__all__ = [
    "PROVINCE_CODES",
    "WEIGHTS",
    "IdNumber",
    "check_digit",
    "is_region_code",
    "make_id_number",
]

WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)

#: The province-level codes of GB/T 2260 (first two digits of a region code),
#: including Taiwan (71), Hong Kong (81) and Macao (82).
PROVINCE_CODES: frozenset[str] = frozenset(
    {
        *("11", "12", "13", "14", "15"),
        *("21", "22", "23"),
        *("31", "32", "33", "34", "35", "36", "37"),
        *("41", "42", "43", "44", "45", "46"),
        *("50", "51", "52", "53", "54"),
        *("61", "62", "63", "64", "65"),
        *("71", "81", "82"),
    }
)


def is_region_code(code: str) -> bool:
    """Whether ``code`` has the form of a GB/T 2260 region code.

    Six ASCII digits whose first two are a province-level code of GB/T 2260. The
    list of counties changes every year, so the last four digits are not checked
    against a table.
    """
    return len(code) == 6 and code.isascii() and code.isdigit() and code[:2] in PROVINCE_CODES


def check_digit(body17: str) -> str:
    """The check character of the first 17 digits (GB 11643-1999 clause 5.4)."""
    if len(body17) != 17 or not (body17.isascii() and body17.isdigit()):
        raise PersonDataError("ID number: the body must be 17 digits")
    total = sum(int(d) * w for d, w in zip(body17, WEIGHTS, strict=True))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def _birth_date(value: str) -> dt.date | None:
    try:
        return dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None


@dataclass(frozen=True, repr=False)
class IdNumber:
    """A validated 18-character citizen ID number (GB 11643-1999).

    Construction validates: 18 characters; the first 17 digits and the last a
    digit or ``X`` (a lower-case ``x`` is normalised to ``X``); a GB/T 2260-form
    address code; a real birth date that is not after today; the check character
    of clause 5.4. Errors are :class:`PersonDataError` whose messages show the
    number masked only. ``repr`` and ``str`` are masked too; use :attr:`value`.
    """

    value: str

    def __post_init__(self) -> None:
        value = self.value
        if value[-1:] == "x":
            value = value[:-1] + "X"
            object.__setattr__(self, "value", value)
        masked = mask_id_number(value)
        if len(value) != 18:
            raise PersonDataError(f"ID number {masked}: must be 18 characters, got {len(value)}")
        if not (value[:17].isascii() and value[:17].isdigit()):
            raise PersonDataError(f"ID number {masked}: the first 17 characters must be digits")
        if not (value[17].isdigit() and value[17].isascii()) and value[17] != "X":
            raise PersonDataError(f"ID number {masked}: the last character must be a digit or X")
        if not is_region_code(value[:6]):
            raise PersonDataError(
                f"ID number {masked}: the address code is not a GB/T 2260 region code"
            )
        born = _birth_date(value)
        if born is None:
            raise PersonDataError(f"ID number {masked}: the birth date part is not a valid date")
        if born > dt.date.today():
            raise PersonDataError(f"ID number {masked}: the birth date part is in the future")
        if check_digit(value[:17]) != value[17]:
            raise PersonDataError(f"ID number {masked}: wrong check character")

    @classmethod
    def parse(cls, s: str) -> IdNumber:
        """Parse and validate an ID number given as text (surrounding blanks ignored)."""
        if not isinstance(s, str):
            raise PersonDataError(f"ID number: expected text, got {type(s).__name__}")
        return cls(s.strip())

    @property
    def region(self) -> str:
        """The address code: the region of first registration (GB/T 2260)."""
        return self.value[:6]

    @property
    def birth_date(self) -> dt.date:
        """The birth date code as a date (GB 11643-1999 clause 5.2)."""
        born = _birth_date(self.value)
        assert born is not None  # validated on construction
        return born

    @property
    def sex(self) -> str:
        """``"1"`` (male) when the 17th digit is odd, ``"2"`` (female) when even
        (GB 11643-1999 clause 5.3; codes as GB/T 2261.1)."""
        return "1" if int(self.value[16]) % 2 else "2"

    def __repr__(self) -> str:
        return f"IdNumber({mask_id_number(self.value)!r})"

    def __str__(self) -> str:
        return mask_id_number(self.value)


def make_id_number(region6: str, birth_date: dt.date, seq3: str | int) -> str:
    """Build a valid ID number from its parts, computing the check character.

    ``seq3`` is the 3-digit sequence code (odd for men, even for women;
    GB 11643-1999 clause 5.3), given as text or as an int 0..999. The result is
    validated as :class:`IdNumber` (so a birth date in the future is refused).
    """
    seq = f"{seq3:03d}" if isinstance(seq3, int) and 0 <= seq3 <= 999 else str(seq3)
    if len(seq) != 3 or not (seq.isascii() and seq.isdigit()):
        raise PersonDataError("ID number: the sequence code must be 3 digits")
    if not is_region_code(region6):
        raise PersonDataError("ID number: the address code is not a GB/T 2260 region code")
    body = f"{region6}{birth_date:%Y%m%d}{seq}"
    if len(body) != 17:
        raise PersonDataError("ID number: the birth date must have a 4-digit year")
    return IdNumber(body + check_digit(body)).value
