"""``qunzhi worker`` and the receiver's pipeline (issue 21, points 1-4), on SQLite and PostgreSQL.

A receiver stores, a worker analyses, judges and queues the actions; two workers on one
PostgreSQL judge each member in message order with exact strike counts (they would not without
the per-member claims and locks: ``test_two_workers_...`` fails with them switched off); a worker
process wakes on ``NOTIFY``, stops cleanly on SIGTERM, and one killed with ``kill -9`` mid-batch
loses nothing; a second analysing process on SQLite is refused with one line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from bot.analysis_lock import AnalysisLock, AnalysisLockError
from bot.cli import main
from bot.config import Config
from bot.outbox import Outbox
from bot.pipeline import Pipeline, PlannedAction
from bot.profiles import build_profile_hook
from bot.store import analysis as analysis_db, outgoing as outgoing_db
from bot.store.db import make_engine, session_factory
from bot.store.models import ModerationAction
from bot.wiring import Store
from bot.worker import Worker, build_worker, queue_actions
from nlp.rules import AdRules
from tests.bot.test_claims import (  # noqa: F401 - baseline is a fixture
    AD,
    GROUP,
    KILL_SCRIPT,
    ROOT,
    T0,
    baseline,
    config,
    corpus,
    count,
    msg,
    profiled,
)

LIVE = "wechaty"


def live_corpus(n: int = 96, source: str = LIVE):
    return [replace(m, source=source) for m in corpus(n)]


def worker(cfg: Config, engine, **kwargs) -> Worker:  # noqa: ANN001
    return build_worker(cfg, Store(engine, session_factory(engine)), analyzers=[AdRules()], idle_stop=True, **kwargs)


@pytest.mark.parametrize("source", [LIVE, "replay"])
def test_a_worker_judges_what_a_receiver_stored_and_queues_what_it_decides(engine, sessions, baseline, source):
    cfg = config()
    receiver = Pipeline(sessions, [AdRules()], cfg, analyse=False)
    stored = receiver.ingest(live_corpus(source=source))
    assert (stored.stored, stored.analysed) == (96, 0)  # a receiver analyses nothing
    assert receiver.process_pending().analysed == 0
    totals = worker(cfg, engine).run()
    actions, profiles = baseline
    assert (totals.analysed, totals.actions) == (96, actions)
    assert profiled(sessions) == profiles
    with sessions() as s:
        assert analysis_db.analysis_counts(s) == {"pending": 0, "done": 96, "failed": 0}
        recorded = list(s.scalars(select(ModerationAction)))
        queued = outgoing_db.outgoing(s, pending_only=True)
    kicks = [a for a in recorded if a.action == "kick"]
    if source == LIVE:  # acted on: a warning or a kick notice for each, and the kicks
        assert not any(a.dry_run for a in recorded) and kicks
        assert len([o for o in queued if o.op == "kick"]) == len(kicks)
        assert len([o for o in queued if o.op == "text" and o.purpose in ("warn", "kick")]) == len(recorded)
    else:  # history a replay left pending: judged as a drill, nothing queued for a group
        assert recorded and all(a.dry_run for a in recorded) and queued == []  # not even a report to the admins


# -- exactly once across processes: per-member order and strike counts -----------------------


def spam_corpus(n: int = 48):
    """Three spammers posting an ad every other message, between chat: many strikes per member."""
    return [
        msg(i, AD.format(n=i), f"wxid_spam{i % 3}") if i % 2 == 0 else msg(i, f"闲聊第 {i} 条", f"wxid_u{i % 5}")
        for i in range(n)
    ]


def test_two_workers_judge_each_member_in_order_with_exact_strike_counts(db_url, engine):
    """Two worker threads, each on its own engine (as two processes), batches of four, a pause inside
    each moderation transaction to widen any race: every spammer's strikes are 1, 2, 3 ... in message
    order (warn, warn, kick, kick ...), as one process would record them."""
    if engine.dialect.name != "postgresql":
        pytest.skip("several analysing processes need PostgreSQL (SQLite refuses a second one)")
    cfg = Config.model_validate(
        {
            "analysis": {"batch_size": 4},
            "models": {"use": False},
            "groups": [{"id": GROUP, "moderation": {"mode": "kick", "ad_threshold": 0.6, "kick_after_strikes": 3}}],
        }
    )
    Pipeline(session_factory(engine), [], cfg, analyse=False).ingest(spam_corpus())
    engines = [make_engine(db_url) for _ in range(2)]
    workers = []
    for e in engines:
        queue = queue_actions(cfg, Outbox())

        def slow(session, planned: PlannedAction, queue=queue) -> None:  # noqa: ANN001
            queue(session, planned)
            time.sleep(0.03)  # uncommitted: another worker judging this member now would read stale strikes

        pipe = Pipeline(session_factory(e), [AdRules()], cfg, on_action=slow, on_analysed=build_profile_hook(cfg))
        workers.append(Worker(cfg, Store(e, session_factory(e)), pipe, idle_stop=True))
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(w: Worker) -> None:
        try:
            start.wait()
            w.run()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for e in engines:
        e.dispose()
    assert errors == []
    assert all(w.totals.analysed for w in workers), [w.totals for w in workers]  # both took part
    sessions = session_factory(engine)
    with sessions() as s:
        assert analysis_db.analysis_counts(s) == {"pending": 0, "done": 48, "failed": 0}
        rows = s.execute(
            select(ModerationAction.member_id, ModerationAction.action).order_by(ModerationAction.created_at)
        ).all()
    for spammer in ("wxid_spam0", "wxid_spam1", "wxid_spam2"):
        kinds = [a for m, a in rows if m == spammer]
        assert kinds == ["warn", "warn"] + ["kick"] * (len(kinds) - 2), (spammer, kinds)
        assert len(kinds) == 8


def test_claims_hold_a_member_for_one_worker_at_a_time(sessions):
    Pipeline(sessions, [], config(), analyse=False).ingest(spam_corpus(12))
    lease = timedelta(minutes=5)
    with sessions.begin() as s:
        a = analysis_db.claim_pending(s, "A", 3, lease, now=T0)  # m0 spam0, m1 u1, m2 spam2
    with sessions.begin() as s:
        b = analysis_db.claim_pending(s, "B", 100, lease, now=T0)
    held = {(m.sender_id) for _, m in a}
    assert [m.id for _, m in a] == ["m0", "m1", "m2"]
    assert b and not {m.sender_id for _, m in b} & held  # none of A's members
    assert all(m.sender_id not in held for _, m in b)
    with sessions.begin() as s:  # A's lease lapses: its members are free again
        c = analysis_db.claim_pending(s, "C", 100, lease, now=T0 + timedelta(minutes=6))
    assert {m.sender_id for _, m in c} >= held


# -- a worker process: NOTIFY, SIGTERM, kill -9 ---------------------------------------------------


def write_config(tmp_path: Path, db_url: str) -> Path:
    cfg = tmp_path / "worker.toml"
    cfg.write_text(
        (f'[database]\nurl = "{db_url}"\n' if db_url else "")
        + "[analysis]\nbatch_size = 8\nmax_attempts = 2\n[models]\nuse = false\n[profiles]\nenabled = true\n"
        f'[[groups]]\nid = "{GROUP}"\ntopic = "人工智能"\n[groups.moderation]\nmode = "kick"\nad_threshold = 0.6\n'
        "kick_after_strikes = 2\n",
        "utf-8",
    )
    return cfg


def until_listening(engine, pg: bool) -> None:  # noqa: ANN001
    if not pg:
        time.sleep(1.0)
        return
    query = text("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%qunzhi_pending%'")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if conn.execute(query).scalar_one():
                return
        time.sleep(0.1)
    raise AssertionError("the worker never listened")


def test_a_worker_process_wakes_on_notify_and_stops_cleanly_on_sigterm(db_url, engine, sessions, tmp_path):
    """Polling every 60 s on PostgreSQL, so only the receiver's NOTIFY can wake it in time; on
    SQLite (no notifications) it polls every half second."""
    pg = engine.dialect.name == "postgresql"
    cfg = write_config(tmp_path, db_url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "--config", str(cfg), "worker", "--threads", "1"]
        + ["--poll", "60" if pg else "0.5"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("qunzhi worker: role worker") and "device cpu" in first and "batch 8" in first
        until_listening(engine, pg)  # it has looked at the empty queue: only a notification wakes it now
        Pipeline(sessions, [], config(), analyse=False).ingest(live_corpus(24))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with sessions() as s:
                if analysis_db.analysis_counts(s)["done"] == 24:
                    break
            time.sleep(0.1)
        woke = time.monotonic()
        assert deadline - woke > 0, "the worker did not analyse what was stored"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "stopped; 24 analysed" in out
    assert "batch: 8 analysed" in err  # the per-batch rate at INFO
    with sessions() as s:
        assert analysis_db.claim_holders(s) == []


def test_a_worker_killed_mid_batch_loses_nothing(db_url, engine, sessions, tmp_path, baseline):
    """``kill -9`` between a batch's verdicts and its moderation: the next worker (on this host it
    sees the dead process's claims at once; elsewhere after the lease) judges the rest, and the
    actions and profiles are those of one clean run. (On SQLite: ``test_claims``' kill of a replay.)"""
    if engine.dialect.name != "postgresql":
        pytest.skip("the SQLite case is test_claims' kill -9 of a replay; workers are for PostgreSQL")
    cfg_path = write_config(tmp_path, db_url)
    Pipeline(sessions, [], config(), analyse=False).ingest(live_corpus())
    killed = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, "--config", str(cfg_path), "worker", "--once", "--threads", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "KILL_AT_BATCH": "3"},
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    with sessions() as s:
        assert 0 < analysis_db.analysis_counts(s)["done"] < 96
        assert len(analysis_db.claim_holders(s)) == 1  # its last batch, still claimed
    w = worker(config(), engine)
    w.run()
    actions, profiles = baseline
    assert count(sessions, ModerationAction) == actions
    assert profiled(sessions) == profiles
    with sessions() as s:
        assert analysis_db.analysis_counts(s) == {"pending": 0, "done": 96, "failed": 0}
        assert analysis_db.claim_holders(s) == []


