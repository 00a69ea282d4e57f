"""Look-ups and checks that several transactions share.

Every look-up of a visit or a settlement is scoped to the sending institution
(an institution sees and changes only its own visits): one of another
institution answers exactly like one that does not exist.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Connection

from sscard_terminal.center import fastsql, store, voucher
from sscard_terminal.center.clock import Month
from sscard_terminal.center.refusals import Refusal
from sscard_terminal.center.rules import area, benefits, cards, credentials, schemes, visits
from sscard_terminal.center.rules.benefits import BenefitStatus, PaidPeriod
from sscard_terminal.center.rules.money import ZERO, Accumulated, CatalogueEntry, SettlementCalc
from sscard_terminal.center.transactions.context import MessageContext
from sscard_terminal.center.transactions.signin import check_sign_in, sign_in_read

__all__ = [
    "EnrolmentInfo",
    "benefit_status",
    "catalogue_entries",
    "clr_type_of",
    "enrolments_of",
    "filings_of",
    "get_person",
    "own_settlement",
    "own_visit",
    "require_care_allowed",
    "require_designated",
    "setldetail",
    "setlinfo_from_calc",
    "setlinfo_from_row",
]


def get_person(ctx: MessageContext, psn_no: str, *, lock: bool = False) -> Any:
    """The person ``psn_no``; the envelope's insuplc_admdvs must be theirs
    (settlement-interface.md: required when the input has psn_no)."""
    person = ctx.conn.execute(
        store.PERSON_BRIEF_LOCK if lock else store.PERSON_BRIEF, {"psn_no": psn_no}
    ).first()
    _check_person(ctx, person, psn_no)
    return person


def _check_person(ctx: MessageContext, person: Any, psn_no: str) -> None:
    if person is None:
        raise Refusal("person.unknown", f"人员编号 {psn_no} 不存在", f"no person {psn_no}")
    given = ctx.envelope.insuplc_admdvs
    if not given:
        raise Refusal(
            "envelope.insuplc_admdvs",
            "输入含人员编号时须填写参保地 insuplc_admdvs（取自1101）",
            "insuplc_admdvs (from 1101) is required when the input has psn_no",
        )
    if given != person.insuplc_admdvs:
        raise Refusal(
            "envelope.insuplc_admdvs",
            f"参保地 insuplc_admdvs={given} 与人员参保地不符",
            f"insuplc_admdvs {given} is not the person's home division",
        )
    ctx.psn_no = person.psn_no


def require_designated(ctx: MessageContext) -> None:
    """Only designated institutions settle; care happens where the institution is."""
    if not ctx.institution.designated:
        raise Refusal(
            "institution.not_designated",
            "本机构不是医保定点医药机构，不能结算",
            "this institution is not designated for medical insurance and cannot settle",
        )
    if ctx.envelope.mdtrtarea_admvs != ctx.institution.admdvs:
        raise Refusal(
            "envelope.mdtrtarea_admvs",
            f"就医地 mdtrtarea_admvs={ctx.envelope.mdtrtarea_admvs} 与机构所在地"
            f" {ctx.institution.admdvs} 不符",
            f"mdtrtarea_admvs {ctx.envelope.mdtrtarea_admvs} is not the institution's "
            f"division {ctx.institution.admdvs}",
        )


#: mdtrt_cert_type of the electronic medical-insurance voucher (its ecToken)
VOUCHER_CERT = "01"


def require_settlement_credential(ctx: MessageContext, cert_type: str) -> None:
    """Rule d: settle with a card, or with the voucher that stands for it
    (center/voucher.py)."""
    credentials.require_settlement_credential(cert_type, ctx.policy.cards.settlement_cert_types)
    if cert_type not in ("01", "03"):  # pragma: no cover - no policy allows others here
        raise Refusal("credential.settlement", "须持社保卡结算", "settle with the card")


def settlement_person(
    ctx: MessageContext,
    psn_no: str,
    cert_type: str,
    cert_no: str,
    card_sn: str | None = None,
    *,
    balances_of: str | None = None,
) -> Any:
    """The person (locked) after rule d (settle with a card) and rule c (the card
    must be active and the person's), in one round trip. With ``balances_of`` (an
    insutype) it also holds the balance and this year's accumulators (see
    :func:`balances_from`)."""
    return settlement_reads(ctx, psn_no, cert_type, cert_no, card_sn, balances_of=balances_of)[0]


def settlement_reads(
    ctx: MessageContext,
    psn_no: str,
    cert_type: str,
    cert_no: str,
    card_sn: str | None = None,
    *,
    balances_of: str | None = None,
    then: Sequence[tuple[fastsql.Prepared, Mapping[str, Any]]] = (),
) -> tuple[Any, list[list[Any]]]:
    """:func:`settlement_person` and the rows of the statements ``then``, all
    sent in one batch (one round trip on PostgreSQL): the person's row lock
    first, then the card, the balances and ``then``, each read after the lock
    was granted (under READ COMMITTED every statement reads the data committed
    when it starts, so nothing read here is older than the lock; on SQLite the
    transaction holds the write lock from its start). A sign-in still to be
    checked (``ctx.sign_in_pending``) is read first in the same batch, and
    checked before anything else."""
    require_settlement_credential(ctx, cert_type)
    if cert_type == VOUCHER_CERT:
        # the token names the person and their card; the sign-in is told first
        if ctx.sign_in_pending:
            check_sign_in(ctx, fastsql.run(ctx.conn, *sign_in_read(ctx)))
        _, cert_no = voucher.person_of_token(ctx.conn, ctx.local_now, ctx.code, cert_no, psn_no)
        card_sn = None
    fast = store.Fast
    batch = fastsql.Batch(ctx.conn)
    sign_in = ctx.sign_in_pending
    if sign_in:
        batch.add(*sign_in_read(ctx))
    batch.add(fast.PERSON_LOCK, {"psn_no": psn_no})
    batch.add(fast.CARD, {"card_no": cert_no.upper()})
    if balances_of is not None:
        batch.add(
            fast.BALANCES, {"psn_no": psn_no, "year": ctx.today.year, "insutype": balances_of}
        )
    for prepared, params in then:
        batch.add(prepared, params)
    results = batch.run()
    if sign_in:
        check_sign_in(ctx, results.pop(0))
    persons, cards = results[0], results[1]
    person: Any = persons[0] if persons else None
    _check_person(ctx, person, psn_no)
    card = cards[0] if cards else None
    values: dict[str, Any] = {
        "psn_no": person.psn_no,
        "insuplc_admdvs": person.insuplc_admdvs,
        "legacy_scheme": person.legacy_scheme,
        "card_card_no": card.card_no if card else None,
        "card_card_sn": card.card_sn if card else None,
        "card_psn_no": card.psn_no if card else None,
        "card_status": card.status if card else None,
    }
    rest = results[2:]
    if balances_of is not None:
        row = rest.pop(0)[0]
        values.update(
            balance=row.balance,
            dedc_used=row.dedc_used,
            fund_paid=row.fund_paid,
            acc_psn_no=row.acc_psn_no,
        )
    view = _PersonView(**values)
    _check_card(view, cert_no, card_sn)
    return view, rest


def _check_card(person: Any, cert_no: str, card_sn: str | None) -> None:
    if person.card_card_no is None or person.card_psn_no != person.psn_no:
        raise Refusal(
            "card.unknown",
            f"社保卡 {cert_no} 不是该参保人的卡",
            f"card {cert_no} is not this person's card",
        )
    if card_sn and card_sn.upper() != person.card_card_sn:
        raise Refusal(
            "card.sn_mismatch",
            "卡识别码与卡号不符",
            "the card identification code does not match the card number",
        )
    cards.require_usable(cards.CardStatus(person.card_status), person.card_card_no)


class _PersonView:
    """The person, the card presented and the balances."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


