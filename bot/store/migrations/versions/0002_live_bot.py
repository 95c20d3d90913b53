"""The live bot: the outbox, the room's own roles, the in-chat dry-run switch, quoted messages, entity values.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("groups") as batch:
        batch.add_column(sa.Column("owner_id", sa.Text(), nullable=True))
        batch.add_column(sa.Column("admin_ids", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("dry_run", sa.Boolean(), nullable=True))
    with op.batch_alter_table("groups") as batch:
        batch.alter_column("admin_ids", server_default=None)
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("quote", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("messages") as batch:
        batch.alter_column("quote", server_default=None)
    with op.batch_alter_table("entities") as batch:
        batch.add_column(sa.Column("value", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("entities") as batch:
        batch.alter_column("value", server_default=None)
    op.create_table(
        "outgoing",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("op", sa.String(length=16), nullable=False),
        sa.Column("group_id", sa.Text(), nullable=True),
        sa.Column("contact_id", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("mentions", sa.JSON(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("not_before", TZ, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", TZ, nullable=True),
        sa.Column("failed_at", TZ, nullable=True),
        sa.CheckConstraint("op IN ('text', 'private', 'kick')", name=op.f("ck_outgoing_op")),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_outgoing")),
    )
    op.create_index(
        op.f("ix_outgoing_sent_at_failed_at_not_before"), "outgoing", ["sent_at", "failed_at", "not_before"]
    )


def downgrade() -> None:
    op.drop_table("outgoing")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("quote")
    with op.batch_alter_table("entities") as batch:
        batch.drop_column("value")
    with op.batch_alter_table("groups") as batch:
        batch.drop_column("dry_run")
        batch.drop_column("admin_ids")
        batch.drop_column("owner_id")
