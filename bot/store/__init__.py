"""Storage: typed models, query functions taking a ``Session``, and Alembic migrations.

Nothing here connects at import. Build an engine from the configured URL::

    engine, Session = open_store(config.database.url, migrate=True)
    with Session() as session:
        pk, created = queries.store_message(session, msg)
        session.commit()
"""

from bot.store import queries
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
    "queries",
    "session_factory",
    "upgrade",
]
