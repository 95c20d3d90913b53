"""Retention: raw message text older than ``privacy.retention_days`` is purged; aggregates stay.

``purge(session, before)`` blanks the text and the quote of every analysed message sent before
``before`` and the text and value of the entities found in it, and stamps ``purged_at``. The
message row stays — its time, sender, kind, verdict labels and scores, and moderation actions —
and so do member profiles and counts, which never held text. Messages still waiting for analysis
are left until they are analysed (their profile and verdicts need the text once). The outbox's
texts older than that (reports quote the ads they act on) are blanked once sent or given up.
Kept on purpose: admin corrections (labelled training data an admin chose to keep) and stored
digests (masked summaries).

The live bot runs it daily at ``privacy.purge_time`` (local) through :func:`purge_daily`;
``qunzhi db purge`` runs it once. The same daily run retries analyses parked as failed
(:func:`requeue_once`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.config import Config
from bot.store import analysis as analysis_db, purge as purge_db
from bot.store.models import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PurgeReport:
    before: datetime
    messages: int  # messages whose text was blanked now
    entities: int  # entities whose text was blanked now


def purge(session: Session, before: datetime, *, now: datetime | None = None) -> PurgeReport:
    """Blank the text of analysed messages sent before ``before`` (aware); idempotent."""
    if before.tzinfo is None or before.utcoffset() is None:
        raise ValueError(f"before: must be a timezone-aware datetime, got {before!r}")
    messages, entities = purge_db.blank_text_before(session, before, now or utcnow())
    return PurgeReport(before, messages, entities)


def cutoff(config: Config, now: datetime) -> datetime | None:
    """The oldest send time whose text is kept at ``now``; None when text is kept forever."""
    days = config.privacy.retention_days
    return now - timedelta(days=days) if days > 0 else None


def purge_once(sessions: sessionmaker[Session], config: Config, now: datetime) -> PurgeReport | None:
    before = cutoff(config, now)
    if before is None:
        return None
    with sessions.begin() as session:
        report = purge(session, before, now=now)
    if report.messages:
        log.info(
            "retention: purged the text of %d messages (and %d entities) sent before %s",
            report.messages,
            report.entities,
            before.isoformat(),
        )
    return report


def next_run(config: Config, now: datetime) -> datetime:
    """The next ``privacy.purge_time`` (local) strictly after ``now``, in UTC."""
    tz = config.digest_timezone()
    hh, mm = (int(x) for x in config.privacy.purge_time.split(":"))
    local = now.astimezone(tz)
    at = datetime.combine(local.date(), time(hh, mm), tz)
    if at <= local:
        at = datetime.combine(local.date() + timedelta(days=1), time(hh, mm), tz)
    return at.astimezone(timezone.utc)


def requeue_once(sessions: sessionmaker[Session], config: Config, now: datetime) -> int:
    """The daily retry of analyses parked as failed (``bot.store.analysis.requeue_due``: after 1, 2,
    4 ... days, a bounded number of times); return how many messages went back to the queue."""
    with sessions.begin() as session:
        n = analysis_db.requeue_due(session, now)
    if n:
        log.info("requeued %d messages whose analysis had failed", n)
    return n


async def purge_daily(
    sessions: sessionmaker[Session],
    config: Config,
    in_worker: Callable[..., Awaitable[Any]],
    clock: Callable[[], datetime],
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    on_requeued: Callable[[], None] = lambda: None,
) -> None:
    """Every day at ``privacy.purge_time`` until cancelled, on the bot's worker thread: run
    :func:`purge_once` (when retention is on) and :func:`requeue_once`. A failed job is logged and
    tried again the next day. ``on_requeued`` is called (on the event loop) when messages went back
    to the queue, so the analysis loop takes them at once instead of with the next message."""
    jobs = [requeue_once] if config.privacy.retention_days <= 0 else [purge_once, requeue_once]
    while True:
        wait = (next_run(config, clock()) - clock()).total_seconds()
        await sleep(max(wait, 1.0))
        for job in jobs:
            try:
                done = await in_worker(job, sessions, config, clock())
            except Exception:  # noqa: BLE001 - the bot goes on; the job runs again tomorrow
                log.exception("daily %s failed; retrying tomorrow", job.__name__)
                continue
            if job is requeue_once and done:
                on_requeued()


__all__ = ["PurgeReport", "cutoff", "next_run", "purge", "purge_daily", "purge_once", "requeue_once"]
