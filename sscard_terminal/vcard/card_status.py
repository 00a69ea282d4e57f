""":class:`CardStatus`: what a command handler of the virtual card raises to
answer a status word (card side only).

Handlers (:mod:`sscard_terminal.vcard.cardos`, :mod:`sscard_terminal.vcard.security`,
:mod:`sscard_terminal.vcard.psam`) raise it; :meth:`CardOS.process
<sscard_terminal.vcard.cardos.CardOS.process>` is the one place that turns it
into SW1-SW2.
"""

from __future__ import annotations


class CardStatus(Exception):
    """Raised by a handler to answer a status word (card side only)."""

    def __init__(self, sw: int) -> None:
        super().__init__(f"{sw:04X}")
        self.sw = sw
