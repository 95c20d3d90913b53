"""Analysis claims, crash safety and retries (issue 15, points 8, 9, 12, 13), on SQLite and PostgreSQL.

Two pipelines on one database analyse each message once; a crash between the verdicts and the
moderation decision loses no decision (an injected exception in-process, a real ``kill -9`` of a
``qunzhi replay``); failed analyses come back (``qunzhi db requeue``, the daily retry).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.cli import main
from bot.config import Config
from bot.message import GroupMessage, MessageKind
from bot.pipeline import Pipeline, is_dead_here
from bot.profiles import build_profile_hook
from bot.store import analysis as analysis_db, corrections as corrections_db
from bot.store.db import make_engine, session_factory, upgrade
from bot.store.models import MemberProfile, Message, ModerationAction
from nlp.rules import AdRules

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc)
GROUP = "g1@chatroom"
AD = "兼职刷单日赚300，加V：wx_abc{n} 秒结"
CHAT = [
    "请问 vLLM 部署 Qwen 显存不够怎么办？",
    "可以试试 int4 量化，显存能省一半",
    "LoRA 微调学习率一般设多少？",
    "收到",
]


def msg(i: int, text: str, sender: str) -> GroupMessage:
    return GroupMessage(
        id=f"m{i}",
        source="replay",
        group_id=GROUP,
        sender_id=sender,
        sender_name=sender,
        sent_at=T0 + timedelta(minutes=i),
        kind=MessageKind.TEXT,
        text=text,
        group_topic="AI 交流",
    )


def corpus(n: int = 96) -> list[GroupMessage]:
    """Chat from eight members with an ad every fifth message from one of three spammers."""
    return [
        msg(i, AD.format(n=i), f"wxid_spam{i % 3}")
        if i % 5 == 0
        else msg(i, f"{CHAT[i % len(CHAT)]} #{i}", f"wxid_u{i % 8}")
        for i in range(n)
    ]


def config(batch_size: int = 8) -> Config:
    return Config.model_validate(
        {
            "analysis": {"batch_size": batch_size, "max_attempts": 2},
            "models": {"use": False},
            "groups": [
                {
                    "id": GROUP,
                    "topic": "人工智能",
                    "moderation": {"mode": "kick", "ad_threshold": 0.6, "kick_after_strikes": 2},
                }
            ],
        }
    )


class Counting:
    """A real analyzer that records every text it analyses (thread-safe) and takes a little time."""

    def __init__(self, delay: float = 0.0) -> None:
        self.inner, self.delay, self.seen, self.lock = AdRules(), delay, [], threading.Lock()
        self.name, self.version = self.inner.name, self.inner.version

    def analyse(self, items):
        time.sleep(self.delay)
        with self.lock:
            self.seen.extend(it.text for it in items)
        return self.inner.analyse(items)


def count(sessions, model) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def profiled(sessions) -> int:
    with sessions() as s:
        return s.scalar(select(func.coalesce(func.sum(MemberProfile.messages), 0)))


def fresh_sessions(url: str):
    engine = make_engine(url)
    upgrade(engine)
    return engine, session_factory(engine)


@pytest.fixture
def baseline(tmp_path) -> tuple[int, int]:
    """Moderation actions and profiled messages of one clean single-process run of ``corpus()``."""
    engine, sessions = fresh_sessions(f"sqlite:///{tmp_path / 'baseline.db'}")
    cfg = config()
    Pipeline(sessions, [AdRules()], cfg, on_analysed=build_profile_hook(cfg)).ingest(corpus())
    found = count(sessions, ModerationAction), profiled(sessions)
    engine.dispose()
    assert found[0] >= 15 and found[1] == len(corpus())
    return found


# -- the claim itself -------------------------------------------------------------------------


def test_a_message_another_transaction_only_references_is_still_claimed(sessions):
    """Indexing a message for search (or anything else with a foreign key to it) while another
    process claims work must not hide the message from the claim: on PostgreSQL an insert that
    references a row takes FOR KEY SHARE on it, and a claim by FOR UPDATE SKIP LOCKED would skip
    it (two pipelines then left messages unanalysed). The claim takes FOR NO KEY UPDATE."""
    from bot.store import search as search_db

    if sessions.kw["bind"].dialect.name == "sqlite":
        pytest.skip("SQLite has one writer at a time: the claim would wait, not skip")
    Pipeline(sessions, [], config()).store(corpus(4))
    with sessions.begin() as indexer:
        assert search_db.index_pending(indexer, limit=10) == 4  # uncommitted: the key-share locks are held
        with sessions.begin() as s:
            claimed = analysis_db.claim_pending(s, "A", 100, timedelta(minutes=5), now=T0)
        assert [m.id for _, m in claimed] == ["m0", "m1", "m2", "m3"]


def test_claims_are_disjoint_lapse_and_a_lost_claim_saves_nothing(sessions):
    Pipeline(sessions, [], config()).store(corpus(10))
    lease = timedelta(minutes=5)
    with sessions.begin() as s:
        a = analysis_db.claim_pending(s, "A", 4, lease, now=T0)
    with sessions.begin() as s:
        b = analysis_db.claim_pending(s, "B", 100, lease, now=T0)
    assert [m.id for _, m in a] == ["m0", "m1", "m2", "m3"]  # oldest first
    # m9 is wxid_u1's, like m1: a member held by A's claim waits for A (one worker per member)
    assert [m.id for _, m in b] == [f"m{i}" for i in range(4, 9)]
    with sessions.begin() as s:
        assert analysis_db.claim_pending(s, "C", 100, lease, now=T0 + timedelta(minutes=4)) == []
        assert analysis_db.claim_holders(s) == ["A", "B"]
    # A's lease lapses and C takes its messages; A's late verdicts are not saved over C's claim
    with sessions.begin() as s:
        c = analysis_db.claim_pending(s, "C", 2, lease, now=T0 + timedelta(minutes=6))
    assert [m.id for _, m in c] == ["m0", "m1"]
    with sessions.begin() as s:
        saved = analysis_db.save_analyses(s, [(pk, [], []) for pk, _ in a], worker_id="A")
        assert saved == {a[2][0], a[3][0]}  # m2, m3 are still A's (lapsed, but nobody took them)
        assert analysis_db.mark_analysis_failed(s, a[0][0], "late", 2, worker_id="A") is None
        assert analysis_db.save_analyses(s, [(pk, [], []) for pk, _ in c], worker_id="C") == {pk for pk, _ in c}
    with sessions() as s:
        statuses = dict(s.execute(select(Message.source_id, Message.analysis_status)).all())
        assert (
            statuses["m0"] == "done"
            and s.scalar(select(Message.analysis_attempts).where(Message.source_id == "m0")) == 0
        )
    # releasing gives B's claims back at once
    with sessions.begin() as s:
        assert analysis_db.release_claims(s, "B") == 5
        assert len(analysis_db.claim_pending(s, "D", 100, lease, now=T0)) == 6


def test_a_dead_process_on_this_host_is_recognised():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    import socket

    assert is_dead_here(f"{socket.gethostname()}:{child.pid}:x")
    assert not is_dead_here(f"{socket.gethostname()}:{os.getpid()}:x")  # ourselves
    assert not is_dead_here(f"elsewhere:{child.pid}:x") and not is_dead_here("A")


# -- point 13: two processes, one database ---------------------------------------------------


@pytest.mark.parametrize("split", ["same messages", "disjoint halves"])
def test_two_pipelines_on_one_database_analyse_each_message_once(db_url, engine, baseline, split):
    """Two pipelines, each with its own engine (as two processes would), ingest concurrently."""
    messages = corpus()
    parts = [messages, messages] if split == "same messages" else [messages[0::2], messages[1::2]]
    cfg = config()
    engines = [make_engine(db_url) for _ in parts]
    analyzers = [Counting(delay=0.01) for _ in parts]
    pipes = [
        Pipeline(session_factory(e), [a], cfg, on_analysed=build_profile_hook(cfg)) for e, a in zip(engines, analyzers)
    ]
    start = threading.Barrier(len(pipes))
    reports, errors = [None] * len(pipes), []

    def run(i: int) -> None:
        try:
            start.wait()
            reports[i] = pipes[i].ingest(parts[i])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(pipes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for e in engines:
        e.dispose()
    assert errors == []
    seen = [text for a in analyzers for text in a.seen]
    assert sorted(seen) == sorted(m.text for m in messages)  # each message analysed exactly once
    assert all(a.seen for a in analyzers)  # and both really took part
    sessions = session_factory(engine)
    actions, profiles = baseline
    assert sum(len(r.actions) for r in reports) == actions
    assert count(sessions, ModerationAction) == actions
    assert profiled(sessions) == profiles  # every member's profile counted once
    with sessions() as s:
        assert analysis_db.analysis_counts(s) == {"pending": 0, "done": len(messages), "failed": 0}


def replay_file(tmp_path: Path, messages: list[GroupMessage]) -> tuple[Path, Path]:
    f = tmp_path / "day.jsonl"
    f.write_text(
        "".join(
            json.dumps(
                {
                    "id": m.id,
                    "group_id": m.group_id,
                    "sender_id": m.sender_id,
                    "time": m.sent_at.isoformat(),
                    "text": m.text,
                },
                ensure_ascii=False,
            )
            + "\n"
            for m in messages
        ),
        "utf-8",
    )
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        "[analysis]\nbatch_size = 8\nmax_attempts = 2\n[models]\nuse = false\n[profiles]\nenabled = true\n"
        f'[[groups]]\nid = "{GROUP}"\ntopic = "人工智能"\n[groups.moderation]\nmode = "kick"\nad_threshold = 0.6\nkick_after_strikes = 2\n',
        "utf-8",
    )
    return f, cfg


def qunzhi(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize("database", ["migrated", "new"])
def test_two_concurrent_replay_processes_analyse_each_message_once(db_url, tmp_path, baseline, database):
    """Two real ``qunzhi replay`` processes on disjoint halves of a day, one database: both succeed,
    the actions and the profiles are those of one run. On a new database both migrate it at once
    (the loser of that race used to exit 2), and they store the same members at once (PostgreSQL
    used to find a deadlock there)."""
    engine = make_engine(db_url)
    if database == "migrated":
        upgrade(engine)
    messages = corpus()
    halves = []
    for i, part in enumerate((messages[0::2], messages[1::2])):
        d = tmp_path / f"half{i}"
        d.mkdir()
        halves.append(replay_file(d, part))
    procs = [qunzhi("--config", str(cfg), "replay", str(f), "--db", db_url) for f, cfg in halves]
    outs = [p.communicate(timeout=180) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, f"exit {p.returncode}: {out}{err}"
    analysed = [int(out.split(" analysed")[0].rsplit(" ", 1)[1]) for out, _ in outs]
    assert sum(analysed) == len(messages), outs
    sessions = session_factory(engine)
    actions, profiles = baseline
    assert count(sessions, ModerationAction) == actions
    assert profiled(sessions) == profiles
    engine.dispose()


def test_a_database_failure_mid_run_is_one_line(tmp_path, capsys, monkeypatch):
    from sqlalchemy.exc import OperationalError

    import bot.cli

    def lost(args):  # noqa: ANN001
        raise OperationalError(
            "INSERT INTO messages ...",
            {"x": 1},
            Exception("server closed the connection unexpectedly\n\tThis probably means ..."),
        )

    monkeypatch.setattr(bot.cli, "cmd_db_requeue", lost)
    assert main(["db", "requeue", "--db", f"sqlite:///{tmp_path / 'q.db'}"]) == 2
    err = capsys.readouterr().err
    assert err == "qunzhi: database error: server closed the connection unexpectedly This probably means ...\n"


# -- point 12: a crash between the verdicts and the decision ---------------------------------


def test_an_exception_between_verdicts_and_moderation_loses_no_decision(sessions, baseline, monkeypatch):
    cfg = config()
    calls = []
    moderate = Pipeline._moderate

    def failing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("killed between the analysis and the moderation")
        return moderate(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "_moderate", failing)
    with pytest.raises(RuntimeError, match="killed between"):
        Pipeline(sessions, [AdRules()], cfg, on_analysed=build_profile_hook(cfg)).ingest(corpus())
    monkeypatch.setattr(Pipeline, "_moderate", moderate)
    Pipeline(sessions, [AdRules()], cfg, on_analysed=build_profile_hook(cfg)).process_pending()
    actions, profiles = baseline
    assert count(sessions, ModerationAction) == actions
    assert profiled(sessions) == profiles


KILL_SCRIPT = """
import os, signal, sys
from bot.pipeline import Pipeline
calls = []
moderate = Pipeline._moderate
def dying(self, *args, **kwargs):
    calls.append(1)
    if len(calls) == int(os.environ["KILL_AT_BATCH"]):
        os.kill(os.getpid(), signal.SIGKILL)
    return moderate(self, *args, **kwargs)
