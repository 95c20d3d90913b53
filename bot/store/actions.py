"""Moderation actions: what the bot or an admin did to a member (log, warn, kick, strike, undo), and
the strikes that count against them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, insert, select, update
from sqlalchemy.orm import Session

from bot.store.common import ACTIONS_T, aware
from bot.store.db import StoreError
from bot.store.groups import ensure_group
from bot.store.models import ACTIONS, utcnow
from nlp.verdict import Verdict

# Actions that count as a strike unless `record_action` is told otherwise: a warning, a kick, or a
# strike an admin gave by hand. A "log" row counts only when recorded with strike=True (a log-only
# policy keeping score); "undo" rows never count.
STRIKE_ACTIONS = ("warn", "kick", "strike")


@dataclass(frozen=True, slots=True)
class ActionRecord:
    pk: int
    group_id: str
    member_id: str
    message_pk: int | None
    action: str  # one of models.ACTIONS
    reasons: tuple[str, ...]
    verdict_label: str | None
    verdict_score: float | None
    strike: bool  # counts against the member while not undone
    dry_run: bool
    created_at: datetime
    undone_at: datetime | None
    by_contact: str | None  # the admin who triggered it; None when the bot decided


def _to_action(row: Any) -> ActionRecord:
    return ActionRecord(
        pk=row.pk,
        group_id=row.group_id,
        member_id=row.member_id,
        message_pk=row.message_pk,
        action=row.action,
        reasons=tuple(row.reasons or ()),
        verdict_label=row.verdict_label,
        verdict_score=row.verdict_score,
        strike=bool(row.strike),
        dry_run=bool(row.dry_run),
        created_at=row.created_at,
        undone_at=row.undone_at,
        by_contact=row.by_contact,
    )


def record_action(
    session: Session,
    group_id: str,
    member_id: str,
    action: str,
    *,
    message_pk: int | None = None,
    reasons: Iterable[str] = (),
    verdict: Verdict | None = None,
    strike: bool | None = None,
    dry_run: bool = False,
    by_contact: str | None = None,
    at: datetime | None = None,
) -> int:
    """Record a moderation action (``'log'|'warn'|'kick'|'undo'|'strike'``); return its pk.

    ``verdict`` is the verdict that triggered it (its label and score are kept). ``strike`` says
    whether it counts against the member; by default 'warn', 'kick' and 'strike' do and 'log'
    does not. ``at`` defaults to now.
    """
    if action not in ACTIONS:
        raise ValueError(f"action: must be one of {', '.join(ACTIONS)}, got {action!r}")
    if strike is None:
        strike = action in STRIKE_ACTIONS
    if strike and action == "undo":
        raise ValueError("an 'undo' action cannot count as a strike")
    ensure_group(session, group_id)
    stmt = (
        insert(ACTIONS_T)
        .values(
            group_id=group_id,
            member_id=member_id,
            message_pk=message_pk,
            action=action,
            reasons=list(reasons),
            verdict_label=verdict.label if verdict is not None else None,
            verdict_score=float(verdict.score) if verdict is not None else None,
            strike=strike,
            dry_run=dry_run,
            created_at=aware(at, "at") if at is not None else utcnow(),
            undone_at=None,
            by_contact=by_contact,
        )
        .returning(ACTIONS_T.c.pk)
    )
    return int(session.execute(stmt).scalar_one())


def open_actions(
    session: Session, group_id: str, *, member_id: str | None = None, message_pk: int | None = None
) -> list[ActionRecord]:
    """Actions that still hold (not undone, not themselves undos), newest first."""
    c = ACTIONS_T.c
    q = select(ACTIONS_T).where(c.group_id == group_id, c.undone_at.is_(None), c.action != "undo")
    if member_id is not None:
        q = q.where(c.member_id == member_id)
    if message_pk is not None:
        q = q.where(c.message_pk == message_pk)
    return [_to_action(r) for r in session.execute(q.order_by(c.created_at.desc(), c.pk.desc()))]


def get_action(session: Session, action_pk: int) -> ActionRecord | None:
    r = session.execute(select(ACTIONS_T).where(ACTIONS_T.c.pk == action_pk)).first()
    return _to_action(r) if r else None


def actions_for_group(
    session: Session,
    group_id: str,
    since: datetime | None = None,
    *,
    member_id: str | None = None,
    limit: int | None = None,
) -> list[ActionRecord]:
    """A group's moderation actions, newest first; optionally since a time, for one member, capped."""
    c = ACTIONS_T.c
    q = select(ACTIONS_T).where(c.group_id == group_id)
    if since is not None:
        q = q.where(c.created_at >= aware(since, "since"))
    if member_id is not None:
        q = q.where(c.member_id == member_id)
    q = q.order_by(c.created_at.desc(), c.pk.desc())
    if limit is not None:
        q = q.limit(limit)
    return [_to_action(r) for r in session.execute(q)]


def _strike_filter(group_id: str, member_id: str, since: datetime | None, dry_run: bool) -> list[ColumnElement[bool]]:
    c = ACTIONS_T.c
    where = [
        c.group_id == group_id,
        c.member_id == member_id,
        c.strike.is_(True),
        c.undone_at.is_(None),
    ]
    if since is not None:
        where.append(c.created_at >= aware(since, "since"))
    if not dry_run:
        where.append(c.dry_run.is_(False))
    return where


def strikes(session: Session, group_id: str, member_id: str, since: datetime | None, *, dry_run: bool = False) -> int:
    """Strikes against a member since ``since`` (None: ever): actions recorded as strikes, not undone.

    By default that is every 'warn', 'kick' and 'strike', plus any 'log' recorded with
    ``strike=True``; 'undo' rows never count. Actions recorded in dry run count only when
    ``dry_run=True``: a dry-run policy sees its own simulated history, while a live one never holds
    against a member a warning that was never sent.
    """
    q = select(func.count()).select_from(ACTIONS_T).where(*_strike_filter(group_id, member_id, since, dry_run))
    return int(session.execute(q).scalar_one())


def undo_action(session: Session, action_pk: int, *, by_contact: str | None = None, at: datetime | None = None) -> bool:
    """Mark an action undone and record an 'undo' row for it; False when it was already undone.

    'undo' rows themselves cannot be undone. Raises :class:`StoreError` for an unknown pk.
    """
    when = aware(at, "at") if at is not None else utcnow()
    c = ACTIONS_T.c
    row = session.execute(
        update(ACTIONS_T)
        .where(c.pk == action_pk, c.undone_at.is_(None), c.action != "undo")
        .values(undone_at=when)
        .returning(c.group_id, c.member_id, c.message_pk, c.dry_run)
    ).first()
    if row is None:
        if get_action(session, action_pk) is None:
            raise StoreError(f"no moderation action with pk {action_pk}")
        return False
    record_action(
        session,
        row.group_id,
        row.member_id,
        "undo",
        message_pk=row.message_pk,
        reasons=(f"undo of action {action_pk}",),
        strike=False,
        dry_run=row.dry_run,
        by_contact=by_contact,
        at=when,
    )
    return True


def undo_strikes(
    session: Session, group_id: str, member_id: str, *, by_contact: str | None = None, at: datetime | None = None
) -> int:
    """Undo every standing strike against a member (a pardon); return how many were undone."""
    q = select(ACTIONS_T.c.pk).where(*_strike_filter(group_id, member_id, None, dry_run=True)).order_by(ACTIONS_T.c.pk)
    return sum(undo_action(session, pk, by_contact=by_contact, at=at) for pk in session.execute(q).scalars().all())
