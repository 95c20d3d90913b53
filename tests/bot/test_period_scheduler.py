"""Weekly and monthly digests and personal briefings on schedule (bot/period_scheduler.py), on real
SQLite and PostgreSQL with a fixed clock and the month fixture (March 2026: Sunday the 1st to
Monday the 30th).

What a run covers is checked against dates worked out by hand; what it delivers against the same
builders called directly (``make_digest``, ``make_briefing``); exactly once with two schedulers on
one database, one after the other, racing from two threads, and after a restart.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, time, timedelta, timezone

import pytest
from pydantic import ValidationError

from bot.briefing import make_briefing
from bot.config import Config, MonthlyTime, WeeklyTime, monthly_time, weekly_time
from bot.daily import make_digest
from bot.digest import Period, week_period
from bot.message import GroupMessage, MessageKind
from bot.outbox import Outbox
from bot.period_scheduler import (
    BRIEFING,
    BRIEFING_WEEKLY,
    MONTHLY,
    WEEKLY,
    PeriodJob,
    PeriodScheduler,
    due_at,
    jobs_of,
    last_fire,
)
from bot.scheduler import stored_parts
from bot.store import deliveries as deliveries_db, outgoing as outgoing_db
from tests.bot.live_helpers import asyncio_debug  # noqa: F401 - a fixture
from tests.bot.month_fixture import GROUP, OTHER_GROUP, TZ
from tests.bot.test_digest_trends import store_month
from tests.bot.test_scheduler import Clock, other_store, store  # noqa: F401 - fixtures
from tests.needs import missing

pytestmark = pytest.mark.usefixtures("asyncio_debug")  # the async tests here run under asyncio debug mode

UTC = timezone.utc
READER = "wxid_reader"
SILENT = "silent@chatroom"  # configured, never a message


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)  # type: ignore[misc]


def config(digest: dict | None = None, groups: list[dict] | None = None, briefing: list[dict] | None = None) -> Config:
    return Config.model_validate(
        {
            "models": {"use": False},
            "bot": {"timezone": "Asia/Shanghai"},
            "digest": digest or {},
            "groups": groups if groups is not None else [{"id": GROUP, "topic": "AI 开发者"}],
            "briefing": briefing or [],
        }
    )


def make(sessions, cfg: Config, clock: Clock, **kw) -> PeriodScheduler:  # noqa: ANN001, ANN003
    return PeriodScheduler(sessions, cfg, Outbox(cfg.digest.max_part_chars, clock=clock), clock=clock, **kw)


def rows(sessions, purpose: str) -> list[outgoing_db.OutgoingRecord]:  # noqa: ANN001
    with sessions() as s:
        return outgoing_db.outgoing(s, purpose=purpose)


def kept(sessions, kind: str, target: str, start: date) -> deliveries_db.DeliveryRecord | None:  # noqa: ANN001
    with sessions() as s:
        return deliveries_db.get_delivery(s, kind, target, start)


def all_kept(sessions) -> list[tuple[str, str, date]]:  # noqa: ANN001
    with sessions() as s:
        return [(d.kind, d.target, d.period_start) for d in deliveries_db.deliveries(s)]


def digest_parts(sessions, cfg: Config, group_id: str, period: Period) -> list[str]:  # noqa: ANN001
    return make_digest(sessions, cfg, group_id, period.last_day(TZ), save=False, embed=None, period=period).text_parts


def job(cfg: Config, kind: str, target: str = GROUP) -> PeriodJob:
    return next(j for j in jobs_of(cfg) if (j.kind, j.target) == (kind, target))


@pytest.fixture
def month_store(store):  # noqa: ANN001, ANN201, F811 - the imported fixture
    engine, sessions = store
    store_month(sessions)
    return engine, sessions


# --- config ---------------------------------------------------------------------------------------


def test_the_schedule_grammar_and_its_errors() -> None:
    assert weekly_time("周日 20:00") == WeeklyTime(6, time(20, 0))
    assert weekly_time("周天 20:00") == weekly_time("周日 20:00")
    assert weekly_time("周一 08:05") == WeeklyTime(0, time(8, 5))
    assert monthly_time("1日 09:00") == MonthlyTime(1, time(9, 0))
    assert monthly_time("28日 23:59") == MonthlyTime(28, time(23, 59))
    assert monthly_time("月末 20:00") == MonthlyTime(None, time(20, 0))

    bad = {
        ("digest", "weekly", "周八 20:00"): "not a weekday and a time",
        ("digest", "weekly", "Sunday 20:00"): "not a weekday and a time",
        ("digest", "weekly", "周日 8点"): "not a time of day written HH:MM",
        ("digest", "monthly", "31日 20:00"): "the day must be 1日…28日; write 月末",
        ("digest", "monthly", "0日 20:00"): "the day must be 1日…28日",
        ("digest", "monthly", "月初 09:00"): "not a day of the month and a time",
        ("digest", "monthly", "1日 24:00"): "not a time of day written HH:MM",
    }
    for (section, key, value), message in bad.items():
        with pytest.raises(ValidationError) as e:
            Config.model_validate({section: {key: value}})
        assert message in str(e.value) and f"{section}.{key}" in str(e.value).replace("\n", ".")
    with pytest.raises(ValidationError, match="groups.0.digest_monthly"):
        Config.model_validate({"groups": [{"id": GROUP, "digest_monthly": "32日 09:00"}]})


def test_a_group_overrides_or_turns_off_the_weekly_and_monthly_digests() -> None:
    cfg = config(
        {"weekly": "周日 20:00", "monthly": "月末 21:00"},
        [
            {"id": GROUP},
            {"id": OTHER_GROUP, "digest_weekly": "周一 09:00", "digest_monthly": "off"},
            {"id": SILENT, "digest_weekly": "off"},
        ],
        [{"to": READER, "groups": [GROUP], "time": "07:30", "weekly": "周一 08:00"}],
    )
    assert [(j.kind, j.target, j.every) for j in jobs_of(cfg)] == [
        (WEEKLY, GROUP, WeeklyTime(6, time(20, 0))),
        (MONTHLY, GROUP, MonthlyTime(None, time(21, 0))),
        (WEEKLY, OTHER_GROUP, WeeklyTime(0, time(9, 0))),
        (MONTHLY, SILENT, MonthlyTime(None, time(21, 0))),
        (BRIEFING, READER, time(7, 30)),
        (BRIEFING_WEEKLY, READER, WeeklyTime(0, time(8, 0))),
    ]
    assert jobs_of(config()) == []  # off when unset


# --- what a run covers ----------------------------------------------------------------------------


def covers(every: str, now: datetime, kind: str = WEEKLY) -> tuple[datetime, datetime, datetime, date, str]:
    """(the run, since, until, the key's start day, the header) of the latest run at or before ``now``."""
    parsed = weekly_time(every) if kind in (WEEKLY, BRIEFING_WEEKLY) else monthly_time(every)
    fire = last_fire(parsed, now)
    due = due_at(PeriodJob(kind, GROUP, parsed), fire, TZ)
    assert due.fire_at == fire.astimezone(UTC) and due.day == due.period.last_day(TZ)
    return fire, due.period.since.astimezone(TZ), due.period.until.astimezone(TZ), due.period_start, due.period.label


def test_a_weekly_run_covers_the_week_so_far_on_sunday_else_the_last_whole_week() -> None:
    # 周日 20:00 on Sunday March 15 at 20:00:30: that week, up to the run
    assert covers("周日 20:00", local(2026, 3, 15, 20, 0, 30)) == (
        local(2026, 3, 15, 20),
        local(2026, 3, 9),
        local(2026, 3, 15, 20),
        date(2026, 3, 9),
        "本周（3/9–3/15）",
    )
    # a minute before it, the latest run was the Sunday before
    assert covers("周日 20:00", local(2026, 3, 15, 19, 59))[1:4] == (
        local(2026, 3, 2),
        local(2026, 3, 8, 20),
        date(2026, 3, 2),
    )
    # 周一 09:00: the whole week before
    assert covers("周一 09:00", local(2026, 3, 18, 12, 0)) == (
        local(2026, 3, 16, 9),
        local(2026, 3, 9),
        local(2026, 3, 16),
        date(2026, 3, 9),
        "上周（3/9–3/15）",
    )
    # 周三 18:00 too: the last whole week, not half of this one
    assert covers("周三 18:00", local(2026, 3, 18, 18, 0))[1:4] == (
        local(2026, 3, 9),
        local(2026, 3, 16),
        date(2026, 3, 9),
    )
    # before 06:00 a run is about the day before (as the daily digest): Monday 00:30 ends Sunday's week
    assert covers("周一 00:30", local(2026, 3, 16, 1, 0))[1:] == (
        local(2026, 3, 9),
        local(2026, 3, 16),
        date(2026, 3, 9),
        "上周（3/9–3/15）",
    )
    # and Sunday 03:00 is about Saturday: the week before
    assert covers("周日 03:00", local(2026, 3, 15, 4, 0))[1:4] == (
        local(2026, 3, 2),
        local(2026, 3, 9),
        date(2026, 3, 2),
    )


def test_a_monthly_run_covers_the_month_so_far_on_its_last_day_else_the_last_whole_month() -> None:
    assert covers("1日 09:00", local(2026, 4, 1, 10, 0), MONTHLY) == (
        local(2026, 4, 1, 9),
        local(2026, 3, 1),
        local(2026, 4, 1),
        date(2026, 3, 1),
        "上月（2026 年 3 月）",
    )
    # before the 1st's run, the latest was March 1st's: February
    assert covers("1日 09:00", local(2026, 4, 1, 8, 59), MONTHLY)[1:4] == (
        local(2026, 2, 1),
        local(2026, 3, 1),
        date(2026, 2, 1),
    )
    assert covers("15日 09:00", local(2026, 3, 20), MONTHLY)[:4] == (
        local(2026, 3, 15, 9),
        local(2026, 2, 1),
        local(2026, 3, 1),
        date(2026, 2, 1),
    )
    # 月末: the last day, whatever the month's length; that month so far
    assert covers("月末 20:00", local(2026, 3, 31, 20, 0, 30), MONTHLY) == (
        local(2026, 3, 31, 20),
        local(2026, 3, 1),
        local(2026, 3, 31, 20),
        date(2026, 3, 1),
        "本月（2026 年 3 月）",
    )
    assert covers("月末 20:00", local(2026, 3, 31, 19, 0), MONTHLY)[:4] == (
        local(2026, 2, 28, 20),
        local(2026, 2, 1),
        local(2026, 2, 28, 20),
        date(2026, 2, 1),
    )
    assert covers("月末 20:00", local(2028, 3, 1, 12, 0), MONTHLY)[0] == local(2028, 2, 29, 20)  # a leap year
    # before 06:00: 1日 00:30 is about the last day of the month before, and 月末 03:00 about the day before it
    assert covers("1日 00:30", local(2026, 4, 1, 1, 0), MONTHLY)[1:] == (
        local(2026, 3, 1),
        local(2026, 4, 1),
        date(2026, 3, 1),
        "上月（2026 年 3 月）",
    )
    assert covers("月末 03:00", local(2026, 3, 31, 4, 0), MONTHLY)[1:4] == (
        local(2026, 2, 1),
        local(2026, 3, 1),
        date(2026, 2, 1),
    )


def test_a_daily_briefing_covers_the_time_since_the_run_before() -> None:
    j = PeriodJob(BRIEFING, READER, time(8, 0))
    for now, start in ((local(2026, 3, 11, 8, 0, 30), 10), (local(2026, 3, 11, 7, 59), 9)):
        due = due_at(j, last_fire(j.every, now), TZ)
        assert (due.period.since, due.period.until) == (local(2026, 3, start, 8), local(2026, 3, start + 1, 8))
        assert due.period_start == date(2026, 3, start) and due.day == date(2026, 3, start + 1)


# --- exactly once ---------------------------------------------------------------------------------


def test_a_weekly_digest_due_is_delivered_once_and_a_restart_does_not_resend(month_store, other_store) -> None:  # noqa: ANN001, F811
    (_, sessions), (_, restarted) = month_store, other_store
    cfg = config({"weekly": "周一 09:00", "max_part_chars": 400})
    clock = Clock(local(2026, 3, 16, 9, 0, 30))
    sched = make(sessions, cfg, clock)

    assert sched.run_due(job(cfg, WEEKLY)) is True
    expected = digest_parts(sessions, cfg, GROUP, week_period(date(2026, 3, 16), TZ, previous=True))
    assert len(expected) >= 2 and "上周（3/9–3/15）" in expected[0]  # a multi-part digest: every part, once each
    assert [(r.op, r.group_id, r.text) for r in rows(sessions, "digest")] == [("text", GROUP, p) for p in expected]
    record = kept(sessions, WEEKLY, GROUP, date(2026, 3, 9))
    assert record is not None and record.sent_at == clock.now and stored_parts(record.text) == expected
    assert "<html" in record.html.lower()

    assert sched.run_due(job(cfg, WEEKLY)) is False
    clock.now += timedelta(hours=3)
    again = make(restarted, cfg, clock)  # a restarted bot: a fresh engine and scheduler
    assert again.run_due(job(cfg, WEEKLY)) is False and again.catch_up() == []
    assert len(rows(sessions, "digest")) == len(expected)
    assert all_kept(sessions) == [(WEEKLY, GROUP, date(2026, 3, 9))]


def test_two_schedulers_racing_deliver_one_weekly_digest(month_store, other_store) -> None:  # noqa: ANN001, F811
    (_, sessions_a), (_, sessions_b) = month_store, other_store
    cfg = config({"weekly": "周一 09:00"})
    clock = Clock(local(2026, 3, 23, 9, 0, 30))
    schedulers = [make(sessions_a, cfg, clock), make(sessions_b, cfg, clock)]
    barrier = threading.Barrier(2)
    results: list[bool] = []
    errors: list[BaseException] = []

    def race(sched: PeriodScheduler) -> None:
        try:
            due = sched.latest_due(job(cfg, WEEKLY))
            barrier.wait(timeout=10)
            results.append(sched.run(due))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=race, args=(s,)) for s in schedulers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sorted(results) == [False, True]
    record = kept(sessions_b, WEEKLY, GROUP, date(2026, 3, 16))
    assert record is not None and record.sent_at is not None
    assert [r.text for r in rows(sessions_a, "digest")] == stored_parts(record.text)
    assert all(s.catch_up() == [] for s in schedulers)


