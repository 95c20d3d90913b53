"""The daily digest on schedule: one APScheduler job per group, exactly one delivery per group and day.

- **When.** Each group's digest runs daily at its ``digest_time`` (or ``[digest].time``) in the
  digest timezone. It covers that local day so far; a time before 06:00 covers the day before
  (a digest at 00:30 is about yesterday).
- **Exactly once.** The digests table decides, not the scheduler: the digest is stored once per
  (group, day) by a unique constraint, and whoever flips its ``sent_at`` from NULL (one atomic
  UPDATE) queues the delivery in the same transaction. Several processes or a restart mid-run
  therefore deliver once; a crash before the commit delivers on the next try.
- **Catch-up.** At start every group's latest due digest that was not delivered is made and sent,
  so a bot that was down at 21:00 still sends today's digest when it comes back.
- **Jobs** live in memory, made from the config at each start. The digests table, not a job store,
  remembers what was delivered, and catch-up covers a run missed while the bot was down; so the
  timer never reads or writes the database on the event loop.
- **Delivery** per group: into the group, privately to ``digest_recipients``, or stored only. A
  day without a single message is kept and marked, but not sent: nobody needs "nothing happened".
- **Where it runs.** The APScheduler timer fires on the event loop; the digest itself (store reads,
  the models, the writes) is blocking work and runs through ``run_blocking`` — the live bot passes
  its one worker (see ``bot.live``), so a digest never builds beside the pipeline. ``on_queued`` is
  called on that worker thread and must be thread-safe. Standalone (tests) a plain thread does.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy.orm import Session, sessionmaker

from bot import metrics
from bot.config import Config, DigestDelivery, Group
from bot.daily import make_digest
from bot.outbox import Outbox
from bot.store import digests as digests_db

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from bot.digest import DigestData

log = logging.getLogger(__name__)

EARLY_MORNING = time(6, 0)  # a digest scheduled before this covers the previous day
JOB_PREFIX = "digest:"

RunBlocking = Callable[..., Awaitable[Any]]  # ``await run_blocking(fn, *args)`` runs ``fn(*args)`` off the loop


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def covered_day(fire_local: datetime) -> date:
    """The local day a run at ``fire_local`` is about: that day, or the day before when it runs
    before 06:00 (a digest at 00:30 is about yesterday)."""
    d = fire_local.date()
    return d - timedelta(days=1) if fire_local.time() < EARLY_MORNING else d


def new_timer(tz: tzinfo) -> AsyncIOScheduler:
    """An APScheduler for in-memory jobs on the running loop: a run missed by up to six hours (a
    busy worker, a suspended machine) still runs once; a longer outage is caught up at start."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    return AsyncIOScheduler(
        timezone=tz, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 6 * 3600}
    )


@dataclass(frozen=True, slots=True)
class Card:
    """A digest's card to send: the PNG and the file name it goes out as."""

    png: bytes
    name: str


@dataclass(frozen=True, slots=True)
class DueDigest:
    group_id: str
    day: date  # the local day the digest covers
    fire_at: datetime  # when it was due (aware, UTC)


