"""Persons: registration (the ID number checked, rule k), the view of a person
with enrolments, account and cards, and changes of non-critical details (rule g).
"""

from __future__ import annotations

import datetime as dt
import secrets
import unicodedata
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from sscard_terminal.center.admin.base import AdminModel, find_person, local_time
from sscard_terminal.center.admin.cards import card_view
from sscard_terminal.center.admin.enrolments import paid_periods
from sscard_terminal.center.clock import Month
from sscard_terminal.center.models import Account, Card, Enrolment, Person
from sscard_terminal.center.policy import Policy
from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.rules import benefits, details, identity
from sscard_terminal.codecs.masking import mask_id_number

__all__ = ["PersonIn", "change_person", "create_person", "new_psn_no", "person_view"]


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
            created_at=local_time(now),
        )
    )
    return {"psn_no": psn_no, "id_number": mask_id_number(ident.value)}


def person_view(session: Session, policy: Policy, now: dt.datetime, psn_no: str) -> dict[str, Any]:
    """A person with enrolments (and this month's benefit state), account, cards."""
    person = find_person(session, psn_no)
    month = Month.of(now.date())
    enrolled = []
    for enrolment in session.execute(
        select(Enrolment).where(Enrolment.psn_no == psn_no).order_by(Enrolment.insutype)
    ).scalars():
        paid = paid_periods(session, enrolment.id)
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


def change_person(session: Session, psn_no: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Rule g: only non-critical details change."""
    allowed = details.check_person_change(changes)
    person = find_person(session, psn_no, lock=True)
    for field, value in allowed.items():
        setattr(person, field, value)
    return {"psn_no": psn_no, "changed": sorted(allowed)}
