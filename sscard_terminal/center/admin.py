"""The operator's side: institutions, persons, enrolment, contributions, cards,
loss reports, replacement, filings, sporadic claims, catalogue (issue 4,
point 6: "the admin API ... is separate and needs a token").

Each operation is a function of a session, the policy, the current time and
a validated request; rules come from :mod:`sscard_terminal.center.rules`.
A :class:`~sscard_terminal.center.refusals.Refusal` is a business refusal
(HTTP 409 in the API), :class:`NotFound` a missing record (HTTP 404).
"""

from __future__ import annotations

import datetime as dt
import secrets
import unicodedata
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sscard_terminal.center import sm2sign
from sscard_terminal.center.clock import Month
from sscard_terminal.center.models import (
    Account,
    Card,
    CatalogueItem,
    Contribution,
    Enrolment,
    Filing,
    Institution,
    Person,
    SporadicClaim,
)
from sscard_terminal.center.policy import Policy
from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.rules import (
    applications,
    area,
    benefits,
    cards,
    details,
    identity,
    sporadic,
)
from sscard_terminal.center.rules.benefits import PaidPeriod
from sscard_terminal.center.transactions.fields import Amount
from sscard_terminal.codecs.card_id_code import make_card_id_code
from sscard_terminal.codecs.card_number import is_valid_card_number, make_card_number
from sscard_terminal.codecs.masking import mask_id_number

__all__ = ["NotFound"]

#: Card serial ranges: demo persons, bulk seed, cards issued by the admin API.
ADMIN_SERIAL_BASE = 0x20000000
ADMIN_SERIAL_END = 0x30000000
ADMIN_CARD_PREFIX = "E"


class NotFound(Refusal):
    """A record that does not exist (HTTP 404)."""


class AdminModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _person(session: Session, psn_no: str, *, lock: bool = False) -> Person:
    query = select(Person).where(Person.psn_no == psn_no)
    if lock:
        query = query.with_for_update()
    person = session.execute(query).scalar_one_or_none()
    if person is None:
        raise NotFound("person.unknown", f"人员编号 {psn_no} 不存在", f"no person {psn_no}")
    return person


def _card(session: Session, card_no: str, *, lock: bool = False) -> Card:
    query = select(Card).where(Card.card_no == card_no.upper())
    if lock:
        query = query.with_for_update()
    card = session.execute(query).scalar_one_or_none()
    if card is None:
        raise NotFound("card.unknown", f"社保卡 {card_no} 不存在", f"no card {card_no}")
    return card


def _local(now: dt.datetime) -> dt.datetime:
    return now.replace(tzinfo=None, microsecond=0)


# -- institutions --------------------------------------------------------------------
def _sm2_key(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return sm2sign.parse_public_key(value).hex
    except sm2sign.SM2KeyError as exc:
        raise ValueError(str(exc)) from None


class SM2KeyIn(AdminModel):
    """An institution's SM2 public key for signtype SM2 (None removes it)."""

    public_key: str | None = Field(
        description="04 + X + Y (130 hex digits), X + Y (128 hex digits) or a PEM PUBLIC KEY"
    )

    _key = field_validator("public_key")(_sm2_key)


class GatewayIn(AdminModel):
    """The x-tif gateway-header option of an institution (docs/center.md)."""

    mode: Literal["off", "also", "only"] = Field(
        description="off: headers ignored; also: required with cainfo; only: required, "
        "cainfo optional"
    )
    paasid: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_\-.]{1,64}$",
        description="the x-tif-paasid expected (default: the fixmedins_code)",
    )


class InstitutionAuthIn(AdminModel):
    """How an institution authenticates, besides its secret (issue 10)."""

    sm2_public_key: str | None = Field(
        default=None,
        description="SM2 public key for signtype SM2: 04 + X + Y in hex, or a PEM PUBLIC KEY",
    )
    gateway: Literal["off", "also", "only"] = "off"
    gateway_paasid: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_\-.]{1,64}$")

    _key = field_validator("sm2_public_key")(_sm2_key)


class InstitutionIn(InstitutionAuthIn):
    fixmedins_code: str = Field(pattern=r"^[A-Z0-9]{12}$")
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["hospital", "pharmacy"]
    level: Literal["0", "1", "2", "3"]
    admdvs: str = Field(pattern=r"^\d{6}$")
    designated: bool = True
    offsite_designated: bool = False
    secret: str | None = Field(default=None, min_length=32, max_length=128)


