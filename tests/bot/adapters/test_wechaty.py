"""The live bot against a real Wechaty puppet server over gRPC on 127.0.0.1.

tests/puppet_server/server.js runs wechaty-puppet-service 0.31.26 over wechaty-puppet-mock 0.31.8
(the protocol generation python-wechaty 0.10.7 speaks) with a small HTTP control API: members speak
through it, and it tells what the bot sent and whom it removed. The bot under test is the real
thing: ``WechatyPlatform`` + ``LiveBot`` + the store (SQLite here; the store has its own
PostgreSQL tests) + the rule analyzers (the model is tested elsewhere and would only slow this).

Needs ``npm ci`` in tests/puppet_server (``.ci/run`` does it); skipped without it, failed under CI=true.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.adapters.wechaty import WechatyAuthError, WechatyConfigError, WechatyPlatform, split_quote
from bot.commands import registry
from bot.config import Config
from bot.live import LiveBot
from bot.store import (
    actions as actions_db,
    corrections as corrections_db,
    digests as digests_db,
    groups as groups_db,
    messages as messages_db,
    outgoing as outgoing_db,
    verdicts as verdicts_db,
)
from bot.store.common import BOT
from bot.store.models import Message
from bot.wiring import build_rule_analyzers, open_store
from tests.bot.live_helpers import asyncio_debug, off_loop  # noqa: F401 - asyncio_debug is a fixture
from tests.bot.wording import assert_no_english

SERVER_DIR = Path(__file__).resolve().parents[2] / "puppet_server"
ROOM = "ai-room@chatroom"
AD = "兼职刷单日赚500，加V：abc12345 详询"
AD2 = "代理微商招募，日结工资，加微信 wx_8899001 了解"
# the puppet server's fixture (tests/puppet_server/server.js): what the bot may quote back
FIXTURE_WORDS = (
    ROOM,
    "AI 交流群",
    "wxid_bot",
    "群智",
    "wxid_owner",
    "群主",
    "wxid_admin",
    "管理员",
    "wxid_alice",
    "Alice",
    "wxid_bob",
    "Bob",
    "wxid_spammer",
    "推广小王",
)

# every async test here runs its loop in asyncio debug mode: a wrong-thread call or a stalled loop fails it
pytestmark = pytest.mark.usefixtures("asyncio_debug")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _need_server() -> None:
    missing = []
    if shutil.which("node") is None:
        missing.append("node")
    if not (SERVER_DIR / "node_modules" / "wechaty-puppet-service").is_dir():
        missing.append(f"node_modules (run: cd {SERVER_DIR} && npm ci)")
    if missing:
        why = "the puppet server needs " + ", ".join(missing)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {why}", pytrace=False)
        pytest.skip(why)


class PuppetServer:
    """The Node puppet server as a child process, and its HTTP control API."""

    def __init__(self, token: str, *options: str) -> None:
        self.token = token
        self.options = options  # e.g. "--return-ids"
        self.grpc = _free_port()
        self.http = _free_port()
        self.proc: subprocess.Popen[str] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.grpc}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "node",
                str(SERVER_DIR / "server.js"),
                "--grpc-port",
                str(self.grpc),
                "--http-port",
                str(self.http),
                "--token",
                self.token,
                *self.options,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("READY"):
            self.stop()
            raise RuntimeError(f"puppet server did not start: {line!r}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None

    def api(self, method: str, path: str, body: dict | None = None):  # noqa: ANN201
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.http}{path}",
            data=data,
            method=method,
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    async def aapi(self, method: str, path: str, body: dict | None = None):  # noqa: ANN201
        return await asyncio.to_thread(self.api, method, path, body)

    async def say(self, member: str, text: str, mentions: list[str] | None = None) -> str:
        body: dict = {"from": member, "room": ROOM, "text": text}
        if mentions:
            body["mentions"] = mentions
        return (await self.aapi("POST", "/say", body))["id"]

    async def sent(self) -> list[dict]:
        return await self.aapi("GET", "/sent")

    async def members(self) -> list[str]:
        state = await self.aapi("GET", "/state")
        return next(r for r in state["rooms"] if r["id"] == ROOM)["member_ids"]


@pytest.fixture
def server() -> Iterator[PuppetServer]:
    _need_server()
    s = PuppetServer(f"qunzhi-test-{uuid.uuid4().hex}")
    s.start()
    yield s
    s.stop()


def make_config(tmp_path: Path, **group) -> Config:  # noqa: ANN003
    return Config.model_validate(
        {
            "database": {"url": f"sqlite:///{tmp_path / 'bot.db'}"},
            "models": {"use": False},  # the rule analyzers judge here; the models have their own tests
            "send": {"jitter_seconds": [0, 0], "per_group_per_minute": 1000, "global_per_minute": 1000},
            "groups": [
                {
                    "id": ROOM,
                    "topic": "人工智能",
                    "moderation": {"mode": "kick", "kick_after_strikes": 2, "ad_threshold": 0.6},
                    **group,
                }
            ],
        }
    )


@dataclass
class Running:
    bot: LiveBot
    platform: WechatyPlatform
    server: PuppetServer
    task: asyncio.Task

    async def until(self, check, what: str, timeout: float = 20.0):  # noqa: ANN001, ANN201
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.task.done():
                self.task.result()  # raise what stopped the bot
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    async def sent_texts(self) -> list[str]:
        return [m["text"] for m in await self.server.sent()]

    async def bot_said(self, needle: str, timeout: float = 20.0) -> str:
        async def find():  # noqa: ANN202
            return next((t for t in await self.sent_texts() if needle in t), None)

        return await self.until(find, f"the bot to say {needle!r}", timeout)


async def _start(
    server: PuppetServer, config: Config, *, token: str | None = None, operation_timeout: float = 30.0
) -> Running:
    store = await off_loop(open_store, config)
    platform = await off_loop(
        WechatyPlatform,
        server.endpoint,
        token or server.token,
        cache_dir=Path(config.database.url.removeprefix("sqlite:///")).parent / "wechaty",
        backoff_initial=0.2,
        backoff_max=1.0,
        operation_timeout=operation_timeout,
    )
    bot = await off_loop(LiveBot, config, store, platform, analyzers=build_rule_analyzers())
    task = asyncio.create_task(bot.run())
    running = Running(bot, platform, server, task)

    async def logged_in() -> bool:
        return platform.connected

    await running.until(logged_in, "login")
    return running


async def assert_bot_said_only_chinese(running: Running) -> None:
    """No English in anything the bot sent (as the puppet server recorded it), beyond command names
    after "/" and what the test put in: the fixture's names and ids, and every message members sent
    (not the bot's own, which the puppet echoes back and the store keeps)."""
    with running.bot.store.sessions() as session:
        stored = session.execute(
            select(Message.text, Message.sender_name, Message.quote).where(Message.role != BOT)
        ).all()
    allowed = [*FIXTURE_WORDS, *(x for row in stored for x in row if x)]
    said = [m["text"] for m in await running.server.sent()]
    assert_no_english(said, allowed, never=[c.name for c in registry.commands])


async def _stop(running: Running) -> None:
    """Stop the bot, check that nothing it sent was English, close the store."""
    running.task.cancel()
    await asyncio.gather(running.task, return_exceptions=True)
    try:
        await assert_bot_said_only_chinese(running)
    finally:
        running.bot.store.close()


@pytest.fixture
async def live(server: PuppetServer, tmp_path: Path) -> AsyncIterator[Running]:
    running = await _start(server, make_config(tmp_path))
    yield running
    await _stop(running)


# --- the edge ------------------------------------------------------------------------------------


async def test_room_messages_become_group_messages(live: Running) -> None:
    await live.server.say("wxid_alice", "大家好，RAG 的召回怎么评估？")
    await live.server.say("wxid_bob", "@群智 你好", mentions=["wxid_bot"])

    async def stored():  # noqa: ANN202
        with live.bot.store.sessions() as s:
            msgs = verdicts_db.analysed_messages(s, ROOM, *_whole_range())
        return msgs if len(msgs) >= 2 else None

    first, second = [am.message for am in await live.until(stored, "two stored messages")]
    assert (first.source, first.group_id, first.sender_id, first.sender_name) == (
        "wechaty",
        ROOM,
        "wxid_alice",
        "Alice",
    )
    assert first.group_topic == "AI 交流群" and first.text == "大家好，RAG 的召回怎么评估？"
    assert second.mentions == ("wxid_bot",) and second.mentions_bot
    with live.bot.store.sessions() as s:
        room = groups_db.group(s, ROOM)
    assert (room.owner_id, room.admin_ids) == ("wxid_owner", ("wxid_admin",))
    # the bot's own messages (echoed back by the puppet) are never counted as the members' chat
    await live.server.say("wxid_admin", "/stats")
    await live.bot_said("今天（")
    await asyncio.sleep(0.5)
    with live.bot.store.sessions() as s:
        senders = {am.message.sender_id for am in verdicts_db.analysed_messages(s, ROOM, *_whole_range())}
        kept = messages_db.message_counts(s, ROOM, role="bot")
    assert "wxid_bot" not in senders
    assert kept.get("wxid_bot", 0) >= 1  # ...but stored, as the bot's own (issue 15)


def _whole_range():  # noqa: ANN202
    from datetime import datetime, timezone

    return datetime(2000, 1, 1, tzinfo=timezone.utc), datetime(2100, 1, 1, tzinfo=timezone.utc)


def test_quotes_and_bad_settings_are_handled_at_the_edge() -> None:
    assert split_quote("「推广小王：兼职刷单日赚500」\n- - - - - - - - - - - - - - -\n/spam") == (
        "推广小王：兼职刷单日赚500",
        "/spam",
    )
    assert split_quote("普通消息") == ("", "普通消息")
    with pytest.raises(WechatyConfigError, match="host:port"):
        WechatyPlatform("", "token")
    with pytest.raises(WechatyConfigError, match="no wechaty token"):
        WechatyPlatform("127.0.0.1:1", "")
    with pytest.raises(WechatyConfigError, match="may only hold"):
        WechatyPlatform("127.0.0.1:1", "bad token/with space")


# --- moderation and commands through the real server ---------------------------------------------


async def test_ad_warns_then_kicks_on_the_second_strike(live: Running) -> None:
    await live.server.say("wxid_spammer", AD)
    await live.bot_said("第 1 次提醒")
    warning = next(m for m in await live.server.sent() if "第 1 次提醒" in m["text"])
    assert warning["room"] == ROOM and warning["mentions"] == ["wxid_spammer"]
    assert "wxid_spammer" in await live.server.members()
    await live.server.say("wxid_spammer", AD2)
    await live.bot_said("第 2 次")

    async def kicked():  # noqa: ANN202
        return "wxid_spammer" not in await live.server.members()

    await live.until(kicked, "the spammer to leave the room")
    kicks = await live.server.aapi("GET", "/kicks")
    assert [(k["room"], k["member"]) for k in kicks] == [(ROOM, "wxid_spammer")]
    with live.bot.store.sessions() as s:
        assert [a.action for a in actions_db.actions_for_group(s, ROOM)] == ["kick", "warn"]

    async def leave_stored():  # noqa: ANN202
        with live.bot.store.sessions() as s:
            msgs = verdicts_db.analysed_messages(s, ROOM, *_whole_range(), role=None)  # the bot removed: its event
        return next((am.message for am in msgs if am.message.kind == "system"), None)

    leave = await live.until(leave_stored, "the room-leave event to be stored")
    assert leave.text == "推广小王 离开了群聊（被 群智 移出）" and leave.mentions == ("wxid_spammer",)


async def test_non_admin_kick_is_refused(live: Running) -> None:
    await live.server.say("wxid_alice", "/kick @Bob", mentions=["wxid_bob"])
    await live.bot_said("需要管理员权限")
    assert await live.server.aapi("GET", "/kicks") == []
    assert "wxid_bob" in await live.server.members()


async def test_admin_from_the_room_kicks_and_notspam_undoes_and_is_recorded(live: Running) -> None:
    await live.server.say("wxid_spammer", AD)
    await live.bot_said("第 1 次提醒")
    await live.server.say("wxid_admin", "/notspam @推广小王", mentions=["wxid_spammer"])
    await live.bot_said("已撤销")
    with live.bot.store.sessions() as s:
        (c,) = corrections_db.corrections(s, analyzer="ad")
        assert (c.label, c.text, c.by_contact) == ("normal", AD, "wxid_admin")
        assert actions_db.strikes(s, ROOM, "wxid_spammer", since=None) == 0
    await live.server.say("wxid_owner", "/kick @Bob", mentions=["wxid_bob"])

    async def bob_gone():  # noqa: ANN202
        return "wxid_bob" not in await live.server.members()

    await live.until(bob_gone, "Bob to be removed by the owner's command")


async def test_notspam_after_a_kick_adds_the_member_back_to_the_room(live: Running) -> None:
    await live.server.say("wxid_spammer", AD)
    await live.bot_said("第 1 次提醒")
    await live.server.say("wxid_spammer", AD2)

    async def gone():  # noqa: ANN202
        return "wxid_spammer" not in await live.server.members()

    await live.until(gone, "the spammer to be kicked on the second strike")
    await live.server.say("wxid_admin", "/notspam @推广小王", mentions=["wxid_spammer"])
    await live.bot_said("已重新邀请")

    async def back():  # noqa: ANN202
        return "wxid_spammer" in await live.server.members()

    await live.until(back, "the spammer to be back in the room")


async def test_spam_by_quoting_the_message(live: Running) -> None:
    await live.server.say("wxid_bob", "私聊我有好东西分享")

    async def stored():  # noqa: ANN202
        with live.bot.store.sessions() as s:
            return bool(verdicts_db.analysed_messages(s, ROOM, *_whole_range()))

    await live.until(stored, "Bob's message to be stored")
    quote = "「Bob：私聊我有好东西分享」\n- - - - - - - - - - - - - - -\n/spam"
    await live.server.say("wxid_admin", quote)
    await live.bot_said("已记为广告")
    with live.bot.store.sessions() as s:
        (c,) = corrections_db.corrections(s, analyzer="ad")
    assert (c.label, c.text) == ("ad", "私聊我有好东西分享")


async def test_digest_on_demand_arrives(live: Running) -> None:
    await live.server.say("wxid_alice", "请问 vLLM 部署 Qwen 显存不够怎么办？")
    await live.server.say("wxid_bob", "可以试试 int4 量化，显存能省一半")

    async def both_stored():  # noqa: ANN202 - the puppet delivers events concurrently: wait for both
        with live.bot.store.sessions() as s:
            return len(verdicts_db.analysed_messages(s, ROOM, *_whole_range())) >= 2

    await live.until(both_stored, "both messages to be stored")
    await live.server.say("wxid_admin", "/digest")
    digest = await live.bot_said("群日报")
    assert "vLLM" in digest or "显存" in digest


async def test_whitelisted_members_are_left_alone(live: Running) -> None:
    await live.server.say("wxid_admin", "/whitelist @Alice", mentions=["wxid_alice"])
    await live.bot_said("已加入白名单")
    await live.server.say("wxid_alice", AD)
    await live.server.say("wxid_alice", AD2)

    async def logged_twice():  # noqa: ANN202
        with live.bot.store.sessions() as s:
            return len([a for a in actions_db.actions_for_group(s, ROOM) if a.action == "log"]) == 2

    await live.until(logged_twice, "two logged actions")
    await asyncio.sleep(0.5)
    assert not any("提醒" in t or "移出" in t for t in await live.sent_texts())
    assert "wxid_alice" in await live.server.members()


# --- resilience ------------------------------------------------------------------------------------


async def test_server_restart_mid_run(server: PuppetServer, tmp_path: Path) -> None:
    from datetime import datetime, timedelta, timezone

    # the scheduled digest two hours from now: the start-up catch-up then claims yesterday's, never
    # today's, which this test makes fall due by hand (at the default 21:00 the catch-up took
    # today's digest whenever the test ran after 21:00 Shanghai time)
    later = datetime.now(timezone.utc).astimezone(make_config(tmp_path).digest_timezone()) + timedelta(hours=2)
    config = make_config(tmp_path, digest_time=later.strftime("%H:%M")).model_copy(
        update={"send": Config.model_validate({"send": {"jitter_seconds": [1.5, 1.5]}}).send}
    )
    live = await _start(server, config)
    try:
        await live.server.say("wxid_alice", "今天聊聊 Agent 框架的选型")
        await live.server.say("wxid_spammer", AD)

        async def warning_queued():  # noqa: ANN202
            with live.bot.store.sessions() as s:
                return any(o.purpose == "warn" for o in outgoing_db.outgoing(s, pending_only=True))

        await live.until(warning_queued, "the warning to be queued")
        await server.aapi("POST", "/grpc/stop")  # the warning is still in its jitter pause

        async def disconnected():  # noqa: ANN202
            return not live.platform.connected

        await live.until(disconnected, "the bot to notice the drop")
        # the digest falls due while the server is down
        today = datetime.now(timezone.utc).astimezone(config.digest_timezone()).date()
        assert await asyncio.to_thread(live.bot.digests.run, ROOM, today)
        await asyncio.sleep(2.0)
        assert not any("第 1 次提醒" in t or "群日报" in t for t in await live.sent_texts())

        await server.aapi("POST", "/grpc/start")

        async def reconnected():  # noqa: ANN202
            return live.platform.connected and live.platform.sessions >= 2

        await live.until(reconnected, "the bot to reconnect by itself")
        await live.bot_said("第 1 次提醒")
        await live.bot_said("群日报")
        # and messages flow again
        await live.server.say("wxid_admin", "/stats")
        await live.bot_said("今天（")
        with live.bot.store.sessions() as s:
            assert outgoing_db.outgoing(s, pending_only=True) == []
            assert digests_db.get_digest(s, ROOM, today).sent_at is not None
    finally:
        live.task.cancel()
        await asyncio.gather(live.task, return_exceptions=True)
        live.bot.store.close()


async def test_wrong_token_is_a_clear_fatal_error(server: PuppetServer, tmp_path: Path) -> None:
    store = await off_loop(open_store, make_config(tmp_path))
    platform = await off_loop(
        WechatyPlatform, server.endpoint, "wrong-token", cache_dir=tmp_path / "wechaty", backoff_initial=0.2
    )
    bot = await off_loop(LiveBot, make_config(tmp_path), store, platform, analyzers=build_rule_analyzers())
    try:
        with pytest.raises(WechatyAuthError, match="refused the token"):
            await asyncio.wait_for(bot.run(), 20)
    finally:
        store.close()


async def test_waits_for_a_server_that_is_not_up_yet(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _need_server()
    server = PuppetServer(f"qunzhi-test-{uuid.uuid4().hex}")
    config = make_config(tmp_path)
    store = await off_loop(open_store, config)
    platform = await off_loop(
        WechatyPlatform,
        server.endpoint,
        server.token,
        cache_dir=tmp_path / "wechaty",
        backoff_initial=0.2,
        backoff_max=0.5,
    )
    bot = await off_loop(LiveBot, config, store, platform, analyzers=build_rule_analyzers())
    caplog.set_level(logging.WARNING, logger="bot.adapters.wechaty")
    task = asyncio.create_task(bot.run())
    try:
        await asyncio.sleep(1.5)
        assert not task.done() and not platform.connected
        assert "no puppet service listening" in caplog.text
        await asyncio.to_thread(server.start)
        running = Running(bot, platform, server, task)

        async def connected():  # noqa: ANN202
            return platform.connected

        await running.until(connected, "login once the server is up")
        await server.say("wxid_admin", "/policy")
        await running.bot_said("广告处理")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        store.close()
        await off_loop(server.stop)


# --- the command line ------------------------------------------------------------------------------


def _run_cli(server: PuppetServer, tmp_path: Path, token: str) -> subprocess.Popen[str]:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[database]
url = "sqlite:///{tmp_path / "cli.db"}"
[models]
use = false
[wechaty]
endpoint = "{server.endpoint}"
token = "{token}"
[[groups]]
id = "{ROOM}"
topic = "人工智能"
""",
        "utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("WECHATY_PUPPET_SERVICE")}
    return subprocess.Popen(  # the CLI through this interpreter: no `qunzhi` on PATH needed
        [sys.executable, "-m", "bot.cli", "run", "--config", str(config)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_qunzhi_run_answers_and_stops_cleanly_on_ctrl_c(server: PuppetServer, tmp_path: Path) -> None:
    import signal

    proc = _run_cli(server, tmp_path, server.token)
    try:
        deadline = time.monotonic() + 60
        answered = False
        while time.monotonic() < deadline and not answered:
            if proc.poll() is not None:
                raise AssertionError(f"qunzhi run exited early: {proc.communicate()}")
            try:
                server.api("POST", "/say", {"from": "wxid_admin", "room": ROOM, "text": "/policy"})
            except Exception:  # noqa: BLE001 - the bot may not be logged in yet
                pass
            time.sleep(1.0)
            answered = any("广告处理" in m["text"] for m in server.api("GET", "/sent"))
        assert answered, "qunzhi run never answered /policy"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "stopping (signal received)" in err and "stopped" in err
    finally:
        if proc.poll() is None:
            proc.kill()


def test_qunzhi_run_with_a_wrong_token_exits_2_with_one_clear_line(server: PuppetServer, tmp_path: Path) -> None:
    proc = _run_cli(server, tmp_path, "not-the-token")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert f"qunzhi: the puppet service at {server.endpoint} refused the token (UNAUTHENTICATED)" in err


async def test_links_images_stickers_and_files_keep_their_kind(live: Running) -> None:
    await live.server.aapi(
        "POST",
        "/say",
        {
            "from": "wxid_bob",
            "room": ROOM,
            "type": "url",
            "text": "",
            "url": "https://arxiv.org/abs/2405.07437",
            "title": "RAG 评测综述",
        },
    )
    for kind in ("image", "emoticon", "file"):
        await live.server.aapi("POST", "/say", {"from": "wxid_alice", "room": ROOM, "type": kind, "text": ""})

    async def four_stored():  # noqa: ANN202
        with live.bot.store.sessions() as s:
            msgs = verdicts_db.analysed_messages(s, ROOM, *_whole_range())
        return msgs if len(msgs) >= 4 else None

    msgs = [am.message for am in await live.until(four_stored, "four stored messages")]
    kinds = {m.kind.value for m in msgs}
    assert kinds == {"link", "image", "sticker", "file"}
    link = next(m for m in msgs if m.kind == "link")
    assert "RAG 评测综述" in link.text and "https://arxiv.org/abs/2405.07437" in link.text


# --- delivery: each thing said once (the puppet as it is, ids or not) -----------------------------


def _paced(tmp_path: Path) -> Config:
    """The test config with a real (short) random pause before each operation."""
    config = make_config(tmp_path)
    send = Config.model_validate(
        {"send": {"jitter_seconds": [0.2, 0.6], "per_group_per_minute": 1000, "global_per_minute": 1000}}
    ).send
    return config.model_copy(update={"send": send})


@pytest.mark.parametrize("options", [(), ("--return-ids",)], ids=["sends-return-no-id", "sends-return-ids"])
async def test_each_warning_kick_and_report_happens_once_and_a_restart_resends_nothing(
    options: tuple[str, ...], tmp_path: Path
) -> None:
    _need_server()
    server = PuppetServer(f"qunzhi-test-{uuid.uuid4().hex}", *options)
    await off_loop(server.start)
    config = _paced(tmp_path)
    live = await _start(server, config)
    try:
        assert (await server.aapi("GET", "/control"))["return_ids"] is bool(options)
        await server.say("wxid_spammer", AD)
        await live.bot_said("第 1 次提醒")
        await server.say("wxid_spammer", AD2)
        said_at = time.monotonic()

        async def kicked():  # noqa: ANN202
            return await server.aapi("GET", "/kicks")

        await live.until(kicked, "the kick", timeout=15)
        assert time.monotonic() - said_at < 10, "the kick came minutes, not seconds, after the second strike"

        async def all_sent():  # noqa: ANN202
            with live.bot.store.sessions() as s:
                out = outgoing_db.outgoing(s)
            return out if len(out) >= 6 and all(o.sent_at is not None for o in out) else None

        # the warning; the removal notice and the kick; to the owner: two reports and the follow-up
        out = await live.until(all_sent, "every outbox row to end sent", timeout=15)
        assert sorted(o.op for o in out) == ["kick", "private", "private", "private", "text", "text"]
        await asyncio.sleep(3.0)  # longer than the first retry's backoff used to be: nothing comes twice
        sent = await server.sent()
        room = [m["text"] for m in sent if m["room"] == ROOM]
        owner = [m["text"] for m in sent if m["to"] == "wxid_owner"]
        assert len(room) == 2 and len(set(room)) == 2
        assert sum("第 1 次提醒" in t for t in room) == 1 and sum("第 2 次" in t for t in room) == 1
        assert len(owner) == 3 and len(set(owner)) == 3
        assert "处理：待移出" in owner[1] and "处理：已移出" in owner[2]
        kick_at = (await server.aapi("GET", "/kicks"))[0]["at"]
        assert next(m for m in sent if "处理：已移出" in m["text"])["at"] >= kick_at
        assert [(k["room"], k["member"]) for k in await server.aapi("GET", "/kicks")] == [(ROOM, "wxid_spammer")]
        with live.bot.store.sessions() as s:
            out = outgoing_db.outgoing(s)
        assert len(out) == 6 and all(o.sent_at is not None and o.attempts == 1 for o in out)
    finally:
        await _stop(live)

    again = await _start(server, config)  # a restart on the same database
    try:
        await asyncio.sleep(2.0)
        assert await server.sent() == sent
        assert len(await server.aapi("GET", "/kicks")) == 1
    finally:
        await _stop(again)
        await off_loop(server.stop)


async def test_a_send_answered_too_late_is_maybe_delivered_and_never_resent(
    server: PuppetServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.outbox")
    config = make_config(tmp_path)
    live = await _start(server, config, operation_timeout=1.0)
    try:
        await server.aapi("POST", "/control", {"send_delay_ms": 3000, "send_delay_count": 1})
        await server.say("wxid_spammer", AD)
        await live.bot_said("第 1 次提醒")  # delivered at once; the answer comes after the bot's deadline

        async def uncertain():  # noqa: ANN202
            with live.bot.store.sessions() as s:
                return next((o for o in outgoing_db.outgoing(s) if o.uncertain_at is not None), None)

        row = await live.until(uncertain, "the warning to be recorded as maybe delivered", timeout=10)
        assert row.purpose == "warn" and row.sent_at is None and row.failed_at is None
        assert "OutcomeUnknown" in (row.last_error or "")
        await asyncio.sleep(4.0)  # past the late answer and a retry's backoff
        room = [m["text"] for m in await server.sent() if m["room"] == ROOM]
        assert len(room) == 1 and "第 1 次提醒" in room[0]
        with live.bot.store.sessions() as s:
            assert outgoing_db.outgoing(s, pending_only=True) == []
            assert [o.purpose for o in outgoing_db.outgoing(s) if o.sent_at is not None] == ["report"]
        maybe = [r for r in caplog.records if "maybe delivered" in r.getMessage()]
        assert len(maybe) == 1 and maybe[0].levelno == logging.WARNING
        # the connection is fine after the late answer: the next thing goes out
        await server.say("wxid_admin", "/policy")
        await live.bot_said("广告处理")
    finally:
        await _stop(live)
    again = await _start(server, config)
    try:
        await asyncio.sleep(2.0)
        assert sum("第 1 次提醒" in m["text"] for m in await server.sent()) == 1
    finally:
        await _stop(again)


async def test_a_connection_reset_mid_send_is_maybe_delivered_and_the_login_sends_the_rest(
    server: PuppetServer, tmp_path: Path
) -> None:
    config = make_config(tmp_path)
    live = await _start(server, config)
    try:
        await server.aapi("POST", "/control", {"send_delay_ms": 10000, "send_delay_count": 1})
        await server.say("wxid_spammer", AD)
        await live.bot_said("第 1 次提醒")  # delivered; its answer is held back ...
        await server.aapi("POST", "/grpc/stop")  # ... and the connection drops before it comes

        async def uncertain():  # noqa: ANN202
            with live.bot.store.sessions() as s:
                return next((o for o in outgoing_db.outgoing(s) if o.uncertain_at is not None), None)

        row = await live.until(uncertain, "the warning to be recorded as maybe delivered", timeout=10)
        assert row.purpose == "warn"
        await server.aapi("POST", "/grpc/start")

        async def reconnected():  # noqa: ANN202
            return live.platform.connected and live.platform.sessions >= 2

        await live.until(reconnected, "the bot to reconnect")
        await server.say("wxid_admin", "/policy")
        await live.bot_said("广告处理")
        with live.bot.store.sessions() as s:
            assert outgoing_db.outgoing(s, pending_only=True) == []
        assert sum("第 1 次提醒" in m["text"] for m in await server.sent()) == 1
    finally:
        await _stop(live)
