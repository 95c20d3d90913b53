"""Periodic deliveries (weekly and monthly digests, briefings): one row per kind, target and period,
decided by the unique constraint, and one ``sent_at`` flip, even when two sessions race."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from bot.store import deliveries as deliveries_db

from .conftest import GROUP, T0

MONDAY = date(2025, 3, 3)
READER = "wxid_reader"


def test_one_delivery_per_kind_target_and_period(session) -> None:  # noqa: ANN001
    assert deliveries_db.save_delivery(session, "weekly", GROUP, MONDAY, "本周", "<p>本周</p>")
    assert not deliveries_db.save_delivery(session, "weekly", GROUP, MONDAY, "again", "<p>again</p>")
    # another kind, target or period is another delivery
    assert deliveries_db.save_delivery(session, "monthly", GROUP, MONDAY, "本月")
    assert deliveries_db.save_delivery(session, "weekly", "other@chatroom", MONDAY, "other")
    assert deliveries_db.save_delivery(session, "weekly", GROUP, MONDAY + timedelta(days=7), "next week")
    assert deliveries_db.save_delivery(session, "briefing", READER, MONDAY, "早报")
    assert deliveries_db.save_delivery(session, "briefing_weekly", READER, MONDAY, "周报")
    session.commit()

    kept = deliveries_db.get_delivery(session, "weekly", GROUP, MONDAY)
    assert kept is not None
    assert (kept.kind, kept.target, kept.period_start, kept.text, kept.html, kept.sent_at) == (
        "weekly",
        GROUP,
        MONDAY,
        "本周",
        "<p>本周</p>",
        None,
    )
    assert kept.created_at.tzinfo is not None
    assert deliveries_db.get_delivery(session, "weekly", GROUP, MONDAY - timedelta(days=7)) is None
    assert deliveries_db.get_delivery(session, "briefing", GROUP, MONDAY) is None
    assert [(d.kind, d.target) for d in deliveries_db.deliveries(session, target=READER)] == [
        ("briefing", READER),
        ("briefing_weekly", READER),
    ]
    assert [d.period_start for d in deliveries_db.deliveries(session, kind="weekly", target=GROUP)] == [
        MONDAY,
        MONDAY + timedelta(days=7),
    ]


def test_mark_sent_once(session) -> None:  # noqa: ANN001
    deliveries_db.save_delivery(session, "monthly", GROUP, date(2025, 3, 1), "三月")
    assert deliveries_db.mark_delivery_sent(session, "monthly", GROUP, date(2025, 3, 1), at=T0)
    assert not deliveries_db.mark_delivery_sent(session, "monthly", GROUP, date(2025, 3, 1))
    assert not deliveries_db.mark_delivery_sent(session, "weekly", GROUP, date(2025, 3, 1))  # none kept
    session.commit()
    assert deliveries_db.get_delivery(session, "monthly", GROUP, date(2025, 3, 1)).sent_at == T0  # type: ignore[union-attr]


def test_bad_input_is_refused_clearly(session) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="kind: must be one of weekly, monthly, briefing, briefing_weekly"):
        deliveries_db.save_delivery(session, "daily", GROUP, MONDAY, "x")
    with pytest.raises(ValueError, match="kind"):
        deliveries_db.get_delivery(session, "yearly", GROUP, MONDAY)
    with pytest.raises(ValueError, match="target"):
        deliveries_db.save_delivery(session, "weekly", "", MONDAY, "x")
    with pytest.raises(ValueError, match="timezone-aware"):
        deliveries_db.mark_delivery_sent(session, "weekly", GROUP, MONDAY, at=T0.replace(tzinfo=None))
    assert deliveries_db.deliveries(session) == []


def test_the_database_itself_refuses_an_unknown_kind(session) -> None:  # noqa: ANN001
    from sqlalchemy import insert

    with pytest.raises(IntegrityError):
        session.execute(
            insert(deliveries_db.DELIVERIES).values(
                kind="daily", target=GROUP, period_start=MONDAY, text="", html="", created_at=T0
            )
        )


def test_two_sessions_racing_keep_one_and_mark_it_once(sessions) -> None:  # noqa: ANN001
    """The scheduler's transaction: keep, then flip sent_at; of two racing, exactly one wins."""
    barrier = threading.Barrier(2)
    results: dict[str, tuple[bool, bool]] = {}
    errors: list[BaseException] = []

    def claim(name: str) -> None:
        try:
            with sessions() as s:
                barrier.wait(timeout=10)
                saved = deliveries_db.save_delivery(s, "weekly", GROUP, MONDAY, name)
                marked = deliveries_db.mark_delivery_sent(s, "weekly", GROUP, MONDAY, at=T0)
                s.commit()
                results[name] = (saved, marked)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=claim, args=(name,)) for name in ("first", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert sorted(results.values()) == [(False, False), (True, True)]
    [winner] = [name for name, (saved, _) in results.items() if saved]
    with sessions() as s:
        kept = deliveries_db.get_delivery(s, "weekly", GROUP, MONDAY)
        assert kept is not None and kept.text == winner and kept.sent_at == T0
