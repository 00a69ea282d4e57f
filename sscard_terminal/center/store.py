"""Pre-built SQL statements of the message pipeline (SQLAlchemy Core).

The national transactions run on a plain :class:`~sqlalchemy.engine.Connection`
with these statements, built once with bound parameters, so that a message
costs a few dozen microseconds of SQL each and no ORM bookkeeping; the ORM
classes of :mod:`sscard_terminal.center.models` define the tables and serve
the admin side and the seeding. Rows come back with the models' column types
(Decimal money, dates), so code reads ``row.balance`` as it would read an
object's attribute. ``*_LOCK`` variants take row locks on PostgreSQL
(``FOR UPDATE``) and are plain reads on SQLite, whose transactions hold the
write lock from their start.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Boolean, Integer, Table, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.dml import Update

from sscard_terminal.center import models
from sscard_terminal.center.fastsql import Prepared

__all__ = ["Fast", "T"]


def _table(model: type[models.Base]) -> Table:
    return cast(Table, model.__table__)


class T:
    """The tables."""

    persons = _table(models.Person)
    enrolments = _table(models.Enrolment)
    contributions = _table(models.Contribution)
    accounts = _table(models.Account)
    cards = _table(models.Card)
    institutions = _table(models.Institution)
    filings = _table(models.Filing)
    catalogue = _table(models.CatalogueItem)
    visits = _table(models.Visit)
    fee_details = _table(models.FeeDetail)
    settlements = _table(models.Settlement)
    settlement_items = _table(models.SettlementItem)
    accumulators = _table(models.Accumulator)
    sign_ins = _table(models.SignIn)
    journal = _table(models.JournalEntry)
    claims = _table(models.SporadicClaim)


P, E, C, A, K = T.persons, T.enrolments, T.contributions, T.accounts, T.cards
V, F, S, SI, ACC = T.visits, T.fee_details, T.settlements, T.settlement_items, T.accumulators
J, SIGN, INST, FIL, CAT = T.journal, T.sign_ins, T.institutions, T.filings, T.catalogue

INSTITUTION = select(INST).where(INST.c.fixmedins_code == bindparam("code"))

#: the whole person (1101, replay); the hot paths read only what they need
PERSON = select(P).where(P.c.psn_no == bindparam("psn_no"))
PERSON_BY_ID = select(P).where(P.c.id_number == bindparam("id_number"))
_PERSON_BRIEF = (P.c.psn_no, P.c.insuplc_admdvs, P.c.legacy_scheme)
PERSON_BRIEF = select(*_PERSON_BRIEF).where(P.c.psn_no == bindparam("psn_no"))
PERSON_BRIEF_LOCK = PERSON_BRIEF.with_for_update()
CARD = select(K).where(K.c.card_no == bindparam("card_no"))

ENROLMENTS = (
    select(
        E.c.id,
        E.c.insutype,
        E.c.psn_type,
        E.c.status,
        E.c.emp_name,
        C.c.first_month,
        C.c.last_month,
        C.c.paid_on,
    )
    .select_from(E.outerjoin(C, C.c.enrolment_id == E.c.id))
    .where(E.c.psn_no == bindparam("psn_no"))
    .order_by(E.c.insutype, C.c.first_month)
)

FILINGS = select(FIL).where(FIL.c.psn_no == bindparam("psn_no")).order_by(FIL.c.begin_date)

ACCOUNT = select(A.c.balance).where(A.c.psn_no == bindparam("psn_no"))
#: the balance and this year's accumulators in one round trip (the person's row
#: is locked by then: every change of a person's money locks the person first)
BALANCES = (
    select(
        A.c.balance,
        ACC.c.dedc_used,
        ACC.c.fund_paid,
        ACC.c.psn_no.label("acc_psn_no"),
    )
    .select_from(
        P.outerjoin(A, A.c.psn_no == P.c.psn_no).outerjoin(
            ACC,
            (ACC.c.psn_no == P.c.psn_no)
            & (ACC.c.year == bindparam("year"))
            & (ACC.c.insutype == bindparam("insutype")),
        )
    )
    .where(P.c.psn_no == bindparam("psn_no"))
)
SET_BALANCE = (
    update(A).where(A.c.psn_no == bindparam("b_psn_no")).values(balance=bindparam("balance"))
)

SET_ACCUMULATOR = (
    update(ACC)
    .where(
        ACC.c.psn_no == bindparam("b_psn_no"),
        ACC.c.year == bindparam("b_year"),
        ACC.c.insutype == bindparam("b_insutype"),
    )
    .values(dedc_used=bindparam("dedc_used"), fund_paid=bindparam("fund_paid"))
)
NEW_ACCUMULATOR = insert(ACC)

CATALOGUE = select(CAT).where(CAT.c.list_code.in_(bindparam("codes", expanding=True)))

VISIT = select(
    V.c.mdtrt_id,
    V.c.fixmedins_code,
    V.c.psn_no,
    V.c.kind,
    V.c.insutype,
    V.c.med_type,
    V.c.begntime,
    V.c.status,
    V.c.ipt_otp_no,
    V.c.dise_codg,
).where(V.c.mdtrt_id == bindparam("mdtrt_id"))
NEW_VISIT = insert(V)
SET_VISIT_STATUS = (
    update(V).where(V.c.mdtrt_id == bindparam("b_mdtrt_id")).values(status=bindparam("status"))
)
SET_VISIT_INFO = (
    update(V)
    .where(V.c.mdtrt_id == bindparam("b_mdtrt_id"))
    .values(
        med_type=bindparam("med_type"),
        dise_codg=bindparam("dise_codg"),
        dise_name=bindparam("dise_name"),
    )
)
SET_VISIT_MED_TYPE = (
    update(V).where(V.c.mdtrt_id == bindparam("b_mdtrt_id")).values(med_type=bindparam("med_type"))
)

_SPLIT = (
    F.c.id,
    F.c.feedetl_sn,
    F.c.det_item_fee_sumamt,
    F.c.pric_uplmt_amt,
    F.c.selfpay_prop,
    F.c.fulamt_ownpay_amt,
    F.c.overlmt_amt,
    F.c.preselfpay_amt,
    F.c.inscp_scp_amt,
    F.c.chrgitm_lv,
    F.c.med_chrgitm_type,
)
OPEN_DETAILS = (
    select(*_SPLIT)
    .where(F.c.mdtrt_id == bindparam("mdtrt_id"), F.c.status == "open")
    .order_by(F.c.id)
)
_VISIT_COLUMNS = (
    V.c.mdtrt_id,
    V.c.fixmedins_code,
    V.c.psn_no,
    V.c.kind,
    V.c.insutype,
    V.c.med_type,
    V.c.begntime,
    V.c.status,
    V.c.ipt_otp_no,
    V.c.dise_codg,
)
_DETAIL_LABELLED = tuple(c.label(f"d_{c.name}") for c in _SPLIT)
#: a visit and its open fee details (d_* columns; one row with d_id None when none)
VISIT_WITH_OPEN_DETAILS = (
    select(*_VISIT_COLUMNS, *_DETAIL_LABELLED)
    .select_from(V.outerjoin(F, (F.c.mdtrt_id == V.c.mdtrt_id) & (F.c.status == "open")))
    .where(V.c.mdtrt_id == bindparam("mdtrt_id"))
    .order_by(F.c.id)
)
VISIT_WITH_OPEN_DETAILS_OF_BATCH = (
    select(*_VISIT_COLUMNS, *_DETAIL_LABELLED)
    .select_from(
        V.outerjoin(
            F,
            (F.c.mdtrt_id == V.c.mdtrt_id)
            & (F.c.status == "open")
            & (F.c.chrg_bchno == bindparam("chrg_bchno")),
        )
    )
    .where(V.c.mdtrt_id == bindparam("mdtrt_id"))
    .order_by(F.c.id)
)
LIVE_DETAILS = select(F.c.id, F.c.feedetl_sn, F.c.status, F.c.chrg_bchno).where(
    F.c.mdtrt_id == bindparam("mdtrt_id"), F.c.status != "withdrawn"
)
NEW_DETAIL = insert(F)
SETTLE_DETAILS = (
    update(F)
    .where(F.c.id.in_(bindparam("ids", expanding=True)))
    .values(status="settled", setl_id=bindparam("setl_id"))
)
OPEN_DETAILS_AGAIN = (
    update(F)
    .where(F.c.id.in_(bindparam("ids", expanding=True)))
    .values(status="open", setl_id=None)
)
WITHDRAW_DETAILS = (
    update(F).where(F.c.id.in_(bindparam("ids", expanding=True))).values(status="withdrawn")
)
DETAILS_OF_SETTLEMENT = (
    select(F.c.id, F.c.status, F.c.setl_id)
    .select_from(F.join(SI, SI.c.fee_detail_id == F.c.id))
    .where(SI.c.setl_id == bindparam("setl_id"))
)

SETTLEMENT = select(S).where(S.c.setl_id == bindparam("setl_id"))
SETTLEMENT_LOCK = SETTLEMENT.with_for_update()
VALID_SETTLEMENTS_OF_VISIT = select(S.c.setl_id).where(
    S.c.mdtrt_id == bindparam("mdtrt_id"), S.c.kind == "settle", S.c.status == "valid"
)
LATEST_SETTLEMENT_OF_VISIT = (
    select(S)
    .where(S.c.mdtrt_id == bindparam("mdtrt_id"))
    .order_by(S.c.setl_time.desc(), S.c.kind.desc())
    .limit(1)
)
NEW_SETTLEMENT = insert(S)
NEW_SETTLEMENT_ITEM = insert(SI)
SET_SETTLEMENT_STATUS = (
    update(S).where(S.c.setl_id == bindparam("b_setl_id")).values(status=bindparam("status"))
)

SIGN_IN = select(SIGN.c.fixmedins_code, SIGN.c.opter, SIGN.c.sign_date, SIGN.c.signed_out_at).where(
    SIGN.c.sign_no == bindparam("sign_no")
)
NEW_SIGN_IN = insert(SIGN)
SIGN_OUT = (
    update(SIGN)
    .where(SIGN.c.sign_no == bindparam("b_sign_no"))
    .values(signed_out_at=bindparam("signed_out_at"))
)

JOURNAL = select(J).where(J.c.fixmedins_code == bindparam("code"), J.c.msgid == bindparam("msgid"))
JOURNAL_LOCK = JOURNAL.with_for_update()
NEW_JOURNAL = insert(J)
SET_REVERSED_BY = (
    update(J).where(J.c.id == bindparam("b_id")).values(reversed_by=bindparam("reversed_by"))
)

SPECIAL_FILINGS = (
    select(FIL)
    .where(FIL.c.psn_no == bindparam("psn_no"), FIL.c.kind == "special_disease")
    .order_by(FIL.c.begin_date)
)


# -- the settlement hot path (sscard_terminal.center.fastsql) ---------------------------------
def _all_but(table: Table, *skip: str) -> list[str]:
    return [c.key for c in table.c if c.key not in skip]


def _book_postgresql() -> Update:
    """PostgreSQL: the writes of a settlement (``transactions.booking.book``) as one
    statement with data-modifying CTEs: the settlement, its items, the fee
    details settled (by id), this year's accumulators (upserted) and the balance
    (when ``set_balance``). Parameters: ``s_<column>`` of the settlement,
    ``detail_ids``, ``acc_dedc_used``, ``acc_fund_paid``, ``new_balance``,
    ``set_balance``. (All parts see the same snapshot; none reads what another
    writes, and the foreign keys are checked at the end of the statement.)"""
    setl_id = bindparam("s_setl_id", type_=S.c.setl_id.type)
    psn_no = bindparam("s_psn_no", type_=S.c.psn_no.type)
    ids = bindparam("detail_ids", type_=ARRAY(Integer))
    settlement = insert(S).values({c.key: bindparam(f"s_{c.key}", type_=c.type) for c in S.c})
    items = insert(SI).from_select(["setl_id", "fee_detail_id"], select(setl_id, func.unnest(ids)))
    settled = update(F).where(F.c.id == func.any(ids)).values(status="settled", setl_id=setl_id)
    upsert = postgresql.insert(ACC).values(
        psn_no=psn_no,
        year=bindparam("s_year", type_=ACC.c.year.type),
        insutype=bindparam("s_insutype", type_=ACC.c.insutype.type),
        dedc_used=bindparam("acc_dedc_used", type_=ACC.c.dedc_used.type),
        fund_paid=bindparam("acc_fund_paid", type_=ACC.c.fund_paid.type),
    )
    accumulated = upsert.on_conflict_do_update(
        index_elements=[ACC.c.psn_no, ACC.c.year, ACC.c.insutype],
        set_={"dedc_used": upsert.excluded.dedc_used, "fund_paid": upsert.excluded.fund_paid},
    )
    balance = (
        update(A)
        .where(A.c.psn_no == psn_no, bindparam("set_balance", type_=Boolean))
        .values(balance=bindparam("new_balance", type_=A.c.balance.type))
    )
    return balance.add_cte(
        settlement.cte("new_settlement"),
        items.cte("new_items"),
        settled.cte("settled_details"),
        accumulated.cte("accumulated"),
    )


class Fast:
    """Statements of the settlement hot path, run by :mod:`~sscard_terminal.center.fastsql`
    (on the driver, several in one round trip)."""

    SIGN_IN = Prepared(SIGN_IN)
    PERSON_LOCK = Prepared(PERSON_BRIEF_LOCK)
    CARD = Prepared(CARD)
    BALANCES = Prepared(BALANCES)
    ENROLMENTS = Prepared(ENROLMENTS)
    VISIT_WITH_OPEN_DETAILS = Prepared(VISIT_WITH_OPEN_DETAILS)
    VISIT_WITH_OPEN_DETAILS_OF_BATCH = Prepared(VISIT_WITH_OPEN_DETAILS_OF_BATCH)
    NEW_SETTLEMENT = Prepared(NEW_SETTLEMENT, keys=_all_but(S))
    NEW_SETTLEMENT_ITEM = Prepared(NEW_SETTLEMENT_ITEM, keys=["setl_id", "fee_detail_id"])
    #: the fee details linked to a settlement (its items, inserted before) become settled
    SETTLE_LINKED_DETAILS = Prepared(
        update(F)
        .where(F.c.id.in_(select(SI.c.fee_detail_id).where(SI.c.setl_id == bindparam("b_setl_id"))))
        .values(status="settled", setl_id=bindparam("new_setl_id"))
    )
    SET_BALANCE = Prepared(SET_BALANCE)
    SET_ACCUMULATOR = Prepared(SET_ACCUMULATOR)
    NEW_ACCUMULATOR = Prepared(
        NEW_ACCUMULATOR, keys=["psn_no", "year", "insutype", "dedc_used", "fund_paid"]
    )
    SET_VISIT_MED_TYPE = Prepared(SET_VISIT_MED_TYPE)
    BOOK_POSTGRESQL = Prepared(_book_postgresql())
    JOURNAL = Prepared(JOURNAL)
    NEW_JOURNAL = Prepared(NEW_JOURNAL, keys=_all_but(J, "id"))
