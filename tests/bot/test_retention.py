"""Retention: old text is purged, aggregates stay; on SQLite and PostgreSQL; the daily schedule."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from bot.config import Config
from bot.pipeline import Pipeline
from bot.profiles import ProfileUpdater, profile_rows
from bot.retention import next_run, purge, purge_daily, purge_once
from bot.store import actions as actions_db, groups as groups_db, messages as messages_db, verdicts as verdicts_db
from bot.store.models import EntityRow, Message
from bot.wiring import build_rule_analyzers
from nlp.verdict import Entity
from tests.bot.month_fixture import GROUP, TZ, month
from tests.bot.test_profiles import make_config

ROWS = month()
CUT = datetime(2026, 3, 16, tzinfo=TZ)  # half the month


class OneEntity:
    """An extractor that finds the first two characters of every message (so entities exist)."""

    name = "test"

    def extract(self, items):  # noqa: ANN001, ANN201
        return [[Entity("ORG", 0, 2, it.text[:2], 1.0, "test", it.text[:2])] if it.text else [] for it in items]


@pytest.fixture
def replayed(sessions):  # noqa: ANN001, ANN201
    config = make_config()
    Pipeline(
        sessions, build_rule_analyzers(), config, extractors=[OneEntity()], on_analysed=ProfileUpdater(config)
    ).ingest([r.message for r in ROWS])
    return sessions


def snapshot(session) -> dict:  # noqa: ANN001
    """Everything that must survive a purge: verdict labels, counts, profiles, strikes."""
    labels = {}
    for r in ROWS:
        pk = messages_db.find_message(session, r.message.source, r.message.id)
        got = verdicts_db.analysed_message(session, pk)
        labels[r.message.id] = {k: (v.label, v.score) for k, v in got.verdicts.items()}
    return {
        "labels": labels,
        "counts": messages_db.message_counts(session, GROUP),
        "members": groups_db.members(session, GROUP),
        "profiles": [
            (g, t.row()) for m in ("wxid_asker", "wxid_spam", "wxid_linker") for g, t in profile_rows(session, m)
        ],
        "strikes": actions_db.strikes(session, GROUP, "wxid_spam", since=None),
    }


def test_purge_blanks_old_text_and_keeps_aggregates(replayed) -> None:  # noqa: ANN001
    with replayed() as s:
        before = snapshot(s)
    now = datetime(2026, 4, 1, tzinfo=timezone.utc)
    with replayed.begin() as s:
        report = purge(s, CUT, now=now)
    old = [r for r in ROWS if r.message.sent_at < CUT]
    assert report.messages == len(old) and report.entities == len(old)
    with replayed() as s:
        rows = {m.source_id: m for m in s.execute(select(Message)).scalars()}
        for r in ROWS:
            m = rows[r.message.id]
            if r.message.sent_at < CUT:
                assert (m.text, m.quote, m.purged_at) == ("", "", now)
            else:
                assert m.text == r.message.text and m.purged_at is None
        ents = s.execute(select(EntityRow.text, EntityRow.value, Message.sent_at).join(Message)).all()
        assert all((e.text, e.value) == ("", "") for e in ents if e.sent_at < CUT)
        assert all(e.text for e in ents if e.sent_at >= CUT)
        assert snapshot(s) == before
    with replayed.begin() as s:
        assert purge(s, CUT).messages == 0  # idempotent


def test_pending_messages_wait_for_analysis(sessions) -> None:  # noqa: ANN001
    with sessions.begin() as s:
        messages_db.store_messages(s, [r.message for r in ROWS[:5]])
        assert purge(s, CUT).messages == 0  # not analysed yet: their text is still needed
    config = make_config()
    Pipeline(sessions, build_rule_analyzers(), config, on_analysed=ProfileUpdater(config)).process_pending()
    with sessions.begin() as s:
        assert purge(s, CUT).messages == 5


def test_purge_once_follows_the_config(replayed) -> None:  # noqa: ANN001
    now = datetime(2026, 3, 31, tzinfo=TZ)
    keep = Config.model_validate({"privacy": {"retention_days": 0}})
    assert purge_once(replayed, keep, now) is None
    days15 = Config.model_validate({"privacy": {"retention_days": 15}})
    report = purge_once(replayed, days15, now)
    assert report is not None and report.before == now - timedelta(days=15)
    assert report.messages == sum(1 for r in ROWS if r.message.sent_at < now - timedelta(days=15))


def test_naive_cutoff_is_refused(session) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="timezone-aware"):
        purge(session, datetime(2026, 3, 1))


def test_next_run_is_the_next_local_purge_time() -> None:
    config = Config.model_validate({"privacy": {"purge_time": "04:30"}})
    before = datetime(2026, 3, 10, 3, 0, tzinfo=TZ)
    assert next_run(config, before) == datetime(2026, 3, 10, 4, 30, tzinfo=TZ)
    after = datetime(2026, 3, 10, 4, 30, tzinfo=TZ)
    assert next_run(config, after) == datetime(2026, 3, 11, 4, 30, tzinfo=TZ)


async def test_purge_daily_runs_at_the_purge_time_each_day() -> None:
    config = Config.model_validate({"privacy": {"retention_days": 30, "purge_time": "04:30"}})
    clock = [datetime(2026, 3, 10, 12, 0, tzinfo=TZ)]
    slept: list[float] = []
    ran: list[datetime] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += timedelta(seconds=seconds)
        if len(slept) == 3:
            raise asyncio.CancelledError

    async def in_worker(fn, sessions, cfg, now):  # noqa: ANN001
        ran.append((fn.__name__, now))
        if len(ran) == 1:
            raise RuntimeError("database away")  # logged; the retry still runs, tomorrow the purge again

    with pytest.raises(asyncio.CancelledError):
        await purge_daily(None, config, in_worker, lambda: clock[0], sleep=sleep)  # type: ignore[arg-type]
    day1, day2 = datetime(2026, 3, 11, 4, 30, tzinfo=TZ), datetime(2026, 3, 12, 4, 30, tzinfo=TZ)
    assert ran == [("purge_once", day1), ("requeue_once", day1), ("purge_once", day2), ("requeue_once", day2)]
    assert slept[0] == (16 * 60 + 30) * 60


async def test_with_retention_off_the_daily_run_only_retries_failed_analyses() -> None:
    config = Config.model_validate({"privacy": {"retention_days": 0}})
    clock = [datetime(2026, 3, 10, 12, 0, tzinfo=TZ)]
    ran: list[str] = []

    async def sleep(seconds: float) -> None:
        clock[0] += timedelta(seconds=seconds)
        if len(ran) == 2:
            raise asyncio.CancelledError

    async def in_worker(fn, sessions, cfg, now):  # noqa: ANN001
        ran.append(fn.__name__)

    with pytest.raises(asyncio.CancelledError):
        await purge_daily(None, config, in_worker, lambda: clock[0], sleep=sleep)  # type: ignore[arg-type]
    assert ran == ["requeue_once", "requeue_once"]


async def test_the_daily_retry_wakes_the_analysis_when_it_requeued_something() -> None:
    config = Config.model_validate({"privacy": {"retention_days": 0}})
    clock = [datetime(2026, 3, 10, 12, 0, tzinfo=TZ)]
    requeued = iter([0, 3])  # day 1 nothing went back, day 2 three messages did
    woken: list[datetime] = []

    async def sleep(seconds: float) -> None:
        clock[0] += timedelta(seconds=seconds)
        if len(woken) == 1:
            raise asyncio.CancelledError

    async def in_worker(fn, sessions, cfg, now):  # noqa: ANN001
        return next(requeued)

    with pytest.raises(asyncio.CancelledError):
        await purge_daily(
            None,
            config,
            in_worker,
            lambda: clock[0],
            sleep=sleep,
            on_requeued=lambda: woken.append(clock[0]),  # type: ignore[arg-type]
        )
    assert woken == [datetime(2026, 3, 12, 4, 30, tzinfo=TZ)]
