"""Latency of ``POST /api/v1/check`` through the real HTTP stack, side by side with calling the checker
directly, in one run; the ratio is what HTTP (uvicorn, routing, the token lookup, JSON) adds.

    .venv/bin/python benchmarks/api_check.py [--requests 400] [--cores 2] [--ner]

The console is served by uvicorn on 127.0.0.1 in a child process, as ``qunzhi web`` serves it, on
a fresh SQLite file with one API token; an httpx client keeps its connection alive. The direct
checker is built in this process as the console builds its own, from the default config (``models.use = true``: the int8 model of models/qunzhi;
entities as the pipeline finds them, the NER head too with ``--ner``), warmed up first. Each
message is checked directly and over HTTP in alternation, with a number after the text so no
cache sees a text twice. Messages are the bundled demo day, of varied length, and every tenth a
long announcement (a few hundred characters). Also printed: where a direct check spends its time.

``--cores N`` pins the process to N cores (the issue's target: p99 ≤ 50 ms on 2 cores). Not a
test: numbers depend on the machine and on what else runs on it; the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import functools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import uvicorn  # noqa: E402

from bot.adapters.replay import read_jsonl  # noqa: E402
from bot.check import Checker, shared_checker  # noqa: E402
from bot.config import Config  # noqa: E402
from bot.store import accounts as accounts_db  # noqa: E402
from bot.web.app import create_app  # noqa: E402
from bot.web.security import new_secret  # noqa: E402
from bot.wiring import freeze_startup_objects, open_store  # noqa: E402
from nlp.item import Item  # noqa: E402

SAMPLE = ROOT / "bot" / "demo" / "sample_day.jsonl"
TOPIC = "人工智能"
LONG = "群公告：本周六上午九点线上分享大模型推理优化，内容包括量化、批处理、缓存和服务化部署，欢迎报名参加。"


def messages(n: int) -> list[str]:
    """``n`` texts: the demo day's, each with its number after it, and every tenth a long announcement."""
    day = [m.text for m in read_jsonl(SAMPLE).messages if m.text.strip()]
    return [(LONG * 6 if i % 10 == 9 else day[i % len(day)]) + f" ({i})" for i in range(n)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_config(db_path: str, args: argparse.Namespace) -> Config:
    return Config.model_validate(
        {
            "database": {"url": f"sqlite:///{db_path}"},
            "models": {"use": not args.rules},
            "analysis": {"ner": args.ner},
        }
    )


def serve(args: argparse.Namespace) -> int:
    """The child process: the console as ``qunzhi web`` runs it (its checker warmed up first)."""
    config = bench_config(args.serve, args)
    store = open_store(config)
    shared_checker(config).warm_up()
    freeze_startup_objects()
    uvicorn.run(create_app(config, store), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    return 0


class Served:
    """The console in a child process on 127.0.0.1, on a fresh database with one API token."""

    def __init__(self, db_path: str, args: argparse.Namespace) -> None:
        store = open_store(bench_config(db_path, args))
        self.token = new_secret()
        with store.sessions.begin() as session:
            accounts_db.add_user(session, "bench", "not a real hash", "superadmin")
            accounts_db.create_token(session, "bench", "bench", self.token)
        store.close()
        self.port = free_port()
        argv = [sys.executable, __file__, "--serve", db_path, "--port", str(self.port)]
        argv += ["--rules"] * args.rules + ["--ner"] * args.ner
        self.child = subprocess.Popen(argv)
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.child.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the console did not start")
            time.sleep(0.2)

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}", headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )

    def stop(self) -> None:
        self.child.terminate()
        self.child.wait()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def row(name: str, ms: list[float]) -> str:
    return (
        f"{name:<44} {pct(ms, 0.5):7.1f} {pct(ms, 0.95):7.1f} {pct(ms, 0.99):7.1f} {max(ms):7.1f}"
        f"   (mean {statistics.mean(ms):.1f})"
    )


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def side_by_side(
    checker: Checker, client: httpx.Client, texts: list[str]
) -> tuple[list[float], list[float], list[float]]:
    """Each text checked directly, then (numbered apart) over HTTP; and a ``GET /healthz`` (one
    database ping, no token) beside each, the HTTP stack's floor."""
    direct, http, floor = [], [], []
    for text in texts:
        direct.append(timed(functools.partial(checker.check, text + " d", TOPIC)))
        http.append(timed(functools.partial(post_check, client, text + " h")))
        floor.append(timed(functools.partial(client.get, "/healthz")))
    return direct, http, floor


def post_check(client: httpx.Client, text: str) -> None:
    r = client.post("/api/v1/check", json={"text": text, "topic": TOPIC})
    r.raise_for_status()
    assert r.json()["verdicts"]


def breakdown(checker: Checker, texts: list[str]) -> dict[str, list[float]]:
    """Where a direct check spends its time: the model's forward pass and heads, the rule signals
    kept as reasons, and each extractor."""
    from nlp.classify import ModelAnalyzer

    analyzer = checker._loaded_analyzers()[0]
    extractor = checker._loaded_extractors()[0]
    out: dict[str, list[float]] = {}
    now = datetime.now(timezone.utc)
    patterns = getattr(extractor, "patterns", extractor)
    ner = getattr(extractor, "ner", None)
    for text in texts:
        items = [Item(text + " b", TOPIC, sent_at=now)]
        if isinstance(analyzer, ModelAnalyzer):
            forward = functools.partial(analyzer.predict, [items[0].text], [TOPIC])
            out.setdefault("  model forward + heads (int8)", []).append(timed(forward))
            rules = functools.partial(analyzer._rule_verdicts, items)
            out.setdefault("  rule signals kept as reasons", []).append(timed(rules))
        out.setdefault("  entities: patterns", []).append(timed(functools.partial(patterns.extract, items)))
        if ner is not None:
            out.setdefault("  entities: NER head (fp32)", []).append(timed(functools.partial(ner.extract, items)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--cores", type=int, default=0, help="pin the process to this many cores (0: as it is)")
    ap.add_argument("--ner", action="store_true", help="run the NER head on every check (analysis.ner = true)")
    ap.add_argument("--rules", action="store_true", help="the rule baseline instead of the model (models.use = false)")
    ap.add_argument("--serve", metavar="DB", help=argparse.SUPPRESS)  # the child process
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.cores:  # inherited by the child
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[: args.cores]))
    if args.serve:
        return serve(args)
    texts = messages(args.requests)
    with tempfile.TemporaryDirectory() as d:
        served = Served(f"{d}/bench.db", args)
        checker = shared_checker(bench_config(f"{d}/bench.db", args))  # built as the console's is
        started = time.perf_counter()
        checker.warm_up()
        loaded = time.perf_counter() - started
        freeze_startup_objects()
        with served.client() as client:
            side_by_side(checker, client, texts[:20])  # warm up the HTTP path and the thread pool
            direct, http, floor = side_by_side(checker, client, texts)
        parts = breakdown(checker, texts[: min(200, len(texts))])
        served.stop()
    import torch

    lengths = [len(t) for t in texts]
    print(
        f"machine: {len(os.sched_getaffinity(0))} cores, {torch.get_num_threads()} torch threads; "
        f"{'rules' if args.rules else 'model'}, NER {'on' if args.ner else 'off'}; loaded and warmed in {loaded:.1f} s; "
        f"load average at the end {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{len(texts)} messages, {statistics.median(lengths):.0f} chars median, {max(lengths)} longest; "
        "latency in ms per message"
    )
    print()
    print(f"{'':<44} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}")
    print(row("Checker.check, direct", direct))
    print(row("POST /api/v1/check over HTTP (keep-alive)", http))
    print(row("  GET /healthz over HTTP (the stack's floor)", floor))
    for name, ms in parts.items():
        print(row(name, ms))
    print()
    overhead = [h - c for c, h in zip(direct, http)]
    print("ratios")
    print(f"  HTTP / direct, p50                     {pct(http, 0.5) / pct(direct, 0.5):5.2f}")
    print(f"  HTTP / direct, p99                     {pct(http, 0.99) / pct(direct, 0.99):5.2f}")
    print(f"  HTTP overhead per request, median      {statistics.median(overhead):5.1f} ms")
    verdict = "met" if pct(http, 0.99) <= 50 else "NOT met"
    print(f"  target p99 ≤ 50 ms over HTTP: {verdict} ({pct(http, 0.99):.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
