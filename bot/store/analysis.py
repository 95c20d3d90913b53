"""The analysis queue: which stored messages are still to analyse, a worker's claims on them, their
verdicts and entities saved, failed attempts counted and retried."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, case, delete, func, insert, literal, or_, select, text, update
from sqlalchemy.orm import Session

from bot.message import GroupMessage
from bot.store.common import ENTITIES, MAX_ERROR_CHARS, MESSAGES, VERDICTS, aware, changed, role_is, to_message
from bot.store.db import StoreError
from bot.store.models import UTCDateTime, utcnow
from nlp.verdict import Entity, Verdict

# Held (``pg_advisory_xact_lock``) by each claim on PostgreSQL for its short transaction: claims
# take turns, so each sees which members the others hold (see ``claim_pending``).
CLAIM_LOCK_KEY = 0x71756E63  # "qunc"

# The daily retry of failed analyses (``requeue_due``): after 1, 2, 4 ... days, at most this often.
REQUEUE_FIRST_GAP = timedelta(days=1)
REQUEUE_MAX = 5


def pending_messages(session: Session, limit: int, max_attempts: int) -> list[tuple[int, GroupMessage]]:
    """Messages still to analyse (status pending, fewer than ``max_attempts`` tries), oldest first."""
    q = (
        select(MESSAGES)
        .where(MESSAGES.c.analysis_status == "pending", MESSAGES.c.analysis_attempts < max_attempts)
        .order_by(MESSAGES.c.sent_at, MESSAGES.c.pk)
        .limit(limit)
    )
    return [(r.pk, to_message(r)) for r in session.execute(q)]


def _claimable(now: datetime, worker_id: str, max_attempts: int) -> list[ColumnElement[bool]]:
    c = MESSAGES.c
    return [
        c.analysis_status == "pending",
        c.analysis_attempts < max_attempts,
        or_(c.claimed_by.is_(None), c.claimed_by == worker_id, c.claim_expires_at <= now),
    ]


def _held_elsewhere(now: datetime, worker_id: str) -> ColumnElement[bool]:
    """The candidate's member (same group and sender) has a pending message under another
    worker's live claim."""
    c, other = MESSAGES.c, MESSAGES.alias("held").c
    return (
        select(literal(1))
        .where(
            other.group_id == c.group_id,
            other.sender_id == c.sender_id,
            other.analysis_status == "pending",
            other.claimed_by.is_not(None),
            other.claimed_by != worker_id,
            other.claim_expires_at > now,
        )
        .exists()
    )


