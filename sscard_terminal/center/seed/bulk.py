"""N generated persons: each consistent (person, enrolment, contributions,
account, card) and made from its index alone, inserted in chunks of bulk
inserts (COPY on PostgreSQL, executemany on SQLite) with progress after each
chunk. 7.2 million is Ningbo's card count and belongs to the benchmark.

Generated ID numbers never take a demo person's: their sequence codes are
below 900 and never 123 (the ningbo-gen3 test cardholder's).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, text

from sscard_terminal.center.admin.base import local_time
from sscard_terminal.center.clock import Month
from sscard_terminal.center.db import Database
from sscard_terminal.center.models import Contribution, Enrolment, Person
from sscard_terminal.center.policy import Policy
from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.seed.numbers import BULK_PSN_PREFIX, BULK_SERIAL_BASE, seeded_psn_no
from sscard_terminal.codecs.card_id_code import make_card_id_code
from sscard_terminal.codecs.card_number import make_card_number
from sscard_terminal.codecs.id_number import make_id_number

__all__ = ["NINGBO_REGIONS", "Progress", "bulk_identity", "bulk_person", "seed_bulk"]

#: called after each chunk with the number of persons it added
Progress = Callable[[int], None]

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
        "psn_no": seeded_psn_no(policy, BULK_PSN_PREFIX, i),
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
    created = local_time(now)
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
