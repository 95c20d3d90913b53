"""Initial schema: groups, members, messages, verdicts, entities, moderation actions, corrections, digests.

Revision ID: 0001
Revises:
Create Date: 2025-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "groups",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
    )
    op.create_table(
        "members",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("group_id", sa.Text(), nullable=False),
        sa.Column("member_id", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("first_seen", TZ, nullable=True),
        sa.Column("last_seen", TZ, nullable=True),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("whitelisted", sa.Boolean(), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_members_group_id_groups"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_members")),
        sa.UniqueConstraint("group_id", "member_id", name=op.f("uq_members_group_id_member_id")),
    )
    op.create_table(
        "messages",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_id", sa.Text(), nullable=False),
        sa.Column("group_id", sa.Text(), nullable=False),
        sa.Column("sender_id", sa.Text(), nullable=False),
        sa.Column("sender_name", sa.Text(), nullable=False),
        sa.Column("sent_at", TZ, nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("mentions", sa.JSON(), nullable=False),
        sa.Column("mentions_bot", sa.Boolean(), nullable=False),
        sa.Column("reply_to", sa.Text(), nullable=True),
        sa.Column("group_topic", sa.Text(), nullable=False),
        sa.Column("stored_at", TZ, nullable=False),
        sa.Column("analysis_status", sa.String(length=16), nullable=False),
        sa.Column("analysis_attempts", sa.Integer(), nullable=False),
        sa.Column("analysis_error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "analysis_status IN ('pending', 'done', 'failed')", name=op.f("ck_messages_analysis_status")
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_messages_group_id_groups"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_messages")),
        sa.UniqueConstraint("source", "source_id", name=op.f("uq_messages_source_source_id")),
    )
    op.create_index(op.f("ix_messages_analysis_status"), "messages", ["analysis_status"])
    op.create_index(op.f("ix_messages_group_id_sent_at"), "messages", ["group_id", "sent_at"])
    op.create_index(op.f("ix_messages_group_id_sender_id_sent_at"), "messages", ["group_id", "sender_id", "sent_at"])
    op.create_table(
        "verdicts",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_pk", sa.Integer(), nullable=False),
        sa.Column("analyzer", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["message_pk"], ["messages.pk"], name=op.f("fk_verdicts_message_pk_messages"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_verdicts")),
        sa.UniqueConstraint("message_pk", "analyzer", name=op.f("uq_verdicts_message_pk_analyzer")),
    )
    op.create_table(
        "entities",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_pk", sa.Integer(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("start", sa.Integer(), nullable=False),
        sa.Column("end", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_pk"], ["messages.pk"], name=op.f("fk_entities_message_pk_messages"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_entities")),
    )
    op.create_index(op.f("ix_entities_message_pk"), "entities", ["message_pk"])
    op.create_table(
        "moderation_actions",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("group_id", sa.Text(), nullable=False),
        sa.Column("member_id", sa.Text(), nullable=False),
        sa.Column("message_pk", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("verdict_label", sa.Text(), nullable=True),
        sa.Column("verdict_score", sa.Float(), nullable=True),
        sa.Column("strike", sa.Boolean(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("undone_at", TZ, nullable=True),
        sa.Column("by_contact", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "action IN ('log', 'warn', 'kick', 'undo', 'strike')", name=op.f("ck_moderation_actions_action")
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_moderation_actions_group_id_groups"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["message_pk"], ["messages.pk"], name=op.f("fk_moderation_actions_message_pk_messages"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_moderation_actions")),
    )
    op.create_index(op.f("ix_moderation_actions_group_id_created_at"), "moderation_actions", ["group_id", "created_at"])
    op.create_index(
        op.f("ix_moderation_actions_group_id_member_id_created_at"),
        "moderation_actions",
        ["group_id", "member_id", "created_at"],
    )
    op.create_table(
        "corrections",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_pk", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("analyzer", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("by_contact", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["message_pk"], ["messages.pk"], name=op.f("fk_corrections_message_pk_messages"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_corrections")),
    )
    op.create_index(op.f("ix_corrections_analyzer_created_at"), "corrections", ["analyzer", "created_at"])
    op.create_table(
        "digests",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("group_id", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("sent_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_digests_group_id_groups"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_digests")),
        sa.UniqueConstraint("group_id", "day", name=op.f("uq_digests_group_id_day")),
    )


def downgrade() -> None:
    for table in (
        "digests",
        "corrections",
        "moderation_actions",
        "entities",
        "verdicts",
        "messages",
        "members",
        "groups",
    ):
        op.drop_table(table)
