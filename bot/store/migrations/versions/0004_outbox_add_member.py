"""The outbox can add a member back to a group (``op = 'add'``: ``/notspam`` after a wrong kick).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ops(values: str) -> None:
    with op.batch_alter_table("outgoing") as batch:
        batch.drop_constraint(op.f("ck_outgoing_op"), type_="check")
        batch.create_check_constraint(op.f("ck_outgoing_op"), f"op IN ({values})")


def upgrade() -> None:
    _ops("'text', 'private', 'kick', 'add'")


def downgrade() -> None:
    op.execute("DELETE FROM outgoing WHERE op = 'add'")
    _ops("'text', 'private', 'kick'")
