"""The demo data seeded: the demo institutions (with their secrets), the
catalogue and one named person per situation of the Ningbo guide, read from
the demo data file (:mod:`sscard_terminal.center.seed.demo_data`) and set up
here in enrolments, contributions, accounts, cards and filings.

Every demo person with a card gets a person file
(:func:`sscard_terminal.center.admin.cards.person_file`) so that ``sscard card
new --profile ningbo-gen3 --person FILE`` makes its card. The ``normal``
person is the ningbo-gen3 profile's own test cardholder (张三, serial
C38275EE), so that the profile's default virtual card settles too.
"""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from sscard_terminal.center.admin.base import local_time
from sscard_terminal.center.admin.cards import person_file
from sscard_terminal.center.admin.institutions import institution_row
from sscard_terminal.center.clock import Month
from sscard_terminal.center.db import Database
from sscard_terminal.center.models import (
    Account,
    Card,
    CatalogueItem,
    Contribution,
    Enrolment,
    Filing,
    Institution,
    Person,
)
from sscard_terminal.center.policy import Policy
from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.seed.demo_data import DemoPerson, load_demo_data
from sscard_terminal.center.seed.numbers import (
    DEMO_PSN_PREFIX,
    DEMO_SERIAL_BASE,
    PROFILE_TEST_ISSUE,
    PROFILE_TEST_SERIAL,
    demo_card_number,
    seeded_psn_no,
)
from sscard_terminal.codecs.card_id_code import make_card_id_code
from sscard_terminal.codecs.id_number import make_id_number

__all__ = ["seed_demo"]


def _add_person(
    session: Session, policy: Policy, now: dt.datetime, demo: DemoPerson, index: int
) -> Person:
    id_number = make_id_number(demo.region, demo.birth, demo.seq)
    person = Person(
        psn_no=seeded_psn_no(policy, DEMO_PSN_PREFIX, index),
        id_number=id_number,
        name=demo.name,
        sex="1" if demo.seq % 2 else "2",
        birth_date=demo.birth,
        naty="01",
        birthplace=demo.region,
        insuplc_admdvs=demo.insuplc,
        phone="13800000000",
        landline=None,
        address="浙江省宁波市海曙区解放南路1号",
        postcode="315000",
        guardian_psn_no=None,
        guardian_relation=None,
        guardian_proof=None,
        legacy_scheme=None,
        created_at=local_time(now),
    )
    session.add(person)
    return person


def _resident_years(month: Month) -> list[tuple[Month, Month]]:
    """A resident's contributions: last year's and this year's, each paid in
    time. Under rule a a month's benefits come from months paid before it, so
    January is covered by last year's December: a resident seeded with this
    year alone would have no benefits in January."""
    return [
        (Month(month.year - 1, 1), Month(month.year - 1, 12)),
        (Month(month.year, 1), Month(month.year, 12)),
    ]


def _enrol(
    session: Session,
    person: Person,
    insutype: str,
    periods: list[tuple[Month, Month]],
    paid_on: dt.date | None = None,
    *,
    emp_name: str | None = None,
    psn_type: str = "1101",
    balance: Decimal | None = None,
) -> None:
    enrolment = Enrolment(
        psn_no=person.psn_no, insutype=insutype, psn_type=psn_type, status="1", emp_name=emp_name
    )
    session.add(enrolment)
    session.flush()
    for first, last in periods:
        session.add(
            Contribution(
                enrolment_id=enrolment.id,
                first_month=first.yyyymm,
                last_month=last.yyyymm,
                paid_on=paid_on or first.first_day,
            )
        )
    if balance is not None and session.get(Account, person.psn_no) is None:
        session.add(Account(psn_no=person.psn_no, balance=balance))


def _card(
    session: Session,
    policy: Policy,
    now: dt.datetime,
    person: Person,
    serial: int,
    issue: dt.date,
    *,
    status: str = "active",
    fee: str = "25.00",
    first: bool = True,
    loss_on: dt.date | None = None,
    phone_loss_on: dt.date | None = None,
    applied_on: dt.date | None = None,
    replaces: str | None = None,
) -> Card:
    card = Card(
        card_no=demo_card_number(serial),
        card_sn=make_card_id_code(policy.admdvs, serial),
        psn_no=person.psn_no,
        serial=serial,
        issue_date=issue,
        status=status,
        status_changed_at=local_time(now),
        phone_loss_reported_on=phone_loss_on,
        loss_reported_on=loss_on,
        replacement_applied_on=applied_on,
        replaces_card_no=replaces,
        fin_acct_activated=True,
        bank="中国工商银行宁波分行",
        fee=Decimal(fee),
        first_card=first,
    )
    session.add(card)
    return card


