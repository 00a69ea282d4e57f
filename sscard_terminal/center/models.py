"""The data model, as SQLAlchemy 2 declarative classes.

Money is stored as integer fen (:class:`Money`: BIGINT, Decimal in Python), so
that SQLite and PostgreSQL both keep it exact and sums in SQL stay exact.
Quantities and prices with up to 4 decimals, and ratios, are stored as decimal
text (:class:`DecimalText`). Months are integers YYYYMM. The schema itself is
created by the Alembic migrations in ``migrations/``, which a test compares
with these classes.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "Account",
    "Accumulator",
    "Base",
    "Card",
    "CatalogueItem",
    "Contribution",
    "DecimalText",
    "Enrolment",
    "FeeDetail",
    "Filing",
    "Institution",
    "JournalEntry",
    "Money",
    "Person",
    "Settlement",
    "SettlementItem",
    "SignIn",
    "SporadicClaim",
    "Visit",
]


class Money(TypeDecorator[Decimal]):
    """A Decimal amount with 2 places, stored as integer fen (BIGINT)."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        fen = Decimal(value).scaleb(2)
        integral = int(fen)
        if fen != integral:
            raise ValueError(f"amount {value} has more than 2 decimals")
        return integral

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(int(value)).scaleb(-2)


class DecimalText(TypeDecorator[Decimal]):
    """A Decimal stored as its text (exact on every database)."""

    impl = String(24)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        return None if value is None else format(Decimal(value), "f")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class Base(DeclarativeBase):
    pass


class Person(Base):
    """An insured person: identity, contact details, guardian for minors."""

    __tablename__ = "persons"

    psn_no: Mapped[str] = mapped_column(String(30), primary_key=True)
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    sex: Mapped[str] = mapped_column(String(1))
    birth_date: Mapped[dt.date] = mapped_column(Date)
    naty: Mapped[str] = mapped_column(String(2))
    birthplace: Mapped[str] = mapped_column(String(6))
    insuplc_admdvs: Mapped[str] = mapped_column(String(6))
    phone: Mapped[str | None] = mapped_column(String(20))
    landline: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(String(200))
    postcode: Mapped[str | None] = mapped_column(String(6))
    guardian_psn_no: Mapped[str | None] = mapped_column(ForeignKey("persons.psn_no"))
    guardian_relation: Mapped[str | None] = mapped_column(String(20))
    guardian_proof: Mapped[str | None] = mapped_column(String(40))
    legacy_scheme: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Enrolment(Base):
    """A person's enrolment in one insutype."""

    __tablename__ = "enrolments"
    __table_args__ = (UniqueConstraint("psn_no", "insutype", name="uq_enrolments_psn_insutype"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    psn_no: Mapped[str] = mapped_column(ForeignKey("persons.psn_no"), index=True)
    insutype: Mapped[str] = mapped_column(String(3))
    psn_type: Mapped[str] = mapped_column(String(6))
    status: Mapped[str] = mapped_column(String(1))  # 1 enrolled, 4 terminated
    emp_name: Mapped[str | None] = mapped_column(String(200))


class Contribution(Base):
    """Months with contributions paid, as an inclusive range YYYYMM..YYYYMM, in
    one payment made on ``paid_on`` (rules a and b count what was paid when)."""

    __tablename__ = "contributions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id"), index=True)
    first_month: Mapped[int] = mapped_column(Integer)
    last_month: Mapped[int] = mapped_column(Integer)
    paid_on: Mapped[dt.date] = mapped_column(Date)


class Account(Base):
    """A personal account (个人账户)."""

    __tablename__ = "accounts"

    psn_no: Mapped[str] = mapped_column(ForeignKey("persons.psn_no"), primary_key=True)
    balance: Mapped[Decimal] = mapped_column(Money)


