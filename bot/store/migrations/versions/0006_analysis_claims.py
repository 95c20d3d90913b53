"""Analysis claims and retries (issue 15): a message is analysed by the process that claimed it.

``messages.claimed_by`` and ``claim_expires_at`` hold a worker's claim (``analysis.claim_pending``),
so two processes on one database analyse each message once and a dead process's claims lapse.
``analysis_failed_at`` and ``analysis_requeues`` let the daily retry bring parked ('failed') messages
back with a growing gap, a bounded number of times (``analysis.requeue_due``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("claimed_by", sa.Text(), nullable=True))
        batch.add_column(sa.Column("claim_expires_at", TZ, nullable=True))
        batch.add_column(sa.Column("analysis_failed_at", TZ, nullable=True))
        batch.add_column(sa.Column("analysis_requeues", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("messages") as batch:
        batch.alter_column("analysis_requeues", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("analysis_requeues")
        batch.drop_column("analysis_failed_at")
        batch.drop_column("claim_expires_at")
        batch.drop_column("claimed_by")
