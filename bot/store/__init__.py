"""Storage: typed models, query functions taking a ``Session``, and Alembic migrations.

The query functions live in one module per thing they serve: ``messages`` (storing and reading
messages), ``analysis`` (the analysis queue and claims), ``verdicts`` (messages with their verdicts
and entities), ``groups`` (groups, members, room roles, group settings), ``actions`` (moderation
actions and strikes), ``corrections`` (admins' labels), ``digests``, ``outgoing`` (the outbox's
rows), ``member_profiles`` and ``purge`` (retention); ``common`` holds the tables and helpers they
share. Only these modules build SQL (``tests/test_layers.py`` checks). Callers import a module
under its name with ``_db`` and call through it; a record type or a constant may be imported by
name::

    from bot.store import messages as messages_db
    from bot.store.groups import GroupRecord

Nothing here connects at import. Build an engine from the configured URL::

    engine, Session = open_store(config.database.url, migrate=True)
    with Session() as session:
        pk, created = messages_db.store_message(session, msg)
        session.commit()
"""

from bot.store.db import (
    StoreError,
    check_schema,
    current_revision,
    head_revision,
    make_engine,
    open_store,
    session_factory,
    upgrade,
)

__all__ = [
    "StoreError",
    "check_schema",
    "current_revision",
    "head_revision",
    "make_engine",
    "open_store",
    "session_factory",
    "upgrade",
]
