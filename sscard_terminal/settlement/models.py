"""Typed inputs and results of the transactions (settlement-interface.md,
"Transactions"; field names are the platform's own).

Results are pydantic models of the key output fields; any further fields a
center sends are kept (``model_extra``). Amounts are :class:`decimal.Decimal`,
read from JSON numbers or strings, never floats (settlement-interface.md,
"Money"). Inputs are frozen dataclasses that write themselves as the input
node of their transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr

__all__ = [
    "Ack",
    "BaseInfo",
    "Diagnosis",
    "DrugDetail",
    "FeeDetail",
    "FeeResult",
    "Filing",
    "InsuInfo",
    "Money",
    "PersonInfo",
    "PersonRef",
    "PharmacySettlement",
    "ReconcileDetails",
    "ReconcileResultRow",
    "ReconcileRow",
    "ReconcileTotals",
    "Registration",
    "Reversal",
    "SetlDetail",
    "SetlInfo",
    "SettlementLookup",
    "SettlementResult",
    "SignIn",
    "SignOut",
    "StmtInfo",
    "Withdrawal",
    "as_time",
]

ZERO = Decimal("0.00")


def _money(value: Any) -> Decimal:
    if isinstance(value, bool | float):
        raise ValueError("an amount must be a decimal number or its text, never a float")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | str):
        try:
            result = Decimal(value.strip() if isinstance(value, str) else value)
        except ArithmeticError:
            raise ValueError("not a decimal number") from None
    else:
        raise ValueError("an amount must be a decimal number or its text")
    if not result.is_finite():
        raise ValueError("an amount must be finite")
    return result


def _text(value: Any) -> Any:
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    return value


#: An amount: Decimal from a JSON number or string.
Money = Annotated[Decimal, BeforeValidator(_money)]
#: A code the center may send as a number or a string.
Code = Annotated[str, BeforeValidator(_text)]
OptCode = Annotated[str | None, BeforeValidator(_text)]


def as_time(moment: dt.datetime | str) -> str:
    """``yyyy-MM-dd HH:mm:ss`` (settlement-interface.md, inf_time form)."""
    if isinstance(moment, str):
        return moment
    return f"{moment:%Y-%m-%d %H:%M:%S}"


class _Result(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    _msgid: str | None = PrivateAttr(default=None)

    @property
    def msgid(self) -> str | None:
        """The msgid of the message this is the answer to (set by the client)."""
        return self._msgid


# -- inputs -------------------------------------------------------------------------------
@dataclass(frozen=True)
class PersonRef:
    """Whom a message is about: ``psn_no`` and the home division that goes into
    the envelope's ``insuplc_admdvs`` (both from 1101)."""

    psn_no: str
    insuplc_admdvs: str


@dataclass(frozen=True)
class FeeDetail:
    """One line of 2204 ``feedetail`` (the client adds mdtrt_id and psn_no)."""

    feedetl_sn: str
    med_list_codg: str
    medins_list_codg: str
    cnt: Decimal
    pric: Decimal
    det_item_fee_sumamt: Decimal
    fee_ocur_time: dt.datetime | str
    chrg_bchno: str = "1"
    rxno: str = ""

    def node(self, mdtrt_id: str, psn_no: str) -> dict[str, Any]:
        return {
            "feedetl_sn": self.feedetl_sn,
            "mdtrt_id": mdtrt_id,
            "psn_no": psn_no,
            "chrg_bchno": self.chrg_bchno,
            "rxno": self.rxno,
            "fee_ocur_time": as_time(self.fee_ocur_time),
            "med_list_codg": self.med_list_codg,
            "medins_list_codg": self.medins_list_codg,
            "det_item_fee_sumamt": self.det_item_fee_sumamt,
            "cnt": self.cnt,
            "pric": self.pric,
        }


@dataclass(frozen=True)
class DrugDetail:
    """One line of 2101/2102 ``drugdetail``."""

    feedetl_sn: str
    med_list_codg: str
    medins_list_codg: str
    cnt: Decimal
    pric: Decimal
    det_item_fee_sumamt: Decimal
    rxno: str = ""
    fee_ocur_time: dt.datetime | str | None = None

    def node(self) -> dict[str, Any]:
        node: dict[str, Any] = {
            "feedetl_sn": self.feedetl_sn,
            "rxno": self.rxno,
            "med_list_codg": self.med_list_codg,
            "medins_list_codg": self.medins_list_codg,
            "det_item_fee_sumamt": self.det_item_fee_sumamt,
            "cnt": self.cnt,
            "pric": self.pric,
        }
        if self.fee_ocur_time is not None:
            node["fee_ocur_time"] = as_time(self.fee_ocur_time)
        return node


