"""Institutions: an SM2 public key and the gateway-header option (integration.md,
"What national-interface clients send").

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("institutions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sm2_public_key", sa.String(length=130), nullable=True))
        batch_op.add_column(
            sa.Column("gateway", sa.String(length=4), server_default="off", nullable=False)
        )
        batch_op.add_column(sa.Column("gateway_paasid", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("institutions", schema=None) as batch_op:
        batch_op.drop_column("gateway_paasid")
        batch_op.drop_column("gateway")
        batch_op.drop_column("sm2_public_key")
