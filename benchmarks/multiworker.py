"""Many receivers and many workers on one PostgreSQL: throughput as workers are added, then faults.

    .venv/bin/python benchmarks/multiworker.py [--messages 200000] [--groups 500] [--receivers 2]
        [--workers 1,2,4] [--batch 256] [--rules] [--no-fault] [--port 55509] [--dir /tmp/qunzhi-mw]

It starts its own throwaway PostgreSQL (``scripts/pg-test-server`` in ``--dir`` on ``--port``), then
for each worker count M, on a fresh database:

1. writes the day's messages as JSON Lines, the groups split between N receivers (one account each);
2. starts the N receivers (each a process storing its file a chunk at a time, as ``qunzhi run
   --no-analysis`` stores what its account receives: source ``wechaty``, so the workers act on it;
   about 1 % of the messages delivered twice) and M workers (``qunzhi worker --threads 1``);
3. when every message is analysed, stops the workers (SIGTERM: they finish their batch) and runs the
   consistency checker (``bot.store.consistency``) on the database.

Throughput is messages analysed per second from the workers' start until the last is analysed;
each M is printed beside its ratio to M=1. Then a fault run with the largest M: one worker is
``kill -9``-ed while it holds a claimed batch (a replacement starts, as a service manager would,
and frees the dead worker's claims at once), PostgreSQL is restarted half way (every process
reconnects), and the checker runs again. Exit status 1 if a checker finds a problem.

Messages: realistic group chat from ``../shared/data`` (LCCC chit-chat, QQ group chatter and ads,
SMP-ECDT questions; read in place, never copied into the repository), or the bundled demo day
(our own writing) with ``--demo`` or when ``../shared/data`` is absent. Numbers depend on the
machine and what else runs on it; the ratios are what to compare. ``--messages 5000 --groups 50``
runs in a few minutes.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.exc import SQLAlchemyError  # noqa: E402

from bot.adapters.replay import read_jsonl, write_jsonl  # noqa: E402
from bot.config import Config, load_config  # noqa: E402
from bot.message import GroupMessage, MessageKind  # noqa: E402
from bot.store import analysis as analysis_db  # noqa: E402
from bot.store.consistency import Problem, check_database  # noqa: E402
from bot.wiring import Store, build_pipeline, open_store  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
DEMO = ROOT / "bot" / "demo" / "sample_day.jsonl"
PG_SERVER = ROOT / "scripts" / "pg-test-server"
DAY = datetime(2026, 11, 25, 0, 0, tzinfo=timezone.utc)  # 08:00 in Asia/Shanghai
SOURCE = "wechaty"  # as a live receiver stores them: the workers act on these (warnings, kicks, reports)
ADMIN = "wxid_bench_admin"
REDELIVERED = 0.01  # the share of messages a receiver stores twice


# -- the messages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Texts:
    chat: list[str]
    questions: list[str]
    ads: list[str]


def shared_texts(data: Path = DATA) -> Texts:
    """Chat, questions and ads from ``../shared/data`` (see each folder's SOURCE.md)."""
    chat: list[str] = []
    with (data / "lccc_chitchat" / "dialogs.jsonl").open(encoding="utf-8") as f:
        for line in f:
            chat += json.loads(line)["turns"]
    ads: list[str] = []
    questions: list[str] = []
    with (data / "qq_group_ads" / "train.tsv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            (ads if row["label"] == "1" else chat).append(row["text"])
    with (data / "smp_ecdt_intent" / "smp2017_train.tsv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            questions.append(row["text"] if row["text"].endswith(("？", "?")) else row["text"] + "？")
    return Texts([t for t in chat if t.strip()], questions, [t for t in ads if t.strip()])


def demo_texts() -> Texts:
    """The bundled demo day's texts, split the same way (an ad by its offer words, a question by its mark)."""
    texts = [m.text for m in read_jsonl(DEMO).messages if m.kind is MessageKind.TEXT and m.text.strip()]
    ads = [t for t in texts if any(k in t for k in ("加V", "加微信", "vx", "VX", "日结", "日赚", "代充", "低价"))]
    questions = [t for t in texts if ("？" in t or "?" in t) and len(t) > 4 and t not in ads]
    return Texts([t for t in texts if t not in ads and t not in questions], questions, ads or texts[:1])


def generate(n: int, groups: int, texts: Texts, seed: int = 20261125) -> list[GroupMessage]:
    """``n`` messages over ``groups`` groups in one day, time-ordered within each group: about 30
    members per group (a few talk most), two spammers in one group in five; 85 % chat, 10 %
    questions, ads from the spammers. Every text gets a short suffix so no two are equal."""
    rng = random.Random(seed)
    per_group = [n // groups + (1 if g < n % groups else 0) for g in range(groups)]
    out: list[GroupMessage] = []
    serial = 0
    for g, count in enumerate(per_group):
        gid = f"bench-{g:04d}@chatroom"
        members = [f"wxid_g{g}_m{i}" for i in range(30)]
        weights = [1.0 / (i + 1) for i in range(len(members))]
        spammers = [f"wxid_g{g}_spam{i}" for i in range(2)] if g % 5 == 0 else []
        step = 86_400 / max(count, 1)
        for k in range(count):
            roll = rng.random()
            if spammers and roll < 0.05:
                sender, text = rng.choice(spammers), rng.choice(texts.ads)
            elif roll < 0.15:
                sender, text = rng.choices(members, weights)[0], rng.choice(texts.questions)
            else:
                sender, text = rng.choices(members, weights)[0], rng.choice(texts.chat)
            serial += 1
            out.append(
                GroupMessage(
                    id=f"mw-{serial}",
                    source=SOURCE,
                    group_id=gid,
                    sender_id=sender,
                    sender_name=sender.removeprefix("wxid_"),
                    sent_at=DAY + timedelta(seconds=k * step + rng.random() * step),
                    kind=MessageKind.TEXT,
                    text=f"{text} [{serial}]",
                    group_topic=f"群 {g}",
                )
            )
    return out


def receiver_files(messages: Sequence[GroupMessage], receivers: int, folder: Path) -> list[Path]:
    """One JSON Lines file per receiver (an account): its groups' messages in time order."""
    parts: list[list[GroupMessage]] = [[] for _ in range(receivers)]
    for m in messages:
        parts[int(m.group_id.split("-")[1].split("@")[0]) % receivers].append(m)
    files = []
    for i, part in enumerate(parts):
        path = folder / f"receiver-{i}.jsonl"
        write_jsonl(sorted(part, key=lambda m: m.sent_at), path)
        files.append(path)
    return files


# -- the processes --------------------------------------------------------------------------


def write_config(path: Path, url: str, *, rules: bool, batch: int, groups: Sequence[str] = ()) -> Path:
    """The config every process reads: the database, the model (one thread) or the rules, kick-mode
    moderation with an admin to report to."""
    lines = [
        "[database]",
        f'url = "{url}"',
        "[analysis]",
        f"batch_size = {batch}",
        "[models]",
        f"use = {'false' if rules else 'true'}",
        "threads = 1",
        "[moderation]",
        'mode = "kick"',
        "ad_threshold = 0.8",
        "kick_after_strikes = 3",
        "[bot]",
        f'superadmins = ["{ADMIN}"]',
    ]
    for g in groups:
        lines += ["[[groups]]", f'id = "{g}"', 'topic = "闲聊"']
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def receive(config_path: Path, files: Sequence[Path], chunk: int, pause: float) -> int:
    """A receiver: store each file's messages ``chunk`` at a time (one transaction each), as the
    live bot stores what arrives; a lost database connection is waited out and the chunk stored
    again (storing is idempotent). Never analyses."""
    config = load_config(config_path)
    store = _open_retrying(config)
    pipeline = build_pipeline(config, store, analyzers=[], extractors=(), profiles=False, freeze=False)
    stored = 0
    for f in files:
        result = read_jsonl(f)
        if result.errors:
            print(f"receiver: {len(result.errors)} bad lines in {f}", file=sys.stderr)
            return 2
        msgs = result.messages
        rng = random.Random(f.name)
        for start in range(0, len(msgs), chunk):
            # about 1 % of the previous chunk delivered again (a platform resending after a reconnect)
            again = [m for m in msgs[max(0, start - chunk) : start] if rng.random() < REDELIVERED]
            while True:
                try:
                    stored += pipeline.store(again + msgs[start : start + chunk]).stored
                    break
                except SQLAlchemyError as e:
                    print(f"receiver: database unavailable, retrying: {str(e).splitlines()[0]}", file=sys.stderr)
                    time.sleep(0.5)
            if pause:
                time.sleep(pause)
    store.close()
    print(f"receiver: stored {stored}")
    return 0


def _open_retrying(config: Config, seconds: float = 60.0) -> Store:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return open_store(config)
        except SQLAlchemyError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def python_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def start_receiver(
    config: Path, file: Path, *, chunk: int = 100, pause: float = 0.0, log: Path
) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "receive", "--config", str(config), "--chunk", str(chunk)]
    cmd += ["--pause", str(pause), str(file)]
    return subprocess.Popen(cmd, cwd=ROOT, env=python_env(), stdout=log.open("ab"), stderr=subprocess.STDOUT)


LOGS: dict[int, Path] = {}  # each worker process's log, by pid
READY = "qunzhi worker: role worker"  # what a worker prints once its model is loaded


def start_worker(config: Path, *, batch: int, log: Path) -> subprocess.Popen[bytes]:
    """``qunzhi worker`` with one torch thread, logging its batches."""
    cmd = [sys.executable, "-m", "bot.cli", "--config", str(config), "worker", "--batch", str(batch)]
    cmd += ["--threads", "1"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=python_env(), stdout=log.open("ab"), stderr=subprocess.STDOUT)
    LOGS[proc.pid] = log
    return proc


def ready(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the worker has loaded its model and started on the queue."""
    return READY in LOGS[proc.pid].read_text("utf-8", "replace")


def wait_ready(procs: Sequence[subprocess.Popen[bytes]], timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not all(ready(p) for p in procs):
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            raise RuntimeError(f"a worker did not start: {[last_line(p) for p in procs]}")
        time.sleep(0.1)


def last_line(proc: subprocess.Popen[bytes]) -> str:
    lines = LOGS[proc.pid].read_text("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else f"(no output, exit status {proc.returncode})"


def stop(procs: Sequence[subprocess.Popen[bytes]], timeout: float = 120.0) -> list[int | None]:
    """SIGTERM each still running (a worker finishes its batch), then wait; the exit statuses."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return [p.returncode for p in procs]


# -- PostgreSQL -----------------------------------------------------------------------------


@dataclass
class Postgres:
    """A throwaway cluster of ``scripts/pg-test-server`` that this run may restart."""

    folder: Path
    port: int

    def start(self) -> str:
        out = subprocess.run(
            [str(PG_SERVER), "start", str(self.folder), str(self.port)], capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            raise RuntimeError(f"pg-test-server start failed: {out.stderr.strip()}")
        return out.stdout.strip()

    def stop(self) -> None:
        subprocess.run([str(PG_SERVER), "stop", str(self.folder)], capture_output=True, check=True)

    def restart(self) -> float:
        """Stop (fast: every connection is cut) and start again; the seconds it was down."""
        started = time.monotonic()
        self.stop()
        self.start()
        return time.monotonic() - started


def fresh_database(base_url: str, name: str) -> str:
    """Create database ``name`` (dropped first if there) on the server of ``base_url`` with
    PostgreSQL's own ``dropdb`` and ``createdb``; its URL."""
    url = make_url(base_url)
    where = ["-h", str(url.host), "-p", str(url.port), "-U", str(url.username)]
    subprocess.run(["dropdb", *where, "--if-exists", "--force", name], check=True, capture_output=True)
    subprocess.run(["createdb", *where, name], check=True, capture_output=True)
    return url.set(database=name).render_as_string(hide_password=False)


def cpu_seconds(pids: Sequence[int], *, children: bool = False) -> float:
    """User and system CPU seconds of these processes so far (all their threads; with ``children``,
    also of their children already reaped), from /proc; 0 for one that is gone."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
        if children:
            total += int(fields[13]) + int(fields[14])  # cutime, cstime
    return total / tick


def machine_idle() -> tuple[float, float]:
    """Seconds every CPU of the machine has been idle, and in all, so far (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    return (fields[3] + fields[4]) / tick, sum(fields[:8]) / tick  # idle + iowait; all but guest time


def server_pids(postgres: Postgres) -> list[int]:
    """The postmaster and its children (a backend per connection, the background processes)."""
    home = postgres.folder
    if (postgres.folder / "cluster").is_file():
        home = Path((postgres.folder / "cluster").read_text().strip())
    try:
        main = int((home / "data" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == main:
                kids.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return [main, *kids]


def postgres_cpu(postgres: Postgres | None) -> float:
    if postgres is None:
        return 0.0
    pids = server_pids(postgres)
    return cpu_seconds(pids[:1], children=True) + cpu_seconds(pids[1:])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- one run --------------------------------------------------------------------------------


@dataclass
class RunResult:
    workers: int
    messages: int  # analysed between the first look finding every worker ready and the last
    seconds: float  # that look to the last message analysed
    store_seconds: float  # receivers' start to their exit
    problems: list[Problem]
    exits: list[int | None]
    events: list[str] = field(default_factory=list)
    worker_cpu: float = 0.0  # CPU seconds the workers used in the measured window
    postgres_cpu: float = 0.0  # and PostgreSQL
    idle_share: float = 0.0  # of the machine's CPU time in the window, how much was idle

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


def counts(store: Store) -> dict[str, int]:
    with store.sessions() as session:
        return analysis_db.analysis_counts(session)


def holders(store: Store) -> list[str]:
    with store.sessions() as session:
        return analysis_db.claim_holders(session)


def run_once(
    work: Path,
    url: str,
    files: Sequence[Path],
    expected: int,
    *,
    workers: int,
    batch: int,
    rules: bool,
    groups: Sequence[str],
    concurrent: bool = False,
    chunk: int = 100,
    pause: float = 0.0,
    faults: Callable[[RunResult, Store, list[subprocess.Popen[bytes]], float], None] | None = None,
    timeout: float = 3600.0,
    analyzers: Sequence[str] | None = None,
    postgres: Postgres | None = None,
) -> RunResult:
    """N receivers (one per file) and ``workers`` workers on the database at ``url`` until
    ``expected`` messages are analysed; then the checker.

    By default the receivers store everything first (timed), then the workers start, so their rate
    is theirs alone; ``concurrent`` starts the workers, waits until they are ready, then the
    receivers (the fault run). The rate counts from the first look that finds every worker ready
    (start-up and model loading are not analysis; what the first ones did meanwhile is left out) to
    the last message analysed. ``faults(result, store, workers, share analysed)`` is called at every look
    at the progress and may kill, start and restart things."""
    work.mkdir(parents=True, exist_ok=True)
    config = write_config(work / "config.toml", url, rules=rules, batch=batch, groups=groups)
    store = open_store(load_config(config))  # migrated once here, not raced by every process
    result = RunResult(workers, expected, 0.0, 0.0, [], [])
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    receivers: list[subprocess.Popen[bytes]] = []
    store_done = None
    first: tuple[float, int] | None = None  # when a look first found every worker ready, and how many were done
    cpu_start = (0.0, 0.0)  # the workers' and PostgreSQL's CPU seconds then
    idle_start = (0.0, 0.0)  # and the machine's idle and total CPU seconds
    try:
        if concurrent:  # the workers are up before the first message comes
            procs += [start_worker(config, batch=batch, log=logs / f"worker-{i}.log") for i in range(workers)]
            wait_ready(procs)
        started = time.monotonic()
        receivers += [
            start_receiver(config, f, chunk=chunk, pause=pause, log=logs / f"receiver-{i}.log")
            for i, f in enumerate(files)
        ]
        if not concurrent:
            if any(r.wait() != 0 for r in receivers):
                raise RuntimeError(f"a receiver failed; see {logs}")
            store_done = time.monotonic() - started
            procs += [start_worker(config, batch=batch, log=logs / f"worker-{i}.log") for i in range(workers)]
        while True:
            time.sleep(0.2)
            try:
                now = counts(store)
            except SQLAlchemyError:
                continue  # the database is restarting
            if store_done is None and all(r.poll() is not None for r in receivers):
                store_done = time.monotonic() - started
            if first is None and all(ready(p) for p in procs):  # every model loaded: the clock starts
                first = (time.monotonic(), now["done"])
                cpu_start = cpu_seconds([p.pid for p in procs]), postgres_cpu(postgres)
                idle_start = machine_idle()
            if faults is not None:
                faults(result, store, procs, now["done"] / expected)
            if now["done"] + now["failed"] >= expected and store_done is not None:
                break
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"not finished after {timeout:.0f} s: {now}")
            for i, p in enumerate(procs):
                if p.poll() not in (None, -signal.SIGKILL) and not ready(p):
                    # died while starting (a deadlock with a receiver's first writes has been seen):
                    # recorded, and started again as a service manager would
                    result.events.append(f"a worker failed while starting: {last_line(p)}")
                    procs[i] = start_worker(
                        config, batch=batch, log=logs / f"worker-{i}-again-{len(result.events)}.log"
                    )
            dead = [p for p in procs if p.poll() not in (None, -signal.SIGKILL)]
            dead += [r for r in receivers if r.poll() not in (None, 0)]
            if dead:
                raise RuntimeError(f"a process exited with status {dead[0].returncode}; see {logs}")
        if first is None:  # done before every worker was ready: too few messages to measure a rate
            first = (time.monotonic(), expected)
            result.events.append("every message was analysed before all workers were ready: no rate")
        else:
            result.worker_cpu = cpu_seconds([p.pid for p in procs]) - cpu_start[0]
            result.postgres_cpu = postgres_cpu(postgres) - cpu_start[1]
            idle_end = machine_idle()
            result.idle_share = (idle_end[0] - idle_start[0]) / max(idle_end[1] - idle_start[1], 1e-9)
        result.seconds = time.monotonic() - first[0]
        result.messages = expected - first[1]
        result.store_seconds = store_done or 0.0
    finally:
        result.exits = stop(procs)
        stop(receivers)
    tz = load_config(config).digest_timezone()  # the profiles' hours and days are local
    result.problems = check_database(store.engine, tz=tz, stopped=True, finished=True, analyzers=analyzers)
    with store.sessions() as session:
        done = analysis_db.analysis_counts(session)["done"]
    if done != expected:
        result.problems.append(Problem("stored", f"{done} messages analysed, {expected} sent"))
    if any(code != 0 for code in result.exits):
        result.problems.append(Problem("exit", f"workers stopped with statuses {result.exits}; see {logs}"))
    store.close()
    return result


class FaultPlan:
    """Kill one worker while it holds a claimed batch once ``kill_at`` is analysed; restart
    PostgreSQL once half is analysed.

    After the kill a replacement starts, as a service manager would, and frees the dead worker's
    claims at once (its process is gone: ``bot.pipeline.is_dead_here``). With ``lapse`` no
    replacement starts: ``lapse(store, holder)`` is called to make the dead worker's lease run out
    now (a test, where waiting out the lease would take minutes), and the others take its batch."""

    def __init__(
        self,
        work: Path,
        config: Path,
        batch: int,
        postgres: Postgres,
        *,
        kill_at: float = 0.25,
        lapse: Callable[[Store, str], None] | None = None,
    ) -> None:
        self.work, self.config, self.batch, self.postgres = work, config, batch, postgres
        self.kill_at, self.restart_at = kill_at, 0.5
        self.lapse = lapse
        self.killed = self.restarted = False
        self.tries = 0

    def __call__(self, result: RunResult, store: Store, procs: list[subprocess.Popen[bytes]], share: float) -> None:
        if not self.killed and share >= self.kill_at:
            self._kill_mid_batch(result, store, procs)
        elif self.killed and not self.restarted and share >= self.restart_at:
            down = self.postgres.restart()
            self.restarted = True
            result.events.append(f"PostgreSQL restarted at {share:.0%} analysed (down {down:.1f} s)")

    def _kill_mid_batch(self, result: RunResult, store: Store, procs: list[subprocess.Popen[bytes]]) -> None:
        victim = procs[0]
        mark = f":{victim.pid}:"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until it holds a claim: it is in the middle of a batch
            if any(mark in h for h in holders(store)):
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                break
            time.sleep(0.005)
        else:
            return  # it never held a claim long enough to be seen: tried again at the next look
        held = [h for h in holders(store) if mark in h]
        logs = self.work / "logs"
        if not held:  # it committed between the look and the kill: a replacement, and again
            self.tries += 1
            result.events.append("a kill landed between batches; trying again")
        else:
            self.killed = True
            result.events.append(f"worker pid {victim.pid} killed (SIGKILL) holding a claimed batch")
            if self.lapse is not None:
                for holder in held:
                    self.lapse(store, holder)
                result.events.append("its lease ran out; the other workers take its batch")
                procs.pop(0)
                return
        procs[0] = start_worker(self.config, batch=self.batch, log=logs / f"worker-replacement-{self.tries}.log")


# -- main -----------------------------------------------------------------------------------


def group_ids(messages: Sequence[GroupMessage]) -> list[str]:
    return sorted({m.group_id for m in messages})


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command")
    rc = sub.add_parser("receive", help="(internal) one receiver process")
    rc.add_argument("--config", type=Path, required=True)
    rc.add_argument("--chunk", type=int, default=100)
    rc.add_argument("--pause", type=float, default=0.0)
    rc.add_argument("files", nargs="+", type=Path)
    p.add_argument("--messages", type=int, default=200_000)
    p.add_argument("--groups", type=int, default=500)
    p.add_argument("--receivers", type=int, default=2)
    p.add_argument("--workers", default="1,2,4", help="worker counts to measure, comma-separated")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--rules", action="store_true", help="the rule analyzers instead of the model")
    p.add_argument("--demo", action="store_true", help="texts from the bundled demo day, not ../shared/data")
    p.add_argument("--no-fault", action="store_true", help="skip the fault run")
    p.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "qunzhi-multiworker")
    p.add_argument("--port", type=int, default=0, help="PostgreSQL port (default: a free one)")
    args = p.parse_args(argv)
    if args.command == "receive":
        return receive(args.config, args.files, args.chunk, args.pause)

    signal.signal(signal.SIGTERM, _exit_on_term)  # stopped: the finally blocks stop every process started
    counts_m = [int(x) for x in args.workers.split(",")]
    texts = demo_texts() if args.demo or not DATA.is_dir() else shared_texts()
    messages = generate(args.messages, args.groups, texts)
    work = args.dir
    work.mkdir(parents=True, exist_ok=True)
    files = receiver_files(messages, args.receivers, work)
    postgres = Postgres(work / "pg", args.port or free_port())
    base = postgres.start()
    analyzers = ("ad", "useful", "intent") if args.rules else ("ad", "useful", "intent", "ad_rules")
    groups = group_ids(messages)
    print(
        f"{args.messages} messages over {args.groups} groups, {args.receivers} receivers, batch {args.batch}, "
        f"{'rules' if args.rules else 'the model (1 torch thread per worker)'}, {os.cpu_count()} CPUs"
    )
    results: list[RunResult] = []
    status = 0
    try:
        for m in counts_m:
            url = fresh_database(base, f"mw_{m}")
            r = run_once(
                work / f"m{m}", url, files, len(messages), workers=m, batch=args.batch, rules=args.rules,
                groups=groups, analyzers=analyzers, postgres=postgres,
            )  # fmt: skip
            results.append(r)
            print(_line(r, results[0]))
            for e in r.events:
                print(f"    {e}")
            status |= _report_problems(r)
        if not args.no_fault:
            m = max(counts_m)
            url = fresh_database(base, "mw_fault")
            fwork = work / "fault"
            fwork.mkdir(exist_ok=True)
            plan = FaultPlan(fwork, fwork / "config.toml", args.batch, postgres)
            r = run_once(
                fwork, url, files, len(messages), workers=m, batch=args.batch, rules=args.rules, groups=groups,
                faults=plan, analyzers=analyzers, concurrent=True,
            )  # fmt: skip
            print(_line(r, results[0] if results else r, label="fault run"))
            for e in r.events:
                print(f"    {e}")
            status |= _report_problems(r)
    finally:
        postgres.stop()
    return status


def _exit_on_term(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _line(r: RunResult, first: RunResult, label: str = "") -> str:
    ratio = r.rate / first.rate if first.rate else 0.0
    what = label or f"{r.workers} worker{'s' if r.workers > 1 else ''}"
    of = f"{first.workers} worker{'s' if first.workers > 1 else ''}"
    cores = ""
    if r.seconds and not label:
        cores = f"; cores busy: workers {r.worker_cpu / r.seconds:.2f}, PostgreSQL {r.postgres_cpu / r.seconds:.2f}"
        if r.worker_cpu:  # what a worker's CPU second buys: falls when coordination costs
            cores += f" ({r.messages / r.worker_cpu:.0f} messages per worker CPU second)"
        cores += f", machine idle {r.idle_share:.0%}"  # idle while workers wait: locks; none: other load
    return (
        f"{what:>12}: {r.rate:6.0f} messages/s analysed ({ratio:.2f}x {of}) over {r.seconds:5.1f} s{cores}; "
        f"receivers stored all in {r.store_seconds:5.1f} s; checker: "
        + ("consistent" if not r.problems else f"{len(r.problems)} problems")
    )


def _report_problems(r: RunResult) -> int:
    for problem in r.problems:
        print(f"    {problem}")
    return 1 if r.problems else 0


if __name__ == "__main__":
    sys.exit(main())
