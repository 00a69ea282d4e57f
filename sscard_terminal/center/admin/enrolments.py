"""Enrolment in an insutype, contributions (the months paid and the day they
were paid, which rules a and b read) and the personal account's credit.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from sscard_terminal.center.admin.base import AdminModel, find_person
from sscard_terminal.center.clock import Month
from sscard_terminal.center.models import Account, Contribution, Enrolment
from sscard_terminal.center.policy import Policy
from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.rules.benefits import PaidPeriod
from sscard_terminal.center.transactions.fields import Amount

__all__ = [
    "ContributionIn",
    "CreditIn",
    "EnrolmentIn",
    "add_contributions",
    "credit_account",
    "enrol",
    "paid_periods",
]


class EnrolmentIn(AdminModel):
    insutype: str = Field(pattern=r"^\d{3}$")
    psn_type: str = Field(default="1101", pattern=r"^\d{2,6}$")
    emp_name: str | None = Field(default=None, max_length=200)


def enrol(session: Session, policy: Policy, psn_no: str, req: EnrolmentIn) -> dict[str, Any]:
    find_person(session, psn_no, lock=True)
    if policy.fund(req.insutype) is None:
        raise Refusal(
            "enrolment.insutype",
            f"本统筹区没有险种 {req.insutype}",
            f"insutype {req.insutype} does not exist in this area",
        )
    existing = session.execute(
        select(Enrolment).where(Enrolment.psn_no == psn_no, Enrolment.insutype == req.insutype)
    ).scalar_one_or_none()
    if existing is not None:
        existing.status = "1"
        existing.psn_type = req.psn_type
        existing.emp_name = req.emp_name
    else:
        session.add(
            Enrolment(
                psn_no=psn_no,
                insutype=req.insutype,
                psn_type=req.psn_type,
                status="1",
                emp_name=req.emp_name,
            )
        )
    fund = policy.fund(req.insutype)
    if fund is not None and fund.personal_account and session.get(Account, psn_no) is None:
        session.add(Account(psn_no=psn_no, balance=Decimal("0.00")))
    return {"psn_no": psn_no, "insutype": req.insutype, "status": "1"}


class ContributionIn(AdminModel):
    insutype: str = Field(pattern=r"^\d{3}$")
    first_month: str
    last_month: str
    #: the day the payment was made (default today); benefits start the month after
    paid_on: dt.date | None = None

    @field_validator("first_month", "last_month")
    @classmethod
    def _month(cls, value: str) -> str:
        return str(Month.parse(value))


def add_contributions(
    session: Session, policy: Policy, now: dt.datetime, psn_no: str, req: ContributionIn
) -> dict[str, Any]:
    """Record a payment of months (rules a and b read them, with the day it was
    paid: benefits start in the month after the payment, so a back-payment
    covers neither past nor current months)."""
    find_person(session, psn_no, lock=True)
    first, last = Month.parse(req.first_month), Month.parse(req.last_month)
    paid_on = req.paid_on or now.date()
    if last < first:
        raise Refusal("contribution.range", "缴费止月早于起月", "last_month is before first_month")
    if paid_on > now.date():
        raise Refusal(
            "contribution.paid_on",
            f"缴费日期 paid_on={paid_on} 晚于今天",
            f"paid_on {paid_on} is in the future: give the day the payment was made",
        )
    if last - Month.of(now.date()) > 12:
        raise Refusal(
            "contribution.future", "最多预缴12个月", "at most 12 months can be paid in advance"
        )
    enrolment = session.execute(
        select(Enrolment).where(Enrolment.psn_no == psn_no, Enrolment.insutype == req.insutype)
    ).scalar_one_or_none()
    if enrolment is None:
        raise Refusal(
            "enrolment.none",
            f"未参加险种 {req.insutype}，请先参保",
            f"not enrolled in insutype {req.insutype}: enrol first",
        )
    session.add(
        Contribution(
            enrolment_id=enrolment.id,
            first_month=first.yyyymm,
            last_month=last.yyyymm,
            paid_on=paid_on,
        )
    )
    opened = PaidPeriod(first, last, paid_on).opens(policy.benefits)
    return {
        "psn_no": psn_no,
        "insutype": req.insutype,
        "first_month": str(first),
        "last_month": str(last),
        "paid_on": str(paid_on),
        "benefits_from": str(opened[0]) if opened else None,
        "benefits_until": str(opened[1]) if opened else None,
    }


class CreditIn(AdminModel):
    amount: Amount


def credit_account(session: Session, psn_no: str, req: CreditIn) -> dict[str, Any]:
    """Credit the personal account (the monthly transfer into it)."""
    find_person(session, psn_no, lock=True)
    account = session.execute(
        select(Account).where(Account.psn_no == psn_no).with_for_update()
    ).scalar_one_or_none()
    if account is None:
        raise Refusal(
            "account.none",
            "该人员没有个人账户（职工医保参保人才有）",
            "this person has no personal account (employees' insurance has one)",
        )
    account.balance = account.balance + req.amount
    return {"psn_no": psn_no, "balance": account.balance}


def paid_periods(session: Session, enrolment_id: int) -> list[PaidPeriod]:
    """An enrolment's payments, in the order of their months."""
    return [
        PaidPeriod(Month.from_yyyymm(c.first_month), Month.from_yyyymm(c.last_month), c.paid_on)
        for c in session.execute(
            select(Contribution)
            .where(Contribution.enrolment_id == enrolment_id)
            .order_by(Contribution.first_month, Contribution.id)
        ).scalars()
    ]
