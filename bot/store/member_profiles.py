"""Member profiles' stored rows: read (locked for an update), created, updated, forgotten.

What a row holds and how two rows add up is :class:`bot.profiles.Tally`; rows come back as they are
stored (read-only rows with one attribute per column) for it to read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import and_, bindparam, delete, or_, select, update
from sqlalchemy.orm import Session

from bot.store.common import PROFILES, changed, dialect_insert


def rows_for_update(session: Session, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """The stored profile rows of these (group, member) keys, locked on PostgreSQL."""
    p = PROFILES.c
    where = or_(*(and_(p.group_id == g, p.member_id == m) for g, m in keys))
    q = select(PROFILES).where(where).order_by(p.group_id, p.member_id)
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    return {(r.group_id, r.member_id): r for r in session.execute(q)}


def insert_new(session: Session, rows: Sequence[Mapping[str, Any]]) -> set[tuple[str, str]]:
    """Create these rows (``INSERT .. ON CONFLICT DO NOTHING``, one executemany); return the
    (group, member) keys created: a row another process created meanwhile is left as it is."""
    p = PROFILES.c
    ins = dialect_insert(session, PROFILES).on_conflict_do_nothing(index_elements=["group_id", "member_id"])
    return {(r.group_id, r.member_id) for r in session.execute(ins.returning(p.group_id, p.member_id), rows)}


def update_rows(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Overwrite stored rows, each naming its row by ``profile_pk`` (one executemany ``UPDATE``)."""
    session.execute(update(PROFILES).where(PROFILES.c.pk == bindparam("profile_pk")), rows)


def member_rows(session: Session, member_id: str, group_id: str | None = None) -> list[Any]:
    """A member's stored profile rows, one group or all, by group id."""
    q = select(PROFILES).where(PROFILES.c.member_id == member_id).order_by(PROFILES.c.group_id)
    if group_id is not None:
        q = q.where(PROFILES.c.group_id == group_id)
    return list(session.execute(q))


def forget(session: Session, member_id: str) -> int:
    """Delete every profile row of ``member_id``; return how many."""
    return changed(session, delete(PROFILES).where(PROFILES.c.member_id == member_id))