def claim_pending(
    session: Session,
    worker_id: str,
    limit: int,
    lease: timedelta,
    *,
    max_attempts: int = 3,
    pks: Collection[int] | None = None,
    exclude: Collection[int] = (),
    now: datetime | None = None,
) -> list[tuple[int, GroupMessage]]:
    """Claim up to ``limit`` pending messages for ``worker_id`` until ``now + lease``; return them,
    oldest first. Only a worker's claimed messages are analysed by it (``save_analyses`` with
    ``worker_id``), so two processes on one database analyse each message once.

    A message is claimable while pending, under ``max_attempts`` tries, and unclaimed, claimed by
    this worker, or claimed by one whose lease has lapsed (a dead process's claims come back).
    ``pks`` restricts the claim to those messages (a command's target), ``exclude`` leaves some out
    (those that failed earlier in the same run).

    On PostgreSQL ``SELECT .. FOR UPDATE SKIP LOCKED`` then the ``UPDATE`` in the same transaction:
    rows another transaction is claiming are skipped, not waited for, and rows it has just claimed
    are re-checked and dropped. (Not one ``UPDATE .. WHERE pk IN (SELECT .. LIMIT n FOR UPDATE)``:
    PostgreSQL may rescan that subquery, skipping the rows already updated, and claim far more
    than ``n``.) On SQLite one ``UPDATE .. WHERE pk IN (SELECT ..) RETURNING``, which takes the
    write lock before it reads, so the claim is written under the lock that reads the rows; make it
    the first statement of its transaction.

    **One worker per member at a time.** A message is not claimed while another worker's live
    claim holds a pending message of the same member in the same group: that member's messages
    wait for that worker's batch to commit, so a member's messages are judged in order, one batch
    after the other, and never by two workers at once (strikes are counted under a lock as well:
    ``bot.store.locks``). On PostgreSQL claims take turns under an advisory lock held for
    their short transaction, so a claim sees every claim committed before it: without it two
    concurrent claims could each take one of a member's messages.
    """
    if limit <= 0 or (pks is not None and not pks):
        return []
    now = aware(now, "now") if now is not None else utcnow()
    c = MESSAGES.c
    chosen = select(c.pk).where(*_claimable(now, worker_id, max_attempts), ~_held_elsewhere(now, worker_id))
    if pks is not None:
        chosen = chosen.where(c.pk.in_(list(pks)))
    if exclude:
        chosen = chosen.where(c.pk.not_in(list(exclude)))
    chosen = chosen.order_by(c.sent_at, c.pk).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK_KEY})
        # FOR NO KEY UPDATE: the claim changes no key, so it need not wait for (or, with SKIP
        # LOCKED, skip) rows that others only reference meanwhile: an insert into a table with a
        # foreign key to messages (search words, verdicts) takes FOR KEY SHARE on the message.
        locked = session.execute(chosen.with_for_update(skip_locked=True, key_share=True)).scalars().all()
        if not locked:
            return []
        which: ColumnElement[bool] = c.pk.in_(locked)
    else:
        which = c.pk.in_(chosen.scalar_subquery())
    rows = session.execute(
        update(MESSAGES)
        .where(which, *_claimable(now, worker_id, max_attempts))
        .values(claimed_by=worker_id, claim_expires_at=now + lease)
        .returning(*MESSAGES.c)
    ).all()
    return [(r.pk, to_message(r)) for r in sorted(rows, key=lambda r: (r.sent_at, r.pk))]


def claimable_among(session: Session, pks: Collection[int], worker_id: str, max_attempts: int) -> list[int]:
    """Those of ``pks`` that ``worker_id`` could claim but for their member being held by another
    worker (pending, under ``max_attempts`` tries, unclaimed or claimable by it), oldest first."""
    if not pks:
        return []
    c = MESSAGES.c
    q = select(c.pk).where(c.pk.in_(list(pks)), *_claimable(utcnow(), worker_id, max_attempts))
    return list(session.execute(q.order_by(c.sent_at, c.pk)).scalars())


def claim_holders(session: Session) -> list[str]:
    """The workers holding claims on pending messages (lapsed or not)."""
    c = MESSAGES.c
    q = select(c.claimed_by).where(c.analysis_status == "pending", c.claimed_by.is_not(None)).distinct()
    return sorted(session.execute(q).scalars())


def release_claims(session: Session, worker_id: str, pks: Collection[int] | None = None) -> int:
    """Give up ``worker_id``'s claims (all, or on ``pks``) so others may analyse them now; return how many."""
    c = MESSAGES.c
    q = update(MESSAGES).where(c.claimed_by == worker_id)
    if pks is not None:
        q = q.where(c.pk.in_(list(pks)))
    return changed(session, q.values(claimed_by=None, claim_expires_at=None))


def save_analysis(
    session: Session, message_pk: int, verdicts: Sequence[Verdict], entities: Sequence[Entity] = ()
) -> None:
    """Replace the message's verdicts and entities with these and mark it analysed ('done')."""
    save_analyses(session, [(message_pk, verdicts, entities)])


