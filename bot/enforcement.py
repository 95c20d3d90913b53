"""Carrying out a recorded moderation action: the warning, the kick and the admins' report.

The pipeline (or an admin's ``spam`` command) records an action; this module turns it into outbox
operations in the same transaction, so the action and what it makes the bot say or do commit
together. A dry-run action queues nothing: it is only recorded (and reported, marked as a drill).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.config import Config, Moderation, PolicyMode
from bot.message import GroupMessage
from bot.moderation import Action, ActionKind
from bot.outbox import Outbox
from bot.privacy import mask
from bot.store import queries

QUOTE_CHARS = 60


def _quote(text: str) -> str:
    text = " ".join(mask(text).split())
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…"


def _name(msg: GroupMessage) -> str:
    return msg.sender_name or msg.sender_id


def warning_text(action: Action, policy: Moderation) -> str:
    """What the member reads in the group (the platform puts the @mention in front)."""
    if action.kind is ActionKind.KICK:
        return f"多次发布广告（第 {action.strike_number} 次），已被移出本群。如有误判请联系管理员。"
    if policy.mode is PolicyMode.KICK:
        left = policy.kick_after_strikes - action.strike_number
        return (
            f"请勿在本群发布广告（第 {action.strike_number} 次提醒，"
            f"{policy.strike_window_hours} 小时内再有 {left} 次将被移出）。如有误判请联系管理员。"
        )
    return f"请勿在本群发布广告（第 {action.strike_number} 次提醒）。如有误判请联系管理员。"


def report_text(msg: GroupMessage, action: Action, *, group_name: str, dry_run: bool, action_pk: int) -> str:
    """The admins' short report: who, what, why, and how to undo."""
    what = {ActionKind.WARN: "已警告", ActionKind.KICK: "已移出", ActionKind.LOG: "已记录"}.get(action.kind, str(action.kind))
    if dry_run:
        what = f"演练（未执行）：本应{what.removeprefix('已')}"
    reasons = "；".join(action.reasons[:3])
    return (
        f"【群智·处理报告】{group_name}\n"
        f"成员：{_name(msg)}（{msg.sender_id}）\n"
        f"处理：{what}\n"
        f"消息：{_quote(msg.text)}\n"
        f"原因：{reasons}\n"
        f"撤销：在群里发送 /notspam @{_name(msg)}（记录 #{action_pk}）"
    )


def report_recipients(config: Config, group_id: str, room: queries.GroupRecord | None) -> list[str]:
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
    """Queue what a recorded action means on the platform: warning, kick, report."""
    if action.kind not in (ActionKind.WARN, ActionKind.KICK):
        return
    policy = config.moderation_for(msg.group_id)
    room = queries.group(session, msg.group_id)
    if not dry_run:
        outbox.say(session, msg.group_id, warning_text(action, policy), mentions=(msg.sender_id,), purpose=str(action.kind))
        if action.kind is ActionKind.KICK:
            outbox.kick(session, msg.group_id, msg.sender_id)
    if policy.report_to_admins:
        group_name = (room.name if room and room.name else "") or msg.group_topic or msg.group_id
        text = report_text(msg, action, group_name=group_name, dry_run=dry_run, action_pk=action_pk)
        for admin in report_recipients(config, msg.group_id, room):
            outbox.tell(session, admin, text, purpose="report")
