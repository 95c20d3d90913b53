"""Every read and write the bot makes, as functions taking a ``Session``.

The caller owns the transaction: these functions flush work to the database but never commit, so a
pipeline step can store a message, its verdicts and an action, then commit once. They return plain
frozen records (or :class:`~bot.records.AnalysedMessage`), never ORM objects, so nothing lazy-loads
after the session is gone. Datetimes in and out are aware UTC; naive ones are refused.

Idempotence and races are settled by unique constraints, not by reading first: a re-delivered
message (same ``source``, ``source_id``) and a second digest for the same group and day are
``INSERT .. ON CONFLICT DO NOTHING`` on both SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, and_, case, delete, func, insert, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.message import GroupMessage, MessageKind
from bot.records import AnalysedMessage
from bot.store.db import StoreError
from bot.store.models import (
    ACTIONS,
    MESSAGE_ROLES,
    OUTGOING_OPS,
    Correction,
    Digest,
    EntityRow,
    Group,
    Member,
    Message,
    ModerationAction,
    Outgoing,
    UTCDateTime,
    VerdictRow,
    utcnow,
)
from nlp.verdict import Entity, Verdict

GROUPS: Table = Group.__table__  # type: ignore[assignment]
MEMBERS: Table = Member.__table__  # type: ignore[assignment]
MESSAGES: Table = Message.__table__  # type: ignore[assignment]
VERDICTS: Table = VerdictRow.__table__  # type: ignore[assignment]
ENTITIES: Table = EntityRow.__table__  # type: ignore[assignment]
ACTIONS_T: Table = ModerationAction.__table__  # type: ignore[assignment]
CORRECTIONS: Table = Correction.__table__  # type: ignore[assignment]
DIGESTS: Table = Digest.__table__  # type: ignore[assignment]
OUTGOING: Table = Outgoing.__table__  # type: ignore[assignment]

# Actions that count as a strike unless `record_action` is told otherwise: a warning, a kick, or a
# strike an admin gave by hand. A "log" row counts only when recorded with strike=True (a log-only
# policy keeping score); "undo" rows never count.
STRIKE_ACTIONS = ("warn", "kick", "strike")
# Message roles (models.MESSAGE_ROLES): a member's chat, a command to the bot, the bot's own words.
# Chat and commands are analysed and moderated (an ad behind a command is still judged); the bot's
# words are not. What the digest, /stats and profiles count reads role 'chat' only.
CHAT, COMMAND, BOT = MESSAGE_ROLES
MAX_ERROR_CHARS = 4000
# The daily retry of failed analyses (``requeue_due``): after 1, 2, 4 ... days, at most this often.
REQUEUE_FIRST_GAP = timedelta(days=1)
REQUEUE_MAX = 5


# --- records ---------------------------------------------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class CorrectionRecord:
    pk: int
    message_pk: int | None
    text: str
    analyzer: str
    label: str
    by_contact: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DigestRecord:
    group_id: str
    day: date
    text: str
    html: str
    created_at: datetime
    sent_at: datetime | None


# --- helpers ---------------------------------------------------------------------------------------


def _insert(session: Session, table: Table) -> Any:
    """A dialect ``insert`` that knows ``on_conflict_do_nothing`` / ``on_conflict_do_update``."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise StoreError(f"unsupported database dialect {name!r}")


def _aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name}: must be a timezone-aware datetime, got {value!r}")
    return value


def _to_message(row: Any) -> GroupMessage:
    return GroupMessage(
        id=row.source_id,
        source=row.source,
        group_id=row.group_id,
        sender_id=row.sender_id,
        sender_name=row.sender_name,
        sent_at=row.sent_at,
        kind=MessageKind(row.kind),
        text=row.text,
        group_topic=row.group_topic,
        mentions=tuple(row.mentions or ()),
        mentions_bot=bool(row.mentions_bot),
        reply_to=row.reply_to,
        quote=row.quote or "",
    )


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


