"""Moderation actions, strikes, undo, and admin corrections."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.store import actions as actions_db, corrections as corrections_db, groups as groups_db, messages as messages_db
from bot.store.db import StoreError
from nlp.verdict import Verdict

from .conftest import GROUP, T0, make_msg

ALICE = "wxid_alice"


def test_record_and_list_actions(session) -> None:  # noqa: ANN001
    pk_msg, _ = messages_db.store_message(session, make_msg(1))
    warn = actions_db.record_action(
        session,
        GROUP,
        ALICE,
        "warn",
        message_pk=pk_msg,
        reasons=("ad p=0.97", "keyword 加V"),
        verdict=Verdict("ad", "ad", 0.97, ("model p=0.97",)),
        at=T0,
    )
    kick = actions_db.record_action(session, GROUP, ALICE, "kick", by_contact="wxid_admin", at=T0 + timedelta(hours=1))
    actions_db.record_action(session, GROUP, "wxid_bob", "log", dry_run=True, at=T0 + timedelta(hours=2))
    actions_db.record_action(session, "other@chatroom", ALICE, "warn", at=T0)
    session.commit()

    got = actions_db.actions_for_group(session, GROUP)
    assert [a.action for a in got] == ["log", "kick", "warn"]  # newest first
    w = got[-1]
    assert (w.pk, w.message_pk, w.reasons, w.verdict_label, w.verdict_score) == (
        warn,
        pk_msg,
        ("ad p=0.97", "keyword 加V"),
        "ad",
        0.97,
    )
    assert w.created_at == T0 and w.created_at.tzinfo is not None and not w.dry_run and w.undone_at is None
    assert w.strike and got[1].strike and not got[0].strike
    assert got[1].pk == kick and got[1].by_contact == "wxid_admin"
    assert [a.action for a in actions_db.actions_for_group(session, GROUP, since=T0 + timedelta(minutes=30))] == [
        "log",
        "kick",
    ]
    assert [a.action for a in actions_db.actions_for_group(session, GROUP, member_id=ALICE)] == ["kick", "warn"]
    assert len(actions_db.actions_for_group(session, GROUP, limit=1)) == 1
    assert actions_db.get_action(session, kick) == got[1]
    assert actions_db.get_action(session, 999_999) is None


def test_unknown_action_is_refused(session) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="action"):
        actions_db.record_action(session, GROUP, ALICE, "ban")


def test_strikes_count_warn_kick_strike_within_window_not_undone(session) -> None:  # noqa: ANN001
    since = T0
    actions_db.record_action(session, GROUP, ALICE, "warn", at=T0 - timedelta(seconds=1))  # before the window
    actions_db.record_action(session, GROUP, ALICE, "warn", at=T0)
    actions_db.record_action(session, GROUP, ALICE, "strike", by_contact="wxid_admin", at=T0 + timedelta(hours=1))
    undone = actions_db.record_action(session, GROUP, ALICE, "kick", at=T0 + timedelta(hours=2))
    actions_db.record_action(session, GROUP, ALICE, "log", at=T0 + timedelta(hours=3))  # a plain log: no strike
    actions_db.record_action(session, GROUP, ALICE, "warn", dry_run=True, at=T0 + timedelta(hours=4))
    actions_db.record_action(session, GROUP, "wxid_bob", "warn", at=T0 + timedelta(hours=1))
    actions_db.record_action(session, "other@chatroom", ALICE, "warn", at=T0 + timedelta(hours=1))
    session.commit()

    assert actions_db.strikes(session, GROUP, ALICE, since) == 3
    assert actions_db.strikes(session, GROUP, ALICE, since, dry_run=True) == 4  # a dry-run policy sees its own
    assert actions_db.strikes(session, GROUP, ALICE, None) == 4
    assert actions_db.undo_action(session, undone, by_contact="wxid_admin")
    assert actions_db.strikes(session, GROUP, ALICE, since) == 2  # the 'undo' row itself does not count
    assert actions_db.strikes(session, GROUP, "nobody", since) == 0


def test_log_only_policy_keeps_score_with_strike_rows(session) -> None:  # noqa: ANN001
    actions_db.record_action(session, GROUP, ALICE, "log", strike=True, reasons=("strike 1 (log-only policy)",))
    actions_db.record_action(session, GROUP, ALICE, "log", reasons=("sender is whitelisted: no action",))
    actions_db.record_action(session, GROUP, ALICE, "warn", strike=False, by_contact="wxid_admin")  # a friendly nudge
    assert actions_db.strikes(session, GROUP, ALICE, None) == 1
    with pytest.raises(ValueError, match="undo"):
        actions_db.record_action(session, GROUP, ALICE, "undo", strike=True)


def test_whitelist_lookup(session) -> None:  # noqa: ANN001
    assert not groups_db.is_whitelisted(session, GROUP, ALICE)
    groups_db.set_whitelisted(session, GROUP, ALICE)
    assert groups_db.is_whitelisted(session, GROUP, ALICE)


def test_undo_records_who_and_refuses_twice(session) -> None:  # noqa: ANN001
    msg_pk, _ = messages_db.store_message(session, make_msg(1))
    warn = actions_db.record_action(session, GROUP, ALICE, "warn", message_pk=msg_pk, dry_run=True)
    assert actions_db.undo_action(session, warn, by_contact="wxid_admin", at=T0)
    assert not actions_db.undo_action(session, warn, by_contact="wxid_admin")
    session.commit()

    original = actions_db.get_action(session, warn)
    assert original is not None and original.undone_at == T0
    [undo] = [a for a in actions_db.actions_for_group(session, GROUP) if a.action == "undo"]
    assert (undo.member_id, undo.message_pk, undo.by_contact, undo.dry_run) == (ALICE, msg_pk, "wxid_admin", True)
    assert not undo.strike
    assert undo.reasons == (f"undo of action {warn}",)
    assert not actions_db.undo_action(session, undo.pk)  # an undo cannot itself be undone
    with pytest.raises(StoreError, match="no moderation action"):
        actions_db.undo_action(session, 999_999)


def test_undo_strikes_pardons_a_member(session) -> None:  # noqa: ANN001
    for kind in ("warn", "warn", "kick", "log"):
        actions_db.record_action(session, GROUP, ALICE, kind)
    actions_db.record_action(session, GROUP, "wxid_bob", "warn")
    assert actions_db.undo_strikes(session, GROUP, ALICE, by_contact="wxid_admin") == 3
    assert actions_db.strikes(session, GROUP, ALICE, None) == 0
    assert actions_db.strikes(session, GROUP, "wxid_bob", None) == 1
    assert actions_db.undo_strikes(session, GROUP, ALICE) == 0


def test_action_without_a_message(session) -> None:  # noqa: ANN001
    # message_pk is optional: an admin strike need not point at a stored message.
    pk = actions_db.record_action(session, GROUP, ALICE, "strike", by_contact="wxid_admin")
    a = actions_db.get_action(session, pk)
    assert a is not None and a.message_pk is None


def test_corrections(session) -> None:  # noqa: ANN001
    msg_pk, _ = messages_db.store_message(session, make_msg(1, text="加V领红包"))
    first = corrections_db.record_correction(
        session, text="加V领红包", analyzer="ad", label="ad", by_contact="wxid_admin", message_pk=msg_pk, at=T0
    )
    corrections_db.record_correction(
        session, text="今晚分享会", analyzer="useful", label="useful", by_contact="wxid_admin", at=T0 + timedelta(1)
    )
    corrections_db.record_correction(
        session, text="hi", analyzer="ad", label="normal", by_contact="wxid_owner", at=T0 + timedelta(2)
    )
    session.commit()

    all_ = corrections_db.corrections(session)
    assert [c.text for c in all_] == ["加V领红包", "今晚分享会", "hi"]
    c = all_[0]
    assert (c.pk, c.message_pk, c.analyzer, c.label, c.by_contact, c.created_at) == (
        first,
        msg_pk,
        "ad",
        "ad",
        "wxid_admin",
        T0,
    )
    assert [c.label for c in corrections_db.corrections(session, analyzer="ad")] == ["ad", "normal"]
    assert [c.text for c in corrections_db.corrections(session, since=T0 + timedelta(days=1))] == ["今晚分享会", "hi"]