def test_catch_up_delivers_the_latest_due_of_each_once(month_store, other_store) -> None:  # noqa: ANN001, F811
    (_, sessions), (_, restarted) = month_store, other_store
    cfg = config(
        {"weekly": "周一 09:00", "monthly": "1日 09:00"},
        [{"id": GROUP, "topic": "AI 开发者"}, {"id": OTHER_GROUP, "topic": "AI 开发者"}],
    )
    clock = Clock(local(2026, 4, 2, 12, 0))  # down since before Monday's and the 1st's runs
    sched = make(sessions, cfg, clock)

    caught = sched.catch_up()
    assert [(d.job.kind, d.job.target, d.period_start, d.fire_at) for d in caught] == [
        (WEEKLY, GROUP, date(2026, 3, 23), local(2026, 3, 30, 9).astimezone(UTC)),
        (MONTHLY, GROUP, date(2026, 3, 1), local(2026, 4, 1, 9).astimezone(UTC)),
        (WEEKLY, OTHER_GROUP, date(2026, 3, 23), local(2026, 3, 30, 9).astimezone(UTC)),  # kept, not sent
        (MONTHLY, OTHER_GROUP, date(2026, 3, 1), local(2026, 4, 1, 9).astimezone(UTC)),
    ]
    sent = rows(sessions, "digest")
    week, month, other_month = (
        stored_parts(kept(sessions, kind, gid, start).text)  # type: ignore[union-attr]
        for kind, gid, start in (
            (WEEKLY, GROUP, date(2026, 3, 23)),
            (MONTHLY, GROUP, date(2026, 3, 1)),
            (MONTHLY, OTHER_GROUP, date(2026, 3, 1)),
        )
    )
    assert (
        "上周（3/23–3/29）" in week[0]
        and "上月（2026 年 3 月）" in month[0]
        and "上月（2026 年 3 月）" in other_month[0]
    )
    assert [r.text for r in sent if r.group_id == GROUP] == week + month
    assert [r.text for r in sent if r.group_id == OTHER_GROUP] == other_month  # no weekly: a silent week
    silent = kept(sessions, WEEKLY, OTHER_GROUP, date(2026, 3, 23))
    assert silent is not None and silent.sent_at == clock.now  # kept and marked: never sent later either

    assert sched.catch_up() == []
    clock.now += timedelta(days=1)
    assert make(restarted, cfg, clock).catch_up() == []
    assert len(rows(sessions, "digest")) == len(sent) and len(all_kept(sessions)) == 4  # only the latest of each


