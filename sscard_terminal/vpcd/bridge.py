"""Serve a simulated card to pcscd through vsmartcard's vpcd driver.

The card is the TCP *client*: vpcd (loaded by pcscd from
``/etc/reader.conf.d/vpcd``) listens on port 35963 for the reader
"Virtual PCD 00 00" and 35964 for "Virtual PCD 00 01", and a card that
connects there appears inserted in that reader. :func:`serve_card` connects,
answers vpcd's messages (see :mod:`sscard_terminal.vpcd.framing`) and, when
pcscd goes away or restarts, powers the card off and keeps reconnecting until
it is told to stop.

Two details matter:

* vpcd writes the length prefix and the APDU in two TCP writes without
  TCP_NODELAY, so every APDU would wait for the card's delayed ACK (about
  44 ms). ``TCP_QUICKACK`` is set before every ``recv()`` (Linux clears it
  again after a while), which brings a round trip down to well under 1 ms.
* vpcd listens on all network interfaces: it is a test device and must never
  be installed on a production terminal.

A card that raises :class:`~sscard_terminal.vcard.faults.CardPulled` (fault
injection: the card left the reader) ends the service: the connection is
dropped at once, as a card leaving the slot breaks its contacts, and not made
again, so pcscd sees the reader empty.

Connection events are logged on the ``sscard_terminal.vpcd`` logger; APDU
contents never at INFO level (they may hold a PIN), only the header at DEBUG.
"""

from __future__ import annotations

import errno
import logging
import os
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from sscard_terminal.errors import UsageError, VpcdSlotTakenError, VpcdUnreachableError
from sscard_terminal.vcard.faults import CardMute, CardPulled
from sscard_terminal.vcard.interface import SimulatedCard
from sscard_terminal.vpcd.framing import Apdu, UnknownControl, VpcdEvent, VpcdFramer, frame, handle

log = logging.getLogger("sscard_terminal.vpcd")

#: vpcd's port for slot 0 ("Virtual PCD 00 00"); slot n listens on this + n
VPCD_BASE_PORT = 35963
#: vpcd shows two readers
VPCD_SLOTS = 2
#: how often a blocked wait looks at the stop event, in seconds
_POLL_INTERVAL = 0.1
#: give up one connection attempt after this long (then retry)
_CONNECT_TIMEOUT = 3.0
#: what a card that raised answers instead of hanging the reader: 6F00
_NO_PRECISE_DIAGNOSIS = b"\x6f\x00"
_RECV_SIZE = 65536 + 2


