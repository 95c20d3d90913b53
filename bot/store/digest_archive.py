"""The digest archive: which days of a group have a stored digest (the texts are read one by one
with :func:`bot.store.digests.get_digest`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.store.common import DIGESTS


@dataclass(frozen=True, slots=True)
class StoredDigestDay:
    """A stored digest, without its text."""

    day: date
    created_at: datetime
    sent_at: datetime | None
    has_html: bool


def digest_days(session: Session, group_id: str) -> list[StoredDigestDay]:
    """Every day a digest of the group is stored for, newest first."""
    c = DIGESTS.c
    q = (
        select(c.day, c.created_at, c.sent_at, (func.length(c.html) > 0).label("has_html"))
        .where(c.group_id == group_id)
        .order_by(c.day.desc())
    )
    return [StoredDigestDay(r.day, r.created_at, r.sent_at, bool(r.has_html)) for r in session.execute(q)]
