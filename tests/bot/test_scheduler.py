"""The daily digest scheduler on real SQLite and PostgreSQL, with a fake clock.

The exactly-once rule is tested with two schedulers (each with its own engine) on one database,
sequentially and from two threads at once; the digests table decides, not the scheduler. The
async tests run under asyncio debug mode (``tests.bot.live_helpers.asyncio_debug``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.base import STATE_STOPPED
from sqlalchemy import inspect, select, text

from bot import scheduler as scheduler_module
from bot.config import Config
from bot.message import GroupMessage, MessageKind
from bot.outbox import Outbox
from bot.pipeline import Pipeline
from bot.scheduler import DigestScheduler, run_scheduled_digest, stored_parts
from bot.store import digests as digests_db, outgoing as outgoing_db
from bot.store.db import open_store
from bot.store.models import Outgoing
from bot.wiring import build_rule_analyzers
from tests.bot.live_helpers import asyncio_debug  # noqa: F401 - a fixture

pytestmark = pytest.mark.usefixtures("asyncio_debug")  # the async tests here run under asyncio debug mode

SH = ZoneInfo("Asia/Shanghai")
UTC = timezone.utc
DAY = date(2026, 11, 25)
G1 = "g1@chatroom"
G2 = "g2@chatroom"
G3 = "g3@chatroom"
AT_2100 = datetime(2026, 11, 25, 21, 0, 30, tzinfo=SH)  # just after the default digest time

CHAT = [
    "大家好，请问 vLLM 部署 Qwen 显存不够怎么办？",
    "可以试试 int4 量化，显存能省一半",
    "LoRA 微调学习率一般设多少？",
    "论文在这里 https://arxiv.org/abs/2401.00001",
    "一般 1e-4 左右，配合 warmup 用",
    "RAG 的召回效果怎么评估比较好？",
    "可以用 recall@k 和人工标注的问答对",
    "哈哈哈",
]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def config(*groups: dict, time: str = "21:00", tz: str | None = None, max_part_chars: int = 2000) -> Config:
    digest: dict = {"time": time, "max_part_chars": max_part_chars}
    if tz is not None:
        digest["timezone"] = tz
    return Config.model_validate({"models": {"use": False}, "digest": digest, "groups": list(groups)})


def group(gid: str, **kw) -> dict:
    return {"id": gid, "name": f"群 {gid[:2]}", "topic": "人工智能", **kw}


def messages(gid: str, day: date = DAY, texts: list[str] = CHAT) -> list[GroupMessage]:
    start = datetime.combine(day, datetime.min.time(), SH).replace(hour=10)
    return [
        GroupMessage(
            id=f"{gid}-{day}-{i}",
            source="replay",
            group_id=gid,
            sender_id=f"wxid_{i % 3}",
            sender_name=f"成员{i % 3}",
            sent_at=start + timedelta(minutes=7 * i),
            kind=MessageKind.TEXT,
            text=t,
            group_topic="AI 交流",
        )
        for i, t in enumerate(texts)
    ]


def ingest(sessions, cfg: Config, *gids: str) -> None:
    pipe = Pipeline(sessions, build_rule_analyzers(), cfg)
    for gid in gids:
        report = pipe.ingest(messages(gid))
        assert report.stored == len(CHAT) and report.failed == 0


def make(sessions, cfg: Config, clock, **kw) -> DigestScheduler:
    return DigestScheduler(sessions, cfg, Outbox(cfg.digest.max_part_chars, clock=clock), clock=clock, **kw)


def digest_rows(sessions, gid: str | None = None) -> list[outgoing_db.OutgoingRecord]:
    with sessions() as s:
        rows = outgoing_db.outgoing(s, purpose="digest")
    return [r for r in rows if gid is None or r.group_id == gid]


def all_outgoing_count(sessions) -> int:
    with sessions() as s:
        return len(s.scalars(select(Outgoing.pk)).all())


def digest_of(sessions, gid: str, day: date = DAY) -> digests_db.DigestRecord | None:
    with sessions() as s:
        return digests_db.get_digest(s, gid, day)


def digest_count(sessions) -> int:
    with sessions() as s:
        return s.execute(text("SELECT count(*) FROM digests")).scalar_one()


@pytest.fixture
def store(db_url: str) -> Iterator[tuple]:
    engine, sessions = open_store(db_url, migrate=True)
    yield engine, sessions
    engine.dispose()


@pytest.fixture
def other_store(db_url: str, store) -> Iterator[tuple]:
    """A second engine and sessionmaker on the same database (another process, or a restart)."""
    engine, sessions = open_store(db_url)
    yield engine, sessions
    engine.dispose()


# --- when ---------------------------------------------------------------------------------------------


def test_latest_due_before_and_after_the_configured_time():
    cfg = config(group(G1), group(G2, digest_time="18:30"))
    sched = make(None, cfg, Clock(AT_2100))
    g1, g2 = cfg.groups

    due = sched.latest_due(g1)  # the fake clock: 21:00:30 local
    assert (due.group_id, due.day, due.fire_at) == (G1, DAY, datetime(2026, 11, 25, 13, 0, tzinfo=UTC))

    before = datetime(2026, 11, 25, 20, 59, 59, tzinfo=SH)
    due = sched.latest_due(g1, before)
    assert (due.day, due.fire_at) == (date(2026, 11, 24), datetime(2026, 11, 24, 13, 0, tzinfo=UTC))

    exactly = datetime(2026, 11, 25, 21, 0, tzinfo=SH)
    assert sched.latest_due(g1, exactly).day == DAY
    assert sched.latest_due(g1, exactly).fire_at == exactly

    # A group's own digest_time wins over [digest].time.
    assert sched.latest_due(g2, datetime(2026, 11, 25, 18, 29, tzinfo=SH)).day == date(2026, 11, 24)
    assert sched.latest_due(g2, datetime(2026, 11, 25, 18, 30, tzinfo=SH)).fire_at == datetime(
        2026, 11, 25, 10, 30, tzinfo=UTC
    )
    # `now` may come in any timezone; it is read in the digest timezone.
    assert sched.latest_due(g1, datetime(2026, 11, 25, 13, 0, tzinfo=UTC)).day == DAY
    assert sched.latest_due(g1, datetime(2026, 11, 25, 12, 59, tzinfo=UTC)).day == date(2026, 11, 24)


def test_a_time_before_six_covers_the_previous_day():
    cfg = config(group(G1, digest_time="00:30"))
    sched = make(None, cfg, Clock(AT_2100))
    (g1,) = cfg.groups
    assert sched.covered_day(datetime(2026, 11, 26, 0, 30, tzinfo=SH)) == DAY
    assert sched.covered_day(datetime(2026, 11, 26, 5, 59, tzinfo=SH)) == DAY
    assert sched.covered_day(datetime(2026, 11, 26, 6, 0, tzinfo=SH)) == date(2026, 11, 26)
    assert sched.covered_day(datetime(2026, 11, 25, 23, 59, tzinfo=SH)) == DAY

    due = sched.latest_due(g1, datetime(2026, 11, 26, 1, 0, tzinfo=SH))  # ran at 00:30 on the 26th
    assert (due.day, due.fire_at) == (DAY, datetime(2026, 11, 25, 16, 30, tzinfo=UTC))
    due = sched.latest_due(g1, datetime(2026, 11, 26, 0, 10, tzinfo=SH))  # not yet: the 25th's 00:30 run
    assert (due.day, due.fire_at) == (date(2026, 11, 24), datetime(2026, 11, 24, 16, 30, tzinfo=UTC))
    # At 21:00:30 on the 25th the latest run was 00:30 that morning, which covered the 24th.
    assert sched.latest_due(g1).day == date(2026, 11, 24)


def test_shanghai_and_utc_digest_timezones_differ():
    instant = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai, 14:00 in UTC
    sh = make(None, config(group(G1)), Clock(instant))
    utc = make(None, config(group(G1), tz="UTC"), Clock(instant))
    assert sh.latest_due(sh._config.groups[0]).day == DAY
    assert sh.latest_due(sh._config.groups[0]).fire_at == datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
    assert utc.latest_due(utc._config.groups[0]).day == date(2026, 11, 24)
    assert utc.latest_due(utc._config.groups[0]).fire_at == datetime(2026, 11, 24, 21, 0, tzinfo=UTC)
    # 03:00 local on the 26th in Shanghai is 19:00 UTC on the 25th: early morning there, evening here.
    late = datetime(2026, 11, 25, 19, 0, tzinfo=UTC)
    sh_early = make(None, config(group(G1), time="03:00"), Clock(late))
    utc_early = make(None, config(group(G1), time="03:00", tz="UTC"), Clock(late))
    assert sh_early.latest_due(sh_early._config.groups[0]).day == DAY  # 03:00 on the 26th covers the 25th
    assert utc_early.latest_due(utc_early._config.groups[0]).day == date(2026, 11, 24)  # 03:00 on the 25th


# --- exactly once ---------------------------------------------------------------------------------------


def test_two_schedulers_on_one_database_deliver_once(store, other_store):
    (engine_a, sessions_a), (_, sessions_b) = store, other_store
    cfg = config(group(G1), max_part_chars=300)
    ingest(sessions_a, cfg, G1)
    clock = Clock(AT_2100)
    a, b = make(sessions_a, cfg, clock), make(sessions_b, cfg, clock)

    assert a.run_due(G1) is True
    assert b.run_due(G1) is False
    assert a.run_due(G1) is False

    stored = digest_of(sessions_b, G1)
    assert stored is not None and stored.sent_at == AT_2100
    parts = stored_parts(stored.text)
    assert len(parts) >= 2  # a multi-part digest: all of its parts, once each
    rows = digest_rows(sessions_a)
    assert [(r.op, r.group_id, r.text) for r in rows] == [("text", G1, p) for p in parts]
    assert digest_count(sessions_a) == 1

    # Later that evening a restarted bot (a fresh scheduler on a fresh engine) sends nothing more.
    clock.now = AT_2100 + timedelta(hours=1)
    restarted_engine, restarted_sessions = open_store(engine_a.url)
    try:
        c = make(restarted_sessions, cfg, clock)
        assert c.run_due(G1) is False
        assert c.catch_up() == []
    finally:
        restarted_engine.dispose()
    assert len(digest_rows(sessions_a)) == len(parts) and digest_count(sessions_a) == 1


def test_two_schedulers_racing_from_two_threads_deliver_once(store, other_store):
    (_, sessions_a), (_, sessions_b) = store, other_store
    cfg = config(group(G1), group(G2))
    ingest(sessions_a, cfg, G1, G2)
    clock = Clock(AT_2100)
    schedulers = [make(sessions_a, cfg, clock), make(sessions_b, cfg, clock)]

    for gid in (G1, G2):
        barrier = threading.Barrier(2)
        results: list[bool] = []
        errors: list[BaseException] = []

        def race(
            sched: DigestScheduler,
            gid: str,
            barrier: threading.Barrier,
            results: list[bool],
            errors: list[BaseException],
        ) -> None:
            try:
                barrier.wait(timeout=10)
                results.append(sched.run_due(gid))
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=race, args=(s, gid, barrier, results, errors)) for s in schedulers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert not errors, errors
        assert sorted(results) == [False, True]

    for gid in (G1, G2):
        stored = digest_of(sessions_a, gid)
        assert stored is not None and stored.sent_at is not None
        assert [r.text for r in digest_rows(sessions_a, gid)] == stored_parts(stored.text)
    assert digest_count(sessions_b) == 2
    assert all(s.catch_up() == [] for s in schedulers)


def test_catch_up_delivers_yesterdays_missed_digest_once(store, other_store):
    (_, sessions_a), (_, sessions_b) = store, other_store
    cfg = config(group(G1), group(G2))
    ingest(sessions_a, cfg, G1)  # G2 was silent all day
    clock = Clock(datetime(2026, 11, 26, 8, 0, tzinfo=SH))  # the bot was down at 21:00 yesterday
    sched = make(sessions_a, cfg, clock)

    caught = sched.catch_up()
    assert G1 in {d.group_id for d in caught}
    assert all(d.day == DAY and d.fire_at == datetime(2026, 11, 25, 13, 0, tzinfo=UTC) for d in caught)
    stored = digest_of(sessions_a, G1)
    assert stored is not None and stored.sent_at == clock.now
    assert DAY.isoformat() in stored.text
    assert [r.text for r in digest_rows(sessions_a, G1)] == stored_parts(stored.text)

    # The silent day is kept and marked, but nothing is sent for it.
    silent = digest_of(sessions_a, G2)
    assert silent is not None and silent.sent_at is not None
    assert digest_rows(sessions_a, G2) == []

    sent = all_outgoing_count(sessions_a)
    assert sched.catch_up() == []
    clock.now += timedelta(hours=2)
    assert make(sessions_b, cfg, clock).catch_up() == []  # nor after a restart
    assert all_outgoing_count(sessions_a) == sent
    assert digest_count(sessions_a) == 2
    assert digest_of(sessions_a, G1, date(2026, 11, 26)) is None  # today's is not due before 21:00


def test_a_digest_saved_but_not_marked_is_delivered_from_the_stored_text_once(store):
    engine, sessions = store
    cfg = config(group(G1))
    ingest(sessions, cfg, G1)
    kept = "(1/2)\n昨晚已生成的日报 第一部分\n(2/2)\n昨晚已生成的日报 第二部分"
    with sessions.begin() as s:  # the crash came after the save, before the commit that marks it sent
        assert digests_db.save_digest(s, G1, DAY, kept, "<p>kept</p>") is True
    clock = Clock(datetime(2026, 11, 26, 7, 0, tzinfo=SH))
    sched = make(sessions, cfg, clock)

    assert [d.group_id for d in sched.catch_up()] == [G1]
    rows = digest_rows(sessions)
    assert [(r.op, r.group_id, r.text) for r in rows] == [
        ("text", G1, "(1/2)\n昨晚已生成的日报 第一部分"),
        ("text", G1, "(2/2)\n昨晚已生成的日报 第二部分"),
    ]
    stored = digest_of(sessions, G1)
    assert stored.text == kept and stored.html == "<p>kept</p>" and stored.sent_at == clock.now
    assert sched.catch_up() == [] and sched.run(G1, DAY) is False
    assert len(digest_rows(sessions)) == 2


def test_stored_parts_splits_only_at_part_markers():
    assert stored_parts("一条日报\n(不是标记) 1/2") == ["一条日报\n(不是标记) 1/2"]
    assert stored_parts("(1/2)\na\n\n(2/2)\nb\n") == ["(1/2)\na", "(2/2)\nb"]


# --- delivery -------------------------------------------------------------------------------------------


def test_delivery_to_the_group_to_admins_or_nowhere(store):
    engine, sessions = store
    cfg = config(
        group(G1),
        group(G2, digest_delivery="admins", digest_recipients=["wxid_r1", "wxid_r2"]),
        group(G3, digest_delivery="none"),
        max_part_chars=300,
    )
    ingest(sessions, cfg, G1, G2, G3)
    queued: list[int] = []
    clock = Clock(AT_2100)
    sched = DigestScheduler(sessions, cfg, Outbox(300, clock=clock), clock=clock, on_queued=lambda: queued.append(1))
    assert [sched.run(g, DAY) for g in (G1, G2, G3)] == [True, True, True]
    with sessions() as s:
        rows = outgoing_db.outgoing(s)
    assert all(r.purpose == "digest" and r.created_at == AT_2100 for r in rows)

    p1 = stored_parts(digest_of(sessions, G1).text)
    assert [(r.op, r.group_id, r.contact_id, r.text) for r in rows if r.group_id == G1] == [
        ("text", G1, None, p) for p in p1
    ]
    p2 = stored_parts(digest_of(sessions, G2).text)
    assert len(p2) >= 2
    assert [(r.op, r.group_id, r.contact_id, r.text) for r in rows if r.op == "private"] == [
        ("private", None, c, p) for p in p2 for c in ("wxid_r1", "wxid_r2")
    ]
    assert not [r for r in rows if r.group_id in (G2, G3)]
    assert len(rows) == len(p1) + 2 * len(p2)

    kept = digest_of(sessions, G3)
    assert kept is not None and kept.sent_at == AT_2100 and "人工智能" in kept.text
    assert len(queued) >= 2  # the sender is woken at least for G1 and G2 (also for G3 today, needlessly)


def test_an_unconfigured_group_is_skipped(store, caplog):
    engine, sessions = store
    sched = make(sessions, config(group(G1)), Clock(AT_2100))
    caplog.set_level(logging.WARNING, logger="bot.scheduler")
    assert sched.run(G2, DAY) is False and sched.run_due(G2) is False
    assert digest_count(sessions) == 0 and digest_rows(sessions) == []
    assert any("not configured any more" in r.getMessage() for r in caplog.records)


# --- APScheduler ----------------------------------------------------------------------------------------


async def _until(cond, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.02)


async def stop(sched: DigestScheduler) -> None:
    """Shut down and let the loop finish it: AsyncIOScheduler defers its shutdown to the event loop,
    and until then it may still process (and, when it shuts down, cancel) its jobs."""
    aps = sched._scheduler
    sched.shutdown()
    if aps is not None:
        await _until(lambda: aps.state == STATE_STOPPED)


async def test_start_schedules_one_job_per_group_and_a_job_delivers_on_the_given_worker(store):
    engine, sessions = store
    cfg = config(group(G1), group(G2, digest_time="07:30"))
    ingest(sessions, cfg, G1)
    clock = Clock(AT_2100)
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-worker")
    ran_on: list[str] = []
    queued_on: list[str] = []

    async def on_worker(fn, *args):  # noqa: ANN001, ANN002, ANN202 - the shape of LiveBot._in_worker
        def run():  # noqa: ANN202
            ran_on.append(threading.current_thread().name)
            return fn(*args)

        return await asyncio.get_running_loop().run_in_executor(worker, run)

    first = make(sessions, cfg, clock)
    second = None
    try:
        first.start()
        assert DigestScheduler.active is first
        jobs = dict(first.jobs())
        assert set(jobs) == {f"digest:{G1}", f"digest:{G2}"}
        now = datetime.now(SH)
        for job_id, hhmm in ((f"digest:{G1}", (21, 0)), (f"digest:{G2}", (7, 30))):
            nxt = jobs[job_id].astimezone(SH)
            assert (nxt.hour, nxt.minute, nxt.second) == (*hhmm, 0)
            assert now < nxt <= now + timedelta(days=1)
        assert "apscheduler_jobs" not in inspect(engine).get_table_names()  # the timer never touches the database
        await stop(first)
        assert DigestScheduler.active is None

        # Restart with G2 gone from the config: its job goes too.
        cfg2 = config(group(G1))
        second = make(
            sessions,
            cfg2,
            clock,
            run_blocking=on_worker,
            on_queued=lambda: queued_on.append(threading.current_thread().name),
        )
        second.start()
        assert [j for j, _ in second.jobs()] == [f"digest:{G1}"]

        # Fire the job now: it calls run_scheduled_digest, which queues today's digest on the worker.
        assert digest_rows(sessions) == []
        second._scheduler.modify_job(f"digest:{G1}", next_run_time=datetime.now(SH))
        await _until(lambda: digest_of(sessions, G1) is not None and digest_of(sessions, G1).sent_at is not None)
        await _until(lambda: len(digest_rows(sessions)) > 0)
        stored = digest_of(sessions, G1)
        assert [r.text for r in digest_rows(sessions)] == stored_parts(stored.text)
        assert stored.sent_at == AT_2100
        # built on the worker it was given, not on a thread of its own; the wake-up came from there too
        assert len(ran_on) == 1 and ran_on[0].startswith("test-worker")
        assert queued_on == ran_on
        # The job was rescheduled for the next 21:00, not removed.
        (nxt,) = [t for _, t in second.jobs()]
        assert nxt is not None and nxt.astimezone(SH).time().replace(second=0) == datetime(2000, 1, 1, 21, 0).time()
    finally:
        await stop(first)
        if second is not None:
            await stop(second)
        worker.shutdown(wait=True)
    assert DigestScheduler.active is None


async def test_a_job_firing_without_a_scheduler_or_failing_is_logged(store, caplog, monkeypatch):
    engine, sessions = store
    caplog.set_level(logging.INFO, logger="bot.scheduler")
    monkeypatch.setattr(DigestScheduler, "active", None)
    await run_scheduled_digest(G1)
    assert any(r.levelno == logging.ERROR and "no running DigestScheduler" in r.getMessage() for r in caplog.records)

    sched = make(sessions, config(group(G1)), Clock(AT_2100))

    def boom(group_id: str) -> bool:
        raise RuntimeError("database gone")

    monkeypatch.setattr(sched, "run_due", boom)
    monkeypatch.setattr(DigestScheduler, "active", sched)
    caplog.clear()
    await run_scheduled_digest(G1)  # does not raise: the scheduler keeps running
    assert any(r.levelno == logging.ERROR and "caught up at the next start" in r.getMessage() for r in caplog.records)
    assert scheduler_module.DigestScheduler.active is sched
