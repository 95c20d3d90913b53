"""Store test helpers: a message factory and a statement counter. Database fixtures are in tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Engine, event

from bot.message import GroupMessage, MessageKind

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
GROUP = "123@chatroom"


def make_msg(
    n: int = 1,
    *,
    group_id: str = GROUP,
    sender_id: str = "wxid_alice",
    sender_name: str = "Alice",
    sent_at: datetime | None = None,
    text: str | None = None,
    source: str = "replay",
    **extra: Any,
) -> GroupMessage:
    """Message ``n`` of a conversation: id ``m{n}``, sent ``n`` minutes after T0 unless given."""
    return GroupMessage(
        id=f"m{n}",
        source=source,
        group_id=group_id,
        sender_id=sender_id,
        sender_name=sender_name,
        sent_at=sent_at or T0 + timedelta(minutes=n),
        kind=extra.pop("kind", MessageKind.TEXT),
        text=text if text is not None else f"message {n}",
        **extra,
    )


@contextmanager
def count_statements(engine: Engine) -> Iterator[list[str]]:
    """Collect the SQL statements run on ``engine`` inside the block."""
    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ARG001
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)
