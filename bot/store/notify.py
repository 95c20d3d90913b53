"""Wake-ups between processes through PostgreSQL's ``LISTEN``/``NOTIFY``: no queue of our own.

The database already holds the queue (pending messages, the outbox) and its locks; a notification
only says "look again". A receiver notifies ``PENDING`` in the transaction that stores messages, a
worker ``OUTBOX`` in the one that queues what its decisions do. PostgreSQL delivers a notification
at commit (never for a rolled-back transaction) and folds repeats within one transaction, so it
costs one small message per batch. A notification can still be missed (a listener reconnecting, a
PostgreSQL restart): listeners also look every few seconds, so a missed one only delays.

On SQLite nothing is sent and :class:`Listener` just sleeps its timeout: polling is the fallback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

PENDING = "qunzhi_pending"  # messages stored and waiting for analysis
OUTBOX = "qunzhi_outbox"  # operations queued for the senders


def notify(session: Session, channel: str) -> None:
    """Notify ``channel`` when the session's transaction commits (PostgreSQL; nothing on SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel})


class Listener:
    """Waits for notifications on some channels, on a connection of its own (PostgreSQL), else sleeps.

    ``wait(timeout)`` returns True when a notification came, False when the timeout passed. A lost
    connection (a PostgreSQL restart) is logged, the wait sleeps out its timeout instead, and the
    next wait connects again; callers look at the queue after every wait anyway.
    """

    def __init__(self, engine: Engine, channels: Sequence[str]) -> None:
        self._engine = engine
        self._channels = list(channels)
        self._raw: Any = None  # the pooled DBAPI connection we hold while listening
        self._failing = False  # said once per outage, not every second
        self.enabled = engine.dialect.name == "postgresql"

    def _connection(self) -> Any:
        if self._raw is None:
            raw = self._engine.raw_connection()
            try:
                conn = raw.driver_connection
                assert conn is not None
                conn.autocommit = True
                for channel in self._channels:
                    conn.execute(f'LISTEN "{channel}"')
            except BaseException:
                raw.invalidate()
                raise
            self._raw = raw
            if self._failing:
                self._failing = False
                log.warning("listening for notifications again")
        return self._raw.driver_connection

    def wait(self, timeout: float) -> bool:
        if not self.enabled:
            time.sleep(timeout)
            return False
        started = time.monotonic()
        try:
            conn = self._connection()
            came = bool(list(conn.notifies(timeout=timeout, stop_after=1)))
            if came:  # several may be waiting: take them all, one look covers them
                list(conn.notifies(timeout=0))
            return came
        except Exception as e:  # noqa: BLE001 - a lost connection: poll instead, reconnect next time
            reason = " ".join(str(e).split())
            if not self._failing:
                log.warning("listening for notifications failed (%s); polling until it reconnects", reason)
            else:
                log.debug("listening for notifications still fails: %s", reason)
            self._failing = True
            self.close()
            time.sleep(max(0.0, timeout - (time.monotonic() - started)))
            return False

    def close(self) -> None:
        """Drop the listening connection (never returned to the pool: it still listens)."""
        raw, self._raw = self._raw, None
        if raw is not None:
            try:
                raw.invalidate()
            except Exception:  # noqa: BLE001 - already broken
                log.debug("closing the listening connection failed", exc_info=True)
