"""Command APDUs, ISO/IEC 7816-3:2006 clause 12.1 and ISO/IEC 7816-4:2020 clause 5.1.

A :class:`CommandApdu` is an immutable value built from bytes or from its
fields. It covers the four cases in short and extended length. ``ne`` is the
maximum number of response bytes expected (Le field 00 means 256 in short
length and 65536 in extended length); ``le_field_zero`` remembers whether
the Le field was literally zero, which the card uses to answer 6Cxx.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from sscard_terminal.errors import MalformedApduError


class ApduCase(Enum):
    """ISO/IEC 7816-3 clause 12.1.2: the four cases of command APDUs."""

    CASE_1 = "1"
    CASE_2S = "2S"
    CASE_3S = "3S"
    CASE_4S = "4S"
    CASE_2E = "2E"
    CASE_3E = "3E"
    CASE_4E = "4E"

    @property
    def extended(self) -> bool:
        return self.value.endswith("E")


@dataclass(frozen=True, slots=True)
class CommandApdu:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    ne: int | None = None
    extended: bool = False

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            value = getattr(self, name)
            if not 0 <= value <= 0xFF:
                raise MalformedApduError(f"{name.upper()} {value!r} is not a byte")
        max_nc = 65535 if self.extended else 255
        if len(self.data) > max_nc:
            raise MalformedApduError(f"{len(self.data)} data bytes do not fit in Lc")
        if self.ne is not None:
            max_ne = 65536 if self.extended else 256
            if not 1 <= self.ne <= max_ne:
                raise MalformedApduError(f"Ne {self.ne} outside 1..{max_ne}")

    # -- parsing ---------------------------------------------------------
    @classmethod
    def from_bytes(cls, raw: bytes) -> CommandApdu:
        """Parse a command APDU (ISO 7816-3 clause 12.1.3 decoding rules)."""
        raw = bytes(raw)
        n = len(raw)
        if n < 4:
            raise MalformedApduError(f"a command APDU has at least 4 bytes, got {n}")
        cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]
        if n == 4:
            return cls(cla, ins, p1, p2)
        b5 = raw[4]
        if n == 5:
            return cls(cla, ins, p1, p2, ne=b5 or 256)
        if b5 != 0:
            lc = b5
            if n == 5 + lc:
                return cls(cla, ins, p1, p2, raw[5:])
            if n == 6 + lc:
                return cls(cla, ins, p1, p2, raw[5 : 5 + lc], ne=raw[-1] or 256)
            raise MalformedApduError(f"Lc {lc} does not match a body of {n - 5} bytes")
        # extended length: B1 = 00
        if n == 7:
            le = int.from_bytes(raw[5:7], "big")
            return cls(cla, ins, p1, p2, ne=le or 65536, extended=True)
        if n < 7:
            raise MalformedApduError("extended-length APDU shorter than 7 bytes")
        lc = int.from_bytes(raw[5:7], "big")
        if lc == 0:
            raise MalformedApduError("extended Lc of zero")
        if n == 7 + lc:
            return cls(cla, ins, p1, p2, raw[7:], extended=True)
        if n == 9 + lc:
            le = int.from_bytes(raw[-2:], "big")
            return cls(cla, ins, p1, p2, raw[7 : 7 + lc], ne=le or 65536, extended=True)
        raise MalformedApduError(f"extended Lc {lc} does not match a body of {n - 7} bytes")

    # -- building --------------------------------------------------------
    @property
    def case(self) -> ApduCase:
        if not self.data:
            if self.ne is None:
                return ApduCase.CASE_1
            return ApduCase.CASE_2E if self.extended else ApduCase.CASE_2S
        if self.ne is None:
            return ApduCase.CASE_3E if self.extended else ApduCase.CASE_3S
        return ApduCase.CASE_4E if self.extended else ApduCase.CASE_4S

    @property
    def header(self) -> bytes:
        return bytes((self.cla, self.ins, self.p1, self.p2))

    @property
    def le_field_zero(self) -> bool:
        """True when the Le field was sent as zero (Ne = 256 or 65536)."""
        return self.ne == (65536 if self.extended else 256)

    def to_bytes(self) -> bytes:
        out = bytearray(self.header)
        if self.extended:
            if self.data:
                out += b"\x00" + len(self.data).to_bytes(2, "big") + self.data
                if self.ne is not None:
                    out += (self.ne % 65536).to_bytes(2, "big")
            elif self.ne is not None:
                out += b"\x00" + (self.ne % 65536).to_bytes(2, "big")
        else:
            if self.data:
                out += bytes((len(self.data),)) + self.data
            if self.ne is not None:
                out += bytes((self.ne % 256,))
        return bytes(out)

    def __bytes__(self) -> bytes:
        return self.to_bytes()

    def with_ne(self, ne: int | None) -> CommandApdu:
        """The same command with another Ne (used to resend after 6Cxx)."""
        return CommandApdu(self.cla, self.ins, self.p1, self.p2, self.data, ne, self.extended)

    def __repr__(self) -> str:
        return f"CommandApdu({self.to_bytes().hex(' ').upper()})"
