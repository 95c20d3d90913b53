"""Taking a moderation decision back: what ``/notspam`` in the group and Undo in the console both do.

One undo is about one member and, when known, one message: every standing action about that message
(else the member's latest action, with the others about the same message) is marked undone with an
'undo' row, the message is recorded as an admin correction "not an ad" (training data for
``qunzhi train``), and a member the bot really kicked (not in dry run) is put back through the outbox.
It all happens in the caller's transaction, so the undo, the correction and the re-invite are one
commit. An action already undone is not undone again and re-invites no one: a second undo of the
same thing (a double click, two admins at once) changes nothing but, like ``/notspam``, records the
correction once more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.config import Config
from bot.message import GroupMessage
from bot.outbox import Outbox
from bot.store import actions as actions_db, corrections as corrections_db, messages as messages_db
from bot.store.actions import ActionRecord


@dataclass(frozen=True, slots=True)
class UndoResult:
    """What an undo did."""

    member_id: str
    undone: tuple[ActionRecord, ...]  # the actions undone now (as they stood before)
    strikes_left: int  # the member's standing strikes in the policy's window, after the undo
    reinvited: bool  # an add-member operation was queued (a real kick was undone)
    message_pk: int | None  # the message the undo is about, if any
    message: GroupMessage | None  # that message; its correction was recorded


def undoable(action: ActionRecord) -> bool:
    """Whether an undo takes this action back: one that still stands and counts for something (a
    plain 'log' that is no strike has nothing to take back; an 'undo' row is itself the undo)."""
    return action.undone_at is None and action.action != "undo" and (action.action != "log" or action.strike)


def _actions_to_undo(
    session: Session, group_id: str, member_id: str, message_pk: int | None, action_pk: int | None
) -> tuple[list[ActionRecord], int | None]:
    """The standing actions an undo concerns, and the message they are about."""
    standing = [
        a for a in actions_db.open_actions(session, group_id, member_id=member_id, message_pk=message_pk) if undoable(a)
    ]
    if message_pk is not None or not standing:
        return standing, message_pk
    chosen = next((a for a in standing if a.pk == action_pk), standing[0])  # else the member's latest
    if chosen.message_pk is None:
        return [chosen], None
    return [a for a in standing if a.pk == chosen.pk or a.message_pk == chosen.message_pk], chosen.message_pk


def undo_member(
    session: Session,
    outbox: Outbox,
    config: Config,
    group_id: str,
    member_id: str,
    message_pk: int | None,
    *,
    by_contact: str,
    now: datetime,
    action_pk: int | None = None,
) -> UndoResult:
    """Undo what the bot or an admin did to ``member_id`` about ``message_pk`` (None: about the
    member's latest action, or ``action_pk`` when given and standing) and record the message as not
    an ad; ``by_contact`` is who undid it (an admin's contact id, ``console:<name>``)."""
    actions, message_pk = _actions_to_undo(session, group_id, member_id, message_pk, action_pk)
    message = messages_db.message_by_pk(session, message_pk) if message_pk is not None else None
    if message is not None:
        corrections_db.record_correction(
            session,
            text=message.text,
            analyzer="ad",
            label="normal",
            by_contact=by_contact,
            message_pk=message_pk,
            at=now,
        )
    undone = tuple(a for a in actions if actions_db.undo_action(session, a.pk, by_contact=by_contact, at=now))
    reinvited = any(a.action == "kick" and not a.dry_run for a in undone)
    if reinvited:  # a wrong kick is undone by putting the member back
        outbox.add_member(session, group_id, member_id)
    window = timedelta(hours=config.moderation_for(group_id).strike_window_hours)
    left = actions_db.strikes(session, group_id, member_id, since=now - window)
    return UndoResult(member_id, undone, left, reinvited, message_pk, message)
