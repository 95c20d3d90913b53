"""Images through the real Wechaty puppet server (tests/puppet_server): the live bot's outbox sends a
PNG as ``MessageSendFile`` with a base64 FileBox, the puppet decodes the very bytes; a refused
image is replaced by its text, each part once; nothing is sent again after a restart.

Same harness as tests/bot/adapters/test_wechaty.py (needs ``npm ci`` in tests/puppet_server).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
from pathlib import Path

import pytest
from PIL import Image

from bot.adapters.wechaty import MAX_IMAGE_BYTES, WechatyPlatform
from bot.config import Config
from bot.message import PlatformError
from bot.store import outgoing as outgoing_db
from tests.bot.adapters.test_wechaty import (  # noqa: F401 - server is a fixture
    ROOM,
    PuppetServer,
    Running,
    _start,
    _stop,
    make_config,
    server,
)
from tests.bot.live_helpers import asyncio_debug, off_loop  # noqa: F401 - asyncio_debug is a fixture

pytestmark = pytest.mark.usefixtures("asyncio_debug")

PARTS = ["(1/2)\n今日群聊摘要：大模型部署与量化", "(2/2)\n明天见。——群智"]
OWNER = "wxid_owner"


def noisy_png(width: int = 750, height: int = 300) -> bytes:
    """A PNG about as large as a long card (noise does not compress): ~700 KB."""
    im = Image.frombytes("RGB", (width, height), random.Random(20).randbytes(width * height * 3))
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


def _config(tmp_path: Path, max_retries: int = 5) -> Config:
    config = make_config(tmp_path)
    send = config.send.model_copy(update={"max_retries": max_retries})
    return config.model_copy(update={"send": send})


async def _queue(live: Running, png: bytes, *, to_group: bool = True) -> int:
    def queue() -> int:
        with live.bot.store.sessions.begin() as s:
            if to_group:
                return live.bot.outbox.say_image(s, ROOM, png, PARTS, name="digest-2026-12-04.png", purpose="digest")
            return live.bot.outbox.tell_image(s, OWNER, png, PARTS, name="digest-2026-12-04.png", purpose="digest")

    pk = await off_loop(queue)
    live.bot.sender.wake()
    return pk


async def _ended(live: Running, pk: int) -> outgoing_db.OutgoingRecord:
    async def done():  # noqa: ANN202
        with live.bot.store.sessions() as s:
            row = next(r for r in outgoing_db.outgoing(s) if r.pk == pk)
        return row if (row.sent_at or row.failed_at or row.uncertain_at) else None

    return await live.until(done, f"outbox row {pk} to end")


async def test_an_image_reaches_the_room_and_a_contact_byte_for_byte_once(server: PuppetServer, tmp_path: Path) -> None:
    png = noisy_png()
    assert 300_000 < len(png) < MAX_IMAGE_BYTES
    config = _config(tmp_path)
    live = await _start(server, config)
    try:
        into_room = await _queue(live, png)
        to_owner = await _queue(live, png, to_group=False)
        for pk in (into_room, to_owner):
            assert (await _ended(live, pk)).sent_at is not None
        sent = await server.sent()
        want = {
            "type": "image",
            "text": "",
            "file": "digest-2026-12-04.png",
            "mime": "image/png",
            "size": len(png),
            "sha256": hashlib.sha256(png).hexdigest(),
        }
        assert [({k: m.get(k) for k in want}, m["room"], m["to"]) for m in sent] == [
            (want, ROOM, None),
            (want, None, OWNER),
        ]
    finally:
        await _stop(live)
    again = await _start(server, config)  # a restart on the same database sends nothing again
    try:
        await asyncio.sleep(2.0)
        assert await server.sent() == sent
    finally:
        await _stop(again)


async def test_an_image_the_puppet_refuses_is_replaced_by_its_text_each_part_once(
    server: PuppetServer, tmp_path: Path
) -> None:
    config = _config(tmp_path, max_retries=0)  # give up at the first refusal: the backoff is tested elsewhere
    live = await _start(server, config)
    try:
        assert (await server.aapi("POST", "/control", {"file_error_count": 1}))["file_error_count"] == 1
        pk = await _queue(live, noisy_png(200, 100))
        row = await _ended(live, pk)
        assert row.failed_at is not None and "refused by the test control" in (row.last_error or "")

        async def parts_sent():  # noqa: ANN202
            room = [m for m in await server.sent() if m["room"] == ROOM]
            return room if len(room) >= 2 else None

        room = await live.until(parts_sent, "the text in the image's place")
        await asyncio.sleep(1.5)  # nothing more comes
        room = [m for m in await server.sent() if m["room"] == ROOM]
        assert [(m["type"], m["text"]) for m in room] == [("text", p) for p in PARTS]
        with live.bot.store.sessions() as s:
            assert outgoing_db.outgoing(s, pending_only=True) == []
            assert [r.instead_of_pk for r in outgoing_db.outgoing(s) if r.pk != pk] == [pk, pk]
    finally:
        await _stop(live)


async def test_an_image_too_large_for_one_request_is_refused_before_it_leaves(tmp_path: Path) -> None:
    platform = WechatyPlatform("127.0.0.1:1", "qunzhi-test", cache_dir=tmp_path / "wechaty")
    with pytest.raises(PlatformError, match="more than the") as e:
        await platform.send_image(ROOM, b"\x89PNG\r\n\x1a\n" + bytes(MAX_IMAGE_BYTES), "card.png")
    assert e.value.retry is False
