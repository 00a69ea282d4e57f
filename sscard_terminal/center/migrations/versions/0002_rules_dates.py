"""Rules judged on the right dates: the date each contribution was
paid, the day a card's loss was reported by telephone (12333), and the
institution and kind of care of a sporadic claim.

Contributions recorded before this revision get the first day of their first
month as their payment date, i.e. paid in time, which is how they were judged
until now.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _first_day_of_first_month() -> str:
    """SQL for the first day of ``first_month`` (YYYYMM) on the current backend."""
    if op.get_bind().dialect.name == "postgresql":
        return "make_date(first_month / 100, first_month % 100, 1)"
    return "printf('%04d-%02d-01', first_month / 100, first_month % 100)"


def upgrade() -> None:
    with op.batch_alter_table("contributions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paid_on", sa.Date(), nullable=True))
    op.execute(f"UPDATE contributions SET paid_on = {_first_day_of_first_month()}")
    with op.batch_alter_table("contributions", schema=None) as batch_op:
        batch_op.alter_column("paid_on", existing_type=sa.Date(), nullable=False)
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone_loss_reported_on", sa.Date(), nullable=True))
    with op.batch_alter_table("sporadic_claims", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fixmedins_code", sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column("med_type", sa.String(length=2), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sporadic_claims", schema=None) as batch_op:
        batch_op.drop_column("med_type")
        batch_op.drop_column("fixmedins_code")
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.drop_column("phone_loss_reported_on")
    with op.batch_alter_table("contributions", schema=None) as batch_op:
        batch_op.drop_column("paid_on")
