"""Images through the outbox (the digest card), on real SQLite and PostgreSQL: each image sent once,
its text sent instead, each part once, only when the image is given up for good; never both.

Fake clock and sleep as in tests/bot/test_outbox.py; the same against the real puppet server is
in tests/bot/adapters/test_wechaty_image.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import random
from datetime import timedelta

import pytest
from PIL import Image

from bot.config import Send
from bot.message import ImagesUnsupported, OutcomeUnknown, PlatformError
from bot.outbox import Outbox, OutboxSender
from bot.store import outgoing as outgoing_db
from tests.bot.live_helpers import RecordingPlatform
from tests.bot.test_outbox import GA, GB, T0, FakeTime, _until, drain_all, make_sender, row, rows

ADMIN = "wxid_admin"
PARTS = ["(1/2)\n今日群聊摘要：大模型部署", "(2/2)\n——群智"]


def png(colour: str = "#0b6e3f", size: tuple[int, int] = (60, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


CARD = png()


class ImagePlatform(RecordingPlatform):
    """Records images (target, sha256, name); ``fail_images`` first image sends are answered with
    an error, ``unsure_images`` leave without an answer, ``stuck`` hangs them until released."""

    def __init__(self, *, fail_images: int = 0, retry: bool = True, unsure_images: int = 0) -> None:
        super().__init__()
        self.images: list[tuple[str, str, str]] = []
        self.attempts = 0
        self.fail_images = fail_images
        self.retry = retry
        self.unsure_images = unsure_images
        self.release: asyncio.Event | None = None

    async def send_image(self, target: str, png: bytes, name: str) -> None:
        self._check()
        self.attempts += 1
        if self.release is not None:
            await self.release.wait()
        if self.fail_images:
            self.fail_images -= 1
            raise PlatformError("file too large for this account", retry=self.retry)
        self.images.append((target, hashlib.sha256(png).hexdigest(), name))
        if self.unsure_images:
            self.unsure_images -= 1
            raise OutcomeUnknown("sent, but no answer in 30 s")


class NoImagesPlatform(RecordingPlatform):
    """A platform that says it sends no images."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    async def send_image(self, target: str, png: bytes, name: str) -> None:
        self.attempts += 1
        raise ImagesUnsupported("this platform sends text only")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def image_left(sessions, pk: int) -> outgoing_db.OutgoingImageRecord | None:
    with sessions() as s:
        return outgoing_db.outgoing_image(s, pk)


# --- queueing ----------------------------------------------------------------------------------------


async def test_an_image_is_queued_with_its_picture_apart_and_sent_once_then_its_picture_is_dropped(sessions):
    ft = FakeTime()
    with sessions.begin() as s:
        pk = Outbox(clock=ft.clock).say_image(s, GA, CARD, PARTS, name="digest-2026-11-25.png", purpose="digest")
    (queued,) = rows(sessions)
    assert (queued.pk, queued.op, queued.group_id, queued.contact_id, queued.text, queued.purpose) == (
        pk,
        "image",
        GA,
        None,
        "",
        "digest",
    )
    kept = image_left(sessions, pk)
    assert kept is not None and kept.png == CARD and kept.fallback == tuple(PARTS)

    platform = ImagePlatform()
    assert await drain_all(make_sender(sessions, platform, ft)) == 1
    assert platform.images == [(GA, _sha(CARD), "digest-2026-11-25.png")]
    assert platform.sent == [] and platform.private == []  # sent: its text never goes
    r = row(sessions, pk)
    assert r.sent_at == T0 and r.attempts == 1 and r.failed_at is None
    assert image_left(sessions, pk) is None and len(rows(sessions)) == 1

    ft.advance(3600)
    again = ImagePlatform()
    assert await drain_all(make_sender(sessions, again, ft)) == 0  # a restart sends nothing again
    assert (again.images, again.sent) == ([], [])


BAD_INPUT = [
    ({"png": b"GIF89a not a png"}, "png: must be the bytes of a PNG"),
    ({"name": "卡片.png"}, "name: must be an ASCII file name"),
    ({"name": "card.jpg"}, "name: must be an ASCII file name"),
    ({"fallback": ["第一部分", "  "]}, "fallback: every text part must be a non-empty string"),
    ({"group_id": GA, "contact_id": ADMIN}, "needs a group_id or a contact_id"),
    ({"group_id": None}, "needs a group_id or a contact_id"),
]


def test_bad_image_input_is_a_clear_error_and_queues_nothing(sessions):
    for change, error in BAD_INPUT:
        args = {"png": CARD, "name": "card.png", "fallback": PARTS, "group_id": GA, **change}
        with pytest.raises(ValueError, match=error), sessions.begin() as s:
            outgoing_db.enqueue_image(s, args.pop("png"), **args)
    assert rows(sessions) == []


# --- the fallback ------------------------------------------------------------------------------------


