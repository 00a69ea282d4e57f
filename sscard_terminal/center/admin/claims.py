"""Sporadic reimbursement claims: accepted or refused by rules c and d (no card
yet, or the gap while a lost card is replaced) and by the benefit state of the
bill's month (rules a and b).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from sscard_terminal.center.admin.base import AdminModel, find_person, local_time
from sscard_terminal.center.admin.enrolments import paid_periods
from sscard_terminal.center.clock import Month
from sscard_terminal.center.models import Card, Enrolment, Institution, Person, SporadicClaim
from sscard_terminal.center.policy import Policy
from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.rules import area, benefits, cards, sporadic
from sscard_terminal.center.transactions.fields import Amount

__all__ = ["ClaimIn", "sporadic_claim"]


class ClaimIn(AdminModel):
    reason: Literal["no_card", "card_replacement"]
    bill_date: dt.date
    amount: Amount
    claim_date: dt.date | None = None
    card_no: str | None = Field(default=None, min_length=9, max_length=9)
    #: the institution that issued the bill (required for no_card)
    fixmedins_code: str | None = Field(default=None, min_length=1, max_length=12)
    #: the kind of care (required for no_card: 13 emergency)
    med_type: str | None = Field(default=None, pattern=r"^\d{2}$")


def sporadic_claim(
    session: Session, policy: Policy, now: dt.datetime, psn_no: str, req: ClaimIn
) -> dict[str, Any]:
    """Rules d and c: accept a sporadic reimbursement claim, or refuse it."""
    person = find_person(session, psn_no, lock=True)
    claim_date = req.claim_date or now.date()
    if claim_date > now.date():
        raise Refusal(
            "sporadic.date", "申请日期不能晚于今天", "the claim date cannot be in the future"
        )
    sporadic.require_in_time(req.bill_date, claim_date, policy.sporadic.claim_months)
    held = list(session.execute(select(Card).where(Card.psn_no == psn_no)).scalars())
    if req.reason == "no_card":
        sporadic.require_no_card(req.bill_date, [c.issue_date for c in held])
        sporadic.require_emergency_at_designated(
            req.med_type, _billing_institution(session, policy, person, req), req.fixmedins_code
        )
    else:
        lost = [
            c
            for c in held
            if c.loss_reported_on is not None
            and (req.card_no is None or c.card_no == req.card_no.upper())
        ]
        if not lost:
            raise Refusal(
                "sporadic.no_loss",
                "没有挂失记录，不能按补换卡期间申请零星报销",
                "no card loss on record: nothing to claim for a replacement period",
            )
        old = max(lost, key=lambda c: c.loss_reported_on or dt.date.min)
        assert old.loss_reported_on is not None
        deadline = cards.replacement_deadline(
            old.loss_reported_on,
            policy.cards.replacement_working_days,
            policy.calendar.working,
        )
        new_card = next((c for c in held if c.replaces_card_no == old.card_no), None)
        sporadic.require_in_replacement_gap(
            req.bill_date,
            sporadic.loss_start(old.phone_loss_reported_on, old.loss_reported_on),
            deadline,
            old.replacement_applied_on,
            new_card.issue_date if new_card else None,
        )
    month = Month.of(req.bill_date)
    entitled = False
    for enrolment in session.execute(select(Enrolment).where(Enrolment.psn_no == psn_no)).scalars():
        status = benefits.benefit_status(
            paid_periods(session, enrolment.id),
            month,
            policy.benefits,
            terminated=enrolment.status == "4",
        )
        entitled = entitled or status.active
    if not entitled:
        raise Refusal(
            "sporadic.no_benefits",
            f"{month} 不在医保待遇期内，不予报销",
            f"no medical benefits in {month}: not reimbursable",
        )
    claim = SporadicClaim(
        psn_no=person.psn_no,
        reason=req.reason,
        fixmedins_code=req.fixmedins_code,
        med_type=req.med_type,
        bill_date=req.bill_date,
        claim_date=claim_date,
        amount=req.amount,
        created_at=local_time(now),
    )
    session.add(claim)
    session.flush()
    return {
        "claim_id": claim.id,
        "status": "accepted",
        "deadline": str(sporadic.claim_deadline(req.bill_date, policy.sporadic.claim_months)),
    }


def _billing_institution(
    session: Session, policy: Policy, person: Person, req: ClaimIn
) -> sporadic.BillingInstitution | None:
    found = session.get(Institution, req.fixmedins_code) if req.fixmedins_code else None
    if found is None:
        return None
    return sporadic.BillingInstitution(
        found.fixmedins_code,
        found.kind,
        found.designated,
        found.offsite_designated,
        area.area_kind(
            person.insuplc_admdvs,
            found.admdvs,
            len(policy.city_prefix),
            len(policy.province_prefix),
        ),
    )
