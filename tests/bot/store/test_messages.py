"""Messages: stored once, UTC round trip, members and groups, the analysis queue, the read side."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.message import MessageKind
from bot.store import (
    actions as actions_db,
    analysis as analysis_db,
    groups as groups_db,
    messages as messages_db,
    verdicts as verdicts_db,
)
from bot.store.common import MAX_ERROR_CHARS
from bot.store.db import StoreError
from bot.store.models import Message
from nlp.verdict import Entity, Verdict

from .conftest import GROUP, T0, count_statements, make_msg

AD = Verdict("ad", "ad", 0.97, ("model p=0.97", "keyword 加V"), "ad-v1")
USEFUL = Verdict("useful", "useless", 0.8, ("model p=0.80",), "useful-v1")
PHONE = Entity("PHONE", 4, 15, "13800138000", 1.0, "regex")


def _count(session, model) -> int:  # noqa: ANN001
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_duplicate_message_is_stored_once_and_changes_nothing(session) -> None:  # noqa: ANN001
    first = make_msg(1, text="hello", sender_name="Alice")
    pk, created = messages_db.store_message(session, first)
    assert created
    session.commit()

    replay = make_msg(1, text="edited?", sender_name="Alice (renamed)", sent_at=T0 + timedelta(days=1))
    pk2, created2 = messages_db.store_message(session, replay)
    session.commit()
    assert (pk2, created2) == (pk, False)
    assert _count(session, Message) == 1
    [stored] = verdicts_db.analysed_messages(session, GROUP, T0, T0 + timedelta(days=2))
    assert stored.message == first
    m = groups_db.member(session, GROUP, "wxid_alice")
    assert m is not None and m.message_count == 1 and m.display_name == "Alice"
    assert m.last_seen == first.sent_at


def test_same_id_from_another_source_is_another_message(session) -> None:  # noqa: ANN001
    a, _ = messages_db.store_message(session, make_msg(1, source="wechaty"))
    b, created = messages_db.store_message(session, make_msg(1, source="replay"))
    assert created and a != b


def test_every_field_round_trips_with_aware_utc(session) -> None:  # noqa: ANN001
    shanghai = datetime(2025, 3, 2, 8, 30, 15, 123456, tzinfo=ZoneInfo("Asia/Shanghai"))
    original = make_msg(
        7,
        sent_at=shanghai,
        kind=MessageKind.LINK,
        text="看看这个 https://example.com",
        group_topic="AI 交流群",
        mentions=("wxid_bob", "wxid_bot"),
        mentions_bot=True,
        reply_to="m3",
    )
    pk, _ = messages_db.store_message(session, original)
    session.commit()
    session.expunge_all()
    [(got_pk, got)] = analysis_db.pending_messages(session, limit=10, max_attempts=3)
    assert got_pk == pk
    assert got == original
    assert got.sent_at.tzinfo is timezone.utc
    assert got.sent_at == datetime(2025, 3, 2, 0, 30, 15, 123456, tzinfo=timezone.utc)
    # The raw column reads back aware too (TypeDecorator on SQLite, timestamptz on PostgreSQL).
    raw = session.execute(select(Message.sent_at, Message.stored_at)).one()
    assert raw.sent_at.utcoffset() == timedelta(0) and raw.sent_at.tzinfo is timezone.utc
    assert raw.stored_at.tzinfo is timezone.utc


def test_naive_datetimes_are_refused(session) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="start_utc"):
        verdicts_db.analysed_messages(session, GROUP, datetime(2025, 1, 1), T0)
    with pytest.raises(ValueError, match="at"):
        actions_db.record_action(session, GROUP, "x", "warn", at=datetime(2025, 1, 1))


def test_member_and_group_bookkeeping(session) -> None:  # noqa: ANN001
    messages_db.store_message(session, make_msg(5, sender_name="Alice 5", group_topic="Room A"))
    messages_db.store_message(session, make_msg(2, sender_name="Alice 2"))  # older, replayed late
    messages_db.store_message(session, make_msg(9, sender_name="", group_topic="Room B"))  # newest, no name
    messages_db.store_message(session, make_msg(3, sender_id="wxid_bob", sender_name="Bob"))
    session.commit()

    alice = groups_db.member(session, GROUP, "wxid_alice")
    assert alice is not None
    assert alice.message_count == 3
    assert alice.first_seen == T0 + timedelta(minutes=2)
    assert alice.last_seen == T0 + timedelta(minutes=9)
    assert alice.display_name == "Alice 5"  # the newest non-empty name
    assert not alice.whitelisted and not alice.opted_out
    assert groups_db.member(session, GROUP, "nobody") is None
    assert [m.member_id for m in groups_db.members(session, GROUP)] == ["wxid_alice", "wxid_bob"]
    assert messages_db.message_counts(session, GROUP) == {"wxid_alice": 3, "wxid_bob": 1}
    assert messages_db.message_counts(session, GROUP, T0 + timedelta(minutes=3), T0 + timedelta(minutes=9)) == {
        "wxid_alice": 1,
        "wxid_bob": 1,
    }
    [g] = groups_db.groups(session)
    assert (g.id, g.name, g.topic) == (GROUP, "Room B", "")
    groups_db.set_group(session, GROUP, topic="人工智能")
    assert groups_db.group(session, GROUP).topic == "人工智能"  # type: ignore[union-attr]
    assert groups_db.group(session, GROUP).name == "Room B"  # type: ignore[union-attr]


def test_whitelist_and_opt_out_before_and_after_speaking(session) -> None:  # noqa: ANN001
    groups_db.set_whitelisted(session, "new@chatroom", "wxid_admin_friend")
    m = groups_db.member(session, "new@chatroom", "wxid_admin_friend")
    assert m is not None and m.whitelisted and m.message_count == 0 and m.first_seen is None
    messages_db.store_message(session, make_msg(1, group_id="new@chatroom", sender_id="wxid_admin_friend"))
    groups_db.set_opted_out(session, "new@chatroom", "wxid_admin_friend")
    groups_db.set_whitelisted(session, "new@chatroom", "wxid_admin_friend", False)
    m = groups_db.member(session, "new@chatroom", "wxid_admin_friend")
    assert m is not None and not m.whitelisted and m.opted_out and m.message_count == 1


def test_pending_queue_order_limit_and_attempts(session) -> None:  # noqa: ANN001
    pks = {n: messages_db.store_message(session, make_msg(n))[0] for n in (3, 1, 2, 4)}
    assert [m.id for _, m in analysis_db.pending_messages(session, limit=10, max_attempts=3)] == [
        "m1",
        "m2",
        "m3",
        "m4",
    ]
    assert [m.id for _, m in analysis_db.pending_messages(session, limit=2, max_attempts=3)] == ["m1", "m2"]

    assert analysis_db.mark_analysis_failed(session, pks[1], "boom 1", max_attempts=2) == "pending"
    assert [m.id for _, m in analysis_db.pending_messages(session, 10, max_attempts=1)] == ["m2", "m3", "m4"]
    assert analysis_db.mark_analysis_failed(session, pks[1], "boom 2", max_attempts=2) == "failed"
    analysis_db.save_analysis(session, pks[2], [AD], [])
    session.commit()

    assert [m.id for _, m in analysis_db.pending_messages(session, 10, max_attempts=2)] == ["m3", "m4"]
    row = session.execute(select(Message).where(Message.pk == pks[1])).scalar_one()
    assert (row.analysis_status, row.analysis_attempts, row.analysis_error) == ("failed", 2, "boom 2")
    assert analysis_db.analysis_counts(session) == {"pending": 2, "done": 1, "failed": 1}
    assert analysis_db.analysis_counts(session, "other@chatroom") == {"pending": 0, "done": 0, "failed": 0}

    assert analysis_db.requeue_failed(session) == 1
    assert [m.id for _, m in analysis_db.pending_messages(session, 10, max_attempts=2)] == ["m1", "m3", "m4"]
    with pytest.raises(StoreError, match="no message"):
        analysis_db.mark_analysis_failed(session, 999_999, "x", 3)


def test_long_errors_are_truncated(session) -> None:  # noqa: ANN001
    pk, _ = messages_db.store_message(session, make_msg(1))
    analysis_db.mark_analysis_failed(session, pk, "x" * 10_000, max_attempts=3)
    err = session.execute(select(Message.analysis_error)).scalar_one()
    assert len(err) == MAX_ERROR_CHARS


def test_save_analysis_replaces_and_clears_error(session) -> None:  # noqa: ANN001
    pk, _ = messages_db.store_message(session, make_msg(1, text="加V 13800138000"))
    analysis_db.mark_analysis_failed(session, pk, "model crashed", max_attempts=3)
    analysis_db.save_analysis(session, pk, [AD, USEFUL], [PHONE])
    session.commit()
    got = verdicts_db.analysed_message(session, pk)
    assert got is not None
    assert got.verdicts == {"ad": AD, "useful": USEFUL}
    assert got.entities == (PHONE,)
    assert got.label("ad") == "ad"

    again = Verdict("ad", "normal", 0.6, ("admin said so",), "ad-v2")
    analysis_db.save_analysis(session, pk, [again], [])
    session.commit()
    got = verdicts_db.analysed_message(session, pk)
    assert got is not None and got.verdicts == {"ad": again} and got.entities == ()
    row = session.execute(select(Message.analysis_status, Message.analysis_error)).one()
    assert tuple(row) == ("done", None)

    with pytest.raises(ValueError, match="one verdict per analyzer"):
        analysis_db.save_analysis(session, pk, [AD, AD], [])
    with pytest.raises(StoreError, match="no message"):
        analysis_db.save_analysis(session, 999_999, [AD], [])
    assert verdicts_db.analysed_message(session, 999_999) is None


def test_analysed_messages_window_order_contents_and_no_n_plus_1(session, engine) -> None:  # noqa: ANN001
    day = datetime(2025, 3, 1, 16, 0, tzinfo=timezone.utc)  # 2025-03-02 00:00 in Shanghai
    times = {
        "before": day - timedelta(microseconds=1),
        "first": day,
        "b": day + timedelta(hours=5),
        "a": day + timedelta(hours=5),  # same instant: stored order breaks the tie
        "late": day + timedelta(hours=23, minutes=59),
        "after": day + timedelta(days=1),
    }
    pks = {}
    for i, (name, at) in enumerate(times.items()):
        pks[name], _ = messages_db.store_message(session, make_msg(i, sent_at=at, text=name))
    messages_db.store_message(session, make_msg(50, group_id="other@chatroom", sent_at=day + timedelta(hours=1)))
    analysis_db.save_analysis(session, pks["first"], [AD, USEFUL], [PHONE])
    analysis_db.save_analysis(session, pks["late"], [USEFUL], [])
    analysis_db.save_analysis(session, pks["a"], [], [PHONE, Entity("URL", 0, 3, "x.y")])
    session.commit()

    with count_statements(engine) as statements:
        got = verdicts_db.analysed_messages(session, GROUP, day, day + timedelta(days=1))
    assert len(statements) == 3  # messages, verdicts, entities: however many rows
    assert [a.message.text for a in got] == ["first", "b", "a", "late"]
    by_text = {a.message.text: a for a in got}
    assert by_text["first"].verdicts == {"ad": AD, "useful": USEFUL}
    assert by_text["first"].entities == (PHONE,)
    assert by_text["late"].verdicts == {"useful": USEFUL} and by_text["late"].entities == ()
    assert by_text["a"].verdicts == {} and [e.type for e in by_text["a"].entities] == ["PHONE", "URL"]
    assert by_text["b"].verdicts == {} and by_text["b"].label("ad") is None
    assert all(a.message.sent_at.tzinfo is timezone.utc for a in got)

    # Bounds given in another timezone mean the same instants.
    sh = ZoneInfo("Asia/Shanghai")
    local = verdicts_db.analysed_messages(
        session, GROUP, datetime(2025, 3, 2, tzinfo=sh), datetime(2025, 3, 3, tzinfo=sh)
    )
    assert [a.message.text for a in local] == ["first", "b", "a", "late"]
    assert verdicts_db.analysed_messages(session, "nobody@chatroom", day, day + timedelta(days=1)) == []


def test_member_messages_newest_kept_in_time_order(session) -> None:  # noqa: ANN001
    for n in range(1, 6):
        messages_db.store_message(session, make_msg(n))
    messages_db.store_message(session, make_msg(9, sender_id="wxid_bob"))
    got = verdicts_db.member_messages(session, GROUP, "wxid_alice", limit=3)
    assert [a.message.id for a in got] == ["m3", "m4", "m5"]
    got = verdicts_db.member_messages(session, GROUP, "wxid_alice", since=T0 + timedelta(minutes=4))
    assert [a.message.id for a in got] == ["m4", "m5"]


def test_find_message(session) -> None:  # noqa: ANN001
    pk, _ = messages_db.store_message(session, make_msg(1, source="wechaty"))
    assert messages_db.find_message(session, "wechaty", "m1") == pk
    assert messages_db.find_message(session, "replay", "m1") is None


def test_two_sessions_storing_the_same_message_at_once(sessions) -> None:  # noqa: ANN001
    barrier = threading.Barrier(2)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def store() -> None:
        try:
            with sessions() as s:
                barrier.wait(timeout=10)
                results.append(messages_db.store_message(s, make_msg(1)))
                s.commit()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=store) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert sorted(created for _, created in results) == [False, True]
    assert len({pk for pk, _ in results}) == 1
    with sessions() as s:
        assert _count(s, Message) == 1
        m = groups_db.member(s, GROUP, "wxid_alice")
        assert m is not None and m.message_count == 1


def test_a_message_twice_in_one_batch_is_stored_once(session):
    from datetime import datetime, timezone

    from bot.message import GroupMessage, MessageKind
    from bot.store import groups as groups_db, messages as messages_db

    m = GroupMessage(
        "dup-1",
        "replay",
        "g@chatroom",
        "u1",
        "甲",
        datetime(2026, 11, 25, 1, tzinfo=timezone.utc),
        MessageKind.TEXT,
        "你好",
    )
    other = GroupMessage(
        "dup-2",
        "replay",
        "g@chatroom",
        "u1",
        "甲",
        datetime(2026, 11, 25, 2, tzinfo=timezone.utc),
        MessageKind.TEXT,
        "再见",
    )
    out = messages_db.store_messages(session, [m, other, m])
    assert [created for _, created in out] == [True, True, False]
    assert out[0][0] == out[2][0] != out[1][0]
    assert groups_db.member(session, "g@chatroom", "u1").message_count == 2


def test_storing_several_groups_beside_a_config_sync_never_deadlocks(sessions, monkeypatch) -> None:  # noqa: ANN001
    """A worker starting (``sync_groups``: the configured groups) while a receiver stores a batch
    whose first message is from another group: both lock ``groups`` rows in id order (a deadlock
    on PostgreSQL before they did)."""
    from bot.config import Config
    from bot.wiring import Store, sync_groups

    errors: list[str] = []  # neither group is stored yet: both transactions insert them
    locked = threading.Barrier(2)

    def sync() -> None:  # sync_groups' order, held open between its two groups
        try:
            with sessions.begin() as s:
                groups_db.set_group(s, "a@chatroom", topic="甲")
                locked.wait()
                threading.Event().wait(0.3)
                groups_db.set_group(s, "b@chatroom", topic="乙")
        except Exception as e:  # noqa: BLE001
            errors.append(f"sync: {e}")

    def store() -> None:  # a batch whose first message is from b, renaming b
        try:
            with sessions.begin() as s:
                locked.wait()
                batch = [make_msg(3, group_id="b@chatroom", group_topic="乙群"), make_msg(4, group_id="a@chatroom")]
                messages_db.store_messages(s, batch)
        except Exception as e:  # noqa: BLE001
            errors.append(f"store: {e}")

    threads = [threading.Thread(target=sync), threading.Thread(target=store)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []

    written: list[str] = []
    monkeypatch.setattr(groups_db, "set_group", lambda session, group_id, **kw: written.append(group_id))
    config = Config.model_validate(
        {"groups": [{"id": "b@chatroom", "topic": "乙"}, {"id": "a@chatroom", "topic": "甲"}]}
    )
    sync_groups(config, Store(sessions.kw["bind"], sessions))
    assert written == ["a@chatroom", "b@chatroom"]  # the config's order is b, a: written in id order
