"""``qunzhi run --no-analysis`` beside a worker (issue 21, point 1), on SQLite and PostgreSQL: the
receiver stores, answers and sends, never analyses; a command that needs analysis (``/spam``)
acts at once on the admin's judgement; the worker judges the rest and the receiver's sender carries
out what it queued (woken by PostgreSQL's NOTIFY; on SQLite by its look every few seconds)."""

from __future__ import annotations

import asyncio

import pytest

import bot.live
from bot.live import LiveBot
from bot.store import actions as actions_db, analysis as analysis_db
from bot.wiring import build_rule_analyzers, open_store
from bot.worker import build_worker
from tests.bot.live_helpers import (  # noqa: F401 - asyncio_debug is a fixture
    ADMIN,
    GROUP,
    T0,
    RecordingPlatform,
    asyncio_debug,
    message,
    off_loop,
)
from tests.bot.test_live import AD, AD2, _until, make_config

pytestmark = pytest.mark.usefixtures("asyncio_debug")


async def test_a_receiver_answers_and_sends_while_a_worker_judges(db_url: str, monkeypatch) -> None:  # noqa: ANN001
    config = make_config(db_url)
    store = await off_loop(open_store, config)
    pg = store.engine.dialect.name == "postgresql"
    if not pg:  # no notifications on SQLite: the receiver looks at the outbox every few seconds
        monkeypatch.setattr(bot.live, "OUTBOX_POLL_SECONDS", 0.3)
    platform = RecordingPlatform()
    receiver = await off_loop(LiveBot, config, store, platform, clock=lambda: T0, analyse=False)
    task = asyncio.create_task(receiver.run())

    def pending() -> int:
        with store.sessions() as s:
            return analysis_db.analysis_counts(s)["pending"]

    def actions() -> list[tuple[str, str | None]]:
        with store.sessions() as s:
            return [
                (a.action, a.by_contact) for a in sorted(actions_db.actions_for_group(s, GROUP), key=lambda a: a.pk)
            ]

    try:
        ad = message(AD, "wxid_spam", name="推广小王")
        await platform.inbox.put(ad)
        await platform.inbox.put(message("/help", "wxid_alice", minutes=1))
        await _until(lambda: len(platform.sent) == 1)  # /help answered at once
        assert pending() == 2 and actions() == []  # stored, never analysed here: the ad is not judged
        await platform.inbox.put(message("/spam", ADMIN, reply_to=ad.id, minutes=2))
        await _until(lambda: any(m == ("wxid_spam",) for _, _, m in platform.sent))  # warned at once
        assert actions() == [("warn", ADMIN)] and pending() == 3
        worker = await off_loop(
            build_worker, config, store, analyzers=build_rule_analyzers(), idle_stop=True, clock=lambda: T0
        )
        totals = await asyncio.to_thread(worker.run)
        assert (totals.analysed, totals.actions) == (3, 0)  # the admin judged the ad already
        # a second ad: the worker decides (the second strike: a kick), the receiver carries it out
        await platform.inbox.put(message(AD2, "wxid_spam", minutes=3))
        await _until(lambda: pending() == 1)
        totals = await asyncio.to_thread(worker.run)
        assert totals.actions == 1
        await _until(lambda: platform.kicks == [(GROUP, "wxid_spam")], timeout=4.0)  # before its 5 s look on PG
        assert actions() == [("warn", ADMIN), ("kick", None)]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        store.close()
