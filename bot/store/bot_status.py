"""The live bot's heartbeat: each ``qunzhi run`` process writes its connection state every few
seconds, so the console (another process) can say whether the bot is up and connected."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from bot.store.common import BOT_STATUS, aware
from bot.store.models import utcnow

STALE_AFTER = timedelta(seconds=90)  # a heartbeat older than this is a process that is gone


@dataclass(frozen=True, slots=True)
class BotStatusRecord:
    worker: str
    platform: str
    self_id: str
    connected: bool
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None

    def alive(self, now: datetime) -> bool:
        return self.stopped_at is None and now - self.heartbeat_at <= STALE_AFTER


def beat(
    session: Session, worker: str, *, platform: str, self_id: str, connected: bool, at: datetime | None = None
) -> None:
    """Record that ``worker`` is running now, and whether it is connected."""
    now = aware(at, "at") if at is not None else utcnow()
    c = BOT_STATUS.c
    values = dict(platform=platform, self_id=self_id, connected=connected, heartbeat_at=now, stopped_at=None)
    if session.execute(update(BOT_STATUS).where(c.worker == worker).values(**values).returning(c.worker)).first():
        return
    session.execute(insert(BOT_STATUS).values(worker=worker, started_at=now, **values))


def stopped(session: Session, worker: str, at: datetime | None = None) -> None:
    """Record that ``worker`` stopped (a clean shutdown)."""
    now = aware(at, "at") if at is not None else utcnow()
    session.execute(
        update(BOT_STATUS)
        .where(BOT_STATUS.c.worker == worker)
        .values(connected=False, stopped_at=now, heartbeat_at=now)
    )


def statuses(session: Session) -> list[BotStatusRecord]:
    """Every process that has reported, the most recent heartbeat first."""
    c = BOT_STATUS.c
    return [
        BotStatusRecord(r.worker, r.platform, r.self_id, bool(r.connected), r.started_at, r.heartbeat_at, r.stopped_at)
        for r in session.execute(select(BOT_STATUS).order_by(c.heartbeat_at.desc()))
    ]
