"""A trivial card that answers every command with 9000.

The benchmarks serve it through vpcd next to the real virtual card, in the
same run, so the PC/SC round trip of the card OS can be compared with the
bare cost of pcscd + vpcd + the bridge.
"""

from __future__ import annotations

ECHO_ATR = bytes.fromhex("3B80800101")


class EchoCard:
    """Answers ``90 00`` to everything; no state."""

    @property
    def atr(self) -> bytes:
        return ECHO_ATR

    def power_on(self) -> bytes:
        return ECHO_ATR

    def power_off(self) -> None:
        return None

    def reset(self) -> bytes:
        return ECHO_ATR

    def process(self, command: bytes) -> bytes:
        return b"\x90\x00"
