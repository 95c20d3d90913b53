"""Engines, sessions and migrations. Nothing connects at import: build an engine from the configured URL.

SQLite (``sqlite:///var/qunzhi.db``) runs with WAL, foreign keys on and a busy timeout;
PostgreSQL is reached through psycopg 3 (``postgresql+psycopg://user@host:5432/db``; a bare
``postgresql://`` URL is read as psycopg too). ``upgrade(url)`` runs ``alembic upgrade head`` from the
migrations shipped inside this package, so it works from an installed or editable package alike.
"""

from __future__ import annotations

import time
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
MIGRATION_WAIT_S = 30.0  # how long a process waits for another one's migration of the same database
MIGRATION_LOCK_KEY = 0x71756E7A  # "qunz": the PostgreSQL advisory lock held while migrating


class StoreError(Exception):
    """The database cannot be used: unreachable, not migrated, or a record that is not there."""


def _url(url: str | URL) -> URL:
    try:
        u = make_url(url)
    except ArgumentError as e:
        raise StoreError(f"not a database URL: {e}") from None
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    if u.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(
            f"unsupported database {u.get_backend_name()!r}: use sqlite:///PATH or postgresql+psycopg://..."
        )
    return u


def describe_url(url: str | URL | Engine) -> str:
    """The URL with any password masked, for messages and logs."""
    try:
        u = url.url if isinstance(url, Engine) else make_url(url)
    except ArgumentError:
        return "(not a database URL)"
    return u.render_as_string(hide_password=True)


def _sqlite_on_connect(dbapi_conn: DBAPIConnection, _record: object) -> None:
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
    finally:
        cur.close()


def make_engine(url: str | URL, *, echo: bool = False) -> Engine:
    """An engine for ``url``; connects lazily. For SQLite files the parent folder is created."""
    u = _url(url)
    if u.get_backend_name() == "sqlite":
        database = u.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            try:
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"{describe_url(u)}: cannot create the folder for the database: {e}") from None
        engine = create_engine(u, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    try:
        return create_engine(u, echo=echo, pool_pre_ping=True)
    except NoSuchModuleError as e:
        raise StoreError(f"{describe_url(u)}: database driver missing: {e}") from None


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit (the records they build outlive the session)."""
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine | None = None) -> AlembicConfig:
    """An Alembic config pointing at the packaged migrations; no alembic.ini involved.

    With ``engine`` given, Alembic runs on it. For new revisions during development::

        from alembic import command
        command.revision(alembic_config(make_engine(url)), message="...", autogenerate=True)
    """
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for a database never migrated."""
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except DBAPIError as e:
        raise StoreError(f"{describe_url(engine)}: cannot reach the database: {_reason(e)}") from None


def upgrade(url: str | URL | Engine, revision: str = "head") -> None:
    """``alembic upgrade head`` (or to ``revision``) on the database at ``url``."""
    engine = url if isinstance(url, Engine) else make_engine(url)
    try:
        current_revision(engine)  # unreachable: say so at once, not after waiting for a migration
        with engine.connect() as conn:
            # Two processes may start on one new database at once (an import beside the live bot):
            # the migration runs under a lock, so the second waits, then finds it at head.
            _lock_for_migration(conn)
            try:
                cfg = alembic_config()
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
                conn.commit()
            finally:
                conn.rollback()
                if conn.dialect.name == "sqlite":
                    conn.exec_driver_sql("PRAGMA foreign_keys = ON")
                    conn.commit()
    except DBAPIError as e:
        # the lock wait ran out (a long migration): the database may still reach head meanwhile
        if revision == "head" and _migrated_meanwhile(engine):
            return
        raise StoreError(f"{describe_url(engine)}: migration failed: {_reason(e)}") from None
    finally:
        if engine is not url:
            engine.dispose()


def _lock_for_migration(conn: Connection) -> None:
    """Open the migration's transaction holding the database's migration lock: SQLite's write lock
    (``BEGIN IMMEDIATE``, which also makes its DDL one transaction), a PostgreSQL advisory lock.

    On SQLite foreign keys are off while migrating (``upgrade`` turns them on again): a batch
    migration rebuilds a table by copying it and dropping the old one, and with foreign keys on,
    that drop deletes every row referring to it (``ON DELETE CASCADE``: the messages' verdicts)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA foreign_keys = OFF")  # outside a transaction, or SQLite ignores it
        conn.commit()
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})


def _migrated_meanwhile(engine: Engine, wait_s: float = MIGRATION_WAIT_S) -> bool:
    """Whether the database reaches head within ``wait_s`` (another process's migration finishing)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            if current_revision(engine) == head_revision():
                return True
        except StoreError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


def check_schema(engine: Engine) -> None:
    """Raise :class:`StoreError` unless the database is reachable and migrated to head."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        state = "has never been migrated" if current is None else f"is at revision {current}"
        raise StoreError(
            f"{describe_url(engine)}: the database {state}, this code needs revision {head}; "
            "run the store upgrade (bot.store.upgrade(url)) first"
        )


def open_store(url: str | URL, *, migrate: bool = False) -> tuple[Engine, sessionmaker[Session]]:
    """Engine and session factory for ``url``, checked to be reachable and at head.

    With ``migrate=True`` the schema is upgraded first instead of refused.
    """
    engine = make_engine(url)
    if migrate:
        upgrade(engine)
    check_schema(engine)
    return engine, session_factory(engine)


def _reason(e: DBAPIError) -> str:
    text = str(e.orig) if e.orig is not None else str(e)
    return " ".join(text.split())[:500]


def ping(engine: Engine) -> None:
    """One round trip to the database (``/healthz``); raises what the driver raises."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
