"""The initial schema of the settlement center.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalogue",
        sa.Column("list_code", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("chrgitm_lv", sa.String(length=2), nullable=False),
        sa.Column("selfpay_prop", sa.String(length=24), nullable=True),
        sa.Column("price_cap", sa.BigInteger(), nullable=True),
        sa.Column("med_chrgitm_type", sa.String(length=6), nullable=False),
        sa.PrimaryKeyConstraint("list_code"),
    )
    op.create_table(
        "institutions",
        sa.Column("fixmedins_code", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("level", sa.String(length=1), nullable=False),
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.Column("designated", sa.Boolean(), nullable=False),
        sa.Column("offsite_designated", sa.Boolean(), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("fixmedins_code"),
    )
    op.create_table(
        "journal",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("fixmedins_code", sa.String(length=12), nullable=False),
        sa.Column("msgid", sa.String(length=30), nullable=False),
        sa.Column("infno", sa.String(length=4), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("request_digest", sa.String(length=64), nullable=False),
        sa.Column("psn_no", sa.String(length=30), nullable=True),
        sa.Column("infcode", sa.Integer(), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("setl_id", sa.String(length=30), nullable=True),
        sa.Column("mdtrt_id", sa.String(length=30), nullable=True),
        sa.Column("reversed_by", sa.String(length=30), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("fixmedins_code", "msgid", name="uq_journal_msgid"),
    )
    op.create_table(
        "persons",
        sa.Column("psn_no", sa.String(length=30), nullable=False),
        sa.Column("id_number", sa.String(length=18), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("sex", sa.String(length=1), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("naty", sa.String(length=2), nullable=False),
        sa.Column("birthplace", sa.String(length=6), nullable=False),
        sa.Column("insuplc_admdvs", sa.String(length=6), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("landline", sa.String(length=20), nullable=True),
        sa.Column("address", sa.String(length=200), nullable=True),
        sa.Column("postcode", sa.String(length=6), nullable=True),
        sa.Column("guardian_psn_no", sa.String(length=30), nullable=True),
        sa.Column("guardian_relation", sa.String(length=20), nullable=True),
        sa.Column("guardian_proof", sa.String(length=40), nullable=True),
        sa.Column("legacy_scheme", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["guardian_psn_no"],
            ["persons.psn_no"],
        ),
        sa.PrimaryKeyConstraint("psn_no"),
        sa.UniqueConstraint("id_number"),
    )
    op.create_table(
        "accounts",
        sa.Column("psn_no", sa.String(length=30), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["psn_no"],
            ["persons.psn_no"],
        ),
        sa.PrimaryKeyConstraint("psn_no"),
    )
    op.create_table(
        "accumulators",
        sa.Column("psn_no", sa.String(length=30), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("insutype", sa.String(length=3), nullable=False),
        sa.Column("dedc_used", sa.BigInteger(), nullable=False),
        sa.Column("fund_paid", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["psn_no"],
            ["persons.psn_no"],
        ),
        sa.PrimaryKeyConstraint("psn_no", "year", "insutype"),
    )
    op.create_table(
        "cards",
        sa.Column("card_no", sa.String(length=9), nullable=False),
        sa.Column("card_sn", sa.String(length=32), nullable=False),
        sa.Column("psn_no", sa.String(length=30), nullable=False),
        sa.Column("serial", sa.BigInteger(), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_changed_at", sa.DateTime(), nullable=False),
        sa.Column("loss_reported_on", sa.Date(), nullable=True),
        sa.Column("replacement_applied_on", sa.Date(), nullable=True),
        sa.Column("replaces_card_no", sa.String(length=9), nullable=True),
        sa.Column("fin_acct_activated", sa.Boolean(), nullable=False),
        sa.Column("bank", sa.String(length=40), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("first_card", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["psn_no"],
            ["persons.psn_no"],
        ),
        sa.PrimaryKeyConstraint("card_no"),
        sa.UniqueConstraint("card_sn"),
    )
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cards_psn_no"), ["psn_no"], unique=False)

    op.create_table(
        "enrolments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("psn_no", sa.String(length=30), nullable=False),
        sa.Column("insutype", sa.String(length=3), nullable=False),
        sa.Column("psn_type", sa.String(length=6), nullable=False),
        sa.Column("status", sa.String(length=1), nullable=False),
        sa.Column("emp_name", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["psn_no"],
            ["persons.psn_no"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("psn_no", "insutype", name="uq_enrolments_psn_insutype"),
    )
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_enrolments_psn_no"), ["psn_no"], unique=False)

    op.create_table(
        "filings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("psn_no", sa.String(length=30), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("area", sa.String(length=6), nullable=True),
        sa.Column("dise_code", sa.String(length=30), nullable=True),
        sa.Column("dise_name", sa.String(length=100), nullable=True),
        sa.Column("begin_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["psn_no"],
            ["persons.psn_no"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("filings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_filings_psn_no"), ["psn_no"], unique=False)

    op.create_table(
        "sign_ins",
        sa.Column("sign_no", sa.String(length=30), nullable=False),
        sa.Column("fixmedins_code", sa.String(length=12), nullable=False),
        sa.Column("opter", sa.String(length=30), nullable=False),
        sa.Column("sign_date", sa.Date(), nullable=False),
        sa.Column("signed_in_at", sa.DateTime(), nullable=False),
        sa.Column("signed_out_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["fixmedins_code"],
            ["institutions.fixmedins_code"],
        ),
        sa.PrimaryKeyConstraint("sign_no"),
    )
    op.create_table(
        "sporadic_claims",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("psn_no", sa.String(length=30), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("bill_date", sa.Date(), nullable=False),
        sa.Column("claim_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["psn_no"],
            ["persons.psn_no"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sporadic_claims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sporadic_claims_psn_no"), ["psn_no"], unique=False)

    op.create_table(
        "visits",
        sa.Column("mdtrt_id", sa.String(length=30), nullable=False),
        sa.Column("fixmedins_code", sa.String(length=12), nullable=False),
        sa.Column("psn_no", sa.String(length=30), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("insutype", sa.String(length=3), nullable=False),
        sa.Column("med_type", sa.String(length=2), nullable=False),
        sa.Column("begntime", sa.DateTime(), nullable=False),
        sa.Column("ipt_otp_no", sa.String(length=30), nullable=True),
        sa.Column("mdtrt_cert_type", sa.String(length=2), nullable=False),
        sa.Column("card_no", sa.String(length=9), nullable=True),
        sa.Column("atddr_no", sa.String(length=30), nullable=True),
        sa.Column("dr_name", sa.String(length=50), nullable=True),
        sa.Column("dept_code", sa.String(length=30), nullable=True),
        sa.Column("dept_name", sa.String(length=100), nullable=True),
        sa.Column("caty", sa.String(length=30), nullable=True),
        sa.Column("dise_codg", sa.String(length=30), nullable=True),
        sa.Column("dise_name", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("msgid", sa.String(length=30), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["fixmedins_code"],
            ["institutions.fixmedins_code"],
        ),
        sa.ForeignKeyConstraint(
            ["psn_no"],
            ["persons.psn_no"],
        ),
        sa.PrimaryKeyConstraint("mdtrt_id"),
    )
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_visits_fixmedins_code"), ["fixmedins_code"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_visits_psn_no"), ["psn_no"], unique=False)

    op.create_table(
        "contributions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("enrolment_id", sa.Integer(), nullable=False),
        sa.Column("first_month", sa.Integer(), nullable=False),
        sa.Column("last_month", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enrolment_id"],
            ["enrolments.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("contributions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contributions_enrolment_id"), ["enrolment_id"], unique=False
        )

    op.create_table(
        "fee_details",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("mdtrt_id", sa.String(length=30), nullable=False),
        sa.Column("feedetl_sn", sa.String(length=30), nullable=False),
        sa.Column("chrg_bchno", sa.String(length=30), nullable=False),
        sa.Column("rxno", sa.String(length=30), nullable=True),
        sa.Column("fee_ocur_time", sa.DateTime(), nullable=False),
        sa.Column("med_list_codg", sa.String(length=50), nullable=False),
        sa.Column("medins_list_codg", sa.String(length=50), nullable=False),
        sa.Column("cnt", sa.String(length=24), nullable=False),
        sa.Column("pric", sa.String(length=24), nullable=False),
        sa.Column("det_item_fee_sumamt", sa.BigInteger(), nullable=False),
        sa.Column("pric_uplmt_amt", sa.BigInteger(), nullable=True),
        sa.Column("selfpay_prop", sa.String(length=24), nullable=False),
        sa.Column("fulamt_ownpay_amt", sa.BigInteger(), nullable=False),
        sa.Column("overlmt_amt", sa.BigInteger(), nullable=False),
        sa.Column("preselfpay_amt", sa.BigInteger(), nullable=False),
        sa.Column("inscp_scp_amt", sa.BigInteger(), nullable=False),
        sa.Column("chrgitm_lv", sa.String(length=2), nullable=False),
        sa.Column("med_chrgitm_type", sa.String(length=6), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("setl_id", sa.String(length=30), nullable=True),
        sa.Column("msgid", sa.String(length=30), nullable=False),
        sa.ForeignKeyConstraint(
            ["mdtrt_id"],
            ["visits.mdtrt_id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("fee_details", schema=None) as batch_op:
        batch_op.create_index("ix_fee_details_visit_sn", ["mdtrt_id", "feedetl_sn"], unique=False)

    op.create_table(
        "settlements",
        sa.Column("setl_id", sa.String(length=30), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("orig_setl_id", sa.String(length=30), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("mdtrt_id", sa.String(length=30), nullable=False),
        sa.Column("psn_no", sa.String(length=30), nullable=False),
        sa.Column("fixmedins_code", sa.String(length=12), nullable=False),
        sa.Column("insutype", sa.String(length=3), nullable=False),
        sa.Column("med_type", sa.String(length=2), nullable=False),
        sa.Column("clr_type", sa.String(length=2), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("medfee_sumamt", sa.BigInteger(), nullable=False),
        sa.Column("fulamt_ownpay_amt", sa.BigInteger(), nullable=False),
        sa.Column("overlmt_selfpay", sa.BigInteger(), nullable=False),
        sa.Column("preselfpay_amt", sa.BigInteger(), nullable=False),
        sa.Column("inscp_scp_amt", sa.BigInteger(), nullable=False),
        sa.Column("act_pay_dedc", sa.BigInteger(), nullable=False),
        sa.Column("hifp_pay", sa.BigInteger(), nullable=False),
        sa.Column("pool_prop_selfpay", sa.BigInteger(), nullable=False),
        sa.Column("fund_pay_sumamt", sa.BigInteger(), nullable=False),
        sa.Column("psn_part_amt", sa.BigInteger(), nullable=False),
        sa.Column("acct_pay", sa.BigInteger(), nullable=False),
        sa.Column("psn_cash_pay", sa.BigInteger(), nullable=False),
        sa.Column("balc", sa.BigInteger(), nullable=False),
        sa.Column("crt_payb_lmt_amt", sa.BigInteger(), nullable=False),
        sa.Column("pool_ratio", sa.String(length=24), nullable=False),
        sa.Column("fund_pay_type", sa.String(length=6), nullable=False),
        sa.Column("msgid", sa.String(length=30), nullable=False),
        sa.Column("setl_time", sa.DateTime(), nullable=False),
        sa.Column("setl_date", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["fixmedins_code"],
            ["institutions.fixmedins_code"],
        ),
        sa.ForeignKeyConstraint(
            ["mdtrt_id"],
            ["visits.mdtrt_id"],
        ),
        sa.ForeignKeyConstraint(
            ["psn_no"],
            ["persons.psn_no"],
        ),
        sa.PrimaryKeyConstraint("setl_id"),
    )
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.create_index(
            "ix_settlements_inst_date", ["fixmedins_code", "setl_date"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_settlements_mdtrt_id"), ["mdtrt_id"], unique=False)

    op.create_table(
        "settlement_items",
        sa.Column("setl_id", sa.String(length=30), nullable=False),
        sa.Column("fee_detail_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["fee_detail_id"],
            ["fee_details.id"],
        ),
        sa.ForeignKeyConstraint(
            ["setl_id"],
            ["settlements.setl_id"],
        ),
        sa.PrimaryKeyConstraint("setl_id", "fee_detail_id"),
    )


def downgrade() -> None:
    op.drop_table("settlement_items")
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settlements_mdtrt_id"))
        batch_op.drop_index("ix_settlements_inst_date")

    op.drop_table("settlements")
    with op.batch_alter_table("fee_details", schema=None) as batch_op:
        batch_op.drop_index("ix_fee_details_visit_sn")

    op.drop_table("fee_details")
    with op.batch_alter_table("contributions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contributions_enrolment_id"))

    op.drop_table("contributions")
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visits_psn_no"))
        batch_op.drop_index(batch_op.f("ix_visits_fixmedins_code"))

    op.drop_table("visits")
    with op.batch_alter_table("sporadic_claims", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sporadic_claims_psn_no"))

    op.drop_table("sporadic_claims")
    op.drop_table("sign_ins")
    with op.batch_alter_table("filings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_filings_psn_no"))

    op.drop_table("filings")
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enrolments_psn_no"))

    op.drop_table("enrolments")
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cards_psn_no"))

    op.drop_table("cards")
    op.drop_table("accumulators")
    op.drop_table("accounts")
    op.drop_table("persons")
    op.drop_table("journal")
    op.drop_table("institutions")
    op.drop_table("catalogue")
