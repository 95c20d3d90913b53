"""The live bot end to end on a recording platform: commands, permissions, moderation, outbox.

Real store (SQLite and PostgreSQL), real rule analyzers, real outbox sender; only the chat platform
is a double of bot.live's own protocol. Wechaty itself is tested in tests/bot/adapters/test_wechaty.py.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from bot.commands import registry
from bot.config import Config
from bot.daily import make_digest
from bot.live import WORKER_THREAD, LiveBot
from bot.profiles import profile_rows
from bot.scheduler import JOB_PREFIX
from bot.store import (
    actions as actions_db,
    analysis as analysis_db,
    corrections as corrections_db,
    digests as digests_db,
    groups as groups_db,
    messages as messages_db,
    outgoing as outgoing_db,
)
from bot.store.models import Correction, Message
from bot.wiring import build_rule_analyzers, open_store
from tests.bot.live_helpers import (  # noqa: F401 - asyncio_debug is a fixture
    ADMIN,
    BOT,
    GROUP,
    OWNER,
    T0,
    Harness,
    RecordingPlatform,
    assert_said_only_chinese,
    asyncio_debug,
    message,
    off_loop,
)

pytestmark = pytest.mark.usefixtures("asyncio_debug")  # every test here runs under asyncio debug mode

AD = "兼职刷单日赚500，加V：abc12345 详询"
AD2 = "代理微商招募，日结工资，加微信 wx_8899001 了解"
AD3 = "贷款秒批，无抵押，联系QQ 12345678"


def make_config(db_url: str, analysis: dict | None = None, **moderation) -> Config:  # noqa: ANN003
    return Config.model_validate(
        {
            "database": {"url": db_url},
            "analysis": analysis or {},
            "models": {"use": False},  # the rule analyzers judge here; the models have their own tests
            "bot": {"superadmins": ["wxid_super"]},
            "send": {"jitter_seconds": [0, 0], "per_group_per_minute": 1000, "global_per_minute": 1000},
            "groups": [
                {
                    "id": GROUP,
                    "topic": "人工智能",
                    "admins": ["wxid_cfgadmin"],
                    "moderation": {"mode": "kick", "kick_after_strikes": 2, "ad_threshold": 0.6, **moderation},
                }
            ],
        }
    )


@asynccontextmanager
async def running(config: Config, *, analyzers=None, before=()) -> AsyncIterator[Harness]:  # noqa: ANN001
    """A live bot on a fresh store, ``before`` stored (pending, as after a crash) ere it starts."""
    store = await off_loop(open_store, config)
    if before:
        with store.sessions.begin() as session:
            messages_db.store_messages(session, list(before))
    platform = RecordingPlatform()
    bot = await off_loop(
        LiveBot, config, store, platform, analyzers=analyzers or build_rule_analyzers(), clock=lambda: T0
    )
    task = asyncio.create_task(bot.run())
    try:
        yield Harness(bot, platform, task)
        assert_said_only_chinese(platform, before)  # issue 15.6: no English reaches a room or a private chat
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        store.close()


@pytest.fixture
async def live(asyncio_debug, db_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Harness]:  # noqa: ANN001
    moderation = getattr(request, "param", {})
    async with running(make_config(db_url, **moderation)) as h:
        await h.settle()
        yield h


def test_parse_forms() -> None:
    kw = dict(prefixes=("/", "／"), bot_id=BOT, bot_name="群智")
    assert registry.parse(message("/kick @Bob", mentions=("wxid_bob",)), **kw).targets == ("wxid_bob",)
    assert registry.parse(message("／踢 @Bob", mentions=("wxid_bob",)), **kw).name == "kick"
    inv = registry.parse(message("@群智\u2005warn @Bob 别发广告", mentions=(BOT, "wxid_bob")), **kw)
    assert (inv.name, inv.args, inv.targets) == ("warn", ("别发广告",), ("wxid_bob",))
    assert registry.parse(message("@群智 帮助", mentions=(BOT,)), **kw).name == "help"
    assert registry.parse(message("/dryrun on"), **kw).args == ("on",)
    assert registry.parse(message("/notacommand"), **kw) is None
    assert registry.parse(message("kick @Bob", mentions=("wxid_bob",)), **kw) is None  # not addressed
    assert registry.parse(message("大家好 /kick"), **kw) is None
    assert registry.parse(message("@Bob\u2005/kick", mentions=("wxid_bob",)), **kw).targets == ("wxid_bob",)


async def test_member_without_rights_is_refused_and_nothing_happens(live: Harness) -> None:
    await live.say(message("bob here", "wxid_bob"), message("/kick @Bob", "wxid_alice", mentions=("wxid_bob",)))
    assert live.platform.kicks == []
    assert live.texts()[-1] == "抱歉，/kick 需要管理员权限。"
    with live.bot.store.sessions() as s:
        assert actions_db.actions_for_group(s, GROUP) == []


async def test_display_name_copying_the_owner_gives_no_rights(live: Harness) -> None:
    fake = message("/kick @Bob", "wxid_mallory", name="群主", mentions=("wxid_bob",))
    await live.say(fake)
    assert live.platform.kicks == [] and "需要管理员权限" in live.texts()[-1]


@pytest.mark.parametrize("admin", [OWNER, ADMIN, "wxid_cfgadmin", "wxid_super"])
async def test_admins_from_room_config_and_superadmins_can_kick(live: Harness, admin: str) -> None:
    await live.say(message("/kick @Bob", admin, mentions=("wxid_bob",)))
    assert live.platform.kicks == [(GROUP, "wxid_bob")]
    with live.bot.store.sessions() as s:
        (a,) = actions_db.actions_for_group(s, GROUP)
    assert (a.action, a.member_id, a.by_contact) == ("kick", "wxid_bob", admin)


async def test_an_admin_cannot_kick_the_owner_or_the_bot(live: Harness) -> None:
    await live.say(message("/kick @owner", ADMIN, mentions=(OWNER,)), message("/kick @bot", ADMIN, mentions=(BOT,)))
    assert live.platform.kicks == []
    # @-mentioning the bot addresses it: the bot is never a target
    assert "不能对其执行" in live.texts()[-2] and "请 @ 一位成员" in live.texts()[-1]


async def test_ads_warn_then_kick_on_the_second_strike_and_admins_get_a_report(live: Harness) -> None:
    await live.say(message(AD, "wxid_spam", name="推广小王"))
    assert live.platform.sent[-1][2] == ("wxid_spam",) and "第 1 次提醒" in live.texts()[-1]
    assert live.platform.kicks == []
    await live.say(message(AD2, "wxid_spam", name="推广小王", minutes=5))
    assert live.platform.kicks == [(GROUP, "wxid_spam")]
    assert "将被移出本群" in live.texts()[-1]
    reports = [t for to, t in live.platform.private if to == "wxid_cfgadmin"]
    assert any("处理：待移出" in r for r in reports)  # the report queued with the kick does not claim it done
    reports = [r for r in reports if "处理报告" in r]  # the reports of the two actions (not follow-ups)
    assert len(reports) == 2 and "推广小王" in reports[1] and "/notspam" in reports[1] and "abc12345" not in reports[0]


async def test_an_ad_behind_a_command_is_still_caught_but_never_counted(live: Harness) -> None:
    """Commands are not chat (issue 15.5), yet a member's ad behind one — "/help" anyone may use, or a
    "/kick" they have no right to — is judged like chat; it still counts nowhere (digest, /stats, profile)."""
    await live.say(message("请问 RAG 的召回率怎么评估？", "wxid_alice", name="Alice"))
    await live.say(message("/help 加V abc12345 兼职刷单日赚500", "wxid_spam", name="推广小王", minutes=1))
    assert any("/help" in t for t in live.texts())  # answered as a command
    assert live.platform.sent[-1][2] == ("wxid_spam",) and "第 1 次提醒" in live.texts()[-1]  # and warned
    await live.say(
        message(
            "/kick @Alice 代理微商招募，日结工资，加微信 wx_8899001 了解",
            "wxid_spam",
            name="推广小王",
            minutes=2,
            mentions=("wxid_alice",),
        )
    )
    assert "抱歉，/kick 需要管理员权限。" in live.texts()
    assert live.platform.kicks == [(GROUP, "wxid_spam")]  # the second strike
    await live.say(message("/stats", ADMIN, minutes=3))
    assert (
        live.texts()[-1].startswith(f"今天（{T0.date().isoformat()}）：1 条消息，1 人发言；")
        and "广告 0 条" in live.texts()[-1]
    )
    assert "处理：警告 1，移出 1；" in live.texts()[-1]  # shown as actions, not as ads
    rendered = await asyncio.to_thread(
        make_digest, live.bot.store.sessions, live.bot.config, GROUP, T0.date(), save=False, embed=None
    )
    assert (rendered.data.counts.total, rendered.data.counts.speakers) == (1, 1)
    assert "abc12345" not in "\n".join(rendered.text_parts)
    with live.bot.store.sessions() as s:
        assert [a.action for a in sorted(actions_db.actions_for_group(s, GROUP), key=lambda a: a.pk)] == [
            "warn",
            "kick",
        ]
        assert profile_rows(s, "wxid_spam") == [] and profile_rows(s, "wxid_alice")
        assert groups_db.member(s, GROUP, "wxid_spam").message_count == 0


async def test_whitelisted_members_are_left_alone(live: Harness) -> None:
    await live.say(message("/whitelist @ad guy", ADMIN, mentions=("wxid_partner",)))
    await live.say(
        message(AD, "wxid_partner"), message(AD2, "wxid_partner", minutes=1), message(AD3, "wxid_partner", minutes=2)
    )
    assert live.platform.kicks == []
    assert not any("广告" in t and "提醒" in t for t in live.texts())
    with live.bot.store.sessions() as s:
        assert {a.action for a in actions_db.actions_for_group(s, GROUP)} == {"log"}
    await live.say(
        message("/unwhitelist @ad guy", ADMIN, mentions=("wxid_partner",)), message(AD, "wxid_partner", minutes=3)
    )
    assert "第 1 次提醒" in live.texts()[-1]


async def test_notspam_undoes_records_and_restores_standing(live: Harness) -> None:
    await live.say(message(AD, "wxid_spam", name="推广小王"))
    await live.say(message("/notspam @推广小王", ADMIN, mentions=("wxid_spam",)))
    assert "已撤销" in live.texts()[-1] and "当前违规 0 次" in live.texts()[-1]
    with live.bot.store.sessions() as s:
        assert actions_db.strikes(s, GROUP, "wxid_spam", since=None) == 0
        (c,) = corrections_db.corrections(s, analyzer="ad")
    assert (c.label, c.text, c.by_contact) == ("normal", AD, ADMIN)
    # standing restored: the next ad is a first warning again, not a kick
    await live.say(message(AD2, "wxid_spam", minutes=10))
    assert live.platform.kicks == [] and "第 1 次提醒" in live.texts()[-1]


async def test_notspam_after_a_kick_puts_the_member_back(live: Harness) -> None:
    await live.say(message(AD, "wxid_spam", name="推广小王"), message(AD2, "wxid_spam", name="推广小王", minutes=5))
    assert live.platform.kicks == [(GROUP, "wxid_spam")] and live.platform.added == []
    await live.say(message("/notspam @推广小王", ADMIN, mentions=("wxid_spam",), minutes=6))
    assert "已重新邀请" in live.texts()[-1]
    assert live.platform.added == [(GROUP, "wxid_spam")]
    # a warning alone is undone without an invitation
    await live.say(message(AD3, "wxid_other", name="小李", minutes=7))
    await live.say(message("/notspam @小李", ADMIN, mentions=("wxid_other",), minutes=8))
    assert "已撤销" in live.texts()[-1] and "邀请" not in live.texts()[-1]
    assert live.platform.added == [(GROUP, "wxid_spam")]


async def test_spam_on_a_quoted_message_records_training_data_and_applies_policy(live: Harness) -> None:
    sneaky = message("私聊我有好东西分享", "wxid_sneaky", name="阿强")
    await live.say(sneaky)
    assert live.platform.sent == []  # the rules do not call it an ad
    await live.say(message("/spam", ADMIN, reply_to=sneaky.id))
    with live.bot.store.sessions() as s:
        (c,) = corrections_db.corrections(s, analyzer="ad")
        (a,) = actions_db.actions_for_group(s, GROUP)
    assert (c.label, c.text) == ("ad", sneaky.text)
    assert (a.action, a.member_id, a.by_contact) == ("warn", "wxid_sneaky", ADMIN)
    assert any(m == ("wxid_sneaky",) for _, _, m in live.platform.sent)
    # the same by @mention picks the member's latest message, not the command
    await live.say(
        message("再来一次：私聊我", "wxid_sneaky", minutes=1),
        message("/spam @阿强", ADMIN, minutes=2, mentions=("wxid_sneaky",)),
    )
    assert live.platform.kicks == [(GROUP, "wxid_sneaky")]


async def test_dryrun_switch_persists_and_holds_back_the_bots_own_actions(live: Harness) -> None:
    await live.say(message("/dryrun on", OWNER))
    assert "演练模式已开启" in live.texts()[-1]
    await live.say(message(AD, "wxid_spam"), message(AD2, "wxid_spam", minutes=1))
    assert live.platform.kicks == [] and not any("提醒" in t for t in live.texts())
    drills = [t for to, t in live.platform.private if to == "wxid_cfgadmin" and "演练" in t]
    assert len(drills) == 2
    with live.bot.store.sessions() as s:
        assert groups_db.group(s, GROUP).dry_run is True
    await live.say(message("/policy", ADMIN))
    assert "演练模式：开（群内设置）" in live.texts()[-1]
    await live.say(message("/dryrun default", OWNER), message(AD3, "wxid_spam", minutes=2))
    assert "第 1 次提醒" in live.texts()[-1]  # drills never count against a live policy


async def test_digest_on_demand_stats_profile_and_help(live: Harness) -> None:
    await live.say(
        message("请问 RAG 的召回率怎么评估？", "wxid_alice", name="Alice"),
        message("可以用 recall@k，再人工抽检", "wxid_bob", name="Bob", minutes=1),
        message(AD, "wxid_spam", minutes=2),
    )
    await live.say(message("/digest", ADMIN, minutes=3))
    digest = [t for _, t, _ in live.platform.sent if "群日报" in t]
    assert len(digest) == 1 and "RAG" in digest[0]
    with live.bot.store.sessions() as s:
        assert digests_db.get_digest(s, GROUP, T0.date()) is None  # a preview is not kept
    await live.say(message("/stats", ADMIN, minutes=4))
    assert "广告 1 条" in live.texts()[-1] and "条消息" in live.texts()[-1]
    await live.say(message("/profile @Alice", ADMIN, minutes=5, mentions=("wxid_alice",)))
    assert "Alice（wxid_alice）" in live.texts()[-1] and "提问 1" in live.texts()[-1]
    await live.say(message("/help", "wxid_alice", minutes=6))
    assert "/help" in live.texts()[-1] and "/kick" not in live.texts()[-1]


async def test_a_message_delivered_twice_is_stored_and_answered_once(live: Harness) -> None:
    m = message("/stats", ADMIN)
    await live.say(m, m)
    assert len(live.texts()) == 1
    with live.bot.store.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 1


async def test_warning_queued_while_disconnected_goes_out_after_reconnect(live: Harness) -> None:
    live.platform.connected = False
    await live.platform.inbox.put(message(AD, "wxid_spam"))
    for _ in range(100):
        await asyncio.sleep(0.02)
        with live.bot.store.sessions() as s:
            if outgoing_db.outgoing(s, pending_only=True):
                break
    assert live.platform.sent == []
    live.platform.connected = True
    live.bot.sender.wake()
    await live.settle()
    assert "第 1 次提醒" in live.texts()[-1]
    with live.bot.store.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Correction)) == 0


# --- one execution model ------------------------------------------------------------------------------


async def test_the_analysis_loop_is_woken_on_the_loops_own_thread(live: Harness) -> None:
    wake = live.bot._analysis_needed
    set_on: list[str] = []
    set_event = wake.set
    loop, loop_thread = asyncio.get_running_loop(), threading.current_thread()

    def recording_set() -> None:
        set_on.append(threading.current_thread().name)
        if threading.current_thread() is loop_thread:
            set_event()
        else:  # wrong, and recorded as such; handed over so that this test fails instead of hanging
            loop.call_soon_threadsafe(set_event)

    wake.set = recording_set  # type: ignore[method-assign]
    await live.say(
        message("大家好", "wxid_alice"), message("/stats", ADMIN, minutes=1), message(AD, "wxid_spam", minutes=2)
    )
    assert "第 1 次提醒" in live.texts()[-1]
    assert set_on and set(set_on) == {threading.current_thread().name}  # never from the worker


async def test_on_loop_hands_a_call_from_the_worker_to_the_loop(live: Harness) -> None:
    ran: list[str] = []
    await live.bot._in_worker(live.bot.on_loop, lambda: ran.append(threading.current_thread().name))
    live.bot.on_loop(lambda: ran.append(threading.current_thread().name))  # on the loop: at once
    for _ in range(50):
        if len(ran) == 2:
            break
        await asyncio.sleep(0.01)
    assert ran == [threading.current_thread().name] * 2


async def _until(cond: Callable[[], bool], timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.02)


async def test_digests_build_on_the_bots_worker_thread(asyncio_debug, db_url: str) -> None:  # noqa: ANN001
    yesterday = [
        message("请问 RAG 的召回率怎么评估？", "wxid_alice", name="Alice", minutes=-24 * 60),
        message("可以用 recall@k，再人工抽检", "wxid_bob", name="Bob", minutes=-24 * 60 + 1),
    ]
    async with running(make_config(db_url), before=yesterday) as h:
        built_on: list[str] = []
        run = h.bot.digests.run

        def recording_run(group_id, day):  # noqa: ANN001, ANN202
            built_on.append(threading.current_thread().name)
            return run(group_id, day)

        h.bot.digests.run = recording_run  # type: ignore[method-assign]
        # the catch-up at start: yesterday's digest, built on the worker, its delivery woken from there
        await _until(lambda: any("群日报" in t for t in h.texts()))
        await h.settle()
        assert len(built_on) == 1
        # the scheduled job: it fires on the loop, the digest builds on the same worker
        h.bot.digests._scheduler.modify_job(JOB_PREFIX + GROUP, next_run_time=datetime.now(timezone.utc))
        await _until(lambda: len(built_on) == 2)
        assert all(name.startswith(WORKER_THREAD) for name in built_on), built_on
        await h.settle()
        assert sum("群日报" in t for t in h.texts()) == 1  # already delivered: once


class SlowAnalyzer:
    """Wraps an analyzer: takes ``seconds`` per message and notes what it analysed."""

    def __init__(self, inner, seconds: float) -> None:  # noqa: ANN001
        self._inner = inner
        self.name, self.version = inner.name, inner.version
        self.seconds = seconds
        self.seen: list[str] = []

    def analyse(self, items: Sequence) -> list:
        time.sleep(self.seconds * len(items))
        self.seen.extend(i.text for i in items)
        return self._inner.analyse(items)


async def test_commands_answer_at_once_after_a_restart_with_a_backlog(asyncio_debug, db_url: str) -> None:  # noqa: ANN001
    config = make_config(db_url, analysis={"batch_size": 4})
    backlog = [message(f"第 {i} 条积压的闲聊，讨论一下模型部署", f"wxid_m{i % 5}", minutes=i) for i in range(40)]
    backlog.append(message(AD, "wxid_spam", name="推广小王", minutes=41))  # the newest of all
    rules = build_rule_analyzers()
    slow = SlowAnalyzer(rules[0], seconds=0.05)  # 0.2 s a batch, 2 s for the backlog
    async with running(config, analyzers=[slow, *rules[1:]], before=backlog) as h:
        await h.platform.inbox.put(message("/help", "wxid_alice", minutes=50))
        await _until(lambda: len(h.texts()) >= 1)
        assert "/help" in h.texts()[0]
        assert len(slow.seen) < len(backlog) // 2  # answered after a batch or two, not the backlog
        # /spam about the newest message judges that member's messages first, not the backlog
        await h.platform.inbox.put(message("/spam @推广小王", ADMIN, minutes=51, mentions=("wxid_spam",)))
        await _until(lambda: len(h.texts()) >= 2)
        assert AD in slow.seen and len(slow.seen) < len(backlog)
        await h.settle()
        # each analysed once, in the end; the two commands too (an ad may hide behind a command)
        assert sorted(slow.seen) == sorted([*(m.text for m in backlog), "/help", "/spam @推广小王"])
        with h.bot.store.sessions() as s:
            actions = sorted(actions_db.actions_for_group(s, GROUP), key=lambda a: a.pk)
        # the ad was judged by the bot before the admin's /spam ran, which then counted as the second strike
        assert [(a.action, a.member_id, a.by_contact) for a in actions] == [
            ("warn", "wxid_spam", None),
            ("kick", "wxid_spam", ADMIN),
        ]


async def test_the_live_bot_never_acts_on_what_an_import_left_pending(asyncio_debug, db_url: str) -> None:  # noqa: ANN001
    """An import killed half-way leaves old messages pending: they are its own next run's (a dry
    run), never the live bot's to warn or kick for."""
    from dataclasses import replace

    imported = replace(message(AD, "wxid_old", name="旧成员", minutes=-60 * 24 * 90), id="export-1", source="memotrace")
    live_one = message(AD2, "wxid_spam", name="推广小王", minutes=1)
    async with running(make_config(db_url), before=[imported, live_one]) as h:

        def judged() -> bool:
            with h.bot.store.sessions() as s:
                return analysis_db.analysis_counts(s)["pending"] == 1

        await _until(judged)
        await _until(lambda: len(h.texts()) >= 1)
        with h.bot.store.sessions() as s:
            members = {a.member_id for a in actions_db.actions_for_group(s, GROUP)}
            status = s.execute(select(Message.analysis_status).where(Message.source == "memotrace")).scalar_one()
        assert members == {"wxid_spam"} and status == "pending"
        assert all("旧成员" not in t for t in h.texts())
