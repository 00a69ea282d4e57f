"""The hospital's outpatient flows (settlement-interface.md, "Flows seen in
real integrations"): the swipe at the desk (2201 to 2207), the refund of an
outpatient settlement (2208), and the fees of a visit registered at the
desk, paid at a kiosk (:class:`DeskVisit`, 2203 to 2207).

Each flow starts with the card (or the voucher), its PIN and 1101
(:mod:`~sscard_terminal.terminal.flows.identification`) and ends with the
card record and the receipt
(:mod:`~sscard_terminal.terminal.flows.after_settlement`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sscard_terminal.driver.pin import PinSource
from sscard_terminal.driver.sam import SecurityModule
from sscard_terminal.errors import UsageError
from sscard_terminal.settlement.client import SettlementClient
from sscard_terminal.terminal.flows.after_settlement import written_receipt
from sscard_terminal.terminal.flows.common import Confirm, Progress, always, otp_no, say
from sscard_terminal.terminal.flows.identification import Holder, Presented, identify
from sscard_terminal.terminal.flows.items import Item, receipt_lines, sum_amount
from sscard_terminal.terminal.flows.outpatient import DeskFees, OwnVisit, VisitInfo, settle_visit
from sscard_terminal.terminal.flows.rollback import rollback
from sscard_terminal.terminal.payment import PaymentProvider
from sscard_terminal.terminal.receipt import Receipt

__all__ = ["MED_OUTPATIENT", "DeskVisit", "hospital_refund", "hospital_swipe", "pay_outstanding"]

#: med_type 11: ordinary outpatient
MED_OUTPATIENT = "11"


def hospital_swipe(
    card: Presented,
    sam: SecurityModule | None,
    pins: PinSource | None,
    client: SettlementClient,
    items: Sequence[Item],
    *,
    confirm: Confirm = always,
    insutype: str | None = None,
    med_type: str = MED_OUTPATIENT,
    dise_codg: str | None = None,
    dise_name: str | None = None,
    dept_code: str | None = None,
    dept_name: str | None = None,
    dr_name: str | None = None,
    acct_used: bool = True,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> Receipt:
    """Hospital outpatient swipe: card, PIN, 1101, 2201, 2203, 2204, 2206
    (``confirm`` sees the split; False rolls back with 2205/2202 and raises
    :class:`Declined`), 2207, the card record (HOSPITAL), the receipt."""
    if not items:
        raise UsageError("a hospital swipe needs at least one item")
    holder = identify(card, sam, pins, client, insutype=insutype, today=today, progress=progress)
    ref = holder.ref
    ipt_otp_no = otp_no("OP", client)
    say(progress, "2201 registration")
    visit = client.register(
        ref,
        insutype=holder.insutype,
        **holder.cert,
        ipt_otp_no=ipt_otp_no,
        med_type=med_type,
        dept_code=dept_code,
        dept_name=dept_name,
        dr_name=dr_name,
        hold_visit=True,
    )
    mdtrt_id = visit.mdtrt_id
    settled, _ = settle_visit(
        client,
        holder,
        mdtrt_id,
        items,
        OwnVisit(client, ref, mdtrt_id, ipt_otp_no, visit.msgid, progress),
        med_type=med_type,
        acct_used=acct_used,
        info=VisitInfo(dise_codg, dise_name),
        fees_step="2204 fee details",
        confirm=confirm,
        declined="the settlement was declined; the visit is cancelled",
        progress=progress,
    )
    return written_receipt(
        "门诊结算单 outpatient settlement",
        card,
        client,
        holder,
        settled.setlinfo,
        settled.msgid,
        progress,
        {"mdtrt_id": mdtrt_id, "ipt_otp_no": ipt_otp_no},
        lines=receipt_lines(items),
    )


def hospital_refund(
    card: Presented,
    sam: SecurityModule | None,
    pins: PinSource | None,
    client: SettlementClient,
    *,
    setl_id: str,
    mdtrt_id: str,
    cancel_visit: bool = True,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> Receipt:
    """Refund an outpatient settlement: card, PIN, 1101, 2208 (then 2205 and
    2202 to close the visit when ``cancel_visit``), a REFUND card record."""
    holder = identify(card, sam, pins, client, require_active=False, today=today, progress=progress)
    say(progress, "2208 refund")
    refund = client.cancel_settlement(
        holder.ref, setl_id=setl_id, mdtrt_id=mdtrt_id, card_no=holder.card_no or None
    )
    msgid = refund.msgid
    setl = refund.setlinfo
    extra = {"mdtrt_id": mdtrt_id, "refunds": setl_id}
    if cancel_visit:
        problems = rollback(client, holder.ref, mdtrt_id, None)
        if problems:
            extra["visit"] = "still open: " + "; ".join(problems)
    return written_receipt(
        "门诊退费单 outpatient refund", card, client, holder, setl, msgid, progress, extra
    )


@dataclass(frozen=True)
class DeskVisit:
    """A visit registered at the desk (2201 done there) whose fees the patient
    pays at a kiosk: what the hospital information system hands over."""

    mdtrt_id: str
    items: tuple[Item, ...]
    ipt_otp_no: str | None = None
    dept_name: str | None = None
    dr_name: str | None = None
    dise_codg: str | None = None
    dise_name: str | None = None
    med_type: str = MED_OUTPATIENT

    @property
    def total(self) -> Decimal:
        return sum_amount(self.items)


def pay_outstanding(
    card: Presented,
    sam: SecurityModule | None,
    pins: PinSource | None,
    client: SettlementClient,
    visit: DeskVisit,
    payments: PaymentProvider,
    *,
    confirm: Confirm = always,
    insutype: str | None = None,
    acct_used: bool = True,
    today: dt.date | None = None,
    progress: Progress | None = None,
    holder: Holder | None = None,
) -> Receipt:
    """Outpatient fees of a visit registered at the desk, paid at a kiosk (the
    hospital swipe's path after its 2201, settlement-interface.md "Flows
    seen in real integrations"): 2203, 2204, 2206 (``confirm``), the cash part
    through ``payments``, 2207, the card record (HOSPITAL), the receipt. A
    refusal, a decline or a failed payment withdraws the fees (2205) and
    leaves the desk's registration open, for the desk to settle or cancel."""
    if not visit.items:
        raise UsageError("the visit has no fees to pay")
    if holder is None:
        holder = identify(
            card, sam, pins, client, insutype=insutype, today=today, progress=progress
        )
    mdtrt_id = visit.mdtrt_id
    settled, payment = settle_visit(
        client,
        holder,
        mdtrt_id,
        visit.items,
        DeskFees(client, holder.ref, mdtrt_id, progress),
        med_type=visit.med_type,
        acct_used=acct_used,
        info=VisitInfo(visit.dise_codg, visit.dise_name),
        fees_step="2204 fee details",
        confirm=confirm,
        declined="the payment was declined; the fees stay open at the desk",
        payments=payments,
        pay_key=f"{client.institution.fixmedins_code}-{mdtrt_id}-fees",
        progress=progress,
    )
    extra = {"mdtrt_id": mdtrt_id}
    if payment is not None:
        extra["payment"] = payment.reference
    return written_receipt(
        "门诊缴费单 outpatient fees",
        card,
        client,
        holder,
        settled.setlinfo,
        settled.msgid,
        progress,
        extra,
        lines=receipt_lines(visit.items),
    )