Pipeline._moderate = dying
from bot.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_kill_9_between_verdicts_and_moderation_then_the_same_replay_records_every_action(
    db_url, engine, tmp_path, baseline
):
    f, cfg = replay_file(tmp_path, corpus())
    args = ["--config", str(cfg), "replay", str(f), "--db", db_url]
    killed = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "KILL_AT_BATCH": "3"},
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    sessions = session_factory(engine)
    with sessions() as s:
        assert 0 < analysis_db.analysis_counts(s)["done"] < len(corpus())  # it died half way
    again = qunzhi(*args)
    out, err = again.communicate(timeout=180)
    assert again.returncode == 0, err
    actions, profiles = baseline
    assert count(sessions, ModerationAction) == actions
    assert profiled(sessions) == profiles


# -- point 8: a command's messages only; an admin's judgement stands --------------------------


def test_process_messages_analyses_exactly_those_still_pending(sessions):
    counting = Counting()
    pipe = Pipeline(sessions, [counting], config())
    pipe.store(corpus(20))
    with sessions() as s:
        pks = [pk for pk, _ in analysis_db.pending_messages(s, 100, 3)]
    report = pipe.process_messages([pks[15], pks[3]])
    assert report.analysed == 2 and sorted(counting.seen) == sorted([corpus(20)[3].text, corpus(20)[15].text])
    assert pipe.process_messages([pks[3]]).analysed == 0  # already done
    with sessions.begin() as s:  # another process holds this one
        analysis_db.claim_pending(s, "other", 1, timedelta(minutes=5), pks=[pks[7]])
    assert pipe.process_messages([pks[7], pks[8]]).analysed == 1
    assert pipe.process_pending().analysed == 20 - 4


