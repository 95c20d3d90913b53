"""``[digest] card = true``: the scheduled daily digest goes out as its PNG card, the text as the
fallback (or after it, with ``card_with_text``), on real SQLite and PostgreSQL; the HTML is kept
as before."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.config import Config
from bot.digest.card import WIDTH, CardFontError, find_cjk_font
from bot.scheduler import stored_parts
from bot.store import outgoing as outgoing_db
from tests.bot.live_helpers import RecordingPlatform
from tests.bot.test_outbox import FakeTime, drain_all, make_sender
from tests.bot.test_outbox_image import ImagePlatform
from tests.bot.test_scheduler import AT_2100, DAY, G1, G2, Clock, digest_of, group, ingest, make, store  # noqa: F401
from tests.needs import missing


@pytest.fixture(scope="module", autouse=True)
def cjk_font() -> None:
    try:
        find_cjk_font()
    except CardFontError as e:
        missing(str(e))


def card_config(**digest: object) -> Config:
    return Config.model_validate(
        {
            "models": {"use": False},
            "digest": {"max_part_chars": 300, "card": True, **digest},
            "groups": [group(G1), group(G2, digest_delivery="admins", digest_recipients=["wxid_r1", "wxid_r2"])],
        }
    )


def _rows(sessions) -> list[outgoing_db.OutgoingRecord]:
    with sessions() as s:
        return outgoing_db.outgoing(s)


def _image(sessions, pk: int) -> outgoing_db.OutgoingImageRecord:
    with sessions() as s:
        image = outgoing_db.outgoing_image(s, pk)
    assert image is not None
    return image


def test_the_card_goes_to_the_group_and_each_recipient_with_the_text_as_its_fallback(store):
    engine, sessions = store
    cfg = card_config()
    ingest(sessions, cfg, G1, G2)
    sched = make(sessions, cfg, Clock(AT_2100))
    assert sched.run(G1, DAY) and sched.run(G2, DAY)
    rows = _rows(sessions)
    assert [(r.op, r.group_id, r.contact_id, r.purpose) for r in rows] == [
        ("image", G1, None, "digest"),
        ("image", None, "wxid_r1", "digest"),
        ("image", None, "wxid_r2", "digest"),
    ]
    p1, p2 = stored_parts(digest_of(sessions, G1).text), stored_parts(digest_of(sessions, G2).text)
    assert len(p1) >= 2  # several parts: all of them are the fallback, in order
    first = _image(sessions, rows[0].pk)
    assert first.fallback == tuple(p1) and first.name == f"digest-{DAY.isoformat()}.png"
    assert all(_image(sessions, r.pk).fallback == tuple(p2) for r in rows[1:])
    card = Image.open(io.BytesIO(first.png))
    assert card.format == "PNG" and card.width == WIDTH
    assert digest_of(sessions, G1).html  # the HTML is kept as before
    assert not sched.run(G1, DAY)  # exactly once: a second run queues nothing
    assert len(_rows(sessions)) == 3


async def test_the_card_goes_out_once_and_on_a_platform_without_images_the_text_goes_instead(store):
    engine, sessions = store
    cfg = card_config()
    ingest(sessions, cfg, G1)
    assert make(sessions, cfg, Clock(AT_2100)).run(G1, DAY)
    parts = stored_parts(digest_of(sessions, G1).text)
    (image,) = _rows(sessions)
    sent_png = _image(sessions, image.pk).png

    ft = FakeTime(AT_2100)  # the rows are due from the digest time on
    text_only = RecordingPlatform()  # sends no images: the parts go instead, each once
    assert await drain_all(make_sender(sessions, text_only, ft)) == 1 + len(parts)
    assert [t for _, t, _ in text_only.sent] == parts
    ft.advance(3600)
    images = ImagePlatform()
    assert await drain_all(make_sender(sessions, images, ft)) == 0  # never the image after its text
    assert images.images == [] and len(sent_png) > 10_000


def test_card_with_text_sends_the_card_then_the_text(store):
    engine, sessions = store
    cfg = card_config(card_with_text=True)
    ingest(sessions, cfg, G1)
    assert make(sessions, cfg, Clock(AT_2100)).run(G1, DAY)
    parts = stored_parts(digest_of(sessions, G1).text)
    rows = _rows(sessions)
    assert [(r.op, r.text) for r in rows] == [("image", ""), *(("text", p) for p in parts)]
    assert _image(sessions, rows[0].pk).fallback == ()  # the text goes anyway: not a second time
