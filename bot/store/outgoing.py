"""The outbox's rows: each platform operation (a text, a private message, a kick, an add) written in
the caller's transaction, then sent in order per target by :mod:`bot.outbox`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from bot.store.common import MAX_ERROR_CHARS, OUTGOING, aware, changed
from bot.store.models import OUTGOING_OPS, utcnow


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    pk: int
    op: str  # text | private | kick
    group_id: str | None
    contact_id: str | None
    text: str
    mentions: tuple[str, ...]
    purpose: str
    created_at: datetime
    not_before: datetime
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    failed_at: datetime | None
    uncertain_at: datetime | None = None  # maybe delivered: the outcome is unknown, never resent
    after_pk: int | None = None  # held until this row is sent


def _to_outgoing(r: Any) -> OutgoingRecord:
    return OutgoingRecord(
        r.pk,
        r.op,
        r.group_id,
        r.contact_id,
        r.text,
        tuple(r.mentions or ()),
        r.purpose,
        r.created_at,
        r.not_before,
        r.attempts,
        r.last_error,
        r.sent_at,
        r.failed_at,
        r.uncertain_at,
        r.after_pk,
    )


def enqueue(
    session: Session,
    op: str,
    *,
    group_id: str | None = None,
    contact_id: str | None = None,
    text: str = "",
    mentions: Iterable[str] = (),
    purpose: str = "",
    at: datetime | None = None,
    after: int | None = None,
) -> int:
    """Put one platform operation in the outbox (in the caller's transaction); return its pk.

    ``text`` needs ``group_id``; ``private`` needs ``contact_id`` and text; ``kick`` and ``add``
    (put a member back in a group) need both ids. ``after`` holds the row until that row is sent
    (and gives it up when that row ends failed or maybe delivered).
    """
    if op not in OUTGOING_OPS:
        raise ValueError(f"op: must be one of {', '.join(OUTGOING_OPS)}, got {op!r}")
    if op in ("text", "kick", "add") and not group_id:
        raise ValueError(f"op {op!r} needs a group_id")
    if op in ("private", "kick", "add") and not contact_id:
        raise ValueError(f"op {op!r} needs a contact_id")
    if op in ("text", "private") and not text.strip():
        raise ValueError(f"op {op!r} needs some text")
    when = aware(at, "at") if at is not None else utcnow()
    stmt = (
        insert(OUTGOING)
        .values(
            op=op,
            group_id=group_id,
            contact_id=contact_id,
            text=text,
            mentions=list(mentions),
            purpose=purpose,
            created_at=when,
            not_before=when,
            attempts=0,
            last_error=None,
            sent_at=None,
            failed_at=None,
            uncertain_at=None,
            after_pk=after,
        )
        .returning(OUTGOING.c.pk)
    )
    return int(session.execute(stmt).scalar_one())


def _target(r: Any) -> tuple[str, str]:
    """What an outgoing row is addressed to: rows for one target go out strictly in order."""
    return ("group", r.group_id) if r.op in ("text", "kick", "add") else ("contact", r.contact_id)


def _open(c: Any) -> tuple[Any, ...]:
    """Neither sent, nor given up, nor maybe delivered: still to be done."""
    return (c.sent_at.is_(None), c.failed_at.is_(None), c.uncertain_at.is_(None))


def _heads(session: Session) -> list[Any]:
    """The first open row of each target, oldest first.

    A row held behind another (``after_pk``) until that one is sent is not a head: it neither goes
    out nor holds its target's later rows back.
    """
    c = OUTGOING.c
    open_rows = session.execute(select(OUTGOING).where(*_open(c)).order_by(c.pk)).all()
    holds = {r.after_pk for r in open_rows if r.after_pk is not None}
    # the rows something waits for that are not sent yet (a row no longer there holds nothing)
    waiting = (
        set(session.execute(select(c.pk).where(c.pk.in_(holds), c.sent_at.is_(None))).scalars()) if holds else set()
    )
    heads: dict[tuple[str, str], Any] = {}
    for r in open_rows:
        if r.after_pk in waiting:
            continue
        heads.setdefault(_target(r), r)
    return sorted(heads.values(), key=lambda r: r.pk)


def due_outgoing(session: Session, now: datetime, limit: int = 50) -> list[OutgoingRecord]:
    """The next operation of each target that is due, oldest first.

    Only the head of each target's queue is offered, so a digest's parts or a warning and the kick
    after it keep their order even when one of them is being retried.
    """
    at = aware(now, "now")
    return [_to_outgoing(r) for r in _heads(session) if r.not_before <= at][:limit]


def outgoing_heads(session: Session) -> list[OutgoingRecord]:
    """The head of every target's queue, due or not, oldest first (the sender times its wake-ups by them)."""
    return [_to_outgoing(r) for r in _heads(session)]


def mark_outgoing_sent(session: Session, pk: int, at: datetime | None = None) -> bool:
    c = OUTGOING.c
    stmt = (
        update(OUTGOING)
        .where(c.pk == pk, c.sent_at.is_(None))
        .values(sent_at=aware(at, "at") if at is not None else utcnow(), attempts=c.attempts + 1)
    )
    return changed(session, stmt) == 1


def mark_outgoing_retry(
    session: Session, pk: int, error: str, not_before: datetime, *, give_up: bool = False, at: datetime | None = None
) -> list[int]:
    """Count a failed attempt: try again at ``not_before``, or give up (``failed_at``, at ``at``) for good.

    Giving up also gives up the rows held behind this one (``after_pk``); their pks are returned.
    """
    c = OUTGOING.c
    values: dict[str, Any] = {"attempts": c.attempts + 1, "last_error": error[:MAX_ERROR_CHARS]}
    when = aware(at, "at") if at is not None else utcnow()
    if give_up:
        values["failed_at"] = when
    else:
        values["not_before"] = aware(not_before, "not_before")
    session.execute(update(OUTGOING).where(c.pk == pk).values(**values))
    return _give_up_held(session, pk, when) if give_up else []


def mark_outgoing_uncertain(session: Session, pk: int, error: str, at: datetime | None = None) -> list[int]:
    """The request left and no answer came: maybe delivered, never resent. Terminal, like sent.

    The rows held behind it are given up (what they would report may not have happened); their
    pks are returned.
    """
    c = OUTGOING.c
    when = aware(at, "at") if at is not None else utcnow()
    session.execute(
        update(OUTGOING)
        .where(c.pk == pk, *_open(c))
        .values(uncertain_at=when, attempts=c.attempts + 1, last_error=error[:MAX_ERROR_CHARS])
    )
    return _give_up_held(session, pk, when)


def _give_up_held(session: Session, pk: int, at: datetime) -> list[int]:
    """Give up every open row held behind ``pk`` (and behind those, in turn)."""
    c = OUTGOING.c
    given_up: list[int] = []
    behind = [pk]
    while behind:
        pks = list(session.execute(select(c.pk).where(c.after_pk.in_(behind), *_open(c))).scalars())
        if pks:
            session.execute(
                update(OUTGOING)
                .where(c.pk.in_(pks))
                .values(failed_at=at, last_error=f"held behind outgoing #{pk}, which did not succeed")
            )
        given_up += pks
        behind = pks
    return given_up


def outgoing(
    session: Session, *, group_id: str | None = None, pending_only: bool = False, purpose: str | None = None
) -> list[OutgoingRecord]:
    """Outbox rows, oldest first: all, one group's, or only those still to be done (not sent, not
    given up, not maybe delivered)."""
    c = OUTGOING.c
    q = select(OUTGOING)
    if group_id is not None:
        q = q.where(c.group_id == group_id)
    if pending_only:
        q = q.where(*_open(c))
    if purpose is not None:
        q = q.where(c.purpose == purpose)
    return [_to_outgoing(r) for r in session.execute(q.order_by(c.pk))]
