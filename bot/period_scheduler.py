"""Weekly and monthly digests and personal briefings on schedule: exactly one delivery per kind,
target and period, with the daily digest's guarantees (``bot.scheduler``).

- **What runs.** Per group with ``digest_weekly``/``[digest].weekly`` ("周日 20:00") a weekly
  digest, with ``digest_monthly``/``[digest].monthly`` ("1日 09:00", "月末 20:00") a monthly one,
  both delivered like the group's daily digest (``digest_delivery``). Per ``[[briefing]]`` a daily
  briefing at ``time`` and, with ``weekly``, a weekly one, told privately to ``to``.
- **What they cover.** A weekly run on a Sunday covers that week so far, up to the run
  ("周日 20:00", 本周); on any other day, or before 06:00 (the daily digest's rule,
  ``bot.scheduler.covered_day``), the last whole week, Monday to Sunday ("周一 09:00", 上周). A
  monthly run likewise: on the month's last day that month so far ("月末 20:00", 本月), else the
  last whole month ("1日 09:00", 上月). A daily briefing covers the time since the one before it
  (08:00 yesterday to 08:00 today), so every message is in exactly one.
- **Exactly once.** ``periodic_deliveries`` decides: one row per (kind, target, period start) by a
  unique constraint, and the transaction that keeps it and flips its ``sent_at`` from NULL queues
  the delivery; a second scheduler (another process, a restart) finds it marked and sends nothing.
  A period without a single message is kept and marked, but not sent.
- **Catch-up.** At start every job's latest due run that was not delivered is made and sent.
- **Where it runs.** As the daily digest: in-memory APScheduler jobs on the loop, the work through
  ``run_blocking`` (the live bot's one worker).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from bot.briefing import make_briefing
from bot.config import Config, DigestDelivery, MonthlyTime, WeeklyTime, clock_time, weekly_time
from bot.daily import make_digest
from bot.digest import DigestData, Period, month_period, range_period, week_period
from bot.digest.briefing_build import BriefingData
from bot.outbox import Outbox
from bot.scheduler import (
    Card,
    DigestScheduler,
    RunBlocking,
    covered_day,
    draw_card,
    new_timer,
    stored_parts,
    utc_now,
)
from bot.store import deliveries as deliveries_db
from bot.store.models import PERIODIC_KINDS

log = logging.getLogger(__name__)

WEEKLY, MONTHLY, BRIEFING, BRIEFING_WEEKLY = PERIODIC_KINDS
SUNDAY = 6

Every = time | WeeklyTime | MonthlyTime  # daily at a time, weekly, monthly


@dataclass(frozen=True, slots=True)
class PeriodJob:
    kind: str  # weekly | monthly | briefing | briefing_weekly
    target: str  # the group id (digests) or the recipient's contact id (briefings)
    every: Every

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.target}"


@dataclass(frozen=True, slots=True)
class DuePeriod:
    job: PeriodJob
    fire_at: datetime  # when it was due (aware, UTC)
    period: Period
    day: date  # the period's last local day (events are dated from it)
    period_start: date  # the local day the period starts: the key it is kept under


@dataclass(frozen=True, slots=True)
class Rendered:
    parts: list[str]
    html: str
    empty: bool  # not a single message in the period: kept, not sent
    digest: DigestData | None = None  # a weekly or monthly digest's data (for its card)
    briefing: BriefingData | None = None  # a briefing's data (for its card)


def jobs_of(config: Config) -> list[PeriodJob]:
    """Every periodic job the config asks for, weekly and monthly digests first."""
    jobs: list[PeriodJob] = []
    for group in config.groups:
        if (weekly := config.weekly_digest_for(group.id)) is not None:
            jobs.append(PeriodJob(WEEKLY, group.id, weekly))
        if (monthly := config.monthly_digest_for(group.id)) is not None:
            jobs.append(PeriodJob(MONTHLY, group.id, monthly))
    for b in config.briefings:
        jobs.append(PeriodJob(BRIEFING, b.to, clock_time(b.time)))
        if b.weekly is not None:
            jobs.append(PeriodJob(BRIEFING_WEEKLY, b.to, weekly_time(b.weekly)))
    return jobs


def _month_day(every: MonthlyTime, year: int, month: int) -> date:
    first = date(year, month, 1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return last if every.day is None else first.replace(day=every.day)


def last_fire(every: Every, now_local: datetime) -> datetime:
    """The latest scheduled run at or before ``now_local`` (aware, in the digest timezone)."""
    tz = now_local.tzinfo
    today = now_local.date()
    if isinstance(every, time):
        fire = datetime.combine(today, every, tz)
        return fire if fire <= now_local else fire - timedelta(days=1)
    if isinstance(every, WeeklyTime):
        fire = datetime.combine(today - timedelta(days=(today.weekday() - every.weekday) % 7), every.at, tz)
        return fire if fire <= now_local else fire - timedelta(days=7)
    fire = datetime.combine(_month_day(every, today.year, today.month), every.at, tz)
    if fire <= now_local:
        return fire
    before = today.replace(day=1) - timedelta(days=1)
    return datetime.combine(_month_day(every, before.year, before.month), every.at, tz)


def due_at(job: PeriodJob, fire_local: datetime, tz: ZoneInfo) -> DuePeriod:
    """What the run of ``job`` at ``fire_local`` covers (see the module's docstring)."""
    fire = fire_local.astimezone(timezone.utc)
    today = fire_local.date()
    so_far = covered_day(fire_local) == today  # the run is about its own day: not before 06:00
    if isinstance(job.every, time):  # since the run before: the same time the day before
        period = range_period(datetime.combine(today - timedelta(days=1), job.every, tz), fire, tz)
    elif isinstance(job.every, WeeklyTime):
        on_sunday = so_far and today.weekday() == SUNDAY
        period = week_period(today, tz, now=fire) if on_sunday else week_period(today, tz, previous=True)
    else:
        on_last_day = so_far and (today + timedelta(days=1)).day == 1
        period = month_period(today, tz, now=fire) if on_last_day else month_period(today, tz, previous=True)
    return DuePeriod(job, fire, period, period.last_day(tz), period.since.astimezone(tz).date())


class PeriodScheduler:
    """Makes and delivers the periodic jobs of ``config``; ``start()`` wires the timer (needs a loop)."""

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
        self.jobs = jobs_of(config)
        self._digests = DigestScheduler(sessions, config, outbox, clock=clock)  # delivers as the daily digest
        self._timer = None

    def latest_due(self, job: PeriodJob, now: datetime | None = None) -> DuePeriod:
        tz = self._config.digest_timezone()
        return due_at(job, last_fire(job.every, (now or self._clock()).astimezone(tz)), tz)

    # -- what ---------------------------------------------------------------------------------

    def run(self, due: DuePeriod) -> bool:
        """Make ``due`` and queue its delivery unless someone already did; True when this call
        claimed it (and queued it, unless the period was empty)."""
        job = due.job
        key = (job.kind, job.target, due.period_start)
        if job.kind in (WEEKLY, MONTHLY) and self._config.group(job.target) is None:
            log.warning("%s digest: group %s is not configured any more; skipped", job.kind, job.target)
            return False
        with self._sessions() as session:
            kept = deliveries_db.get_delivery(session, *key)
        if kept is not None and kept.sent_at is not None:
            return False
        rendered = self._make(due)
        card = self._card_for(job, rendered)  # drawn before the transaction: it holds no lock meanwhile
        with self._sessions.begin() as session:
            saved = deliveries_db.save_delivery(session, *key, "\n".join(rendered.parts), rendered.html)
            if not deliveries_db.mark_delivery_sent(session, *key, self._clock()):
                return False  # another process (or an earlier run) delivered it
            if saved:
                parts = [] if rendered.empty else rendered.parts
            else:  # kept before, never sent: what was kept goes out
                stored = deliveries_db.get_delivery(session, *key)
                assert stored is not None
                parts = stored_parts(stored.text)
            if not parts:
                log.info("%s of %s for %s has no messages; kept, not sent", job.kind, job.target, due.period_start)
                return True
            queued = self._deliver(session, job, parts, card if saved else None)
        log.info("%s of %s for %s queued", job.kind, job.target, due.period_start)
        if queued:
            self._on_queued()
        return True

    def _make(self, due: DuePeriod) -> Rendered:
        job = due.job
        if job.kind in (WEEKLY, MONTHLY):
            digest = make_digest(self._sessions, self._config, job.target, due.day, save=False, period=due.period)
            return Rendered(digest.text_parts, digest.html, digest.data.counts.total == 0, digest.data)
        briefing = make_briefing(self._sessions, self._config, job.target, due.day, period=due.period)
        return Rendered(briefing.text_parts, briefing.html, briefing.empty, briefing=briefing.data)

    def _card_for(self, job: PeriodJob, rendered: Rendered) -> Card | None:
        """The card it goes out as with ``[digest] card`` (None: the text alone), drawn outside any transaction."""
        briefing = rendered.briefing
        if briefing is not None and self._config.digest.card and not rendered.empty:
            from bot.digest.card import render_briefing_card

            png = draw_card(lambda: render_briefing_card(briefing), f"the briefing of {job.target}")
            return None if png is None else Card(png, f"briefing-{briefing.day.isoformat()}.png")
        if rendered.digest is None or job.kind not in (WEEKLY, MONTHLY):
            return None
        group = self._config.group(job.target)
        return None if group is None else self._digests.card_for(group, rendered.digest)

    def _deliver(self, session: Session, job: PeriodJob, parts: list[str], card: Card | None) -> bool:
        """Queue ``parts``: a digest the way the group's daily digest goes (``DigestScheduler.deliver``:
        into the group, to its recipients, as a card with ``[digest] card``), a briefing privately
        to its recipient; False when nothing was queued (the group's digests are kept only)."""
        if job.kind in (BRIEFING, BRIEFING_WEEKLY):
            if card is not None:
                with_text = self._config.digest.card_with_text
                fallback = [] if with_text else parts
                self._outbox.tell_image(session, job.target, card.png, fallback, name=card.name, purpose="briefing")
                if not with_text:
                    return True
            for part in parts:
                self._outbox.tell(session, job.target, part, purpose="briefing")
            return True
        group = self._config.group(job.target)
        assert group is not None
        self._digests.deliver(session, group, parts, card)
        return group.digest_delivery is not DigestDelivery.NONE

    def run_due(self, job: PeriodJob) -> bool:
        """What a scheduled job does: its run that is due now."""
        return self.run(self.latest_due(job))

    def catch_up(self) -> list[DuePeriod]:
        """Deliver every job's latest due run that was not delivered; return those this call
        claimed (an empty period is claimed, kept and marked, but nothing is sent)."""
        caught = []
        for job in self.jobs:
            due = self.latest_due(job)
            with self._sessions() as session:
                kept = deliveries_db.get_delivery(session, job.kind, job.target, due.period_start)
            if kept is not None and kept.sent_at is not None:
                continue
            if self.run(due):
                log.info("caught up %s of %s for %s (was due %s)", job.kind, job.target, due.period_start, due.fire_at)
                caught.append(due)
        return caught

    # -- APScheduler --------------------------------------------------------------------------

    def start(self) -> None:
        """Schedule one cron job per periodic job (in memory) and start; needs a running loop."""
        from apscheduler.triggers.cron import CronTrigger

        tz = self._config.digest_timezone()
        timer = new_timer(tz)
        timer.start(paused=True)
        for job in self.jobs:
            every = job.every
            at = every if isinstance(every, time) else every.at
            when: dict[str, int | str] = {"hour": at.hour, "minute": at.minute}
            if isinstance(every, WeeklyTime):
                when["day_of_week"] = every.weekday  # APScheduler 3: 0 is Monday, as date.weekday()
            elif isinstance(every, MonthlyTime):
                when["day"] = "last" if every.day is None else every.day
            timer.add_job(
                self._fire, CronTrigger(timezone=tz, **when), args=[job], id=job.id, name=job.id, replace_existing=True
            )
        timer.resume()
        self._timer = timer

    async def _fire(self, job: PeriodJob) -> None:
        try:
            await self.run_blocking(self.run_due, job)
        except Exception:  # noqa: BLE001 - a failed run must not kill the timer; the next start catches up
            log.exception("%s of %s failed; it will be caught up at the next start", job.kind, job.target)

    def next_runs(self) -> list[tuple[str, datetime | None]]:
        """(job id, next run time) of the scheduled jobs."""
        if self._timer is None:
            return []
        return [(j.id, j.next_run_time) for j in self._timer.get_jobs()]

    def shutdown(self) -> None:
        if self._timer is not None:
            self._timer.shutdown(wait=False)
            self._timer = None
