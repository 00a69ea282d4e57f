"""The input of each message the client sends, as a value (settlement-interface.md,
"Transactions"; field names are the platform's own).

Each input is a frozen dataclass that writes the ``input`` node of its
transaction (:meth:`Input.payload`) from its fields and the terminal's
:class:`Context` (operator, division, clock), and says where the message goes
in the journal (:meth:`Input.route`: whom it is about, which entry it
settles, which card it is paid with, whether it holds a visit). One value is
built once and sent by every transaction that takes it: the same
:class:`OutpatientSettlement` is pre-settled by 2206 and settled by 2207, the
same :class:`DrugSale` by 2101 and 2102.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sscard_terminal.settlement.envelope import SHANGHAI
from sscard_terminal.settlement.models import (
    Diagnosis,
    DrugDetail,
    FeeDetail,
    PersonRef,
    ReconcileRow,
    as_time,
)

__all__ = [
    "Context",
    "DrugSale",
    "FeeUpload",
    "FeeWithdrawal",
    "FilingQuery",
    "Input",
    "OutpatientSettlement",
    "PersonQuery",
    "ReconcileDetailsQuery",
    "ReconcileTotalsQuery",
    "RegistrationCancel",
    "ReversalRequest",
    "Route",
    "SettlementCancel",
    "SettlementQuery",
    "SignInRequest",
    "SignOutRequest",
    "VisitInfo",
    "VisitRegistration",
    "money",
]

CENT = Decimal("0.01")


def money(value: Decimal | int | str) -> Decimal:
    """An amount with two places (settlement-interface.md, "Money")."""
    if isinstance(value, float | bool):
        raise TypeError("amounts are Decimal, never float")
    return Decimal(value).quantize(CENT)


@dataclass(frozen=True)
class Context:
    """What the terminal adds to an input: its operator (opter, mac, ip), its
    division (the default ``setl_optins``) and its clock (read only by an
    input that needs the time)."""

    opter: str
    mac: str
    ip: str
    mdtrtarea_admvs: str
    clock: Callable[[], dt.datetime]

    def now(self) -> dt.datetime:
        """The time now, Asia/Shanghai."""
        return self.clock().astimezone(SHANGHAI)


@dataclass(frozen=True)
class Route:
    """Where a message goes in the journal: ``person`` (psn_no and the
    envelope's insuplc_admdvs), ``resolves`` (the entry it settles),
    ``card_no`` (the card a settlement or refund is paid with) and
    ``hold_visit`` (a registration its flow settles or cancels itself)."""

    person: PersonRef | None = None
    resolves: str | None = None
    card_no: str | None = None
    hold_visit: bool = False


class Input:
    """The input of one message."""

    def payload(self, ctx: Context) -> dict[str, Any]:
        """The ``input`` node of the request envelope."""
        raise NotImplementedError

    def route(self) -> Route:
        """Where the message goes in the journal (nobody's by default)."""
        return Route()


def _present(node: dict[str, Any], **values: str | None) -> dict[str, Any]:
    """``node`` with the values that are given (not None, not empty)."""
    for name, value in values.items():
        if value:
            node[name] = value
    return node


# -- 9001 / 9002 --------------------------------------------------------------------------
@dataclass(frozen=True)
class SignInRequest(Input):
    """9001: the operator signs in."""

    def payload(self, ctx: Context) -> dict[str, Any]:
        return {"signIn": {"opter_no": ctx.opter, "mac": ctx.mac, "ip": ctx.ip}}


@dataclass(frozen=True)
class SignOutRequest(Input):
    """9002: the operator signs out of ``sign_no``."""

    sign_no: str

    def payload(self, ctx: Context) -> dict[str, Any]:
        return {"signOut": {"sign_no": self.sign_no, "opter_no": ctx.opter}}


# -- 1101 ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PersonQuery(Input):
    """1101: mdtrt_cert_type 01 e-voucher, 02 ID card, 03 social security card
    (then ``card_sn``, the card identification code, is required)."""

    mdtrt_cert_type: str
    mdtrt_cert_no: str
    card_sn: str | None = None
    psn_cert_type: str | None = None
    certno: str | None = None
    psn_name: str | None = None
    begntime: dt.datetime | None = None

    def payload(self, ctx: Context) -> dict[str, Any]:
        data = _present(
            {"mdtrt_cert_type": self.mdtrt_cert_type, "mdtrt_cert_no": self.mdtrt_cert_no},
            card_sn=self.card_sn,
            psn_cert_type=self.psn_cert_type,
            certno=self.certno,
            psn_name=self.psn_name,
        )
        if self.begntime is not None:
            data["begntime"] = as_time(self.begntime)
        return {"data": data}


# -- 2201 - 2205 --------------------------------------------------------------------------
@dataclass(frozen=True)
class VisitRegistration(Input):
    """2201: an outpatient registration (``begntime`` now when not given).
    ``hold_visit``: the caller settles or cancels the visit itself."""

    person: PersonRef
    insutype: str
    mdtrt_cert_type: str
    mdtrt_cert_no: str
    ipt_otp_no: str
    card_sn: str | None = None
    begntime: dt.datetime | None = None
    med_type: str | None = None
    atddr_no: str | None = None
    dr_name: str | None = None
    dept_code: str | None = None
    dept_name: str | None = None
    caty: str | None = None
    hold_visit: bool = False

    def payload(self, ctx: Context) -> dict[str, Any]:
        data = {
            "psn_no": self.person.psn_no,
            "insutype": self.insutype,
            "begntime": as_time(self.begntime or ctx.now()),
            "mdtrt_cert_type": self.mdtrt_cert_type,
            "mdtrt_cert_no": self.mdtrt_cert_no,
            "ipt_otp_no": self.ipt_otp_no,
        }
        return {
            "data": _present(
                data,
                card_sn=self.card_sn,
                med_type=self.med_type,
                atddr_no=self.atddr_no,
                dr_name=self.dr_name,
                dept_code=self.dept_code,
                dept_name=self.dept_name,
                caty=self.caty,
            )
        }

    def route(self) -> Route:
        return Route(self.person, hold_visit=self.hold_visit)


@dataclass(frozen=True)
class RegistrationCancel(Input):
    """2202: cancel a registration that has no valid settlement."""

    person: PersonRef
    mdtrt_id: str
    ipt_otp_no: str | None = None

    def payload(self, ctx: Context) -> dict[str, Any]:
        data = {"psn_no": self.person.psn_no, "mdtrt_id": self.mdtrt_id}
        return {"data": _present(data, ipt_otp_no=self.ipt_otp_no)}

    def route(self) -> Route:
        return Route(self.person)


@dataclass(frozen=True)
class VisitInfo(Input):
    """2203: the visit's information (mdtrtinfo) and diagnoses (diseinfo)."""

    person: PersonRef
    mdtrt_id: str
    med_type: str
    begntime: dt.datetime | None = None
    dise_codg: str | None = None
    dise_name: str | None = None
    diagnoses: Sequence[Diagnosis] = ()

    def payload(self, ctx: Context) -> dict[str, Any]:
        info: dict[str, Any] = {
            "mdtrt_id": self.mdtrt_id,
            "psn_no": self.person.psn_no,
            "med_type": self.med_type,
        }
        if self.begntime is not None:
            info["begntime"] = as_time(self.begntime)
        _present(info, dise_codg=self.dise_codg, dise_name=self.dise_name)
        return {"mdtrtinfo": info, "diseinfo": [d.node() for d in self.diagnoses]}

    def route(self) -> Route:
        return Route(self.person)


@dataclass(frozen=True)
class FeeUpload(Input):
    """2204: fee details of a visit (at least one line)."""

    person: PersonRef
    mdtrt_id: str
    lines: Sequence[FeeDetail]

    def payload(self, ctx: Context) -> dict[str, Any]:
        if not self.lines:
            raise ValueError("2204 needs at least one fee line")
        return {"feedetail": [line.node(self.mdtrt_id, self.person.psn_no) for line in self.lines]}

    def route(self) -> Route:
        return Route(self.person)


@dataclass(frozen=True)
class FeeWithdrawal(Input):
    """2205: withdraw the unsettled fee details of a batch ("0000": all)."""

    person: PersonRef
    mdtrt_id: str
    chrg_bchno: str = "0000"
    resolves: str | None = None

    def payload(self, ctx: Context) -> dict[str, Any]:
        return {
            "data": {
                "mdtrt_id": self.mdtrt_id,
                "chrg_bchno": self.chrg_bchno,
                "psn_no": self.person.psn_no,
            }
        }

    def route(self) -> Route:
        return Route(self.person, resolves=self.resolves)


# -- 2206 - 2208, 2101 - 2103 -------------------------------------------------------------
@dataclass(frozen=True)
class OutpatientSettlement(Input):
    """2206 pre-settles and 2207 settles the same visit with the same values."""

    person: PersonRef
    mdtrt_id: str
    mdtrt_cert_type: str
    mdtrt_cert_no: str
    medfee_sumamt: Decimal | int | str
    insutype: str
    med_type: str = "11"
    acct_used: bool = True
    psn_setlway: str = "01"
    chrg_bchno: str | None = None
    card_sn: str | None = None

    def payload(self, ctx: Context) -> dict[str, Any]:
        data: dict[str, Any] = {
            "psn_no": self.person.psn_no,
            "mdtrt_cert_type": self.mdtrt_cert_type,
            "mdtrt_cert_no": self.mdtrt_cert_no,
            "med_type": self.med_type,
            "medfee_sumamt": money(self.medfee_sumamt),
            "psn_setlway": self.psn_setlway,
            "mdtrt_id": self.mdtrt_id,
            "chrg_bchno": self.chrg_bchno or "0000",
            "acct_used_flag": "1" if self.acct_used else "0",
            "insutype": self.insutype,
        }
        return {"data": _present(data, card_sn=self.card_sn)}

    def route(self) -> Route:
        return Route(self.person)


@dataclass(frozen=True)
class DrugSale(Input):
    """2101 pre-settles and 2102 settles the same pharmacy sale (med_type 41);
    ``medfee_sumamt`` is the sum of the lines when not given."""

    person: PersonRef
    mdtrt_cert_type: str
    mdtrt_cert_no: str
    insutype: str
    lines: Sequence[DrugDetail]
    medfee_sumamt: Decimal | int | str | None = None
    acct_used: bool = True
    card_sn: str | None = None
    ipt_otp_no: str | None = None
    psn_setlway: str = "01"

    def payload(self, ctx: Context) -> dict[str, Any]:
        if not self.lines:
            raise ValueError("a pharmacy sale needs at least one drug line")
        total = (
            sum((money(line.det_item_fee_sumamt) for line in self.lines), Decimal("0.00"))
            if self.medfee_sumamt is None
            else money(self.medfee_sumamt)
        )
        info: dict[str, Any] = {
            "psn_no": self.person.psn_no,
            "mdtrt_cert_type": self.mdtrt_cert_type,
            "mdtrt_cert_no": self.mdtrt_cert_no,
            "med_type": "41",
            "medfee_sumamt": total,
            "psn_setlway": self.psn_setlway,
            "insutype": self.insutype,
            "acct_used_flag": "1" if self.acct_used else "0",
        }
        _present(info, card_sn=self.card_sn, ipt_otp_no=self.ipt_otp_no)
        return {"druginfo": info, "drugdetail": [line.node() for line in self.lines]}

    def route(self) -> Route:
        return Route(self.person)


@dataclass(frozen=True)
class SettlementCancel(Input):
    """2208 / 2103: cancel (refund) a settlement. ``card_no``: the card it was
    paid with, when the journal does not have it."""

    person: PersonRef
    setl_id: str
    mdtrt_id: str
    card_no: str | None = None

    def payload(self, ctx: Context) -> dict[str, Any]:
        return {
            "data": {
                "setl_id": self.setl_id,
                "mdtrt_id": self.mdtrt_id,
                "psn_no": self.person.psn_no,
            }
        }

    def route(self) -> Route:
        return Route(self.person, card_no=self.card_no)


# -- 2601 ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReversalRequest(Input):
    """2601: reverse the message ``omsgid`` (an ``oinfno``); the journal links
    it to ``resolves`` (by default ``omsgid``)."""

    person: PersonRef
    omsgid: str
    oinfno: str
    resolves: str | None = None

    def payload(self, ctx: Context) -> dict[str, Any]:
        return {
            "data": {"psn_no": self.person.psn_no, "omsgid": self.omsgid, "oinfno": self.oinfno}
        }

    def route(self) -> Route:
        return Route(self.person, resolves=self.resolves or self.omsgid)


# -- 3201 / 3202 --------------------------------------------------------------------------
@dataclass(frozen=True)
class ReconcileTotalsQuery(Input):
    """3201: the institution's totals of a period (``setl_optins`` the
    terminal's division when not given)."""

    insutype: str
    begin: dt.date
    end: dt.date
    medfee_sumamt: Decimal
    fund_pay_sumamt: Decimal
    acct_pay: Decimal
    count: int
    clr_type: str | None = None
    setl_optins: str | None = None

    def payload(self, ctx: Context) -> dict[str, Any]:
        data: dict[str, Any] = {
            "insutype": self.insutype,
            "setl_optins": self.setl_optins or ctx.mdtrtarea_admvs,
            "stmt_begndate": self.begin.isoformat(),
            "stmt_enddate": self.end.isoformat(),
            "medfee_sumamt": money(self.medfee_sumamt),
            "fund_pay_sumamt": money(self.fund_pay_sumamt),
            "acct_pay": money(self.acct_pay),
            "fixmedins_setl_cnt": self.count,
        }
        return {"data": _present(data, clr_type=self.clr_type)}


@dataclass(frozen=True)
class ReconcileDetailsQuery(Input):
    """3202: the settlements of a period one by one, inline (``input.detail``)."""

    begin: dt.date
    end: dt.date
    rows: Sequence[ReconcileRow]
    insutype: str | None = None
    clr_type: str | None = None
    setl_optins: str | None = None

    def payload(self, ctx: Context) -> dict[str, Any]:
        head: dict[str, Any] = {
            "setl_optins": self.setl_optins or ctx.mdtrtarea_admvs,
            "stmt_begndate": self.begin.isoformat(),
            "stmt_enddate": self.end.isoformat(),
        }
        _present(head, insutype=self.insutype, clr_type=self.clr_type)
        return {"data": head, "detail": [r.node() for r in self.rows]}


# -- 5203 / 5301 --------------------------------------------------------------------------
@dataclass(frozen=True)
class SettlementQuery(Input):
    """5203: a settlement by setl_id, by the visit, or by the msgid of the
    settling message (``medins_setl_id``)."""

    person: PersonRef
    setl_id: str | None = None
    mdtrt_id: str | None = None
    medins_setl_id: str | None = None
    resolves: str | None = None

    def payload(self, ctx: Context) -> dict[str, Any]:
        data = _present(
            {"psn_no": self.person.psn_no},
            setl_id=self.setl_id,
            mdtrt_id=self.mdtrt_id,
            medins_setl_id=self.medins_setl_id,
        )
        return {"data": data}

    def route(self) -> Route:
        return Route(self.person, resolves=self.resolves)


@dataclass(frozen=True)
class FilingQuery(Input):
    """5301: the chronic / special disease filings of a person."""

    person: PersonRef

    def payload(self, ctx: Context) -> dict[str, Any]:
        return {"data": {"psn_no": self.person.psn_no}}

    def route(self) -> Route:
        return Route(self.person)
