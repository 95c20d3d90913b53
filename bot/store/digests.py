"""Daily digests: stored once per group and day, then marked sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.store.common import DIGESTS, aware, changed, dialect_insert
from bot.store.groups import ensure_group
from bot.store.models import utcnow


@dataclass(frozen=True, slots=True)
class DigestRecord:
    group_id: str
    day: date
    text: str
    html: str
    created_at: datetime
    sent_at: datetime | None


def _to_digest(row: Any) -> DigestRecord:
    return DigestRecord(
        group_id=row.group_id, day=row.day, text=row.text, html=row.html, created_at=row.created_at, sent_at=row.sent_at
    )


def save_digest(session: Session, group_id: str, day: date, text: str, html: str = "") -> bool:
    """Store the digest of ``day`` for a group; False when one already exists (it is kept).

    The unique (group_id, day) constraint decides, so two schedulers racing store exactly one.
    """
    ensure_group(session, group_id)
    stmt = (
        dialect_insert(session, DIGESTS)
        .values(group_id=group_id, day=day, text=text, html=html, created_at=utcnow(), sent_at=None)
        .on_conflict_do_nothing(index_elements=["group_id", "day"])
        .returning(DIGESTS.c.pk)
    )
    return session.execute(stmt).scalar_one_or_none() is not None


def get_digest(session: Session, group_id: str, day: date) -> DigestRecord | None:
    r = session.execute(select(DIGESTS).where(DIGESTS.c.group_id == group_id, DIGESTS.c.day == day)).first()
    return _to_digest(r) if r else None


def mark_digest_sent(session: Session, group_id: str, day: date, at: datetime | None = None) -> bool:
    """Mark a digest sent; False when there is none or it was already marked."""
    c = DIGESTS.c
    stmt = (
        update(DIGESTS)
        .where(c.group_id == group_id, c.day == day, c.sent_at.is_(None))
        .values(sent_at=aware(at, "at") if at is not None else utcnow())
    )
    return changed(session, stmt) == 1


def unsent_digests(session: Session, group_id: str | None = None) -> list[DigestRecord]:
    """Digests stored but not yet marked sent (e.g. the bot stopped in between), oldest day first."""
    q = select(DIGESTS).where(DIGESTS.c.sent_at.is_(None))
    if group_id is not None:
        q = q.where(DIGESTS.c.group_id == group_id)
    return [_to_digest(r) for r in session.execute(q.order_by(DIGESTS.c.day, DIGESTS.c.group_id))]
