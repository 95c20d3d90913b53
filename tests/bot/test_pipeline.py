from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from bot.config import Config
from bot.message import GroupMessage, MessageKind
from bot.moderation import ActionKind
from bot.pipeline import Pipeline
from bot.store import groups as groups_db, verdicts as verdicts_db
from bot.store.models import Message, ModerationAction, VerdictRow
from nlp.rules import AdRules, IntentRules, UsefulRules

T0 = datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc)
GROUP = "g1@chatroom"


def msg(i: int, text: str, sender: str = "wxid_a", kind: MessageKind = MessageKind.TEXT) -> GroupMessage:
    return GroupMessage(
        id=f"m{i}",
        source="replay",
        group_id=GROUP,
        sender_id=sender,
        sender_name=sender,
        sent_at=T0 + timedelta(minutes=i),
        kind=kind,
        text=text,
        group_topic="AI 交流",
    )


def config(**moderation) -> Config:
    return Config.model_validate(
        {
            "analysis": {"batch_size": 4, "max_attempts": 2},
            "groups": [
                {"id": GROUP, "topic": "人工智能", "moderation": {"mode": "kick", "ad_threshold": 0.6, **moderation}}
            ],
        }
    )


class Crashing:
    """Wraps a real analyzer and raises on any text containing a trigger, until told to stop."""

    def __init__(self, inner, trigger: str = "BOOM") -> None:
        self.inner, self.trigger, self.broken = inner, trigger, True
        self.name, self.version = inner.name, inner.version

    def analyse(self, items):
        if self.broken and any(self.trigger in it.text for it in items):
            raise RuntimeError("model exploded")
        return self.inner.analyse(items)


CHAT = [
    "大家好，请问 vLLM 部署 Qwen 显存不够怎么办？",
    "哈哈哈",
    "可以试试 int4 量化，显存能省一半",
    "[表情]",
    "LoRA 微调学习率一般设多少？",
    "收到",
    "论文在这里 https://arxiv.org/abs/2401.00001",
]


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_messages_are_stored_analysed_and_replay_is_idempotent(sessions):
    pipe = Pipeline(sessions, [AdRules(), UsefulRules(), IntentRules()], config())
    batch = [msg(i, t) for i, t in enumerate(CHAT)]
    first = pipe.ingest(batch)
    assert (first.stored, first.duplicates, first.analysed, first.failed) == (len(CHAT), 0, len(CHAT), 0)
    with sessions() as s:
        assert count(s, VerdictRow) == 3 * len(CHAT)
        before = (count(s, Message), count(s, VerdictRow), count(s, ModerationAction))
    again = pipe.ingest(batch)
    assert (again.stored, again.duplicates, again.analysed, again.actions) == (0, len(CHAT), 0, [])
    with sessions() as s:
        assert (count(s, Message), count(s, VerdictRow), count(s, ModerationAction)) == before
        day = verdicts_db.analysed_messages(s, GROUP, T0, T0 + timedelta(days=1))
    assert [am.message.text for am in day] == CHAT
    assert all(set(am.verdicts) == {"ad", "useful", "intent"} for am in day)
    assert day[1].verdicts["useful"].label == "useless"  # 哈哈哈


def test_a_crash_in_one_analyzer_loses_nothing_and_is_retried(sessions):
    crashing = Crashing(AdRules())
    pipe = Pipeline(sessions, [crashing, UsefulRules()], config())
    batch = [msg(i, t) for i, t in enumerate([*CHAT[:3], "BOOM 这条会让模型崩溃", *CHAT[3:]])]
    report = pipe.ingest(batch)
    assert report.stored == len(batch)
    assert report.failed == 1 and report.analysed == len(batch) - 1
    with sessions() as s:
        row = s.scalars(select(Message).where(Message.source_id == "m3")).one()
        assert row.analysis_status == "pending" and row.analysis_attempts == 1
        assert "model exploded" in row.analysis_error
        assert row.text == "BOOM 这条会让模型崩溃"  # stored before analysis, intact
    crashing.broken = False  # the next run (e.g. after a fix or a transient error) picks it up
    retry = pipe.process_pending()
    assert (retry.analysed, retry.failed) == (1, 0)
    with sessions() as s:
        row = s.scalars(select(Message).where(Message.source_id == "m3")).one()
        assert row.analysis_status == "done"