def create_institution(session: Session, now: dt.datetime, req: InstitutionIn) -> dict[str, Any]:
    """Register an institution; its secret is returned here and never again."""
    if session.get(Institution, req.fixmedins_code) is not None:
        raise Refusal(
            "institution.exists",
            f"定点机构 {req.fixmedins_code} 已登记",
            f"institution {req.fixmedins_code} is already registered",
        )
    secret = req.secret or secrets.token_hex(32)
    session.add(
        Institution(
            fixmedins_code=req.fixmedins_code,
            name=req.name,
            kind=req.kind,
            level=req.level,
            admdvs=req.admdvs,
            designated=req.designated,
            offsite_designated=req.offsite_designated,
            secret=secret,
            created_at=_local(now),
            sm2_public_key=req.sm2_public_key,
            gateway=req.gateway,
            gateway_paasid=req.gateway_paasid,
        )
    )
    return {"fixmedins_code": req.fixmedins_code, "secret": secret}


def rotate_secret(session: Session, code: str) -> dict[str, Any]:
    institution = session.get(Institution, code)
    if institution is None:
        raise NotFound("institution.unknown", f"定点机构 {code} 未登记", f"no institution {code}")
    institution.secret = secrets.token_hex(32)
    return {"fixmedins_code": code, "secret": institution.secret}


def _institution(session: Session, code: str) -> Institution:
    institution = session.get(Institution, code)
    if institution is None:
        raise NotFound("institution.unknown", f"定点机构 {code} 未登记", f"no institution {code}")
    return institution


def auth_view(institution: Institution) -> dict[str, Any]:
    """What an institution authenticates with, without its secret."""
    return {
        "fixmedins_code": institution.fixmedins_code,
        "sm2_public_key": institution.sm2_public_key,
        "gateway": institution.gateway,
        "gateway_paasid": institution.gateway_paasid or institution.fixmedins_code,
    }


def set_sm2_key(session: Session, code: str, req: SM2KeyIn) -> dict[str, Any]:
    """Register (or with None remove) the SM2 public key of signtype SM2."""
    institution = _institution(session, code)
    institution.sm2_public_key = req.public_key
    return auth_view(institution)


def set_gateway(session: Session, code: str, req: GatewayIn) -> dict[str, Any]:
    """Set the gateway-header option (off, also, only) and the expected paasid."""
    institution = _institution(session, code)
    institution.gateway = req.mode
    institution.gateway_paasid = req.paasid
    return auth_view(institution)


# -- persons ---------------------------------------------------------------------------
def _check_name(name: str) -> str:
    text = name.strip()
    if not 1 <= len(text) <= 50 or any(unicodedata.category(c).startswith("C") for c in text):
        raise Refusal(
            "person.name", "姓名须为1-50个可见字符", "the name must be 1-50 visible characters"
        )
    return text


class PersonIn(AdminModel):
    id_number: str = Field(min_length=1, max_length=18)
    name: str = Field(min_length=1, max_length=50)
    sex: Literal["1", "2"] | None = None
    birth_date: dt.date | None = None
    naty: str = Field(default="01", pattern=r"^\d{2}$")
    birthplace: str | None = Field(default=None, pattern=r"^\d{6}$")
    insuplc_admdvs: str | None = Field(default=None, pattern=r"^\d{6}$")
    phone: str | None = None
    landline: str | None = None
    address: str | None = None
    postcode: str | None = None
    legacy_scheme: str | None = Field(default=None, max_length=20)
    psn_no: str | None = Field(default=None, pattern=r"^\d{10,30}$")


def new_psn_no(policy: Policy) -> str:
    return f"{policy.city_prefix}01{secrets.randbelow(10**14):014d}"


