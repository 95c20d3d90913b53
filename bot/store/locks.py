"""Advisory locks between processes on PostgreSQL: per member for moderation, one for the indexer,
one per bot account (held by its ``qunzhi run`` for its whole life).

A member's strikes are read and the next one written in one transaction; two transactions doing
that for the same member at once would both read the same count. Holding the member's lock, keyed
on the (group, member) pair, for the rest of the transaction serialises them. The search indexer
(``bot.store.search.index_pending``) cuts the oldest messages without words: several workers
running it at once would all cut the same ones, so a worker indexes only when no other one is.
On SQLite, where one writer holds the whole database, nothing is needed and nothing is done.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

INDEXER_KEY = 0x71756E69  # "quni": held by the worker indexing for search


def member_key(group_id: str, member_id: str) -> int:
    """A stable signed 64-bit key for the pair (the same in every process, unlike ``hash``)."""
    digest = hashlib.blake2b(f"moderation\x1f{group_id}\x1f{member_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_members(session: Session, members: Iterable[tuple[str, str]]) -> None:
    """Hold the moderation lock of each (group, member) until the transaction ends, taken in one
    order (sorted keys) so that two transactions locking several members never deadlock."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for key in sorted({member_key(g, m) for g, m in members}):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def try_lock_indexer(session: Session) -> bool:
    """Take the indexer's lock until the transaction ends if no one holds it; False when another
    process is indexing now (it does the same messages: leave them to it)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": INDEXER_KEY}).scalar_one())


def try_hold_account(conn: Connection, account: str) -> bool:
    """Take the session-level lock of bot account ``account`` on ``conn`` (a connection its holder
    keeps open: the lock lasts as long as that session, see ``bot.account_lock``); False when
    another session holds it. Keyed on the database, the schema and the account, and committed
    at once, so the connection then waits outside any transaction."""
    got = conn.execute(
        text(
            "SELECT pg_try_advisory_lock(hashtextextended(current_database() || '.' || current_schema() || ' ' || :key, 0))"
        ),
        {"key": f"qunzhi account {account}"},
    ).scalar_one()
    conn.commit()
    return bool(got)
