"""A member's timeline reads: their newest chat messages in a group with what the analyzers said, and
whether the retention purge blanked them (a purged message keeps its time and verdicts, not its words)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.message import GroupMessage
from bot.store.common import CHAT, MESSAGES, VERDICTS, to_message
from nlp.verdict import Verdict


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A stored chat message with its verdicts (analyzer name -> verdict)."""

    pk: int
    message: GroupMessage
    verdicts: dict[str, Verdict]
    purged_at: datetime | None  # when the retention purge blanked its text; None while it is kept


def member_chat(session: Session, group_id: str, member_id: str, limit: int) -> list[StoredMessage]:
    """The member's newest ``limit`` chat messages in a group, newest first, with their verdicts."""
    c = MESSAGES.c
    rows = session.execute(
        select(MESSAGES)
        .where(c.group_id == group_id, c.sender_id == member_id, c.role == CHAT)
        .order_by(c.sent_at.desc(), c.pk.desc())
        .limit(limit)
    ).all()
    return _with_verdicts(session, rows)


def messages_by_pk(session: Session, pks: list[int]) -> dict[int, StoredMessage]:
    """These stored messages (any role) with their verdicts, by pk; pks not stored are left out."""
    if not pks:
        return {}
    rows = session.execute(select(MESSAGES).where(MESSAGES.c.pk.in_(pks))).all()
    return {m.pk: m for m in _with_verdicts(session, rows)}


def _with_verdicts(session: Session, rows: Sequence[Any]) -> list[StoredMessage]:
    pks = [r.pk for r in rows]
    if not pks:
        return []
    verdicts: dict[int, dict[str, Verdict]] = defaultdict(dict)
    q = select(VERDICTS).where(VERDICTS.c.message_pk.in_(pks)).order_by(VERDICTS.c.pk)
    for v in session.execute(q):
        verdicts[v.message_pk][v.analyzer] = Verdict(v.analyzer, v.label, v.score, tuple(v.reasons or ()), v.model)
    return [StoredMessage(r.pk, to_message(r), dict(verdicts.get(r.pk, {})), r.purged_at) for r in rows]


__all__ = ["StoredMessage", "member_chat", "messages_by_pk"]
