"""Answer to reset, ISO/IEC 7816-3:2006 clause 8.2.

Only what a terminal needs: the protocols offered, the historical bytes, and
the card-level key diversification factor that social security cards carry
in historical bytes 6..13 (card-spec.md "ATR").
"""

from __future__ import annotations

from dataclasses import dataclass


class AtrError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Atr:
    raw: bytes
    protocols: tuple[int, ...]
    historical: bytes

    @classmethod
    def parse(cls, raw: bytes) -> Atr:
        """Parse TS, T0, the interface bytes TAi..TDi, the historical bytes and TCK."""
        raw = bytes(raw)
        if len(raw) < 2 or raw[0] not in (0x3B, 0x3F):
            raise AtrError("an ATR starts with TS = 3B or 3F")
        k = raw[1] & 0x0F
        y = raw[1] >> 4
        pos = 2
        protocols: list[int] = []
        while True:
            for bit in (0x1, 0x2, 0x4):  # TA, TB, TC
                if y & bit:
                    pos += 1
            if not y & 0x8:  # no TD
                break
            if pos >= len(raw):
                raise AtrError("ATR truncated in its interface bytes")
            td = raw[pos]
            pos += 1
            protocols.append(td & 0x0F)
            y = td >> 4
        if pos + k > len(raw):
            raise AtrError(f"ATR announces {k} historical bytes but has {len(raw) - pos}")
        historical = raw[pos : pos + k]
        rest = raw[pos + k :]
        needs_tck = any(p != 0 for p in protocols)
        if len(rest) != (1 if needs_tck else 0):
            raise AtrError("ATR has a wrong number of bytes after the historical bytes")
        if needs_tck:
            check = 0
            for b in raw[1:]:
                check ^= b
            if check:
                raise AtrError("ATR check byte TCK is wrong")
        return cls(raw, tuple(protocols) or (0,), historical)

    @property
    def diversification_factor(self) -> bytes:
        """Historical bytes 6..13: the card-level factor (card-spec.md)."""
        if len(self.historical) < 13:
            raise AtrError("the ATR has fewer than 13 historical bytes: no card factor")
        return self.historical[5:13]

    @property
    def region_prefix(self) -> str:
        """Historical bytes 8-9: the first four digits of the region code."""
        return self.historical[7:9].hex().upper()
