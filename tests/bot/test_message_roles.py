"""Commands are not chat (issue 15): commands and the bot's own messages are stored with their role
and left out of the digest, ``/stats``, profiles and the members' counts. The bot's own words are
never analysed; a command is analysed and moderated like chat, so an ad behind one is still caught
(tests/bot/test_live.py), but counted nowhere.

A day with four members' messages, twenty admin commands and the bot's twenty replies goes through
the replay pipeline (``wiring.build_pipeline``) and through the live bot (whose platform echoes what
the bot says, as a real puppet does); the digest and ``/stats`` count the four.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.commands import message_role
from bot.config import Config
from bot.daily import make_digest
from bot.live import LiveBot
from bot.message import GroupMessage, MessageKind
from bot.profiles import profile_rows
from bot.store import analysis as analysis_db, groups as groups_db, messages as messages_db, verdicts as verdicts_db
from bot.store.models import Message
from bot.wiring import build_pipeline, build_rule_analyzers, open_store
from nlp.verdict import Verdict
from tests.bot.live_helpers import (  # noqa: F401 - asyncio_debug is a fixture
    ADMIN,
    BOT,
    GROUP,
    T0,
    Harness,
    RecordingPlatform,
    asyncio_debug,
    message,
    off_loop,
)

DAY = date(2026, 11, 25)  # T0 is 10:00 of this day in Shanghai
MEMBERS_CHAT = [  # (sender, minute, text, index of the message it replies to): what the members said
    ("wxid_alice", 0, "请问 RAG 的召回率一般怎么评估？", None),
    ("wxid_bob", 2, "可以用 recall@k，配合人工标注的相关文档", 0),
    ("wxid_carol", 5, "推荐一篇 RAG 评测综述 https://arxiv.org/abs/2405.07437", None),
    ("wxid_bob", 7, "谢谢分享，正好在做检索评测", 2),
]
COMMANDS = ["/warn @Dave 别刷屏", "/stats", "/help", "/policy"]


def make_config(db_url: str, **bot: object) -> Config:
    return Config.model_validate(
        {
            "database": {"url": db_url},
            "models": {"use": False},  # the rule analyzers judge here
            "bot": bot,
            "send": {"jitter_seconds": [0, 0], "per_group_per_minute": 1000, "global_per_minute": 1000},
            "groups": [{"id": GROUP, "topic": "人工智能", "moderation": {"mode": "warn"}}],
        }
    )


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def replayed_day() -> list[GroupMessage]:
    """The members' four messages, then twenty commands by an admin, each answered by the bot
    (@-mentioning the admin, as its replies do)."""

    def gm(
        mid: str, sender: str, minutes: float, text: str, mentions: tuple[str, ...] = (), reply_to: str | None = None
    ) -> GroupMessage:
        return GroupMessage(
            id=mid,
            source="replay",
            group_id=GROUP,
            sender_id=sender,
            sender_name=sender.removeprefix("wxid_").title(),
            sent_at=at(minutes),
            kind=MessageKind.TEXT,
            text=text,
            group_topic="AI 交流群",
            mentions=mentions,
            reply_to=reply_to,
        )

    day = [
        gm(f"chat-{i}", s, m, t, reply_to=None if r is None else f"chat-{r}")
        for i, (s, m, t, r) in enumerate(MEMBERS_CHAT)
    ]
    for i in range(20):
        text = COMMANDS[i % len(COMMANDS)]
        day.append(gm(f"cmd-{i}", ADMIN, 10 + i, text, ("wxid_dave",) if "@Dave" in text else ()))
        day.append(gm(f"bot-{i}", BOT, 10.5 + i, f"已处理 warn 命令（第 {i + 1} 次）。", (ADMIN,)))
    return day


def roles_stored(sessions) -> dict[str, int]:  # noqa: ANN001
    with sessions() as s:
        return dict(s.execute(select(Message.role, func.count()).group_by(Message.role)).all())


# --- what a message is ---------------------------------------------------------------------------


def test_message_role_is_the_live_parser_s_decision() -> None:
    config = Config.model_validate({"bot": {"self_id": BOT}})
    assert message_role(message("/stats", ADMIN), config) == "command"
    assert message_role(message("@群智\u2005help", mentions=(BOT,)), config) == "command"
    assert message_role(message("/notacommand"), config) == "chat"  # what the bot would not run is chat
    assert message_role(message("大家好 /kick"), config) == "chat"
    assert message_role(message("/stats", BOT), config) == "bot"  # the bot's own words never run
    # the live bot passes the logged-in account; without one configured the bot is not recognised
    assert message_role(message("今天（11-25）", BOT), Config()) == "chat"
    assert message_role(message("今天（11-25）", "wxid_me"), Config(), bot_id="wxid_me") == "bot"


def test_roles_are_stored_commands_analysed_and_only_chat_counted(session) -> None:  # noqa: ANN001
    msgs = [
        message("大家好", "wxid_alice"),
        message("/stats", "wxid_alice", minutes=1),
        message("今天：2 条", BOT, minutes=2),
    ]
    stored = messages_db.store_messages(session, msgs, ["chat", "command", "bot"])
    # a command is judged like chat (an ad may hide behind one); the bot's own words never are
    assert [m.id for _, m in analysis_db.pending_messages(session, 10, 3)] == [msgs[0].id, msgs[1].id]
    assert analysis_db.analysis_counts(session, GROUP)["pending"] == 2
    assert analysis_db.analysis_counts(session, GROUP, role="chat")["pending"] == 1  # what /stats says 待分析
    assert messages_db.message_roles(session, [pk for pk, _ in stored]) == {
        stored[0][0]: "chat",
        stored[1][0]: "command",
        stored[2][0]: "bot",
    }
    # once analysed (say both called ads and useful), the command still counts nowhere
    verdicts = [Verdict("ad", "ad", 0.99, (), "rules"), Verdict("useful", "useful", 0.9, (), "rules")]
    analysis_db.save_analyses(session, [(stored[0][0], verdicts, ()), (stored[1][0], verdicts, ())])
    assert messages_db.message_counts(session, GROUP) == {"wxid_alice": 1}
    assert messages_db.message_counts(session, GROUP, role=None) == {"wxid_alice": 2, BOT: 1}
    whole = (at(-60), at(60))
    assert [a.message.text for a in verdicts_db.analysed_messages(session, GROUP, *whole)] == ["大家好"]
    assert len(verdicts_db.analysed_messages(session, GROUP, *whole, role=None)) == 3
    assert [a.message.text for a in verdicts_db.member_messages(session, GROUP, "wxid_alice")] == ["大家好"]
    alice = groups_db.member(session, GROUP, "wxid_alice")
    assert alice.message_count == 1 and alice.last_seen == msgs[1].sent_at  # a command is seen, not counted
    assert groups_db.member(session, GROUP, BOT) is None  # the bot is no member
    assert (
        messages_db.latest_message(session, GROUP, "wxid_alice")[1].text == "大家好"
    )  # /spam @x never picks a command
    with pytest.raises(ValueError, match="role"):
        messages_db.store_messages(session, [message("x")], ["admin"])
    with pytest.raises(ValueError, match="one per message"):
        messages_db.store_messages(session, [message("x")], [])


def test_the_database_refuses_an_unknown_role(engine) -> None:  # noqa: ANN001
    row = dict(
        source="replay",
        source_id="x",
        group_id=GROUP,
        sender_id="a",
        sender_name="",
        sent_at=T0,
        kind="text",
        text="",
        mentions=[],
        mentions_bot=False,
        quote="",
        group_topic="",
        role="admin",
        stored_at=T0,
        analysis_status="pending",
        analysis_attempts=0,
    )
    with Session(engine) as s, s.begin():
        groups_db.ensure_group(s, GROUP)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(Message.__table__).values(**row))
    with engine.begin() as conn:  # left out, the server default makes it chat
        conn.execute(insert(Message.__table__).values(**{k: v for k, v in row.items() if k != "role"}))
        assert conn.execute(select(Message.role)).scalar_one() == "chat"


# --- a day full of commands, replayed ------------------------------------------------------------


def test_a_replayed_day_of_commands_digests_only_the_members_messages(db_url: str) -> None:
    config = make_config(db_url, self_id=BOT)  # a replay knows the bot by the configured id
    store = open_store(config)
    try:
        report = build_pipeline(config, store).ingest(replayed_day())
        # the admin's commands are judged too (an ad may hide behind one), the bot's replies are not
        assert report.stored == 44 and report.analysed == 24 and report.actions == []
        assert roles_stored(store.sessions) == {"chat": 4, "command": 20, "bot": 20}
        rendered = make_digest(store.sessions, config, GROUP, DAY, save=False, embed=None)
        with store.sessions() as s:
            stats_counts = messages_db.message_counts(s, GROUP)
            admin = groups_db.member(s, GROUP, ADMIN)
            profiles = {m: profile_rows(s, m) for m in (ADMIN, BOT, "wxid_bob")}
    finally:
        store.close()
    data, text = rendered.data, "\n".join(rendered.text_parts)
    assert (data.counts.total, data.counts.speakers) == (4, 3)
    assert "💬 4 条 · 3 人" in text and "💬 44 条" not in text
    chat_ids = {f"chat-{i}" for i in range(len(MEMBERS_CHAT))}
    in_threads = {line.id for t in data.threads for line in (t.root, *t.replies)}
    assert in_threads and in_threads <= chat_ids  # no thread of commands and replies
    assert all(t.participants <= 3 and t.reply_count <= 3 for t in data.threads)
    assert "warn" not in {t.keyword.lower() for t in data.topics}
    assert "warn" not in text.lower() and "已处理" not in text and "/stats" not in text
    assert sum(h.useful + h.other + h.ads for h in data.activity) == 4
    assert [c.name for c in data.top_contributors if c.name.lower().startswith("admin")] == []
    assert stats_counts == {"wxid_bob": 2, "wxid_alice": 1, "wxid_carol": 1}
    assert admin is not None and admin.message_count == 0  # the admin only sent commands
    assert profiles[ADMIN] == [] and profiles[BOT] == [] and profiles["wxid_bob"]


# --- the same day, live --------------------------------------------------------------------------


class EchoingPlatform(RecordingPlatform):
    """A platform that, like a real puppet, sends the bot's own room messages back as messages."""

    def __init__(self) -> None:
        super().__init__()
        self._echoes = 0

    async def send_text(self, group_id: str, text: str, mentions: tuple[str, ...] = ()) -> None:
        await super().send_text(group_id, text, mentions)
        self._echoes += 1
        await self.inbox.put(
            GroupMessage(
                id=f"echo-{self._echoes}",
                source="wechaty",
                group_id=group_id,
                sender_id=BOT,
                sender_name="群智",
                sent_at=T0 + timedelta(minutes=30, seconds=self._echoes),
                kind=MessageKind.TEXT,
                text=text,
                group_topic="AI 交流群",
                mentions=tuple(mentions),
            )
        )


