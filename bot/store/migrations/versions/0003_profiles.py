"""Member profiles (aggregates only) and the retention purge marker on messages.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("purged_at", TZ, nullable=True))
    counters = (
        "messages",
        "active_days",
        "questions",
        "answers",
        "links",
        "ads",
        "useful",
        "ad_scored",
        "burst_messages",
        "burst_ads",
    )
    op.create_table(
        "member_profiles",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("group_id", sa.Text(), nullable=False),
        sa.Column("member_id", sa.Text(), nullable=False),
        sa.Column("first_seen", TZ, nullable=False),
        sa.Column("last_seen", TZ, nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in counters[:2]],
        sa.Column("days", sa.JSON(), nullable=False),
        sa.Column("hours", sa.JSON(), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in counters[2:8]],
        sa.Column("ad_score_sum", sa.Float(), nullable=False),
        sa.Column("ad_score_max", sa.Float(), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in counters[8:]],
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("entities", sa.JSON(), nullable=False),
        sa.Column("domains", sa.JSON(), nullable=False),
        sa.Column("occupations", sa.JSON(), nullable=False),
        sa.Column("leads", sa.JSON(), nullable=False),
        sa.Column("demo_ngrams", sa.Integer(), nullable=False),
        sa.Column("demo_sums", sa.JSON(), nullable=False),
        sa.Column("demo_model", sa.Text(), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_member_profiles_group_id_groups"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_member_profiles")),
        sa.UniqueConstraint("group_id", "member_id", name=op.f("uq_member_profiles_group_id_member_id")),
    )
    op.create_index(op.f("ix_member_profiles_member_id"), "member_profiles", ["member_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_member_profiles_member_id"), table_name="member_profiles")
    op.drop_table("member_profiles")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("purged_at")