def create_person(
    session: Session, policy: Policy, now: dt.datetime, req: PersonIn
) -> dict[str, Any]:
    """Register a person; the ID number is checked (rule k) and must agree with
    the sex and birth date given."""
    ident = identity.check_id_number(req.id_number, birth_date=req.birth_date, sex=req.sex)
    name = _check_name(req.name)
    if session.execute(select(Person.psn_no).where(Person.id_number == ident.value)).first():
        raise Refusal(
            "person.exists",
            f"身份证号码 {ident} 已登记",
            f"a person with ID number {ident} is already registered",
        )
    if req.legacy_scheme is not None and req.legacy_scheme not in policy.legacy_schemes:
        raise Refusal(
            "person.scheme", "未知的原参保制度", f"unknown legacy scheme {req.legacy_scheme}"
        )
    contact = (
        details.check_person_change(
            {
                k: v
                for k, v in (
                    ("phone", req.phone),
                    ("landline", req.landline),
                    ("address", req.address),
                    ("postcode", req.postcode),
                )
                if v is not None
            }
        )
        if any(v is not None for v in (req.phone, req.landline, req.address, req.postcode))
        else {}
    )
    psn_no = req.psn_no or new_psn_no(policy)
    session.add(
        Person(
            psn_no=psn_no,
            id_number=ident.value,
            name=name,
            sex=ident.sex,
            birth_date=ident.birth_date,
            naty=req.naty,
            birthplace=req.birthplace or ident.region,
            insuplc_admdvs=req.insuplc_admdvs or policy.admdvs,
            phone=contact.get("phone"),
            landline=contact.get("landline"),
            address=contact.get("address"),
            postcode=contact.get("postcode"),
            guardian_psn_no=None,
            guardian_relation=None,
            guardian_proof=None,
            legacy_scheme=req.legacy_scheme,
            created_at=_local(now),
        )
    )
    return {"psn_no": psn_no, "id_number": mask_id_number(ident.value)}


def person_view(session: Session, policy: Policy, now: dt.datetime, psn_no: str) -> dict[str, Any]:
    """A person with enrolments (and this month's benefit state), account, cards."""
    person = _person(session, psn_no)
    month = Month.of(now.date())
    enrolled = []
    for enrolment in session.execute(
        select(Enrolment).where(Enrolment.psn_no == psn_no).order_by(Enrolment.insutype)
    ).scalars():
        paid = _paid_periods(session, enrolment.id)
        periods = [
            {"first_month": str(p.first), "last_month": str(p.last), "paid_on": str(p.paid_on)}
            for p in paid
        ]
        status = benefits.benefit_status(
            paid, month, policy.benefits, terminated=enrolment.status == "4"
        )
        enrolled.append(
            {
                "insutype": enrolment.insutype,
                "psn_type": enrolment.psn_type,
                "status": enrolment.status,
                "emp_name": enrolment.emp_name,
                "contributions": periods,
                "psn_insu_stas": status.psn_insu_stas,
            }
        )
    account = session.get(Account, psn_no)
    return {
        "psn_no": person.psn_no,
        "id_number": person.id_number,
        "name": person.name,
        "sex": person.sex,
        "birth_date": str(person.birth_date),
        "naty": person.naty,
        "birthplace": person.birthplace,
        "insuplc_admdvs": person.insuplc_admdvs,
        "phone": person.phone,
        "landline": person.landline,
        "address": person.address,
        "postcode": person.postcode,
        "guardian_psn_no": person.guardian_psn_no,
        "legacy_scheme": person.legacy_scheme,
        "enrolments": enrolled,
        "account_balance": account.balance if account is not None else None,
        "cards": [
            card_view(c)
            for c in session.execute(
                select(Card).where(Card.psn_no == psn_no).order_by(Card.issue_date, Card.card_no)
            ).scalars()
        ],
    }


def _paid_periods(session: Session, enrolment_id: int) -> list[PaidPeriod]:
    """An enrolment's payments, in the order of their months."""
    return [
        PaidPeriod(Month.from_yyyymm(c.first_month), Month.from_yyyymm(c.last_month), c.paid_on)
        for c in session.execute(
            select(Contribution)
            .where(Contribution.enrolment_id == enrolment_id)
            .order_by(Contribution.first_month, Contribution.id)
        ).scalars()
    ]


