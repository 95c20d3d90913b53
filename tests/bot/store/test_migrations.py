"""Migrations reach head on both backends and match the models; a bad database fails clearly."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from bot.store import db
from bot.store.models import Base

TABLES = {
    "groups",
    "members",
    "messages",
    "verdicts",
    "entities",
    "moderation_actions",
    "corrections",
    "digests",
    "outgoing",
    "member_profiles",
}


def test_upgrade_to_head_creates_every_table(db_url: str) -> None:
    engine = db.make_engine(db_url)
    try:
        assert db.current_revision(engine) is None
        with pytest.raises(db.StoreError, match="never been migrated"):
            db.check_schema(engine)
        db.upgrade(db_url)
        db.upgrade(db_url)  # idempotent
        assert db.current_revision(engine) == db.head_revision()
        db.check_schema(engine)
        assert TABLES <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _modelled(name: str | None, type_: str, _parent: object) -> bool:
    """What the models describe: not the search index of migration 0009 (SQLite's FTS5 table and
    its shadow tables, PostgreSQL's expression index), which only SQL can spell."""
    return not (name or "").startswith(("message_search_fts", "ix_message_search_terms_fts"))


def test_models_match_migrated_schema(engine) -> None:  # noqa: ANN001
    with engine.connect() as conn:
        opts = {"compare_type": True, "include_name": _modelled}
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)
    assert diff == []


def test_downgrade_to_base_and_back(engine) -> None:  # noqa: ANN001
    from alembic import command

    command.downgrade(db.alembic_config(engine), "base")
    assert not TABLES & set(inspect(engine).get_table_names())
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()


def test_open_store_migrates_or_refuses(db_url: str) -> None:
    with pytest.raises(db.StoreError, match="never been migrated"):
        db.open_store(db_url)
    engine, factory = db.open_store(db_url, migrate=True)
    try:
        with factory() as s:
            assert s.execute(text("SELECT count(*) FROM messages")).scalar_one() == 0
    finally:
        engine.dispose()


def test_sqlite_engine_creates_folder_and_sets_pragmas(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "deep" / "er" / "q.db"
    engine = db.make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar_one() == db.SQLITE_BUSY_TIMEOUT_MS
        assert path.exists()
    finally:
        engine.dispose()


def test_unreachable_database_is_a_store_error() -> None:
    engine = db.make_engine("postgresql://nobody:secret@127.0.0.1:1/nothing")
    try:
        with pytest.raises(db.StoreError, match="cannot reach") as e:
            db.check_schema(engine)
        assert "secret" not in str(e.value)
        assert "postgresql+psycopg://" in str(e.value)
    finally:
        engine.dispose()
    with pytest.raises(db.StoreError, match="migration failed|cannot reach"):
        db.upgrade("postgresql+psycopg://nobody@127.0.0.1:1/nothing")


def test_unsupported_url_is_a_store_error() -> None:
    with pytest.raises(db.StoreError, match="unsupported"):
        db.make_engine("mysql://x@localhost/db")
    with pytest.raises(db.StoreError, match="not a database URL"):
        db.make_engine("::nonsense::")


def test_outgoing_ops_are_checked_by_the_database_after_0004(engine) -> None:  # noqa: ANN001
    from alembic import command
    from sqlalchemy.exc import IntegrityError

    row = (
        "INSERT INTO outgoing (op, group_id, contact_id, text, mentions, purpose, created_at, not_before, attempts) "
        "VALUES (:op, 'g@chatroom', 'wxid_a', '', '[]', 'test', :t, :t, 0)"
    )
    t = "2026-11-26 08:00:00+00:00"
    command.downgrade(db.alembic_config(engine), "0003")
    with engine.begin() as conn:
        conn.execute(text(row), {"op": "kick", "t": t})
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text(row), {"op": "add", "t": t})
    db.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text(row), {"op": "add", "t": t})
        assert conn.execute(text("SELECT op FROM outgoing ORDER BY pk")).scalars().all() == ["kick", "add"]
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text(row), {"op": "bogus", "t": t})
    command.downgrade(db.alembic_config(engine), "0003")  # an 'add' row cannot stay under the old check
    with engine.connect() as conn:
        assert conn.execute(text("SELECT op FROM outgoing")).scalars().all() == ["kick"]
