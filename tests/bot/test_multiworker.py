"""Receivers and workers as real processes on one PostgreSQL, with faults (issue 21, point 5).

One receiving process stores a generated day (the demo day's texts, source ``wechaty`` so the
workers act on it) while two ``qunzhi worker`` processes analyse it; one worker is ``kill -9``-ed while
it holds a claimed batch, its lease is made to run out at once (the lease is minutes long), and the
other worker takes the batch; PostgreSQL is restarted half way. Every process carries on, and the
consistency checker finds every message stored once, analysed once, counted once and acted on once,
nothing left claimed.

The harness is the benchmark's (``benchmarks/multiworker.py``), at a small scale and with the rule
analyzers. It runs its own PostgreSQL cluster (``scripts/pg-test-server``), which it may restart;
it runs where the PostgreSQL tests run (``QUNZHI_TEST_PG_URL``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from benchmarks import multiworker as mw
from bot.config import load_config
from bot.store import analysis as analysis_db
from bot.store.models import Message, utcnow
from bot.wiring import Store, open_store


@pytest.fixture
def postgres(pg_admin) -> Iterator[tuple[mw.Postgres, str]]:  # noqa: ANN001 - gates on the PostgreSQL tests
    """A cluster of this test's own (restarting the shared one would cut other tests off)."""
    folder = Path(tempfile.mkdtemp(prefix="qunzhi-mw-"))
    folder.chmod(0o755)  # reachable by the OS user the cluster runs as
    server = mw.Postgres(folder / "pg", mw.free_port())
    url = server.start()
    yield server, url
    server.stop()
    pointer = folder / "pg" / "cluster"  # where the script kept the cluster, when not in the folder
    if pointer.is_file():
        shutil.rmtree(pointer.read_text().strip(), ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.postgres
def test_a_worker_killed_mid_batch_and_a_database_restart_lose_and_double_nothing(postgres, tmp_path):
    server, url = postgres
    messages = mw.generate(480, 6, mw.demo_texts())
    (file,) = mw.receiver_files(messages, 1, tmp_path)
    plan = mw.FaultPlan(tmp_path, tmp_path / "config.toml", 8, server, kill_at=0.15, lapse=lapse_now)
    result = mw.run_once(
        tmp_path,
        url,
        [file],
        len(messages),
        workers=2,
        batch=8,
        rules=True,
        groups=mw.group_ids(messages),
        concurrent=True,
        chunk=20,
        pause=0.05,  # about two seconds of arrivals: the faults land while messages still come in
        faults=plan,
        timeout=120,
        analyzers=("ad", "useful", "intent"),
    )
    assert plan.killed and plan.restarted, result.events
    assert "its lease ran out; the other workers take its batch" in result.events
    assert result.problems == [], "\n".join(map(str, result.problems))
    assert result.exits == [0]  # the survivor, stopped by SIGTERM: it finished its batch and stopped cleanly
    store = open_store(load_config(tmp_path / "config.toml"))
    try:
        with store.sessions() as s:
            assert analysis_db.analysis_counts(s) == {"pending": 0, "done": len(messages), "failed": 0}
    finally:
        store.close()
    logs = "".join(p.read_text("utf-8") for p in (tmp_path / "logs").glob("receiver-*.log"))
    assert f"receiver: stored {len(messages)}" in logs  # every message stored once, despite re-deliveries


def lapse_now(store: Store, holder: str) -> None:
    """What the passing of the lease does: the dead worker's claims lapse (and nothing else)."""
    with store.sessions.begin() as s:
        s.execute(
            update(Message)
            .where(Message.claimed_by == holder, Message.analysis_status == "pending")
            .values(claim_expires_at=utcnow() - timedelta(seconds=1))
        )


def test_the_generated_day_is_realistic_and_reproducible():
    texts = mw.demo_texts()
    day = mw.generate(500, 5, texts)
    assert day == mw.generate(500, 5, texts)
    assert len({m.id for m in day}) == 500 and len({m.group_id for m in day}) == 5
    ads = [m for m in day if "_spam" in m.sender_id]
    assert ads and all(any(m.text.startswith(a) for a in texts.ads) for m in ads)
    assert all(m.source == "wechaty" for m in day)
