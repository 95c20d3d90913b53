"""The persistent outbox on real SQLite and PostgreSQL, with a fake clock, fake sleep and seeded jitter.

Nothing here really sleeps except the tests of ``OutboxSender.run`` (fractions of a second). The
delivery rule of bot/outbox.py is tested case by case; the same rule against the real puppet
server is in tests/bot/adapters/test_wechaty.py.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from bot.config import Send
from bot.message import NotConnected, OutcomeUnknown, PlatformError
from bot.outbox import MAX_BACKOFF_SECONDS, Outbox, OutboxSender, RateLimiter, backoff_seconds
from bot.store import outgoing as outgoing_db
from tests.bot.live_helpers import RecordingPlatform

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc)
GA = "a@chatroom"
GB = "b@chatroom"


class FakeTime:
    """One fake time line: the sender's wall clock, the limiter's monotonic clock, and sleep."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return (self.now - T0).total_seconds()

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)


def make_sender(
    sessions,
    platform,
    ft: FakeTime,
    *,
    send: Send | None = None,
    per_group: int = 100,
    overall: int = 100,
    poll: float = 2.0,
) -> OutboxSender:
    return OutboxSender(
        sessions,
        platform,
        send or Send(jitter_seconds=(0.0, 0.0)),
        clock=ft.clock,
        sleep=ft.sleep,
        rng=random.Random(7),
        limiter=RateLimiter(per_group, overall, clock=ft.monotonic, sleep=ft.sleep),
        poll_seconds=poll,
    )


async def drain_all(sender: OutboxSender, rounds: int = 100) -> int:
    """drain_once offers one row per target per round: repeat until a round does nothing."""
    total = 0
    for _ in range(rounds):
        n = await sender.drain_once()
        if n == 0:
            return total
        total += n
    raise AssertionError("the outbox never ran dry")


def rows(sessions, **kw) -> list[outgoing_db.OutgoingRecord]:
    with sessions() as s:
        return outgoing_db.outgoing(s, **kw)


def row(sessions, pk: int) -> outgoing_db.OutgoingRecord:
    return next(r for r in rows(sessions) if r.pk == pk)


class RefusingPlatform(RecordingPlatform):
    """Refuses every group text for good (e.g. the bot was removed from the room)."""

    async def send_text(self, group_id: str, text: str, mentions: tuple[str, ...] = ()) -> None:
        raise PlatformError("not a member of this room", retry=False)


class DroppingPlatform(RecordingPlatform):
    """Says it is connected, but the connection drops under the first ``drops`` operations."""

    def __init__(self, drops: int) -> None:
        super().__init__()
        self.drops = drops

    async def send_text(self, group_id: str, text: str, mentions: tuple[str, ...] = ()) -> None:
        if self.drops:
            self.drops -= 1
            raise NotConnected("connection dropped mid-send")
        await super().send_text(group_id, text, mentions)


# --- queueing and splitting ------------------------------------------------------------------------


async def test_long_text_is_split_into_marked_parts_sent_in_order_with_mentions_on_the_first(sessions):
    ft = FakeTime()
    lines = [f"第 {i} 行：关于大模型部署的讨论，显存、量化和推理框架。" for i in range(40)]
    text = "\n".join(lines)
    with sessions.begin() as s:
        pks = Outbox(max_part_chars=300, clock=ft.clock).say(s, GA, text, mentions=("wxid_alice",))
    assert len(pks) >= 3 and pks == sorted(pks)
    queued = rows(sessions)
    n = len(pks)
    assert [r.pk for r in queued] == pks
    assert all(r.op == "text" and r.group_id == GA and r.purpose == "reply" for r in queued)
    assert all(len(r.text) <= 300 for r in queued)
    assert [r.text.splitlines()[0] for r in queued] == [f"({i}/{n})" for i in range(1, n + 1)]
    assert [r.mentions for r in queued] == [("wxid_alice",)] + [()] * (n - 1)
    assert all(r.created_at == T0 and r.not_before == T0 for r in queued)

    platform = RecordingPlatform()
    sender = make_sender(sessions, platform, ft)
    assert await drain_all(sender) == n
    assert [t for _, t, _ in platform.sent] == [r.text for r in queued]
    assert [m for _, _, m in platform.sent] == [("wxid_alice",)] + [()] * (n - 1)
    # Nothing lost or reordered: the parts without their markers are the original lines, in order.
    body = [ln for _, t, _ in platform.sent for ln in t.splitlines()[1:] if ln]
    assert body == lines
    assert all(r.sent_at == T0 and r.attempts == 1 for r in rows(sessions))
    assert await sender.drain_once() == 0