# -- SQLite: one analysing process --------------------------------------------------------------


def test_a_second_analysing_process_on_sqlite_is_refused_with_one_line(tmp_path, capsys):
    db = tmp_path / "q.db"
    args = ["--config", str(write_config(tmp_path, "")), "worker", "--once", "--db", str(db), "--threads", "1"]
    holder = AnalysisLock(db)
    holder.acquire("qunzhi run")
    try:
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"qunzhi: {db} is already being analysed by qunzhi run (pid ")
        assert "--no-analysis" in err and "PostgreSQL" in err
        with pytest.raises(AnalysisLockError):
            AnalysisLock(db).acquire("qunzhi worker")
    finally:
        holder.release()
    assert main(args) == 0  # free again
    assert "qunzhi worker: stopped; 0 analysed" in capsys.readouterr().out


def test_an_analysing_run_beside_a_worker_on_sqlite_is_refused(tmp_path, capsys, monkeypatch):
    """``qunzhi run`` analyses, so a worker's lock refuses it before it connects anywhere."""
    monkeypatch.chdir(tmp_path)  # the platform's cache folder
    db = tmp_path / "q.db"
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        f'[database]\nurl = "sqlite:///{db}"\n[models]\nuse = false\n[wechaty]\nendpoint = "127.0.0.1:9"\ntoken = "t"\n',
        "utf-8",
    )
    holder = AnalysisLock(db)
    holder.acquire("qunzhi worker")
    try:
        assert main(["--config", str(cfg), "run"]) == 2
    finally:
        holder.release()
    (line,) = [e for e in capsys.readouterr().err.splitlines() if "[[groups]]" not in e]  # run's note on groups aside
    assert line.startswith(f"qunzhi: {db} is already being analysed by qunzhi worker (pid {os.getpid()})")


