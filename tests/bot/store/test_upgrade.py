"""``bot.store.db.upgrade`` on databases in use: rows survive a table rebuild, and two processes
migrating one new database at once both end at head (issue 15, point 13)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from bot.store import db

ROOT = Path(__file__).resolve().parents[3]


def test_a_sqlite_table_rebuild_keeps_the_rows_that_refer_to_it(tmp_path):
    """0007 rebuilds ``messages`` on SQLite (a new CHECK constraint); with foreign keys on, dropping
    the old table deleted every verdict (ON DELETE CASCADE)."""
    url = f"sqlite:///{tmp_path / 'q.db'}"
    db.upgrade(url, "0006")
    engine = db.make_engine(url)
    t = "'2026-01-01 00:00:00'"
    with engine.begin() as c:
        c.execute(text(f"INSERT INTO groups (id, name, topic, created_at, admin_ids) VALUES ('g', '', '', {t}, '[]')"))
        c.execute(
            text(
                "INSERT INTO messages (source, source_id, group_id, sender_id, sender_name, sent_at, kind, text, mentions, "
                "mentions_bot, quote, group_topic, stored_at, analysis_status, analysis_attempts, analysis_requeues) "
                f"VALUES ('r', '1', 'g', 'a', 'a', {t}, 'text', 'x', '[]', 0, '', '', {t}, 'done', 0, 0)"
            )
        )
        c.execute(
            text(
                f"INSERT INTO verdicts (message_pk, analyzer, label, score, reasons, model, created_at) VALUES (1, 'ad', 'ad', 1.0, '[]', '', {t})"
            )
        )
        c.execute(
            text(
                f"INSERT INTO moderation_actions (group_id, member_id, message_pk, action, reasons, strike, dry_run, created_at) VALUES ('g', 'a', 1, 'warn', '[]', 1, 0, {t})"
            )
        )
    db.upgrade(engine)
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM verdicts")).scalar() == 1
        assert c.execute(text("SELECT message_pk FROM moderation_actions")).scalar() == 1
        assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1  # on again for the bot
    assert db.current_revision(engine) == db.head_revision()
    engine.dispose()


def test_two_processes_migrating_one_new_database_at_once_both_succeed(db_url):
    script = "import sys; from bot.store import db; db.upgrade(sys.argv[1]); print('ok')"
    for _ in range(3):
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", script, db_url],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        outs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], [err[-800:] for _, err in outs]
    engine = db.make_engine(db_url)
    assert db.current_revision(engine) == db.head_revision()
    engine.dispose()
