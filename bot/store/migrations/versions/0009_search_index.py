"""Full-text search over ``message_search.terms`` (the console's message search, issue 18).

SQLite: ``message_search_fts``, an FTS5 table whose content is ``message_search`` itself (no second
copy of the words; rowid = ``message_pk``), kept in step by triggers on ``message_search``, so a row
deleted by any path (the retention purge, a message's cascade) leaves the index with it.
PostgreSQL: a GIN index on ``to_tsvector('simple', terms)``, which the search's queries spell the
same way. The terms are jieba's cut, space-separated; both tokenisers split on spaces.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FTS = "message_search_fts"
PG_INDEX = "ix_message_search_terms_fts"

SQLITE_UP = (
    f"CREATE VIRTUAL TABLE {FTS} USING fts5(terms, content='message_search', content_rowid='message_pk', "
    "tokenize='unicode61')",
    f"CREATE TRIGGER {FTS}_insert AFTER INSERT ON message_search BEGIN "
    f"INSERT INTO {FTS}(rowid, terms) VALUES (new.message_pk, new.terms); END",
    f"CREATE TRIGGER {FTS}_delete AFTER DELETE ON message_search BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, terms) VALUES ('delete', old.message_pk, old.terms); END",
    f"CREATE TRIGGER {FTS}_update AFTER UPDATE ON message_search BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, terms) VALUES ('delete', old.message_pk, old.terms); "
    f"INSERT INTO {FTS}(rowid, terms) VALUES (new.message_pk, new.terms); END",
    f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')",  # rows stored under 0008, if any
)
SQLITE_DOWN = (
    f"DROP TRIGGER IF EXISTS {FTS}_update",
    f"DROP TRIGGER IF EXISTS {FTS}_delete",
    f"DROP TRIGGER IF EXISTS {FTS}_insert",
    f"DROP TABLE IF EXISTS {FTS}",
)


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        for statement in SQLITE_UP:
            op.execute(statement)
    else:
        op.execute(f"CREATE INDEX {PG_INDEX} ON message_search USING gin (to_tsvector('simple', terms))")


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        for statement in SQLITE_DOWN:
            op.execute(statement)
    else:
        op.execute(f"DROP INDEX IF EXISTS {PG_INDEX}")