class DigestScheduler:
    """Makes and delivers daily digests; ``start()`` wires the APScheduler jobs (needs a loop)."""

    active: ClassVar[DigestScheduler | None] = None  # the one the stored jobs call back into

    def __init__(
        self,
        sessions: sessionmaker[Session],
        config: Config,
        outbox: Outbox,
        *,
        clock: Callable[[], datetime] = utc_now,
        on_queued: Callable[[], None] = lambda: None,
        run_blocking: RunBlocking = asyncio.to_thread,
    ) -> None:
        self._sessions = sessions
        self._config = config
        self._outbox = outbox
        self._clock = clock
        self._on_queued = on_queued
        self.run_blocking = run_blocking
        self._scheduler = None

    # -- when ---------------------------------------------------------------------------------

    def _time_of(self, group: Group) -> time:
        hh, mm = (group.digest_time or self._config.digest.time).split(":")
        return time(int(hh), int(mm))

    def covered_day(self, fire_local: datetime) -> date:
        return covered_day(fire_local)

    def latest_due(self, group: Group, now: datetime | None = None) -> DueDigest:
        """The group's most recent scheduled run at or before ``now``."""
        tz = self._config.digest_timezone()
        now_local = (now or self._clock()).astimezone(tz)
        fire = datetime.combine(now_local.date(), self._time_of(group), tz)
        if fire > now_local:
            fire = datetime.combine(now_local.date() - timedelta(days=1), self._time_of(group), tz)
        return DueDigest(group.id, self.covered_day(fire), fire.astimezone(timezone.utc))

    # -- what ---------------------------------------------------------------------------------

    def run(self, group_id: str, day: date) -> bool:
        """Make the group's digest of ``day`` (kept once) and queue its delivery unless someone
        already did; True when this call claimed it (and queued it, unless the day was empty)."""
        group = self._config.group(group_id)
        if group is None:
            log.warning("digest: group %s is not configured any more; skipped", group_id)
            return False
        with self._sessions() as session:
            stored = digests_db.get_digest(session, group_id, day)
        if stored is not None and stored.sent_at is not None:
            return False
        rendered = make_digest(self._sessions, self._config, group_id, day)
        card = self.card_for(group, rendered.data)  # drawn before the transaction: it holds no lock meanwhile
        with self._sessions.begin() as session:
            if not digests_db.mark_digest_sent(session, group_id, day, self._clock()):
                return False  # another process (or an earlier run) delivered it
            stored = digests_db.get_digest(session, group_id, day)
            assert stored is not None
            if rendered.data.counts.total == 0:
                log.info("digest: %s of %s has no messages; kept, not sent", group_id, day)
                return True
            parts = rendered.text_parts if rendered.newly_saved else stored_parts(stored.text)
            self.deliver(session, group, parts, card if rendered.newly_saved else None)
        log.info("digest: %s of %s queued (%s)", group_id, day, group.digest_delivery)
        if group.digest_delivery is not DigestDelivery.NONE:
            metrics.DIGESTS_SENT.labels(str(group.digest_delivery)).inc()
            self._on_queued()
        return True

    def card_for(self, group: Group, data: DigestData) -> Card | None:
        """The card of a digest that goes out as one (``[digest] card``, delivered somewhere, not
        empty), or None: the text goes alone. Drawn outside any transaction (it takes a while)."""
        if not self._config.digest.card or group.digest_delivery is DigestDelivery.NONE or data.counts.total == 0:
            return None
        png = self._card(data, group.id)
        return None if png is None else Card(png, f"digest-{data.day.isoformat()}.png")

    def deliver(self, session: Session, group: Group, parts: list[str], card: Card | None = None) -> None:
        """Queue a digest where the group's digests go (the weekly and monthly digests of
        ``bot.period_scheduler`` go this way too): its text parts; with a ``card``, the card
        instead, the parts as its fallback (or after it, with ``card_with_text``)."""
        digest = self._config.digest
        if card is not None:
            fallback = [] if digest.card_with_text else parts
            if group.digest_delivery is DigestDelivery.GROUP:
                self._outbox.say_image(session, group.id, card.png, fallback, name=card.name, purpose="digest")
            elif group.digest_delivery is DigestDelivery.ADMINS:
                for contact in group.digest_recipients:
                    self._outbox.tell_image(session, contact, card.png, fallback, name=card.name, purpose="digest")
            if not digest.card_with_text:
                return
        for part in parts:
            if group.digest_delivery is DigestDelivery.GROUP:
                self._outbox.say(session, group.id, part, purpose="digest")
            elif group.digest_delivery is DigestDelivery.ADMINS:
                for contact in group.digest_recipients:
                    self._outbox.tell(session, contact, part, purpose="digest")

    @staticmethod
    def _card(data: DigestData, group_id: str) -> bytes | None:
        """The digest's card, or None (logged) when it cannot be drawn: the text goes alone then."""
        from bot.digest.card import render_card

        return draw_card(lambda: render_card(data), f"the digest of {group_id}")

    def run_due(self, group_id: str) -> bool:
        """What a scheduled job does: the group's digest that is due now."""
        group = self._config.group(group_id)
        if group is None:
            return False
        due = self.latest_due(group)
        return self.run(group_id, due.day)

    def catch_up(self) -> list[DueDigest]:
        """Deliver every group's latest due digest that was not delivered; return those this call
        claimed (a day without messages is claimed, kept and marked, but nothing is sent)."""
        sent = []
        for group in self._config.groups:
            due = self.latest_due(group)
            with self._sessions() as session:
                stored = digests_db.get_digest(session, group.id, due.day)
            if stored is not None and stored.sent_at is not None:
                continue
            if self.run(group.id, due.day):
                log.info("digest: caught up %s of %s (was due %s)", group.id, due.day, due.fire_at.isoformat())
                sent.append(due)
        return sent

    # -- APScheduler --------------------------------------------------------------------------

    def start(self) -> None:
        """Schedule one cron job per configured group (in memory) and start; needs a running loop."""
        from apscheduler.triggers.cron import CronTrigger

        tz = self._config.digest_timezone()
        scheduler = new_timer(tz)
        DigestScheduler.active = self
        scheduler.start(paused=True)
        for g in self._config.groups:
            t = self._time_of(g)
            scheduler.add_job(
                run_scheduled_digest,
                CronTrigger(hour=t.hour, minute=t.minute, timezone=tz),
                args=[g.id],
                id=JOB_PREFIX + g.id,
                name=f"daily digest of {g.id}",
                replace_existing=True,
            )
        scheduler.resume()
        self._scheduler = scheduler

    def jobs(self) -> list[tuple[str, datetime | None]]:
        """(job id, next run time) of the scheduled jobs."""
        if self._scheduler is None:
            return []
        return [(j.id, j.next_run_time) for j in self._scheduler.get_jobs()]

    def shutdown(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if DigestScheduler.active is self:
            DigestScheduler.active = None


def draw_card(render: Callable[[], bytes], what: str) -> bytes | None:
    """``render()``'s PNG, or None (logged) when it cannot be drawn (no CJK font, a failed render):
    a digest or briefing then goes as its text alone, never lost for want of a picture."""
    from bot.digest.card import CardFontError

    try:
        return render()
    except CardFontError as e:
        log.warning("no card for %s (%s); the text goes alone", what, e)
    except Exception:  # noqa: BLE001 - a card that fails to draw must not lose what it shows
        log.exception("the card for %s could not be drawn; the text goes alone", what)
    return None


def stored_parts(text: str) -> list[str]:
    """A kept digest's text back into the parts it was sent as (they start with "(i/n)" lines)."""
    parts = [p.strip("\n") for p in re.split(r"(?m)^(?=\(\d+/\d+\)$)", text)]
    return [p for p in parts if p.strip()]


async def run_scheduled_digest(group_id: str) -> None:
    """The jobs' target: the active scheduler's due digest, on its ``run_blocking``."""
    scheduler = DigestScheduler.active
    if scheduler is None:
        log.error("digest job for %s fired with no running DigestScheduler", group_id)
        return
    try:
        await scheduler.run_blocking(scheduler.run_due, group_id)
    except Exception:  # noqa: BLE001 - a failed digest must not kill the scheduler; next start catches up
        log.exception("digest: the scheduled digest of %s failed; it will be caught up at the next start", group_id)