@pytest.mark.parametrize("label", ["ad", "normal"])
def test_a_message_an_admin_already_judged_is_not_judged_again(sessions, label):
    pipe = Pipeline(sessions, [AdRules()], config())
    pipe.store([msg(1, AD.format(n=1), "wxid_spam")])
    with sessions.begin() as s:
        ((pk, m),) = analysis_db.pending_messages(s, 10, 3)
        corrections_db.record_correction(
            s, text=m.text, analyzer="ad", label=label, by_contact="wxid_admin", message_pk=pk
        )
    report = pipe.process_pending()
    assert report.analysed == 1 and report.actions == []
    assert count(sessions, ModerationAction) == 0


# -- point 9: nothing parks forever -----------------------------------------------------------


def park(sessions, n: int = 3, group_id: str = GROUP) -> list[int]:
    Pipeline(sessions, [], config()).store([msg(i, f"t{i}", "wxid_a") for i in range(n)])
    with sessions.begin() as s:
        pks = [pk for pk, _ in analysis_db.pending_messages(s, 100, 3)]
        for pk in pks:
            analysis_db.mark_analysis_failed(s, pk, "model away", 1, now=T0)
    return pks


def test_the_daily_retry_brings_failed_messages_back_with_growing_gaps_a_bounded_number_of_times(sessions):
    (pk,) = park(sessions, 1)

    def day(n: float) -> int:
        with sessions.begin() as s:
            return analysis_db.requeue_due(s, T0 + timedelta(days=n), max_requeues=3)

    def fail_again(at: datetime) -> None:
        with sessions.begin() as s:
            assert analysis_db.mark_analysis_failed(s, pk, "still away", 1, now=at) == "failed"

    assert day(0.5) == 0
    assert day(1) == 1  # first retry after a day
    fail_again(T0 + timedelta(days=1))
    assert day(2) == 0 and day(3) == 1  # then after two
    fail_again(T0 + timedelta(days=3))
    assert day(6) == 0 and day(7) == 1  # then four
    fail_again(T0 + timedelta(days=7))
    assert day(100) == 0  # three retries, then only an operator's requeue
    with sessions.begin() as s:
        assert analysis_db.requeue_failed(s) == 1
    fail_again(T0 + timedelta(days=100))
    assert day(101) == 1  # and the daily budget starts again