class Card(Base):
    """A social security card and its status (rule c)."""

    __tablename__ = "cards"

    card_no: Mapped[str] = mapped_column(String(9), primary_key=True)
    card_sn: Mapped[str] = mapped_column(String(32), unique=True)
    psn_no: Mapped[str] = mapped_column(ForeignKey("persons.psn_no"), index=True)
    serial: Mapped[int] = mapped_column(BigInteger)
    issue_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    status_changed_at: Mapped[dt.datetime] = mapped_column(DateTime)
    #: a loss reported by telephone (12333) ahead of the formal report: the start
    #: of the loss for the replacement-period sporadic claim
    phone_loss_reported_on: Mapped[dt.date | None] = mapped_column(Date)
    loss_reported_on: Mapped[dt.date | None] = mapped_column(Date)
    replacement_applied_on: Mapped[dt.date | None] = mapped_column(Date)
    replaces_card_no: Mapped[str | None] = mapped_column(String(9))
    fin_acct_activated: Mapped[bool] = mapped_column(Boolean)
    bank: Mapped[str] = mapped_column(String(40))
    fee: Mapped[Decimal] = mapped_column(Money)
    first_card: Mapped[bool] = mapped_column(Boolean)


class Institution(Base):
    """A designated institution (定点医药机构) and its signing secret."""

    __tablename__ = "institutions"

    fixmedins_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10))  # hospital, pharmacy
    level: Mapped[str] = mapped_column(String(1))  # 0 unrated/pharmacy, 1..3
    admdvs: Mapped[str] = mapped_column(String(6))
    designated: Mapped[bool] = mapped_column(Boolean)
    offsite_designated: Mapped[bool] = mapped_column(Boolean)
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    #: the SM2 public key for signtype SM2, ``04`` + X + Y in hex
    sm2_public_key: Mapped[str | None] = mapped_column(String(130), default=None)
    #: x-tif gateway headers: off, also (with cainfo) or only
    gateway: Mapped[str] = mapped_column(String(4), default="off", server_default="off")
    #: the x-tif-paasid expected (None: the fixmedins_code)
    gateway_paasid: Mapped[str | None] = mapped_column(String(64), default=None)


class Filing(Base):
    """A filing: out-of-area care (offsite) or a special disease (special_disease)."""

    __tablename__ = "filings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    psn_no: Mapped[str] = mapped_column(ForeignKey("persons.psn_no"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    area: Mapped[str | None] = mapped_column(String(6))
    dise_code: Mapped[str | None] = mapped_column(String(30))
    dise_name: Mapped[str | None] = mapped_column(String(100))
    begin_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)


class CatalogueItem(Base):
    """A catalogue entry: drug or service, class A/B/C, price cap."""

    __tablename__ = "catalogue"

    list_code: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10))  # drug, service
    chrgitm_lv: Mapped[str] = mapped_column(String(2))
    selfpay_prop: Mapped[Decimal | None] = mapped_column(DecimalText)
    price_cap: Mapped[Decimal | None] = mapped_column(Money)
    med_chrgitm_type: Mapped[str] = mapped_column(String(6))


