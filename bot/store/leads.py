"""The leads table's reads: the profiled members of some groups (opted-out members left out) and
their strikes, a few queries however many members."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from bot.store.common import ACTIONS_T, GROUPS, MEMBERS, PROFILES


@dataclass(frozen=True, slots=True)
class ProfiledMember:
    """A member's stored profile in one group, with the names people know the group and member by."""

    group_id: str
    group_name: str
    member_id: str
    display_name: str  # "" when the platform never showed one
    profile: Any  # the stored profile row, as ``bot.profiles.Tally.from_row`` reads it


def _opted_out_anywhere() -> Any:
    """The member ids that opted out in any group (an opt-out holds in every group)."""
    return select(MEMBERS.c.member_id).where(MEMBERS.c.opted_out.is_(True))


def profiled_members(
    session: Session, group_ids: Collection[str], member_id: str | None = None
) -> list[ProfiledMember]:
    """The profiles stored in these groups (one member's only, when given), by group and member;
    members who opted out in any group are never returned."""
    if not group_ids:
        return []
    p, m, g = PROFILES.c, MEMBERS.c, GROUPS.c
    q = (
        select(PROFILES, g.name.label("group_name"), m.display_name.label("display_name"))
        .join(GROUPS, g.id == p.group_id)
        .outerjoin(MEMBERS, and_(m.group_id == p.group_id, m.member_id == p.member_id))
        .where(p.group_id.in_(group_ids), p.member_id.not_in(_opted_out_anywhere()))
        .order_by(p.group_id, p.member_id)
    )
    if member_id is not None:
        q = q.where(p.member_id == member_id)
    return [
        ProfiledMember(r.group_id, r.group_name or "", r.member_id, r.display_name or "", r) for r in session.execute(q)
    ]


def strike_counts(
    session: Session, group_ids: Collection[str], member_id: str | None = None
) -> dict[tuple[str, str], int]:
    """Strikes ever held against each member in these groups, by (group, member): actions recorded as
    strikes, not undone, not in dry run (what ``bot.store.actions.strikes(.., since=None)`` counts)."""
    if not group_ids:
        return {}
    c = ACTIONS_T.c
    q = (
        select(c.group_id, c.member_id, func.count())
        .where(c.group_id.in_(group_ids), c.strike.is_(True), c.undone_at.is_(None), c.dry_run.is_(False))
        .group_by(c.group_id, c.member_id)
    )
    if member_id is not None:
        q = q.where(c.member_id == member_id)
    return {(gid, mid): int(n) for gid, mid, n in session.execute(q)}


__all__ = ["ProfiledMember", "profiled_members", "strike_counts"]
