"""What the store modules share: the tables, the message roles, and a few helpers.

Every read and write the bot makes is a function taking a ``Session``, in the module of what it
serves (:mod:`bot.store.messages`, :mod:`~bot.store.analysis`, :mod:`~bot.store.verdicts`,
:mod:`~bot.store.groups`, :mod:`~bot.store.actions`, :mod:`~bot.store.corrections`,
:mod:`~bot.store.digests`, :mod:`~bot.store.outgoing`, :mod:`~bot.store.member_profiles`,
:mod:`~bot.store.purge`). The caller owns the transaction: these functions flush work to the
database but never commit, so a pipeline step can store a message, its verdicts and an action,
then commit once. They return plain frozen records (or :class:`~bot.records.AnalysedMessage`),
never ORM objects, so nothing lazy-loads after the session is gone. Datetimes in and out are aware
UTC; naive ones are refused.

Idempotence and races are settled by unique constraints, not by reading first: a re-delivered
message (same ``source``, ``source_id``) and a second digest for the same group and day are
``INSERT .. ON CONFLICT DO NOTHING`` on both SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Executable, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.message import GroupMessage, MessageKind
from bot.store.db import StoreError
from bot.store.models import (
    MESSAGE_ROLES,
    ApiToken,
    BotStatus,
    ConsoleAudit,
    ConsoleSession,
    ConsoleUser,
    Correction,
    Digest,
    EntityRow,
    Group,
    Member,
    MemberProfile,
    Message,
    MessageSearchTerms,
    ModerationAction,
    Outgoing,
    SourceCursor,
    VerdictRow,
)

GROUPS: Table = Group.__table__  # type: ignore[assignment]
MEMBERS: Table = Member.__table__  # type: ignore[assignment]
MESSAGES: Table = Message.__table__  # type: ignore[assignment]
VERDICTS: Table = VerdictRow.__table__  # type: ignore[assignment]
ENTITIES: Table = EntityRow.__table__  # type: ignore[assignment]
ACTIONS_T: Table = ModerationAction.__table__  # type: ignore[assignment]
CORRECTIONS: Table = Correction.__table__  # type: ignore[assignment]
DIGESTS: Table = Digest.__table__  # type: ignore[assignment]
OUTGOING: Table = Outgoing.__table__  # type: ignore[assignment]
PROFILES: Table = MemberProfile.__table__  # type: ignore[assignment]
CONSOLE_USERS: Table = ConsoleUser.__table__  # type: ignore[assignment]
CONSOLE_SESSIONS: Table = ConsoleSession.__table__  # type: ignore[assignment]
API_TOKENS: Table = ApiToken.__table__  # type: ignore[assignment]
CONSOLE_AUDIT: Table = ConsoleAudit.__table__  # type: ignore[assignment]
BOT_STATUS: Table = BotStatus.__table__  # type: ignore[assignment]
MESSAGE_SEARCH: Table = MessageSearchTerms.__table__  # type: ignore[assignment]
SOURCE_CURSORS: Table = SourceCursor.__table__  # type: ignore[assignment]

# Message roles (models.MESSAGE_ROLES): a member's chat, a command to the bot, the bot's own words.
# Chat and commands are analysed and moderated (an ad behind a command is still judged); the bot's
# words are not. What the digest, /stats and profiles count reads role 'chat' only.
CHAT, COMMAND, BOT = MESSAGE_ROLES
MAX_ERROR_CHARS = 4000


def dialect_insert(session: Session, table: Table) -> Any:
    """A dialect ``insert`` that knows ``on_conflict_do_nothing`` / ``on_conflict_do_update``."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise StoreError(f"unsupported database dialect {name!r}")


def aware(value: datetime, name: str) -> datetime:
    """``value`` itself, or ValueError naming ``name`` when it is not a timezone-aware datetime."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name}: must be a timezone-aware datetime, got {value!r}")
    return value


def changed(session: Session, stmt: Executable) -> int:
    """Run an ``UPDATE`` or ``DELETE``; return how many rows it changed."""
    return cast("CursorResult[Any]", session.execute(stmt)).rowcount


def role_is(role: str | None) -> list[ColumnElement[bool]]:
    """The filter for one message role (None: no filter)."""
    if role is None:
        return []
    if role not in MESSAGE_ROLES:
        raise ValueError(f"role: must be one of {', '.join(MESSAGE_ROLES)} or None, got {role!r}")
    return [MESSAGES.c.role == role]


def to_message(row: Any) -> GroupMessage:
    """A stored message row as the :class:`GroupMessage` it was stored from."""
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