class Visit(Base):
    """A visit (就诊, mdtrt_id): outpatient registration or a pharmacy purchase."""

    __tablename__ = "visits"

    mdtrt_id: Mapped[str] = mapped_column(String(30), primary_key=True)
    fixmedins_code: Mapped[str] = mapped_column(
        ForeignKey("institutions.fixmedins_code"), index=True
    )
    psn_no: Mapped[str] = mapped_column(ForeignKey("persons.psn_no"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # outpatient, pharmacy
    insutype: Mapped[str] = mapped_column(String(3))
    med_type: Mapped[str] = mapped_column(String(2))
    begntime: Mapped[dt.datetime] = mapped_column(DateTime)
    ipt_otp_no: Mapped[str | None] = mapped_column(String(30))
    mdtrt_cert_type: Mapped[str] = mapped_column(String(2))
    card_no: Mapped[str | None] = mapped_column(String(9))
    atddr_no: Mapped[str | None] = mapped_column(String(30))
    dr_name: Mapped[str | None] = mapped_column(String(50))
    dept_code: Mapped[str | None] = mapped_column(String(30))
    dept_name: Mapped[str | None] = mapped_column(String(100))
    caty: Mapped[str | None] = mapped_column(String(30))
    dise_codg: Mapped[str | None] = mapped_column(String(30))
    dise_name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10))  # open, cancelled, reversed
    msgid: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class FeeDetail(Base):
    """A fee detail of a visit and how it splits (rule h)."""

    __tablename__ = "fee_details"
    __table_args__ = (Index("ix_fee_details_visit_sn", "mdtrt_id", "feedetl_sn"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    mdtrt_id: Mapped[str] = mapped_column(ForeignKey("visits.mdtrt_id"))
    feedetl_sn: Mapped[str] = mapped_column(String(30))
    chrg_bchno: Mapped[str] = mapped_column(String(30))
    rxno: Mapped[str | None] = mapped_column(String(30))
    fee_ocur_time: Mapped[dt.datetime] = mapped_column(DateTime)
    med_list_codg: Mapped[str] = mapped_column(String(50))
    medins_list_codg: Mapped[str] = mapped_column(String(50))
    cnt: Mapped[Decimal] = mapped_column(DecimalText)
    pric: Mapped[Decimal] = mapped_column(DecimalText)
    det_item_fee_sumamt: Mapped[Decimal] = mapped_column(Money)
    pric_uplmt_amt: Mapped[Decimal | None] = mapped_column(Money)
    selfpay_prop: Mapped[Decimal] = mapped_column(DecimalText)
    fulamt_ownpay_amt: Mapped[Decimal] = mapped_column(Money)
    overlmt_amt: Mapped[Decimal] = mapped_column(Money)
    preselfpay_amt: Mapped[Decimal] = mapped_column(Money)
    inscp_scp_amt: Mapped[Decimal] = mapped_column(Money)
    chrgitm_lv: Mapped[str] = mapped_column(String(2))
    med_chrgitm_type: Mapped[str] = mapped_column(String(6))
    status: Mapped[str] = mapped_column(String(10))  # open, settled, withdrawn
    setl_id: Mapped[str | None] = mapped_column(String(30))
    msgid: Mapped[str] = mapped_column(String(30))


class Settlement(Base):
    """A settlement (kind settle) or its cancellation (kind cancel, negative amounts)."""

    __tablename__ = "settlements"
    __table_args__ = (Index("ix_settlements_inst_date", "fixmedins_code", "setl_date"),)

    setl_id: Mapped[str] = mapped_column(String(30), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # settle, cancel
    orig_setl_id: Mapped[str | None] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(10))  # valid, cancelled, reversed
    mdtrt_id: Mapped[str] = mapped_column(ForeignKey("visits.mdtrt_id"), index=True)
    psn_no: Mapped[str] = mapped_column(ForeignKey("persons.psn_no"))
    fixmedins_code: Mapped[str] = mapped_column(ForeignKey("institutions.fixmedins_code"))
    insutype: Mapped[str] = mapped_column(String(3))
    med_type: Mapped[str] = mapped_column(String(2))
    clr_type: Mapped[str] = mapped_column(String(2))
    year: Mapped[int] = mapped_column(Integer)
    medfee_sumamt: Mapped[Decimal] = mapped_column(Money)
    fulamt_ownpay_amt: Mapped[Decimal] = mapped_column(Money)
    overlmt_selfpay: Mapped[Decimal] = mapped_column(Money)
    preselfpay_amt: Mapped[Decimal] = mapped_column(Money)
    inscp_scp_amt: Mapped[Decimal] = mapped_column(Money)
    act_pay_dedc: Mapped[Decimal] = mapped_column(Money)
    hifp_pay: Mapped[Decimal] = mapped_column(Money)
    pool_prop_selfpay: Mapped[Decimal] = mapped_column(Money)
    fund_pay_sumamt: Mapped[Decimal] = mapped_column(Money)
    psn_part_amt: Mapped[Decimal] = mapped_column(Money)
    acct_pay: Mapped[Decimal] = mapped_column(Money)
    psn_cash_pay: Mapped[Decimal] = mapped_column(Money)
    balc: Mapped[Decimal] = mapped_column(Money)
    crt_payb_lmt_amt: Mapped[Decimal] = mapped_column(Money)
    pool_ratio: Mapped[Decimal] = mapped_column(DecimalText)
    fund_pay_type: Mapped[str] = mapped_column(String(6))
    msgid: Mapped[str] = mapped_column(String(30))
    setl_time: Mapped[dt.datetime] = mapped_column(DateTime)
    setl_date: Mapped[dt.date] = mapped_column(Date)


class SettlementItem(Base):
    """Which fee details a settlement consumed (kept after cancellation)."""

    __tablename__ = "settlement_items"

    setl_id: Mapped[str] = mapped_column(ForeignKey("settlements.setl_id"), primary_key=True)
    fee_detail_id: Mapped[int] = mapped_column(ForeignKey("fee_details.id"), primary_key=True)


class Accumulator(Base):
    """This year's deductible paid and pooled fund paid, per person and insutype."""

    __tablename__ = "accumulators"

    psn_no: Mapped[str] = mapped_column(ForeignKey("persons.psn_no"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    insutype: Mapped[str] = mapped_column(String(3), primary_key=True)
    dedc_used: Mapped[Decimal] = mapped_column(Money)
    fund_paid: Mapped[Decimal] = mapped_column(Money)


class SignIn(Base):
    """A terminal's sign-in (9001): valid until 9002 or the end of its day."""

    __tablename__ = "sign_ins"

    sign_no: Mapped[str] = mapped_column(String(30), primary_key=True)
    fixmedins_code: Mapped[str] = mapped_column(ForeignKey("institutions.fixmedins_code"))
    opter: Mapped[str] = mapped_column(String(30))
    sign_date: Mapped[dt.date] = mapped_column(Date)
    signed_in_at: Mapped[dt.datetime] = mapped_column(DateTime)
    signed_out_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class JournalEntry(Base):
    """Every message that reached the business layer, with its answer.

    Request and answer are stored with ID numbers and names masked; msgid is
    unique per institution, and a repeated msgid gets ``response`` back.
    """

    __tablename__ = "journal"
    __table_args__ = (UniqueConstraint("fixmedins_code", "msgid", name="uq_journal_msgid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fixmedins_code: Mapped[str] = mapped_column(String(12))
    msgid: Mapped[str] = mapped_column(String(30))
    infno: Mapped[str] = mapped_column(String(4))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime)
    request_digest: Mapped[str] = mapped_column(String(64))
    psn_no: Mapped[str | None] = mapped_column(String(30))
    infcode: Mapped[int] = mapped_column(Integer)
    request: Mapped[str] = mapped_column(Text)
    response: Mapped[str] = mapped_column(Text)
    setl_id: Mapped[str | None] = mapped_column(String(30))
    mdtrt_id: Mapped[str | None] = mapped_column(String(30))
    reversed_by: Mapped[str | None] = mapped_column(String(30))


class SporadicClaim(Base):
    """A sporadic reimbursement claim that was accepted (rules c and d)."""

    __tablename__ = "sporadic_claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    psn_no: Mapped[str] = mapped_column(ForeignKey("persons.psn_no"), index=True)
    reason: Mapped[str] = mapped_column(String(20))
    #: the institution that issued the bill and the kind of care (13 emergency)
    fixmedins_code: Mapped[str | None] = mapped_column(String(12))
    med_type: Mapped[str | None] = mapped_column(String(2))
    bill_date: Mapped[dt.date] = mapped_column(Date)
    claim_date: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Voucher(Base):
    """An electronic medical-insurance voucher (医保电子凭证, integration.md):
    the QR code a person's phone shows, and the ``ecToken`` an institution's
    local voucher service exchanges it for (``ec.query``). Only digests of the
    code and the token are kept: the table cannot be used to present either."""

    __tablename__ = "vouchers"

    code_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    psn_no: Mapped[str] = mapped_column(ForeignKey("persons.psn_no"), index=True)
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime)
    code_expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    token_seconds: Mapped[int] = mapped_column(Integer)
    token_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    exchanged_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    fixmedins_code: Mapped[str | None] = mapped_column(String(12))
    spent_msgid: Mapped[str | None] = mapped_column(String(30))