async def test_short_text_private_and_kick_are_queued_and_carried_out(sessions):
    ft = FakeTime()
    box = Outbox(clock=ft.clock)
    with sessions.begin() as s:
        box.say(s, GA, "请勿发广告", mentions=("wxid_spam",), purpose="warn")
        box.kick(s, GA, "wxid_spam")
        box.tell(s, "wxid_admin", "已移出 wxid_spam")
    queued = rows(sessions)
    assert [(r.op, r.purpose, r.text) for r in queued] == [
        ("text", "warn", "请勿发广告"),
        ("kick", "kick", ""),
        ("private", "report", "已移出 wxid_spam"),
    ]
    platform = RecordingPlatform()
    await drain_all(make_sender(sessions, platform, ft))
    assert platform.sent == [(GA, "请勿发广告", ("wxid_spam",))]
    assert platform.kicks == [(GA, "wxid_spam")]
    assert platform.private == [("wxid_admin", "已移出 wxid_spam")]
    assert rows(sessions, pending_only=True) == []


# --- order per target --------------------------------------------------------------------------------


async def test_a_failing_head_holds_back_its_own_target_but_not_others(sessions):
    ft = FakeTime()
    box = Outbox(clock=ft.clock)
    with sessions.begin() as s:
        (a1,) = box.say(s, GA, "A1 警告")
        a2 = box.kick(s, GA, "wxid_spam")
        (b1,) = box.say(s, GB, "B1")
        (c1,) = box.tell(s, "wxid_admin", "C1")
    platform = RecordingPlatform()
    platform.fail_next = 1  # the oldest row, A1, fails once
    sender = make_sender(sessions, platform, ft)

    assert await sender.drain_once() == 3  # A1 (failed), B1, C1; the kick waits behind A1
    assert platform.sent == [(GB, "B1", ())] and platform.private == [("wxid_admin", "C1")]
    assert platform.kicks == []
    r = row(sessions, a1)
    assert (r.attempts, r.sent_at, r.not_before) == (1, None, T0 + timedelta(seconds=2))
    assert r.last_error == "RuntimeError: send failed"

    # Before the backoff is over nothing goes out: not A1 (not due), not the kick (not the head).
    ft.advance(1.9)
    assert await drain_all(sender) == 0
    assert platform.kicks == [] and row(sessions, a2).attempts == 0

    ft.advance(0.1)
    assert await drain_all(sender) == 2
    assert platform.sent == [(GB, "B1", ()), (GA, "A1 警告", ())]
    assert platform.kicks == [(GA, "wxid_spam")]
    assert row(sessions, a1).attempts == 2 and row(sessions, a1).sent_at is not None
    assert row(sessions, a2).sent_at >= row(sessions, a1).sent_at
    assert rows(sessions, pending_only=True) == []
    assert {b1, c1} <= {r.pk for r in rows(sessions) if r.sent_at == T0}


# --- retries ------------------------------------------------------------------------------------------


