"""Cards: the card view, issuing a card (number, serial, card identification
code), applications (rules i and j), loss reports, their cancellation and
replacement (rule c), the financial account (guide Q4), refused card changes
(rule g, Q7), and the person file a card image is made from.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sscard_terminal.center.admin.base import AdminModel, find_card, find_person, local_time
from sscard_terminal.center.models import Card, Person
from sscard_terminal.center.policy import Policy
from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.rules import applications, cards, details, identity
from sscard_terminal.codecs.card_id_code import make_card_id_code
from sscard_terminal.codecs.card_number import is_valid_card_number, make_card_number

__all__ = [
    "ADMIN_CARD_PREFIX",
    "ADMIN_SERIAL_BASE",
    "ADMIN_SERIAL_END",
    "CancelLossIn",
    "CardApplicationIn",
    "LossReportIn",
    "ReplacementIn",
    "activate_financial_account",
    "apply_card",
    "cancel_temporary_loss",
    "card_view",
    "change_card",
    "issue_card",
    "person_file",
    "replace_card",
    "report_loss",
]

#: the serial range and card-number letter of cards the admin API issues (the
#: seeded ones have ranges of their own: :mod:`sscard_terminal.center.seed.numbers`)
ADMIN_SERIAL_BASE = 0x20000000
ADMIN_SERIAL_END = 0x30000000
ADMIN_CARD_PREFIX = "E"


def card_view(card: Card) -> dict[str, Any]:
    return {
        "card_no": card.card_no,
        "card_sn": card.card_sn,
        "serial": f"{card.serial:08X}",
        "issue_date": str(card.issue_date),
        "status": card.status,
        "phone_loss_reported_on": (
            str(card.phone_loss_reported_on) if card.phone_loss_reported_on else None
        ),
        "loss_reported_on": str(card.loss_reported_on) if card.loss_reported_on else None,
        "replacement_applied_on": (
            str(card.replacement_applied_on) if card.replacement_applied_on else None
        ),
        "replaces_card_no": card.replaces_card_no,
        "fin_acct_activated": card.fin_acct_activated,
        "bank": card.bank,
        "fee": card.fee,
        "first_card": card.first_card,
    }


def _next_admin_serial(session: Session) -> int:
    top = session.execute(
        select(func.max(Card.serial)).where(
            Card.serial >= ADMIN_SERIAL_BASE, Card.serial < ADMIN_SERIAL_END
        )
    ).scalar()
    return ADMIN_SERIAL_BASE if top is None else int(top) + 1


def issue_card(
    session: Session,
    policy: Policy,
    now: dt.datetime,
    person: Person,
    *,
    bank: str,
    fee: Decimal,
    first_card: bool,
    card_no: str | None = None,
    serial: int | None = None,
    issue_date: dt.date | None = None,
    replaces: str | None = None,
) -> Card:
    """A new active card with its card identification code (region of the
    policy, the serial; :func:`sscard_terminal.codecs.card_id_code.make_card_id_code`)."""
    if serial is None:
        serial = _next_admin_serial(session)
    if card_no is None:
        card_no = make_card_number(f"{ADMIN_CARD_PREFIX}{serial - ADMIN_SERIAL_BASE:07d}")
    card_no = card_no.upper()
    if not is_valid_card_number(card_no):
        raise Refusal(
            "card.number",
            f"卡号 {card_no} 校验位错误",
            f"card number {card_no} has a wrong check character",
        )
    card_sn = make_card_id_code(policy.admdvs, serial)
    if (
        session.get(Card, card_no) is not None
        or session.execute(select(Card.card_no).where(Card.card_sn == card_sn)).first()
    ):
        raise Refusal(
            "card.exists",
            f"卡号 {card_no} 或卡序列号已使用",
            f"card {card_no} or its serial is already in use",
        )
    card = Card(
        card_no=card_no,
        card_sn=card_sn,
        psn_no=person.psn_no,
        serial=serial,
        issue_date=issue_date or now.date(),
        status=cards.CardStatus.ACTIVE.value,
        status_changed_at=local_time(now),
        phone_loss_reported_on=None,
        loss_reported_on=None,
        replacement_applied_on=None,
        replaces_card_no=replaces,
        fin_acct_activated=False,
        bank=bank,
        fee=fee,
        first_card=first_card,
    )
    session.add(card)
    return card


class CardApplicationIn(AdminModel):
    bank: str = Field(min_length=1, max_length=40)
    guardian_id_number: str | None = Field(default=None, max_length=18)
    guardian_relation: str | None = Field(default=None, max_length=20)
    relationship_proof: str | None = Field(default=None, max_length=40)
    card_no: str | None = Field(default=None, min_length=9, max_length=9)
    serial: str | None = Field(default=None, pattern=r"^[0-9A-Fa-f]{8}$")
    issue_date: dt.date | None = None


def apply_card(
    session: Session, policy: Policy, now: dt.datetime, psn_no: str, req: CardApplicationIn
) -> dict[str, Any]:
    """A card application: rule i (a minor needs a guardian with proof) and rule j
    (half fee for a first card)."""
    person = find_person(session, psn_no, lock=True)
    held = list(session.execute(select(Card).where(Card.psn_no == psn_no)).scalars())
    usable = [c for c in held if c.status in ("active", "temporarily_lost")]
    if usable:
        raise Refusal(
            "card.held",
            f"已持有社保卡 {usable[0].card_no}；遗失或损坏请办理挂失补换",
            f"the person already holds card {usable[0].card_no}; report a loss to replace it",
        )
    guardian = None
    if req.guardian_id_number:
        gid = identity.check_id_number(req.guardian_id_number)
        guardian = applications.Guardian(
            birth_date=gid.birth_date,
            relation=req.guardian_relation or "",
            proof=req.relationship_proof or "",
            same_person=gid.value == person.id_number,
        )
    applications.require_guardian(person.birth_date, now.date(), guardian, policy.minors)
    if guardian is not None and req.guardian_id_number:
        gid = identity.check_id_number(req.guardian_id_number)
        guardian_psn = session.execute(
            select(Person.psn_no).where(Person.id_number == gid.value)
        ).scalar_one_or_none()
        person.guardian_psn_no = guardian_psn
        person.guardian_relation = guardian.relation
        person.guardian_proof = guardian.proof
    first = not held
    fee = applications.card_fee(first, policy.cards)
    card = issue_card(
        session,
        policy,
        now,
        person,
        bank=req.bank,
        fee=fee,
        first_card=first,
        card_no=req.card_no,
        serial=int(req.serial, 16) if req.serial else None,
        issue_date=req.issue_date,
    )
    return {**card_view(card), "psn_no": psn_no}


class LossReportIn(AdminModel):
    kind: Literal["temporary", "formal", "damaged"]
    channel: str = Field(default="counter", max_length=20)
    reported_on: dt.date | None = None


def report_loss(
    session: Session, policy: Policy, now: dt.datetime, card_no: str, req: LossReportIn
) -> dict[str, Any]:
    """Rule c: a temporary report (12333) blocks at once and its day is kept as
    the start of the loss; a formal or damaged report makes the card unusable for
    good and starts the replacement deadline."""
    card = find_card(session, card_no, lock=True)
    event = {
        "temporary": cards.CardEvent.TEMPORARY_LOSS,
        "formal": cards.CardEvent.FORMAL_LOSS,
        "damaged": cards.CardEvent.DAMAGE,
    }[req.kind]
    reported = req.reported_on or now.date()
    if reported > now.date():
        raise Refusal(
            "card.date", "挂失日期不能晚于今天", "the report date cannot be in the future"
        )
    card.status = cards.next_status(cards.CardStatus(card.status), event).value
    card.status_changed_at = local_time(now)
    if req.kind == "temporary":
        card.phone_loss_reported_on = reported
    result = card_view(card)
    if req.kind != "temporary":
        card.loss_reported_on = reported
        deadline, warning = _replacement_deadline(policy, reported)
        result = card_view(card)
        result["replacement_deadline"] = str(deadline) if deadline else None
        if warning:
            result["warning"] = warning
    return result


def _replacement_deadline(policy: Policy, reported: dt.date) -> tuple[dt.date | None, str | None]:
    """The replacement deadline, or None and the reason when the calendar does not
    cover the days it needs (a loss is recorded all the same)."""
    try:
        return (
            cards.replacement_deadline(
                reported, policy.cards.replacement_working_days, policy.calendar.working
            ),
            None,
        )
    except Refusal as refusal:
        if refusal.code != "calendar.not_covered":
            raise
        return None, refusal.err_msg


class CancelLossIn(AdminModel):
    id_number: str = Field(min_length=1, max_length=18)
    card_sn: str = Field(min_length=32, max_length=32)


def cancel_temporary_loss(
    session: Session, now: dt.datetime, card_no: str, req: CancelLossIn
) -> dict[str, Any]:
    """Rule c: cancelled with the ID card and the card itself (its identification code)."""
    card = find_card(session, card_no, lock=True)
    person = find_person(session, card.psn_no)
    ident = identity.check_id_number(req.id_number)
    if ident.value != person.id_number or req.card_sn.upper() != card.card_sn:
        raise Refusal(
            "card.proof",
            "解除挂失须持本人身份证和该社保卡（证件号码或卡识别码不符）",
            "cancelling needs the holder's ID card and this card (ID number or card "
            "identification code does not match)",
        )
    card.status = cards.next_status(
        cards.CardStatus(card.status), cards.CardEvent.CANCEL_TEMPORARY_LOSS
    ).value
    card.status_changed_at = local_time(now)
    card.phone_loss_reported_on = None  # the card was found: that report is void
    return card_view(card)


class ReplacementIn(AdminModel):
    applied_on: dt.date | None = None
    card_no: str | None = Field(default=None, min_length=9, max_length=9)
    serial: str | None = Field(default=None, pattern=r"^[0-9A-Fa-f]{8}$")
    issue_date: dt.date | None = None


def replace_card(
    session: Session, policy: Policy, now: dt.datetime, card_no: str, req: ReplacementIn
) -> dict[str, Any]:
    """Rule c: a lost or damaged card is replaced by a new card with a new card
    number and identification code; the old one is refused for ever. Full fee."""
    old = find_card(session, card_no, lock=True)
    person = find_person(session, old.psn_no, lock=True)
    new_status = cards.next_status(cards.CardStatus(old.status), cards.CardEvent.REPLACE)
    applied = req.applied_on or now.date()
    if applied > now.date() or (old.loss_reported_on and applied < old.loss_reported_on):
        raise Refusal(
            "card.date",
            "申请日期须在挂失日期与今天之间",
            "applied_on must lie between the loss report and today",
        )
    assert old.loss_reported_on is not None
    deadline, unknown = _replacement_deadline(policy, old.loss_reported_on)
    old.status = new_status.value
    old.status_changed_at = local_time(now)
    old.replacement_applied_on = applied
    new = issue_card(
        session,
        policy,
        now,
        person,
        bank=old.bank,
        fee=applications.card_fee(False, policy.cards),
        first_card=False,
        card_no=req.card_no,
        serial=int(req.serial, 16) if req.serial else None,
        issue_date=req.issue_date,
        replaces=old.card_no,
    )
    result: dict[str, Any] = {
        "old_card": card_view(old),
        "new_card": card_view(new),
        "replacement_deadline": str(deadline) if deadline else None,
        "in_time": applied <= deadline if deadline else None,
    }
    if unknown:
        result["warning"] = unknown
    elif deadline is not None and applied > deadline:
        result["warning"] = (
            f"逾期申请补卡（期限 {deadline}）：此后至新卡期间的费用不予零星报销 / applied after "
            f"the deadline {deadline}: expenses after it are not reimbursed"
        )
    return result


def activate_financial_account(session: Session, card_no: str) -> dict[str, Any]:
    """Guide Q4: the bank activates the card's financial account."""
    card = find_card(session, card_no, lock=True)
    cards.require_usable(cards.CardStatus(card.status), card.card_no)
    card.fin_acct_activated = True
    return card_view(card)


def change_card(session: Session, card_no: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Rule g / Q7: refused - no bank change, no card data change."""
    find_card(session, card_no)
    details.check_card_change(changes)
    raise AssertionError("unreachable")  # pragma: no cover


# -- person files for card images --------------------------------------------------------
def person_file(session: Session, card_no: str) -> dict[str, Any]:
    """The person file that ``sscard card new --profile ningbo-gen3 --person FILE``
    turns into the image of this card: same card number, and the same card
    identification code (region 330200 of the profile, the card's serial)."""
    card = find_card(session, card_no)
    person = find_person(session, card.psn_no)
    return {
        "name": person.name,
        "id_number": person.id_number,
        "ethnic_group": person.naty,
        "birthplace": person.birthplace,
        "sex": person.sex,
        "birth_date": str(person.birth_date),
        "card": {
            "serial": f"{card.serial:08X}",
            "issue_date": str(card.issue_date),
            "card_number": card.card_no,
        },
    }