@pytest.fixture
async def echoing(db_url: str, asyncio_debug) -> AsyncIterator[Harness]:  # noqa: ANN001, ARG001
    config = make_config(db_url)
    store = await off_loop(open_store, config)
    platform = EchoingPlatform()
    bot = await off_loop(
        LiveBot, config, store, platform, analyzers=build_rule_analyzers(), clock=lambda: T0 + timedelta(hours=1)
    )
    task = asyncio.create_task(bot.run())
    h = Harness(bot, platform, task)
    await h.settle()
    yield h
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    store.close()


async def test_live_stats_and_digest_of_a_day_of_commands_count_only_the_members(echoing: Harness) -> None:
    live = echoing
    chat: list[GroupMessage] = []
    for s, m, t, r in MEMBERS_CHAT:
        chat.append(message(t, s, minutes=m, reply_to=None if r is None else chat[r].id))
    await live.say(*chat)
    for i in range(19):
        text = COMMANDS[i % len(COMMANDS)]
        await live.say(message(text, ADMIN, minutes=10 + i, mentions=("wxid_dave",) if "@Dave" in text else ()))
    said = len(live.platform.sent)
    await live.say(message("/stats", BOT, minutes=29))  # the bot's own words are never run as a command
    assert len(live.platform.sent) == said
    await live.say(message("/stats", ADMIN, minutes=29.5))
    stats = live.texts()[-1]
    found = re.search(r"(\d+) 条消息，(\d+) 人发言", stats)
    assert found is not None, stats
    assert (int(found.group(1)), int(found.group(2))) == (4, 3)  # not 24 (nor 40-odd with the echoes)
    roles = roles_stored(live.bot.store.sessions)
    assert roles["chat"] == 4 and roles["command"] == 20 and roles["bot"] >= 20
    rendered = await asyncio.to_thread(
        make_digest, live.bot.store.sessions, live.bot.config, GROUP, DAY, save=False, embed=None
    )
    assert (rendered.data.counts.total, rendered.data.counts.speakers) == (4, 3)
    assert "warn" not in {t.keyword.lower() for t in rendered.data.topics}
    assert all(t.root.text not in set(COMMANDS) for t in rendered.data.threads)
