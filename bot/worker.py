"""``qunzhi worker``: a process that only analyses, moderates and queues what its decisions do.

Any number of workers and of receiving processes (``qunzhi run --no-analysis``) share one
PostgreSQL, which is the only coordination point: the pending messages are the queue, a claim
with a lease (``bot.store.analysis.claim_pending``) says whose batch is whose, and a
notification (``bot.store.notify``) wakes idle workers when a receiver stores messages.

The loop: claim a batch, analyse it, and in one transaction save the verdicts, update the member
profiles, judge and queue the warnings, kicks and reports in the outbox (``bot.enforcement``);
the receivers' senders carry them out (woken by a notification too). A worker judges only
messages of ``act_on_sources`` for real; history left pending by an import or a replay is judged
as a drill, as its own run judges it.

With nothing to claim it waits for a notification, or ``poll_seconds`` (PostgreSQL can miss a
notification while a listener reconnects; on SQLite polling is all there is). On SIGTERM or
SIGINT it finishes the batch in hand (commits it) and releases what it still holds; a second
signal aborts the batch (rolled back, released). Killed outright (``kill -9``), its claims lapse
after the lease and another worker takes the batch: nothing is lost, nothing judged twice.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import FrameType

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.config import Config
from bot.enforcement import carry_out
from bot.outbox import Outbox
from bot.pipeline import Analyzer, IngestReport, MultiAnalyzer, Pipeline, PlannedAction
from bot.store import analysis as analysis_db, notify as notify_db
from bot.wiring import Store

log = logging.getLogger(__name__)

POLL_SECONDS = 5.0  # a look at the queue even without a notification
ERROR_PAUSE_SECONDS = 2.0  # after a failed batch (the database gone: it comes back)
LIVE_SOURCES = ("wechaty",)  # what the live platforms deliver: acted on; other sources are history


@dataclass
class WorkerTotals:
    analysed: int = 0
    failed: int = 0
    actions: int = 0
    batches: int = 0
    seconds: float = 0.0  # spent in batches (not waiting)

    def rate(self) -> float:
        return self.analysed / self.seconds if self.seconds > 0 else 0.0


class Worker:
    """Runs ``pipeline`` over the pending messages until ``stop`` is set."""

    def __init__(
        self,
        config: Config,
        store: Store,
        pipeline: Pipeline,
        *,
        poll_seconds: float = POLL_SECONDS,
        idle_stop: bool = False,
    ) -> None:
        """``idle_stop``: return once nothing is left to claim (tests, ``--once``) instead of waiting."""
        self.config = config
        self.store = store
        self.pipeline = pipeline
        self.poll_seconds = poll_seconds
        self.idle_stop = idle_stop
        self.stop = threading.Event()
        self.totals = WorkerTotals()

    def warm_up(self) -> None:
        """Load now what the first batch would (the model, the jieba dictionaries profiles cut words
        with): the first batch's rate then says what a batch costs."""
        from bot.live import load_text_tools

        self.pipeline.warm_up()
        load_text_tools()

    @property
    def worker_id(self) -> str:
        return self.pipeline.worker_id

    def run(self) -> WorkerTotals:
        listener = notify_db.Listener(self.store.engine, [notify_db.PENDING])
        retry_later: set[int] = set()
        try:
            while not self.stop.is_set():
                try:
                    report = self._batch(retry_later)
                except SQLAlchemyError as e:  # the batch rolled back and was released (or its claims lapse)
                    log.warning("batch failed, trying again in %.0f s: %s", ERROR_PAUSE_SECONDS, e)
                    self.stop.wait(ERROR_PAUSE_SECONDS)
                    continue
                if report is not None:
                    continue
                retry_later.clear()  # what failed this round is tried again (up to analysis.max_attempts)
                if self.idle_stop:
                    break
                self._wait(listener)
        finally:
            listener.close()
            self._release()
        return self.totals

    def _batch(self, retry_later: set[int]) -> IngestReport | None:
        started = time.perf_counter()
        report = self.pipeline.process_next_batch(retry_later)
        if report is None:
            return None
        seconds = time.perf_counter() - started
        t = self.totals
        t.analysed += report.analysed
        t.failed += report.failed
        t.actions += len(report.actions)
        t.batches += 1
        t.seconds += seconds
        log.info(
            "batch: %d analysed in %.2f s (%.0f/s), %d actions, %d failed; %d so far at %.0f/s",
            report.analysed,
            seconds,
            report.analysed / seconds if seconds > 0 else 0.0,
            len(report.actions),
            report.failed,
            t.analysed,
            t.rate(),
        )
        return report

    def _wait(self, listener: notify_db.Listener) -> None:
        """Until a notification, ``poll_seconds`` or a stop, whichever comes first (looking at the
        stop at least every second)."""
        deadline = time.monotonic() + self.poll_seconds
        while not self.stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or listener.wait(min(1.0, left)):
                return

    def _release(self) -> None:
        try:
            with self.store.sessions.begin() as session:
                n = analysis_db.release_claims(session, self.worker_id)
            if n:
                log.info("released %d claims", n)
        except SQLAlchemyError as e:
            log.warning("could not release the claims (they lapse after the lease): %s", e)

    def handle_signals(self) -> Callable[[], None]:
        """SIGTERM and SIGINT stop after the batch in hand; a second one aborts it (``KeyboardInterrupt``:
        the batch rolls back and is released). Main thread only; returns what puts the old handlers back."""
        before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

        def first(signum: int, _frame: FrameType | None) -> None:
            log.warning("stopping after this batch (%s); again to abort it", signal.Signals(signum).name)
            self.stop.set()
            for sig in before:
                signal.signal(sig, signal.default_int_handler)

        for sig in before:
            signal.signal(sig, first)

        def restore() -> None:
            for sig, handler in before.items():
                signal.signal(sig, handler)

        return restore


def queue_actions(
    config: Config, outbox: Outbox, sources: Sequence[str] = LIVE_SOURCES
) -> Callable[[Session, PlannedAction], None]:
    """The worker's ``on_action``: queue what the action does in the outbox, in the transaction
    that records it, and notify the senders at its commit. Only for messages of ``sources``:
    history (an import's, a replay's) is judged as a drill and, like its own run, queues nothing —
    not even a drill report to the admins about a months-old ad."""

    def queue(session: Session, planned: PlannedAction) -> None:
        if planned.message.source not in sources:
            return
        carry_out(
            session,
            outbox,
            config,
            planned.message,
            planned.action,
            action_pk=planned.action_pk,
            dry_run=planned.dry_run,
        )
        notify_db.notify(session, notify_db.OUTBOX)

    return queue


def build_worker(
    config: Config,
    store: Store,
    *,
    device: str = "cpu",
    poll_seconds: float = POLL_SECONDS,
    idle_stop: bool = False,
    analyzers: Sequence[Analyzer | MultiAnalyzer] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Worker:
    """A worker on ``store`` with the configured analyzers (loaded on ``device``); ``clock`` stamps
    what it queues (the receivers' senders send what is due by their own clock)."""
    from bot.wiring import build_pipeline

    pipeline = build_pipeline(
        config,
        store,
        on_action=queue_actions(
            config,
            Outbox(config.digest.max_part_chars)
            if clock is None
            else Outbox(config.digest.max_part_chars, clock=clock),
        ),
        analyzers=analyzers,
        device=device,
        act_on_sources=LIVE_SOURCES,
    )
    return Worker(config, store, pipeline, poll_seconds=poll_seconds, idle_stop=idle_stop)
