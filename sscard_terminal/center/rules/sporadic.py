"""Sporadic reimbursement (零星报销) windows: rules d and c.

Rule d (guide Q5): a person who has no card yet pays emergency expenses at a
designated institution in cash, and "sporadic reimbursement ... shall be
submitted ... within 6 months from the date of issuing the settlement bill";
"overdue ... will not be accepted". Up to and including the day 6 calendar
months after the bill date (2026-08-31 -> 2027-02-28) is in time. The route
is for what the guide names and nothing else
(:func:`require_emergency_at_designated`): "the medical expenses incurred in
the designated medical institutions of medical insurance due to emergency" -
care of med_type 13 (emergency), at a hospital designated for medical
insurance, in the person's city or, elsewhere in the province, one designated
for out-of-area settlement.

Rule c (use Q3): "the medical expenses incurred during the replacement period
can be applied for sporadic reimbursement", the replacement being applied for
within 5 working days of the loss report. Bills from the day the loss began
up to the day the new card is issued are covered; when the replacement was
applied for late (or not yet, and the deadline has passed), bills after the
deadline are not. The loss begins with the first report: "If the social
security card is lost, you should call 12333 to report the loss in advance"
- a telephone report made before the formal one starts the period
(:func:`loss_start`); the 5 working days count from the formal report.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sscard_terminal.center.clock import add_months
from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.rules.area import AreaKind

__all__ = [
    "EMERGENCY",
    "BillingInstitution",
    "claim_deadline",
    "loss_start",
    "require_in_replacement_gap",
    "require_emergency_at_designated",
    "require_in_time",
    "require_no_card",
]

#: med_type of emergency care (settlement-interface.md, code lists)
EMERGENCY = "13"


@dataclass(frozen=True)
class BillingInstitution:
    """The institution that issued the bill, as registered with the center."""

    code: str
    kind: str  # hospital, pharmacy
    designated: bool
    offsite_designated: bool
    area: AreaKind  # where it lies, seen from the person's city


def require_emergency_at_designated(
    med_type: str | None, institution: BillingInstitution | None, code: str | None
) -> None:
    """Rule d: the no-card claim is for emergency care (med_type 13) at a hospital
    designated for medical insurance (see the module's text)."""
    if med_type != EMERGENCY:
        given = med_type or "none"
        raise Refusal(
            "sporadic.not_emergency",
            f"未领卡期间仅急诊费用可零星报销（med_type 须为 13 急诊，收到 {given}）",
            "without a card only emergency care is reimbursed sporadically (guide Q5: "
            f"'due to emergency'): med_type must be 13, not {given}",
        )
    if institution is None:
        shown = code or "none"
        raise Refusal(
            "sporadic.institution",
            f"开具票据的定点医疗机构 fixmedins_code={shown} 未登记",
            f"fixmedins_code must be the 12-character code of the designated medical "
            f"institution that issued the bill; {shown!r} is not registered",
        )
    if not institution.designated or institution.kind != "hospital":
        raise Refusal(
            "sporadic.not_designated",
            f"{institution.code} 不是医保定点医疗机构，费用不予零星报销",
            f"{institution.code} is not a designated medical institution of the medical "
            "insurance: its bills are not reimbursed",
        )
    if institution.area is AreaKind.OUT_OF_PROVINCE or (
        institution.area is AreaKind.IN_PROVINCE and not institution.offsite_designated
    ):
        raise Refusal(
            "sporadic.not_designated",
            f"{institution.code} 不是本市医保定点医疗机构，也不是省内异地就医定点机构",
            f"{institution.code} is neither designated in the person's city nor designated "
            "for out-of-area care in the province",
        )


def claim_deadline(bill_date: dt.date, months: int) -> dt.date:
    """The last day a claim for a bill of ``bill_date`` is accepted."""
    return add_months(bill_date, months)


def require_in_time(bill_date: dt.date, claim_date: dt.date, months: int) -> None:
    """Refuse a claim made after the window, or for a bill dated after the claim."""
    if bill_date > claim_date:
        raise Refusal(
            "sporadic.future_bill",
            f"票据日期 {bill_date} 晚于申请日期 {claim_date}",
            f"the bill date {bill_date} is after the claim date {claim_date}",
        )
    deadline = claim_deadline(bill_date, months)
    if claim_date > deadline:
        raise Refusal(
            "sporadic.too_late",
            f"零星报销须在结算票据开具之日起{months}个月内（截至 {deadline}）申请，逾期不予受理",
            f"a sporadic claim must be made within {months} months of the bill date "
            f"(by {deadline}); later claims are not accepted",
        )


def loss_start(phone_reported_on: dt.date | None, formally_reported_on: dt.date) -> dt.date:
    """The day a card's loss began: the telephone report (12333) when one was made
    before the formal report, else the formal report."""
    if phone_reported_on is not None and phone_reported_on < formally_reported_on:
        return phone_reported_on
    return formally_reported_on


def require_no_card(bill_date: dt.date, card_issue_dates: list[dt.date]) -> None:
    """Rule d: the "no card yet" route is for care before the first card was issued."""
    earlier = [d for d in card_issue_dates if d <= bill_date]
    if earlier:
        raise Refusal(
            "sporadic.had_card",
            f"{bill_date} 已持有社保卡，应持卡直接结算",
            f"the person held a card on {bill_date} and settles with it directly",
        )


def require_in_replacement_gap(
    bill_date: dt.date,
    reported_on: dt.date,
    deadline: dt.date,
    applied_on: dt.date | None,
    new_card_issued_on: dt.date | None,
) -> None:
    """Rule c: the bill falls between the start of the loss (``reported_on``, see
    :func:`loss_start`) and the new card, with the replacement applied for by
    ``deadline`` (else only bills up to the deadline)."""
    if bill_date < reported_on:
        raise Refusal(
            "sporadic.before_loss",
            f"票据日期 {bill_date} 早于挂失日期 {reported_on}",
            f"the bill date {bill_date} is before the loss was reported, on {reported_on}",
        )
    if new_card_issued_on is not None and bill_date >= new_card_issued_on:
        raise Refusal(
            "sporadic.after_new_card",
            f"{new_card_issued_on} 起已有新卡，应持新卡结算",
            f"a new card was issued on {new_card_issued_on}: settle with it",
        )
    in_time = applied_on is not None and applied_on <= deadline
    if not in_time and bill_date > deadline:
        raise Refusal(
            "sporadic.replacement_late",
            f"挂失后须在5个工作日内（截至 {deadline}）申请补换卡，此后的费用不予零星报销",
            f"the replacement had to be applied for within 5 working days (by {deadline}); "
            "expenses after that are not reimbursed",
        )