def test_weekly_and_monthly_go_where_the_groups_daily_digest_goes(month_store) -> None:  # noqa: ANN001
    _, sessions = month_store
    cfg = config(
        {"monthly": "1日 09:00"},
        [
            {"id": GROUP, "topic": "AI 开发者", "digest_delivery": "admins", "digest_recipients": ["wxid_a", "wxid_b"]},
            {"id": OTHER_GROUP, "digest_delivery": "none"},
        ],
    )
    queued: list[int] = []
    clock = Clock(local(2026, 4, 1, 9, 0, 30))
    sched = make(sessions, cfg, clock, on_queued=lambda: queued.append(1))
    assert [sched.run_due(j) for j in sched.jobs] == [True, True]
    parts = stored_parts(kept(sessions, MONTHLY, GROUP, date(2026, 3, 1)).text)  # type: ignore[union-attr]
    assert "上月（2026 年 3 月）" in parts[0]
    assert [(r.op, r.contact_id, r.text) for r in rows(sessions, "digest")] == [
        ("private", c, p) for p in parts for c in ("wxid_a", "wxid_b")
    ]
    stored_only = kept(sessions, MONTHLY, OTHER_GROUP, date(2026, 3, 1))
    assert stored_only is not None and stored_only.sent_at == clock.now and stored_only.text
    assert queued == [1]  # woken for the admins' copies only


