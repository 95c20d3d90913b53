"""What the metrics read from the store at scrape time (``bot.metrics``): single indexed counts,
bounded however large the tables grow."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.store.common import MESSAGES, OUTGOING
from bot.store.models import utcnow


def outbox_depth(session: Session) -> int:
    """Outbox rows still to be done: not sent, not given up, not maybe delivered (``bot.outbox``)."""
    c = OUTGOING.c
    open_rows = (c.sent_at.is_(None), c.failed_at.is_(None), c.uncertain_at.is_(None))
    return int(session.execute(select(func.count()).select_from(OUTGOING).where(*open_rows)).scalar_one())


def analysis_queue(session: Session) -> tuple[int, int]:
    """Messages waiting for analysis, and of those the ones under a live claim (a worker has them now)."""
    c = MESSAGES.c
    pending = (c.analysis_status == "pending",)
    waiting = session.execute(select(func.count()).select_from(MESSAGES).where(*pending)).scalar_one()
    live = (c.claimed_by.is_not(None), c.claim_expires_at > utcnow())
    claimed = session.execute(select(func.count()).select_from(MESSAGES).where(*pending, *live)).scalar_one()
    return int(waiting), int(claimed)
