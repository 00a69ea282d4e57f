"""Seeding: the guide's situations as named demo persons, and N generated persons
(issue 4, point 7).

:func:`seed_demo` makes the demo institutions (with their secrets), the
catalogue and one named person per situation of the guide; every demo person
with a card gets a person file (:func:`sscard_terminal.center.admin.person_file`)
so that ``sscard card new --profile ningbo-gen3 --person FILE`` makes its card.
The ``normal`` person is the ningbo-gen3 profile's own test cardholder (张三,
serial C38275EE), so that the profile's default virtual card settles too.

:func:`seed_bulk` makes N consistent persons (person, enrolment, contributions,
account, card) from their index alone, in chunks of bulk inserts (COPY on
PostgreSQL), reporting progress after each chunk; 7.2 million is Ningbo's
card count and belongs to the benchmark.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from sscard_terminal.center import admin
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
from sscard_terminal.codecs.card_id_code import make_card_id_code
from sscard_terminal.codecs.card_number import make_card_number
from sscard_terminal.codecs.id_number import make_id_number

__all__ = ["DEMO_INSTITUTIONS", "DEMO_PERSONS", "seed", "seed_bulk", "seed_demo"]

Progress = Callable[[int], None]


@dataclass(frozen=True)
class DemoInstitution:
    code: str
    name: str
    kind: str
    level: str
    admdvs: str
    designated: bool = True
    offsite_designated: bool = False


DEMO_INSTITUTIONS: tuple[DemoInstitution, ...] = (
    DemoInstitution("H33020300001", "宁波市第一医院", "hospital", "3", "330203"),
    DemoInstitution("H33021200002", "鄞州区第二医院", "hospital", "2", "330212"),
    DemoInstitution("P33020300003", "海曙区大药房", "pharmacy", "0", "330203"),
    DemoInstitution(
        "H33010600001",
        "浙江大学医学院附属第一医院",
        "hospital",
        "3",
        "330106",
        offsite_designated=True,
    ),
    DemoInstitution("H33030200001", "温州市中心医院", "hospital", "3", "330302"),
    DemoInstitution(
        "H31010100001", "上海市黄浦区医院", "hospital", "2", "310101", offsite_designated=True
    ),
    DemoInstitution(
        "H33020300099", "海曙区某诊所（非定点）", "hospital", "1", "330203", designated=False
    ),
)

#: (code, name, kind, class, own class-B self-pay share, price cap, type)
DEMO_CATALOGUE: tuple[tuple[str, str, str, str, str | None, str | None, str], ...] = (
    ("XJ01CAA040A001010100001", "阿莫西林胶囊", "drug", "01", None, "1.20", "09"),
    ("XR05CBA020E001010100002", "氨溴索口服溶液", "drug", "02", None, None, "09"),
    ("XC09AAA007A001010100003", "缬沙坦胶囊", "drug", "02", "0.20", "5.00", "09"),
    ("XC10AAA005A001010100004", "阿托伐他汀钙片", "drug", "01", None, None, "09"),
    ("ZA00AAA0001000000000005", "维生素C泡腾片（保健）", "drug", "03", None, None, "09"),
    ("001101000010000", "普通门诊挂号费", "service", "01", None, "10.00", "01"),
    ("001102000010000", "普通门诊诊查费", "service", "01", None, "25.00", "02"),
    ("250101001", "血常规检查", "service", "01", None, "20.00", "04"),
    ("310100001", "自费体检项目", "service", "03", None, None, "04"),
)


@dataclass(frozen=True)
class DemoPerson:
    """A named person for one situation of the guide."""

    key: str
    name: str
    region: str
    birth: dt.date
    seq: int
    situation: str
    insuplc: str = "330200"


DEMO_PERSONS: tuple[DemoPerson, ...] = (
    DemoPerson(
        "normal",
        "张三",
        "330203",
        dt.date(1990, 1, 1),
        123,
        "职工医保，缴费正常，个人账户2000元，卡正常（ningbo-gen3 测试卡） / employee, "
        "paid up, account 2000, active card (the ningbo-gen3 test card)",
    ),
    DemoPerson(
        "resident",
        "王芳",
        "330212",
        dt.date(1985, 3, 12),
        902,
        "城乡居民医保，本年已缴费 / urban and rural resident, paid for this year",
    ),
    DemoPerson(
        "lapsed",
        "李四",
        "330205",
        dt.date(1978, 7, 21),
        911,
        "断缴5个月，待遇暂停（规则b） / 5 months without contributions: suspended (rule b)",
    ),
    DemoPerson(
        "lost_card",
        "赵六",
        "330206",
        dt.date(1982, 11, 5),
        913,
        "卡已正式挂失，尚未补卡（规则c） / card formally reported lost, not yet replaced (rule c)",
    ),
    DemoPerson(
        "replaced_card",
        "孙七",
        "330211",
        dt.date(1975, 2, 28),
        915,
        "旧卡挂失已补换新卡（规则c） / old card lost and replaced (rule c)",
    ),
    DemoPerson(
        "temp_lost",
        "周八",
        "330203",
        dt.date(1993, 9, 9),
        917,
        "12333电话临时挂失（规则c） / temporary loss reported by phone 12333 (rule c)",
    ),
    DemoPerson(
        "new_household",
        "郑十",
        "330212",
        dt.date(1988, 4, 16),
        919,
        "个体工商户本月首次缴费，次月起享受待遇（规则a） / individual business "
        "household, first contribution this month (rule a)",
    ),
    DemoPerson(
        "cixi_rural",
        "陈桂花",
        "330282",
        dt.date(1960, 12, 1),
        922,
        "慈溪新农合人员，已领卡，未参加城乡居民医保（规则e） / Cixi rural cooperative, "
        "has a card, not in the residents' insurance (rule e)",
        insuplc="330282",
    ),
    DemoPerson(
        "offsite_filed",
        "钱多多",
        "330203",
        dt.date(1970, 6, 30),
        931,
        "已办理杭州异地就医备案（规则f） / out-of-area filing for Hangzhou (rule f)",
    ),
    DemoPerson(
        "offsite_unfiled",
        "冯强",
        "330205",
        dt.date(1968, 8, 8),
        933,
        "未办理异地就医备案（规则f） / no out-of-area filing (rule f)",
    ),
    DemoPerson(
        "minor",
        "张小宝",
        "330203",
        dt.date(2018, 6, 1),
        935,
        "未成年人，监护人张三代为申领（规则i） / a minor; card applied for by the "
        "guardian 张三 (rule i)",
    ),
    DemoPerson(
        "no_card",
        "何明",
        "330212",
        dt.date(1995, 5, 20),
        937,
        "已参保缴费但未领卡（规则d） / enrolled and paid, no card yet (rule d)",
    ),
    DemoPerson(
        "special_disease",
        "刘慢",
        "330211",
        dt.date(1955, 10, 10),
        939,
        "门诊特殊病（高血压）备案（5301，med_type 14） / special-disease filing "
        "(hypertension; 5301, med_type 14)",
    ),
)

DEMO_PSN_PREFIX = "00"
BULK_PSN_PREFIX = "99"
DEMO_SERIAL_BASE = 0x00D00000
BULK_SERIAL_BASE = 0x10000000
PROFILE_TEST_SERIAL = 0xC38275EE
PROFILE_TEST_ISSUE = dt.date(2021, 12, 3)


def _local(now: dt.datetime) -> dt.datetime:
    return now.replace(tzinfo=None, microsecond=0)


def demo_card_number(serial: int) -> str:
    """The ningbo-gen3 profile's own numbering: D + 7 digits of the serial + check."""
    return make_card_number(f"D{serial % 10_000_000:07d}")


