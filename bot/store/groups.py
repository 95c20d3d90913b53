"""Groups and their members: rooms, the room's owner and admins, group settings, member flags."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from bot.store.common import GROUPS, MEMBERS, dialect_insert
from bot.store.models import utcnow


@dataclass(frozen=True, slots=True)
class GroupRecord:
    id: str
    name: str  # room name as the platform last showed it
    topic: str  # what the group is about, as configured
    created_at: datetime
    owner_id: str | None = None  # the room's owner as the platform last reported it
    admin_ids: tuple[str, ...] = ()  # the room's admins as the platform last reported them
    dry_run: bool | None = None  # an admin's `dryrun on|off`; None follows the config


@dataclass(frozen=True, slots=True)
class MemberRecord:
    group_id: str
    member_id: str
    display_name: str
    first_seen: datetime | None  # None for a member known only from an admin command
    last_seen: datetime | None
    message_count: int
    whitelisted: bool
    opted_out: bool


def _to_group(r: Any) -> GroupRecord:
    return GroupRecord(r.id, r.name, r.topic, r.created_at, r.owner_id, tuple(r.admin_ids or ()), r.dry_run)


def _to_member(row: Any) -> MemberRecord:
    return MemberRecord(
        group_id=row.group_id,
        member_id=row.member_id,
        display_name=row.display_name,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        message_count=row.message_count,
        whitelisted=bool(row.whitelisted),
        opted_out=bool(row.opted_out),
    )


# --- groups ----------------------------------------------------------------------------------------


def ensure_group(session: Session, group_id: str, name: str = "") -> None:
    """Create the group row if it is missing; an existing row is left as it is."""
    stmt = dialect_insert(session, GROUPS).values(id=group_id, name=name, topic="", created_at=utcnow())
    session.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))


def set_group(session: Session, group_id: str, *, name: str | None = None, topic: str | None = None) -> None:
    """Create or update a group; ``None`` leaves a field as it is (the configured topic goes here)."""
    ensure_group(session, group_id, name or "")
    values = {k: v for k, v in (("name", name), ("topic", topic)) if v is not None}
    if values:
        session.execute(update(GROUPS).where(GROUPS.c.id == group_id).values(**values))


def rename_group(session: Session, group_id: str, name: str) -> None:
    """Keep the room name the platform showed last (a no-op when it is unchanged)."""
    session.execute(update(GROUPS).where(GROUPS.c.id == group_id, GROUPS.c.name != name).values(name=name))


def groups(session: Session) -> list[GroupRecord]:
    return [_to_group(r) for r in session.execute(select(GROUPS).order_by(GROUPS.c.id))]


def group(session: Session, group_id: str) -> GroupRecord | None:
    r = session.execute(select(GROUPS).where(GROUPS.c.id == group_id)).first()
    return _to_group(r) if r else None


def set_room_roles(session: Session, group_id: str, owner_id: str | None, admin_ids: Iterable[str]) -> None:
    """Keep the room's owner and admins as the platform reports them (admin rights read these)."""
    ensure_group(session, group_id)
    session.execute(
        update(GROUPS)
        .where(GROUPS.c.id == group_id)
        .values(owner_id=owner_id or None, admin_ids=sorted(set(admin_ids)))
    )


def set_group_account(session: Session, group_id: str, account: str) -> None:
    """Remember that bot account ``account`` is in the room: its sender sends the room's outbox rows
    queued from now on (several accounts on one database; see ``bot.store.outgoing.enqueue``)."""
    ensure_group(session, group_id)
    session.execute(
        update(GROUPS)
        .where(GROUPS.c.id == group_id, GROUPS.c.account.is_distinct_from(account))
        .values(account=account)
    )


def set_group_dry_run(session: Session, group_id: str, dry_run: bool | None) -> None:
    """An admin's in-chat dry-run switch for a group; None goes back to the configured policy."""
    ensure_group(session, group_id)
    session.execute(update(GROUPS).where(GROUPS.c.id == group_id).values(dry_run=dry_run))


