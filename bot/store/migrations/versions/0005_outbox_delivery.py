"""The outbox's delivery states (issue 15): "maybe delivered", and rows held until another is sent.

``outgoing.uncertain_at`` marks a group operation whose outcome is unknown (the request left, no
answer came back): it is maybe delivered and never resent into the group. ``outgoing.after_pk``
holds a row until the row it names is sent (the admins' "done" note after a kick).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("outgoing") as batch:
        batch.add_column(sa.Column("uncertain_at", TZ, nullable=True))
        batch.add_column(sa.Column("after_pk", sa.Integer(), nullable=True))


def downgrade() -> None:
    # a row still held behind another would lose its hold: give it up rather than send it early
    op.execute(
        "UPDATE outgoing SET failed_at = created_at"
        " WHERE after_pk IS NOT NULL AND sent_at IS NULL AND failed_at IS NULL AND uncertain_at IS NULL"
    )
    # a maybe-delivered row must not become pending again (it would be resent): count it as failed
    op.execute("UPDATE outgoing SET failed_at = uncertain_at WHERE uncertain_at IS NOT NULL AND failed_at IS NULL")
    with op.batch_alter_table("outgoing") as batch:
        batch.drop_column("after_pk")
        batch.drop_column("uncertain_at")
