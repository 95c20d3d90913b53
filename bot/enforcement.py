"""Carrying out a recorded moderation action: the warning, the kick and the admins' report.

The pipeline (or an admin's ``spam`` command) records an action; this module turns it into outbox
operations in the same transaction, so the action and what it makes the bot say or do commit
together. A dry-run action queues nothing: it is only recorded (and reported, marked as a drill).
What is said is worded in ``bot.catalogue``; the report shows the action's reasons through
``catalogue.reason_text`` (the analyzers' English diagnostics in Chinese), masked like the quote.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot import catalogue
from bot.config import Config, Moderation, PolicyMode
from bot.message import GroupMessage
from bot.moderation import Action, ActionKind
from bot.outbox import Outbox
from bot.privacy import mask
from bot.store import groups as groups_db

QUOTE_CHARS = 60


def _quote(text: str) -> str:
    text = " ".join(mask(text).split())
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…"


def _name(msg: GroupMessage) -> str:
    return msg.sender_name or msg.sender_id


def warning_text(action: Action, policy: Moderation) -> str:
    """What the member reads in the group (the platform puts the @mention in front)."""
    if action.kind is ActionKind.KICK:
        return catalogue.member_removal_notice(action.strike_number)
    if policy.mode is PolicyMode.KICK:
        return catalogue.member_warning(action.strike_number, policy.kick_after_strikes, policy.strike_window_hours)
    return catalogue.member_warning(action.strike_number)


def readable_reasons(reasons: tuple[str, ...], limit: int = 3) -> list[str]:
    """The first ``limit`` reasons as people read them: in Chinese. What the analyzers quote from
    the message has its contact details masked, like the quote itself; reasons worded by the
    catalogue (who acted, strike counts) are shown as written."""
    return [r if r == (shown := catalogue.reason_text(r)) else mask(shown) for r in reasons[:limit]]


def report_text(msg: GroupMessage, action: Action, *, group_name: str, dry_run: bool, action_pk: int) -> str:
    """The admins' short report: who, what (a removal is 待移出 until it is done), why, how to undo."""
    return catalogue.admin_report(
        group_name=group_name,
        member_name=_name(msg),
        member_id=msg.sender_id,
        action=str(action.kind),
        dry_run=dry_run,
        quote=_quote(msg.text),
        reasons=readable_reasons(action.reasons),
        record=action_pk,
    )


def report_recipients(config: Config, group_id: str, room: groups_db.GroupRecord | None) -> list[str]:
    """The group's configured admins and the superadmins; the room owner when none is configured."""
    group = config.group(group_id)
    chosen = list(dict.fromkeys([*(group.admins if group else ()), *config.bot.superadmins]))
    if not chosen and room is not None and room.owner_id:
        chosen = [room.owner_id]
    return chosen


def carry_out(
    session: Session,
    outbox: Outbox,
    config: Config,
    msg: GroupMessage,
    action: Action,
    *,
    action_pk: int,
    dry_run: bool,
) -> None:
    """Queue what a recorded action means on the platform: warning, kick, report.

    A removal is reported as 待移出; a follow-up (``catalogue.kick_done``), held in the outbox
    behind the kick, tells the admins 已移出 once the kick is done — and never if it fails.
    """
    if action.kind not in (ActionKind.WARN, ActionKind.KICK):
        return
    policy = config.moderation_for(msg.group_id)
    room = groups_db.group(session, msg.group_id)
    kick_pk: int | None = None
    if not dry_run:
        outbox.say(
            session, msg.group_id, warning_text(action, policy), mentions=(msg.sender_id,), purpose=str(action.kind)
        )
        if action.kind is ActionKind.KICK:
            kick_pk = outbox.kick(session, msg.group_id, msg.sender_id)
    if policy.report_to_admins:
        group_name = (room.name if room and room.name else "") or msg.group_topic or msg.group_id
        text = report_text(msg, action, group_name=group_name, dry_run=dry_run, action_pk=action_pk)
        done = catalogue.kick_done(
            group_name=group_name, member_name=_name(msg), member_id=msg.sender_id, record=action_pk
        )
        for admin in report_recipients(config, msg.group_id, room):
            outbox.tell(session, admin, text, purpose="report")
            if kick_pk is not None:
                outbox.tell(session, admin, done, purpose="report", after=kick_pk)