# --- members ---------------------------------------------------------------------------------------


def _ensure_member(session: Session, group_id: str, member_id: str) -> None:
    ensure_group(session, group_id)
    stmt = dialect_insert(session, MEMBERS).values(
        group_id=group_id, member_id=member_id, display_name="", message_count=0, whitelisted=False, opted_out=False
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["group_id", "member_id"]))


def _set_member_flag(session: Session, group_id: str, member_id: str, **flag: bool) -> None:
    _ensure_member(session, group_id, member_id)
    where = and_(MEMBERS.c.group_id == group_id, MEMBERS.c.member_id == member_id)
    session.execute(update(MEMBERS).where(where).values(**flag))


def set_whitelisted(session: Session, group_id: str, member_id: str, whitelisted: bool = True) -> None:
    """Whitelist (or un-whitelist) a member; works before the member has ever spoken."""
    _set_member_flag(session, group_id, member_id, whitelisted=whitelisted)


def set_opted_out(session: Session, group_id: str, member_id: str, opted_out: bool = True) -> None:
    """Record that a member opted out of analysis and profiling (or opted back in)."""
    _set_member_flag(session, group_id, member_id, opted_out=opted_out)


def set_opted_out_everywhere(session: Session, member_id: str, opted_out: bool) -> None:
    """The member's opt-out flag in every group the bot knows them in."""
    session.execute(update(MEMBERS).where(MEMBERS.c.member_id == member_id).values(opted_out=opted_out))


def opted_out_among(session: Session, member_ids: Collection[str]) -> set[str]:
    """Those of ``member_ids`` who opted out in any group."""
    m = MEMBERS.c
    return set(session.execute(select(m.member_id).where(m.member_id.in_(member_ids), m.opted_out.is_(True))).scalars())


def spread_opt_out(session: Session, member_ids: Collection[str]) -> None:
    """Opted out in one group: in every group, new ones too (the digest reads the flag)."""
    m = MEMBERS.c
    session.execute(update(MEMBERS).where(m.member_id.in_(member_ids), m.opted_out.is_(False)).values(opted_out=True))


def is_opted_out(session: Session, member_id: str) -> bool:
    """Whether the member opted out in any group."""
    q = select(MEMBERS.c.member_id).where(MEMBERS.c.member_id == member_id, MEMBERS.c.opted_out.is_(True)).limit(1)
    return session.execute(q).first() is not None


def is_whitelisted(session: Session, group_id: str, member_id: str) -> bool:
    where = and_(MEMBERS.c.group_id == group_id, MEMBERS.c.member_id == member_id)
    return bool(session.execute(select(MEMBERS.c.whitelisted).where(where)).scalar_one_or_none())


def member(session: Session, group_id: str, member_id: str) -> MemberRecord | None:
    where = and_(MEMBERS.c.group_id == group_id, MEMBERS.c.member_id == member_id)
    r = session.execute(select(MEMBERS).where(where)).first()
    return _to_member(r) if r else None


def members(session: Session, group_id: str | None) -> list[MemberRecord]:
    """A group's members (None: every group's), most messages first."""
    q = select(MEMBERS).order_by(MEMBERS.c.message_count.desc(), MEMBERS.c.member_id)
    if group_id is not None:
        q = q.where(MEMBERS.c.group_id == group_id)
    return [_to_member(r) for r in session.execute(q)]


def first_seen(
    session: Session, group_ids: Collection[str], member_ids: Collection[str]
) -> dict[tuple[str, str], datetime]:
    """When each of these members was first seen in each of these groups, by (group, member); members
    known only from an admin command (never seen) are left out."""
    m = MEMBERS.c
    q = select(m.group_id, m.member_id, m.first_seen).where(m.group_id.in_(group_ids), m.member_id.in_(member_ids))
    return {(g, mid): first for g, mid, first in session.execute(q) if first is not None}
