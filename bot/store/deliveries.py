"""Periodic deliveries other than the daily digest: weekly and monthly digests, daily and weekly
briefings. Each is stored once per (kind, target, period_start), then marked sent once.

The unique constraint and the atomic ``sent_at`` flip decide, never a read first: two schedulers
racing store one row, and only the one whose UPDATE changes it queues the delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from bot.store.common import aware, changed, dialect_insert
from bot.store.models import PERIODIC_KINDS, PeriodicDelivery, utcnow

DELIVERIES: Table = PeriodicDelivery.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    kind: str  # weekly | monthly | briefing | briefing_weekly
    target: str  # group id or recipient contact id
    period_start: date
    text: str
    html: str
    created_at: datetime
    sent_at: datetime | None


def _kind(kind: str) -> str:
    if kind not in PERIODIC_KINDS:
        raise ValueError(f"kind: must be one of {', '.join(PERIODIC_KINDS)}, got {kind!r}")
    return kind


def _to_record(row: Any) -> DeliveryRecord:
    return DeliveryRecord(
        kind=row.kind,
        target=row.target,
        period_start=row.period_start,
        text=row.text,
        html=row.html,
        created_at=row.created_at,
        sent_at=row.sent_at,
    )


def save_delivery(session: Session, kind: str, target: str, period_start: date, text: str, html: str = "") -> bool:
    """Keep a delivery's text and HTML; False when one for (kind, target, period_start) is kept
    already (it stays as it was)."""
    if not target:
        raise ValueError("target: a group id or a contact id, not empty")
    stmt = (
        dialect_insert(session, DELIVERIES)
        .values(
            kind=_kind(kind),
            target=target,
            period_start=period_start,
            text=text,
            html=html,
            created_at=utcnow(),
            sent_at=None,
        )
        .on_conflict_do_nothing(index_elements=["kind", "target", "period_start"])
        .returning(DELIVERIES.c.pk)
    )
    return session.execute(stmt).scalar_one_or_none() is not None


def get_delivery(session: Session, kind: str, target: str, period_start: date) -> DeliveryRecord | None:
    c = DELIVERIES.c
    row = session.execute(
        select(DELIVERIES).where(c.kind == _kind(kind), c.target == target, c.period_start == period_start)
    ).first()
    return _to_record(row) if row else None


def mark_delivery_sent(
    session: Session, kind: str, target: str, period_start: date, at: datetime | None = None
) -> bool:
    """Flip ``sent_at`` from NULL; False when there is no such delivery or it was marked already."""
    c = DELIVERIES.c
    stmt = (
        update(DELIVERIES)
        .where(c.kind == _kind(kind), c.target == target, c.period_start == period_start, c.sent_at.is_(None))
        .values(sent_at=aware(at, "at") if at is not None else utcnow())
    )
    return changed(session, stmt) == 1


def deliveries(session: Session, kind: str | None = None, target: str | None = None) -> list[DeliveryRecord]:
    """Kept deliveries, oldest period first (then kind, target); of one kind or target when given."""
    c = DELIVERIES.c
    q = select(DELIVERIES)
    if kind is not None:
        q = q.where(c.kind == _kind(kind))
    if target is not None:
        q = q.where(c.target == target)
    return [_to_record(r) for r in session.execute(q.order_by(c.period_start, c.kind, c.target))]
