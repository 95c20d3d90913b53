"""The metrics of ``bot.metrics`` move where the work happens, on a real SQLite store: the pipeline,
the outbox sender, the digest scheduler and the live bot (with its heartbeat); and ``qunzhi run``'s
metrics server answers ``/metrics`` and ``/healthz`` on a free port, then stops.

The registry is the process's own and counters only grow, so each test compares before and after.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from bot import metrics
from bot.config import Config, Send
from bot.live import LiveBot
from bot.message import GroupMessage, MessageKind, OutcomeUnknown, PlatformError
from bot.outbox import Outbox, OutboxSender, RateLimiter
from bot.scheduler import DigestScheduler
from bot.store import bot_status as bot_status_db, db
from bot.wiring import Store, build_pipeline, build_rule_analyzers, open_store
from nlp.item import Item
from nlp.verdict import Verdict
from tests.bot.live_helpers import (  # noqa: F401 - asyncio_debug is a fixture
    BOT,
    GROUP,
    RecordingPlatform,
    asyncio_debug,
    message,
    off_loop,
)

debug_loop = pytest.mark.usefixtures("asyncio_debug")  # the async tests: asyncio debug mode, as the live tests

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai
AD = "兼职刷单日赚500，加V：abc12345 详询"
CHAT = ["大家好，请问 vLLM 部署 Qwen 显存不够怎么办？", "可以试试 int4 量化，显存能省一半", AD]


def value(name: str, **labels: str) -> float:
    """A sample's value now (0 when the labelled child does not exist yet)."""
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def make_config(db_url: str, **group: Any) -> Config:
    return Config.model_validate(
        {
            "database": {"url": db_url},
            "models": {"use": False},
            "send": {"jitter_seconds": [0, 0], "per_group_per_minute": 1000, "global_per_minute": 1000},
            "groups": [{"id": GROUP, "topic": "人工智能", "moderation": {"ad_threshold": 0.6}, **group}],
        }
    )


def chat(texts: list[str], *, source: str = "replay", day: date = date(2026, 11, 25)) -> list[GroupMessage]:
    start = datetime.combine(day, datetime.min.time(), timezone.utc).replace(hour=2)
    return [
        GroupMessage(
            id=f"{source}-{day}-{i}",
            source=source,
            group_id=GROUP,
            sender_id=f"wxid_member{i}",
            sender_name=f"成员{i}",
            sent_at=start + timedelta(minutes=i),
            kind=MessageKind.TEXT,
            text=text,
            group_topic="AI 交流",
        )
        for i, text in enumerate(texts)
    ]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(make_config(f"sqlite:///{tmp_path / 'metrics.db'}"))
    yield s
    s.close()


@pytest.fixture
def config(store: Store) -> Config:
    return make_config(str(store.engine.url))


# --- the pipeline ----------------------------------------------------------------------------------------


def test_a_pipeline_counts_what_it_stores_analyses_and_decides(store: Store, config: Config) -> None:
    before = {
        "stored": value("qunzhi_messages_stored_total", source="replay"),
        "analysed": value("qunzhi_messages_analysed_total", source="replay"),
        "batches": value("qunzhi_analysis_batch_seconds_count"),
        "batch_messages": value("qunzhi_analysis_batch_messages_sum"),
    }
    actions = {k: value("qunzhi_moderation_actions_total", kind=k, dry_run="true") for k in ("log", "warn", "kick")}
    pipeline = build_pipeline(config, store, dry_run=True, analyzers=build_rule_analyzers(), ner=False)
    report = pipeline.ingest(chat(CHAT))
    assert (report.stored, report.analysed) == (3, 3) and len(report.actions) == 1
    assert value("qunzhi_messages_stored_total", source="replay") == before["stored"] + 3
    assert value("qunzhi_messages_analysed_total", source="replay") == before["analysed"] + 3
    assert value("qunzhi_analysis_batch_seconds_count") >= before["batches"] + 1
    assert value("qunzhi_analysis_batch_messages_sum") == before["batch_messages"] + 3
    moved = {k: value("qunzhi_moderation_actions_total", kind=k, dry_run="true") - v for k, v in actions.items()}
    assert {k: v for k, v in moved.items() if v} == {str(report.actions[0].action.kind): 1}

    pipeline.ingest(chat(CHAT))  # duplicates: stored once, analysed once
    assert value("qunzhi_messages_stored_total", source="replay") == before["stored"] + 3
    assert value("qunzhi_messages_analysed_total", source="replay") == before["analysed"] + 3


class CrashesOnBoom:
    """An analyzer that crashes on any message containing "boom"."""

    name = "ad"
    version = "test"

    def analyse(self, items: list[Item]) -> list[Verdict]:
        if any("boom" in i.text for i in items):
            raise RuntimeError("boom")
        return [Verdict(analyzer="ad", label="normal", score=0.9) for _ in items]


