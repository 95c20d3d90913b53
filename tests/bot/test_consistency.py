"""The consistency checker (``bot.store.consistency``, ``qunzhi db check``), on SQLite and PostgreSQL.

A clean run of a small group day through the real pipeline (the rule analyzers, pattern entities,
profiles, moderation in kick mode carried out into the outbox) passes; then one problem of each kind
is planted in the stored rows and the checker must name that kind and no other.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, delete, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from bot.cli import main
from bot.config import Config
from bot.enforcement import carry_out
from bot.message import GroupMessage, MessageKind
from bot.outbox import Outbox
from bot.pipeline import Pipeline, PlannedAction
from bot.profiles import build_profile_hook
from bot.store import analysis as analysis_db
from bot.store.common import ACTIONS_T, ENTITIES, MEMBERS, MESSAGES, OUTGOING, PROFILES, VERDICTS
from bot.store.consistency import Problem, check, check_database
from bot.wiring import build_rule_analyzers
from nlp.extract import EntityExtractor, PatternExtractor

T0 = datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc)
TZ = ZoneInfo("Asia/Shanghai")
ANALYZERS = ("ad", "useful", "intent")
ADMIN = "wxid_admin"
AD = "兼职刷单日赚300，加V：wx_abc{n} 秒结 https://spam{n}.example.com"
CHAT = [
    "请问 vLLM 部署 Qwen 显存不够怎么办？",
    "可以试试 int4 量化，显存能省一半，文档在 https://docs.vllm.ai/en/latest",
    "LoRA 微调学习率一般设多少？",
    "收到，明天下午3点线上讨论",
    "哈哈哈",
]


def group_id(g: int) -> str:
    return f"g{g}@chatroom"


def corpus(n: int = 60, groups: int = 2, prefix: str = "m") -> list[GroupMessage]:
    """Chat from six members per group, an ad every fifth message from one of two spammers."""
    out = []
    for i in range(n):
        g = i % groups
        spam = i % 5 == 0
        out.append(
            GroupMessage(
                id=f"{prefix}{i}",
                source="replay",
                group_id=group_id(g),
                sender_id=f"wxid_spam{i % 2}" if spam else f"wxid_u{i % 6}",
                sender_name=f"spam{i % 2}" if spam else f"u{i % 6}",
                sent_at=T0 + timedelta(minutes=7 * i),
                kind=MessageKind.TEXT,
                text=AD.format(n=i) if spam else f"{CHAT[i % len(CHAT)]} #{i}",
                group_topic="AI 交流",
            )
        )
    return out


def config(groups: int = 2, batch_size: int = 8) -> Config:
    return Config.model_validate(
        {
            "bot": {"timezone": "Asia/Shanghai"},
            "analysis": {"batch_size": batch_size, "max_attempts": 2},
            "models": {"use": False},
            "groups": [
                {
                    "id": group_id(g),
                    "topic": "人工智能",
                    "admins": [ADMIN],
                    "moderation": {"mode": "kick", "ad_threshold": 0.6, "kick_after_strikes": 2},
                }
                for g in range(groups)
            ],
        }
    )


def live_pipeline(sessions: sessionmaker[Session], cfg: Config) -> Pipeline:
    """The pipeline as a live worker builds it: profiles, pattern entities, actions carried out."""
    outbox = Outbox()

    def queue(session: Session, planned: PlannedAction) -> None:
        carry_out(
            session,
            outbox,
            cfg,
            planned.message,
            planned.action,
            action_pk=planned.action_pk,
            dry_run=planned.dry_run,
        )

    return Pipeline(
        sessions,
        build_rule_analyzers(),
        cfg,
        on_action=queue,
        extractors=[EntityExtractor(PatternExtractor(TZ))],
        on_analysed=build_profile_hook(cfg),
    )


def problems(session: Session, **options: object) -> list[Problem]:
    return check(session, analyzers=ANALYZERS, tz=TZ, **options)  # type: ignore[arg-type]


def kinds(found: list[Problem]) -> set[str]:
    return {p.kind for p in found}


@pytest.fixture
def run(engine: Engine, sessions: sessionmaker[Session]) -> Iterator[sessionmaker[Session]]:
    """A clean day: stored, analysed, moderated, queued; every kind of row is there to plant in."""
    report = live_pipeline(sessions, config()).ingest(corpus(30))
    assert report.analysed == 30 and len(report.actions) >= 4
    with sessions() as s:
        for table in (VERDICTS, ENTITIES, PROFILES, ACTIONS_T, OUTGOING):
            assert s.scalar(select(text("count(*)")).select_from(table)) > 0, table.name
        kinds_queued = set(s.scalars(select(OUTGOING.c.purpose)))
        assert {"warn", "kick", "report"} <= kinds_queued
    yield sessions


def test_a_clean_run_is_consistent(run):
    with run() as s:
        assert problems(s) == []
        assert problems(s, finished=True) == []


def copy_row(s: Session, table, where) -> None:  # noqa: ANN001 - a Table and a clause
    """Insert a copy of the first row matching ``where`` (a new pk)."""
    row = s.execute(select(table).where(where).order_by(table.c.pk).limit(1)).mappings().first()
    assert row is not None
    s.execute(insert(table).values({k: v for k, v in row.items() if k != "pk"}))


def only(s: Session, kind: str, **options: object) -> list[Problem]:
    found = problems(s, **options)
    assert kinds(found) == {kind}, found
    return found


def test_a_message_stored_twice(run, engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite cannot drop the unique constraint that keeps messages unique")
    with run.begin() as s:
        s.execute(text("ALTER TABLE messages DROP CONSTRAINT uq_messages_source_source_id"))
        # the copy is the bot's own words (no member count, no verdicts due): only the duplicate shows
        copy_row(s, MESSAGES, MESSAGES.c.source_id == "m3")
        s.execute(
            update(MESSAGES)
            .where(MESSAGES.c.pk == s.scalar(select(MESSAGES.c.pk).order_by(MESSAGES.c.pk.desc()).limit(1)))
            .values(role="bot")
        )
    with run() as s:
        (p,) = only(s, "duplicate message")
        assert "replay message m3 in g1@chatroom is stored 2 times" in p.detail


def test_a_member_counted_twice(run):
    with run.begin() as s:
        s.execute(
            update(MEMBERS).where(MEMBERS.c.member_id == "wxid_u1").values(message_count=MEMBERS.c.message_count + 1)
        )
    with run() as s:
        (p,) = only(s, "member count")
        assert "wxid_u1 in g1@chatroom: message_count is" in p.detail


def test_a_verdict_missing(run):
    with run.begin() as s:  # a question's intent verdict: the question is gone from the recount too
        pk = s.scalar(
            select(VERDICTS.c.message_pk)
            .where(VERDICTS.c.analyzer == "intent", VERDICTS.c.label == "question")
            .order_by(VERDICTS.c.message_pk)
            .limit(1)
        )
        s.execute(delete(VERDICTS).where(VERDICTS.c.message_pk == pk, VERDICTS.c.analyzer == "intent"))
    with run() as s:
        found = problems(s)
    assert kinds(found) == {"verdicts", "profile"}, found
    assert f"have verdicts of ad, useful, not of exactly ad, intent, useful (pks {pk})" in str(found)
    assert "questions 1 (recount 0)" in str(found) or "questions 2 (recount 1)" in str(found)


def test_a_verdict_on_a_message_not_analysed(run):
    pipe = live_pipeline(run, config())
    pipe.store(corpus(3, prefix="late"))
    with run.begin() as s:
        pk = s.scalar(select(MESSAGES.c.pk).where(MESSAGES.c.source_id == "late1"))
        s.execute(
            insert(VERDICTS).values(message_pk=pk, analyzer="ad", label="normal", score=0.9, reasons=[], model="")
        )
    with run() as s:
        (p,) = only(s, "verdicts")
        assert p.detail == f"1 pending messages have verdicts (pks {pk})"


def test_an_analyzer_twice(run, engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite cannot drop the unique constraint on (message, analyzer)")
    with run.begin() as s:
        s.execute(text("ALTER TABLE verdicts DROP CONSTRAINT uq_verdicts_message_pk_analyzer"))
        copy_row(s, VERDICTS, VERDICTS.c.analyzer == "useful")
    with run() as s:
        (p,) = only(s, "verdicts")
        assert p.detail.endswith("verdicts of analyzer useful") and " has 2 " in p.detail


def test_an_entity_twice(run):
    with run.begin() as s:
        copy_row(s, ENTITIES, ENTITIES.c.type == "URL")
    with run() as s:
        (p,) = only(s, "entities")
        assert "has entity URL [" in p.detail and p.detail.endswith(" 2 times")


def test_profiles_that_differ_from_the_recount(run):
    planted = {}
    with run.begin() as s:
        rows = s.execute(select(PROFILES).order_by(PROFILES.c.pk)).all()
        spam = next(r for r in rows if r.ads > 0)
        helpful = next(r for r in rows if r.useful > 0 and r.pk != spam.pk)
        others = [r for r in rows if r.pk not in (spam.pk, helpful.pk)]
        for row, field, new in [
            (spam, "ads", spam.ads + 1),
            (helpful, "useful", helpful.useful - 1),
            (others[0], "messages", others[0].messages + 1),
            (others[1], "hours", [h + (i == 5) for i, h in enumerate(others[1].hours)]),
        ]:
            s.execute(update(PROFILES).where(PROFILES.c.pk == row.pk).values({field: new}))
            planted[f"{row.member_id} in {row.group_id}"] = field
    with run() as s:
        found = only(s, "profile")
    assert {p.detail.split(":")[0]: p.detail.split(": ")[1].split(" ")[0] for p in found} == planted


def test_a_profile_lost(run):
    with run.begin() as s:
        s.execute(delete(PROFILES).where(PROFILES.c.member_id == "wxid_u2"))
    with run() as s:
        found = only(s, "profile")
        assert [p.detail.split(":")[0] for p in found] == ["wxid_u2 in g0@chatroom"]


def test_the_bot_deciding_twice(run):
    with run.begin() as s:
        copy_row(s, ACTIONS_T, ACTIONS_T.c.action == "warn")
    with run() as s:
        (p,) = only(s, "action")
        assert "the bot decided 2 times (warn/warn)" in p.detail


def test_outbox_rows_twice(run):
    with run.begin() as s:
        for purpose, op in (("warn", "text"), ("kick", "kick"), ("report", "private")):
            copy_row(s, OUTGOING, (OUTGOING.c.purpose == purpose) & (OUTGOING.c.op == op))
    with run() as s:
        found = only(s, "outbox")
    details = sorted(p.detail for p in found)
    assert len(details) == 3 and details[2] == "one report queued 2 times for wxid_admin"
    for line, what in zip(details, ("kicks", "warnings")):
        queued, asked = re.fullmatch(
            rf"(\d+) {what} queued for \S+ in \S+, for (\d+) actions asking for one", line
        ).groups()
        assert int(queued) == int(asked) + 1


def test_claims_left_behind_and_messages_not_analysed(run):
    pipe = live_pipeline(run, config())
    pipe.store(corpus(3, prefix="late"))
    with run.begin() as s:
        analysis_db.claim_pending(s, "host:1:dead", 2, timedelta(minutes=5))
    with run() as s:
        (p,) = only(s, "claim")
        assert p.detail.startswith("2 pending messages left claimed by host:1:dead (lease until ")
        assert problems(s, stopped=False) == []  # workers running: their claims are theirs
        assert kinds(problems(s, stopped=False, finished=True)) == {"unanalysed"}
    pipe.process_pending()  # the lease has not lapsed: the claimed two wait; one is analysed
    with run() as s:
        assert [p.detail for p in problems(s, finished=True) if p.kind == "unanalysed"] == [
            "2 messages are pending, not analysed"
        ]


def test_a_claim_on_an_analysed_message(run):
    with run.begin() as s:
        s.execute(update(MESSAGES).where(MESSAGES.c.source_id == "m7").values(claimed_by="w"))
    with run() as s:
        (p,) = only(s, "claim", stopped=False)
        assert p.detail == "1 done messages still carry a claim"


def test_many_problems_of_a_kind_are_summed_up(run):
    with run.begin() as s:
        s.execute(
            insert(MEMBERS),
            [dict(group_id=group_id(0), member_id=f"wxid_quiet{i}", message_count=1) for i in range(25)],
        )
    with run() as s:
        found = problems(s)
    assert kinds(found) == {"member count"} and len(found) == 21
    assert found[0].detail == "wxid_quiet0 in g0@chatroom: message_count is 1, the stored chat counts 0"
    assert found[-1].detail == "... and 5 more"


def test_db_check_exits_1_with_the_problems(run, engine, db_url, capsys):
    assert main(["db", "check", "--db", db_url]) == 0
    assert capsys.readouterr().out.startswith("consistent:")
    assert check_database(engine, analyzers=ANALYZERS, tz=TZ) == []
    with run.begin() as s:
        copy_row(s, ACTIONS_T, ACTIONS_T.c.action == "kick")
    assert main(["db", "check", "--db", db_url]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("action: message ") and err == "1 problems found\n"


def test_db_check_running_leaves_the_workers_claims_alone(run, db_url, capsys):
    live_pipeline(run, config()).store(corpus(2, prefix="late"))
    with run.begin() as s:
        analysis_db.claim_pending(s, "host:2:busy", 10, timedelta(minutes=5))
    assert main(["db", "check", "--db", db_url]) == 1
    assert capsys.readouterr().out.startswith("claim: 2 pending messages left claimed by host:2:busy")
    assert main(["db", "check", "--running", "--db", db_url]) == 0