async def test_failures_back_off_exponentially_then_succeed(sessions):
    ft = FakeTime()
    with sessions.begin() as s:
        (pk,) = Outbox(clock=ft.clock).say(s, GA, "hello")
    platform = RecordingPlatform()
    platform.fail_next = 3
    sender = make_sender(sessions, platform, ft, send=Send(jitter_seconds=(0, 0), max_retries=5))
    for attempt, wait in ((1, 2), (2, 4), (3, 8)):
        failed_at = ft.now
        assert await sender.drain_once() == 1
        r = row(sessions, pk)
        assert r.attempts == attempt
        assert r.not_before == failed_at + timedelta(seconds=wait)
        assert r.last_error == "RuntimeError: send failed"
        assert r.sent_at is None and r.failed_at is None
        ft.advance(wait - 0.5)
        assert await sender.drain_once() == 0  # not due yet
        ft.advance(0.5)
    assert await sender.drain_once() == 1
    r = row(sessions, pk)
    assert r.sent_at == ft.now and r.attempts == 4 and r.failed_at is None
    assert platform.sent == [(GA, "hello", ())]


async def test_after_max_retries_it_is_marked_failed_logged_as_error_and_never_sent(sessions, caplog):
    ft = FakeTime()
    with sessions.begin() as s:
        (pk,) = Outbox(clock=ft.clock).say(s, GA, "doomed", purpose="warn")
        (other,) = Outbox(clock=ft.clock).say(s, GA, "after it")
    platform = RecordingPlatform()
    platform.fail_next = 100
    sender = make_sender(sessions, platform, ft, send=Send(jitter_seconds=(0, 0), max_retries=2))
    caplog.set_level(logging.INFO, logger="bot.outbox")

    for _ in range(3):  # the first try and two retries
        assert await sender.drain_once() == 1
        ft.advance(MAX_BACKOFF_SECONDS)
    r = row(sessions, pk)
    assert r.attempts == 3 and r.failed_at is not None and r.sent_at is None
    assert r.last_error == "RuntimeError: send failed"
    errors = [rec for rec in caplog.records if rec.levelno == logging.ERROR]
    assert len(errors) == 1 and "gave up" in errors[0].getMessage() and "after 3 attempts" in errors[0].getMessage()
    assert len([rec for rec in caplog.records if rec.levelno == logging.WARNING]) == 2

    # Given up for good: even once the platform works again it is not sent; the next row is.
    platform.fail_next = 0
    ft.advance(3600)
    assert await drain_all(sender) == 1
    assert platform.sent == [(GA, "after it", ())]
    assert row(sessions, pk).sent_at is None and row(sessions, other).sent_at is not None
    assert await drain_all(sender) == 0


async def test_a_permanent_platform_error_gives_up_at_once(sessions, caplog):
    ft = FakeTime()
    with sessions.begin() as s:
        (pk,) = Outbox(clock=ft.clock).say(s, GA, "no room")
    caplog.set_level(logging.INFO, logger="bot.outbox")
    sender = make_sender(sessions, RefusingPlatform(), ft, send=Send(jitter_seconds=(0, 0), max_retries=5))
    assert await sender.drain_once() == 1
    r = row(sessions, pk)
    assert r.attempts == 1 and r.failed_at is not None
    assert r.last_error == "PlatformError: not a member of this room"
    assert [rec.levelno for rec in caplog.records if rec.levelno >= logging.WARNING] == [logging.ERROR]
    ft.advance(3600)
    assert await drain_all(sender) == 0


async def test_max_retries_zero_gives_up_on_the_first_failure(sessions):
    ft = FakeTime()
    with sessions.begin() as s:
        (pk,) = Outbox(clock=ft.clock).tell(s, "wxid_admin", "report")
    platform = RecordingPlatform()
    platform.fail_next = 1
    sender = make_sender(sessions, platform, ft, send=Send(jitter_seconds=(0, 0), max_retries=0))
    assert await sender.drain_once() == 1
    assert row(sessions, pk).failed_at is not None
    ft.advance(3600)
    assert await drain_all(sender) == 0 and platform.private == []


# --- disconnected -------------------------------------------------------------------------------------