def test_a_crashing_analysis_counts_as_failed_and_an_unknown_source_as_other(store: Store, config: Config) -> None:
    failed = value("qunzhi_messages_failed_total", source="other")
    analysed = value("qunzhi_messages_analysed_total", source="other")
    pipeline = build_pipeline(config, store, analyzers=[CrashesOnBoom()], ner=False)
    report = pipeline.ingest(chat(["你好", "boom", "再见"], source="a-file-of-mine"))
    assert (report.analysed, report.failed) == (2, 1)
    assert value("qunzhi_messages_failed_total", source="other") == failed + 1
    assert value("qunzhi_messages_analysed_total", source="other") == analysed + 2
    assert metrics.REGISTRY.get_sample_value("qunzhi_messages_stored_total", {"source": "a-file-of-mine"}) is None


# --- the outbox ------------------------------------------------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = T0

    def clock(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return (self.now - T0).total_seconds()

    async def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FlakyPlatform(RecordingPlatform):
    """The first group text fails, then they go, but "无回音" gets no answer; kicks are refused for
    good; private messages get no answer."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_next = 1

    async def send_text(self, group_id: str, text: str, mentions: tuple[str, ...] = ()) -> None:
        if text == "无回音":
            raise OutcomeUnknown("no answer")
        await super().send_text(group_id, text, mentions)

    async def kick(self, group_id: str, member_id: str) -> None:
        raise PlatformError("not an admin of this room", retry=False)

    async def send_private(self, contact_id: str, text: str) -> None:
        raise OutcomeUnknown("no answer")


@debug_loop
async def test_the_outbox_counts_sends_retries_failures_and_the_uncertain_by_op(store: Store) -> None:
    names = ("sent", "retries", "failures", "uncertain")
    before = {(n, op): value(f"qunzhi_outbox_{n}_total", op=op) for n in names for op in ("text", "kick", "private")}
    ft = FakeTime()
    outbox = Outbox(clock=ft.clock)
    with store.sessions.begin() as session:
        outbox.say(session, GROUP, "大家好")
        outbox.kick(session, "other@chatroom", "wxid_spammer")
    platform = FlakyPlatform()
    sender = OutboxSender(
        store.sessions,
        platform,
        Send(jitter_seconds=(0.0, 0.0), max_retries=3),
        clock=ft.clock,
        sleep=ft.sleep,
        rng=random.Random(1),
        limiter=RateLimiter(100, 100, clock=ft.monotonic, sleep=ft.sleep),
    )
    assert await sender.drain_once() == 2  # the text fails once, the kick is given up
    ft.now += timedelta(minutes=1)
    assert await sender.drain_once() == 1  # the text goes
    assert platform.sent == [(GROUP, "大家好", ())]
    moved = {k: value(f"qunzhi_outbox_{k[0]}_total", op=k[1]) - v for k, v in before.items()}
    assert {k: v for k, v in moved.items() if v} == {
        ("retries", "text"): 1,
        ("sent", "text"): 1,
        ("failures", "kick"): 1,
    }

    # no answer: a group text is maybe delivered (never resent), a private message is retried
    with store.sessions.begin() as session:
        outbox.say(session, GROUP, "无回音")
        outbox.tell(session, "wxid_admin", "报告")
    assert await sender.drain_once() == 2
    await sender.close()
    assert value("qunzhi_outbox_uncertain_total", op="text") == before[("uncertain", "text")] + 1
    assert value("qunzhi_outbox_retries_total", op="private") == before[("retries", "private")] + 1


def unreachable(folder: Path) -> Engine:
    """An engine on a database that cannot be opened (a folder where the file should be)."""
    return db.make_engine(f"sqlite:///{folder}")


def test_the_outbox_depth_is_read_from_the_database_at_scrape_time(store: Store, tmp_path: Path) -> None:
    with store.sessions.begin() as session:
        Outbox().say(session, GROUP, "一")
        Outbox().say(session, GROUP, "二")
    metrics.refresh_outbox_depth(store.sessions)
    assert value("qunzhi_outbox_depth") == 2
    engine = unreachable(tmp_path)
    try:
        metrics.refresh_outbox_depth(db.session_factory(engine))  # the database down: no number, not a stale one
    finally:
        engine.dispose()
    assert math.isnan(value("qunzhi_outbox_depth"))


# --- digests ---------------------------------------------------------------------------------------------


def test_a_digest_queued_for_delivery_is_counted_once(store: Store, config: Config) -> None:
    sent = value("qunzhi_digests_sent_total", delivery="group")
    build_pipeline(config, store, analyzers=build_rule_analyzers(), ner=False).ingest(chat(CHAT[:2]))
    clock = lambda: datetime(2026, 11, 25, 13, 0, 30, tzinfo=timezone.utc)  # noqa: E731 - 21:00 in Shanghai
    scheduler = DigestScheduler(store.sessions, config, Outbox(clock=clock), clock=clock)
    assert scheduler.run(GROUP, date(2026, 11, 25)) is True
    assert scheduler.run(GROUP, date(2026, 11, 25)) is False  # delivered once
    assert value("qunzhi_digests_sent_total", delivery="group") == sent + 1


def test_a_digest_kept_but_not_delivered_is_not_counted(tmp_path: Path) -> None:
    config = make_config(f"sqlite:///{tmp_path / 'none.db'}", digest_delivery="none")
    store = open_store(config)
    try:
        build_pipeline(config, store, analyzers=build_rule_analyzers(), ner=False).ingest(chat(CHAT[:2]))
        total = sum(value("qunzhi_digests_sent_total", delivery=d) for d in ("group", "admins", "none"))
        assert DigestScheduler(store.sessions, config, Outbox()).run(GROUP, date(2026, 11, 25)) is True
        assert sum(value("qunzhi_digests_sent_total", delivery=d) for d in ("group", "admins", "none")) == total
    finally:
        store.close()


# --- the live bot: received, connection state, heartbeat ---------------------------------------------------


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``condition()`` (run on a thread: it may read the database) holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await asyncio.to_thread(condition):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)


def status_of(store: Store, worker: str) -> bot_status_db.BotStatusRecord | None:
    with store.sessions() as session:
        return next((s for s in bot_status_db.statuses(session) if s.worker == worker), None)


@debug_loop
async def test_a_running_bot_beats_with_its_connection_state_and_marks_its_stop(store: Store, config: Config) -> None:
    platform = RecordingPlatform()
    bot = await off_loop(
        LiveBot, config, store, platform, analyzers=build_rule_analyzers(), clock=lambda: T0, heartbeat_seconds=0.05
    )
    worker = bot.pipeline.worker_id
    received = value("qunzhi_messages_received_total", source="wechaty")
    stored = value("qunzhi_messages_stored_total", source="wechaty")
    task = asyncio.create_task(bot.run())
    try:
        await until(lambda: (s := status_of(store, worker)) is not None and s.connected)
        beat = status_of(store, worker)
        assert beat is not None and (beat.platform, beat.self_id, beat.stopped_at) == ("wechaty", BOT, None)
        assert beat.alive(datetime.now(timezone.utc))  # wall-clock time, not the bot's fixed clock
        assert value("qunzhi_platform_connected") == 1

        platform.connected = False
        await until(lambda: (s := status_of(store, worker)) is not None and not s.connected)
        assert value("qunzhi_platform_connected") == 0
        platform.reconnect()
        await until(lambda: (s := status_of(store, worker)) is not None and s.connected)

        hello = message("大家好")
        for m in (hello, hello, message("你好")):  # one delivered twice: received twice, stored once
            await platform.inbox.put(m)
        await until(lambda: bot.handled == 3)
        assert value("qunzhi_messages_received_total", source="wechaty") == received + 3
        assert value("qunzhi_messages_stored_total", source="wechaty") == stored + 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    stopped = status_of(store, worker)
    assert stopped is not None and stopped.stopped_at is not None and not stopped.connected
    assert not stopped.alive(datetime.now(timezone.utc))
    assert value("qunzhi_platform_connected") == 0


# --- qunzhi run's metrics server ---------------------------------------------------------------------------


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def test_the_run_metrics_server_answers_metrics_and_healthz_then_stops(store: Store) -> None:
    with store.sessions.begin() as session:
        Outbox().say(session, GROUP, "排队中")
    connected = [True]
    server = metrics.serve_metrics(
        "127.0.0.1", 0, store.sessions, lambda: metrics.run_health(store.engine, lambda: connected[0])
    )
    base = f"http://127.0.0.1:{server.port}"
    try:
        status, kind, body = get(base + "/metrics")
        assert status == 200 and kind.startswith("text/plain")
        families = {f.name: f for f in text_string_to_metric_families(body)}
        assert {"qunzhi_messages_received", "qunzhi_analysis_batch_seconds", "qunzhi_outbox_sent"} <= set(families)
        assert [s.value for s in families["qunzhi_outbox_depth"].samples] == [1.0]
        assert families["qunzhi_analysis_batch_seconds"].type == "histogram"
        assert "排队中" not in body

        status, kind, body = get(base + "/healthz")
        assert (status, kind, json.loads(body)) == (
            200,
            "application/json",
            {"status": "ok", "database": "ok", "connected": True},
        )
        connected[0] = False  # disconnected is a state, not a failure: the bot reconnects by itself
        assert get(base + "/healthz")[0] == 200 and json.loads(get(base + "/healthz")[2])["connected"] is False
        assert get(base + "/elsewhere")[0] == 404
    finally:
        server.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(base + "/healthz", timeout=2)


def test_run_health_is_503_when_the_database_does_not_answer(tmp_path: Path) -> None:
    engine = unreachable(tmp_path)
    try:
        status, body = metrics.run_health(engine, lambda: True)
    finally:
        engine.dispose()
    assert status == 503 and body["status"] == "error" and body["database"] == "OperationalError"
    assert body["connected"] is True
