"""The PC/SC transport: a real (or vpcd virtual) reader through pcscd.

This is the only module of the package that imports ``smartcard`` (pyscard),
and it uses its low-level ``smartcard.scard`` API only: bytes go in and out,
``list[int]`` stays inside. PC/SC return codes (PC/SC Workgroup
specification part 5, as implemented by pcsc-lite) become the exceptions of
:mod:`sscard_terminal.errors` in one place, :func:`pcsc_error`.

A :class:`PcscTransport` holds one card connection for a whole transaction:
pcscd powers a card off when no connection is open, which would lose the
selected file and the security status between two commands.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import Any, Literal

from smartcard import scard

from sscard_terminal.errors import (
    CardError,
    CardRemovedError,
    CardResetError,
    CorruptResponseError,
    MuteCardError,
    NoCardError,
    PcscdNotRunningError,
    ReaderError,
    ReaderNotFoundError,
    SscardError,
)
from sscard_terminal.transport.base import ReaderEvent, ReaderInfo, TransportBase, match_reader

#: where a PC/SC call failed: setting up, connecting to a card, or within a transaction
Phase = Literal["service", "connect", "transaction"]

_PROTOCOLS = scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
#: how long a failed transmit waits for pcscd to notice a removed card (ms)
_REMOVAL_GRACE_MS = 1500

_NO_SERVICE = {scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED}
_NO_READER = {scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_READER_UNAVAILABLE}
_NO_CARD = {scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_REMOVED_CARD}
_MUTE = {
    scard.SCARD_W_UNRESPONSIVE_CARD,
    scard.SCARD_W_UNPOWERED_CARD,
    scard.SCARD_E_INVALID_ATR,
}
_UNSUPPORTED = {
    scard.SCARD_W_UNSUPPORTED_CARD,
    scard.SCARD_E_CARD_UNSUPPORTED,
    scard.SCARD_E_PROTO_MISMATCH,
}


def _code(hresult: int) -> int:
    """pcsc-lite codes as unsigned 32-bit values (pyscard may hand them out negative)."""
    return hresult & 0xFFFFFFFF


def _cause(hresult: int) -> str:
    code = _code(hresult)
    text = scard.SCardGetErrorMessage(code).strip().rstrip(".")
    if text.startswith("Unknown error"):
        return f"PC/SC error 0x{code:08X}"
    return f"PC/SC: {text}, 0x{code:08X}"


def pcsc_error(hresult: int, *, reader: str | None = None, phase: Phase) -> SscardError:
    """The exception for a failed PC/SC call: the one place PC/SC codes are mapped.

    ``phase`` tells a missing card at connect time (:class:`NoCardError`) from
    a card that left during a transaction (:class:`CardRemovedError`).
    """
    code = _code(hresult)
    where = f" in reader {reader!r}" if reader else ""
    cause = _cause(hresult)
    if code in _NO_SERVICE:
        if phase == "transaction":
            return PcscdNotRunningError(f"pcscd stopped during the transaction ({cause})")
        return PcscdNotRunningError(f"pcscd is not running ({cause})")
    if code == scard.SCARD_E_NO_READERS_AVAILABLE:
        return ReaderNotFoundError(f"no smart card reader is connected ({cause})")
    if code in _NO_READER:
        return ReaderNotFoundError(f"reader {reader!r} is not available ({cause})")
    if code in _NO_CARD:
        if phase == "transaction":
            return CardRemovedError(f"the card{where} was removed ({cause})")
        return NoCardError(f"no card{where} ({cause})")
    if code in _MUTE:
        return MuteCardError(f"the card{where} does not answer ({cause})")
    if code in _UNSUPPORTED:
        return CardError(
            f"the card{where} speaks neither T=0 nor T=1 ({cause})",
            hint="this is not a social security card",
        )
    if code == scard.SCARD_E_SHARING_VIOLATION:
        return CardError(
            f"the card{where} is in use by another program ({cause})",
            hint="close the other program (or drop its exclusive access) and try again",
        )
    if phase == "transaction" and code == scard.SCARD_W_RESET_CARD:
        return CardResetError(f"the card{where} was reset by another program ({cause})")
    if phase == "transaction" and code == scard.SCARD_E_INVALID_HANDLE:
        return CardRemovedError(f"the connection to the card{where} was lost ({cause})")
    if phase == "service":
        return ReaderError(f"PC/SC failed ({cause})")
    return CardError(f"PC/SC failed{where} ({cause})")


def error_from_pyscard(exc: Exception, *, reader: str | None = None) -> SscardError:
    """Our exception for an exception raised by pyscard's higher-level API.

    ``EstablishContextException`` always means pcscd is unreachable; any other
    pyscard exception is mapped by its ``hresult`` as :func:`pcsc_error` does.
    """
    from smartcard.pcsc.PCSCExceptions import EstablishContextException

    hresult = int(getattr(exc, "hresult", -1))
    if isinstance(exc, EstablishContextException):
        return PcscdNotRunningError(f"pcscd is not running ({exc})")
    if hresult == -1:
        return CardError(f"PC/SC failed ({exc})")
    return pcsc_error(hresult, reader=reader, phase="connect")


# -- context ------------------------------------------------------------------


def _establish_context() -> Any:
    try:
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    except Exception as exc:  # pyscard raises instead of returning on some builds
        raise error_from_pyscard(exc) from exc
    if hresult != scard.SCARD_S_SUCCESS:
        raise pcsc_error(hresult, phase="service")
    return context


def _release_context(context: Any) -> None:
    with contextlib.suppress(Exception):  # best effort on teardown
        scard.SCardReleaseContext(context)


def _reader_names(context: Any) -> list[str]:
    hresult, names = scard.SCardListReaders(context, [])
    if _code(hresult) == scard.SCARD_E_NO_READERS_AVAILABLE:
        return []
    if hresult != scard.SCARD_S_SUCCESS:
        raise pcsc_error(hresult, phase="service")
    return list(names)


def _reader_states(context: Any, names: Sequence[str]) -> list[ReaderInfo]:
    """The state of every reader, without waiting (SCardGetStatusChange, timeout 0)."""
    if not names:
        return []
    hresult, states = scard.SCardGetStatusChange(
        context, 0, [(name, scard.SCARD_STATE_UNAWARE) for name in names]
    )
    if _code(hresult) not in (scard.SCARD_S_SUCCESS, scard.SCARD_E_TIMEOUT):
        raise pcsc_error(hresult, phase="service")
    infos = []
    for name, event_state, atr in states:
        present = bool(event_state & scard.SCARD_STATE_PRESENT)
        mute = bool(event_state & scard.SCARD_STATE_MUTE)
        infos.append(
            ReaderInfo(name, present, bytes(atr) if present and atr and not mute else None)
        )
    return infos


def list_readers() -> list[ReaderInfo]:
    """Every reader pcscd knows, with card presence and ATR. Never blocks.

    Raises :class:`PcscdNotRunningError` when pcscd is not running; an empty
    list means pcscd runs but has no reader.
    """
    context = _establish_context()
    try:
        return _reader_states(context, _reader_names(context))
    finally:
        _release_context(context)


# -- the transport -------------------------------------------------------------


class PcscTransport(TransportBase):
    """A card in a PC/SC reader, reached through pcscd.

    ``reader`` is a reader's exact name, or a unique prefix or part of it
    (``"Virtual PCD 00 01"``, ``"PCD 00 01"``); None takes the first reader
    that holds a card. ``exclusive`` keeps other programs off the card for
    the whole connection (SCARD_SHARE_EXCLUSIVE). ``transaction`` holds a
    PC/SC transaction (SCardBeginTransaction) from connect to close: other
    programs sharing the card wait instead of interleaving their APDUs.
    """

    def __init__(
        self, reader: str | None = None, *, exclusive: bool = False, transaction: bool = False
    ) -> None:
        self._wanted = reader
        self._transaction = transaction
        self._in_transaction = False
        self._share = scard.SCARD_SHARE_EXCLUSIVE if exclusive else scard.SCARD_SHARE_SHARED
        self._context: Any = None
        self._card: Any = None
        self._pci: Any = None
        self._atr = b""
        #: the full name of the reader in use, once connected
        self.reader_name: str | None = None
        self.description = (
            f"PC/SC reader {reader!r}" if reader else "PC/SC (first reader with a card)"
        )

    @classmethod
    def list_readers(cls) -> list[ReaderInfo]:
        """The backend's readers (see :func:`list_readers`)."""
        return list_readers()

    @classmethod
    def watch_readers(cls) -> PcscReaderWatcher:
        """Card insertions and removals from SCardGetStatusChange."""
        return PcscReaderWatcher()

    # -- connection -------------------------------------------------------
    def connect(self) -> None:
        """Connect to the card (T=0 or T=1) and read its ATR; idempotent."""
        if self._card is not None:
            return
        context = _establish_context()
        try:
            name = self._choose_reader(context)
            hresult, card, protocol = scard.SCardConnect(context, name, self._share, _PROTOCOLS)
            if hresult != scard.SCARD_S_SUCCESS:
                raise pcsc_error(hresult, reader=name, phase="connect")
            try:
                if self._transaction:
                    hresult = scard.SCardBeginTransaction(card)
                    if hresult != scard.SCARD_S_SUCCESS:
                        raise pcsc_error(hresult, reader=name, phase="connect")
                self._atr = self._read_atr(card, name, phase="connect")
            except SscardError:
                if self._transaction:
                    with contextlib.suppress(Exception):
                        scard.SCardEndTransaction(card, scard.SCARD_LEAVE_CARD)
                scard.SCardDisconnect(card, scard.SCARD_UNPOWER_CARD)
                raise
        except BaseException:
            _release_context(context)
            raise
        self._context, self._card, self.reader_name = context, card, name
        self._in_transaction = self._transaction
        self._pci = _pci_for(protocol)
        self.description = f"PC/SC reader {name!r}"

    def _choose_reader(self, context: Any) -> str:
        names = _reader_names(context)
        if not names:
            raise ReaderNotFoundError("no smart card reader is connected")
        if self._wanted is not None:
            return match_reader(names, self._wanted)
        for info in _reader_states(context, names):
            if info.card_present:
                return info.name
        raise NoCardError(f"no card in any reader ({', '.join(map(repr, names))})")

    @staticmethod
    def _read_atr(card: Any, reader: str, *, phase: Phase) -> bytes:
        hresult, _name, _state, _protocol, atr = scard.SCardStatus(card)
        if hresult != scard.SCARD_S_SUCCESS:
            raise pcsc_error(hresult, reader=reader, phase=phase)
        if not atr:
            raise MuteCardError(f"the card in reader {reader!r} gave no answer to reset")
        return bytes(atr)

    @property
    def atr(self) -> bytes:
        """The ATR read at connect (or at the last reset); empty when not connected
        (so that ``isinstance(t, Transport)`` never raises)."""
        return self._atr if self._card is not None else b""

    def transmit(self, command: bytes) -> bytes:
        """Send one command APDU and return the response APDU (data + SW1 SW2)."""
        card = self._require_card()
        hresult, response = scard.SCardTransmit(card, self._pci, list(command))
        if hresult != scard.SCARD_S_SUCCESS:
            raise self._transaction_error(hresult)
        if len(response) < 2:
            # vpcd hands an empty answer on as a success when the card's end of the
            # connection closes mid-command: a card pulled (or a card process killed)
            # while it held the command. Tell that from a damaged answer.
            if self._card_gone():
                raise CardRemovedError(
                    f"the card in reader {self.reader_name!r} was removed during the command "
                    f"(it answered {len(response)} bytes)"
                )
            raise CorruptResponseError(
                f"the card in reader {self.reader_name!r} answered {len(response)} bytes, "
                "less than a status word"
            )
        return bytes(response)

    def reset(self) -> None:
        """Warm reset (SCardReconnect with SCARD_RESET_CARD); the ATR is read again."""
        card = self._require_card()
        hresult, protocol = scard.SCardReconnect(
            card, self._share, _PROTOCOLS, scard.SCARD_RESET_CARD
        )
        if hresult != scard.SCARD_S_SUCCESS:
            raise self._transaction_error(hresult)
        self._pci = _pci_for(protocol)
        self._atr = self._read_atr(card, self.reader_name or "", phase="transaction")

    def close(self) -> None:
        """End the connection, resetting the card so that no other program inherits
        its security status; idempotent, never raises."""
        card, context = self._card, self._context
        self._card = self._context = None
        if card is not None:
            if self._in_transaction:
                self._in_transaction = False
                with contextlib.suppress(Exception):  # best effort on teardown
                    scard.SCardEndTransaction(card, scard.SCARD_LEAVE_CARD)
            with contextlib.suppress(Exception):  # best effort on teardown
                scard.SCardDisconnect(card, scard.SCARD_RESET_CARD)
        if context is not None:
            _release_context(context)

    # -- helpers ----------------------------------------------------------
    def _require_card(self) -> Any:
        if self._card is None:
            raise NoCardError(
                f"{self.description}: not connected to a card; connect() first",
                hint="use the transport as a context manager, or call connect() first",
            )
        return self._card

    def _transaction_error(self, hresult: int) -> SscardError:
        """Map a failure during a transaction. A transmit that fails with
        SCARD_E_NOT_TRANSACTED (the reader lost the card mid-command) is told
        apart as a removed or a mute card by waiting briefly for pcscd to
        see the reader empty."""
        if _code(hresult) not in (scard.SCARD_E_NOT_TRANSACTED, scard.SCARD_F_COMM_ERROR):
            return pcsc_error(hresult, reader=self.reader_name, phase="transaction")
        cause = _cause(hresult)
        if self._card_gone():
            return CardRemovedError(
                f"the card in reader {self.reader_name!r} was removed ({cause})"
            )
        return MuteCardError(
            f"the card in reader {self.reader_name!r} did not answer the command ({cause})"
        )

    def _card_gone(self) -> bool:
        deadline = time.monotonic() + _REMOVAL_GRACE_MS / 1000
        state = scard.SCARD_STATE_UNAWARE
        while True:
            remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
            hresult, states = scard.SCardGetStatusChange(
                self._context, remaining_ms if state else 0, [(self.reader_name, state)]
            )
            if _code(hresult) == scard.SCARD_E_TIMEOUT:
                return False
            if hresult != scard.SCARD_S_SUCCESS:
                return True  # reader or pcscd gone: the card is gone for us
            event_state = states[0][1]
            if not event_state & scard.SCARD_STATE_PRESENT:
                return True
            if remaining_ms == 0:
                return False
            state = event_state & ~scard.SCARD_STATE_CHANGED


