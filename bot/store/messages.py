"""Storing the messages and reading them back: each message once, its group and sender kept up to
date; lookups by id, by quote and by pk; counts per sender. The analysis queue is
:mod:`bot.store.analysis`, messages with their verdicts :mod:`bot.store.verdicts`."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from bot.message import GroupMessage
from bot.store.common import BOT, CHAT, MEMBERS, MESSAGES, aware, dialect_insert, role_is, to_message
from bot.store.db import StoreError
from bot.store.groups import ensure_group, rename_group
from bot.store.models import MESSAGE_ROLES, utcnow


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
    for group_id in sorted({m.group_id for m in msgs}):  # rows locked in id order: no deadlock with sync_groups
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
        dialect_insert(session, MESSAGES)
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
    for group_id, topic in sorted(latest_topic.items()):
        rename_group(session, group_id, topic)

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
        ins = dialect_insert(session, MEMBERS).values(
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
                    "display_name": case(
                        (and_(newest, new.display_name != ""), new.display_name), else_=m.display_name
                    ),
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
            return r.pk, to_message(r)
    return None


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
    return (best.pk, to_message(best)) if best is not None else None


def message_by_pk(session: Session, message_pk: int) -> GroupMessage | None:
    r = session.execute(select(MESSAGES).where(MESSAGES.c.pk == message_pk)).first()
    return to_message(r) if r else None


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
    q = select(c.sender_id, func.count()).where(c.group_id == group_id, *role_is(role))
    if start_utc is not None:
        q = q.where(c.sent_at >= aware(start_utc, "start_utc"))
    if end_utc is not None:
        q = q.where(c.sent_at < aware(end_utc, "end_utc"))
    q = q.group_by(c.sender_id).order_by(func.count().desc(), c.sender_id)
    return {sender: n for sender, n in session.execute(q)}
