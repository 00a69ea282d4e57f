"""The cardholder's basic data (EF06 of the SSSE, LD/T 32-2015), validated.

A :class:`Person` holds what EF06 records (card-spec.md, "EF06"): the name
(tags 09 + 4E, GBK), the social security number (tag 08: the citizen ID number of
GB 11643-1999), sex (tag 0A, GB/T 2261.1 codes '1'/'2'), ethnic group (tag 0B,
GB 3304 code), birthplace (tag 0C, GB/T 2260 region code) and birth date (tag 0D).
Every Person is valid: construction normalises and checks all fields, and sex and
birth date must agree with the ID number. ``repr``/``str`` mask the name and the
ID number (and hide the birth date, which the masked ID number hides too).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sscard_terminal.codecs.id_number import IdNumber, is_region_code
from sscard_terminal.codecs.masking import mask_id_number, mask_name
from sscard_terminal.codecs.text import GBK, gbk_unencodable
from sscard_terminal.errors import PersonDataError

__all__ = [
    "ETHNIC_GROUP_CODES",
    "NAME_EXT_BYTES",
    "NAME_BYTES",
    "Person",
    "normalise_name",
    "split_name_gbk",
]

#: Bytes of the name item (tag 09) and of the name extension (tag 4E), LD/T 32-2015.
NAME_BYTES = 30
NAME_EXT_BYTES = 20

#: GB 3304-1991 codes: 01 (Han) .. 56 (Jino), 97 (other, not identified), 98
#: (foreigners of Chinese nationality).
ETHNIC_GROUP_CODES: frozenset[str] = frozenset([f"{n:02d}" for n in range(1, 57)] + ["97", "98"])

MIDDLE_DOT = "\u00b7"  # GBK A1A4, the separator in transliterated names (GB 3304 names too)
#: Look-alikes of the middle dot that people type, none of which GBK encodes.
_DOT_LOOKALIKES = str.maketrans({c: MIDDLE_DOT for c in "\u30fb\u2022\u2027\u2219\u22c5\uff65"})

_SEX_CODES: dict[str, str] = {
    "1": "1",
    "2": "2",
    "male": "1",
    "female": "2",
    "男": "1",
    "女": "2",
}

_FIELDS = ("name", "id_number", "sex", "ethnic_group", "birth_date", "birthplace")
_REQUIRED = frozenset({"name", "id_number", "ethnic_group", "birthplace"})


def normalise_name(name: str) -> str:
    """Strip blanks around the name and turn middle-dot look-alikes into U+00B7.

    U+30FB, U+2022, U+2027, U+2219, U+22C5 and U+FF65 become "·" (U+00B7), the
    middle dot GBK encodes (A1A4). Nothing else is changed.
    """
    if not isinstance(name, str):
        raise PersonDataError(f"name: expected text, got {type(name).__name__}")
    return name.strip().translate(_DOT_LOOKALIKES)


def split_name_gbk(name: str) -> tuple[str, str]:
    """Split a name into the text of tag 09 (up to 30 GBK bytes) and of tag 4E.

    LD/T 32-2015: the name item (09) holds the first 30 bytes, the name extension
    (4E, 20 bytes) the rest. A double-byte GBK character is never split: one that
    would straddle the 30-byte boundary goes wholly into 4E. Raises
    :class:`PersonDataError` (name masked) when a character is not GBK-encodable
    or when the rest does not fit in 20 bytes.
    """
    bad = gbk_unencodable(name)
    if bad is not None:
        position, char = bad
        raise PersonDataError(
            f"name {mask_name(name)}: character {char!r} (U+{ord(char):04X}) at position "
            f"{position} cannot be encoded in GBK"
        )
    used = 0
    cut = len(name)
    for position, char in enumerate(name):
        size = len(char.encode(GBK))
        if used + size > NAME_BYTES:
            cut = position
            break
        used += size
    head, rest = name[:cut], name[cut:]
    rest_bytes = len(rest.encode(GBK))
    if rest_bytes > NAME_EXT_BYTES:
        raise PersonDataError(
            f"name {mask_name(name)}: too long: {len(name.encode(GBK))} bytes in GBK; "
            f"tag 09 takes {used} and tag 4E at most {NAME_EXT_BYTES}, "
            f"{rest_bytes} would remain"
        )
    return head, rest


def _check_name(name: str) -> str:
    value = normalise_name(name)
    if not value:
        raise PersonDataError("name: must not be empty")
    for position, char in enumerate(value):
        if unicodedata.category(char).startswith("C"):
            raise PersonDataError(
                f"name {mask_name(value)}: control or unassigned character "
                f"U+{ord(char):04X} at position {position}"
            )
    split_name_gbk(value)
    return value


def _check_sex(sex: object) -> str:
    key = str(sex).strip().lower()
    try:
        return _SEX_CODES[key]
    except KeyError:
        raise PersonDataError(
            f"sex: {sex!r} is not one of '1', '2', 'male', 'female', '男', '女'"
        ) from None


def _check_birth_date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip()
        for fmt in ("%Y-%m-%d", "%Y%m%d"):
            try:
                parsed = dt.datetime.strptime(text, fmt).date()
            except ValueError:
                continue
            if len(text) == (10 if "-" in fmt else 8):
                return parsed
        raise PersonDataError("birth_date: expected a real date as YYYY-MM-DD or YYYYMMDD")
    raise PersonDataError(f"birth_date: expected a date or text, got {type(value).__name__}")


def _check_ethnic_group(value: object) -> str:
    text = str(value).strip() if isinstance(value, str | int) else ""
    if isinstance(value, bool) or not (text.isascii() and text.isdigit()) or len(text) > 2:
        raise PersonDataError(f"ethnic_group: {value!r} is not a 2-digit GB 3304 code")
    code = text.zfill(2)
    if code not in ETHNIC_GROUP_CODES:
        raise PersonDataError(
            f"ethnic_group: {code} is not a GB 3304 code (01..56, 97 other, 98 foreign-born)"
        )
    return code


def _check_birthplace(value: object) -> str:
    if not isinstance(value, str) or not is_region_code(value.strip()):
        raise PersonDataError(f"birthplace: {value!r} is not a 6-digit GB/T 2260 region code")
    return value.strip()


@dataclass(frozen=True, repr=False)
class Person:
    """The validated basic data of a cardholder (EF06, LD/T 32-2015).

    Direct construction normalises and validates like :meth:`create`, except that
    ``sex`` and ``birth_date`` must be given; :meth:`create` and
    :meth:`from_mapping` derive them from the ID number when left out. Errors are
    :class:`PersonDataError` naming the field, with personal data masked.
    """

    name: str
    id_number: str
    sex: str
    ethnic_group: str
    birth_date: dt.date
    birthplace: str

    def __post_init__(self) -> None:
        ident = _parse_id(self.id_number)
        sex = _check_sex(self.sex)
        birth_date = _check_birth_date(self.birth_date)
        masked = mask_id_number(ident.value)
        if sex != ident.sex:
            raise PersonDataError(
                f"sex does not agree with the ID number {masked} (its 17th digit)"
            )
        if birth_date != ident.birth_date:
            raise PersonDataError(
                f"birth_date does not agree with the birth date in the ID number {masked}"
            )
        normalised = {
            "name": _check_name(self.name),
            "id_number": ident.value,
            "sex": sex,
            "ethnic_group": _check_ethnic_group(self.ethnic_group),
            "birth_date": birth_date,
            "birthplace": _check_birthplace(self.birthplace),
        }
        for field, value in normalised.items():
            object.__setattr__(self, field, value)

    @classmethod
    def create(
        cls,
        name: str,
        id_number: str,
        *,
        ethnic_group: str | int,
        birthplace: str,
        sex: str | None = None,
        birth_date: dt.date | str | None = None,
    ) -> Person:
        """Validate and normalise; sex and birth date default to the ID number's."""
        ident = _parse_id(id_number)
        return cls(
            name=name,
            id_number=ident.value,
            sex=ident.sex if sex is None else sex,
            ethnic_group=_check_ethnic_group(ethnic_group),
            birth_date=ident.birth_date if birth_date is None else _check_birth_date(birth_date),
            birthplace=birthplace,
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Person:
        """Build from a mapping with the keys name, id_number, sex, ethnic_group,
        birth_date ("YYYY-MM-DD", "YYYYMMDD" or a date) and birthplace.

        sex and birth_date may be missing or None. Unknown or missing keys raise
        :class:`PersonDataError` naming them.
        """
        if not isinstance(data, Mapping):
            raise PersonDataError(f"person: expected a mapping, got {type(data).__name__}")
        unknown = sorted(str(k) for k in data if k not in _FIELDS)
        if unknown:
            raise PersonDataError(
                f"person: unknown keys {', '.join(unknown)} (allowed: {', '.join(_FIELDS)})"
            )
        missing = sorted(k for k in _REQUIRED if data.get(k) is None)
        if missing:
            raise PersonDataError(f"person: missing keys {', '.join(missing)}")
        return cls.create(
            name=data["name"],
            id_number=data["id_number"],
            ethnic_group=data["ethnic_group"],
            birthplace=data["birthplace"],
            sex=data.get("sex"),
            birth_date=data.get("birth_date"),
        )

    def to_mapping(self) -> dict[str, str]:
        """The inverse of :meth:`from_mapping`, birth date as YYYY-MM-DD."""
        return {
            "name": self.name,
            "id_number": self.id_number,
            "sex": self.sex,
            "ethnic_group": self.ethnic_group,
            "birth_date": self.birth_date.isoformat(),
            "birthplace": self.birthplace,
        }

    def ef06_texts(self) -> dict[str, str]:
        """The texts of the EF06 items, keyed as in ``codecs.records.EF06_ITEMS``."""
        name, name_ext = split_name_gbk(self.name)
        return {
            "id_number": self.id_number,
            "name": name,
            "name_ext": name_ext,
            "sex": self.sex,
            "ethnic_group": self.ethnic_group,
            "birthplace": self.birthplace,
            "birth_date": f"{self.birth_date:%Y%m%d}",
        }

    def __repr__(self) -> str:
        return (
            f"Person(name={mask_name(self.name)!r}, "
            f"id_number={mask_id_number(self.id_number)!r}, sex={self.sex!r}, "
            f"ethnic_group={self.ethnic_group!r}, birth_date='****-**-**', "
            f"birthplace={self.birthplace!r})"
        )

    def __str__(self) -> str:
        return f"{mask_name(self.name)} ({mask_id_number(self.id_number)})"


def _parse_id(value: object) -> IdNumber:
    if isinstance(value, IdNumber):
        return value
    if not isinstance(value, str):
        raise PersonDataError(f"id_number: expected text, got {type(value).__name__}")
    return IdNumber.parse(value)
