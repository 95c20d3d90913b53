"""Messages read back with what the analyzers said: verdicts and entities, for the digest, commands
and profiles."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, select
from sqlalchemy.orm import Session

from bot.records import AnalysedMessage
from bot.store.common import CHAT, ENTITIES, MESSAGES, VERDICTS, aware, role_is, to_message
from nlp.verdict import Entity, Verdict


@dataclass(frozen=True, slots=True)
class AskedQuestion:
    """A chat message the intent analyzer judged a question: who asked, where, when."""

    group_id: str
    sender_id: str
    sender_name: str
    sent_at: datetime


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
    return [AnalysedMessage(to_message(r), dict(verdicts.get(r.pk, {})), tuple(entities.get(r.pk, ()))) for r in rows]


def analysed_messages(
    session: Session, group_id: str, start_utc: datetime, end_utc: datetime, *, role: str | None = CHAT
) -> list[AnalysedMessage]:
    """A group's messages sent in ``[start_utc, end_utc)``, in time order, with what the analyzers said.

    Messages not analysed yet (or parked as failed) are included with no verdicts, so counts are
    complete; check ``AnalysedMessage.verdicts`` before relying on a label. Only the members' chat
    by default (what the digest and ``/stats`` count); ``role=None`` for commands and the bot's own
    messages too.
    """
    aware(start_utc, "start_utc")
    aware(end_utc, "end_utc")
    c = MESSAGES.c
    return _analysed(session, [c.group_id == group_id, c.sent_at >= start_utc, c.sent_at < end_utc, *role_is(role)])


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
    where = [c.group_id == group_id, c.sender_id == member_id, *role_is(role)]
    if since is not None:
        where.append(c.sent_at >= aware(since, "since"))
    found = _analysed(session, where, limit=limit, newest_first=limit is not None)
    return sorted(found, key=lambda a: a.message.sent_at) if limit is not None else found


def questions_asked(
    session: Session, group_ids: Collection[str], start_utc: datetime, end_utc: datetime
) -> list[AskedQuestion]:
    """The members' questions (intent 'question', chat only) in these groups sent in
    ``[start_utc, end_utc]``, ends included."""
    c = MESSAGES.c
    is_question = and_(VERDICTS.c.message_pk == c.pk, VERDICTS.c.analyzer == "intent", VERDICTS.c.label == "question")
    rows = session.execute(
        select(c.group_id, c.sender_id, c.sender_name, c.sent_at)
        .join(VERDICTS, is_question)
        .where(c.group_id.in_(group_ids), c.sent_at >= start_utc, c.sent_at <= end_utc, c.role == CHAT)
    ).all()
    return [AskedQuestion(r.group_id, r.sender_id, r.sender_name, r.sent_at) for r in rows]


def reply_targets(session: Session, source_ids: Collection[str]) -> dict[tuple[str, str], tuple[str, bool]]:
    """For the messages stored under these platform ids: ``(source, id) -> (sender id, whether it is
    a chat message judged a question)`` (what a reply to it answers)."""
    c = MESSAGES.c
    rows = session.execute(
        select(c.source, c.source_id, c.sender_id, VERDICTS.c.label)
        .outerjoin(VERDICTS, and_(VERDICTS.c.message_pk == c.pk, VERDICTS.c.analyzer == "intent", c.role == CHAT))
        .where(c.source_id.in_(source_ids))
    ).all()
    return {(r.source, r.source_id): (r.sender_id, r.label == "question") for r in rows}
