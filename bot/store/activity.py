"""Per-group counts over a time range, for the console's overview: one query per measure, every
group at once (an operator with dozens of groups opens the overview often)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import and_, distinct, func, select
from sqlalchemy.orm import Session

from bot.store.common import ACTIONS_T, CHAT, MESSAGES, VERDICTS, aware, role_is


@dataclass(slots=True)
class GroupActivity:
    messages: int = 0  # the members' chat in the range
    speakers: int = 0
    useful: int = 0  # useful verdict "useful"
    ads: int = 0  # ad verdict "ad"
    actions: dict[str, int] = field(default_factory=dict)  # standing actions by kind (undos left out)
    backlog: int = 0  # chat still waiting for analysis (any time)


def group_activity(session: Session, start: datetime, end: datetime) -> dict[str, GroupActivity]:
    """Every group with anything to count, by id: the range's chat, speakers, useful messages, ads
    and standing moderation actions, and the analysis backlog."""
    start, end = aware(start, "start"), aware(end, "end")
    m, v, a = MESSAGES.c, VERDICTS.c, ACTIONS_T.c
    out: dict[str, GroupActivity] = {}

    def row(group_id: str) -> GroupActivity:
        return out.setdefault(group_id, GroupActivity())

    in_range = [m.sent_at >= start, m.sent_at < end, *role_is(CHAT)]
    q = select(m.group_id, func.count(), func.count(distinct(m.sender_id))).where(*in_range).group_by(m.group_id)
    for group_id, n, speakers in session.execute(q):
        row(group_id).messages, row(group_id).speakers = n, speakers
    for analyzer, label, attr in (("useful", "useful", "useful"), ("ad", "ad", "ads")):
        q = (
            select(m.group_id, func.count())
            .select_from(MESSAGES.join(VERDICTS, and_(v.message_pk == m.pk, v.analyzer == analyzer)))
            .where(*in_range, v.label == label)
            .group_by(m.group_id)
        )
        for group_id, n in session.execute(q):
            setattr(row(group_id), attr, n)
    q = (
        select(a.group_id, a.action, func.count())
        .where(a.created_at >= start, a.created_at < end, a.undone_at.is_(None), a.action != "undo")
        .group_by(a.group_id, a.action)
    )
    for group_id, action, n in session.execute(q):
        row(group_id).actions[action] = n
    q = select(m.group_id, func.count()).where(m.analysis_status == "pending", *role_is(CHAT)).group_by(m.group_id)
    for group_id, n in session.execute(q):
        row(group_id).backlog = n
    return out


def latest_message_time(session: Session, group_ids: list[str]) -> datetime | None:
    """When the newest chat message of these groups was sent; None when they have none."""
    if not group_ids:
        return None
    m = MESSAGES.c
    found: datetime | None = session.execute(
        select(func.max(m.sent_at)).where(m.group_id.in_(group_ids), *role_is(CHAT))
    ).scalar()
    if found is None:
        return None
    return found if found.tzinfo is not None else found.replace(tzinfo=timezone.utc)
