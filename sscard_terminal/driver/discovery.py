"""Finding the card to talk to: a named reader, or the first one with a social security card."""

from __future__ import annotations

from sscard_terminal.apdu.command import CommandApdu
from sscard_terminal.driver.sscard import SSSE_NAME
from sscard_terminal.errors import NoCardError, SscardError
from sscard_terminal.transport.base import (
    DEFAULT_TRANSPORT,
    Transport,
    list_readers,
    open_transport,
)
from sscard_terminal.transport.tracing import TracingTransport


def _wrap(transport: Transport, trace: bool, reveal: bool) -> Transport:
    return TracingTransport(transport, reveal=reveal) if trace else transport


def open_reader(
    reader: str | None,
    *,
    transport: str = DEFAULT_TRANSPORT,
    trace: bool = False,
    reveal: bool = False,
    transaction: bool = False,
) -> Transport:
    """A connected transport of backend ``transport`` (default: PC/SC); with
    ``transaction``, holding a PC/SC transaction until it is closed.

    With ``reader`` the named reader (exact name or unique part of it). Without,
    the first reader whose card answers SELECT SSSE with success: readers
    that are empty or hold another kind of card are passed over.
    """
    if reader is not None:
        opened = open_transport(transport, reader=reader, transaction=transaction)
        found = _wrap(opened, trace, reveal)
        found.connect()
        return found
    readers = list_readers(transport)
    with_card = [r for r in readers if r.card_present]
    if not with_card:
        where = ", ".join(r.name for r in readers)
        raise NoCardError(f"no card in any reader ({where})")
    last_error: SscardError | None = None
    select = CommandApdu(0x00, 0xA4, 0x04, 0x0C, SSSE_NAME).to_bytes()
    for info in with_card:
        opened = open_transport(transport, reader=info.name, transaction=transaction)
        candidate = _wrap(opened, trace, reveal)
        try:
            candidate.connect()
            sw = candidate.transmit(select)[-2:]
        except SscardError as exc:
            last_error = exc
            candidate.close()
            continue
        if sw[0] in (0x90, 0x61):
            return candidate
        candidate.close()
    if last_error is not None:
        raise last_error
    raise NoCardError(
        "no reader holds a social security card (no card answered SELECT SSSE)",
        hint="check the card, or name the reader with --reader",
    )
