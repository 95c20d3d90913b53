"""The console's moderation log: actions of some groups, newest first, with the names and the
message text people read them by (one query a page)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from bot.store.actions import ActionRecord, _to_action
from bot.store.common import ACTIONS_T, GROUPS, MEMBERS, MESSAGES


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One moderation action as the log shows it."""

    action: ActionRecord
    group_name: str  # "" when the platform never showed one
    member_name: str  # the member's display name in that group, "" when unknown
    by_name: str  # the display name of the admin who did it (by_contact), "" when unknown or not an admin
    message_text: str | None  # None when the action is about no (stored) message
    purged: bool  # the retention purge blanked the message's text


def _filters(group_ids: Collection[str], kind: str | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [ACTIONS_T.c.group_id.in_(list(group_ids))]
    if kind is not None:
        where.append(ACTIONS_T.c.action == kind)
    return where


def log_entries(
    session: Session, group_ids: Collection[str], *, kind: str | None = None, offset: int = 0, limit: int = 50
) -> list[LogEntry]:
    """The actions of ``group_ids`` (of one kind, when given), newest first, ``limit`` from ``offset``."""
    if not group_ids:
        return []
    a, g, msg = ACTIONS_T.c, GROUPS.c, MESSAGES.c
    member, by = MEMBERS.alias("member"), MEMBERS.alias("by_member")
    joined = (
        ACTIONS_T.join(GROUPS, g.id == a.group_id)
        .outerjoin(member, and_(member.c.group_id == a.group_id, member.c.member_id == a.member_id))
        .outerjoin(by, and_(by.c.group_id == a.group_id, by.c.member_id == a.by_contact))
        .outerjoin(MESSAGES, msg.pk == a.message_pk)
    )
    q = (
        select(
            ACTIONS_T,
            g.name.label("group_name"),
            member.c.display_name.label("member_name"),
            by.c.display_name.label("by_name"),
            msg.pk.label("found_message_pk"),
            msg.text.label("message_text"),
            msg.purged_at.label("message_purged_at"),
        )
        .select_from(joined)
        .where(*_filters(group_ids, kind))
        .order_by(a.created_at.desc(), a.pk.desc())
        .offset(offset)
        .limit(limit)
    )
    return [_to_entry(r) for r in session.execute(q)]


def _to_entry(row: Any) -> LogEntry:
    found = row.found_message_pk is not None
    return LogEntry(
        action=_to_action(row),
        group_name=row.group_name or "",
        member_name=row.member_name or "",
        by_name=row.by_name or "",
        message_text=row.message_text if found else None,
        purged=found and row.message_purged_at is not None,
    )


def count_entries(session: Session, group_ids: Collection[str], *, kind: str | None = None) -> int:
    """How many actions :func:`log_entries` pages through."""
    if not group_ids:
        return 0
    q = select(func.count()).select_from(ACTIONS_T).where(*_filters(group_ids, kind))
    return int(session.execute(q).scalar_one())
