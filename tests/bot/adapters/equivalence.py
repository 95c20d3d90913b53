"""The check every export format passes: its sample file, imported, renders the same digest as the
same messages written as JSON Lines and replayed (``bot/adapters/replay.py``), so whatever the input,
what the pipeline stores and the digest shows is the same.

Each format's test calls :func:`assert_same_digest` with its sample (under ``samples/``) and the
JSON Lines twin of our own writing beside it: the same messages as the reader must produce them,
every field written out (``source`` and ``id`` as the reader sets them, so ``reply_to`` agrees).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from bot.adapters.errors import ReadResult
from bot.adapters.replay import read_jsonl
from bot.config import Config, Group
from bot.daily import make_digest
from bot.message import GroupMessage
from bot.wiring import build_pipeline, open_store

SAMPLES = Path(__file__).resolve().parent / "samples"


def _config(db: Path, group_id: str, topic: str) -> Config:
    config = Config()
    return config.model_copy(
        update={
            "database": config.database.model_copy(update={"url": f"sqlite:///{db}"}),
            "models": config.models.model_copy(update={"use": False}),
            "groups": (Group(id=group_id, name="样例群", topic=topic),),
        }
    )


def digest_text(messages: list[GroupMessage], group_id: str, day: date, db: Path, topic: str = "") -> str:
    """The text digest of ``day`` after storing and analysing ``messages`` (rules, dry run) in a new
    SQLite file; imported twice, to show a re-import stores nothing new."""
    config = _config(db, group_id, topic)
    store = open_store(config)
    try:
        pipeline = build_pipeline(config, store, dry_run=True)
        pipeline.ingest(messages)
        again = pipeline.ingest(messages)
        assert again.stored == 0, "importing the same export again stored something new"
        return "\n\n".join(make_digest(store.sessions, config, group_id, day).text_parts)
    finally:
        store.close()


def assert_same_digest(
    imported: ReadResult, twin: Path, group_id: str, day: date, tmp_path: Path, topic: str = ""
) -> None:
    replayed = read_jsonl(twin)
    assert not imported.errors, imported.errors
    assert not replayed.errors, replayed.errors
    # the twin states every field, source and ids included (JSON Lines may set "source"), so the
    # reader's mapping is checked field by field, replies and mentions too
    assert imported.messages == replayed.messages
    a = digest_text(imported.messages, group_id, day, tmp_path / "imported.db", topic)
    b = digest_text(replayed.messages, group_id, day, tmp_path / "replayed.db", topic)
    assert a == b
    assert a.strip()