def test_with_digest_card_a_weekly_digest_goes_as_its_card_with_the_text_as_fallback(month_store) -> None:  # noqa: ANN001
    from bot.digest.card import CardFontError, find_cjk_font

    try:
        find_cjk_font()
    except CardFontError as e:
        missing(str(e))
    _, sessions = month_store
    cfg = config({"weekly": "周一 09:00", "card": True}, [{"id": OTHER_GROUP, "name": "算力群", "topic": "算力"}])
    sched = make(sessions, cfg, Clock(local(2026, 3, 16, 9, 0, 30)))
    assert sched.run_due(job(cfg, WEEKLY, OTHER_GROUP)) is True
    parts = stored_parts(kept(sessions, WEEKLY, OTHER_GROUP, date(2026, 3, 9)).text)  # type: ignore[union-attr]
    [card] = rows(sessions, "digest")
    assert (card.op, card.group_id) == ("image", OTHER_GROUP)
    with sessions() as s:
        image = outgoing_db.outgoing_image(s, card.pk)
    assert image is not None and image.png.startswith(b"\x89PNG") and list(image.fallback) == parts


def test_with_digest_card_a_briefing_goes_to_its_recipient_as_its_card_with_the_text_as_fallback(month_store) -> None:  # noqa: ANN001
    from bot.digest.card import CardFontError, find_cjk_font

    try:
        find_cjk_font()
    except CardFontError as e:
        missing(str(e))
    _, sessions = month_store
    cfg = config(
        {"card": True},
        groups=[{"id": GROUP, "topic": "AI 开发者"}, {"id": OTHER_GROUP, "topic": "算力"}],
        briefing=[{"to": READER, "groups": "all", "time": "08:00"}],
    )
    sched = make(sessions, cfg, Clock(local(2026, 3, 16, 8, 0, 30)))
    assert sched.run_due(job(cfg, BRIEFING, READER)) is True
    parts = stored_parts(kept(sessions, BRIEFING, READER, date(2026, 3, 15)).text)  # type: ignore[union-attr]
    [card] = rows(sessions, "briefing")
    assert (card.op, card.contact_id, card.group_id) == ("image", READER, None)
    with sessions() as s:
        image = outgoing_db.outgoing_image(s, card.pk)
    assert image is not None and image.png.startswith(b"\x89PNG") and list(image.fallback) == parts
    assert image.name.startswith("briefing-")