def save_analyses(
    session: Session,
    results: Sequence[tuple[int, Sequence[Verdict], Sequence[Entity]]],
    *,
    worker_id: str | None = None,
) -> set[int]:
    """For each ``(message pk, verdicts, entities)``: replace the message's verdicts and entities
    and mark it analysed ('done'), in a handful of statements for the whole batch; return the pks saved.

    With ``worker_id``, only messages still pending and claimed by that worker are saved (a claim
    that lapsed and was taken by another process is theirs now); the others are left alone and
    missing from the result. Without it every message is saved, and a missing one is an error.
    At most one verdict per analyzer; the error of any earlier failed attempt and the claim are cleared.
    """
    if not results:
        return set()
    for pk, verdicts, _ in results:
        names = [v.analyzer for v in verdicts]
        if len(set(names)) != len(names):
            raise ValueError(f"one verdict per analyzer, got {names} for message {pk}")
    c = MESSAGES.c
    pks = [pk for pk, _, _ in results]
    # Touch the message rows first: they must exist, and concurrent saves serialise on them.
    touch = update(MESSAGES).where(c.pk.in_(pks))
    if worker_id is not None:
        touch = touch.where(c.claimed_by == worker_id, c.analysis_status == "pending")
    done = set(
        session.execute(
            touch.values(analysis_status="done", analysis_error=None, claimed_by=None, claim_expires_at=None).returning(
                c.pk
            )
        ).scalars()
    )
    missing = [pk for pk in pks if pk not in done]
    if missing and worker_id is None:
        raise StoreError(f"no message with pk {missing[0]}")
    results = [r for r in results if r[0] in done]
    pks = [pk for pk, _, _ in results]
    if not pks:
        return done
    session.execute(delete(VERDICTS).where(VERDICTS.c.message_pk.in_(pks)))
    session.execute(delete(ENTITIES).where(ENTITIES.c.message_pk.in_(pks)))
    now = utcnow()
    verdict_rows = [
        dict(
            message_pk=pk,
            analyzer=v.analyzer,
            label=v.label,
            score=float(v.score),
            reasons=list(v.reasons),
            model=v.model,
            created_at=now,
        )
        for pk, verdicts, _ in results
        for v in verdicts
    ]
    if verdict_rows:
        session.execute(insert(VERDICTS), verdict_rows)
    entity_rows = [
        dict(
            message_pk=pk,
            type=e.type,
            start=e.start,
            end=e.end,
            text=e.text,
            score=float(e.score),
            source=e.source,
            value=e.value,
        )
        for pk, _, entities in results
        for e in entities
    ]
    if entity_rows:
        session.execute(insert(ENTITIES), entity_rows)
    return done


def mark_analysis_failed(
    session: Session,
    message_pk: int,
    error: str,
    max_attempts: int,
    *,
    worker_id: str | None = None,
    now: datetime | None = None,
) -> str | None:
    """Count a failed analysis attempt, keep its error and release the claim; return the new status.

    The message stays 'pending' (to be retried) while attempts < ``max_attempts``, then is parked
    as 'failed' (stamped ``analysis_failed_at`` for the daily retry). With ``worker_id``, a message
    no longer claimed by that worker is left alone and None returned.
    """
    c = MESSAGES.c
    parked = c.analysis_attempts + 1 >= max_attempts
    q = update(MESSAGES).where(c.pk == message_pk)
    if worker_id is not None:
        q = q.where(c.claimed_by == worker_id, c.analysis_status == "pending")
    row = session.execute(
        q.values(
            analysis_attempts=c.analysis_attempts + 1,
            analysis_error=error[:MAX_ERROR_CHARS],
            analysis_status=case((parked, "failed"), else_="pending"),
            analysis_failed_at=case((parked, literal(now or utcnow(), UTCDateTime())), else_=None),
            claimed_by=None,
            claim_expires_at=None,
        ).returning(c.analysis_status)
    ).first()
    if row is None:
        if worker_id is not None:
            return None
        raise StoreError(f"no message with pk {message_pk}")
    return str(row.analysis_status)