def test_the_sqlite_lock_dies_with_its_process(tmp_path):
    db = tmp_path / "q.db"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from bot.analysis_lock import AnalysisLock; "
            "AnalysisLock(Path(sys.argv[1])).acquire('qunzhi worker'); print('held', flush=True); time.sleep(60)",
            str(db),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(AnalysisLockError, match=f"qunzhi worker \\(pid {child.pid}\\)"):
            AnalysisLock(db).acquire("qunzhi run")
    finally:
        child.kill()  # SIGKILL: no clean-up of its own
        child.wait()
    lock = AnalysisLock(db)
    lock.acquire("qunzhi run")
    lock.release()


def test_two_judgements_of_one_member_at_once_count_strikes_exactly(db_url, engine, sessions):
    """A worker's decision and an admin's /spam (or two processes) judging one member at once: the
    member lock makes the second wait for the first's commit, so the strikes are 1 and 2 (warn,
    then kick), never two first strikes."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: the second transaction waits for the first anyway")
    from bot.pipeline import moderate_one
    from nlp.verdict import Verdict

    cfg = config()
    Pipeline(sessions, [], cfg, analyse=False).ingest(
        [msg(0, AD.format(n=0), "wxid_spam"), msg(1, AD.format(n=1), "wxid_spam")]
    )
    with sessions() as s:
        stored = analysis_db.pending_messages(s, 10, 3)
    verdicts = {"ad": Verdict("ad", "ad", 0.99, ("test",))}
    start = threading.Barrier(2)
    kinds: list[str] = []

    def judge(pk: int, m) -> None:  # noqa: ANN001
        start.wait()
        with sessions.begin() as s:
            planned = moderate_one(s, cfg, pk, m, verdicts)
            assert planned is not None
            kinds.append(str(planned.action.kind))
            time.sleep(0.3)  # uncommitted: without the lock the other reads no strike yet

    threads = [threading.Thread(target=judge, args=item) for item in stored]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(kinds) == ["kick", "warn"]


def test_a_cuda_worker_without_a_gpu_is_one_clear_line(tmp_path, capsys):
    """``--device cuda`` reaches the model (``bot.wiring`` → ``nlp.classify.ModelAnalyzer(device=...)``);
    on a machine without a GPU that is one line, before anything is claimed."""
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the cuda path is measured by benchmarks/gpu_worker.py")
    cfg = tmp_path / "cuda.toml"
    cfg.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "q.db"}"\n', "utf-8")  # models.use: the shipped model
    assert main(["--config", str(cfg), "worker", "--device", "cuda", "--once"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cuda" in err and "no CUDA GPU" in err, err


def test_metrics_show_the_shared_backlog_and_the_claims_held(sessions):
    from bot import metrics

    Pipeline(sessions, [], config(), analyse=False).ingest(live_corpus(10))
    with sessions.begin() as s:
        analysis_db.claim_pending(s, "A", 4, timedelta(minutes=5))
    text = metrics.scrape(sessions).decode()
    assert "qunzhi_analysis_pending 10.0" in text and "qunzhi_analysis_claimed 4.0" in text