@dataclass(frozen=True)
class Diagnosis:
    """One row of 2203 ``diseinfo``."""

    diag_code: str
    diag_name: str
    diag_type: str = "1"
    diag_srt_no: str = "1"
    diag_dept: str | None = None
    dise_dor_no: str | None = None
    dise_dor_name: str | None = None
    diag_time: dt.datetime | str | None = None
    vali_flag: str = "1"

    def node(self) -> dict[str, Any]:
        node: dict[str, Any] = {
            "diag_type": self.diag_type,
            "diag_srt_no": self.diag_srt_no,
            "diag_code": self.diag_code,
            "diag_name": self.diag_name,
            "vali_flag": self.vali_flag,
        }
        for name in ("diag_dept", "dise_dor_no", "dise_dor_name"):
            if getattr(self, name) is not None:
                node[name] = getattr(self, name)
        if self.diag_time is not None:
            node["diag_time"] = as_time(self.diag_time)
        return node


@dataclass(frozen=True)
class ReconcileRow:
    """One settlement of the institution's books for 3202."""

    setl_id: str
    medfee_sumamt: Decimal
    fund_pay_sumamt: Decimal
    acct_pay: Decimal
    mdtrt_id: str | None = None
    psn_no: str | None = None
    msgid: str | None = None
    refd_setl_flag: str = "0"

    def node(self) -> dict[str, Any]:
        node: dict[str, Any] = {
            "setl_id": self.setl_id,
            "medfee_sumamt": self.medfee_sumamt,
            "fund_pay_sumamt": self.fund_pay_sumamt,
            "acct_pay": self.acct_pay,
            "refd_setl_flag": self.refd_setl_flag,
        }
        for name in ("mdtrt_id", "psn_no", "msgid"):
            if getattr(self, name):
                node[name] = getattr(self, name)
        if self.msgid:
            node["medins_setl_id"] = self.msgid
        return node


# -- results ------------------------------------------------------------------------------
class SignIn(_Result):
    """9001 ``signinoutb``."""

    sign_no: Code
    sign_time: OptCode = None


class SignOut(_Result):
    """9002 ``signoutoutb``."""

    sign_time: OptCode = None


class BaseInfo(_Result):
    """1101 ``baseinfo``."""

    psn_no: Code
    psn_cert_type: OptCode = None
    certno: OptCode = None
    psn_name: str | None = None
    gend: OptCode = None
    naty: OptCode = None
    brdy: OptCode = None
    age: Money | None = None
    insuplc_admdvs: OptCode = None


class InsuInfo(_Result):
    """1101 ``insuinfo[]``: one enrolment."""

    insutype: Code
    balc: Money = ZERO
    psn_type: OptCode = None
    psn_insu_stas: OptCode = None
    psn_insu_date: OptCode = None
    paus_insu_date: OptCode = None
    insuplc_admdvs: OptCode = None
    emp_name: str | None = None

    @property
    def active(self) -> bool:
        """psn_insu_stas 1 (normal): the person may settle with this insutype."""
        return self.psn_insu_stas == "1"


class PersonInfo(_Result):
    """1101 person information."""

    baseinfo: BaseInfo
    insuinfo: list[InsuInfo] = Field(default_factory=list)
    idetinfo: list[dict[str, Any]] = Field(default_factory=list)
    #: the envelope's warn_msg (e.g. why a person cannot use the card yet)
    warn_msg: str | None = None

    @property
    def insuplc_admdvs(self) -> str:
        """The person's home division: baseinfo's, else the first enrolment's."""
        found = self.baseinfo.insuplc_admdvs or next(
            (i.insuplc_admdvs for i in self.insuinfo if i.insuplc_admdvs), None
        )
        if not found:
            raise ValueError("the center gave no insuplc_admdvs for this person")
        return found

    @property
    def ref(self) -> PersonRef:
        """psn_no and insuplc_admdvs, for the later messages about this person."""
        return PersonRef(self.baseinfo.psn_no, self.insuplc_admdvs)

    def insurance(self, insutype: str) -> InsuInfo | None:
        """The enrolment of ``insutype``, if any."""
        return next((i for i in self.insuinfo if i.insutype == insutype), None)


class Registration(_Result):
    """2201 ``data``."""

    mdtrt_id: Code
    psn_no: Code
    ipt_otp_no: OptCode = None


class Ack(_Result):
    """An answer whose output holds nothing the caller needs (2202, 2203); the
    center's warnings are kept."""

    warn_msg: str | None = None