def _pci_for(protocol: int) -> Any:
    return scard.SCARD_PCI_T0 if protocol == scard.SCARD_PROTOCOL_T0 else scard.SCARD_PCI_T1


# -- reader events -------------------------------------------------------------

#: pcsc-lite's pseudo reader whose state changes when a reader comes or goes
_PNP = "\\\\?PnP?\\Notification"
_GONE = {scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED, scard.SCARD_E_INVALID_HANDLE}
#: how long to wait before trying to reach pcscd again after it went away (s)
_RECONNECT_PAUSE = 0.25


class PcscReaderWatcher:
    """Card insertions and removals, from pcscd's reader states (SCardGetStatusChange).

    No APDU is sent: pcscd reports what its reader drivers see. When pcscd
    goes away (stopped or restarted) every card is reported removed and the
    watcher reconnects on the next :meth:`wait`, reporting the cards it then finds.
    """

    def __init__(self) -> None:
        self._context: Any = None
        #: the last event state pcscd gave for each reader (the "current state" to pass back)
        self._states: dict[str, int] = {}
        #: the readers holding a card, with their ATR
        self._present: dict[str, bytes | None] = {}
        self._closed = False

    def wait(self, timeout: float) -> list[ReaderEvent]:
        """Block up to ``timeout`` seconds; return the insertions and removals seen."""
        if self._closed:
            return []
        if self._context is None:
            try:
                self._context = _establish_context()
            except SscardError:
                time.sleep(min(timeout, _RECONNECT_PAUSE))
                return self._forget_all()
            self._states = {}
        try:
            names = _reader_names(self._context)
        except SscardError:
            return self._lose_service()
        events = [ReaderEvent(name, False) for name in list(self._present) if name not in names]
        for event in events:
            del self._present[event.reader]
        self._states = {n: s for n, s in self._states.items() if n in names or n == _PNP}
        watched = [(n, self._states.get(n, scard.SCARD_STATE_UNAWARE)) for n in names]
        watched.append((_PNP, self._states.get(_PNP, scard.SCARD_STATE_UNAWARE)))
        hresult, states = scard.SCardGetStatusChange(
            self._context, max(0, int(timeout * 1000)), watched
        )
        code = _code(hresult)
        if code in (scard.SCARD_E_TIMEOUT, scard.SCARD_E_CANCELLED):
            return events
        if code != scard.SCARD_S_SUCCESS:
            if code in _GONE or code == scard.SCARD_E_UNKNOWN_READER:
                return events + self._lose_service()
            time.sleep(min(timeout, _RECONNECT_PAUSE))
            return events
        for name, event_state, atr in states:
            self._states[name] = event_state & ~scard.SCARD_STATE_CHANGED
            if name == _PNP:
                continue
            present = bool(event_state & scard.SCARD_STATE_PRESENT)
            if present and name not in self._present:
                mute = bool(event_state & scard.SCARD_STATE_MUTE)
                card_atr = bytes(atr) if atr and not mute else None
                self._present[name] = card_atr
                events.append(ReaderEvent(name, True, card_atr))
            elif not present and name in self._present:
                del self._present[name]
                events.append(ReaderEvent(name, False))
        return events

    def _forget_all(self) -> list[ReaderEvent]:
        events = [ReaderEvent(name, False) for name in self._present]
        self._present.clear()
        return events

    def _lose_service(self) -> list[ReaderEvent]:
        _release_context(self._context)
        self._context = None
        self._states = {}
        return self._forget_all()

    def cancel(self) -> None:
        """Make a waiting :meth:`wait` return now (SCardCancel); any thread."""
        context = self._context
        if context is not None:
            with contextlib.suppress(Exception):
                scard.SCardCancel(context)

    def close(self) -> None:
        """Release the PC/SC context; idempotent."""
        self._closed = True
        context, self._context = self._context, None
        if context is not None:
            with contextlib.suppress(Exception):
                scard.SCardCancel(context)
            _release_context(context)