@dataclass(frozen=True)
class EnrolmentInfo:
    """An enrolment with its paid periods."""

    id: int
    insutype: str
    psn_type: str
    status: str
    emp_name: str | None
    periods: tuple[PaidPeriod, ...]


def enrolments_of(conn: Connection, psn_no: str) -> list[EnrolmentInfo]:
    """A person's enrolments with their paid periods, one query."""
    return enrolments_from(fastsql.run(conn, store.Fast.ENROLMENTS, {"psn_no": psn_no}))


def enrolments_query(psn_no: str) -> tuple[fastsql.Prepared, Mapping[str, Any]]:
    """The statement of :func:`enrolments_of`, for a batch."""
    return store.Fast.ENROLMENTS, {"psn_no": psn_no}


def enrolments_from(rows: Iterable[Any]) -> list[EnrolmentInfo]:
    """The enrolments of the rows of ``store.ENROLMENTS``."""
    found: dict[int, tuple[Any, list[PaidPeriod]]] = {}
    for row in rows:
        entry = found.setdefault(row.id, (row, []))
        if row.first_month is not None:
            entry[1].append(
                PaidPeriod(
                    Month.from_yyyymm(row.first_month),
                    Month.from_yyyymm(row.last_month),
                    row.paid_on,
                )
            )
    return [
        EnrolmentInfo(r.id, r.insutype, r.psn_type, r.status, r.emp_name, tuple(periods))
        for r, periods in found.values()
    ]