def test_a_message_that_keeps_crashing_is_parked_after_max_attempts(sessions):
    pipe = Pipeline(sessions, [Crashing(AdRules())], config())
    pipe.ingest([msg(1, "BOOM"), msg(2, "正常的一句话")])
    pipe.process_pending()  # attempt 2 of 2
    assert pipe.process_pending().failed == 0  # nothing left to try
    with sessions() as s:
        statuses = dict(s.execute(select(Message.source_id, Message.analysis_status)).all())
    assert statuses == {"m1": "failed", "m2": "done"}


def test_a_disabled_analyzer_still_answers_skipped(sessions):
    cfg = config().model_copy(update={"analysis": config().analysis.model_copy(update={"intent": False})})
    Pipeline(sessions, [AdRules(), IntentRules()], cfg).ingest([msg(1, "请问怎么微调？")])
    with sessions() as s:
        (am,) = verdicts_db.analysed_messages(s, GROUP, T0, T0 + timedelta(days=1))
    assert am.verdicts["intent"].label == "skipped"
    assert am.verdicts["intent"].reasons == ("disabled in config",)


def test_ads_are_warned_then_kicked_by_policy_and_whitelist_is_respected(sessions):
    pipe = Pipeline(sessions, [AdRules()], config(kick_after_strikes=2))
    ad = "兼职刷单日赚300，加V：wx_abc123 秒结"
    report = pipe.ingest([msg(1, ad, "wxid_spam"), msg(2, "今天天气不错", "wxid_ok"), msg(3, ad + "!", "wxid_spam")])
    kinds = [(p.message.sender_id, p.action.kind) for p in report.actions]
    assert kinds == [("wxid_spam", ActionKind.WARN), ("wxid_spam", ActionKind.KICK)]
    assert "第 2 次违规（72 小时内已满 2 次）" in report.actions[1].action.reasons
    with sessions.begin() as s:
        groups_db.set_whitelisted(s, GROUP, "wxid_vip")
    later = pipe.ingest([msg(4, ad + "!!", "wxid_vip")])
    assert [p.action.kind for p in later.actions] == [ActionKind.LOG]
    assert "白名单" in later.actions[0].action.reasons[0]


@pytest.mark.parametrize("kind", [MessageKind.SYSTEM])
def test_system_messages_are_stored_but_never_moderated(sessions, kind):
    report = Pipeline(sessions, [AdRules()], config()).ingest([msg(1, "加V：wx_abc123 兼职日结", kind=kind)])
    assert report.stored == 1 and report.actions == []


class BrokenNer:
    """Stands in for ``nlp.extract.NerExtractor`` when its model fails on a batch."""

    name = "ner"

    def extract(self, items):
        raise RuntimeError("NER model out of memory")


def test_a_failing_ner_pass_keeps_the_exact_entities(sessions):
    from zoneinfo import ZoneInfo

    from nlp.extract import EntityExtractor, PatternExtractor

    extractor = EntityExtractor(PatternExtractor(ZoneInfo("Asia/Shanghai")), BrokenNer())  # as bot.wiring builds it
    text = "明天下午3点开会，电话 13812345678，资料 https://example.com/a"
    report = Pipeline(sessions, [AdRules()], config(), extractors=[extractor]).ingest([msg(1, text)])
    assert report.analysed == 1
    with sessions() as s:
        (am,) = verdicts_db.analysed_messages(s, GROUP, T0, T0 + timedelta(days=1))
    assert {"PHONE", "URL", "TIME"} <= {e.type for e in am.entities}