def test_db_requeue_puts_failed_messages_back(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'q.db'}"
    engine, sessions = fresh_sessions(url)
    park(sessions, 3)
    Pipeline(sessions, [], config()).store(
        [
            GroupMessage(
                id="x",
                source="replay",
                group_id="other@chatroom",
                sender_id="b",
                sender_name="b",
                sent_at=T0,
                kind=MessageKind.TEXT,
                text="x",
            )
        ]
    )
    with sessions.begin() as s:
        ((pk, _),) = analysis_db.pending_messages(s, 10, 3)
        analysis_db.mark_analysis_failed(s, pk, "model away", 1)
    assert main(["db", "requeue", "--group", GROUP, "--db", url]) == 0
    assert "requeued 3 failed messages in g1@chatroom" in capsys.readouterr().out
    with sessions() as s:
        assert analysis_db.analysis_counts(s, GROUP) == {"pending": 3, "done": 0, "failed": 0}
        assert analysis_db.analysis_counts(s, "other@chatroom")["failed"] == 1
    assert main(["db", "requeue", "--db", url]) == 0
    assert "requeued 1 failed messages" in capsys.readouterr().out
    assert Pipeline(sessions, [AdRules()], config()).process_pending().analysed == 4
    engine.dispose()


def test_the_daily_run_requeues_failed_messages(sessions):
    from bot.retention import requeue_once

    park(sessions, 2)
    assert requeue_once(sessions, config(), datetime.now(timezone.utc)) == 2
    with sessions() as s:
        assert analysis_db.analysis_counts(s)["pending"] == 2
