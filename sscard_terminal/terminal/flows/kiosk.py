"""Self-service registration at a kiosk: the department and doctor from the
hospital's schedule (:mod:`sscard_terminal.terminal.schedule`), 2201 with
med_type 12 (outpatient registration), the registration fee settled as an
outpatient visit (2204, 2206, the cash part, 2207), and the queue number
(:class:`~sscard_terminal.terminal.flows.queue_book.QueueBook`)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sscard_terminal.driver.pin import PinSource
from sscard_terminal.driver.sam import SecurityModule
from sscard_terminal.errors import UsageError
from sscard_terminal.settlement.client import SettlementClient
from sscard_terminal.terminal.flows.after_settlement import written_receipt
from sscard_terminal.terminal.flows.common import Confirm, Progress, always, now, otp_no, say
from sscard_terminal.terminal.flows.identification import Holder, Presented, identify
from sscard_terminal.terminal.flows.items import Item, receipt_lines
from sscard_terminal.terminal.flows.outpatient import OwnVisit, settle_visit
from sscard_terminal.terminal.flows.queue_book import QueueBook
from sscard_terminal.terminal.payment import PaymentProvider
from sscard_terminal.terminal.receipt import Receipt
from sscard_terminal.terminal.schedule import Schedule

__all__ = ["MED_REGISTRATION", "kiosk_register"]

#: med_type 12: outpatient registration
MED_REGISTRATION = "12"


def kiosk_register(
    card: Presented,
    sam: SecurityModule | None,
    pins: PinSource | None,
    client: SettlementClient,
    schedule: Schedule,
    department: str,
    doctor: str,
    payments: PaymentProvider,
    *,
    queue: QueueBook | None = None,
    confirm: Confirm = always,
    insutype: str | None = None,
    today: dt.date | None = None,
    progress: Progress | None = None,
    holder: Holder | None = None,
) -> Receipt:
    """Self-service registration: card, PIN, 1101, the department and doctor
    from the hospital's schedule, 2201, the fee by 2204 and 2206, the cash
    part through ``payments`` (PaymentFailed: rolled back by 2205 and 2202,
    then re-raised), 2207, the card record (REGISTRATION), and a receipt with
    the queue number (``extra["queue_number"]``). ``holder``: the start done
    already (a kiosk identifies the patient once, then offers its menu)."""
    dept, doc = schedule.find(department, doctor)  # before the card: a usage error
    if schedule.fixmedins_code != client.institution.fixmedins_code:
        raise UsageError(
            f"the schedule is {schedule.fixmedins_code}'s, the terminal is "
            f"{client.institution.fixmedins_code}'s"
        )
    queue = queue or QueueBook()
    day = now(client).date()
    queue.check(day, dept.code, doc.code, doc.places)
    if holder is None:
        holder = identify(
            card, sam, pins, client, insutype=insutype, today=today, progress=progress
        )
    ref = holder.ref
    ipt_otp_no = otp_no("RG", client)
    say(progress, f"2201 registration: {dept.name} {doc.name}")
    visit = client.register(
        ref,
        insutype=holder.insutype,
        **holder.cert,
        ipt_otp_no=ipt_otp_no,
        med_type=MED_REGISTRATION,
        atddr_no=doc.code,
        dr_name=doc.name,
        dept_code=dept.code,
        dept_name=dept.name,
        caty=dept.caty,
        hold_visit=True,
    )
    mdtrt_id = visit.mdtrt_id
    item = Item(doc.fee_code, Decimal(1), doc.fee, f"挂号费 {doc.name}", f"REG-{doc.code}")
    settled, payment = settle_visit(
        client,
        holder,
        mdtrt_id,
        [item],
        OwnVisit(client, ref, mdtrt_id, ipt_otp_no, visit.msgid, progress),
        med_type=MED_REGISTRATION,
        info=None,
        fees_step="2204 registration fee",
        confirm=confirm,
        declined="the registration was declined; it is cancelled",
        payments=payments,
        pay_key=f"{client.institution.fixmedins_code}-{mdtrt_id}",
        progress=progress,
    )
    number = queue.take(day, dept.code, doc.code)
    extra = {
        "queue_number": str(number),
        "department": f"{dept.code} {dept.name}",
        "doctor": f"{doc.code} {doc.name}",
        "mdtrt_id": mdtrt_id,
    }
    if payment is not None:
        extra["payment"] = payment.reference
    return written_receipt(
        "自助挂号单 registration",
        card,
        client,
        holder,
        settled.setlinfo,
        settled.msgid,
        progress,
        extra,
        lines=receipt_lines([item]),
    )
