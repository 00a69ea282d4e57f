"""What every simulated card offers to the ways of reaching it.

In-process calls, the vpcd bridge and the benchmarks' echo card all see a card
through this protocol only (the seam of jCardSim and vsmartcard's vicc): an
ATR, the three power events of ISO/IEC 7816-3 clause 6, and
``process(command) -> response``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class SimulatedCard(Protocol):
    @property
    def atr(self) -> bytes:
        """The answer to reset (ISO/IEC 7816-3 clause 8)."""
        ...

    def power_on(self) -> bytes:
        """Cold reset: clear the volatile state and return the ATR."""
        ...

    def power_off(self) -> None:
        """Deactivate: clear the volatile state."""
        ...

    def reset(self) -> bytes:
        """Warm reset: clear the volatile state and return the ATR."""
        ...

    def process(self, command: bytes) -> bytes:
        """Answer one command APDU with one response APDU. Never raises."""
        ...
