"""What the console's HTTP API reads beyond the other store modules: admin corrections with the
group of the message they correct."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store.common import CORRECTIONS, MESSAGES, aware
from bot.store.corrections import CorrectionRecord


@dataclass(frozen=True, slots=True)
class GroupCorrection:
    """A correction and the group of the message it corrects; ``group_id`` is None once that
    message is gone (purged or its group removed): the correction's text stays training data."""

    correction: CorrectionRecord
    group_id: str | None


def corrections_in_groups(
    session: Session, group_ids: Collection[str] | None, since: datetime | None = None, limit: int | None = None
) -> list[GroupCorrection]:
    """Corrections, oldest first, with their message's group: those of messages in ``group_ids``,
    or every one (those whose message is gone included) when ``group_ids`` is None."""
    c, m = CORRECTIONS.c, MESSAGES.c
    q = select(CORRECTIONS, m.group_id.label("message_group")).select_from(
        CORRECTIONS.outerjoin(MESSAGES, m.pk == c.message_pk)
    )
    if group_ids is not None:
        q = q.where(m.group_id.in_(list(group_ids)))
    if since is not None:
        q = q.where(c.created_at >= aware(since, "since"))
    q = q.order_by(c.created_at, c.pk)
    if limit is not None:
        q = q.limit(limit)
    return [
        GroupCorrection(
            CorrectionRecord(r.pk, r.message_pk, r.text, r.analyzer, r.label, r.by_contact, r.created_at),
            r.message_group,
        )
        for r in session.execute(q)
    ]
