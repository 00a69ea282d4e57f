"""Finding the card to talk to: a named reader, or the first one with a social security card."""

from __future__ import annotations

from sscard_terminal.apdu.command import CommandApdu
from sscard_terminal.driver.sscard import SSSE_NAME
from sscard_terminal.errors import NoCardError, SscardError
from sscard_terminal.transport.base import Transport, open_transport
from sscard_terminal.transport.tracing import TracingTransport


def _wrap(transport: Transport, trace: bool, reveal: bool) -> Transport:
    return TracingTransport(transport, reveal=reveal) if trace else transport


def open_reader(reader: str | None, *, trace: bool = False, reveal: bool = False) -> Transport:
    """A connected PC/SC transport.

    With ``reader`` the named reader (exact name or unique part of it). Without,
    the first reader whose card answers SELECT SSSE with success (issue 2:
    "the first reader whose card answers SELECT SSSE").
    """
    if reader is not None:
        transport = _wrap(open_transport("pcsc", reader=reader), trace, reveal)
        transport.connect()
        return transport
    from sscard_terminal.transport.pcsc import list_readers

    readers = list_readers()
    with_card = [r for r in readers if r.card_present]
    if not with_card:
        where = ", ".join(r.name for r in readers)
        raise NoCardError(f"no card in any reader ({where})")
    last_error: SscardError | None = None
    select = CommandApdu(0x00, 0xA4, 0x04, 0x0C, SSSE_NAME).to_bytes()
    for info in with_card:
        transport = _wrap(open_transport("pcsc", reader=info.name), trace, reveal)
        try:
            transport.connect()
            sw = transport.transmit(select)[-2:]
        except SscardError as exc:
            last_error = exc
            transport.close()
            continue
        if sw[0] in (0x90, 0x61):
            return transport
        transport.close()
    if last_error is not None:
        raise last_error
    raise NoCardError(
        "no reader holds a social security card (no card answered SELECT SSSE)",
        hint="check the card, or name the reader with --reader",
    )
