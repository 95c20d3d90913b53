"""One ``qunzhi run`` per bot account on a database.

Each account's outbox rows are sent by the process logged in as it (``bot.store.outgoing``); two
processes logged in as the same account would both send them. So a live bot holds a lock named
after its account, taken the first time it knows who it is (at login) and before it sends:

- **PostgreSQL:** a session-level advisory lock (``pg_try_advisory_lock`` on the database's and
  schema's names and the account) on a connection of its own, kept open (and outside any
  transaction, so ``idle_in_transaction_session_timeout`` never ends it) for the life of the
  process; the server releases it when the process or its connection dies.
- **SQLite:** ``flock`` on ``<database>.account-<hash>``, released by the OS when the process dies.

A second process finds it held and stops with one line (:class:`AccountInUse`).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from bot.store import locks as locks_db


class AccountInUse(Exception):
    """Another ``qunzhi run`` on this database is logged in as the same account."""


def _key(account: str) -> str:
    return hashlib.sha256(account.encode("utf-8")).hexdigest()[:16]


class AccountLock:
    """The accounts this process speaks as, each held against other processes (see the module doc)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._held: dict[str, Any] = {}  # account -> its connection (PostgreSQL) or file descriptor (SQLite)
        self._guard = threading.Lock()

    def holds(self, account: str) -> bool:
        """Whether this process holds ``account`` (no database call: safe on the event loop)."""
        with self._guard:
            return account in self._held

    def hold(self, account: str) -> None:
        """Take ``account`` for this process (once; later calls return at once), or raise
        :class:`AccountInUse`. A blocking call: run it off the event loop."""
        with self._guard:
            if account in self._held:
                return
            self._held[account] = self._take(account)

    def _take(self, account: str) -> Any:
        refused = AccountInUse(
            f"account {account} is already served by another qunzhi run on this database: run one qunzhi run "
            "per account (each sends its account's messages; two would send them twice)"
        )
        if self._engine.dialect.name == "postgresql":
            conn = self._engine.connect()
            try:
                got = locks_db.try_hold_account(conn, account)
            except BaseException:
                conn.close()
                raise
            if not got:
                conn.close()
                raise refused
            return conn
        database = self._engine.url.database
        if not database or database == ":memory:":
            return None  # a private in-memory database: no other process can share it
        path = Path(database).with_name(Path(database).name + f".account-{_key(account)}")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise refused from None
        return fd

    def release(self) -> None:
        """Give up every account held (at stop; a process that dies releases them anyway)."""
        with self._guard:
            held, self._held = self._held, {}
        for handle in held.values():
            if isinstance(handle, int):
                os.close(handle)
            elif handle is not None:
                handle.close()
