"""Pull sources' cursors (``source_cursors``): read one, replace one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from bot.store.common import SOURCE_CURSORS
from bot.store.models import utcnow


def cursor(session: Session, name: str) -> dict[str, Any]:
    """The stored cursor of source ``name``; ``{}`` when it has never pulled."""
    found = session.execute(select(SOURCE_CURSORS.c.cursor).where(SOURCE_CURSORS.c.name == name)).scalar()
    return dict(found) if found else {}


def save_cursor(session: Session, name: str, value: dict[str, Any]) -> None:
    """Replace the cursor of source ``name`` (in the caller's transaction)."""
    c = SOURCE_CURSORS.c
    stmt = update(SOURCE_CURSORS).where(c.name == name).values(cursor=value, updated_at=utcnow()).returning(c.name)
    if session.execute(stmt).first() is None:
        session.execute(insert(SOURCE_CURSORS).values(name=name, cursor=value, updated_at=utcnow()))
