"""The virtual transport: a simulated card called in-process.

The peer of the ``pcsc`` transport for tests and the demo (as python-can's
``virtual`` backend): the same driver code runs against a
:class:`~sscard_terminal.vcard.interface.SimulatedCard` without pcscd, vpcd
or any socket in between.
"""

from __future__ import annotations

from sscard_terminal.errors import NoCardError
from sscard_terminal.transport.base import TransportBase, register
from sscard_terminal.vcard.interface import SimulatedCard


@register("virtual")
class VirtualTransport(TransportBase):
    """Connect powers the card on, close powers it off; transmit calls ``process``."""

    def __init__(self, card: SimulatedCard) -> None:
        self.card = card
        self.description = f"virtual card ({type(card).__name__})"
        self._atr: bytes | None = None

    def connect(self) -> None:
        """Power the card on (a cold reset); idempotent."""
        if self._atr is None:
            self._atr = self.card.power_on()

    @property
    def atr(self) -> bytes:
        """The ATR of the last power-on or reset; empty when not connected (so that
        ``isinstance(t, Transport)`` never raises)."""
        return self._atr or b""

    def transmit(self, command: bytes) -> bytes:
        self._require_connected()
        return self.card.process(bytes(command))

    def reset(self) -> None:
        """Warm reset: the card loses its volatile state."""
        self._require_connected()
        self._atr = self.card.reset()

    def close(self) -> None:
        """Power the card off; idempotent."""
        if self._atr is not None:
            self._atr = None
            self.card.power_off()

    def _require_connected(self) -> bytes:
        if self._atr is None:
            raise NoCardError(
                f"{self.description}: not connected; connect() first",
                hint="use the transport as a context manager, or call connect() first",
            )
        return self._atr