def test_briefings_are_told_privately_once_per_period(month_store, other_store) -> None:  # noqa: ANN001, F811
    (_, sessions), (_, restarted) = month_store, other_store
    cfg = config(
        groups=[{"id": GROUP, "topic": "AI 开发者"}, {"id": OTHER_GROUP, "topic": "算力"}],
        briefing=[{"to": READER, "groups": "all", "time": "08:00", "weekly": "周一 08:00"}],
    )
    clock = Clock(local(2026, 3, 16, 8, 0, 30))
    sched = make(sessions, cfg, clock)
    daily, weekly = job(cfg, BRIEFING, READER), job(cfg, BRIEFING_WEEKLY, READER)

    assert sched.run_due(daily) is True and sched.run_due(weekly) is True
    day = make_briefing(sessions, cfg, READER, date(2026, 3, 16), embed=None, period=sched.latest_due(daily).period)
    week = stored_parts(kept(sessions, BRIEFING_WEEKLY, READER, date(2026, 3, 9)).text)  # type: ignore[union-attr]
    assert not day.empty and "2026-03-15 08:00" in day.text_parts[0] and "上周（3/9–3/15）" in week[0]
    assert [(r.op, r.contact_id, r.text) for r in rows(sessions, "briefing")] == [
        ("private", READER, p) for p in day.text_parts + week
    ]
    assert kept(sessions, BRIEFING, READER, date(2026, 3, 15)).sent_at == clock.now  # type: ignore[union-attr]
    assert kept(sessions, BRIEFING_WEEKLY, READER, date(2026, 3, 9)) is not None

    assert sched.run_due(daily) is False and make(restarted, cfg, clock).catch_up() == []
    # the next morning: the next day's briefing, and only that
    clock.now += timedelta(days=1)
    assert [(d.job.kind, d.period_start) for d in make(restarted, cfg, clock).catch_up()] == [
        (BRIEFING, date(2026, 3, 16))
    ]

    # A quiet day's briefing is kept and marked, never sent.
    before = len(rows(sessions, "briefing"))
    clock.now = local(2026, 4, 20, 8, 0, 30)
    assert sched.run_due(daily) is True
    quiet = kept(sessions, BRIEFING, READER, date(2026, 4, 19))
    assert quiet is not None and quiet.sent_at == clock.now
    assert len(rows(sessions, "briefing")) == before