def _psn_no(policy: Policy, prefix: str, index: int) -> str:
    return f"{policy.city_prefix}{prefix}{index:014d}"


def _add_person(
    session: Session, policy: Policy, now: dt.datetime, demo: DemoPerson, index: int
) -> Person:
    id_number = make_id_number(demo.region, demo.birth, demo.seq)
    person = Person(
        psn_no=_psn_no(policy, DEMO_PSN_PREFIX, index),
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
        created_at=_local(now),
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
        status_changed_at=_local(now),
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
    month = Month.of(now.date())
    today = now.date()
    with db.transaction() as session:
        if session.get(Institution, DEMO_INSTITUTIONS[0].code) is not None:
            raise Refusal("seed.exists", "演示数据已存在", "the demo data is already seeded")
        institutions = []
        for inst in DEMO_INSTITUTIONS:
            secret = (secrets_by_code or {}).get(inst.code) or secrets.token_hex(32)
            session.add(
                Institution(
                    fixmedins_code=inst.code,
                    name=inst.name,
                    kind=inst.kind,
                    level=inst.level,
                    admdvs=inst.admdvs,
                    designated=inst.designated,
                    offsite_designated=inst.offsite_designated,
                    secret=secret,
                    created_at=_local(now),
                )
            )
            institutions.append(
                {
                    "fixmedins_code": inst.code,
                    "fixmedins_name": inst.name,
                    "kind": inst.kind,
                    "level": inst.level,
                    "admdvs": inst.admdvs,
                    "designated": inst.designated,
                    "offsite_designated": inst.offsite_designated,
                    "secret": secret,
                }
            )
        for code, name, kind, lv, prop, cap, chrg_type in DEMO_CATALOGUE:
            if session.get(CatalogueItem, code) is None:
                session.add(
                    CatalogueItem(
                        list_code=code,
                        name=name,
                        kind=kind,
                        chrgitm_lv=lv,
                        selfpay_prop=Decimal(prop) if prop else None,
                        price_cap=Decimal(cap) if cap else None,
                        med_chrgitm_type=chrg_type,
                    )
                )
        people = {
            d.key: _add_person(session, policy, now, d, i + 1) for i, d in enumerate(DEMO_PERSONS)
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
        for demo in DEMO_PERSONS:
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
                "person_file": admin.person_file(session, (active or held)[0].card_no)
                if held
                else None,
            }
    return {"institutions": institutions, "persons": persons}


# -- bulk ---------------------------------------------------------------------------
NINGBO_REGIONS = ("330203", "330205", "330206", "330211", "330212", "330213", "330281", "330282")
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华慧建平刚桂兰玉霞辉鹏宇浩然欣怡子涵梓萱一诺晨"
_BANKS = (
    "中国工商银行宁波分行",
    "中国农业银行宁波分行",
    "中国银行宁波分行",
    "中国建设银行宁波分行",
    "宁波银行",
    "交通银行宁波分行",
)
_DAYS = 25_000
_SEQS = 899
_PROFILE_SEQ = 123
_BIRTH0 = dt.date(1950, 1, 1)
_ISSUE0 = dt.date(2015, 1, 1)


def bulk_identity(i: int) -> tuple[str, dt.date, int]:
    """Region, birth date and sequence code of generated person ``i``: unique for
    i below 8 x 25,000 x 899; sequence codes 0..899 except 123, the ningbo-gen3
    test cardholder's (demo 张三), and below the demo persons' 900 and up."""
    day, rest = i % _DAYS, i // _DAYS
    seq, region = rest % _SEQS, NINGBO_REGIONS[(rest // _SEQS) % len(NINGBO_REGIONS)]
    if seq >= _PROFILE_SEQ:
        seq += 1
    return region, _BIRTH0 + dt.timedelta(days=day), seq


def bulk_person(policy: Policy, i: int) -> dict[str, Any]:
    """Generated person ``i`` (deterministic): unique ID number (sequence codes
    below 900 except 123, so never a demo person's), a name, enrolment, card."""
    region, birth, seq = bulk_identity(i)
    name = (
        _SURNAMES[i % len(_SURNAMES)]
        + _GIVEN[(i // 7) % len(_GIVEN)]
        + ("" if i % 3 == 0 else _GIVEN[(i // 131) % len(_GIVEN)])
    )
    serial = BULK_SERIAL_BASE + i
    return {
        "psn_no": _psn_no(policy, BULK_PSN_PREFIX, i),
        "id_number": make_id_number(region, birth, seq),
        "name": name,
        "sex": "1" if seq % 2 else "2",
        "birth_date": birth,
        "region": region,
        "resident": i % 5 == 0,
        "balance": Decimal(500 + i % 1000),
        "card_no": make_card_number(f"N{i:07d}"),
        "serial": serial,
        "card_sn": make_card_id_code(policy.admdvs, serial),
        "issue_date": _ISSUE0 + dt.timedelta(days=i % 3000),
        "bank": _BANKS[i % len(_BANKS)],
    }


def _rows(
    policy: Policy, now: dt.datetime, start: int, stop: int, enrolment_base: int, month: Month
) -> dict[str, list[tuple[Any, ...]]]:
    created = _local(now)
    tables: dict[str, list[tuple[Any, ...]]] = {
        "persons": [],
        "enrolments": [],
        "contributions": [],
        "accounts": [],
        "cards": [],
    }
    for i in range(start, stop):
        g = bulk_person(policy, i)
        tables["persons"].append(
            (
                g["psn_no"],
                g["id_number"],
                g["name"],
                g["sex"],
                g["birth_date"],
                "01",
                g["region"],
                policy.admdvs,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                created,
            )
        )
        enrolment_id = enrolment_base + i
        if g["resident"]:
            tables["enrolments"].append((enrolment_id, g["psn_no"], "390", "1401", "1", None))
            first, last = Month(month.year - 1, 1), Month(month.year, 12)
        else:
            tables["enrolments"].append(
                (enrolment_id, g["psn_no"], "310", "1101", "1", "宁波某企业")
            )
            first, last = Month(2010, 1), month
            tables["accounts"].append((g["psn_no"], int(g["balance"] * 100)))
        tables["contributions"].append(
            (enrolment_id, enrolment_id, first.yyyymm, last.yyyymm, first.first_day)
        )
        tables["cards"].append(
            (
                g["card_no"],
                g["card_sn"],
                g["psn_no"],
                g["serial"],
                g["issue_date"],
                "active",
                created,
                None,
                None,
                None,
                None,
                True,
                g["bank"],
                2500,
                True,
            )
        )
    return tables


_COLUMNS = {
    "persons": (
        "psn_no",
        "id_number",
        "name",
        "sex",
        "birth_date",
        "naty",
        "birthplace",
        "insuplc_admdvs",
        "phone",
        "landline",
        "address",
        "postcode",
        "guardian_psn_no",
        "guardian_relation",
        "guardian_proof",
        "legacy_scheme",
        "created_at",
    ),
    "enrolments": ("id", "psn_no", "insutype", "psn_type", "status", "emp_name"),
    "contributions": ("id", "enrolment_id", "first_month", "last_month", "paid_on"),
    "accounts": ("psn_no", "balance"),
    "cards": (
        "card_no",
        "card_sn",
        "psn_no",
        "serial",
        "issue_date",
        "status",
        "status_changed_at",
        "phone_loss_reported_on",
        "loss_reported_on",
        "replacement_applied_on",
        "replaces_card_no",
        "fin_acct_activated",
        "bank",
        "fee",
        "first_card",
    ),
}
_ORDER = ("persons", "enrolments", "contributions", "accounts", "cards")


def _insert_chunk(db: Database, tables: dict[str, list[tuple[Any, ...]]]) -> None:
    """One chunk, one transaction: COPY on PostgreSQL, executemany on SQLite.
    Money columns are written as integer fen, as :class:`models.Money` stores them."""
    if db.is_sqlite:
        with db.engine.begin() as connection:
            raw = connection.connection.driver_connection
            assert raw is not None
            cursor = raw.cursor()
            # about 1 GB of page cache: the unique indexes (ID number, card
            # identification code) take rows in random order
            cursor.execute("PRAGMA cache_size=-1000000")
            for name in _ORDER:
                columns = _COLUMNS[name]
                marks = ", ".join("?" for _ in columns)
                cursor.executemany(
                    f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({marks})",
                    [tuple(_sqlite_value(v) for v in row) for row in tables[name]],
                )
            cursor.close()
        return
    with db.engine.begin() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor:
            for name in _ORDER:
                column_list = ", ".join(_COLUMNS[name])
                with cursor.copy(f"COPY {name} ({column_list}) FROM STDIN") as copy:
                    for row in tables[name]:
                        copy.write_row(row)


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def seed_bulk(
    db: Database,
    policy: Policy,
    now: dt.datetime,
    persons: int,
    *,
    chunk: int = 20_000,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Add ``persons`` generated persons after those already seeded."""
    if persons < 0 or persons > 9_999_999:
        raise Refusal("seed.count", "人数须在0-9999999之间", "persons must be 0..9,999,999")
    prefix = f"{policy.city_prefix}{BULK_PSN_PREFIX}"
    with db.engine.connect() as connection:
        start = connection.execute(
            select(func.count()).select_from(Person).where(Person.psn_no.like(f"{prefix}%"))
        ).scalar_one()
        top = connection.execute(select(func.max(Enrolment.id))).scalar()
        top_contribution = connection.execute(select(func.max(Contribution.id))).scalar()
    if start + persons > 9_999_999:
        raise Refusal(
            "seed.count", "生成人员总数不能超过9999999", "at most 9,999,999 generated persons"
        )
    base = max(int(top or 0), int(top_contribution or 0)) + 1 - start
    month = Month.of(now.date())
    done = 0
    for first in range(start, start + persons, chunk):
        last = min(first + chunk, start + persons)
        _insert_chunk(db, _rows(policy, now, first, last, base, month))
        done += last - first
        if progress is not None:
            progress(last - first)
    if not db.is_sqlite and persons:
        with db.engine.begin() as connection:
            for table in ("enrolments", "contributions"):
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
            connection.execute(text("ANALYZE"))
    return {"added": done, "first_index": start, "total_generated": start + done}


def seed(
    db: Database,
    policy: Policy,
    now: dt.datetime,
    *,
    persons: int = 0,
    demo: bool = True,
    progress: Progress | None = None,
    secrets_by_code: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Demo data (unless already there) and ``persons`` generated persons."""
    result: dict[str, Any] = {}
    if demo:
        try:
            result["demo"] = seed_demo(db, policy, now, secrets_by_code=secrets_by_code)
        except Refusal as refusal:
            if refusal.code != "seed.exists":
                raise
            result["demo"] = None
            result["demo_note"] = refusal.err_msg
    if persons:
        result["generated"] = seed_bulk(db, policy, now, persons, progress=progress)
    return result
