"""The virtual transport: a simulated card called in-process.

The peer of the ``pcsc`` transport for tests and the demo (as python-can's
``virtual`` backend): the same driver code runs against a
:class:`~sscard_terminal.vcard.interface.SimulatedCard` without pcscd, vpcd
or any socket in between.

Its readers live in this process: :func:`insert_card` puts a card into a
named virtual reader (``list_readers`` and ``watch_readers`` see it),
:func:`remove_card` takes it out. ``VirtualTransport(reader=NAME)`` talks to
the card in that reader; a NAME that is no such reader is read as a card
image file or a profile name (``--transport virtual --reader card.json``).
"""

from __future__ import annotations

import threading
from pathlib import Path

from sscard_terminal.errors import CardRemovedError, NoCardError, ReaderNotFoundError
from sscard_terminal.transport.base import ReaderEvent, ReaderInfo, TransportBase
from sscard_terminal.vcard.interface import SimulatedCard

_lock = threading.Condition()
#: the in-process readers and the card in each (None: empty)
_readers: dict[str, SimulatedCard | None] = {}
#: bumped on every insertion or removal, so that watchers see every change
_generation = 0


def insert_card(reader: str, card: SimulatedCard) -> None:
    """Put ``card`` into the virtual reader ``reader`` (created on first use)."""
    global _generation
    with _lock:
        _readers[reader] = card
        _generation += 1
        _lock.notify_all()


def remove_card(reader: str) -> None:
    """Take the card out of ``reader``; the reader stays, empty."""
    global _generation
    with _lock:
        if _readers.get(reader) is not None:
            _readers[reader] = None
            _generation += 1
            _lock.notify_all()


def forget_readers() -> None:
    """Remove every virtual reader (for tests)."""
    global _generation
    with _lock:
        _readers.clear()
        _generation += 1
        _lock.notify_all()


def _card_for(reader: str) -> SimulatedCard:
    with _lock:
        if reader in _readers:
            card = _readers[reader]
            if card is None:
                raise NoCardError(f"no card in virtual reader {reader!r}")
            return card
    from sscard_terminal.vcard.factory import card_from_image, card_from_profile

    if Path(reader).is_file():
        return card_from_image(reader)
    try:
        return card_from_profile(reader)
    except Exception:
        known = ", ".join(map(repr, sorted(_readers))) or "none"
        raise ReaderNotFoundError(
            f"no virtual reader, card image or profile {reader!r} (virtual readers: {known})"
        ) from None


class VirtualReaderWatcher:
    """Insertions and removals of the in-process virtual readers."""

    def __init__(self) -> None:
        self._present: dict[str, bytes | None] = {}
        self._seen = -1
        self._cancelled = False

    def wait(self, timeout: float) -> list[ReaderEvent]:
        with _lock:
            if self._seen == _generation and not self._cancelled:
                _lock.wait(timeout)
            self._cancelled = False
            self._seen = _generation
            now = {name: card for name, card in _readers.items() if card is not None}
        events = [ReaderEvent(name, False) for name in self._present if name not in now]
        for name in now:
            if name not in self._present:
                events.append(ReaderEvent(name, True, None))
        self._present = {name: None for name in now}
        return events

    def cancel(self) -> None:
        with _lock:
            self._cancelled = True
            _lock.notify_all()

    def close(self) -> None:
        self.cancel()


class VirtualTransport(TransportBase):
    """Connect powers the card on, close powers it off; transmit calls ``process``."""

    def __init__(
        self,
        card: SimulatedCard | None = None,
        *,
        reader: str | None = None,
        exclusive: bool = False,
        transaction: bool = False,
    ) -> None:
        """``exclusive`` and ``transaction`` are accepted as the pcsc backend's are; an
        in-process card has no other program to keep off."""
        if card is None:
            if reader is None:
                with _lock:
                    reader = next((n for n, c in _readers.items() if c is not None), None)
                if reader is None:
                    raise NoCardError("no card in any virtual reader")
            card = _card_for(reader)
        self.card = card
        self.reader_name = reader
        self.description = (
            f"virtual reader {reader!r}" if reader else f"virtual card ({type(card).__name__})"
        )
        self._atr: bytes | None = None

    @classmethod
    def list_readers(cls) -> list[ReaderInfo]:
        """The in-process virtual readers."""
        with _lock:
            found = list(_readers.items())
        return [ReaderInfo(name, card is not None, None) for name, card in found]

    @classmethod
    def watch_readers(cls) -> VirtualReaderWatcher:
        return VirtualReaderWatcher()

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
        if self.reader_name is not None:
            with _lock:
                if self.reader_name in _readers and _readers[self.reader_name] is not self.card:
                    raise CardRemovedError(
                        f"the card in virtual reader {self.reader_name!r} was removed"
                    )
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