async def test_nothing_is_attempted_while_disconnected_and_everything_goes_out_after(sessions):
    ft = FakeTime()
    platform = RecordingPlatform()
    platform.connected = False
    box = Outbox(clock=ft.clock)
    with sessions.begin() as s:  # e.g. a warning decided while the puppet server was down
        box.say(s, GA, "请勿发广告", mentions=("wxid_spam",), purpose="warn")
        box.kick(s, GA, "wxid_spam")
        box.tell(s, "wxid_admin", "已警告")
    sender = make_sender(sessions, platform, ft, send=Send(jitter_seconds=(0, 0), max_retries=0))
    for _ in range(5):
        assert await sender.drain_once() == 0
        ft.advance(3600)
    assert all(r.attempts == 0 and r.last_error is None and r.failed_at is None for r in rows(sessions))
    assert (platform.sent, platform.private, platform.kicks) == ([], [], [])

    platform.connected = True
    assert await drain_all(sender) == 3
    assert platform.sent == [(GA, "请勿发广告", ("wxid_spam",))]
    assert platform.kicks == [(GA, "wxid_spam")]
    assert platform.private == [("wxid_admin", "已警告")]
    assert rows(sessions, pending_only=True) == []


async def test_a_connection_dropping_mid_send_spends_no_retry(sessions):
    ft = FakeTime()
    with sessions.begin() as s:
        (pk,) = Outbox(clock=ft.clock).say(s, GA, "hello")
    platform = DroppingPlatform(drops=3)
    # max_retries=0: a single counted failure would give the row up; a dropped connection must not.
    sender = make_sender(sessions, platform, ft, send=Send(jitter_seconds=(0, 0), max_retries=0))
    for _ in range(3):
        assert await sender.drain_once() == 1
        r = row(sessions, pk)
        assert (r.attempts, r.last_error, r.failed_at, r.not_before) == (0, None, None, T0)
    assert await sender.drain_once() == 1
    assert platform.sent == [(GA, "hello", ())]
    assert row(sessions, pk).attempts == 1 and row(sessions, pk).sent_at is not None


# --- rate limits and jitter ----------------------------------------------------------------------------


async def test_rate_limiter_per_group_and_global_windows():
    ft = FakeTime()
    limiter = RateLimiter(per_group=2, overall=3, clock=ft.monotonic, sleep=ft.sleep)
    await limiter.acquire("a")  # t=0
    ft.advance(10)
    await limiter.acquire("a")  # t=10
    ft.advance(10)  # t=20: "a" is full for its group, the global window still has room
    assert limiter.wait_time("a") == pytest.approx(40)
    assert limiter.wait_time("b") == 0
    await limiter.acquire("a")  # the 3rd in group a waits until t=0 leaves the window
    assert ft.sleeps == [pytest.approx(40)] and ft.monotonic() == pytest.approx(60)
    ft.advance(1)
    await limiter.acquire("b")  # t=61: window now holds 10, 60, 61
    assert len(ft.sleeps) == 1
    ft.advance(1)  # t=62: group c never sent, but three operations went out in the last minute
    assert limiter.wait_time("c") == pytest.approx(8)
    await limiter.acquire("c")
    assert ft.sleeps[1:] == [pytest.approx(8)] and ft.monotonic() == pytest.approx(70)
    assert limiter.wait_time("b") > 0  # the global window is full again


def test_backoff_seconds_doubles_and_is_capped():
    assert [backoff_seconds(n) for n in (0, 1, 2, 3, 4, 5)] == [2, 2, 4, 8, 16, 32]
    assert backoff_seconds(8) == 256
    assert backoff_seconds(9) == MAX_BACKOFF_SECONDS == 300
    assert backoff_seconds(1000) == MAX_BACKOFF_SECONDS
    assert backoff_seconds(3, base=1.0) == 4


