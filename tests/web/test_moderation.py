"""The moderation log and its Undo: the same undo as ``/notspam`` in the group (actions undone with
'undo' rows, the correction, the re-invite of a really kicked member), once only, on the viewer's
groups only, never without the CSRF token; and the console's audit trail."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from bot import catalogue
from bot.commands import Invocation, handle
from bot.message import GroupMessage, MessageKind
from bot.outbox import Outbox
from bot.store import (
    accounts as accounts_db,
    actions as actions_db,
    corrections as corrections_db,
    messages as messages_db,
    outgoing as outgoing_db,
    purge as purge_db,
)
from bot.store.actions import ActionRecord
from bot.undo import UndoResult, undo_member
from bot.web import moderation
from tests.web.conftest import DEMO_GROUP, OTHER_GROUP, Console, login

ADMIN = "wxid_m4q7ta9e8c"  # 管理员-小雨, an admin of the demo group in its config
ROW = re.compile(r'<tr id="action-(\d+)"')


def all_actions(console: Console) -> list[ActionRecord]:
    with console.store.sessions() as session:
        return actions_db.actions_for_group(session, DEMO_GROUP) + actions_db.actions_for_group(session, OTHER_GROUP)


def latest(console: Console, kind: str, group_id: str = DEMO_GROUP) -> ActionRecord:
    """The newest standing action of a kind (the sample day has them; pks differ between backends)."""
    with console.store.sessions() as session:
        return next(a for a in actions_db.open_actions(session, group_id) if a.action == kind)


def real_kick(console: Console, of: ActionRecord) -> ActionRecord:
    """A kick that really happened (not dry run) of ``of``'s member for ``of``'s message, as the bot
    in a live group would have recorded it (the fixture replays in dry run)."""
    with console.store.sessions.begin() as session:
        pk = actions_db.record_action(
            session,
            of.group_id,
            of.member_id,
            "kick",
            message_pk=of.message_pk,
            reasons=of.reasons,
            dry_run=False,
            at=datetime.now(timezone.utc),
        )
        found = actions_db.get_action(session, pk)
    assert found is not None
    return found


@dataclass(frozen=True)
class Snapshot:
    """Everything an undo may change."""

    actions: list[tuple[int, str, bool, str | None]]
    corrections: int
    outgoing: int
    audit: int


def snapshot(console: Console) -> Snapshot:
    with console.store.sessions() as session:
        return Snapshot(
            actions=[(a.pk, a.action, a.undone_at is not None, a.by_contact) for a in all_actions(console)],
            corrections=len(corrections_db.corrections(session)),
            outgoing=len(outgoing_db.outgoing(session)),
            audit=len([r for r in accounts_db.audit_log(session) if r.action == "undo"]),
        )


def undo(console: Console, action_pk: int, csrf: str | None, **extra: str) -> tuple[int, str]:
    data = {"csrf": csrf, **extra} if csrf is not None else extra
    r = console.client.post(f"/moderation/{action_pk}/undo", data=data, follow_redirects=False)
    return r.status_code, r.headers.get("location", "")


def notspam_in_the_group(console: Console, target: ActionRecord) -> str:
    """An admin quotes the action's message and sends /notspam in the group; the bot's reply."""
    with console.store.sessions() as session:
        quoted = messages_db.message_by_pk(session, target.message_pk or 0)
    assert quoted is not None
    command = GroupMessage(
        id="cmd-notspam",
        source=quoted.source,
        group_id=target.group_id,
        sender_id=ADMIN,
        sender_name="管理员-小雨",
        sent_at=datetime.now(timezone.utc),
        kind=MessageKind.TEXT,
        text="/notspam",
        reply_to=quoted.id,
    )
    return handle(
        Invocation("notspam", (), ()),
        command,
        0,
        sessions=console.store.sessions,
        config=console.config,
        outbox=Outbox(),
        bot_id="wxid_bot",
    )


@dataclass(frozen=True)
class Effect:
    """What an undo of an action left behind, in terms both paths share."""

    standing: list[str]  # actions about the message still standing
    undone: list[str]
    undo_rows: list[tuple[str | None, bool, bool]]  # (by whom, strike, dry run)
    corrections: list[tuple[str, str, str]]  # (analyzer, label, by whom)
    reinvites: list[tuple[str, str | None]]  # (purpose, group) of queued add-member operations


def effect(console: Console, target: ActionRecord) -> Effect:
    with console.store.sessions() as session:
        about = [
            a
            for a in actions_db.actions_for_group(session, target.group_id, member_id=target.member_id)
            if a.message_pk == target.message_pk
        ]
        corrections = [c for c in corrections_db.corrections(session) if c.message_pk == target.message_pk]
        adds = [
            o
            for o in outgoing_db.outgoing(session, group_id=target.group_id, pending_only=True)
            if o.op == "add" and o.contact_id == target.member_id
        ]
    return Effect(
        standing=[a.action for a in about if a.undone_at is None and a.action != "undo"],
        undone=sorted(a.action for a in about if a.undone_at is not None),
        undo_rows=sorted((a.by_contact, a.strike, a.dry_run) for a in about if a.action == "undo"),
        corrections=[(c.analyzer, c.label, c.by_contact) for c in corrections],
        reinvites=[(o.purpose, o.group_id) for o in adds],
    )


# --- the log -------------------------------------------------------------------------------------


def test_the_log_shows_each_action_with_its_verdict_reasons_and_message_newest_first(sqlite_console: Console) -> None:
    login(sqlite_console.client, "ann")
    kick = latest(sqlite_console, "kick")
    r = sqlite_console.client.get("/moderation")
    assert r.status_code == 200
    shown = [int(pk) for pk in ROW.findall(r.text)]
    demo = [a.pk for a in all_actions(sqlite_console) if a.group_id == DEMO_GROUP]
    assert shown == demo  # newest first, and only ann's group
    row = r.text[r.text.index(f'id="action-{kick.pk}"') :]
    row = row[: row.index("</tr>")]
    assert catalogue.action_name("kick") in row and "data-dry-run" in row
    assert catalogue.label_name("ad") in row and f"{kick.verdict_score:.2f}" in row
    assert all(catalogue.reason_text(reason) in row for reason in kick.reasons)
    with sqlite_console.store.sessions() as session:
        message = messages_db.message_by_pk(session, kick.message_pk or 0)
    assert message is not None and message.text[:12] in row
    assert catalogue.CONSOLE["mod_by_bot"] in row and f"/moderation/{kick.pk}/undo" in row


def test_a_plain_log_entry_has_no_undo_button(sqlite_console: Console) -> None:
    login(sqlite_console.client, "ann")
    logged = latest(sqlite_console, "log")
    assert not logged.strike
    page = sqlite_console.client.get("/moderation").text
    assert f'id="action-{logged.pk}"' in page and f"/moderation/{logged.pk}/undo" not in page


def test_the_log_filters_by_group_and_kind_and_pages(sqlite_console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    login(sqlite_console.client, "root")
    everything = ROW.findall(sqlite_console.client.get("/moderation").text)
    other = [str(a.pk) for a in all_actions(sqlite_console) if a.group_id == OTHER_GROUP]
    assert set(other) < set(everything)
    assert ROW.findall(sqlite_console.client.get("/moderation", params={"group": OTHER_GROUP}).text) == other
    kicks = ROW.findall(sqlite_console.client.get("/moderation", params={"kind": "kick"}).text)
    assert kicks == [str(latest(sqlite_console, "kick").pk)]
    assert sqlite_console.client.get("/moderation", params={"kind": "nonsense"}).status_code == 400
    monkeypatch.setattr(moderation, "PAGE_SIZE", 5)
    first = sqlite_console.client.get("/moderation", params={"kind": "warn"}).text
    second = sqlite_console.client.get("/moderation", params={"kind": "warn", "page": 2}).text
    warns = [str(a.pk) for a in all_actions(sqlite_console) if a.action == "warn"]
    assert ROW.findall(first) == warns[:5] and ROW.findall(second) == warns[5:10]
    assert 'href="/moderation?kind=warn&amp;page=2"' in first and 'rel="prev"' in second


def test_a_purged_message_shows_as_purged(sqlite_console: Console) -> None:
    kick = latest(sqlite_console, "kick")
    with sqlite_console.store.sessions() as session:
        text = (messages_db.message_by_pk(session, kick.message_pk or 0) or pytest.fail("no message")).text
    now = datetime.now(timezone.utc)
    with sqlite_console.store.sessions.begin() as session:
        purge_db.blank_text_before(session, now + timedelta(days=1), now)
    login(sqlite_console.client, "ann")
    page = sqlite_console.client.get("/moderation").text
    assert catalogue.CONSOLE["mod_purged"] in page and text[:12] not in page


def test_an_admin_may_not_filter_to_another_group(sqlite_console: Console) -> None:
    login(sqlite_console.client, "bob")
    page = sqlite_console.client.get("/moderation").text
    assert ROW.findall(page) == [str(a.pk) for a in all_actions(sqlite_console) if a.group_id == OTHER_GROUP]
    assert sqlite_console.client.get("/moderation", params={"group": DEMO_GROUP}).status_code == 403


# --- undo ----------------------------------------------------------------------------------------


def test_undo_in_the_console_does_what_notspam_does_in_the_group(console: Console) -> None:
    """Two members, each with a dry-run action and a real kick about one message: one is undone in
    the console, the other by /notspam in the group. Both end the same way."""
    kick = latest(console, "kick")
    warn = next(
        a
        for a in all_actions(console)
        if a.action == "warn" and a.group_id == DEMO_GROUP and a.member_id != kick.member_id
    )
    console_kick, chat_kick = real_kick(console, kick), real_kick(console, warn)

    csrf = login(console.client, "ann")
    status, location = undo(console, console_kick.pk, csrf)
    assert status == 303
    assert location == f"/moderation?done={console_kick.pk}&n=2&left=0&re=1"
    reply = notspam_in_the_group(console, chat_kick)
    assert reply.startswith("已撤销") and "已重新邀请" in reply

    for what, actor in ((effect(console, console_kick), "console:ann"), (effect(console, chat_kick), ADMIN)):
        assert what.standing == []
        assert len(what.undone) == 2 and "kick" in what.undone  # the real kick and the dry-run action
        assert what.undo_rows == [(actor, False, False), (actor, False, True)]
        assert what.corrections == [("ad", "normal", actor)]
        assert what.reinvites == [("reinvite", DEMO_GROUP)]
    with console.store.sessions() as session:
        trail = [r for r in accounts_db.audit_log(session) if r.action == "undo"]
    assert len(trail) == 1 and trail[0].actor == "ann" and trail[0].group_id == DEMO_GROUP
    assert trail[0].target == str(console_kick.pk) and trail[0].detail["reinvited"] is True

    page = console.client.get(location).text
    assert 'id="undo-notice"' in page and catalogue.CONSOLE["mod_undo_reinvited"] in page
    assert catalogue.CONSOLE["mod_by_console"].format(name="ann") in page


def test_a_second_undo_does_nothing(console: Console) -> None:
    kick = real_kick(console, latest(console, "kick"))
    csrf = login(console.client, "ann")
    assert undo(console, kick.pk, csrf)[0] == 303
    before = snapshot(console)
    status, location = undo(console, kick.pk, csrf)  # a double click
    assert status == 303 and location == f"/moderation?done={kick.pk}&n=0"
    assert snapshot(console) == before
    with console.store.sessions() as session:
        reinvites = [o for o in outgoing_db.outgoing(session) if o.op == "add"]
    assert len(reinvites) == 1
    assert catalogue.CONSOLE["mod_undo_nothing"].split("{name}")[1][:6] in console.client.get(location).text


def test_two_undos_at_once_queue_one_reinvite(console: Console) -> None:
    """Two admins (or a double click that beat the page) undo the same kick at the same moment: the
    second waits for the first to commit, then finds nothing standing and puts no one back twice."""
    kick = real_kick(console, latest(console, "kick"))
    first_done, release = threading.Event(), threading.Event()
    results: dict[str, UndoResult] = {}

    def run(name: str, hold: bool) -> None:
        with console.store.sessions.begin() as session:
            results[name] = undo_member(
                session,
                moderation.console_outbox(console.config),
                console.config,
                kick.group_id,
                kick.member_id,
                kick.message_pk,
                by_contact=f"console:{name}",
                now=datetime.now(timezone.utc),
            )
            if hold:  # keep the transaction open until the other undo is under way
                first_done.set()
                release.wait(5)

    first = threading.Thread(target=run, args=("ann", True))
    first.start()
    assert first_done.wait(5)
    second = threading.Thread(target=run, args=("root", False))
    second.start()
    time.sleep(0.3)  # the second is now waiting on the first's write
    release.set()
    first.join(10)
    second.join(10)
    assert len(results["ann"].undone) == 2 and results["ann"].reinvited
    assert results["root"].undone == () and not results["root"].reinvited
    with console.store.sessions() as session:
        assert len([o for o in outgoing_db.outgoing(session) if o.op == "add"]) == 1


def test_undoing_an_action_about_no_message_undoes_that_action_only(console: Console) -> None:
    warn = latest(console, "warn")
    now = datetime.now(timezone.utc)
    with console.store.sessions.begin() as session:
        by_hand = actions_db.record_action(session, DEMO_GROUP, warn.member_id, "strike", by_contact=ADMIN, at=now)
        newer = actions_db.record_action(
            session, DEMO_GROUP, warn.member_id, "warn", by_contact=ADMIN, at=now + timedelta(seconds=1)
        )
    before = snapshot(console)
    csrf = login(console.client, "ann")
    status, location = undo(console, by_hand, csrf)
    assert status == 303 and "n=1" in location
    after = snapshot(console)
    changed = {pk for pk, *_ in after.actions} - {pk for pk, *_ in before.actions}
    assert len(changed) == 1  # one 'undo' row
    assert after.corrections == before.corrections  # no message: nothing to learn from
    states = {pk: undone for pk, _, undone, _ in after.actions}
    assert states[by_hand] and not states[newer] and not states[warn.pk]


def test_an_admin_of_another_group_cannot_undo(console: Console) -> None:
    kick = real_kick(console, latest(console, "kick"))
    csrf = login(console.client, "bob")
    before = snapshot(console)
    assert undo(console, kick.pk, csrf)[0] == 403
    assert snapshot(console) == before


def test_an_undo_without_the_csrf_token_is_refused(console: Console) -> None:
    kick = real_kick(console, latest(console, "kick"))
    login(console.client, "ann")
    before = snapshot(console)
    assert undo(console, kick.pk, None)[0] == 403
    assert undo(console, kick.pk, "forged")[0] == 403
    assert snapshot(console) == before


def test_an_undo_needs_a_login_and_an_action_that_exists(console: Console) -> None:
    kick = latest(console, "kick")
    assert undo(console, kick.pk, "anything")[0] == 401
    csrf = login(console.client, "root")
    assert undo(console, 999_999, csrf)[0] == 404


def test_an_undo_returns_to_the_filtered_page_it_came_from_and_nowhere_else(console: Console) -> None:
    csrf = login(console.client, "ann")
    first, second = [a for a in all_actions(console) if a.action == "warn"][:2]
    _, location = undo(console, first.pk, csrf, back="/moderation?kind=warn&page=2")
    assert location.startswith("/moderation?kind=warn&page=2&done=")
    _, location = undo(console, second.pk, csrf, back="https://evil.example/")
    assert location.startswith("/moderation?done=")


# --- the audit trail -----------------------------------------------------------------------------


def test_the_audit_trail_shows_who_did_what_to_those_who_may_see_it(console: Console) -> None:
    warn = latest(console, "warn")
    csrf = login(console.client, "ann")
    undo(console, warn.pk, csrf)
    mine = console.client.get("/moderation/audit")
    assert mine.status_code == 200
    assert 'data-audit-action="undo"' in mine.text and catalogue.AUDIT_NAMES["undo"] in mine.text

    root = console.new_client()
    login(root, "root")
    everything = root.get("/moderation/audit").text
    assert 'data-audit-action="undo"' in everything and ">ann<" in everything

    bob = console.new_client()
    login(bob, "bob")
    theirs = bob.get("/moderation/audit").text
    assert 'data-audit-action="undo"' not in theirs and ">ann<" not in theirs
    assert ">bob<" in theirs  # their own login
