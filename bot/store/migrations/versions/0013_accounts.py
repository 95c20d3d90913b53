"""Several bot accounts on one database (issue 21): which account is in a group, and which sends a row.

``groups.account``: the bot account (the platform's own contact id) that last reported being in
the room. ``outgoing.account``: the account that sends the row — filled at queueing from the
group's account, or claimed by the first sender that takes a row queued without one — so with one
``qunzhi run`` per account, a row is sent by exactly one of them, and by one that is in its group.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # plain ADD/DROP COLUMN (SQLite ≥ 3.35 has both): batch mode would copy ``outgoing`` on SQLite,
    # and dropping the old copy cascades to the pictures waiting in ``outgoing_images``
    op.add_column("groups", sa.Column("account", sa.Text(), nullable=True))
    op.add_column("outgoing", sa.Column("account", sa.Text(), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE outgoing DROP COLUMN account")
    op.execute("ALTER TABLE groups DROP COLUMN account")
