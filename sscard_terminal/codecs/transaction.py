"""The medical transaction record of DF04 EF08 (this project's layout).

card-spec.md: EF08 of DF04 is a cyclic file of at least 30 records of 0x1C
bytes, read after the PIN, whose layout is not in the public sources: "a
project that writes them defines and documents its own". This is ours,
declared once with ``construct`` and used both ways:

| offset | bytes | field | encoding |
|---|---|---|---|
| 0 | 1 | type | 01 hospital, 02 pharmacy, 03 registration, 04 refund, 05 cancel, 06 reversal |
| 1 | 4 | date | BCD YYYYMMDD (Asia/Shanghai) |
| 5 | 3 | time | BCD HHMMSS |
| 8 | 1 | institution kind | ASCII letter of the institution code (H hospital, P pharmacy) |
| 9 | 6 | institution number | BCD, the code's 11 digits, F-padded |
| 15 | 4 | amount | fen, unsigned big-endian (the total of the settlement) |
| 19 | 4 | balance | fen, the personal account balance after it |
| 23 | 4 | serial | the terminal's transaction serial number |
| 27 | 1 | flags | bit 1: paid (partly) from the personal account; bit 2: refunded later |

Amounts are whole fen (0.01 yuan): the settlement layer converts its Decimals
exactly and refuses fractions of a fen.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum

from construct import Bytes, Int8ub, Int32ub, Struct

RECORD_SIZE = 0x1C


class TransactionType(IntEnum):
    HOSPITAL = 0x01
    PHARMACY = 0x02
    REGISTRATION = 0x03
    REFUND = 0x04
    CANCELLATION = 0x05
    REVERSAL = 0x06


FLAG_ACCOUNT = 0x01
FLAG_REFUNDED = 0x02

TransactionLayout = Struct(
    "type" / Int8ub,
    "date" / Bytes(4),
    "time" / Bytes(3),
    "institution_kind" / Bytes(1),
    "institution_number" / Bytes(6),
    "amount_fen" / Int32ub,
    "balance_fen" / Int32ub,
    "serial" / Int32ub,
    "flags" / Int8ub,
)
assert TransactionLayout.sizeof() == RECORD_SIZE


def fen(amount: Decimal) -> int:
    """Yuan as a Decimal -> whole fen; refuses fractions of a fen and negatives."""
    value = amount * 100
    if value != value.to_integral_value() or value < 0 or value >= 2**32:
        raise ValueError(f"{amount} yuan is not a whole, non-negative number of fen")
    return int(value)


@dataclass(frozen=True)
class TransactionRecord:
    type: TransactionType
    when: dt.datetime
    institution: str  # e.g. "H33020300001"
    amount: Decimal  # yuan
    balance: Decimal  # yuan
    serial: int
    flags: int = 0

    def to_bytes(self) -> bytes:
        kind, number = self.institution[:1], self.institution[1:]
        if not kind.isalpha() or not kind.isascii() or not number.isdigit() or len(number) > 11:
            raise ValueError("an institution code is a letter and up to 11 digits")
        return bytes(
            TransactionLayout.build(
                {
                    "type": int(self.type),
                    "date": bytes.fromhex(self.when.strftime("%Y%m%d")),
                    "time": bytes.fromhex(self.when.strftime("%H%M%S")),
                    "institution_kind": kind.encode("ascii"),
                    "institution_number": bytes.fromhex(number.ljust(12, "F")),
                    "amount_fen": fen(self.amount),
                    "balance_fen": fen(self.balance),
                    "serial": self.serial,
                    "flags": self.flags,
                }
            )
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> TransactionRecord:
        if len(raw) != RECORD_SIZE:
            raise ValueError(f"a transaction record has {RECORD_SIZE} bytes, got {len(raw)}")
        parsed = TransactionLayout.parse(raw)
        try:
            kind = TransactionType(parsed.type)
            when = dt.datetime.strptime(parsed.date.hex() + parsed.time.hex(), "%Y%m%d%H%M%S")
            number = parsed.institution_number.hex().upper().rstrip("F")
            letter = parsed.institution_kind.decode("ascii")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"not a transaction record: {exc}") from None
        if not number.isdigit() or not letter.isalpha():
            raise ValueError("not a transaction record: bad institution code")
        return cls(
            kind,
            when,
            letter + number,
            Decimal(parsed.amount_fen) / 100,
            Decimal(parsed.balance_fen) / 100,
            parsed.serial,
            parsed.flags,
        )


#: test vector: a pharmacy purchase of 36.50 yuan, balance 1,203.25, serial 42
VECTOR = (
    TransactionRecord(
        TransactionType.PHARMACY,
        dt.datetime(2026, 11, 25, 9, 30, 5),
        "P33020300017",
        Decimal("36.50"),
        Decimal("1203.25"),
        42,
        FLAG_ACCOUNT,
    ),
    "02202611250930055033020300017F00000E420001D6050000002A01",
)