def test_a_delivery_kept_but_never_sent_goes_out_from_its_stored_text_once(store) -> None:  # noqa: ANN001, F811
    _, sessions = store
    cfg = config({"weekly": "周一 09:00"})
    text = "(1/2)\n上周已生成的周报 第一部分\n(2/2)\n上周已生成的周报 第二部分"
    with sessions.begin() as s:
        assert deliveries_db.save_delivery(s, WEEKLY, GROUP, date(2026, 3, 9), text, "<p>kept</p>")
    sched = make(sessions, cfg, Clock(local(2026, 3, 17, 10, 0)))
    assert [d.period_start for d in sched.catch_up()] == [date(2026, 3, 9)]
    assert [r.text for r in rows(sessions, "digest")] == stored_parts(text)
    record = kept(sessions, WEEKLY, GROUP, date(2026, 3, 9))
    assert record is not None and record.text == text and record.html == "<p>kept</p>" and record.sent_at is not None
    assert sched.catch_up() == [] and len(rows(sessions, "digest")) == 2


def test_a_group_no_longer_configured_is_skipped(store, caplog) -> None:  # noqa: ANN001, F811
    _, sessions = store
    sched = make(sessions, config({"weekly": "周一 09:00"}), Clock(local(2026, 3, 17, 10, 0)))
    caplog.set_level(logging.WARNING, logger="bot.period_scheduler")
    assert sched.run_due(PeriodJob(WEEKLY, "gone@chatroom", WeeklyTime(0, time(9, 0)))) is False
    assert all_kept(sessions) == [] and rows(sessions, "digest") == []
    assert any("not configured any more" in r.getMessage() for r in caplog.records)


# --- APScheduler ----------------------------------------------------------------------------------


async def _until(cond, timeout: float = 20.0) -> None:  # noqa: ANN001
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.02)


