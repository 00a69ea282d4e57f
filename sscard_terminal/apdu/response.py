"""Response APDUs, ISO/IEC 7816-4:2020 clause 5.1: a body and a trailer SW1-SW2."""

from __future__ import annotations

from dataclasses import dataclass

from sscard_terminal.apdu.status import describe_sw
from sscard_terminal.errors import MalformedApduError


@dataclass(frozen=True, slots=True)
class ResponseApdu:
    data: bytes
    sw: int

    @classmethod
    def from_bytes(cls, raw: bytes) -> ResponseApdu:
        raw = bytes(raw)
        if len(raw) < 2:
            raise MalformedApduError(f"a response APDU has at least 2 bytes, got {len(raw)}")
        return cls(raw[:-2], int.from_bytes(raw[-2:], "big"))

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        return self.sw & 0xFF

    @property
    def ok(self) -> bool:
        return self.sw == 0x9000

    def to_bytes(self) -> bytes:
        return self.data + self.sw.to_bytes(2, "big")

    def __bytes__(self) -> bytes:
        return self.to_bytes()

    @property
    def meaning(self) -> str:
        return describe_sw(self.sw)

    def __repr__(self) -> str:
        body = self.data.hex(" ").upper()
        return f"ResponseApdu({body + ' ' if body else ''}{self.sw:04X})"