def change_person(session: Session, psn_no: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Rule g: only non-critical details change."""
    allowed = details.check_person_change(changes)
    person = _person(session, psn_no, lock=True)
    for field, value in allowed.items():
        setattr(person, field, value)
    return {"psn_no": psn_no, "changed": sorted(allowed)}


# -- enrolment, contributions, account ---------------------------------------------------
class EnrolmentIn(AdminModel):
    insutype: str = Field(pattern=r"^\d{3}$")
    psn_type: str = Field(default="1101", pattern=r"^\d{2,6}$")
    emp_name: str | None = Field(default=None, max_length=200)


def enrol(session: Session, policy: Policy, psn_no: str, req: EnrolmentIn) -> dict[str, Any]:
    _person(session, psn_no, lock=True)
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
    _person(session, psn_no, lock=True)
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
    _person(session, psn_no, lock=True)
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


# -- cards -----------------------------------------------------------------------------
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
        status_changed_at=_local(now),
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
    person = _person(session, psn_no, lock=True)
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
    card = _card(session, card_no, lock=True)
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
    card.status_changed_at = _local(now)
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
    card = _card(session, card_no, lock=True)
    person = _person(session, card.psn_no)
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
    card.status_changed_at = _local(now)
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
    old = _card(session, card_no, lock=True)
    person = _person(session, old.psn_no, lock=True)
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
    old.status_changed_at = _local(now)
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
    card = _card(session, card_no, lock=True)
    cards.require_usable(cards.CardStatus(card.status), card.card_no)
    card.fin_acct_activated = True
    return card_view(card)


def change_card(session: Session, card_no: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Rule g / Q7: refused - no bank change, no card data change."""
    _card(session, card_no)
    details.check_card_change(changes)
    raise AssertionError("unreachable")  # pragma: no cover


# -- filings, claims, catalogue ------------------------------------------------------------
class FilingIn(AdminModel):
    kind: Literal["offsite", "special_disease"]
    area: str | None = Field(default=None, pattern=r"^\d{6}$")
    dise_code: str | None = Field(default=None, max_length=30)
    dise_name: str | None = Field(default=None, max_length=100)
    begin_date: dt.date
    end_date: dt.date | None = None


def add_filing(session: Session, psn_no: str, req: FilingIn) -> dict[str, Any]:
    _person(session, psn_no)
    if req.kind == "offsite" and req.area is None:
        raise Refusal("filing.area", "异地就医备案须填写就医地", "an offsite filing needs its area")
    if req.kind == "special_disease" and not req.dise_code:
        raise Refusal(
            "filing.disease", "特殊病备案须填写病种", "a special-disease filing needs its disease"
        )
    if req.end_date is not None and req.end_date < req.begin_date:
        raise Refusal("filing.dates", "结束日期早于开始日期", "end_date is before begin_date")
    row = Filing(
        psn_no=psn_no,
        kind=req.kind,
        area=req.area,
        dise_code=req.dise_code,
        dise_name=req.dise_name,
        begin_date=req.begin_date,
        end_date=req.end_date,
    )
    session.add(row)
    session.flush()
    return {"id": row.id, "psn_no": psn_no, "kind": req.kind}


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
    person = _person(session, psn_no, lock=True)
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
            _paid_periods(session, enrolment.id),
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
        created_at=_local(now),
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


class CatalogueIn(AdminModel):
    list_code: str = Field(min_length=1, max_length=50)
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["drug", "service"]
    chrgitm_lv: Literal["01", "02", "03"]
    selfpay_prop: Decimal | None = Field(default=None, ge=0, le=1)
    price_cap: Amount | None = None
    med_chrgitm_type: str = Field(default="", max_length=6)


def upsert_catalogue(session: Session, req: CatalogueIn) -> dict[str, Any]:
    row = session.get(CatalogueItem, req.list_code)
    if row is None:
        row = CatalogueItem(list_code=req.list_code)
        session.add(row)
    row.name = req.name
    row.kind = req.kind
    row.chrgitm_lv = req.chrgitm_lv
    row.selfpay_prop = req.selfpay_prop
    row.price_cap = req.price_cap
    row.med_chrgitm_type = req.med_chrgitm_type
    return {"list_code": req.list_code}


# -- person files for card images --------------------------------------------------------
def person_file(session: Session, card_no: str) -> dict[str, Any]:
    """The person file that ``sscard card new --profile ningbo-gen3 --person FILE``
    turns into the image of this card: same card number, and the same card
    identification code (region 330200 of the profile, the card's serial)."""
    card = _card(session, card_no)
    person = _person(session, card.psn_no)
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
