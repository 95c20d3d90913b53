"""Digests: one per group and day, decided by the unique constraint even when two sessions race."""

from __future__ import annotations

import threading
from datetime import date, timedelta

from bot.store import digests as digests_db

from .conftest import GROUP, T0

DAY = date(2025, 3, 1)


def test_one_digest_per_group_and_day(session) -> None:  # noqa: ANN001
    assert digests_db.save_digest(session, GROUP, DAY, "今日摘要", "<p>今日摘要</p>")
    assert not digests_db.save_digest(session, GROUP, DAY, "second", "<p>second</p>")
    assert digests_db.save_digest(session, GROUP, DAY + timedelta(days=1), "next day", "")
    assert digests_db.save_digest(session, "other@chatroom", DAY, "other group", "")
    session.commit()

    d = digests_db.get_digest(session, GROUP, DAY)
    assert d is not None
    assert (d.group_id, d.day, d.text, d.html, d.sent_at) == (GROUP, DAY, "今日摘要", "<p>今日摘要</p>", None)
    assert d.created_at.tzinfo is not None
    assert digests_db.get_digest(session, GROUP, DAY - timedelta(days=1)) is None


def test_mark_sent_once_and_unsent_list(session) -> None:  # noqa: ANN001
    digests_db.save_digest(session, GROUP, DAY, "a", "")
    digests_db.save_digest(session, GROUP, DAY + timedelta(days=1), "b", "")
    digests_db.save_digest(session, "other@chatroom", DAY, "c", "")
    assert [d.text for d in digests_db.unsent_digests(session)] == ["a", "c", "b"]  # by day, then group id
    assert digests_db.mark_digest_sent(session, GROUP, DAY, at=T0)
    assert not digests_db.mark_digest_sent(session, GROUP, DAY)
    assert not digests_db.mark_digest_sent(session, GROUP, date(2000, 1, 1))
    session.commit()
    assert digests_db.get_digest(session, GROUP, DAY).sent_at == T0  # type: ignore[union-attr]
    assert [d.text for d in digests_db.unsent_digests(session, GROUP)] == ["b"]


def test_two_sessions_racing_store_exactly_one(sessions) -> None:  # noqa: ANN001
    barrier = threading.Barrier(2)
    results: dict[str, bool] = {}
    errors: list[BaseException] = []

    def save(name: str) -> None:
        try:
            with sessions() as s:
                barrier.wait(timeout=10)
                results[name] = digests_db.save_digest(s, GROUP, DAY, name, f"<p>{name}</p>")
                s.commit()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=save, args=(name,)) for name in ("first", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert sorted(results.values()) == [False, True]
    [winner] = [name for name, won in results.items() if won]
    with sessions() as s:
        d = digests_db.get_digest(s, GROUP, DAY)
        assert d is not None and d.text == winner


def test_second_session_waits_for_the_first_then_loses(sessions) -> None:  # noqa: ANN001
    # Deterministic interleaving: A has inserted but not committed when B tries.
    with sessions() as a:
        assert digests_db.save_digest(a, GROUP, DAY, "A", "")
        outcome: list[bool] = []
        b = threading.Thread(target=lambda: outcome.append(_save_in_new_session(sessions, "B")))
        b.start()
        b.join(timeout=0.3)
        assert b.is_alive()  # blocked on A's uncommitted row (PostgreSQL) or write lock (SQLite)
        a.commit()
    b.join(timeout=15)
    assert outcome == [False]
    with sessions() as s:
        assert digests_db.get_digest(s, GROUP, DAY).text == "A"  # type: ignore[union-attr]


def _save_in_new_session(sessions, text: str) -> bool:  # noqa: ANN001
    with sessions() as s:
        saved = digests_db.save_digest(s, GROUP, DAY, text, "")
        s.commit()
        return saved