def benefit_status(ctx: MessageContext, enrolment: EnrolmentInfo, month: Month) -> BenefitStatus:
    return benefits.benefit_status(
        enrolment.periods, month, ctx.policy.benefits, terminated=enrolment.status == "4"
    )


def filings_of(conn: Connection, psn_no: str) -> list[area.Filing]:
    return [
        area.Filing(r.kind, r.area, r.begin_date, r.end_date, r.dise_code)
        for r in conn.execute(store.FILINGS, {"psn_no": psn_no})
    ]


def require_care_allowed(
    ctx: MessageContext,
    person: Any,
    insutype: str,
    med_type: str,
    care_day: dt.date,
    dise_codg: str | None = None,
    *,
    enrolled: list[EnrolmentInfo] | None = None,
) -> EnrolmentInfo:
    """Rules e, a/b and f (and the special-disease filing) for care on ``care_day``
    (``enrolled``: the person's enrolments when read already). Benefits must run
    in the month of ``care_day`` and in the month the message is handled
    (rules/visits.py), whatever start time the terminal gave."""
    if enrolled is None:
        enrolled = enrolments_of(ctx.conn, person.psn_no)
    schemes.require_medical_use(
        person.legacy_scheme,
        {e.insutype for e in enrolled if e.status == "1"},
        ctx.policy.legacy_schemes,
    )
    enrolment = next((e for e in enrolled if e.insutype == insutype), None)
    if enrolment is None:
        raise Refusal(
            "enrolment.none",
            f"该参保人未参加险种 {insutype}",
            f"the person is not enrolled in insutype {insutype}",
        )
    if ctx.policy.fund(insutype) is None:
        raise Refusal(
            "enrolment.insutype",
            f"险种 {insutype} 不在本统筹区结算",
            f"insutype {insutype} is not settled in this area",
        )
    for month in visits.judged_months(care_day, ctx.today):
        benefits.require_active(benefit_status(ctx, enrolment, month), month, insutype)
    kind = area.area_kind(
        person.insuplc_admdvs,
        ctx.institution.admdvs,
        len(ctx.policy.city_prefix),
        len(ctx.policy.province_prefix),
    )
    if kind is area.AreaKind.LOCAL and med_type != "14":
        return enrolment
    filings = filings_of(ctx.conn, person.psn_no)
    area.require_area(
        person_admdvs=person.insuplc_admdvs,
        institution_admdvs=ctx.institution.admdvs,
        institution_offsite_designated=ctx.institution.offsite_designated,
        med_type=med_type,
        filings=filings,
        on=care_day,
        rules=ctx.policy.out_of_area,
        city_prefix_len=len(ctx.policy.city_prefix),
        province_prefix_len=len(ctx.policy.province_prefix),
    )
    area.require_special_disease(med_type, dise_codg, filings, care_day)
    return enrolment


def require_start_time(ctx: MessageContext, begntime: dt.datetime) -> dt.date:
    """A visit's start time: not in the future, not earlier than the policy
    allows (rules/visits.py); the day of care."""
    visits.require_start_time(begntime, ctx.local_now, ctx.policy.visits)
    return begntime.date()