def requeue_failed(session: Session, group_id: str | None = None) -> int:
    """Put messages parked as 'failed' back in the queue with their attempts (and the daily retry's
    count) reset; return how many. ``qunzhi db requeue`` runs it, e.g. after a model is fixed."""
    q = update(MESSAGES).where(MESSAGES.c.analysis_status == "failed")
    if group_id is not None:
        q = q.where(MESSAGES.c.group_id == group_id)
    return changed(
        session,
        q.values(
            analysis_status="pending",
            analysis_attempts=0,
            analysis_requeues=0,
            analysis_failed_at=None,
            claimed_by=None,
            claim_expires_at=None,
        ),
    )


def requeue_due(
    session: Session, now: datetime, *, max_requeues: int = REQUEUE_MAX, first_gap: timedelta = REQUEUE_FIRST_GAP
) -> int:
    """The daily retry: put back failed messages whose gap has passed; return how many.

    A message parked for the ``n``-th time (``analysis_requeues == n - 1``) comes back once
    ``first_gap * 2 ** (n - 1)`` has passed since it was parked (1, 2, 4 ... days), at most
    ``max_requeues`` times; after that only ``qunzhi db requeue`` brings it back.
    """
    aware(now, "now")
    c = MESSAGES.c
    total = 0
    for n in range(max_requeues):
        total += changed(
            session,
            update(MESSAGES)
            .where(
                c.analysis_status == "failed",
                c.analysis_requeues == n,
                or_(c.analysis_failed_at.is_(None), c.analysis_failed_at <= now - first_gap * 2**n),
            )
            .values(
                analysis_status="pending",
                analysis_attempts=0,
                analysis_requeues=n + 1,
                analysis_failed_at=None,
                claimed_by=None,
                claim_expires_at=None,
            ),
        )
    return total


def pending_pks(
    session: Session, limit: int, max_attempts: int, *, exclude: Collection[int] = (), source: str | None = None
) -> list[int]:
    """The pks of up to ``limit`` messages still to analyse, oldest first, leaving out ``exclude``
    (the live bot's next batch: it analyses a batch at a time so that commands come in between);
    only those of ``source`` when given (the live bot's own platform)."""
    c = MESSAGES.c
    q = select(c.pk).where(c.analysis_status == "pending", c.analysis_attempts < max_attempts)
    if source is not None:
        q = q.where(c.source == source)
    if exclude:
        q = q.where(c.pk.not_in(list(exclude)))
    return list(session.execute(q.order_by(c.sent_at, c.pk).limit(limit)).scalars())


def still_pending(session: Session, pks: Collection[int]) -> list[int]:
    """Those of ``pks`` still waiting for analysis (failed for now, or claimed by another process)."""
    if not pks:
        return []
    c = MESSAGES.c
    return list(session.execute(select(c.pk).where(c.pk.in_(list(pks)), c.analysis_status == "pending")).scalars())


def pending_member_messages(session: Session, group_id: str, member_id: str, *, limit: int = 200) -> list[int]:
    """The pks of a member's messages in a group still waiting for analysis, oldest first (what a
    command about that member needs analysed before it runs)."""
    c = MESSAGES.c
    q = (
        select(c.pk)
        .where(c.group_id == group_id, c.sender_id == member_id, c.analysis_status == "pending")
        .order_by(c.sent_at, c.pk)
        .limit(limit)
    )
    return list(session.execute(q).scalars())


def analysis_counts(session: Session, group_id: str | None = None, *, role: str | None = None) -> dict[str, int]:
    """How many messages are pending, done and failed (every status present, zeros included);
    optionally of one group, and of one role (``CHAT``: the members' messages, commands left out)."""
    q = select(MESSAGES.c.analysis_status, func.count()).group_by(MESSAGES.c.analysis_status)
    if group_id is not None:
        q = q.where(MESSAGES.c.group_id == group_id)
    q = q.where(*role_is(role))
    counts = {"pending": 0, "done": 0, "failed": 0}
    counts.update({status: n for status, n in session.execute(q)})
    return counts
