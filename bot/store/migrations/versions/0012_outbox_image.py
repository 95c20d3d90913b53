"""The outbox sends pictures (issue 20): ``op = 'image'`` (the digest card), with its text as the fallback.

``outgoing_images`` holds an image row's PNG, file name and the text parts sent in its place if it
fails for good; a table of its own, so the sender's look at the open rows never reads the pictures.
``outgoing.instead_of_pk`` marks such a text: it takes the failed image's place in its queue.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_OPS = "'text', 'private', 'kick', 'add'"
NEW_OPS = "'text', 'private', 'kick', 'add', 'image'"


def upgrade() -> None:
    with op.batch_alter_table("outgoing") as batch:
        batch.add_column(sa.Column("instead_of_pk", sa.Integer(), nullable=True))
        batch.drop_constraint(op.f("ck_outgoing_op"), type_="check")
        batch.create_check_constraint(op.f("ck_outgoing_op"), f"op IN ({NEW_OPS})")
    op.create_table(
        "outgoing_images",
        sa.Column("outgoing_pk", sa.Integer(), nullable=False),
        sa.Column("png", sa.LargeBinary(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("fallback", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["outgoing_pk"],
            ["outgoing.pk"],
            name=op.f("fk_outgoing_images_outgoing_pk_outgoing"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("outgoing_pk", name=op.f("pk_outgoing_images")),
    )


def downgrade() -> None:
    # an image still to be sent goes as its text instead (queued last): nothing queued is lost
    bind = op.get_bind()
    open_images = bind.execute(
        sa.text(
            "SELECT o.group_id, o.contact_id, o.purpose, o.created_at, i.fallback FROM outgoing o"
            " JOIN outgoing_images i ON i.outgoing_pk = o.pk"
            " WHERE o.sent_at IS NULL AND o.failed_at IS NULL AND o.uncertain_at IS NULL ORDER BY o.pk"
        )
    ).all()
    insert = sa.text(
        "INSERT INTO outgoing (op, group_id, contact_id, text, mentions, purpose, created_at, not_before, attempts)"
        " VALUES (:op, :group_id, :contact_id, :text, '[]', :purpose, :at, :at, 0)"
    )
    for group_id, contact_id, purpose, created_at, fallback in open_images:
        parts = json.loads(fallback) if isinstance(fallback, str) else fallback
        for part in parts:
            bind.execute(
                insert,
                {
                    "op": "text" if group_id else "private",
                    "group_id": group_id,
                    "contact_id": None if group_id else contact_id,
                    "text": part,
                    "purpose": purpose,
                    "at": created_at,
                },
            )
    op.drop_table("outgoing_images")
    op.execute("DELETE FROM outgoing WHERE op = 'image'")
    with op.batch_alter_table("outgoing") as batch:
        batch.drop_constraint(op.f("ck_outgoing_op"), type_="check")
        batch.create_check_constraint(op.f("ck_outgoing_op"), f"op IN ({OLD_OPS})")
        batch.drop_column("instead_of_pk")