def require_care_day(ctx: MessageContext, when: dt.datetime) -> dt.date:
    """Care cannot happen in the future (a minute of clock skew allowed)."""
    if when > ctx.local_now + dt.timedelta(minutes=1):
        raise Refusal(
            "input.future",
            f"就诊/费用时间 {when:%Y-%m-%d %H:%M:%S} 晚于当前时间",
            f"the time {when:%Y-%m-%d %H:%M:%S} is in the future",
        )
    return when.date()


def own_visit(ctx: MessageContext, mdtrt_id: str, psn_no: str) -> Any:
    """The institution's own visit ``mdtrt_id`` of ``psn_no``. (Changes to a visit
    are serialised by the lock on its person, taken first.)"""
    visit = ctx.conn.execute(store.VISIT, {"mdtrt_id": mdtrt_id}).first()
    if visit is None or visit.fixmedins_code != ctx.code or visit.psn_no != psn_no:
        raise Refusal(
            "visit.unknown",
            f"本机构无此就诊记录 mdtrt_id={mdtrt_id}（人员 {psn_no}）",
            f"this institution has no visit {mdtrt_id} of person {psn_no}",
        )
    ctx.mdtrt_id = visit.mdtrt_id
    return visit


def require_open(visit: Any) -> None:
    if visit.status != "open":
        raise Refusal(
            "visit.closed",
            f"就诊 {visit.mdtrt_id} 已撤销",
            f"visit {visit.mdtrt_id} is {visit.status}",
        )


def own_settlement(ctx: MessageContext, setl_id: str, *, lock: bool = False) -> Any:
    row = ctx.conn.execute(
        store.SETTLEMENT_LOCK if lock else store.SETTLEMENT, {"setl_id": setl_id}
    ).first()
    if row is None or row.fixmedins_code != ctx.code:
        raise Refusal(
            "settlement.unknown",
            f"本机构无此结算记录 setl_id={setl_id}",
            f"this institution has no settlement {setl_id}",
        )
    return row


def catalogue_entries(ctx: MessageContext, codes: Iterable[str]) -> dict[str, CatalogueEntry]:
    """The catalogue entries of ``codes``; refuses any code not in the catalogue."""
    wanted = sorted(set(codes))
    found = {
        r.list_code: CatalogueEntry(
            r.list_code, r.chrgitm_lv, r.selfpay_prop, r.price_cap, r.med_chrgitm_type
        )
        for r in ctx.conn.execute(store.CATALOGUE, {"codes": wanted})
    }
    missing = [c for c in wanted if c not in found]
    if missing:
        shown = ", ".join(missing[:5])
        raise Refusal(
            "catalogue.unknown",
            f"医保目录中无此编码：{shown}",
            f"not in the medical-insurance catalogue: {shown}",
        )
    return found


def account_and_accumulated(
    ctx: MessageContext, psn_no: str, insutype: str, year: int
) -> tuple[Decimal | None, Accumulated | None]:
    """The account balance (None: no account) and this year's accumulators (None:
    none yet). The caller holds the lock on the person's row."""
    row = ctx.conn.execute(
        store.BALANCES, {"psn_no": psn_no, "year": year, "insutype": insutype}
    ).one()
    accumulated = None if row.acc_psn_no is None else Accumulated(row.dedc_used, row.fund_paid)
    return row.balance, accumulated


def balances_from(row: Any) -> tuple[Decimal | None, Accumulated | None]:
    """The balance and accumulators of ``settlement_person(balances_of=...)``."""
    accumulated = None if row.acc_psn_no is None else Accumulated(row.dedc_used, row.fund_paid)
    return row.balance, accumulated


def visit_query(
    mdtrt_id: str, chrg_bchno: str | None
) -> tuple[fastsql.Prepared, Mapping[str, Any]]:
    """The institution's visit ``mdtrt_id`` and its open fee details (of one
    batch when ``chrg_bchno`` is given and not 0000): the statement, for a batch
    (see :func:`visit_from`)."""
    if chrg_bchno and chrg_bchno != "0000":
        return store.Fast.VISIT_WITH_OPEN_DETAILS_OF_BATCH, {
            "mdtrt_id": mdtrt_id,
            "chrg_bchno": chrg_bchno,
        }
    return store.Fast.VISIT_WITH_OPEN_DETAILS, {"mdtrt_id": mdtrt_id}


