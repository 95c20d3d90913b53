"""A platform double speaking bot.live's own protocol (not Wechaty's): it records what the bot
does and lets a test feed messages. The Wechaty edge is tested against a real puppet server in
tests/bot/adapters/test_wechaty.py.

Also ``asyncio_debug``, the fixture the live tests run under: asyncio's debug mode, failing the
test on a call from a wrong thread or a callback that stalls the loop. Import it into a test
module and add ``pytestmark = pytest.mark.usefixtures("asyncio_debug")``."""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest

from bot.commands import registry
from bot.live import LiveBot, MessageHandler, RoomHandler
from bot.message import GroupMessage, MessageKind, NotConnected, RoomInfo
from bot.store import analysis as analysis_db, outgoing as outgoing_db
from tests.bot.wording import assert_no_english

GROUP = "room1@chatroom"
BOT = "wxid_bot"
OWNER = "wxid_owner"
ADMIN = "wxid_admin"
T = TypeVar("T")
T0 = datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai


class RecordingPlatform:
    source = "wechaty"  # like the Wechaty edge: the live bot analyses these only

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, tuple[str, ...]]] = []  # (group, text, mentions)
        self.private: list[tuple[str, str]] = []
        self.kicks: list[tuple[str, str]] = []
        self.added: list[tuple[str, str]] = []
        self.connected = True
        self.fail_next = 0
        self.inbox: asyncio.Queue[GroupMessage] = asyncio.Queue()
        self.received: list[GroupMessage] = []  # every message handed to the bot, in order
        self._on_connected: list[Callable[[], None]] = []

    def on_connected(self, callback: Callable[[], None]) -> None:
        self._on_connected.append(callback)

    def reconnect(self) -> None:
        """Become connected again and say so, as a platform's login does."""
        self.connected = True
        for callback in self._on_connected:
            callback()

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
            msg = await self.inbox.get()
            self.received.append(msg)
            await on_message(msg)


_ids = itertools.count(1)


@dataclass
class Harness:
    """A running ``LiveBot`` on a test platform: feed it messages, wait until it has settled."""

    bot: LiveBot
    platform: RecordingPlatform
    task: asyncio.Task

    async def say(self, *messages: GroupMessage) -> None:
        for m in messages:
            await self.platform.inbox.put(m)
        await self.settle()

    async def settle(self, rounds: int = 60) -> None:
        """Wait until the inbox is drained, nothing is pending and the outbox is empty."""
        quiet = 0
        for _ in range(rounds * 10):
            await asyncio.sleep(0.02)
            with self.bot.store.sessions() as s:
                busy = (
                    not self.platform.inbox.empty()
                    or self.bot.received != self.bot.handled
                    or analysis_db.analysis_counts(s)["pending"] > 0
                    or bool(outgoing_db.outgoing(s, pending_only=True))
                )
            quiet = 0 if busy else quiet + 1
            if quiet >= 5:
                return
        raise AssertionError("the bot did not settle")

    def texts(self) -> list[str]:
        return [t for _, t, _ in self.platform.sent]


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
        id=f"live-{next(_ids)}",
        source="wechaty",
        group_id=GROUP,
        sender_id=sender,
        sender_name=name or sender,
        sent_at=T0 + timedelta(minutes=minutes),
        kind=kind,
        text=text,
        group_topic="AI 交流群",
        mentions=mentions,
        mentions_bot=BOT in mentions,
        reply_to=reply_to,
    )


async def off_loop(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run set-up (opening a store, building a bot) on a thread. ``qunzhi run`` does it before the
    event loop starts; a test's loop is already running and watched, and its own set-up is not what
    the watch is for."""
    return await asyncio.to_thread(fn, *args, **kwargs)


# --- asyncio debug mode -------------------------------------------------------------------------------

SLOW_CALLBACK_SECONDS = 1.0  # a callback holding the loop this long is a stall (a blocking call)
THREAD_UNSAFE = "Non-thread-safe operation"  # what debug mode raises for call_soon from another thread


class LoopWatch(logging.Handler):
    """Collects what asyncio's debug mode reports: thread-unsafe calls (raised where they happen,
    and logged wherever they were caught), callbacks slower than ``SLOW_CALLBACK_SECONDS``, and
    exceptions nobody retrieved."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.problems: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" [{type(record.exc_info[1]).__name__}: {record.exc_info[1]}]"
        slow = record.name == "asyncio" and text.startswith("Executing ")
        if THREAD_UNSAFE in text or slow:
            self.problems.append(text)


@functools.cache
def load_text_tools_once() -> None:
    """What the live bot loads on first use (jieba's dictionaries), loaded before any test's loop
    runs, as ``qunzhi run`` does with ``LiveBot.warm_up``: loaded on the worker meanwhile, they hold
    the GIL long enough for asyncio to report the loop's callbacks as slow."""
    from bot.config import Config
    from bot.live import load_text_tools
    from bot.pipeline import warm_up
    from bot.wiring import build_extractors, build_rule_analyzers

    warm_up(build_rule_analyzers(), build_extractors(Config(), ner=False))
    load_text_tools()


@pytest.fixture
async def asyncio_debug() -> AsyncIterator[LoopWatch]:
    """Run the test's event loop in asyncio debug mode; fail the test if asyncio reports a call
    from a wrong thread or a callback that stalled the loop."""
    load_text_tools_once()  # before debug mode: loading is not what is being watched
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = SLOW_CALLBACK_SECONDS
    watch = LoopWatch()
    root = logging.getLogger()
    root.addHandler(watch)
    try:
        yield watch
    finally:
        root.removeHandler(watch)
    assert not watch.problems, "asyncio debug mode reported:\n" + "\n".join(watch.problems)


# --- everything the bot said is Chinese ----------------------------------------------------------------

FIXTURE_IDS = (GROUP, BOT, OWNER, ADMIN, "wxid_cfgadmin", "wxid_super")


def fixture_words(received: list[GroupMessage], extra: tuple[str, ...] = ()) -> list[str]:
    """What a test put in and the bot may quote back: ids, names, topics and message texts."""
    out = [*FIXTURE_IDS, *extra]
    for m in received:
        if m.sender_id == BOT:  # the bot's own words, echoed back: they are what is being checked
            continue
        out += [m.sender_id, m.sender_name, m.group_id, m.group_topic, m.text, *m.mentions]
    return [w for w in out if w]


def assert_said_only_chinese(platform: RecordingPlatform, stored: Sequence[GroupMessage] = ()) -> None:
    """No English in anything the bot said in a room or privately, beyond command names after
    "/" and what the test itself put in: the messages it received and those ``stored`` before it
    started (tests/bot/wording.py)."""
    said = [t for _, t, _ in platform.sent] + [t for _, t in platform.private]
    words = fixture_words([*stored, *platform.received])
    assert_no_english(said, words, never=[c.name for c in registry.commands])
