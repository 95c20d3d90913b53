"""A platform double speaking bot.live's own protocol (not Wechaty's): it records what the bot
does and lets a test feed messages. The Wechaty edge is tested against a real puppet server in
tests/bot/adapters/test_wechaty.py."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timedelta, timezone

from bot.message import GroupMessage, MessageKind, NotConnected, RoomInfo
from bot.live import MessageHandler, RoomHandler

GROUP = "room1@chatroom"
BOT = "wxid_bot"
OWNER = "wxid_owner"
ADMIN = "wxid_admin"
T0 = datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai


class RecordingPlatform:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, tuple[str, ...]]] = []  # (group, text, mentions)
        self.private: list[tuple[str, str]] = []
        self.kicks: list[tuple[str, str]] = []
        self.added: list[tuple[str, str]] = []
        self.connected = True
        self.fail_next = 0
        self.inbox: asyncio.Queue[GroupMessage] = asyncio.Queue()

    @property
    def self_id(self) -> str:
        return BOT

    @property
    def self_name(self) -> str:
        return "群智"

    def _check(self) -> None:
        if not self.connected:
            raise NotConnected("down")
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("send failed")

    async def send_text(self, group_id: str, text: str, mentions: tuple[str, ...] = ()) -> None:
        self._check()
        self.sent.append((group_id, text, tuple(mentions)))

    async def send_private(self, contact_id: str, text: str) -> None:
        self._check()
        self.private.append((contact_id, text))

    async def kick(self, group_id: str, member_id: str) -> None:
        self._check()
        self.kicks.append((group_id, member_id))

    async def add_member(self, group_id: str, member_id: str) -> None:
        self._check()
        self.added.append((group_id, member_id))

    async def run(self, on_message: MessageHandler, on_room: RoomHandler) -> None:
        await on_room(RoomInfo(GROUP, "AI 交流群", OWNER, (ADMIN,)))
        while True:
            await on_message(await self.inbox.get())


_ids = itertools.count(1)


def message(
    text: str,
    sender: str = "wxid_alice",
    *,
    minutes: float = 0,
    mentions: tuple[str, ...] = (),
    reply_to: str | None = None,
    name: str | None = None,
    kind: MessageKind = MessageKind.TEXT,
) -> GroupMessage:
    return GroupMessage(
        id=f"live-{next(_ids)}", source="wechaty", group_id=GROUP, sender_id=sender, sender_name=name or sender,
        sent_at=T0 + timedelta(minutes=minutes), kind=kind, text=text, group_topic="AI 交流群",
        mentions=mentions, mentions_bot=BOT in mentions, reply_to=reply_to,
    )