def _to_digest(row: Any) -> DigestRecord:
    return DigestRecord(
        group_id=row.group_id, day=row.day, text=row.text, html=row.html, created_at=row.created_at, sent_at=row.sent_at
    )


# --- groups and members ----------------------------------------------------------------------------


def ensure_group(session: Session, group_id: str, name: str = "") -> None:
    """Create the group row if it is missing; an existing row is left as it is."""
    stmt = _insert(session, GROUPS).values(id=group_id, name=name, topic="", created_at=utcnow())
    session.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))


def set_group(session: Session, group_id: str, *, name: str | None = None, topic: str | None = None) -> None:
    """Create or update a group; ``None`` leaves a field as it is (the configured topic goes here)."""
    ensure_group(session, group_id, name or "")
    values = {k: v for k, v in (("name", name), ("topic", topic)) if v is not None}
    if values:
        session.execute(update(GROUPS).where(GROUPS.c.id == group_id).values(**values))


def _to_group(r: Any) -> GroupRecord:
    return GroupRecord(r.id, r.name, r.topic, r.created_at, r.owner_id, tuple(r.admin_ids or ()), r.dry_run)


def groups(session: Session) -> list[GroupRecord]:
    return [_to_group(r) for r in session.execute(select(GROUPS).order_by(GROUPS.c.id))]


def group(session: Session, group_id: str) -> GroupRecord | None:
    r = session.execute(select(GROUPS).where(GROUPS.c.id == group_id)).first()
    return _to_group(r) if r else None


def set_room_roles(session: Session, group_id: str, owner_id: str | None, admin_ids: Iterable[str]) -> None:
    """Keep the room's owner and admins as the platform reports them (admin rights read these)."""
    ensure_group(session, group_id)
    session.execute(
        update(GROUPS).where(GROUPS.c.id == group_id).values(owner_id=owner_id or None, admin_ids=sorted(set(admin_ids)))
    )


def set_group_dry_run(session: Session, group_id: str, dry_run: bool | None) -> None:
    """An admin's in-chat dry-run switch for a group; None goes back to the configured policy."""
    ensure_group(session, group_id)
    session.execute(update(GROUPS).where(GROUPS.c.id == group_id).values(dry_run=dry_run))


