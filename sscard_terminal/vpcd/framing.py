"""The vpcd wire protocol as a sans-IO state machine (in the manner of h11).

vsmartcard's vpcd driver for pcscd and a software card talk over one TCP
connection. Every message, in both directions, is a 2-byte big-endian length
followed by that many bytes of payload. From vpcd to the card:

* a 1-byte message is a control code: ``00`` power off, ``01`` power on,
  ``02`` reset, ``04`` get ATR;
* anything else is a command APDU (ISO/IEC 7816-4 clause 5.1).

The card answers only two of these: ``04`` with its ATR and a command APDU
with its response APDU, both length-prefixed. Power off/on and reset get no
reply.

The framing cannot carry a 1-byte command APDU: vpcd sends it as a 1-byte
message, which is read here strictly as a control code. No socket lives in
this module: :class:`VpcdFramer` is fed whatever ``recv()`` returned (a part
of a message, or several messages) and yields whole events; :func:`frame`
builds the bytes to send; :func:`handle` applies one event to a card.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sscard_terminal.vcard.interface import SimulatedCard

#: the length prefix: 2 bytes, big-endian
HEADER_LEN = 2
#: the longest payload the 2-byte length can describe
MAX_PAYLOAD = 0xFFFF

CTRL_POWER_OFF = 0x00
CTRL_POWER_ON = 0x01
CTRL_RESET = 0x02
CTRL_GET_ATR = 0x04


@dataclass(frozen=True, slots=True)
class PowerOff:
    """vpcd deactivates the card (control code 00)."""


@dataclass(frozen=True, slots=True)
class PowerOn:
    """vpcd activates the card: a cold reset (control code 01)."""


@dataclass(frozen=True, slots=True)
class Reset:
    """vpcd asks for a warm reset (control code 02)."""


@dataclass(frozen=True, slots=True)
class GetAtr:
    """vpcd asks for the answer to reset (control code 04); pcscd does this
    about twice a second to see that the card is still there."""


@dataclass(frozen=True, slots=True)
class Apdu:
    """A command APDU (any message that is not 1 byte long)."""

    command: bytes

    def __repr__(self) -> str:
        # the command may hold a PIN: show its header only
        return f"Apdu(<{len(self.command)} bytes, header {self.command[:4].hex().upper()}>)"


@dataclass(frozen=True, slots=True)
class UnknownControl:
    """A 1-byte message whose code this protocol does not define."""

    code: int


VpcdEvent = PowerOff | PowerOn | Reset | GetAtr | Apdu | UnknownControl

_CONTROL_EVENTS: dict[int, VpcdEvent] = {
    CTRL_POWER_OFF: PowerOff(),
    CTRL_POWER_ON: PowerOn(),
    CTRL_RESET: Reset(),
    CTRL_GET_ATR: GetAtr(),
}


def frame(payload: bytes) -> bytes:
    """The message that carries ``payload``: its 2-byte big-endian length, then it.

    Raises ``ValueError`` for a payload longer than 65535 bytes, which the
    length prefix cannot describe.
    """
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"a vpcd message holds at most {MAX_PAYLOAD} bytes, not {len(payload)}")
    return len(payload).to_bytes(HEADER_LEN, "big") + payload


def parse_message(payload: bytes) -> VpcdEvent:
    """The event one complete message (without its length prefix) stands for.

    A 1-byte message is a control code; every other length, including an
    empty message, is a command APDU (vpcd then waits for an answer).
    """
    if len(payload) == 1:
        code = payload[0]
        return _CONTROL_EVENTS.get(code, UnknownControl(code))
    return Apdu(bytes(payload))


class VpcdFramer:
    """Splits the byte stream from vpcd into events.

    Feed it the bytes of every ``recv()`` and iterate over it (or call
    :meth:`next_event`) for the events that are complete; an incomplete
    message stays buffered until the rest arrives::

        framer = VpcdFramer()
        framer.feed(sock.recv(4096))
        for event in framer:
            reply = handle(card, event)
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        """Append bytes received from vpcd."""
        self._buffer += data

    @property
    def pending(self) -> int:
        """How many received bytes do not yet form a complete message."""
        return len(self._buffer)

    def next_event(self) -> VpcdEvent | None:
        """The next complete event, or None if more bytes are needed."""
        if len(self._buffer) < HEADER_LEN:
            return None
        length = int.from_bytes(self._buffer[:HEADER_LEN], "big")
        end = HEADER_LEN + length
        if len(self._buffer) < end:
            return None
        payload = bytes(self._buffer[HEADER_LEN:end])
        del self._buffer[:end]
        return parse_message(payload)

    def __iter__(self) -> Iterator[VpcdEvent]:
        """Yield every complete event received so far."""
        while (event := self.next_event()) is not None:
            yield event


def handle(card: SimulatedCard, event: VpcdEvent) -> bytes | None:
    """Apply ``event`` to ``card`` and return the framed reply, if there is one.

    Only :class:`GetAtr` (the ATR) and :class:`Apdu` (the response APDU) are
    answered; power off/on, reset and unknown control codes return None
    (unknown codes are left alone, the card is not touched).
    """
    match event:
        case Apdu(command=command):
            return frame(card.process(command))
        case GetAtr():
            return frame(card.atr)
        case PowerOn():
            card.power_on()
        case PowerOff():
            card.power_off()
        case Reset():
            card.reset()
        case UnknownControl():
            pass
    return None
