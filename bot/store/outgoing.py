"""The outbox's rows: each platform operation (a text, a private message, a kick, an add, an image)
written in the caller's transaction, then sent in order per target by :mod:`bot.outbox`.

An image row's PNG and its fallback text parts live in ``outgoing_images`` (read only when it is
carried out) and are deleted when the row ends. An image given up for good is replaced, in the same
commit, by its text parts: rows with ``instead_of_pk`` that take its place in its target's queue.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from bot.store.common import GROUPS, MAX_ERROR_CHARS, OUTGOING, aware, changed
from bot.store.models import OUTGOING_OPS, OutgoingImage, utcnow

OUTGOING_IMAGES: Table = OutgoingImage.__table__  # type: ignore[assignment]
GROUP_OPS = ("text", "kick", "add")  # always addressed to a group ('image' is when it has a group_id)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    pk: int
    op: str  # text | private | kick | add | image
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
    instead_of_pk: int | None = None  # the text of this image row, which failed, sent in its place
    account: str | None = None  # the bot account that sends it (None: the first sender to claim it)


@dataclass(frozen=True, slots=True)
class OutgoingImageRecord:
    png: bytes
    name: str
    fallback: tuple[str, ...]  # text parts sent in its place if it fails for good


def target_of(op: str, group_id: str | None, contact_id: str | None) -> tuple[str, str]:
    """What a row is addressed to: its group (text, kick, add, an image into a group) or its contact
    (a private message, a private image). Rows for one target go out strictly in order."""
    if op in GROUP_OPS or (op == "image" and group_id):
        return ("group", group_id or "")
    return ("contact", contact_id or "")


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
        r.instead_of_pk,
        r.account,
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
    instead_of: int | None = None,
    account: str | None = None,
) -> int:
    """Put one platform operation in the outbox (in the caller's transaction); return its pk.

    ``text`` needs ``group_id``; ``private`` needs ``contact_id`` and text; ``kick`` and ``add``
    (put a member back in a group) need both ids. ``after`` holds the row until that row is sent
    (and gives it up when that row ends failed or maybe delivered). An ``image`` is queued with
    :func:`enqueue_image`; ``instead_of`` marks a text sent in place of a failed image.

    ``account``: the bot account that must send it; by default the account last seen in
    ``group_id`` (``groups.account``), and for a contact none (the first sender claims it, see
    :func:`claim_outgoing`).
    """
    if op not in OUTGOING_OPS:
        raise ValueError(f"op: must be one of {', '.join(OUTGOING_OPS)}, got {op!r}")
    if op == "image" and bool(group_id) == bool(contact_id):
        raise ValueError("op 'image' needs a group_id or a contact_id (one of them)")
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
            instead_of_pk=instead_of,
            account=account if account is not None or not group_id else _group_account(group_id),
        )
        .returning(OUTGOING.c.pk)
    )
    return int(session.execute(stmt).scalar_one())


def _group_account(group_id: str) -> Any:
    """The account last seen in the group, read inside the INSERT (NULL for a group never reported)."""
    return select(GROUPS.c.account).where(GROUPS.c.id == group_id).scalar_subquery()


def enqueue_image(
    session: Session,
    png: bytes,
    *,
    name: str,
    fallback: Iterable[str],
    group_id: str | None = None,
    contact_id: str | None = None,
    purpose: str = "",
    at: datetime | None = None,
) -> int:
    """Put a PNG for a group (``group_id``) or one contact (``contact_id``) in the outbox; return its pk.

    ``fallback``: the text parts sent in its place, each once, if the image is given up for good
    (the platform sends no images, or refuses it after the retries); none for an image whose text
    goes out anyway. ``name``: the file name shown, ASCII ending in ``.png``.
    """
    if not isinstance(png, bytes) or not png.startswith(PNG_SIGNATURE):
        raise ValueError("png: must be the bytes of a PNG image")
    if not name.isascii() or not name.lower().endswith(".png") or len(name) < 5 or "/" in name:
        raise ValueError(f"name: must be an ASCII file name ending in .png, got {name!r}")
    parts = list(fallback)
    if any(not isinstance(p, str) or not p.strip() for p in parts):
        raise ValueError("fallback: every text part must be a non-empty string")
    pk = enqueue(session, "image", group_id=group_id, contact_id=contact_id, purpose=purpose, at=at)
    session.execute(insert(OUTGOING_IMAGES).values(outgoing_pk=pk, png=png, name=name, fallback=parts))
    return pk


def outgoing_image(session: Session, pk: int) -> OutgoingImageRecord | None:
    """The picture of image row ``pk`` (None once the row has ended)."""
    r = session.execute(select(OUTGOING_IMAGES).where(OUTGOING_IMAGES.c.outgoing_pk == pk)).first()
    return None if r is None else OutgoingImageRecord(bytes(r.png), r.name, tuple(r.fallback or ()))


def _drop_images(session: Session, pks: list[int]) -> None:
    """Delete the pictures of rows that ended: nothing reads them again."""
    if pks:
        session.execute(delete(OUTGOING_IMAGES).where(OUTGOING_IMAGES.c.outgoing_pk.in_(pks)))


def _queue_fallback(session: Session, pk: int, at: datetime) -> list[int]:
    """The text parts of image row ``pk``, given up, queued in its place; their pks."""
    row = session.execute(select(OUTGOING).where(OUTGOING.c.pk == pk, OUTGOING.c.op == "image")).first()
    image = outgoing_image(session, pk) if row is not None else None
    if row is None or image is None:
        return []
    op = "text" if row.group_id else "private"
    return [
        enqueue(
            session,
            op,
            group_id=row.group_id,
            contact_id=None if row.group_id else row.contact_id,
            text=part,
            purpose=row.purpose,
            at=at,
            instead_of=pk,
            account=row.account,
        )
        for part in image.fallback
    ]


def fallback_of(session: Session, pk: int) -> list[int]:
    """The text rows queued in place of image row ``pk`` (empty unless it was given up)."""
    c = OUTGOING.c
    return list(session.execute(select(c.pk).where(c.instead_of_pk == pk).order_by(c.pk)).scalars())


def _target(r: Any) -> tuple[str, str]:
    return target_of(r.op, r.group_id, r.contact_id)


def _place(r: Any) -> tuple[int, int]:
    """A row's place in its queue: its pk, or the pk of the failed image whose text it is."""
    return (r.instead_of_pk if r.instead_of_pk is not None else r.pk, r.pk)


def _open(c: Any) -> tuple[Any, ...]:
    """Neither sent, nor given up, nor maybe delivered: still to be done."""
    return (c.sent_at.is_(None), c.failed_at.is_(None), c.uncertain_at.is_(None))


def _heads(session: Session, account: str | None = None) -> list[Any]:
    """The first open row of each target, oldest first.

    A row held behind another (``after_pk``) until that one is sent is not a head: it neither goes
    out nor holds its target's later rows back. With ``account``, only the rows that account sends
    (its own and those nobody has claimed yet) are looked at.
    """
    c = OUTGOING.c
    mine = (or_(c.account.is_(None), c.account == account),) if account is not None else ()
    open_rows = session.execute(select(OUTGOING).where(*_open(c), *mine).order_by(c.pk)).all()
    holds = {r.after_pk for r in open_rows if r.after_pk is not None}
    # the rows something waits for that are not sent yet (a row no longer there holds nothing)
    waiting = (
        set(session.execute(select(c.pk).where(c.pk.in_(holds), c.sent_at.is_(None))).scalars()) if holds else set()
    )
    heads: dict[tuple[str, str], Any] = {}
    for r in sorted(open_rows, key=_place):
        if r.after_pk in waiting:
            continue
        heads.setdefault(_target(r), r)
    return sorted(heads.values(), key=lambda r: r.pk)


def due_outgoing(
    session: Session, now: datetime, limit: int = 50, *, account: str | None = None
) -> list[OutgoingRecord]:
    """The next operation of each target that is due, oldest first.

    Only the head of each target's queue is offered, so a digest's parts or a warning and the kick
    after it keep their order even when one of them is being retried.
    """
    at = aware(now, "now")
    return [_to_outgoing(r) for r in _heads(session, account) if r.not_before <= at][:limit]


def outgoing_heads(session: Session, account: str | None = None) -> list[OutgoingRecord]:
    """The head of every target's queue, due or not, oldest first (the sender times its wake-ups by
    them); with ``account``, of the rows that account sends."""
    return [_to_outgoing(r) for r in _heads(session, account)]


def claim_outgoing(session: Session, pk: int, account: str) -> bool:
    """Make ``account`` the sender of row ``pk`` unless another account is: one atomic UPDATE, so of
    two processes (two accounts) taking an unclaimed row, one sends it. True when it is ``account``'s."""
    c = OUTGOING.c
    q = update(OUTGOING).where(c.pk == pk, or_(c.account.is_(None), c.account == account)).values(account=account)
    return changed(session, q) == 1


def mark_outgoing_sent(session: Session, pk: int, at: datetime | None = None) -> bool:
    c = OUTGOING.c
    stmt = (
        update(OUTGOING)
        .where(c.pk == pk, c.sent_at.is_(None))
        .values(sent_at=aware(at, "at") if at is not None else utcnow(), attempts=c.attempts + 1)
    )
    done = changed(session, stmt) == 1
    _drop_images(session, [pk])
    return done


def mark_outgoing_retry(
    session: Session, pk: int, error: str, not_before: datetime, *, give_up: bool = False, at: datetime | None = None
) -> list[int]:
    """Count a failed attempt: try again at ``not_before``, or give up (``failed_at``, at ``at``) for good.

    Giving up also gives up the rows held behind this one (``after_pk``); their pks are returned.
    Giving up an image queues its text parts in its place (:func:`fallback_of` lists them).
    """
    c = OUTGOING.c
    values: dict[str, Any] = {"attempts": c.attempts + 1, "last_error": error[:MAX_ERROR_CHARS]}
    when = aware(at, "at") if at is not None else utcnow()
    if give_up:
        values["failed_at"] = when
    else:
        values["not_before"] = aware(not_before, "not_before")
    session.execute(update(OUTGOING).where(c.pk == pk).values(**values))
    if not give_up:
        return []
    _queue_fallback(session, pk, when)
    _drop_images(session, [pk])
    return _give_up_held(session, pk, when)


def mark_outgoing_uncertain(session: Session, pk: int, error: str, at: datetime | None = None) -> list[int]:
    """The request left and no answer came: maybe delivered, never resent. Terminal, like sent.

    The rows held behind it are given up (what they would report may not have happened); their
    pks are returned. A maybe delivered image is not replaced by its text: never both.
    """
    c = OUTGOING.c
    when = aware(at, "at") if at is not None else utcnow()
    session.execute(
        update(OUTGOING)
        .where(c.pk == pk, *_open(c))
        .values(uncertain_at=when, attempts=c.attempts + 1, last_error=error[:MAX_ERROR_CHARS])
    )
    _drop_images(session, [pk])
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
            _drop_images(session, pks)
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