def _ensure_member(session: Session, group_id: str, member_id: str) -> None:
    ensure_group(session, group_id)
    stmt = _insert(session, MEMBERS).values(
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


def is_whitelisted(session: Session, group_id: str, member_id: str) -> bool:
    where = and_(MEMBERS.c.group_id == group_id, MEMBERS.c.member_id == member_id)
    return bool(session.execute(select(MEMBERS.c.whitelisted).where(where)).scalar_one_or_none())


def member(session: Session, group_id: str, member_id: str) -> MemberRecord | None:
    where = and_(MEMBERS.c.group_id == group_id, MEMBERS.c.member_id == member_id)
    r = session.execute(select(MEMBERS).where(where)).first()
    return _to_member(r) if r else None


def members(session: Session, group_id: str) -> list[MemberRecord]:
    """A group's members, most messages first."""
    q = select(MEMBERS).where(MEMBERS.c.group_id == group_id).order_by(
        MEMBERS.c.message_count.desc(), MEMBERS.c.member_id
    )
    return [_to_member(r) for r in session.execute(q)]


# --- messages --------------------------------------------------------------------------------------


def store_message(session: Session, msg: GroupMessage) -> tuple[int, bool]:
    """Store ``msg`` once; return ``(message pk, created)``. See :func:`store_messages`."""
    return store_messages(session, [msg])[0]


def store_messages(
    session: Session, msgs: Sequence[GroupMessage], roles: Sequence[str] | None = None
) -> list[tuple[int, bool]]:
    """Store each message once; return ``(message pk, created)`` per message, in order.

    A message already stored under the same ``(source, id)`` returns its pk with ``created=False``
    and changes nothing. New ones also create their group if needed, refresh the group's name
    from ``group_topic``, and create or update each sender's member row (count, first/last seen,
    display name as of the latest message) — once per group and per sender for the whole batch.

    ``roles`` gives each message's role (``models.MESSAGE_ROLES``; default all 'chat'). Chat and
    commands are queued for analysis — a command is judged for ads like chat, so an ad behind
    "/help" is still caught (an admin's too: admins are never acted on) — but only chat is counted,
    here in the member's ``message_count`` and wherever messages or verdicts are counted (the
    ``role`` filters below). A command still updates its sender's row (seen, name); the bot's own
    messages are stored analysed ('done', no verdicts) and touch no member row.
    """
    role_of = _roles(msgs, roles)
    for group_id in dict.fromkeys(m.group_id for m in msgs):
        ensure_group(session, group_id, next((m.group_topic for m in msgs if m.group_id == group_id), ""))
    now = utcnow()
    rows = [
        dict(
            source=msg.source,
            source_id=msg.id,
            group_id=msg.group_id,
            sender_id=msg.sender_id,
            sender_name=msg.sender_name,
            sent_at=msg.sent_at,
            kind=str(msg.kind.value),
            text=msg.text,
            mentions=list(msg.mentions),
            mentions_bot=msg.mentions_bot,
            reply_to=msg.reply_to,
            quote=msg.quote,
            group_topic=msg.group_topic,
            role=role,
            stored_at=now,
            analysis_status="done" if role == BOT else "pending",  # the bot's words are never analysed
            analysis_attempts=0,
            analysis_error=None,
        )
        for msg, role in zip(msgs, role_of)
    ]
    # INSERT .. ON CONFLICT DO NOTHING, executemany: SQLAlchemy sends it as a few multi-row
    # statements ("insertmanyvalues") compiled once and cached, where ``.values(rows)`` would
    # compile a new 500-row statement every batch. Rows that were new come back with their pk; the
    # rest were stored before (or twice in this batch) and are looked up below.
    stmt = (
        _insert(session, MESSAGES)
        .on_conflict_do_nothing(index_elements=["source", "source_id"])
        .returning(MESSAGES.c.pk, MESSAGES.c.source, MESSAGES.c.source_id)
    )
    inserted = {(r.source, r.source_id): r.pk for r in session.execute(stmt, rows)} if rows else {}
    out: list[tuple[int, bool]] = []
    created: list[GroupMessage] = []
    claimed: set[tuple[str, str]] = set()
    for msg in msgs:
        key = (msg.source, msg.id)
        if key in inserted and key not in claimed:
            claimed.add(key)
            out.append((inserted[key], True))
            created.append(msg)
            continue
        existing = inserted.get(key) or find_message(session, msg.source, msg.id)
        if existing is None:  # pragma: no cover - the conflict row vanished mid-transaction
            raise StoreError(f"message {msg.source}:{msg.id} conflicted but cannot be found")
        out.append((existing, False))

    latest_topic: dict[str, str] = {}
    for msg in sorted(created, key=lambda m: m.sent_at):
        if msg.group_topic:
            latest_topic[msg.group_id] = msg.group_topic
    for group_id, topic in latest_topic.items():
        session.execute(update(GROUPS).where(GROUPS.c.id == group_id, GROUPS.c.name != topic).values(name=topic))

    role_by_key: dict[tuple[str, str], str] = {}
    for msg, role in zip(msgs, role_of):
        role_by_key.setdefault((msg.source, msg.id), role)
    senders: dict[tuple[str, str], list[GroupMessage]] = {}
    for msg in created:
        if role_by_key[(msg.source, msg.id)] != BOT:
            senders.setdefault((msg.group_id, msg.sender_id), []).append(msg)
    m = MEMBERS.c
    # in key order: two processes storing at once lock the member rows in the same order (no deadlock)
    for (group_id, sender_id), theirs in sorted(senders.items()):
        first = min(x.sent_at for x in theirs)
        last = max(theirs, key=lambda x: x.sent_at)
        ins = _insert(session, MEMBERS).values(
            group_id=group_id,
            member_id=sender_id,
            display_name=last.sender_name,
            first_seen=first,
            last_seen=last.sent_at,
            message_count=sum(1 for x in theirs if role_by_key[(x.source, x.id)] == CHAT),
            whitelisted=False,
            opted_out=False,
        )
        new = ins.excluded
        newest = or_(m.last_seen.is_(None), new.last_seen >= m.last_seen)
        session.execute(
            ins.on_conflict_do_update(
                index_elements=["group_id", "member_id"],
                set_={
                    "message_count": m.message_count + new.message_count,
                    "first_seen": case(
                        (or_(m.first_seen.is_(None), new.first_seen < m.first_seen), new.first_seen), else_=m.first_seen
                    ),
                    "last_seen": case((newest, new.last_seen), else_=m.last_seen),
                    "display_name": case((and_(newest, new.display_name != ""), new.display_name), else_=m.display_name),
                },
            )
        )
    return out


def _roles(msgs: Sequence[GroupMessage], roles: Sequence[str] | None) -> list[str]:
    if roles is None:
        return [CHAT] * len(msgs)
    out = list(roles)
    if len(out) != len(msgs):
        raise ValueError(f"roles: one per message, got {len(out)} for {len(msgs)} messages")
    for role in out:
        if role not in MESSAGE_ROLES:
            raise ValueError(f"role: must be one of {', '.join(MESSAGE_ROLES)}, got {role!r}")
    return out


def message_roles(session: Session, pks: Collection[int]) -> dict[int, str]:
    """The role of each of these stored messages (``models.MESSAGE_ROLES``), by pk."""
    if not pks:
        return {}
    c = MESSAGES.c
    return {pk: role for pk, role in session.execute(select(c.pk, c.role).where(c.pk.in_(list(pks))))}


def find_message(session: Session, source: str, source_id: str) -> int | None:
    """The pk of the message stored under ``(source, source_id)``, e.g. the one a reply quotes."""
    q = select(MESSAGES.c.pk).where(MESSAGES.c.source == source, MESSAGES.c.source_id == source_id)
    return session.execute(q).scalar_one_or_none()


def pending_messages(session: Session, limit: int, max_attempts: int) -> list[tuple[int, GroupMessage]]:
    """Messages still to analyse (status pending, fewer than ``max_attempts`` tries), oldest first."""
    q = (
        select(MESSAGES)
        .where(MESSAGES.c.analysis_status == "pending", MESSAGES.c.analysis_attempts < max_attempts)
        .order_by(MESSAGES.c.sent_at, MESSAGES.c.pk)
        .limit(limit)
    )
    return [(r.pk, _to_message(r)) for r in session.execute(q)]


def _claimable(now: datetime, worker_id: str, max_attempts: int) -> list[ColumnElement[bool]]:
    c = MESSAGES.c
    return [
        c.analysis_status == "pending",
        c.analysis_attempts < max_attempts,
        or_(c.claimed_by.is_(None), c.claimed_by == worker_id, c.claim_expires_at <= now),
    ]


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
    """
    if limit <= 0 or (pks is not None and not pks):
        return []
    now = _aware(now, "now") if now is not None else utcnow()
    c = MESSAGES.c
    chosen = select(c.pk).where(*_claimable(now, worker_id, max_attempts))
    if pks is not None:
        chosen = chosen.where(c.pk.in_(list(pks)))
    if exclude:
        chosen = chosen.where(c.pk.not_in(list(exclude)))
    chosen = chosen.order_by(c.sent_at, c.pk).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        locked = session.execute(chosen.with_for_update(skip_locked=True)).scalars().all()
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
    rows.sort(key=lambda r: (r.sent_at, r.pk))
    return [(r.pk, _to_message(r)) for r in rows]


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
    return session.execute(q.values(claimed_by=None, claim_expires_at=None)).rowcount


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
            touch.values(analysis_status="done", analysis_error=None, claimed_by=None, claim_expires_at=None)
            .returning(c.pk)
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
        )
        .returning(c.analysis_status)
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
    return session.execute(
        q.values(
            analysis_status="pending", analysis_attempts=0, analysis_requeues=0, analysis_failed_at=None,
            claimed_by=None, claim_expires_at=None,
        )
    ).rowcount


def requeue_due(session: Session, now: datetime, *, max_requeues: int = REQUEUE_MAX, first_gap: timedelta = REQUEUE_FIRST_GAP) -> int:
    """The daily retry: put back failed messages whose gap has passed; return how many.

    A message parked for the ``n``-th time (``analysis_requeues == n - 1``) comes back once
    ``first_gap * 2 ** (n - 1)`` has passed since it was parked (1, 2, 4 ... days), at most
    ``max_requeues`` times; after that only ``qunzhi db requeue`` brings it back.
    """
    _aware(now, "now")
    c = MESSAGES.c
    total = 0
    for n in range(max_requeues):
        total += session.execute(
            update(MESSAGES)
            .where(
                c.analysis_status == "failed",
                c.analysis_requeues == n,
                or_(c.analysis_failed_at.is_(None), c.analysis_failed_at <= now - first_gap * 2**n),
            )
            .values(
                analysis_status="pending", analysis_attempts=0, analysis_requeues=n + 1, analysis_failed_at=None,
                claimed_by=None, claim_expires_at=None,
            )
        ).rowcount
    return total


def has_correction(session: Session, message_pk: int, analyzer: str = "ad") -> bool:
    """Whether an admin has judged this message (``/spam``, ``/notspam``) for ``analyzer``."""
    c = CORRECTIONS.c
    q = select(c.pk).where(c.message_pk == message_pk, c.analyzer == analyzer).limit(1)
    return session.execute(q).first() is not None


def _analysed(
    session: Session, where: Sequence[ColumnElement[bool]], limit: int | None = None, newest_first: bool = False
) -> list[AnalysedMessage]:
    """Messages matching ``where`` with their verdicts and entities: three queries, however many rows."""
    order = (MESSAGES.c.sent_at.desc(), MESSAGES.c.pk.desc()) if newest_first else (MESSAGES.c.sent_at, MESSAGES.c.pk)
    msg_q: Select[Any] = select(MESSAGES).where(*where).order_by(*order)
    if limit is not None:
        msg_q = msg_q.limit(limit)
    rows = session.execute(msg_q).all()
    if not rows:
        return []
    pks: Any = select(MESSAGES.c.pk).where(*where)
    if limit is not None:
        pks = pks.order_by(*order).limit(limit)
    verdicts: dict[int, dict[str, Verdict]] = defaultdict(dict)
    for v in session.execute(select(VERDICTS).where(VERDICTS.c.message_pk.in_(pks)).order_by(VERDICTS.c.pk)):
        verdicts[v.message_pk][v.analyzer] = Verdict(v.analyzer, v.label, v.score, tuple(v.reasons or ()), v.model)
    entities: dict[int, list[Entity]] = defaultdict(list)
    for e in session.execute(select(ENTITIES).where(ENTITIES.c.message_pk.in_(pks)).order_by(ENTITIES.c.pk)):
        entities[e.message_pk].append(Entity(e.type, e.start, e.end, e.text, e.score, e.source, e.value or ""))
    return [
        AnalysedMessage(_to_message(r), dict(verdicts.get(r.pk, {})), tuple(entities.get(r.pk, ())))
        for r in rows
    ]


def analysed_messages(
    session: Session, group_id: str, start_utc: datetime, end_utc: datetime, *, role: str | None = CHAT
) -> list[AnalysedMessage]:
    """A group's messages sent in ``[start_utc, end_utc)``, in time order, with what the analyzers said.

    Messages not analysed yet (or parked as failed) are included with no verdicts, so counts are
    complete; check ``AnalysedMessage.verdicts`` before relying on a label. Only the members' chat
    by default (what the digest and ``/stats`` count); ``role=None`` for commands and the bot's own
    messages too.
    """
    _aware(start_utc, "start_utc")
    _aware(end_utc, "end_utc")
    c = MESSAGES.c
    return _analysed(session, [c.group_id == group_id, c.sent_at >= start_utc, c.sent_at < end_utc, *_role_is(role)])


def _role_is(role: str | None) -> list[ColumnElement[bool]]:
    """The filter for one message role (None: no filter)."""
    if role is None:
        return []
    if role not in MESSAGE_ROLES:
        raise ValueError(f"role: must be one of {', '.join(MESSAGE_ROLES)} or None, got {role!r}")
    return [MESSAGES.c.role == role]


def analysed_message(session: Session, message_pk: int) -> AnalysedMessage | None:
    found = _analysed(session, [MESSAGES.c.pk == message_pk])
    return found[0] if found else None


def member_messages(
    session: Session,
    group_id: str,
    member_id: str,
    since: datetime | None = None,
    limit: int | None = None,
    *,
    role: str | None = CHAT,
) -> list[AnalysedMessage]:
    """One member's messages in a group (for a profile), in time order; ``limit`` keeps the newest.
    Chat only by default, as :func:`analysed_messages`."""
    c = MESSAGES.c
    where = [c.group_id == group_id, c.sender_id == member_id, *_role_is(role)]
    if since is not None:
        where.append(c.sent_at >= _aware(since, "since"))
    found = _analysed(session, where, limit=limit, newest_first=limit is not None)
    return sorted(found, key=lambda a: a.message.sent_at) if limit is not None else found


def latest_message(
    session: Session, group_id: str, member_id: str, *, skip_prefixes: tuple[str, ...] = ()
) -> tuple[int, GroupMessage] | None:
    """A member's newest stored chat message in a group (its pk too), never a command, skipping
    texts that start with ``skip_prefixes`` too (commands stored before roles were kept); None when
    there is none."""
    c = MESSAGES.c
    q = (
        select(MESSAGES)
        .where(c.group_id == group_id, c.sender_id == member_id, c.kind != "system", c.role == CHAT)
        .order_by(c.sent_at.desc(), c.pk.desc())
        .limit(50)
    )
    for r in session.execute(q):
        if not (skip_prefixes and r.text.lstrip().startswith(skip_prefixes)):
            return r.pk, _to_message(r)
    return None


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


def find_quoted(session: Session, group_id: str, quote: str, *, scan: int = 500) -> tuple[int, GroupMessage] | None:
    """The stored message a WeChat quote ("name：text", the text maybe cut short) refers to: the
    newest of the group's last ``scan`` messages whose text matches, by that sender name if any."""
    name, sep, text = quote.partition("：")
    if not sep:
        name, sep, text = quote.partition(":")
    if not sep:
        name, text = "", quote
    name, text = name.strip(), text.strip().removesuffix("...").removesuffix("…").strip()
    if not text:
        return None
    c = MESSAGES.c
    rows = session.execute(
        select(MESSAGES).where(c.group_id == group_id).order_by(c.sent_at.desc(), c.pk.desc()).limit(scan)
    ).all()
    matching = [r for r in rows if r.text.strip().startswith(text) or text in r.text]
    best = next((r for r in matching if name and r.sender_name == name), matching[0] if matching else None)
    return (best.pk, _to_message(best)) if best is not None else None


def message_by_pk(session: Session, message_pk: int) -> GroupMessage | None:
    r = session.execute(select(MESSAGES).where(MESSAGES.c.pk == message_pk)).first()
    return _to_message(r) if r else None


def message_counts(
    session: Session,
    group_id: str,
    start_utc: datetime | None = None,
    end_utc: datetime | None = None,
    *,
    role: str | None = CHAT,
) -> dict[str, int]:
    """Messages per sender id in a group (optionally within ``[start_utc, end_utc)``), most first;
    the members' chat only unless ``role`` says otherwise (None: every message)."""
    c = MESSAGES.c
    q = select(c.sender_id, func.count()).where(c.group_id == group_id, *_role_is(role))
    if start_utc is not None:
        q = q.where(c.sent_at >= _aware(start_utc, "start_utc"))
    if end_utc is not None:
        q = q.where(c.sent_at < _aware(end_utc, "end_utc"))
    q = q.group_by(c.sender_id).order_by(func.count().desc(), c.sender_id)
    return {sender: n for sender, n in session.execute(q)}


def analysis_counts(session: Session, group_id: str | None = None) -> dict[str, int]:
    """How many messages are pending, done and failed (every status present, zeros included)."""
    q = select(MESSAGES.c.analysis_status, func.count()).group_by(MESSAGES.c.analysis_status)
    if group_id is not None:
        q = q.where(MESSAGES.c.group_id == group_id)
    counts = {"pending": 0, "done": 0, "failed": 0}
    counts.update({status: n for status, n in session.execute(q)})
    return counts


# --- moderation ------------------------------------------------------------------------------------


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
            created_at=_aware(at, "at") if at is not None else utcnow(),
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
        q = q.where(c.created_at >= _aware(since, "since"))
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
        where.append(c.created_at >= _aware(since, "since"))
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
    when = _aware(at, "at") if at is not None else utcnow()
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


# --- corrections -----------------------------------------------------------------------------------


def record_correction(
    session: Session,
    *,
    text: str,
    analyzer: str,
    label: str,
    by_contact: str,
    message_pk: int | None = None,
    at: datetime | None = None,
) -> int:
    """Record an admin's correction (``/spam``, ``/notspam``): training data for ``nlp/train.py``."""
    stmt = (
        insert(CORRECTIONS)
        .values(
            message_pk=message_pk,
            text=text,
            analyzer=analyzer,
            label=label,
            by_contact=by_contact,
            created_at=_aware(at, "at") if at is not None else utcnow(),
        )
        .returning(CORRECTIONS.c.pk)
    )
    return int(session.execute(stmt).scalar_one())


def corrections(session: Session, analyzer: str | None = None, since: datetime | None = None) -> list[CorrectionRecord]:
    """Admin corrections, oldest first; optionally for one analyzer or since a time."""
    c = CORRECTIONS.c
    q = select(CORRECTIONS)
    if analyzer is not None:
        q = q.where(c.analyzer == analyzer)
    if since is not None:
        q = q.where(c.created_at >= _aware(since, "since"))
    q = q.order_by(c.created_at, c.pk)
    return [
        CorrectionRecord(r.pk, r.message_pk, r.text, r.analyzer, r.label, r.by_contact, r.created_at)
        for r in session.execute(q)
    ]


# --- digests ---------------------------------------------------------------------------------------


def save_digest(session: Session, group_id: str, day: date, text: str, html: str = "") -> bool:
    """Store the digest of ``day`` for a group; False when one already exists (it is kept).

    The unique (group_id, day) constraint decides, so two schedulers racing store exactly one.
    """
    ensure_group(session, group_id)
    stmt = (
        _insert(session, DIGESTS)
        .values(group_id=group_id, day=day, text=text, html=html, created_at=utcnow(), sent_at=None)
        .on_conflict_do_nothing(index_elements=["group_id", "day"])
        .returning(DIGESTS.c.pk)
    )
    return session.execute(stmt).scalar_one_or_none() is not None


def get_digest(session: Session, group_id: str, day: date) -> DigestRecord | None:
    r = session.execute(select(DIGESTS).where(DIGESTS.c.group_id == group_id, DIGESTS.c.day == day)).first()
    return _to_digest(r) if r else None


def mark_digest_sent(session: Session, group_id: str, day: date, at: datetime | None = None) -> bool:
    """Mark a digest sent; False when there is none or it was already marked."""
    c = DIGESTS.c
    result = session.execute(
        update(DIGESTS)
        .where(c.group_id == group_id, c.day == day, c.sent_at.is_(None))
        .values(sent_at=_aware(at, "at") if at is not None else utcnow())
    )
    return result.rowcount == 1


def unsent_digests(session: Session, group_id: str | None = None) -> list[DigestRecord]:
    """Digests stored but not yet marked sent (e.g. the bot stopped in between), oldest day first."""
    q = select(DIGESTS).where(DIGESTS.c.sent_at.is_(None))
    if group_id is not None:
        q = q.where(DIGESTS.c.group_id == group_id)
    return [_to_digest(r) for r in session.execute(q.order_by(DIGESTS.c.day, DIGESTS.c.group_id))]


# --- outbox ----------------------------------------------------------------------------------------


def _to_outgoing(r: Any) -> OutgoingRecord:
    return OutgoingRecord(
        r.pk, r.op, r.group_id, r.contact_id, r.text, tuple(r.mentions or ()), r.purpose, r.created_at,
        r.not_before, r.attempts, r.last_error, r.sent_at, r.failed_at, r.uncertain_at, r.after_pk,
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
    when = _aware(at, "at") if at is not None else utcnow()
    stmt = (
        insert(OUTGOING)
        .values(
            op=op, group_id=group_id, contact_id=contact_id, text=text, mentions=list(mentions), purpose=purpose,
            created_at=when, not_before=when, attempts=0, last_error=None, sent_at=None, failed_at=None,
            uncertain_at=None, after_pk=after,
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
    at = _aware(now, "now")
    return [_to_outgoing(r) for r in _heads(session) if r.not_before <= at][:limit]


def outgoing_heads(session: Session) -> list[OutgoingRecord]:
    """The head of every target's queue, due or not, oldest first (the sender times its wake-ups by them)."""
    return [_to_outgoing(r) for r in _heads(session)]


def mark_outgoing_sent(session: Session, pk: int, at: datetime | None = None) -> bool:
    c = OUTGOING.c
    result = session.execute(
        update(OUTGOING)
        .where(c.pk == pk, c.sent_at.is_(None))
        .values(sent_at=_aware(at, "at") if at is not None else utcnow(), attempts=c.attempts + 1)
    )
    return result.rowcount == 1


def mark_outgoing_retry(
    session: Session, pk: int, error: str, not_before: datetime, *, give_up: bool = False, at: datetime | None = None
) -> list[int]:
    """Count a failed attempt: try again at ``not_before``, or give up (``failed_at``, at ``at``) for good.

    Giving up also gives up the rows held behind this one (``after_pk``); their pks are returned.
    """
    c = OUTGOING.c
    values: dict[str, Any] = {"attempts": c.attempts + 1, "last_error": error[:MAX_ERROR_CHARS]}
    when = _aware(at, "at") if at is not None else utcnow()
    if give_up:
        values["failed_at"] = when
    else:
        values["not_before"] = _aware(not_before, "not_before")
    session.execute(update(OUTGOING).where(c.pk == pk).values(**values))
    return _give_up_held(session, pk, when) if give_up else []


def mark_outgoing_uncertain(session: Session, pk: int, error: str, at: datetime | None = None) -> list[int]:
    """The request left and no answer came: maybe delivered, never resent. Terminal, like sent.

    The rows held behind it are given up (what they would report may not have happened); their
    pks are returned.
    """
    c = OUTGOING.c
    when = _aware(at, "at") if at is not None else utcnow()
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
