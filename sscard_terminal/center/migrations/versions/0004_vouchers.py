"""Electronic medical-insurance vouchers: the ``vouchers`` table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "vouchers",
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("psn_no", sa.String(length=30), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("code_expires_at", sa.DateTime(), nullable=False),
        sa.Column("token_seconds", sa.Integer(), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=True),
        sa.Column("token_expires_at", sa.DateTime(), nullable=True),
        sa.Column("exchanged_at", sa.DateTime(), nullable=True),
        sa.Column("fixmedins_code", sa.String(length=12), nullable=True),
        sa.Column("spent_msgid", sa.String(length=30), nullable=True),
        sa.ForeignKeyConstraint(["psn_no"], ["persons.psn_no"]),
        sa.PrimaryKeyConstraint("code_digest"),
        sa.UniqueConstraint("token_digest"),
    )
    with op.batch_alter_table("vouchers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vouchers_psn_no"), ["psn_no"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("vouchers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vouchers_psn_no"))
    op.drop_table("vouchers")
