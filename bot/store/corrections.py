"""Admin corrections (``/spam``, ``/notspam``): an admin's label for a message, kept as training data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from bot.store.common import CORRECTIONS, GROUPS, MESSAGES, aware
from bot.store.models import utcnow


@dataclass(frozen=True, slots=True)
class CorrectionRecord:
    pk: int
    message_pk: int | None
    text: str
    analyzer: str
    label: str
    by_contact: str
    created_at: datetime


def record_correction(
    session: Session,
    *,
    text: str,
    analyzer: str,
    label: str,
    by_contact: str,
    message_pk: int | None = None,
    at: datetime | None = None,
) -> int:
    """Record an admin's correction (``/spam``, ``/notspam``): training data for ``qunzhi train``."""
    stmt = (
        insert(CORRECTIONS)
        .values(
            message_pk=message_pk,
            text=text,
            analyzer=analyzer,
            label=label,
            by_contact=by_contact,
            created_at=aware(at, "at") if at is not None else utcnow(),
        )
        .returning(CORRECTIONS.c.pk)
    )
    return int(session.execute(stmt).scalar_one())


def corrections(session: Session, analyzer: str | None = None, since: datetime | None = None) -> list[CorrectionRecord]:
    """Admin corrections, oldest first; optionally for one analyzer or since a time."""
    c = CORRECTIONS.c
    q = select(CORRECTIONS)
    if analyzer is not None:
        q = q.where(c.analyzer == analyzer)
    if since is not None:
        q = q.where(c.created_at >= aware(since, "since"))
    q = q.order_by(c.created_at, c.pk)
    return [
        CorrectionRecord(r.pk, r.message_pk, r.text, r.analyzer, r.label, r.by_contact, r.created_at)
        for r in session.execute(q)
    ]


def corrections_for_training(session: Session) -> list[tuple[str, str, str, str]]:
    """The admins' corrections as ``(text, analyzer, label, topic)``, in the order they were recorded;
    the topic is the configured one of the message's group, ``""`` once the message or group is gone.
    The latest decision on a message wins: ``/spam`` then ``/notspam`` on one message trains one
    label, not both (per analyzer; a correction whose message is gone is keyed by its text).
    ``qunzhi train`` passes these to ``nlp.training.train.prepare`` (nlp never reads the store)."""
    c = CORRECTIONS.c
    joined = CORRECTIONS.outerjoin(MESSAGES, MESSAGES.c.pk == c.message_pk).outerjoin(
        GROUPS, GROUPS.c.id == MESSAGES.c.group_id
    )
    q = (
        select(c.message_pk, c.text, c.analyzer, c.label, func.coalesce(GROUPS.c.topic, ""))
        .select_from(joined)
        .order_by(c.created_at, c.pk)
    )
    latest: dict[tuple[object, str], tuple[str, str, str, str]] = {}
    for message_pk, text, analyzer, label, topic in session.execute(q):
        key = (message_pk if message_pk is not None else ("text", text), analyzer)
        latest.pop(key, None)  # re-inserted: the order is that of each key's latest decision
        latest[key] = (text, analyzer, label, topic)
    return list(latest.values())


def has_correction(session: Session, message_pk: int, analyzer: str = "ad") -> bool:
    """Whether an admin has judged this message (``/spam``, ``/notspam``) for ``analyzer``."""
    c = CORRECTIONS.c
    q = select(c.pk).where(c.message_pk == message_pk, c.analyzer == analyzer).limit(1)
    return session.execute(q).first() is not None
