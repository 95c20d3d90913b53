"""Everything the bot says or does on the platform goes through one persistent outbox.

- ``Outbox`` queues operations in the store, in the caller's transaction: a warning is queued in
  the same commit as the moderation action that caused it, a digest in the same commit that marks
  it sent. Long texts are split into WeChat-sized parts here. ``after=`` holds a row until another
  row is sent (the admins' "done" note after a kick).
- ``OutboxSender`` carries the queue out while the platform is connected.

Images (``say_image``, ``tell_image``: the digest card) carry their text as a fallback. The text
goes instead, each part once, when the image is given up for good: the platform sends no images
(``ImagesUnsupported``) or refuses it after the retries. The parts take the image's place in its
queue, queued in the commit that gives it up. A sent image's text never goes (never both); nor
does a maybe delivered one's. An image whose outcome is unknown is maybe delivered, into a group
or to a contact alike: a second picture or its text could follow one that arrived.

Delivery rule — what the outcome of one platform call makes of its row:

========================================  ===========================================================
the call                                  the row
========================================  ===========================================================
returns without an error (with or         **sent**: delivered. A send's message id is not needed
without a message id)                     (``messageSendText(): Promise<void | string>``). Nothing
                                          sent is ever sent again, restart or not.
fails before the request left (not        waits for the reconnect, no retry spent (``NotConnected``);
connected, connection refused)            the target pauses a second so a stale "connected" cannot spin
leaves, but no answer comes back          a **group message**: **maybe delivered** (``uncertain_at``):
(deadline passed, connection reset        never resent into the group — a duplicate there is worse than
mid-call: ``OutcomeUnknown``; also the    a gap — and logged once as a WARNING. A **private message** is
bot stopping mid-send)                    retried (a second copy reaches one admin). A **kick** is
                                          retried: it is idempotent (the member already gone is "not a
                                          member", i.e. done). An **add** is retried (at worst a second
                                          invitation to one person, never a message to the group).
                                          An **image** is maybe delivered, like a group message.
is answered with an error                 retried with exponential backoff (2, 4, 8 … s, at most 5 min);
                                          after ``send.max_retries`` retries, or at once when the error
                                          says retrying cannot help, **failed** and logged as an ERROR
                                          (an image: its text queued in its place)
========================================  ===========================================================

A row held behind another (``after``) is given up with it when that row ends failed or maybe
delivered: what it would report may not have happened.

Order and pacing: each target (a group; a contact, for private messages) is one queue, carried out
strictly in order — a row goes out once the one before it is sent, maybe delivered or given up.
Targets are independent: each due head runs in its own task (at most ``max_concurrent`` at once),
so a slow or failing operation holds back only its own target, and that only for its deadline or
its backoff. Rate limits (per target and overall, per sliding minute) skip a target that is over
its limit until its window frees — nothing sleeps for it — and a random pause (jitter) comes
before each operation, in that operation's own task: bursts get accounts banned.

Wake-ups: the sender sleeps until the earliest head falls due (a backoff ends, a rate-limit window
frees), or until ``wake()`` — called after queueing, and by the platform on every (re)connect
(``Platform.on_connected``), so what was decided while the platform was down goes out at once. A
long safety poll (``poll_seconds``) picks up rows another process queued.

Where it runs: the sender's coroutines run on the event loop and only await. Every database call
runs on the sender's own single thread (``qunzhi-outbox``), never on the loop, so a busy SQLite
(up to its busy timeout) cannot stall the reception of messages. ``wake()`` may be called from any
thread (it goes through ``loop.call_soon_threadsafe``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from bot import metrics
from bot.config import Send
from bot.digest import split_parts
from bot.message import ImagesUnsupported, NotConnected, OutcomeUnknown, Platform, PlatformError
from bot.store import outgoing as outgoing_db
from bot.store.outgoing import OutgoingRecord

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BACKOFF_SECONDS = 300.0
WINDOW_SECONDS = 60.0
MAX_CONCURRENT_OPERATIONS = 8  # targets carried out at once
SAFETY_POLL_SECONDS = 60.0  # a look at the queue even when nothing woke the sender
NOT_CONNECTED_PAUSE_SECONDS = 1.0  # a target whose call found no connection waits this long


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Outbox:
    """The queueing side: call inside a transaction (``with sessions.begin() as session``)."""

    def __init__(self, max_part_chars: int = 2000, *, clock: Callable[[], datetime] = _now) -> None:
        self.max_part_chars = max_part_chars
        self._clock = clock

    def say(
        self, session: Session, group_id: str, text: str, *, mentions: tuple[str, ...] = (), purpose: str = "reply"
    ) -> list[int]:
        """Queue a group message (split into parts when long); the mentions go with the first part."""
        parts = split_parts(text, self.max_part_chars)
        return [
            outgoing_db.enqueue(
                session,
                "text",
                group_id=group_id,
                text=part,
                mentions=mentions if i == 0 else (),
                purpose=purpose,
                at=self._clock(),
            )
            for i, part in enumerate(parts)
        ]

    def tell(
        self, session: Session, contact_id: str, text: str, *, purpose: str = "report", after: int | None = None
    ) -> list[int]:
        """Queue a private message to one contact (split into parts when long).

        ``after``: hold it until that outbox row is sent (given up if that row fails).
        """
        return [
            outgoing_db.enqueue(
                session, "private", contact_id=contact_id, text=part, purpose=purpose, at=self._clock(), after=after
            )
            for part in split_parts(text, self.max_part_chars)
        ]

    def say_image(
        self,
        session: Session,
        group_id: str,
        png: bytes,
        fallback: list[str],
        *,
        name: str = "card.png",
        purpose: str = "reply",
    ) -> int:
        """Queue a PNG for a group; ``fallback``: the text parts sent instead (each once) if the
        image is given up for good, [] for none."""
        return outgoing_db.enqueue_image(
            session, png, name=name, fallback=fallback, group_id=group_id, purpose=purpose, at=self._clock()
        )

    def tell_image(
        self,
        session: Session,
        contact_id: str,
        png: bytes,
        fallback: list[str],
        *,
        name: str = "card.png",
        purpose: str = "report",
    ) -> int:
        """Queue a PNG for one contact, with its text as the fallback (see :meth:`say_image`)."""
        return outgoing_db.enqueue_image(
            session, png, name=name, fallback=fallback, contact_id=contact_id, purpose=purpose, at=self._clock()
        )

    def kick(self, session: Session, group_id: str, member_id: str, *, purpose: str = "kick") -> int:
        return outgoing_db.enqueue(
            session, "kick", group_id=group_id, contact_id=member_id, purpose=purpose, at=self._clock()
        )

    def add_member(self, session: Session, group_id: str, member_id: str, *, purpose: str = "reinvite") -> int:
        """Queue putting a member (back) into a group: the undo of a kick."""
        return outgoing_db.enqueue(
            session, "add", group_id=group_id, contact_id=member_id, purpose=purpose, at=self._clock()
        )


class RateLimiter:
    """At most ``per_group`` operations per group and ``overall`` in all per sliding minute."""

    def __init__(
        self,
        per_group: int,
        overall: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._per_group = per_group
        self._overall = overall
        self._clock = clock
        self._sleep = sleep
        self._all: deque[float] = deque()
        self._groups: dict[str, deque[float]] = {}

    def wait_time(self, key: str) -> float:
        now = self._clock()
        waits = [0.0]
        for window, limit in ((self._all, self._overall), (self._groups.setdefault(key, deque()), self._per_group)):
            while window and window[0] <= now - WINDOW_SECONDS:
                window.popleft()
            if len(window) >= limit:
                waits.append(window[len(window) - limit] + WINDOW_SECONDS - now)
        return max(waits)

    def take(self, key: str) -> float:
        """Take a slot for ``key`` now and return 0, or return the seconds until one frees (taking nothing)."""
        wait = self.wait_time(key)
        if wait > 0:
            return wait
        now = self._clock()
        self._all.append(now)
        self._groups[key].append(now)
        return 0.0

    async def acquire(self, key: str) -> None:
        while (wait := self.wait_time(key)) > 0:
            log.info("rate limit: waiting %.1f s before the next operation for %s", wait, key)
            await self._sleep(wait)
        now = self._clock()
        self._all.append(now)
        self._groups[key].append(now)


def backoff_seconds(attempts: int, base: float = 2.0) -> float:
    """Seconds to wait after the ``attempts``-th failure: 2, 4, 8 ... capped at five minutes."""
    factor: int = 2 ** max(attempts - 1, 0)
    return min(base * factor, MAX_BACKOFF_SECONDS)


def _target(row: OutgoingRecord) -> tuple[str, str]:
    """The queue a row belongs to: its group, or the contact of a private message (or image)."""
    return outgoing_db.target_of(row.op, row.group_id, row.contact_id)


def _maybe_delivered_when_unanswered(row: OutgoingRecord) -> bool:
    """A group message or any image: never resent when its outcome is unknown."""
    return row.op in ("text", "image")


def _limit_key(row: OutgoingRecord) -> str:
    return row.group_id or f"contact:{row.contact_id}"


class OutboxSender:
    """Carries the outbox out on the platform; run ``run()`` as a task, call ``wake()`` after queueing.

    See the module docstring for the delivery rule, the order, and where each part runs.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        platform: Platform,
        send: Send,
        *,
        clock: Callable[[], datetime] = _now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        limiter: RateLimiter | None = None,
        poll_seconds: float = SAFETY_POLL_SECONDS,
        max_concurrent: int = MAX_CONCURRENT_OPERATIONS,
        account: Callable[[], str | None] = lambda: None,
    ) -> None:
        """``account``: the bot account this sender speaks as (the platform's own id once logged
        in). With one, only that account's rows and rows nobody has claimed are sent, each claimed
        first, so several ``qunzhi run`` processes (one per account) on one database never send a
        row twice; None (one process) sends every row. Called on the sender's database thread,
        before each look at the queue; an exception there sends nothing (the look is retried)."""
        self._sessions = sessions
        self._account = account
        self._speaking_as: str | None = None
        self._platform = platform
        self._send = send
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._limiter = limiter or RateLimiter(send.per_group_per_minute, send.global_per_minute, sleep=sleep)
        self._poll = poll_seconds
        self._slots = asyncio.Semaphore(max_concurrent)
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._db: ThreadPoolExecutor | None = None
        self._busy: dict[tuple[str, str], asyncio.Task[None]] = {}
        platform.on_connected(self.wake)

    # -- wake-ups and the database thread -------------------------------------------------------

    def wake(self) -> None:
        """Look at the queue now. Safe from any thread; before ``run()`` starts it does nothing (the
        first look takes everything due anyway)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            on_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            self._wake.set()
            return
        try:
            loop.call_soon_threadsafe(self._wake.set)
        except RuntimeError:  # the loop closed meanwhile: nothing left to wake
            pass

    def _bind(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def _in_db(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking database call on the sender's own thread, never on the event loop."""
        if self._db is None:
            self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qunzhi-outbox")
        return await asyncio.get_running_loop().run_in_executor(self._db, fn, *args)

    async def _record(self, fn: Callable[..., T], *args: Any) -> T:
        """A database write recording what happened on the platform: it completes even when the
        waiting task is cancelled (a stop right after a send must not lose its "sent")."""
        return await asyncio.shield(self._in_db(fn, *args))

    async def close(self) -> None:
        """Stop the in-flight operations and the database thread (waits for its current call)."""
        tasks = list(self._busy.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        db, self._db = self._db, None
        if db is not None:
            await asyncio.to_thread(db.shutdown, True)

    # -- the loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        self._bind()
        try:
            while True:
                self._wake.clear()  # before looking: a wake-up during the look is not lost
                timeout = self._poll
                if self._platform.connected:
                    try:
                        _, soonest = await self._dispatch()
                    except Exception:  # noqa: BLE001 - e.g. the database busy: look again shortly
                        log.exception("outbox: could not read the queue; looking again in 5 s")
                        soonest = 5.0
                    if soonest is not None:
                        timeout = min(timeout, soonest)
                try:  # not wait_for: on 3.11 it can swallow a cancel that meets a wake-up
                    async with asyncio.timeout(max(timeout, 0.0)):
                        await self._wake.wait()
                except TimeoutError:
                    pass
        finally:
            await self.close()

    async def drain_once(self) -> int:
        """Start the due head of every idle target, wait for them; return how many were attempted."""
        self._bind()
        if not self._platform.connected:
            return 0
        started, _ = await self._dispatch()
        await asyncio.gather(*started)
        return len(started)

    async def _dispatch(self) -> tuple[list[asyncio.Task[None]], float | None]:
        """Start a task for the due head of each target not already busy and within its rate limit.

        Returns the tasks started and the seconds until the next head falls due or a rate-limit
        window frees (None when nothing waits for time).
        """
        heads = await self._in_db(self._heads)
        now = self._clock()
        soonest: float | None = None

        def later(seconds: float) -> None:
            nonlocal soonest
            soonest = seconds if soonest is None else min(soonest, seconds)

        started: list[asyncio.Task[None]] = []
        for row in heads:
            key = _target(row)
            if key in self._busy:
                continue  # its task wakes the sender when done
            if row.not_before > now:
                later((row.not_before - now).total_seconds())
                continue
            if not self._platform.connected:
                break
            wait = self._limiter.wait_time(_limit_key(row))
            if wait > 0:
                log.info("outbox: rate limit for %s: %s %s waits %.1f s", _limit_key(row), row.op, row.pk, wait)
                later(wait)
                continue
            task = asyncio.create_task(self._one(row), name=f"outbox {row.op} {row.pk}")
            self._busy[key] = task
            task.add_done_callback(functools.partial(self._finished, key))
            started.append(task)
        return started, soonest

    def _heads(self) -> list[OutgoingRecord]:
        # asked here, on the database thread (the live bot's answer may first take its account's
        # lock, bot.account_lock; it raises when another process holds it: then nothing is sent)
        self._speaking_as = self._account()
        with self._sessions() as session:
            return outgoing_db.outgoing_heads(session, self._speaking_as)

    def _claim(self, pk: int, account: str) -> bool:
        with self._sessions.begin() as session:
            return outgoing_db.claim_outgoing(session, pk, account)

    def _finished(self, key: tuple[str, str], task: asyncio.Task[None]) -> None:
        self._busy.pop(key, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("outbox: operation task failed", exc_info=task.exception())
        self._wake.set()  # that target's next row may go now (done callbacks run on the loop)

    # -- one operation --------------------------------------------------------------------------

    async def _one(self, row: OutgoingRecord) -> None:
        async with self._slots:
            low, high = self._send.jitter_seconds
            if high > 0:
                await self._sleep(self._rng.uniform(low, high))
            if not self._platform.connected:
                return  # it waits for the reconnect, untouched
            if self._limiter.take(_limit_key(row)) > 0:
                return  # others filled the overall window meanwhile: the next look times it
            account = self._speaking_as  # as of the look that offered this row
            if row.account is None and account is not None and not await self._in_db(self._claim, row.pk, account):
                return  # another account's sender claimed it first: it sends it
            await self._attempt(row)

    async def _attempt(self, row: OutgoingRecord) -> None:
        target = row.group_id or row.contact_id
        try:
            await self._carry_out(row)
        except asyncio.CancelledError:
            if _maybe_delivered_when_unanswered(row):  # stopped mid-send: it may have arrived
                await self._uncertain(row, "the bot stopped while sending")
            raise
        except NotConnected as e:
            log.info(
                "outbox: %s %s not sent, platform disconnected (%s); it waits for the reconnect", row.op, row.pk, e
            )
            await self._sleep(NOT_CONNECTED_PAUSE_SECONDS)
            return
        except OutcomeUnknown as e:
            if _maybe_delivered_when_unanswered(row):
                await self._uncertain(row, f"{type(e).__name__}: {e}")
            else:
                await self._failed(row, e)
            return
        except Exception as e:  # noqa: BLE001 - any platform failure is counted, retried and logged
            await self._failed(row, e)
            return
        await self._record(self._mark_sent, row.pk)
        metrics.OUTBOX_SENT.labels(row.op).inc()
        log.info("outbox: %s %s done (%s → %s)", row.op, row.pk, row.purpose, target)

    async def _carry_out(self, row: OutgoingRecord) -> None:
        if row.op == "text":
            assert row.group_id is not None
            await self._platform.send_text(row.group_id, row.text, row.mentions)
        elif row.op == "private":
            assert row.contact_id is not None
            await self._platform.send_private(row.contact_id, row.text)
        elif row.op == "kick":
            assert row.group_id is not None and row.contact_id is not None
            await self._platform.kick(row.group_id, row.contact_id)
        elif row.op == "add":
            assert row.group_id is not None and row.contact_id is not None
            await self._platform.add_member(row.group_id, row.contact_id)
        elif row.op == "image":
            image = await self._in_db(self._image, row.pk)
            if image is None:
                raise PlatformError(f"the picture of outgoing #{row.pk} is gone", retry=False)
            send_image = getattr(self._platform, "send_image", None)
            if send_image is None:
                raise ImagesUnsupported(f"{type(self._platform).__name__} has no send_image")
            await send_image(row.group_id or row.contact_id or "", image.png, image.name)
        else:  # the table's check constraint makes this unreachable
            raise PlatformError(f"unknown outbox operation {row.op!r}", retry=False)

    def _image(self, pk: int) -> outgoing_db.OutgoingImageRecord | None:
        with self._sessions() as session:
            return outgoing_db.outgoing_image(session, pk)

    def _mark_sent(self, pk: int) -> None:
        with self._sessions.begin() as session:
            outgoing_db.mark_outgoing_sent(session, pk, self._clock())

    async def _uncertain(self, row: OutgoingRecord, why: str) -> None:
        def mark() -> list[int]:
            with self._sessions.begin() as session:
                return outgoing_db.mark_outgoing_uncertain(session, row.pk, why, self._clock())

        dropped = await self._record(mark)
        metrics.OUTBOX_UNCERTAIN.labels(row.op).inc()
        log.warning(
            "outbox: %s %s (%s → %s) maybe delivered, not resent into the group: %s%s",
            row.op,
            row.pk,
            row.purpose,
            row.group_id,
            why,
            _dropped(dropped),
        )

    async def _failed(self, row: OutgoingRecord, error: Exception) -> None:
        attempts = row.attempts + 1
        retry = not (isinstance(error, PlatformError) and not error.retry)
        give_up = not retry or attempts > self._send.max_retries
        wait = backoff_seconds(attempts)
        text = f"{type(error).__name__}: {error}"
        now = self._clock()

        def mark() -> tuple[list[int], list[int]]:
            with self._sessions.begin() as session:
                dropped = outgoing_db.mark_outgoing_retry(
                    session, row.pk, text, now + timedelta(seconds=wait), give_up=give_up, at=now
                )
                return dropped, outgoing_db.fallback_of(session, row.pk) if give_up else []

        dropped, instead = await self._record(mark)
        (metrics.OUTBOX_FAILURES if give_up else metrics.OUTBOX_RETRIES).labels(row.op).inc()
        target = row.group_id or row.contact_id
        if give_up and isinstance(error, ImagesUnsupported):
            log.warning(
                "outbox: image %s (%s → %s) not sent, the platform sends no images (%s); its text goes instead%s",
                row.pk,
                row.purpose,
                target,
                error,
                _instead(instead),
            )
        elif give_up:
            log.error(
                "outbox: gave up on %s %s (%s → %s) after %d attempts: %s%s",
                row.op,
                row.pk,
                row.purpose,
                target,
                attempts,
                text,
                _dropped(dropped) + _instead(instead),
            )
        else:
            log.warning(
                "outbox: %s %s (%s → %s) failed (attempt %d, retry in %.0f s): %s",
                row.op,
                row.pk,
                row.purpose,
                target,
                attempts,
                wait,
                text,
            )


def _instead(pks: list[int]) -> str:
    return f"; its text goes instead: {', '.join(map(str, pks))}" if pks else ""


def _dropped(pks: list[int]) -> str:
    return f"; gave up the rows held behind it: {', '.join(map(str, pks))}" if pks else ""
