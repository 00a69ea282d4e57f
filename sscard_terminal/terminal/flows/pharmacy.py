"""The pharmacy's flows (settlement-interface.md, "Flows seen in real
integrations"): the purchase (2101 the split, which books nothing, the cash
part, 2102) and its cancellation (2103), each with the card record and the
receipt."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from typing import Any

from sscard_terminal.driver.pin import PinSource
from sscard_terminal.driver.sam import SecurityModule
from sscard_terminal.errors import UsageError
from sscard_terminal.settlement.client import SettlementClient
from sscard_terminal.settlement.errors import CenterRefused
from sscard_terminal.settlement.inputs import DrugSale
from sscard_terminal.settlement.models import DrugDetail
from sscard_terminal.terminal.flows.after_settlement import written_receipt
from sscard_terminal.terminal.flows.common import (
    Confirm,
    Declined,
    Progress,
    always,
    now,
    otp_no,
    say,
)
from sscard_terminal.terminal.flows.identification import Presented, identify
from sscard_terminal.terminal.flows.items import Item, details, receipt_lines
from sscard_terminal.terminal.payment import PaymentProvider
from sscard_terminal.terminal.receipt import Receipt

__all__ = ["pharmacy_cancel", "pharmacy_purchase"]

#: the serial that makes each purchase's payment key unique in this process
_PAY_KEYS = itertools.count(1)


def pharmacy_purchase(
    card: Presented,
    sam: SecurityModule | None,
    pins: PinSource | None,
    client: SettlementClient,
    items: Sequence[Item],
    payments: PaymentProvider,
    *,
    confirm: Confirm = always,
    insutype: str | None = None,
    acct_used: bool = True,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> Receipt:
    """Pharmacy purchase: card, PIN, 1101, 2101 (the split; ``confirm``), the
    cash part through ``payments`` (PaymentFailed: nothing was booked),
    2102, the card record (PHARMACY), the receipt."""
    if not items:
        raise UsageError("a purchase needs at least one item")
    holder = identify(card, sam, pins, client, insutype=insutype, today=today, progress=progress)
    ref = holder.ref
    args: dict[str, Any] = {
        **holder.cert,
        "insutype": holder.insutype,
        "lines": details(DrugDetail, items, now(client)),
        "acct_used": acct_used,
    }
    say(progress, "2101 pre-settlement")
    sale = DrugSale(ref, **args)
    pre = client.pharmacy_pre_settle(sale)
    if not confirm(pre.setlinfo):
        raise Declined("the purchase was declined; nothing was booked")
    cash = pre.setlinfo.psn_cash_pay
    key = f"{client.institution.fixmedins_code}-{otp_no('RX', client)}-{next(_PAY_KEYS)}"
    payment = None
    if cash > 0:
        say(progress, f"payment of {cash} yuan")
        payment = payments.pay(key, cash)  # PaymentFailed: 2101 booked nothing
    say(progress, "2102 settlement")
    try:
        sold = client.pharmacy_settle(sale)  # OutcomeUnknown: the journal resolves it
    except CenterRefused as exc:
        if payment is not None:
            payments.refund(payment.reference)
            exc.hint = f"payment {payment.reference} ({payment.amount} yuan) was refunded"
        raise
    msgid = sold.msgid
    setl = sold.setlinfo
    extra = {"mdtrt_id": setl.mdtrt_id or ""}
    if payment is not None:
        extra["payment"] = payment.reference
    if setl.psn_cash_pay != cash:
        extra["cash_note"] = f"paid {cash}, settled cash {setl.psn_cash_pay}: settle the difference"
    return written_receipt(
        "药店结算单 pharmacy settlement",
        card,
        client,
        holder,
        setl,
        msgid,
        progress,
        extra,
        lines=receipt_lines(items),
    )


def pharmacy_cancel(
    card: Presented,
    sam: SecurityModule | None,
    pins: PinSource | None,
    client: SettlementClient,
    *,
    setl_id: str,
    mdtrt_id: str,
    payments: PaymentProvider | None = None,
    payment: str | None = None,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> Receipt:
    """Cancel a pharmacy settlement: card, PIN, 1101, 2103, the cash part
    given back (``payment``, the purchase receipt's ``extra["payment"]``,
    through ``payments``), a CANCELLATION record."""
    holder = identify(card, sam, pins, client, require_active=False, today=today, progress=progress)
    say(progress, "2103 cancellation")
    cancelled = client.pharmacy_cancel(
        holder.ref, setl_id=setl_id, mdtrt_id=mdtrt_id, card_no=holder.card_no or None
    )
    msgid = cancelled.msgid
    setl = cancelled.setlinfo
    extra = {"mdtrt_id": mdtrt_id, "cancels": setl_id}
    if payments is not None and payment:
        say(progress, f"refund of payment {payment}")
        extra["payment_refund"] = payments.refund(payment).reference
    return written_receipt(
        "药店退费单 pharmacy cancellation", card, client, holder, setl, msgid, progress, extra
    )