def visit_from(
    ctx: MessageContext, rows: Sequence[Any], mdtrt_id: str, psn_no: str
) -> tuple[Any, list[Any]]:
    """The visit and its open details from the rows of :func:`visit_query`;
    refuses a visit that is not the institution's own or not of ``psn_no``."""
    visit = rows[0] if rows else None
    if visit is None or visit.fixmedins_code != ctx.code or visit.psn_no != psn_no:
        raise Refusal(
            "visit.unknown",
            f"本机构无此就诊记录 mdtrt_id={mdtrt_id}（人员 {psn_no}）",
            f"this institution has no visit {mdtrt_id} of person {psn_no}",
        )
    ctx.mdtrt_id = visit.mdtrt_id
    details = [_Detail(r) for r in rows if r.d_id is not None]
    return visit, details


class _Detail:
    """A fee detail read through its d_* labels."""

    __slots__ = (
        "id",
        "feedetl_sn",
        "det_item_fee_sumamt",
        "pric_uplmt_amt",
        "selfpay_prop",
        "fulamt_ownpay_amt",
        "overlmt_amt",
        "preselfpay_amt",
        "inscp_scp_amt",
        "chrgitm_lv",
        "med_chrgitm_type",
    )

    def __init__(self, row: Any) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(row, f"d_{name}"))


def clr_type_of(med_type: str) -> str:
    """Clearing type: 11 outpatient, 41 pharmacy."""
    return "41" if med_type == "41" else "11"


AMOUNTS = (
    "medfee_sumamt",
    "fulamt_ownpay_amt",
    "overlmt_selfpay",
    "preselfpay_amt",
    "inscp_scp_amt",
    "act_pay_dedc",
    "hifp_pay",
    "pool_prop_selfpay",
    "fund_pay_sumamt",
    "psn_part_amt",
    "acct_pay",
    "psn_cash_pay",
    "balc",
)


def setlinfo_from_calc(
    calc: SettlementCalc, *, mdtrt_id: str | None, psn_no: str, insutype: str, med_type: str
) -> dict[str, Any]:
    """setlinfo of a calculation that is not booked (2206, 2101)."""
    info: dict[str, Any] = {
        "setl_id": None,
        "mdtrt_id": mdtrt_id,
        "psn_no": psn_no,
        "insutype": insutype,
        "med_type": med_type,
        "clr_type": clr_type_of(med_type),
    }
    for name in AMOUNTS:
        info[name] = getattr(calc, name)
    info["hosp_part_amt"] = ZERO
    info["pool_prop"] = calc.pool_ratio
    return info


def setlinfo_from_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """setlinfo of a booked settlement or cancellation (2207, 2208, 2102, 2103, 5203)."""
    info: dict[str, Any] = {
        "setl_id": row["setl_id"],
        "mdtrt_id": row["mdtrt_id"],
        "psn_no": row["psn_no"],
        "insutype": row["insutype"],
        "med_type": row["med_type"],
        "clr_type": row["clr_type"],
    }
    for name in AMOUNTS:
        info[name] = row[name]
    info["hosp_part_amt"] = ZERO
    info["pool_prop"] = row["pool_ratio"]
    info["medins_setl_id"] = row["msgid"]
    info["setl_time"] = f"{row['setl_time']:%Y-%m-%d %H:%M:%S}"
    info["refd_setl_flag"] = "1" if row["kind"] == "cancel" else "0"
    info["orig_setl_id"] = row["orig_setl_id"]
    info["setl_stas"] = row["status"]
    return info


def setldetail(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """setldetail: one row per fund that paid (the pooled fund here)."""
    return [
        {
            "fund_pay_type": row["fund_pay_type"],
            "inscp_scp_amt": row["inscp_scp_amt"],
            "crt_payb_lmt_amt": row["crt_payb_lmt_amt"],
            "fund_payamt": row["hifp_pay"],
        }
    ]


def calc_detail(calc: SettlementCalc) -> list[dict[str, Any]]:
    return setldetail(
        {
            "fund_pay_type": calc.fund_pay_type,
            "inscp_scp_amt": calc.inscp_scp_amt,
            "crt_payb_lmt_amt": calc.crt_payb_lmt_amt,
            "hifp_pay": calc.hifp_pay,
        }
    )
