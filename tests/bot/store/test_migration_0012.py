"""Migration 0012 (outbox images) up and down on SQLite and PostgreSQL: the database refuses 'image'
before it and takes it after; going back turns an image still to be sent into its text."""

from __future__ import annotations

import io

import pytest
from alembic import command
from PIL import Image
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from bot.store import db, outgoing as outgoing_db

T = "2026-12-04 13:00:00+00:00"
ROW = (
    "INSERT INTO outgoing (op, group_id, contact_id, text, mentions, purpose, created_at, not_before, attempts) "
    "VALUES (:op, 'g@chatroom', NULL, :text, '[]', 'digest', :t, :t, 0)"
)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "#ffffff").save(out, "PNG")
    return out.getvalue()


def test_0012_adds_image_rows_and_going_back_turns_open_images_into_their_text(engine) -> None:  # noqa: ANN001
    cfg = db.alembic_config(engine)
    command.downgrade(cfg, "0011")
    assert "outgoing_images" not in inspect(engine).get_table_names()
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text(ROW), {"op": "image", "text": "", "t": T})

    db.upgrade(engine)
    assert "outgoing_images" in inspect(engine).get_table_names()
    sessions = sessionmaker(engine)
    with sessions.begin() as s:
        sent = outgoing_db.enqueue_image(s, _png(), name="a.png", fallback=["旧图的文字"], group_id="g@chatroom")
        outgoing_db.mark_outgoing_sent(s, sent)
        waiting = outgoing_db.enqueue_image(s, _png(), name="b.png", fallback=["第一段", "第二段"], contact_id="wxid_r")
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text(ROW), {"op": "bogus", "t": T, "text": ""})

    command.downgrade(cfg, "0011")
    assert "outgoing_images" not in inspect(engine).get_table_names()
    with engine.connect() as conn:
        left = conn.execute(text("SELECT op, contact_id, text, purpose FROM outgoing ORDER BY pk")).all()
    # the sent image is gone (nothing to do); the waiting one goes as its two parts, privately
    assert [tuple(r) for r in left] == [("private", "wxid_r", "第一段", ""), ("private", "wxid_r", "第二段", "")]
    assert waiting > sent
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()