async def test_sender_applies_rate_limit_and_seeded_jitter_and_skips_a_limited_target(sessions):
    ft = FakeTime()
    with sessions.begin() as s:
        box = Outbox(clock=ft.clock)
        for i in range(3):
            box.say(s, GA, f"m{i}")
    platform = RecordingPlatform()
    send = Send(per_group_per_minute=2, global_per_minute=20, jitter_seconds=(0.8, 2.5))
    limiter = RateLimiter(2, 20, clock=ft.monotonic, sleep=ft.sleep)
    sender = OutboxSender(
        sessions, platform, send, clock=ft.clock, sleep=ft.sleep, rng=random.Random(7), limiter=limiter
    )
    assert await drain_all(sender) == 2  # the third in group A is over the limit: skipped, nothing sleeps
    assert [t for _, t, _ in platform.sent] == ["m0", "m1"]
    jitters = list(ft.sleeps)
    assert len(jitters) == 2 and all(0.8 <= j <= 2.5 for j in jitters)
    rng = random.Random(7)
    assert jitters == [pytest.approx(rng.uniform(0.8, 2.5)) for _ in range(2)]

    # another group is not held by group A's window
    with sessions.begin() as s:
        box.say(s, GB, "b0")
    assert await drain_all(sender) == 1 and platform.sent[-1] == (GB, "b0", ())

    wait = limiter.wait_time(GA)
    assert wait > 50
    ft.advance(wait)
    assert await drain_all(sender) == 1
    assert [t for g, t, _ in platform.sent if g == GA] == ["m0", "m1", "m2"]
    first, third = rows(sessions)[0].sent_at, rows(sessions)[2].sent_at
    assert third - first >= timedelta(seconds=60)
    assert all(s < 10 for s in ft.sleeps)  # only jitter pauses: no rate-limit sleep anywhere


# --- the running task ----------------------------------------------------------------------------------


async def test_run_sends_at_once_after_the_login_and_after_wake(sessions):
    ft = FakeTime()
    platform = RecordingPlatform()
    platform.connected = False
    box = Outbox(clock=ft.clock)
    with sessions.begin() as s:
        box.say(s, GA, "queued while down")
    # A long poll: only wake() can make it act within the test's deadline.
    sender = make_sender(sessions, platform, ft, poll=30.0)

    async def until(cond, timeout: float = 2.0) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not cond():
            assert loop.time() < end, "the sender did not act in time"
            await asyncio.sleep(0.01)

    task = asyncio.create_task(sender.run())
    try:
        await asyncio.sleep(0.05)
        assert platform.sent == [] and rows(sessions)[0].attempts == 0
        platform.reconnect()  # the login itself wakes the sender: no wake() call, no 2 s poll
        await until(lambda: len(platform.sent) == 1)
        assert platform.sent == [(GA, "queued while down", ())]

        with sessions.begin() as s:
            box.say(s, GB, "after wake")
            box.tell(s, "wxid_admin", "private after wake")
        sender.wake()
        await until(lambda: len(platform.sent) == 2 and len(platform.private) == 1)
        assert platform.sent[1] == (GB, "after wake", ())
        await until(lambda: rows(sessions, pending_only=True) == [])  # marked sent just after the call
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


# --- the delivery rule ----------------------------------------------------------------------------


class UnsurePlatform(RecordingPlatform):
    """The request leaves, no answer comes back (``OutcomeUnknown``) for the first ``unsure`` calls
    of each kind in ``ops``; it did reach the platform (it is recorded), as it may in reality."""

    def __init__(self, unsure: int, ops: tuple[str, ...] = ("text", "private", "kick")) -> None:
        super().__init__()
        self.unsure = {op: unsure for op in ops}

    def _maybe(self, op: str) -> None:
        if self.unsure.get(op, 0):
            self.unsure[op] -= 1
            raise OutcomeUnknown("sent, but no answer in 30 s")

    async def send_text(self, group_id: str, text: str, mentions: tuple[str, ...] = ()) -> None:
        await super().send_text(group_id, text, mentions)
        self._maybe("text")

    async def send_private(self, contact_id: str, text: str) -> None:
        await super().send_private(contact_id, text)
        self._maybe("private")

    async def kick(self, group_id: str, member_id: str) -> None:
        await super().kick(group_id, member_id)
        self._maybe("kick")


