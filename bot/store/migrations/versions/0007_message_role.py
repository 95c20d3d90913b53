"""Commands and the bot's own messages are marked: ``messages.role`` is 'chat', 'command' or 'bot' (issue 15).

Only chat is analysed and counted in the digest, ``/stats`` and profiles. Messages stored before
this revision are all 'chat' (the server default); they were counted as chat when they were stored.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("role", sa.String(length=16), nullable=False, server_default="chat"))
        batch.create_check_constraint(op.f("ck_messages_role"), "role IN ('chat', 'command', 'bot')")


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint(op.f("ck_messages_role"), type_="check")
        batch.drop_column("role")
