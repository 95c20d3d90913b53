"""Everything the bot says or does on the platform goes through one persistent outbox.

- ``Outbox`` queues operations in the store, in the caller's transaction: a warning is queued in
  the same commit as the moderation action that caused it, a digest in the same commit that marks
  it sent. Long texts are split into WeChat-sized parts here.
- ``OutboxSender`` drains the queue while the platform is connected: rows for one target go out
  strictly in order, within per-group and global rate limits, with a random pause (jitter) before
  each operation — bursts get accounts banned. A failed operation is retried with exponential
  backoff and logged; after ``send.max_retries`` retries it is marked failed and logged as an
  error, never dropped silently. While the platform is down nothing is attempted and no retry is
  spent; the queue simply waits, so what the bot meant to say while disconnected goes out after.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone

from sqlalchemy.orm import Session, sessionmaker

from bot.config import Send
from bot.digest import split_parts
from bot.message import NotConnected, Platform, PlatformError
from bot.store import queries
from bot.store.queries import OutgoingRecord

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 300.0
WINDOW_SECONDS = 60.0


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
            queries.enqueue(
                session, "text", group_id=group_id, text=part, mentions=mentions if i == 0 else (), purpose=purpose,
                at=self._clock(),
            )
            for i, part in enumerate(parts)
        ]

    def tell(self, session: Session, contact_id: str, text: str, *, purpose: str = "report") -> list[int]:
        """Queue a private message to one contact (split into parts when long)."""
        return [
            queries.enqueue(session, "private", contact_id=contact_id, text=part, purpose=purpose, at=self._clock())
            for part in split_parts(text, self.max_part_chars)
        ]

    def kick(self, session: Session, group_id: str, member_id: str, *, purpose: str = "kick") -> int:
        return queries.enqueue(
            session, "kick", group_id=group_id, contact_id=member_id, purpose=purpose, at=self._clock()
        )

    def add_member(self, session: Session, group_id: str, member_id: str, *, purpose: str = "reinvite") -> int:
        """Queue putting a member (back) into a group: the undo of a kick."""
        return queries.enqueue(
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

    async def acquire(self, key: str) -> None:
        while (wait := self.wait_time(key)) > 0:
            log.info("rate limit: waiting %.1f s before the next operation for %s", wait, key)
            await self._sleep(wait)
        now = self._clock()
        self._all.append(now)
        self._groups[key].append(now)


def backoff_seconds(attempts: int, base: float = 2.0) -> float:
    """Seconds to wait after the ``attempts``-th failure: 2, 4, 8 ... capped at five minutes."""
    return min(base * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)


class OutboxSender:
    """Drains the outbox onto the platform; run ``run()`` as a task, call ``wake()`` after queueing."""

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
        poll_seconds: float = 2.0,
    ) -> None:
        self._sessions = sessions
        self._platform = platform
        self._send = send
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._limiter = limiter or RateLimiter(send.per_group_per_minute, send.global_per_minute, sleep=sleep)
        self._poll = poll_seconds
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            done = await self.drain_once() if self._platform.connected else 0
            if done:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self._poll)
            except TimeoutError:
                pass

    async def drain_once(self) -> int:
        """Carry out what is due now; return how many operations were attempted."""
        with self._sessions() as session:
            due = queries.due_outgoing(session, self._clock())
        attempted = 0
        for row in due:
            if not self._platform.connected:
                break
            await self._limiter.acquire(row.group_id or f"contact:{row.contact_id}")
            low, high = self._send.jitter_seconds
            if high > 0:
                await self._sleep(self._rng.uniform(low, high))
            attempted += 1
            await self._attempt(row)
        return attempted

    async def _attempt(self, row: OutgoingRecord) -> None:
        try:
            await self._carry_out(row)
        except NotConnected as e:
            log.info("outbox: %s %s not sent, platform disconnected (%s); it waits for the reconnect", row.op, row.pk, e)
            return
        except Exception as e:  # noqa: BLE001 - any platform failure is counted, retried and logged
            self._failed(row, e)
            return
        with self._sessions.begin() as session:
            queries.mark_outgoing_sent(session, row.pk, self._clock())
        log.info("outbox: %s %s done (%s → %s)", row.op, row.pk, row.purpose, row.group_id or row.contact_id)

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
        else:  # the table's check constraint makes this unreachable
            raise PlatformError(f"unknown outbox operation {row.op!r}", retry=False)

    def _failed(self, row: OutgoingRecord, error: Exception) -> None:
        attempts = row.attempts + 1
        retry = not (isinstance(error, PlatformError) and not error.retry)
        give_up = not retry or attempts > self._send.max_retries
        wait = backoff_seconds(attempts)
        text = f"{type(error).__name__}: {error}"
        now = self._clock()
        with self._sessions.begin() as session:
            queries.mark_outgoing_retry(
                session, row.pk, text, now + timedelta(seconds=wait), give_up=give_up, at=now
            )
        target = row.group_id or row.contact_id
        if give_up:
            log.error(
                "outbox: gave up on %s %s (%s → %s) after %d attempts: %s", row.op, row.pk, row.purpose, target, attempts, text
            )
        else:
            log.warning(
                "outbox: %s %s (%s → %s) failed (attempt %d, retry in %.0f s): %s",
                row.op, row.pk, row.purpose, target, attempts, wait, text,
            )