@dataclass(frozen=True, slots=True)
class Connected:
    """The bridge connected to vpcd: the card is inserted."""

    host: str
    port: int


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The connection to vpcd ended (``reason`` says why): the card is removed
    and has been powered off."""

    reason: str


BridgeEvent = VpcdEvent | Connected | Disconnected
EventCallback = Callable[[BridgeEvent], None]


def slot_port(slot: int) -> int:
    """The TCP port vpcd listens on for reader slot ``slot`` (0 -> 35963, 1 -> 35964)."""
    if isinstance(slot, bool) or not isinstance(slot, int) or not 0 <= slot < VPCD_SLOTS:
        raise UsageError(
            f"vpcd has slots 0 and 1, not {slot!r}",
            hint="slot 0 is reader 'Virtual PCD 00 00', slot 1 is 'Virtual PCD 00 01'",
        )
    return VPCD_BASE_PORT + slot


def serve_card(
    card: SimulatedCard,
    *,
    host: str = "127.0.0.1",
    port: int = VPCD_BASE_PORT,
    stop: threading.Event | None = None,
    reconnect_delay: float = 0.2,
    on_event: EventCallback | None = None,
    first_contact: float | None = None,
) -> None:
    """Serve ``card`` to vpcd at ``host:port`` until ``stop`` is set.

    Connects to vpcd (retrying every ``reconnect_delay`` seconds while it
    refuses, e.g. while pcscd is not running), answers its messages, and on
    any disconnect (pcscd stopped or restarted, connection reset) powers the
    card off and connects again. Returns within about 0.1 s of ``stop`` being
    set; with ``stop=None`` it serves until the process ends.

    ``on_event``, if given, is called in this thread with every event: the
    :class:`Connected` / :class:`Disconnected` of the bridge and every
    message from vpcd (after the card has handled it).

    Returns early when the card raises :class:`CardPulled`: the card has left
    the reader, so the connection is dropped and not made again.

    With ``first_contact`` (seconds), the first contact is bounded, for a user
    who starts a card by hand: when vpcd cannot be reached for that long,
    :class:`VpcdUnreachableError`; when the connection is made but vpcd says
    nothing for that long, :class:`VpcdSlotTakenError` (vpcd serves one card
    per slot and leaves a second connection waiting, unanswered). Once vpcd
    has spoken, disconnects are retried without limit as above.
    """
    stop = stop if stop is not None else threading.Event()
    refused_before = False
    deadline = None if first_contact is None else time.monotonic() + first_contact
    while not stop.is_set():
        try:
            sock = _connect(host, port, stop)
        except OSError as exc:
            if deadline is not None and time.monotonic() >= deadline:
                raise VpcdUnreachableError(
                    f"vpcd at {host}:{port} cannot be reached ({exc.strerror or exc}) "
                    f"after {first_contact:g} s"
                ) from None
            # pcscd not running (yet): say so once, then retry quietly
            level = logging.DEBUG if refused_before else logging.INFO
            log.log(level, "vpcd at %s:%d not reachable (%s); retrying", host, port, exc)
            refused_before = True
            stop.wait(reconnect_delay)
            continue
        if sock is None:  # stopped while connecting
            break
        refused_before = False
        log.info("card connected to vpcd at %s:%d", host, port)
        _notify(on_event, Connected(host, port))
        reason = "stopped"
        pulled = False
        silent_limit = first_contact if deadline is not None else None
        try:
            reason = _serve_connection(sock, card, stop, on_event, silent_limit)
        except _VpcdSilent:
            sock.close()
            slot = port - VPCD_BASE_PORT
            raise VpcdSlotTakenError(
                f"vpcd slot {slot} ({host}:{port}) is taken: vpcd did not answer within "
                f"{first_contact:g} s, so another card is served there"
            ) from None
        except CardPulled as exc:
            pulled = True
            reason = f"card pulled: {exc}"
        except OSError as exc:
            reason = f"connection error: {exc}"
        finally:
            sock.close()
            _power_off(card)
        log.info("card disconnected from vpcd at %s:%d (%s)", host, port, reason)
        _notify(on_event, Disconnected(reason))
        deadline = None  # vpcd has spoken: from now on, retry without limit
        if pulled:
            return
        if not stop.is_set():
            stop.wait(reconnect_delay)


def _connect(host: str, port: int, stop: threading.Event) -> socket.socket | None:
    """Connect without blocking longer than one poll interval at a time.

    Returns None if ``stop`` is set meanwhile; raises OSError when the
    connection fails (refused, unreachable, timed out).
    """
    last_error: OSError | None = None
    for family, type_, proto, _name, address in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM
    ):
        sock = socket.socket(family, type_, proto)
        try:
            sock.setblocking(False)
            err = sock.connect_ex(address)
            if err not in (0, errno.EINPROGRESS, errno.EAGAIN):
                raise OSError(err, f"connect to {host}:{port}: {os.strerror(err)}")
            if err != 0:
                with selectors.DefaultSelector() as sel:
                    sel.register(sock, selectors.EVENT_WRITE)
                    waited = 0.0
                    while not sel.select(_POLL_INTERVAL):
                        waited += _POLL_INTERVAL
                        if stop.is_set():
                            sock.close()
                            return None
                        if waited >= _CONNECT_TIMEOUT:
                            raise TimeoutError(f"connect to {host}:{port} timed out")
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err != 0:
                    raise OSError(err, f"connect to {host}:{port}: {os.strerror(err)}")
            sock.settimeout(_POLL_INTERVAL)
            return sock
        except OSError as exc:
            sock.close()
            last_error = exc
    raise last_error or OSError(f"cannot resolve {host}")


def _quickack(sock: socket.socket) -> None:
    """Ask Linux to ACK the next segment at once (the 44 ms delayed-ACK trap)."""
    quickack = getattr(socket, "TCP_QUICKACK", None)
    if quickack is not None:
        sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)


class _VpcdSilent(Exception):
    """vpcd accepted the connection but sent nothing within the first-contact limit."""


def _serve_connection(
    sock: socket.socket,
    card: SimulatedCard,
    stop: threading.Event,
    on_event: EventCallback | None,
    silent_limit: float | None = None,
) -> str:
    """Answer vpcd on ``sock`` until it closes or ``stop`` is set; return why it ended.

    With ``silent_limit``, raise :class:`_VpcdSilent` when vpcd sends nothing
    for that long after the connection is made."""
    framer = VpcdFramer()
    silent_until = None if silent_limit is None else time.monotonic() + silent_limit
    while not stop.is_set():
        _quickack(sock)
        try:
            data = sock.recv(_RECV_SIZE)
        except TimeoutError:
            if silent_until is not None and time.monotonic() >= silent_until:
                raise _VpcdSilent from None
            continue
        except ConnectionError as exc:
            return f"connection lost: {exc}"
        silent_until = None
        if not data:
            return "vpcd closed the connection"
        framer.feed(data)
        for event in framer:
            reply = _handle_safely(card, event)
            if reply is not None:
                sock.sendall(reply)
            _notify(on_event, event)
    return "stopped"


def _handle_safely(card: SimulatedCard, event: VpcdEvent) -> bytes | None:
    """:func:`handle`, but a card that raises answers 6F00 instead of hanging pcscd."""
    if isinstance(event, Apdu):
        log.debug("APDU header %s, %d bytes", event.command[:4].hex().upper(), len(event.command))
    elif isinstance(event, UnknownControl):
        log.warning("unknown vpcd control code %02X ignored", event.code)
    else:
        log.debug("vpcd %s", type(event).__name__)
    try:
        return handle(card, event)
    except CardPulled:
        raise
    except CardMute:
        # a mute card gives no ATR: nothing to answer to a power event
        log.debug("simulated card is mute (%s)", type(event).__name__)
        return None
    except Exception:
        log.exception("simulated card failed on %s", type(event).__name__)
        return frame(_NO_PRECISE_DIAGNOSIS) if isinstance(event, Apdu) else None


def _power_off(card: SimulatedCard) -> None:
    try:
        card.power_off()
    except Exception:
        log.exception("simulated card failed to power off")


def _notify(on_event: EventCallback | None, event: BridgeEvent) -> None:
    if on_event is None:
        return
    try:
        on_event(event)
    except Exception:
        log.exception("on_event callback failed on %s", type(event).__name__)


class CardServer:
    """:func:`serve_card` in a background thread, for tests, the demo and the CLI.

    ::

        with CardServer(card, slot=0) as server:
            ...  # the card is served to "Virtual PCD 00 00"

    ``connected`` is set while the bridge holds a connection to vpcd.
    """

    def __init__(
        self,
        card: SimulatedCard,
        *,
        slot: int = 0,
        host: str = "127.0.0.1",
        reconnect_delay: float = 0.2,
        on_event: EventCallback | None = None,
    ) -> None:
        self.card = card
        self.slot = slot
        self.port = slot_port(slot)
        self.host = host
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._reconnect_delay = reconnect_delay
        self._on_event = on_event
        self._thread: threading.Thread | None = None

    def _track(self, event: BridgeEvent) -> None:
        if isinstance(event, Connected):
            self.connected.set()
        elif isinstance(event, Disconnected):
            self.connected.clear()
        if self._on_event is not None:
            self._on_event(event)

    def start(self) -> Self:
        """Start serving; returns at once (the connection comes up in the background)."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._thread = threading.Thread(
            target=serve_card,
            args=(self.card,),
            kwargs={
                "host": self.host,
                "port": self.port,
                "stop": self._stop,
                "reconnect_delay": self._reconnect_delay,
                "on_event": self._track,
            },
            name=f"vpcd-slot{self.slot}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop serving (the card is removed from the reader) and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
