"""The typed results of reading a card: issuer data, holder data, the whole record.

Field names follow :mod:`sscard_terminal.codecs.records`, where the layouts of
EF05 and EF06 (LD/T 32-2015, card-spec.md "Records") are declared once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sscard_terminal.codecs.masking import mask_id_number, mask_name
from sscard_terminal.codecs.records import ITEMS_BY_KEY


def _date(text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None


@dataclass(frozen=True)
class IssuerData:
    """EF05, card issuer data (tags 01..07)."""

    card_id_code: str | None
    card_class: str | None
    spec_version: str | None
    init_org: str | None
    issue_date: str | None
    expiry_date: str | None
    card_number: str | None

    @property
    def region(self) -> str:
        """The region code: the first 6 digits of the card identification code."""
        return (self.card_id_code or "")[:6]

    @property
    def expiry(self) -> dt.date | None:
        return _date(self.expiry_date)

    @property
    def generation(self) -> int | None:
        if not self.spec_version:
            return None
        return 3 if self.spec_version.startswith("3") else 2


@dataclass(frozen=True)
class HolderData:
    """EF06, cardholder basics (tags 08, 09, 4E, 0A, 0B, 0C, 0D)."""

    id_number: str | None
    name: str | None
    sex: str | None
    ethnic_group: str | None
    birthplace: str | None
    birth_date: str | None

    def masked(self) -> HolderData:
        return HolderData(
            mask_id_number(self.id_number) if self.id_number else None,
            mask_name(self.name) if self.name else None,
            self.sex,
            self.ethnic_group,
            self.birthplace,
            self.birth_date,
        )


@dataclass(frozen=True)
class CardholderRecord:
    """What a terminal learns from a card: ATR, EF05 and, when readable, EF06."""

    atr: bytes
    historical_bytes: bytes
    issuer: IssuerData
    holder: HolderData | None
    #: why EF06 was not read (e.g. "EF06 needs authentication (6982)"), or None
    holder_unavailable: str | None = None

    def missing(self, issuer_keys: Iterable[str], holder_keys: Iterable[str]) -> tuple[str, ...]:
        """The labels of the items asked for that the card did not give: EF06
        refused (a 3.0 card without authentication) or an item the card lacks."""
        gone = [k for k in issuer_keys if not getattr(self.issuer, k)]
        gone += [k for k in holder_keys if self.holder is None or not getattr(self.holder, k)]
        return tuple(ITEMS_BY_KEY[k].label for k in gone)

    def to_json(self, *, reveal: bool = False) -> dict[str, Any]:
        """A JSON-ready dict. Personal data is masked unless ``reveal``."""
        holder = None
        if self.holder is not None:
            holder = asdict(self.holder if reveal else self.holder.masked())
        return {
            "atr": self.atr.hex().upper(),
            "card_reset_info": self.historical_bytes.hex().upper(),
            "region": self.issuer.region,
            "issuer": asdict(self.issuer),
            "holder": holder,
            "holder_unavailable": self.holder_unavailable,
            "masked": not reveal,
        }