async def test_start_schedules_every_job_and_a_run_delivers_on_the_given_worker(store) -> None:  # noqa: ANN001, F811
    _, sessions = store
    cfg = config(
        {"weekly": "周日 20:00", "monthly": "月末 21:30"},
        briefing=[{"to": READER, "groups": [GROUP], "time": "07:45"}],
    )
    with sessions.begin() as s:  # a message in the briefing's day
        from bot.store import messages as messages_db

        messages_db.store_messages(
            s,
            [
                GroupMessage(
                    "p1",
                    "replay",
                    GROUP,
                    "wxid_x",
                    "小X",
                    local(2026, 3, 10, 12),
                    MessageKind.TEXT,
                    "请问 LoRA 怎么调参？",
                )
            ],
        )
    clock = Clock(local(2026, 3, 11, 7, 45, 30))
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-worker")
    ran_on: list[str] = []
    finished: list[object] = []

    async def on_worker(fn, *args):  # noqa: ANN001, ANN002, ANN202 - the shape of LiveBot._in_worker
        def run():  # noqa: ANN202
            ran_on.append(threading.current_thread().name)
            return fn(*args)

        finished.append(await asyncio.get_running_loop().run_in_executor(worker, run))

    sched = make(sessions, cfg, clock, run_blocking=on_worker)
    try:
        sched.start()
        runs = dict(sched.next_runs())
        assert set(runs) == {f"weekly:{GROUP}", f"monthly:{GROUP}", f"briefing:{READER}"}
        now = datetime.now(TZ)
        weekly, monthly, daily = (
            runs[k].astimezone(TZ) for k in (f"weekly:{GROUP}", f"monthly:{GROUP}", f"briefing:{READER}")
        )
        assert (weekly.weekday(), weekly.time()) == (6, time(20, 0)) and now < weekly <= now + timedelta(days=7)
        assert ((monthly + timedelta(days=1)).day, monthly.time()) == (1, time(21, 30)) and monthly > now
        assert daily.time() == time(7, 45) and now < daily <= now + timedelta(days=1)

        assert sched._timer is not None
        sched._timer.modify_job(f"briefing:{READER}", next_run_time=datetime.now(TZ))
        await _until(lambda: finished == [True])
        record = kept(sessions, BRIEFING, READER, date(2026, 3, 10))
        due = sched.latest_due(job(cfg, BRIEFING, READER))
        expected = make_briefing(sessions, cfg, READER, due.day, embed=None, period=due.period).text_parts
        assert record is not None and record.sent_at == clock.now and stored_parts(record.text) == expected
        assert [r.text for r in rows(sessions, "briefing")] == expected and "2026-03-10 07:45" in expected[0]
        assert len(ran_on) == 1 and ran_on[0].startswith("test-worker")  # built on the worker it was given
    finally:
        timer = sched._timer
        sched.shutdown()
        if timer is not None:
            await _until(lambda: not timer.running)
        worker.shutdown(wait=True)


async def test_the_live_bot_schedules_and_catches_up_weekly_digests_and_briefings(asyncio_debug, db_url: str) -> None:  # noqa: ANN001, F811
    from tests.bot.live_helpers import GROUP as ROOM, message
    from tests.bot.test_live import make_config, running

    settings = make_config(db_url).model_dump(mode="json")
    settings["digest"]["weekly"] = "周一 09:00"
    settings["groups"][0]["name"] = "AI 交流群"
    settings["briefing"] = [{"to": READER, "groups": "all", "time": "08:00"}]
    before = [  # the bot's clock: Wednesday 2026-11-25 10:00 in Shanghai
        message("请问 RAG 的召回率怎么评估？", "wxid_alice", name="Alice", minutes=-3 * 24 * 60),  # last Sunday
        message("可以用 recall@k，再人工抽检", "wxid_bob", name="Bob", minutes=-3 * 24 * 60 + 2),
        message("LoRA 微调学习率一般设多少？", "wxid_alice", name="Alice", minutes=-24 * 60),  # yesterday
    ]
    async with running(Config.model_validate(settings), before=before) as h:
        sessions = h.bot.store.sessions
        await _until(lambda: len(all_kept(sessions)) == 2)
        assert {j for j, _ in h.bot.periods.next_runs()} == {f"weekly:{ROOM}", f"briefing:{READER}"}
        await h.settle()
        week = kept(sessions, WEEKLY, ROOM, date(2026, 11, 16))
        brief = kept(sessions, BRIEFING, READER, date(2026, 11, 24))
        assert week is not None and week.sent_at is not None and "上周（11/16–11/22）" in week.text
        assert brief is not None and brief.sent_at is not None
        assert [t for _, t, _ in h.platform.sent if t in stored_parts(week.text)] == stored_parts(week.text)
        assert h.platform.private == [(READER, p) for p in stored_parts(brief.text)]
