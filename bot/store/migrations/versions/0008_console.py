"""The web console (issue 18): console users, their sessions and API tokens, the console's audit
trail, the live bot's heartbeat, and the words of each message for full-text search.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "console_users",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("disabled_at", TZ, nullable=True),
        sa.CheckConstraint("role IN ('superadmin', 'admin')", name=op.f("ck_console_users_role")),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_console_users")),
        sa.UniqueConstraint("name", name=op.f("uq_console_users_name")),
    )
    op.create_table(
        "console_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("user_pk", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_pk"],
            ["console_users.pk"],
            name=op.f("fk_console_sessions_user_pk_console_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_console_sessions")),
    )
    op.create_index(op.f("ix_console_sessions_user_pk"), "console_sessions", ["user_pk"])
    op.create_table(
        "api_tokens",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_pk", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("last_used_at", TZ, nullable=True),
        sa.Column("revoked_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_pk"], ["console_users.pk"], name=op.f("fk_api_tokens_user_pk_console_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_user_pk"), "api_tokens", ["user_pk"])
    op.create_table(
        "console_audit",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("group_id", sa.Text(), nullable=True),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_console_audit")),
    )
    op.create_index(op.f("ix_console_audit_created_at"), "console_audit", ["created_at"])
    op.create_index(op.f("ix_console_audit_group_id_created_at"), "console_audit", ["group_id", "created_at"])
    op.create_table(
        "bot_status",
        sa.Column("worker", sa.Text(), nullable=False),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("self_id", sa.Text(), nullable=False),
        sa.Column("connected", sa.Boolean(), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("heartbeat_at", TZ, nullable=False),
        sa.Column("stopped_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("worker", name=op.f("pk_bot_status")),
    )
    op.create_table(
        "message_search",
        sa.Column("message_pk", sa.Integer(), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_pk"], ["messages.pk"], name=op.f("fk_message_search_message_pk_messages"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("message_pk", name=op.f("pk_message_search")),
    )


def downgrade() -> None:
    op.drop_table("message_search")
    op.drop_table("bot_status")
    op.drop_index(op.f("ix_console_audit_group_id_created_at"), table_name="console_audit")
    op.drop_index(op.f("ix_console_audit_created_at"), table_name="console_audit")
    op.drop_table("console_audit")
    op.drop_index(op.f("ix_api_tokens_user_pk"), table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_index(op.f("ix_console_sessions_user_pk"), table_name="console_sessions")
    op.drop_table("console_sessions")
    op.drop_table("console_users")