async def test_an_image_refused_after_the_retries_is_replaced_by_its_text_in_its_place(sessions, caplog):
    ft = FakeTime()
    box = Outbox(clock=ft.clock)
    with sessions.begin() as s:
        image = box.say_image(s, GA, CARD, PARTS, purpose="digest")
    with sessions.begin() as s:
        (later,) = box.say(s, GA, "稍后的回复")  # queued after the image, in the same room
        box.say(s, GB, "另一个群")
    platform = ImagePlatform(fail_images=10)
    caplog.set_level(logging.INFO, logger="bot.outbox")
    sender = make_sender(sessions, platform, ft, send=Send(jitter_seconds=(0, 0), max_retries=2))
    for wait in (0, 2, 4):  # the first try and two retries after their backoff
        ft.advance(wait)
        await sender.drain_once()
    assert platform.attempts == 3 and platform.images == []
    r = row(sessions, image)
    assert r.failed_at is not None and r.attempts == 3 and "file too large" in (r.last_error or "")
    assert image_left(sessions, image) is None
    instead = [x for x in rows(sessions) if x.instead_of_pk == image]
    assert [(x.op, x.group_id, x.text, x.purpose) for x in instead] == [("text", GA, p, "digest") for p in PARTS]

    assert await drain_all(sender) >= 2
    # the text in the image's place: before the reply queued after the image
    assert [t for g, t, _ in platform.sent if g == GA] == [*PARTS, "稍后的回复"]
    assert row(sessions, later).sent_at is not None
    errors = [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert len(errors) == 1 and "its text goes instead" in errors[0]

    ft.advance(3600)
    assert await drain_all(sender) == 0
    assert await drain_all(make_sender(sessions, ImagePlatform(), ft)) == 0  # nor after a restart
    assert [t for g, t, _ in platform.sent if g == GA] == [*PARTS, "稍后的回复"]  # each part once


async def test_a_retried_image_that_then_goes_out_never_sends_its_text(sessions):
    ft = FakeTime()
    with sessions.begin() as s:
        image = Outbox(clock=ft.clock).say_image(s, GA, CARD, PARTS)
    platform = ImagePlatform(fail_images=1)
    sender = make_sender(sessions, platform, ft, send=Send(jitter_seconds=(0, 0), max_retries=3))
    await sender.drain_once()
    assert row(sessions, image).not_before == T0 + timedelta(seconds=2)  # retried after the backoff
    ft.advance(2)
    assert await drain_all(sender) == 1
    assert platform.images == [(GA, _sha(CARD), "card.png")] and platform.sent == []
    r = row(sessions, image)
    assert r.sent_at is not None and r.attempts == 2
    assert [x for x in rows(sessions) if x.instead_of_pk is not None] == []


@pytest.mark.parametrize("platform_kind", ["says-no-images", "has-no-send-image"])
async def test_a_platform_without_images_gets_the_text_at_once_without_retries(sessions, caplog, platform_kind):
    ft = FakeTime()
    with sessions.begin() as s:
        image = Outbox(clock=ft.clock).tell_image(s, ADMIN, CARD, PARTS, purpose="digest")
    platform = NoImagesPlatform() if platform_kind == "says-no-images" else RecordingPlatform()
    caplog.set_level(logging.INFO, logger="bot.outbox")
    sender = make_sender(sessions, platform, ft, send=Send(jitter_seconds=(0, 0), max_retries=5))
    assert await drain_all(sender) == 3  # the image, then its two parts at once (no backoff)
    assert platform.private == [(ADMIN, p) for p in PARTS]
    r = row(sessions, image)
    assert r.failed_at == T0 and r.attempts == 1
    assert [(x.op, x.contact_id, x.instead_of_pk) for x in rows(sessions) if x.pk != image] == [
        ("private", ADMIN, image)
    ] * 2
    warnings = [rec for rec in caplog.records if rec.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert "sends no images" in warnings[0].getMessage()


async def test_an_image_with_no_fallback_given_up_sends_nothing_instead(sessions):
    ft = FakeTime()
    with sessions.begin() as s:
        image = Outbox(clock=ft.clock).say_image(s, GA, CARD, [])
    platform = ImagePlatform(fail_images=1, retry=False)
    assert await drain_all(make_sender(sessions, platform, ft)) == 1
    assert row(sessions, image).failed_at is not None
    assert platform.sent == [] and len(rows(sessions)) == 1


# --- unknown outcomes and stops: maybe delivered, never both ------------------------------------------


@pytest.mark.parametrize("to_group", [True, False], ids=["group", "contact"])
async def test_an_image_with_an_unknown_outcome_is_maybe_delivered_neither_resent_nor_replaced(sessions, to_group):
    ft = FakeTime()
    with sessions.begin() as s:
        box = Outbox(clock=ft.clock)
        image = box.say_image(s, GA, CARD, PARTS) if to_group else box.tell_image(s, ADMIN, CARD, PARTS)
    platform = ImagePlatform(unsure_images=1)
    sender = make_sender(sessions, platform, ft, send=Send(jitter_seconds=(0, 0), max_retries=5))
    assert await drain_all(sender) == 1
    r = row(sessions, image)
    assert r.uncertain_at == T0 and r.sent_at is None and r.failed_at is None
    assert image_left(sessions, image) is None
    ft.advance(3600)
    assert await drain_all(sender) == 0
    assert await drain_all(make_sender(sessions, ImagePlatform(), ft)) == 0
    assert len(platform.images) == 1 and platform.sent == [] and platform.private == []
    assert rows(sessions, pending_only=True) == []


async def test_a_restart_mid_send_sends_neither_the_image_again_nor_its_text(sessions):
    ft = FakeTime()
    with sessions.begin() as s:
        image = Outbox(clock=ft.clock).say_image(s, GA, CARD, PARTS)
    platform = ImagePlatform()
    platform.release = asyncio.Event()  # the puppet call hangs: the bot stops meanwhile
    sender = OutboxSender(sessions, platform, Send(jitter_seconds=(0, 0)), clock=ft.clock, rng=random.Random(1))
    task = asyncio.create_task(sender.run())
    await _until(lambda: platform.attempts == 1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    r = row(sessions, image)
    assert r.uncertain_at is not None and "stopped while sending" in (r.last_error or "")

    ft.advance(3600)
    again = ImagePlatform()  # the restart: a new sender on the same store
    assert await drain_all(make_sender(sessions, again, ft)) == 0
    assert (again.images, again.sent) == ([], [])
    assert [x for x in rows(sessions) if x.instead_of_pk is not None] == []