def seed_demo(
    db: Database, policy: Policy, now: dt.datetime, *, secrets_by_code: dict[str, str] | None = None
) -> dict[str, Any]:
    """The demo institutions, catalogue and named persons, in one transaction.

    Returns the institutions with their secrets (shown only here), and per demo
    person its psn_no, situation, cards and person file. Refuses when the demo
    data is already there."""
    data = load_demo_data()
    month = Month.of(now.date())
    today = now.date()
    with db.transaction() as session:
        if session.get(Institution, data.institutions[0].fixmedins_code) is not None:
            raise Refusal("seed.exists", "演示数据已存在", "the demo data is already seeded")
        institutions = []
        for inst in data.institutions:
            code = inst.fixmedins_code
            secret = (secrets_by_code or {}).get(code) or secrets.token_hex(32)
            session.add(institution_row(inst, secret, now))
            institutions.append(
                {
                    "fixmedins_code": code,
                    "fixmedins_name": inst.name,
                    "kind": inst.kind,
                    "level": inst.level,
                    "admdvs": inst.admdvs,
                    "designated": inst.designated,
                    "offsite_designated": inst.offsite_designated,
                    "secret": secret,
                }
            )
        for item in data.catalogue:
            if session.get(CatalogueItem, item.list_code) is None:
                session.add(
                    CatalogueItem(
                        list_code=item.list_code,
                        name=item.name,
                        kind=item.kind,
                        chrgitm_lv=item.chrgitm_lv,
                        selfpay_prop=item.selfpay_prop,
                        price_cap=item.price_cap,
                        med_chrgitm_type=item.med_chrgitm_type,
                    )
                )
        people = {
            d.key: _add_person(session, policy, now, d, i + 1) for i, d in enumerate(data.persons)
        }
        session.flush()
        long_ago = Month(2015, 1)
        serial = iter(range(DEMO_SERIAL_BASE + 1, DEMO_SERIAL_BASE + 1000))
        cards: dict[str, list[Card]] = {}

        def card(key: str, **kw: Any) -> Card:
            made = _card(
                session,
                policy,
                now,
                people[key],
                kw.pop("serial", None) or next(serial),
                kw.pop("issue", dt.date(2022, 3, 1)),
                **kw,
            )
            cards.setdefault(key, []).append(made)
            return made

        emp = "宁波某科技有限公司"
        p = people
        _enrol(
            session,
            p["normal"],
            "310",
            [(long_ago, month)],
            emp_name=emp,
            balance=Decimal("2000.00"),
        )
        card("normal", serial=PROFILE_TEST_SERIAL, issue=PROFILE_TEST_ISSUE)
        _enrol(
            session,
            p["resident"],
            "390",
            _resident_years(month),
            psn_type="1401",
        )
        card("resident")
        _enrol(
            session,
            p["lapsed"],
            "310",
            [(long_ago, month.plus(-5))],
            emp_name=emp,
            balance=Decimal("800.00"),
        )
        card("lapsed")
        _enrol(
            session,
            p["lost_card"],
            "310",
            [(long_ago, month)],
            emp_name=emp,
            balance=Decimal("500.00"),
        )
        card("lost_card", status="lost", loss_on=today - dt.timedelta(days=2))
        _enrol(
            session,
            p["replaced_card"],
            "310",
            [(long_ago, month)],
            emp_name=emp,
            balance=Decimal("600.00"),
        )
        old = card(
            "replaced_card",
            status="replaced",
            loss_on=today - dt.timedelta(days=20),
            applied_on=today - dt.timedelta(days=19),
        )
        card(
            "replaced_card",
            issue=today - dt.timedelta(days=19),
            fee="50.00",
            first=False,
            replaces=old.card_no,
        )
        _enrol(
            session,
            p["temp_lost"],
            "310",
            [(long_ago, month)],
            emp_name=emp,
            balance=Decimal("300.00"),
        )
        card("temp_lost", status="temporarily_lost", phone_loss_on=today - dt.timedelta(days=1))
        _enrol(
            session,
            p["new_household"],
            "310",
            [(month, month)],
            paid_on=today,
            emp_name="郑十个体工商户",
            balance=Decimal("0.00"),
        )
        card("new_household", issue=month.first_day)
        p["cixi_rural"].legacy_scheme = "cixi-ncms"
        card("cixi_rural")
        for key in ("offsite_filed", "offsite_unfiled", "special_disease", "no_card"):
            _enrol(
                session,
                p[key],
                "310",
                [(long_ago, month)],
                emp_name=emp,
                balance=Decimal("1000.00"),
            )
        for key in ("offsite_filed", "offsite_unfiled", "special_disease"):
            card(key)
        session.add(
            Filing(
                psn_no=p["offsite_filed"].psn_no,
                kind="offsite",
                area="330100",
                dise_code=None,
                dise_name=None,
                begin_date=today - dt.timedelta(days=30),
                end_date=None,
            )
        )
        session.add(
            Filing(
                psn_no=p["special_disease"].psn_no,
                kind="special_disease",
                area=None,
                dise_code="M03900",
                dise_name="高血压病",
                begin_date=today - dt.timedelta(days=365),
                end_date=None,
            )
        )
        _enrol(
            session,
            p["minor"],
            "390",
            _resident_years(month),
            psn_type="1402",
        )
        p["minor"].guardian_psn_no = p["normal"].psn_no
        p["minor"].guardian_relation = "father"
        p["minor"].guardian_proof = "household_register"
        card("minor")
        session.flush()
        persons = {}
        for demo in data.persons:
            person = people[demo.key]
            held = cards.get(demo.key, [])
            active = [c for c in held if c.status == "active"]
            persons[demo.key] = {
                "psn_no": person.psn_no,
                "id_number": person.id_number,
                "name": person.name,
                "insuplc_admdvs": person.insuplc_admdvs,
                "situation": demo.situation,
                "cards": [
                    {"card_no": c.card_no, "card_sn": c.card_sn, "status": c.status} for c in held
                ],
                "person_file": person_file(session, (active or held)[0].card_no) if held else None,
            }
    return {"institutions": institutions, "persons": persons}
