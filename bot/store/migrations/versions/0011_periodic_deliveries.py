"""Weekly and monthly digests and personal briefings on schedule (issue 20): one row per kind,
target and period, kept once and marked sent once.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "periodic_deliveries",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("sent_at", TZ, nullable=True),
        sa.CheckConstraint(
            "kind IN ('weekly', 'monthly', 'briefing', 'briefing_weekly')", name=op.f("ck_periodic_deliveries_kind")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_periodic_deliveries")),
        sa.UniqueConstraint(
            "kind", "target", "period_start", name=op.f("uq_periodic_deliveries_kind_target_period_start")
        ),
    )


def downgrade() -> None:
    op.drop_table("periodic_deliveries")