class FeeResult(_Result):
    """2204 ``result[]`` / 2101 ``detlcutinfo[]``: the split of one line."""

    feedetl_sn: Code
    det_item_fee_sumamt: Money
    pric_uplmt_amt: Money | None = None
    selfpay_prop: Money | None = None
    fulamt_ownpay_amt: Money = ZERO
    overlmt_amt: Money = ZERO
    preselfpay_amt: Money = ZERO
    inscp_scp_amt: Money = ZERO
    chrgitm_lv: OptCode = None
    med_chrgitm_type: OptCode = None


class Withdrawal(_Result):
    """2205: how many fee details were withdrawn (when the center says)."""

    withdrawn: int | None = None
    warn_msg: str | None = None


class SetlInfo(_Result):
    """``setlinfo`` of 2206/2207/2208/2101/2102/2103/5203.

    The money identities (settlement-interface.md, "Money"):
    medfee_sumamt = fulamt_ownpay_amt + overlmt_selfpay + preselfpay_amt +
    inscp_scp_amt = fund_pay_sumamt + psn_part_amt (+ hosp_part_amt);
    psn_part_amt = acct_pay + psn_cash_pay."""

    setl_id: OptCode = None
    mdtrt_id: OptCode = None
    psn_no: OptCode = None
    insutype: OptCode = None
    med_type: OptCode = None
    clr_type: OptCode = None
    medfee_sumamt: Money
    fulamt_ownpay_amt: Money = ZERO
    overlmt_selfpay: Money = ZERO
    preselfpay_amt: Money = ZERO
    inscp_scp_amt: Money = ZERO
    act_pay_dedc: Money = ZERO
    hifp_pay: Money = ZERO
    pool_prop_selfpay: Money = ZERO
    fund_pay_sumamt: Money
    psn_part_amt: Money
    acct_pay: Money
    psn_cash_pay: Money
    hosp_part_amt: Money = ZERO
    balc: Money | None = None
    medins_setl_id: OptCode = None
    setl_time: OptCode = None
    refd_setl_flag: OptCode = None
    orig_setl_id: OptCode = None
    setl_stas: OptCode = None

    @property
    def is_refund(self) -> bool:
        """A refund row (2208, 2103): refd_setl_flag 1."""
        return self.refd_setl_flag == "1"


class SetlDetail(_Result):
    """``setldetail[]``: what one fund paid."""

    fund_pay_type: Code
    fund_payamt: Money
    inscp_scp_amt: Money | None = None
    crt_payb_lmt_amt: Money | None = None


class SettlementResult(_Result):
    """2206/2207/2208/2103: setlinfo and setldetail."""

    setlinfo: SetlInfo
    setldetail: list[SetlDetail] = Field(default_factory=list)


class PharmacySettlement(SettlementResult):
    """2101/2102: setlinfo, setldetail and the per-line split detlcutinfo."""

    detlcutinfo: list[FeeResult] = Field(default_factory=list)


class SettlementLookup(_Result):
    """5203: the settlement as it stands (``setlinfo.setl_stas`` valid,
    cancelled, reversed), or - from centers that look messages up by their
    msgid (``medins_setl_id``) - that the message was refused (``msg_stas``)."""

    setlinfo: SetlInfo | None = None
    setldetail: list[SetlDetail] = Field(default_factory=list)
    msg_stas: OptCode = None
    omsgid: OptCode = None
    oinfno: OptCode = None
    err_msg: str | None = None


class Reversal(_Result):
    """2601 ``data``: ``rvs_stas`` reversed, already_reversed, barred (the
    original never arrived and is now refused if it does), nothing_booked."""

    omsgid: OptCode = None
    rvs_stas: OptCode = None


class StmtInfo(_Result):
    """3201/3202 ``stmtinfo``: stmt_rslt 0 balanced, 1 not."""

    stmt_rslt: Code
    setl_optins: OptCode = None
    stmt_rslt_dscr: str | None = None
    medfee_sumamt: Money | None = None
    fund_pay_sumamt: Money | None = None
    acct_pay: Money | None = None
    fixmedins_setl_cnt: int | None = None

    @property
    def balanced(self) -> bool:
        return self.stmt_rslt == "0"


class ReconcileTotals(_Result):
    """3201."""

    stmtinfo: StmtInfo


class ReconcileResultRow(_Result):
    """3202 ``result[]``: stmt_rslt 0 matches, 1 differs, 2 not in the center's
    books, 3 only in the center's books."""

    setl_id: Code
    stmt_rslt: Code
    mdtrt_id: OptCode = None
    memo: str | None = None


class ReconcileDetails(_Result):
    """3202."""

    stmtinfo: StmtInfo
    result: list[ReconcileResultRow] = Field(default_factory=list)


class Filing(_Result):
    """5301: one chronic / special disease filing."""

    opsp_dise_code: OptCode = None
    opsp_dise_name: str | None = None
    begndate: OptCode = None
    enddate: OptCode = None
    insuplc_admdvs: OptCode = None
