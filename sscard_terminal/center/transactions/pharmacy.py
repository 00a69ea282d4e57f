"""Pharmacy: 2101 pre-settle, 2102 settle, 2103 cancel (settlement-interface.md,
"Pharmacy"; med_type 41, rules a-h). One 2102 books the purchase (a visit of
kind pharmacy), its drug details and the settlement in one transaction."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from sscard_terminal.center import store, voucher
from sscard_terminal.center.rules import money
from sscard_terminal.center.transactions import booking
from sscard_terminal.center.transactions.common import (
    VOUCHER_CERT,
    calc_detail,
    require_care_allowed,
    require_designated,
    setldetail,
    setlinfo_from_calc,
    setlinfo_from_row,
    settlement_person,
)
from sscard_terminal.center.transactions.context import MessageContext
from sscard_terminal.center.transactions.fields import (
    Amount,
    Code3,
    Code30,
    Code50,
    Flag,
    InputModel,
    Price,
    Quantity,
    Text30,
    Text32,
    TimeText,
)
from sscard_terminal.center.transactions.outpatient import (
    CancelSettlementInput,
    cancel_settlement,
    detail_row,
    require_itemised,
    split_lines,
    split_row,
)
from sscard_terminal.center.transactions.registry import transaction


class DrugInfo(InputModel):
    psn_no: Code30
    mdtrt_cert_type: str = Field(pattern=r"^0[123]$")
    mdtrt_cert_no: Code50
    card_sn: Text32
    med_type: str = Field(pattern=r"^41$")
    medfee_sumamt: Amount
    psn_setlway: str = Field(default="01", pattern=r"^0[12]$")
    insutype: Code3
    acct_used_flag: Flag
    ipt_otp_no: Text30


class DrugLine(InputModel):
    feedetl_sn: Code30
    rxno: Text30
    fee_ocur_time: TimeText | None = None
    med_list_codg: Code50
    medins_list_codg: Code50
    det_item_fee_sumamt: Amount
    cnt: Quantity
    pric: Price


class PharmacyInput(InputModel):
    druginfo: DrugInfo
    drugdetail: list[DrugLine] = Field(min_length=1, max_length=500)


def _prepare(
    ctx: MessageContext, inp: PharmacyInput
) -> tuple[Any, list[money.ItemSplit], booking.Priced]:
    info = inp.druginfo
    require_designated(ctx)
    require_itemised(info.psn_setlway)
    person = settlement_person(
        ctx,
        info.psn_no,
        info.mdtrt_cert_type,
        info.mdtrt_cert_no,
        info.card_sn,
        balances_of=info.insutype,
    )
    require_care_allowed(ctx, person, info.insutype, info.med_type, ctx.today)
    splits = split_lines(ctx, inp.drugdetail)
    priced = booking.price(
        ctx, person, info.insutype, splits, info.acct_used_flag, info.medfee_sumamt
    )
    return person, splits, priced


@transaction("2101", "pharmacy pre-settlement", PharmacyInput, sign_in_with_reads=True)
def pre_settle(ctx: MessageContext, inp: PharmacyInput) -> dict[str, Any]:
    person, splits, priced = _prepare(ctx, inp)
    calc = priced.calc
    info = setlinfo_from_calc(
        calc, mdtrt_id=None, psn_no=person.psn_no, insutype=inp.druginfo.insutype, med_type="41"
    )
    return {
        "setlinfo": info,
        "setldetail": calc_detail(calc),
        "detlcutinfo": [split_row(s) for s in splits],
    }


@transaction("2102", "pharmacy settlement", PharmacyInput, sign_in_with_reads=True)
def settle(ctx: MessageContext, inp: PharmacyInput) -> dict[str, Any]:
    person, splits, priced = _prepare(ctx, inp)
    info = inp.druginfo
    visit = {
        "mdtrt_id": ctx.new_id(),
        "fixmedins_code": ctx.code,
        "psn_no": person.psn_no,
        "kind": "pharmacy",
        "insutype": info.insutype,
        "med_type": "41",
        "begntime": ctx.local_now,
        "ipt_otp_no": info.ipt_otp_no,
        "mdtrt_cert_type": info.mdtrt_cert_type,
        "card_no": person.card_card_no,
        "atddr_no": None,
        "dr_name": None,
        "dept_code": None,
        "dept_name": None,
        "caty": None,
        "dise_codg": None,
        "dise_name": None,
        "status": "open",
        "msgid": ctx.envelope.msgid,
        "created_at": ctx.local_now,
    }
    ctx.conn.execute(store.NEW_VISIT, visit)
    mdtrt_id = visit["mdtrt_id"]
    batch = ctx.envelope.msgid[-20:]
    ctx.conn.execute(
        store.NEW_DETAIL,
        [
            detail_row(ctx, mdtrt_id, line, split, batch, line.fee_ocur_time or ctx.local_now)
            for line, split in zip(inp.drugdetail, splits, strict=True)
        ],
    )
    details = list(ctx.conn.execute(store.OPEN_DETAILS, {"mdtrt_id": mdtrt_id}))
    if info.mdtrt_cert_type == VOUCHER_CERT:
        voucher.spend(ctx.conn, info.mdtrt_cert_no, ctx.envelope.msgid)
    row = booking.book(
        ctx,
        visit=_VisitView(mdtrt_id, person.psn_no, info.insutype),
        details=details,
        priced=priced,
        med_type="41",
    )
    return {
        "setlinfo": setlinfo_from_row(row),
        "setldetail": setldetail(row),
        "detlcutinfo": [split_row(s) for s in splits],
    }


class _VisitView:
    """What booking needs of a visit just inserted."""

    def __init__(self, mdtrt_id: str, psn_no: str, insutype: str) -> None:
        self.mdtrt_id, self.psn_no, self.insutype = mdtrt_id, psn_no, insutype


@transaction("2103", "cancel pharmacy settlement", CancelSettlementInput)
def cancel(ctx: MessageContext, inp: CancelSettlementInput) -> dict[str, Any]:
    return cancel_settlement(ctx, inp.data, "pharmacy")
