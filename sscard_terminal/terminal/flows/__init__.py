"""The terminal flows: hospital swipe and refund, the fees of a visit
registered at the desk, pharmacy purchase and cancellation, self-service
registration at a kiosk (settlement-interface.md, "Flows seen in real
integrations").

Each flow composes a connected :class:`SocialSecurityCard` (or the
electronic :class:`Voucher`), a security module (``None`` for a 2.0 card), a
:class:`PinSource`, and a :class:`SettlementClient` (whose journal keeps
every message), and ends in a :class:`Receipt`:

- ``identification``: the start of every flow (card, PIN, 1101; or voucher,
  ec.query, 1101) and the :class:`Holder` it learns;
- ``items``: the charged lines, their parsing and their detail lines;
- ``outpatient``: 2203 to 2207 of an open visit, and what a failure undoes;
- ``rollback``: 2205 and 2202, and the visits left to the journal;
- ``after_settlement``: the card record owed after a settlement, the receipt;
- ``hospital``, ``pharmacy``, ``kiosk``: the flows; ``queue_book``: the
  kiosk's queue numbers; ``common``: progress, confirmation, the clock.
"""

from sscard_terminal.terminal.flows.common import Declined
from sscard_terminal.terminal.flows.hospital import (
    DeskVisit,
    hospital_refund,
    hospital_swipe,
    pay_outstanding,
)
from sscard_terminal.terminal.flows.identification import (
    Holder,
    NotEligible,
    Presented,
    Voucher,
    identify,
    identify_voucher,
)
from sscard_terminal.terminal.flows.items import Item, load_items, parse_item
from sscard_terminal.terminal.flows.kiosk import kiosk_register
from sscard_terminal.terminal.flows.pharmacy import pharmacy_cancel, pharmacy_purchase
from sscard_terminal.terminal.flows.queue_book import QueueBook

__all__ = [
    "Declined",
    "DeskVisit",
    "Holder",
    "Item",
    "NotEligible",
    "Presented",
    "QueueBook",
    "Voucher",
    "hospital_refund",
    "hospital_swipe",
    "identify",
    "identify_voucher",
    "kiosk_register",
    "load_items",
    "parse_item",
    "pay_outstanding",
    "pharmacy_cancel",
    "pharmacy_purchase",
]
