"""Sending commands: T=0 procedure handling and the status-word check.

ISO/IEC 7816-3 clause 10.3.4 and ISO/IEC 7816-4 clause 5.3.4: a card may
answer 61xx (xx more bytes, fetch them with GET RESPONSE) or 6Cxx (wrong Le,
resend with Le = xx). :class:`CardSession` handles both, so callers never see
them, and turns every other status word but 9000 into an exception in exactly
one place (:func:`sscard_terminal.errors.error_for_sw`).

It also counts the APDUs and bytes that cross the wire, which the benchmarks
report.
"""

from __future__ import annotations

from dataclasses import dataclass

from sscard_terminal.apdu.command import CommandApdu
from sscard_terminal.apdu.response import ResponseApdu
from sscard_terminal.apdu.status import is_valid_sw
from sscard_terminal.errors import CorruptResponseError, MalformedApduError, error_for_sw
from sscard_terminal.transport.base import Transport

#: more GET RESPONSE rounds than this means a card that never stops talking
_MAX_CHAINED = 64


@dataclass
class WireStats:
    """APDUs and bytes on the wire (both directions, headers and SW included)."""

    apdus: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0

    @property
    def bytes_total(self) -> int:
        return self.bytes_sent + self.bytes_received

    def reset(self) -> None:
        self.apdus = self.bytes_sent = self.bytes_received = 0


class CardSession:
    """One card, through one transport, for one transaction."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.stats = WireStats()

    def _exchange(self, apdu: CommandApdu) -> ResponseApdu:
        raw_command = apdu.to_bytes()
        raw = self.transport.transmit(raw_command)
        self.stats.apdus += 1
        self.stats.bytes_sent += len(raw_command)
        self.stats.bytes_received += len(raw)
        try:
            response = ResponseApdu.from_bytes(raw)
        except MalformedApduError:
            raise CorruptResponseError(
                f"the card answered {len(raw)} byte(s), not a response APDU"
            ) from None
        if not is_valid_sw(response.sw):
            raise CorruptResponseError(
                f"the card answered an invalid status word {response.sw:04X}"
            )
        return response

    def transmit(self, apdu: CommandApdu, *, fetch: bool = True) -> ResponseApdu:
        """Send a command; resolve 61xx and 6Cxx; return the final response unchecked.

        With ``fetch=False`` a 61xx answer counts as success without its data
        (the command was executed; the terminal does not need the answer), which
        saves the GET RESPONSE round trip.
        """
        response = self._exchange(apdu)
        if response.sw1 == 0x6C:
            response = self._exchange(apdu.with_ne(response.sw2 or 256))
            if response.sw1 == 0x6C:
                raise CorruptResponseError("the card answered 6Cxx twice for the same command")
        if response.sw1 == 0x61 and not fetch:
            return ResponseApdu(response.data, 0x9000)
        data = response.data
        rounds = 0
        while response.sw1 == 0x61:
            rounds += 1
            if rounds > _MAX_CHAINED:
                raise CorruptResponseError("the card keeps answering 61xx")
            get_response = CommandApdu(0x00, 0xC0, 0x00, 0x00, ne=response.sw2 or 256)
            response = self._exchange(get_response)
            data += response.data
        return ResponseApdu(data, response.sw)

    def send(
        self, apdu: CommandApdu, *, what: str = "", pin: bool = False, fetch: bool = True
    ) -> bytes:
        """Send a command and return its data; raise on any status but 9000.

        ``what`` names the command in errors (never its data); ``pin`` marks
        a PIN command so that 63Cx and 6983 become PIN errors.
        """
        response = self.transmit(apdu, fetch=fetch)
        if response.sw != 0x9000:
            raise error_for_sw(response.sw, what, response.data, pin=pin)
        return response.data
