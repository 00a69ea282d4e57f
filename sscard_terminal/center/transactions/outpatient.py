"""Outpatient: 2201 register, 2202 cancel registration, 2203 visit information,
2204 fee details, 2205 withdraw details, 2206 pre-settle, 2207 settle, 2208
cancel settlement (settlement-interface.md, "Flows seen in real
integrations"; rules a-h)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from sscard_terminal.center import store
from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.rules import money
from sscard_terminal.center.transactions import booking
from sscard_terminal.center.transactions.common import (
    calc_detail,
    catalogue_entries,
    enrolments_from,
    enrolments_query,
    get_person,
    own_settlement,
    own_visit,
    require_care_allowed,
    require_care_day,
    require_designated,
    require_open,
    require_start_time,
    setldetail,
    setlinfo_from_calc,
    setlinfo_from_row,
    settlement_person,
    settlement_reads,
    visit_from,
    visit_query,
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
    Text3,
    Text19,
    Text30,
    Text32,
    Text50,
    Text100,
    Text200,
    Text1000,
    TimeText,
)
from sscard_terminal.center.transactions.registry import transaction

CertType = Field(pattern=r"^0[123]$")
OutpatientMedType = Field(pattern=r"^1[1234]$")


# -- 2201 / 2202 -------------------------------------------------------------------
class Register(InputModel):
    psn_no: Code30
    insutype: Code3
    begntime: TimeText
    mdtrt_cert_type: str = CertType
    mdtrt_cert_no: Code50
    card_sn: Text32
    ipt_otp_no: Code30
    atddr_no: Text30
    dr_name: Text50
    dept_code: Text30
    dept_name: Text100
    caty: Text30
    med_type: str = Field(default="11", pattern=r"^1[1234]$")


class RegisterInput(InputModel):
    data: Register


@transaction("2201", "outpatient registration", RegisterInput, sign_in_with_reads=True)
def register(ctx: MessageContext, inp: RegisterInput) -> dict[str, Any]:
    data = inp.data
    require_designated(ctx)
    person = settlement_person(
        ctx, data.psn_no, data.mdtrt_cert_type, data.mdtrt_cert_no, data.card_sn
    )
    care_day = require_start_time(ctx, data.begntime)
    require_care_allowed(ctx, person, data.insutype, data.med_type, care_day)
    visit = {
        "mdtrt_id": ctx.new_id(),
        "fixmedins_code": ctx.code,
        "psn_no": person.psn_no,
        "kind": "outpatient",
        "insutype": data.insutype,
        "med_type": data.med_type,
        "begntime": data.begntime,
        "ipt_otp_no": data.ipt_otp_no,
        "mdtrt_cert_type": data.mdtrt_cert_type,
        "card_no": person.card_card_no,
        "atddr_no": data.atddr_no,
        "dr_name": data.dr_name,
        "dept_code": data.dept_code,
        "dept_name": data.dept_name,
        "caty": data.caty,
        "dise_codg": None,
        "dise_name": None,
        "status": "open",
        "msgid": ctx.envelope.msgid,
        "created_at": ctx.local_now,
    }
    ctx.conn.execute(store.NEW_VISIT, visit)
    ctx.mdtrt_id = visit["mdtrt_id"]
    return {
        "data": {
            "mdtrt_id": visit["mdtrt_id"],
            "psn_no": person.psn_no,
            "ipt_otp_no": data.ipt_otp_no,
        }
    }


def _has_valid_settlement(ctx: MessageContext, mdtrt_id: str) -> bool:
    return (
        ctx.conn.execute(store.VALID_SETTLEMENTS_OF_VISIT, {"mdtrt_id": mdtrt_id}).first()
        is not None
    )


def withdraw_open_details(ctx: MessageContext, mdtrt_id: str) -> int:
    ids = [d.id for d in ctx.conn.execute(store.OPEN_DETAILS, {"mdtrt_id": mdtrt_id})]
    if ids:
        ctx.conn.execute(store.WITHDRAW_DETAILS, {"ids": ids})
    return len(ids)


def close_visit(ctx: MessageContext, visit: Any, status: str) -> None:
    """Cancel (2202) or reverse (2601 of 2201) a visit with no valid settlement."""
    if _has_valid_settlement(ctx, visit.mdtrt_id):
        raise Refusal(
            "visit.settled",
            f"就诊 {visit.mdtrt_id} 已有有效结算，请先退费（2208）",
            f"visit {visit.mdtrt_id} has a valid settlement: refund it with 2208 first",
        )
    withdraw_open_details(ctx, visit.mdtrt_id)
    ctx.conn.execute(store.SET_VISIT_STATUS, {"b_mdtrt_id": visit.mdtrt_id, "status": status})


class CancelRegistration(InputModel):
    psn_no: Code30
    mdtrt_id: Code30
    ipt_otp_no: Text30


class CancelRegistrationInput(InputModel):
    data: CancelRegistration


@transaction("2202", "cancel registration", CancelRegistrationInput)
def cancel_registration(ctx: MessageContext, inp: CancelRegistrationInput) -> dict[str, Any]:
    data = inp.data
    person = get_person(ctx, data.psn_no, lock=True)
    visit = own_visit(ctx, data.mdtrt_id, person.psn_no)
    require_open(visit)
    if data.ipt_otp_no and visit.ipt_otp_no and data.ipt_otp_no != visit.ipt_otp_no:
        raise Refusal("visit.ipt_otp_no", "门诊号与就诊记录不符", "ipt_otp_no does not match")
    close_visit(ctx, visit, "cancelled")
    return {}


# -- 2203 ------------------------------------------------------------------------------
class VisitInfo(InputModel):
    mdtrt_id: Code30
    psn_no: Code30
    med_type: str = OutpatientMedType
    begntime: TimeText | None = None
    dise_codg: Text30
    dise_name: Text200
    main_cond_dscr: Text1000


class Diagnosis(InputModel):
    diag_type: Text3
    diag_srt_no: Text3
    diag_code: Code30
    diag_name: Text200
    diag_dept: Text50
    dise_dor_no: Text30
    dise_dor_name: Text50
    diag_time: Text19
    vali_flag: Text3


class VisitInfoInput(InputModel):
    mdtrtinfo: VisitInfo
    diseinfo: list[Diagnosis] = Field(default_factory=list, max_length=50)


@transaction("2203", "visit information", VisitInfoInput)
def visit_information(ctx: MessageContext, inp: VisitInfoInput) -> dict[str, Any]:
    info = inp.mdtrtinfo
    person = get_person(ctx, info.psn_no, lock=True)
    visit = own_visit(ctx, info.mdtrt_id, person.psn_no)
    require_open(visit)
    if _has_valid_settlement(ctx, visit.mdtrt_id):
        raise Refusal(
            "visit.settled",
            "就诊已结算，不能修改就诊信息",
            "the visit is settled: its information cannot change",
        )
    dise_codg = info.dise_codg or (inp.diseinfo[0].diag_code if inp.diseinfo else None)
    dise_name = info.dise_name or (inp.diseinfo[0].diag_name if inp.diseinfo else None)
    require_care_allowed(
        ctx, person, visit.insutype, info.med_type, visit.begntime.date(), dise_codg
    )
    ctx.conn.execute(
        store.SET_VISIT_INFO,
        {
            "b_mdtrt_id": visit.mdtrt_id,
            "med_type": info.med_type,
            "dise_codg": dise_codg,
            "dise_name": dise_name,
        },
    )
    return {}


# -- 2204 / 2205 -------------------------------------------------------------------------
class FeeLine(InputModel):
    feedetl_sn: Code30
    mdtrt_id: Code30
    psn_no: Code30
    chrg_bchno: Code30
    rxno: Text30
    fee_ocur_time: TimeText
    med_list_codg: Code50
    medins_list_codg: Code50
    det_item_fee_sumamt: Amount
    cnt: Quantity
    pric: Price


class FeeUploadInput(InputModel):
    feedetail: list[FeeLine] = Field(min_length=1, max_length=500)


def split_row(split: money.ItemSplit) -> dict[str, Any]:
    """A 2204 result row / 2101 detlcutinfo row."""
    return {
        "feedetl_sn": split.feedetl_sn,
        "det_item_fee_sumamt": split.det_item_fee_sumamt,
        "pric_uplmt_amt": split.pric_uplmt_amt,
        "selfpay_prop": split.selfpay_prop,
        "fulamt_ownpay_amt": split.fulamt_ownpay_amt,
        "overlmt_amt": split.overlmt_amt,
        "preselfpay_amt": split.preselfpay_amt,
        "inscp_scp_amt": split.inscp_scp_amt,
        "chrgitm_lv": split.chrgitm_lv,
        "med_chrgitm_type": split.med_chrgitm_type,
    }


def split_lines(ctx: MessageContext, lines: list[Any]) -> list[money.ItemSplit]:
    """Rule h, per item: catalogue class, price cap, class-B self-pay share."""
    sns = [line.feedetl_sn for line in lines]
    if len(set(sns)) != len(sns):
        raise Refusal(
            "fee.duplicate_sn",
            "同一报文中费用明细流水号 feedetl_sn 重复",
            "feedetl_sn repeats within the message",
        )
    entries = catalogue_entries(ctx, (line.med_list_codg for line in lines))
    prop = ctx.policy.money.class_b_selfpay_prop
    return [
        money.split_item(
            money.FeeItem(
                line.feedetl_sn, line.med_list_codg, line.cnt, line.pric, line.det_item_fee_sumamt
            ),
            entries[line.med_list_codg],
            prop,
        )
        for line in lines
    ]


def detail_row(
    ctx: MessageContext,
    mdtrt_id: str,
    line: Any,
    split: money.ItemSplit,
    chrg_bchno: str,
    fee_ocur_time: Any,
) -> dict[str, Any]:
    """The fee_details row of an uploaded line and its split."""
    return {
        "mdtrt_id": mdtrt_id,
        "feedetl_sn": line.feedetl_sn,
        "chrg_bchno": chrg_bchno,
        "rxno": line.rxno,
        "fee_ocur_time": fee_ocur_time,
        "med_list_codg": line.med_list_codg,
        "medins_list_codg": line.medins_list_codg,
        "cnt": line.cnt,
        "pric": line.pric,
        "det_item_fee_sumamt": split.det_item_fee_sumamt,
        "pric_uplmt_amt": split.pric_uplmt_amt,
        "selfpay_prop": split.selfpay_prop,
        "fulamt_ownpay_amt": split.fulamt_ownpay_amt,
        "overlmt_amt": split.overlmt_amt,
        "preselfpay_amt": split.preselfpay_amt,
        "inscp_scp_amt": split.inscp_scp_amt,
        "chrgitm_lv": split.chrgitm_lv,
        "med_chrgitm_type": split.med_chrgitm_type,
        "status": "open",
        "setl_id": None,
        "msgid": ctx.envelope.msgid,
    }


@transaction("2204", "fee detail upload", FeeUploadInput)
def upload_fees(ctx: MessageContext, inp: FeeUploadInput) -> dict[str, Any]:
    lines = inp.feedetail
    visits = {(line.mdtrt_id, line.psn_no) for line in lines}
    if len(visits) != 1:
        raise Refusal(
            "fee.mixed_visits",
            "一次上传的费用明细须属于同一就诊",
            "the fee details of one upload must belong to one visit",
        )
    mdtrt_id, psn_no = visits.pop()
    person = get_person(ctx, psn_no, lock=True)
    visit = own_visit(ctx, mdtrt_id, person.psn_no)
    require_open(visit)
    for line in lines:
        require_care_day(ctx, line.fee_ocur_time)
    existing = {d.feedetl_sn for d in ctx.conn.execute(store.LIVE_DETAILS, {"mdtrt_id": mdtrt_id})}
    clash = [line.feedetl_sn for line in lines if line.feedetl_sn in existing]
    if clash:
        raise Refusal(
            "fee.duplicate_sn",
            f"费用明细流水号已上传：{', '.join(clash[:5])}",
            f"feedetl_sn already uploaded for this visit: {', '.join(clash[:5])}",
        )
    splits = split_lines(ctx, lines)
    ctx.conn.execute(
        store.NEW_DETAIL,
        [
            detail_row(ctx, mdtrt_id, line, split, line.chrg_bchno, line.fee_ocur_time)
            for line, split in zip(lines, splits, strict=True)
        ],
    )
    return {"result": [split_row(s) for s in splits]}


class Withdraw(InputModel):
    mdtrt_id: Code30
    chrg_bchno: Code30
    psn_no: Code30


class WithdrawInput(InputModel):
    data: Withdraw


@transaction("2205", "withdraw fee details", WithdrawInput)
def withdraw_fees(ctx: MessageContext, inp: WithdrawInput) -> dict[str, Any]:
    data = inp.data
    person = get_person(ctx, data.psn_no, lock=True)
    visit = own_visit(ctx, data.mdtrt_id, person.psn_no)
    require_open(visit)
    details = [
        d
        for d in ctx.conn.execute(store.LIVE_DETAILS, {"mdtrt_id": visit.mdtrt_id})
        if data.chrg_bchno == "0000" or d.chrg_bchno == data.chrg_bchno
    ]
    if data.chrg_bchno != "0000" and any(d.status == "settled" for d in details):
        raise Refusal(
            "fee.settled",
            f"收费批次 {data.chrg_bchno} 已结算，请先退费（2208）",
            f"batch {data.chrg_bchno} is settled: refund it with 2208 first",
        )
    ids = [d.id for d in details if d.status == "open"]
    if ids:
        ctx.conn.execute(store.WITHDRAW_DETAILS, {"ids": ids})
    withdrawn = len(ids)
    if withdrawn == 0:
        ctx.warn("没有可撤销的未结算明细", "no unsettled fee details to withdraw")
    return {"data": {"withdrawn": withdrawn}}


# -- 2206 / 2207 / 2208 ----------------------------------------------------------------
class Settle(InputModel):
    psn_no: Code30
    mdtrt_cert_type: str = CertType
    mdtrt_cert_no: Code50
    card_sn: Text32
    med_type: str = OutpatientMedType
    medfee_sumamt: Amount
    psn_setlway: str = Field(pattern=r"^0[12]$")
    mdtrt_id: Code30
    chrg_bchno: Text30
    acct_used_flag: Flag
    insutype: Code3


class SettleInput(InputModel):
    data: Settle


def require_itemised(psn_setlway: str) -> None:
    if psn_setlway != "01":
        raise Refusal(
            "settle.setlway",
            "本平台仅支持按项目结算（psn_setlway=01）",
            "only itemised settlement (psn_setlway 01) is supported",
        )


def _prepare(ctx: MessageContext, data: Settle) -> tuple[Any, list[Any], booking.Priced]:
    require_designated(ctx)
    require_itemised(data.psn_setlway)
    # the person (locked), card, balances, visit, open details and enrolments:
    # one round trip
    person, (visit_rows, enrolment_rows) = settlement_reads(
        ctx,
        data.psn_no,
        data.mdtrt_cert_type,
        data.mdtrt_cert_no,
        data.card_sn,
        balances_of=data.insutype,
        then=(visit_query(data.mdtrt_id, data.chrg_bchno), enrolments_query(data.psn_no)),
    )
    visit, details = visit_from(ctx, visit_rows, data.mdtrt_id, person.psn_no)
    require_open(visit)
    if visit.kind != "outpatient":
        raise Refusal(
            "visit.kind", "药店购药请用2101/2102", "pharmacy purchases settle with 2101/2102"
        )
    if data.insutype != visit.insutype:
        raise Refusal(
            "settle.insutype",
            f"险种 {data.insutype} 与挂号险种 {visit.insutype} 不符",
            f"insutype {data.insutype} is not the visit's {visit.insutype}",
        )
    require_care_allowed(
        ctx,
        person,
        visit.insutype,
        data.med_type,
        visit.begntime.date(),
        visit.dise_codg,
        enrolled=enrolments_from(enrolment_rows),
    )
    if not details:
        raise Refusal(
            "settle.no_details",
            "没有可结算的费用明细（请先2204上传）",
            "no unsettled fee details to settle (upload them with 2204 first)",
        )
    priced = booking.price(
        ctx,
        person,
        visit.insutype,
        [booking.split_of(d) for d in details],
        data.acct_used_flag,
        data.medfee_sumamt,
    )
    return visit, details, priced


@transaction("2206", "outpatient pre-settlement", SettleInput, sign_in_with_reads=True)
def pre_settle(ctx: MessageContext, inp: SettleInput) -> dict[str, Any]:
    data = inp.data
    visit, _details, priced = _prepare(ctx, data)
    calc = priced.calc
    return {
        "setlinfo": setlinfo_from_calc(
            calc,
            mdtrt_id=visit.mdtrt_id,
            psn_no=visit.psn_no,
            insutype=visit.insutype,
            med_type=data.med_type,
        ),
        "setldetail": calc_detail(calc),
    }


@transaction("2207", "outpatient settlement", SettleInput, sign_in_with_reads=True)
def settle(ctx: MessageContext, inp: SettleInput) -> dict[str, Any]:
    data = inp.data
    visit, details, priced = _prepare(ctx, data)
    if visit.med_type != data.med_type:
        ctx.defer(
            store.Fast.SET_VISIT_MED_TYPE, {"b_mdtrt_id": visit.mdtrt_id, "med_type": data.med_type}
        )
    row = booking.book(ctx, visit=visit, details=details, priced=priced, med_type=data.med_type)
    return {"setlinfo": setlinfo_from_row(row), "setldetail": setldetail(row)}


class CancelSettlement(InputModel):
    setl_id: Code30
    mdtrt_id: Code30
    psn_no: Code30


class CancelSettlementInput(InputModel):
    data: CancelSettlement


def cancel_settlement(ctx: MessageContext, data: CancelSettlement, kind: str) -> dict[str, Any]:
    """2208 (outpatient) and 2103 (pharmacy)."""
    person = get_person(ctx, data.psn_no, lock=True)
    visit = own_visit(ctx, data.mdtrt_id, person.psn_no)
    original = own_settlement(ctx, data.setl_id, lock=True)
    if original.mdtrt_id != visit.mdtrt_id:
        raise Refusal(
            "settlement.unknown",
            f"结算 {data.setl_id} 不属于就诊 {data.mdtrt_id}",
            f"settlement {data.setl_id} is not of visit {data.mdtrt_id}",
        )
    if visit.kind != kind:
        right = "2103" if visit.kind == "pharmacy" else "2208"
        raise Refusal(
            "settlement.kind",
            f"该结算请用 {right} 退费",
            f"refund this settlement with {right}",
        )
    row = booking.cancel(ctx, original)
    return {"setlinfo": setlinfo_from_row(row), "setldetail": setldetail(row)}


@transaction("2208", "cancel outpatient settlement", CancelSettlementInput)
def cancel_outpatient(ctx: MessageContext, inp: CancelSettlementInput) -> dict[str, Any]:
    return cancel_settlement(ctx, inp.data, "outpatient")
