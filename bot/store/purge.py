"""Retention's writes: blank the text of old messages, their entities and finished outbox rows.

When and why is :mod:`bot.retention`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.store import search
from bot.store.common import ENTITIES, MESSAGES, OUTGOING, changed


def blank_text_before(session: Session, before: datetime, now: datetime) -> tuple[int, int]:
    """Blank the text and quote of every analysed message sent before ``before`` not purged yet
    (stamping ``purged_at`` with ``now``), the text and value of its entities, and the text of the
    outbox rows created before ``before`` that are sent, given up or maybe delivered; delete the
    search words of every purged message; return how many messages and entities were blanked now."""
    c = MESSAGES.c
    old = (c.sent_at < before, c.purged_at.is_(None), c.analysis_status != "pending")
    pks = select(c.pk).where(*old).scalar_subquery()
    entities = changed(session, update(ENTITIES).where(ENTITIES.c.message_pk.in_(pks)).values(text="", value=""))
    messages = changed(session, update(MESSAGES).where(*old).values(text="", quote="", purged_at=now))
    search.drop_purged(session)  # their words for full-text search go with the text
    # what the bot said long ago (reports quote the ads they act on) goes too, once it is done
    o = OUTGOING.c
    session.execute(
        update(OUTGOING)
        .where(
            o.created_at < before,
            o.sent_at.is_not(None) | o.failed_at.is_not(None) | o.uncertain_at.is_not(None),
            o.text != "",
        )
        .values(text="")
    )
    return messages, entities