async def test_a_call_that_returns_is_delivered_and_a_restart_resends_nothing(sessions):
    ft = FakeTime()
    box = Outbox(clock=ft.clock)
    with sessions.begin() as s:
        box.say(s, GA, "请勿发广告", mentions=("wxid_spam",), purpose="warn")
        box.kick(s, GA, "wxid_spam")
        box.tell(s, "wxid_admin", "报告")
    platform = RecordingPlatform()  # its sends return None, like a puppet that gives no message id
    assert await drain_all(make_sender(sessions, platform, ft, send=Send(jitter_seconds=(0, 0), max_retries=5))) == 3
    assert all(r.sent_at is not None and r.attempts == 1 for r in rows(sessions))

    again = RecordingPlatform()
    ft.advance(3600)
    assert await drain_all(make_sender(sessions, again, ft)) == 0  # a restart: a new sender, same store
    assert (again.sent, again.kicks, again.private) == ([], [], [])


async def test_an_unknown_outcome_in_a_group_is_maybe_delivered_never_resent_and_logged_once(sessions, caplog):
    ft = FakeTime()
    box = Outbox(clock=ft.clock)
    with sessions.begin() as s:
        (warning,) = box.say(s, GA, "请勿发广告", mentions=("wxid_spam",), purpose="warn")
        (after,) = box.say(s, GA, "下一条")
    platform = UnsurePlatform(1, ops=("text",))
    caplog.set_level(logging.INFO, logger="bot.outbox")
    sender = make_sender(sessions, platform, ft, send=Send(jitter_seconds=(0, 0), max_retries=5))
    assert await drain_all(sender) == 2  # the unsure warning, then the next row of the group
    assert platform.sent == [(GA, "请勿发广告", ("wxid_spam",)), (GA, "下一条", ())]
    r = row(sessions, warning)
    assert r.uncertain_at == T0 and r.sent_at is None and r.failed_at is None and r.attempts == 1
    assert r.last_error == "OutcomeUnknown: sent, but no answer in 30 s"
    assert row(sessions, after).sent_at is not None
    assert rows(sessions, pending_only=True) == []
    warnings = [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "maybe delivered" in warnings[0] and f"text {warning}" in warnings[0]

    ft.advance(3600)
    assert await drain_all(sender) == 0
    assert await drain_all(make_sender(sessions, RecordingPlatform(), ft)) == 0  # nor after a restart
    assert len(platform.sent) == 2


async def test_an_unknown_outcome_of_a_private_message_or_a_kick_is_retried(sessions):
    ft = FakeTime()
    box = Outbox(clock=ft.clock)
    with sessions.begin() as s:
        (report,) = box.tell(s, "wxid_admin", "报告")
        kick = box.kick(s, GA, "wxid_spam")
    platform = UnsurePlatform(1, ops=("private", "kick"))
    sender = make_sender(sessions, platform, ft, send=Send(jitter_seconds=(0, 0), max_retries=5))
    assert await sender.drain_once() == 2
    for pk in (report, kick):
        r = row(sessions, pk)
        assert (r.attempts, r.sent_at, r.uncertain_at, r.not_before) == (1, None, None, T0 + timedelta(seconds=2))
    ft.advance(2)
    assert await drain_all(sender) == 2
    assert row(sessions, report).sent_at is not None and row(sessions, kick).sent_at is not None
    # a second copy to one admin; the kick twice is harmless (the member gone is "not a member")
    assert platform.private == [("wxid_admin", "报告")] * 2 and platform.kicks == [(GA, "wxid_spam")] * 2


async def test_a_follow_up_waits_for_its_kick_without_holding_its_contact(sessions):
    ft = FakeTime()
    box = Outbox(clock=ft.clock)
    with sessions.begin() as s:
        (warning,) = box.say(s, GA, "第 2 次，将被移出", purpose="kick")
        kick = box.kick(s, GA, "wxid_spam")
        box.tell(s, "wxid_admin", "处理：待移出")
        (done,) = box.tell(s, "wxid_admin", "处理：已移出", after=kick)
        box.tell(s, "wxid_admin", "另一份报告")
    platform = RecordingPlatform()
    sender = make_sender(sessions, platform, ft, send=Send(jitter_seconds=(0, 0), max_retries=5))

    platform.fail_next = 1  # the warning fails once: the kick waits behind it, the follow-up behind the kick
    await drain_all(sender)
    assert platform.private == [("wxid_admin", "处理：待移出"), ("wxid_admin", "另一份报告")]
    assert platform.kicks == [] and row(sessions, done).sent_at is None

    ft.advance(2)
    await drain_all(sender)
    assert platform.kicks == [(GA, "wxid_spam")]
    assert platform.private[-1] == ("wxid_admin", "处理：已移出")
    assert row(sessions, done).sent_at >= row(sessions, kick).sent_at
    assert row(sessions, warning).sent_at is not None and rows(sessions, pending_only=True) == []


class KickRefusingPlatform(RecordingPlatform):
    async def kick(self, group_id: str, member_id: str) -> None:
        raise PlatformError("the bot is not an admin of this room", retry=False)


async def test_a_follow_up_is_given_up_when_its_kick_fails(sessions, caplog):
    ft = FakeTime()
    box = Outbox(clock=ft.clock)
    with sessions.begin() as s:
        kick = box.kick(s, GA, "wxid_spam")
        (done,) = box.tell(s, "wxid_admin", "处理：已移出", after=kick)
    platform = KickRefusingPlatform()
    caplog.set_level(logging.INFO, logger="bot.outbox")
    await drain_all(make_sender(sessions, platform, ft))
    assert platform.private == []
    r = row(sessions, done)
    assert r.failed_at is not None and r.sent_at is None and f"#{kick}" in r.last_error
    (error,) = [rec.getMessage() for rec in caplog.records if rec.levelno == logging.ERROR]
    assert f"gave up the rows held behind it: {done}" in error
    ft.advance(3600)
    assert await drain_all(make_sender(sessions, RecordingPlatform(), ft)) == 0


async def test_a_held_row_behind_a_maybe_delivered_one_is_given_up(sessions):
    ft = FakeTime()
    box = Outbox(clock=ft.clock)
    with sessions.begin() as s:
        (text,) = box.say(s, GA, "群里的话")
        (note,) = box.tell(s, "wxid_admin", "已在群里说了", after=text)
    await drain_all(make_sender(sessions, UnsurePlatform(1, ops=("text",)), ft))
    assert row(sessions, text).uncertain_at is not None and row(sessions, note).failed_at is not None


# --- no head-of-line stall, wake-ups and the event loop -------------------------------------------


class StuckPlatform(RecordingPlatform):
    """Group A's sends hang until ``release`` is set (a slow puppet call); the rest answer at once."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.started: list[str] = []

    async def send_text(self, group_id: str, text: str, mentions: tuple[str, ...] = ()) -> None:
        self.started.append(text)
        if group_id == GA:
            await self.release.wait()
        await super().send_text(group_id, text, mentions)


async def _until(cond, timeout: float = 3.0) -> None:  # noqa: ANN001
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "the sender did not act in time"
        await asyncio.sleep(0.01)


async def test_a_slow_operation_holds_only_its_own_room(sessions):
    ft = FakeTime()
    box = Outbox(clock=ft.clock)
    with sessions.begin() as s:
        box.say(s, GA, "A1")
        box.say(s, GA, "A2")
        box.say(s, GB, "B1")
        box.tell(s, "wxid_admin", "C1")
        box.say(s, GB, "B2")
    platform = StuckPlatform()
    sender = OutboxSender(sessions, platform, Send(jitter_seconds=(0, 0)), clock=ft.clock, rng=random.Random(7))
    task = asyncio.create_task(sender.run())
    try:
        await _until(lambda: len(platform.sent) == 2 and len(platform.private) == 1)
        assert platform.sent == [(GB, "B1", ()), (GB, "B2", ())] and platform.private == [("wxid_admin", "C1")]
        assert platform.started.count("A1") == 1 and "A2" not in platform.started  # A2 keeps its place
        platform.release.set()
        await _until(lambda: len(platform.sent) == 4)
        assert [t for g, t, _ in platform.sent if g == GA] == ["A1", "A2"]
        await _until(lambda: rows(sessions, pending_only=True) == [])
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_stopping_mid_send_leaves_a_group_message_maybe_delivered(sessions):
    ft = FakeTime()
    with sessions.begin() as s:
        (pk,) = Outbox(clock=ft.clock).say(s, GA, "A1")
    platform = StuckPlatform()
    sender = OutboxSender(sessions, platform, Send(jitter_seconds=(0, 0)), clock=ft.clock)
    task = asyncio.create_task(sender.run())
    await _until(lambda: platform.started == ["A1"])
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert row(sessions, pk).uncertain_at is not None  # a restart does not send it again
    assert await drain_all(make_sender(sessions, RecordingPlatform(), ft)) == 0


class SlowSessions:
    """A session factory whose every session takes ``delay`` seconds to open (a busy database),
    and which notes the threads it is used on."""

    def __init__(self, sessions, delay: float) -> None:  # noqa: ANN001
        self._sessions = sessions
        self.delay = delay
        self.threads: set[int] = set()

    def _slow(self) -> None:
        self.threads.add(threading.get_ident())
        time.sleep(self.delay)

    def __call__(self):  # noqa: ANN204
        self._slow()
        return self._sessions()

    def begin(self):  # noqa: ANN201
        self._slow()
        return self._sessions.begin()


async def test_under_debug_mode_a_slow_database_never_stalls_the_loop_and_wake_works_from_a_thread(sessions, caplog):
    loop = asyncio.get_running_loop()
    loop.set_debug(True)  # asyncio then raises on thread-unsafe calls and logs slow callbacks
    loop.slow_callback_duration = 0.1
    caplog.set_level(logging.WARNING, logger="asyncio")
    ft = FakeTime()
    slow = SlowSessions(sessions, 0.3)
    platform = RecordingPlatform()
    sender = OutboxSender(slow, platform, Send(jitter_seconds=(0, 0)), clock=ft.clock, poll_seconds=30.0)  # type: ignore[arg-type]
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    task = asyncio.create_task(sender.run())
    try:
        await asyncio.sleep(0.5)  # the first (slow) look at the empty queue

        def queue_one() -> None:  # the test's own write, off the loop (it is not what is measured)
            with sessions.begin() as s:
                Outbox(clock=ft.clock).say(s, GA, "from another thread")

        await asyncio.to_thread(queue_one)
        threading.Thread(target=sender.wake).start()  # e.g. the digest scheduler's thread
        await _until(lambda: platform.sent == [(GA, "from another thread", ())])
        end = loop.time() + 3.0
        while (await asyncio.to_thread(rows, sessions))[0].sent_at is None:  # read off the loop, like the write
            assert loop.time() < end, "the sender did not mark it sent in time"
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        tick.cancel()
        loop.set_debug(False)
    assert threading.get_ident() not in slow.threads and len(slow.threads) == 1
    assert max(gaps) < 0.2, f"the loop stalled for {max(gaps):.2f} s"
    assert not [r for r in caplog.records if "took" in r.getMessage() or "thread" in r.getMessage()]
