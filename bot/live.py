"""The live bot: messages from a connected platform through the pipeline, commands, moderation,
the outbox and the digest schedule — everything but the platform itself, which comes in as a
``LivePlatform`` (the Wechaty adapter in production, anything that speaks the protocol in tests).

Execution model — which thread runs what:

- **The event loop** (one thread) runs only what awaits: the platform's I/O and its callbacks, the
  timers (APScheduler's digest jobs, kept in memory; the daily purge), and the outbox sender's
  platform calls. Once ``run()`` has started, nothing on it reads or writes the database or runs
  a model (building a ``LiveBot`` loads the models and syncs the groups, before anything arrives).
- **The one worker** (``qunzhi-worker``, ``LiveBot._in_worker``) runs every blocking step of the
  bot, one at a time in the order submitted: storing what arrives (messages, room roles),
  commands, analysis and moderation (the models), digests (scheduled and caught up) and the
  retention purge. So the models are never used by two threads at once and the bot never
  contends with itself for the SQLite writer.
- **The outbox's own thread** (``qunzhi-outbox``, see ``bot.outbox``) does the sender's database
  reads and marks.
- **The metrics server** (``qunzhi-metrics``, ``bot.metrics``; only with ``[metrics] port``) reads
  the outbox depth and pings the database on its own thread when scraped. The heartbeat for the
  console (``bot.store.bot_status``) is written by the worker, at start, every
  ``heartbeat_seconds`` and on every (re)connect; the stop is marked after the worker has finished.

Wake-ups cross threads only through the loop: asyncio objects (``Event.set``, futures) are touched
on the loop's thread alone, and a worker that must wake something calls ``LiveBot.on_loop``
(``loop.call_soon_threadsafe``). The live tests run under asyncio's debug mode, which raises on a
wrong-thread call and reports a callback that holds the loop.

- A message is stored first, with its role (``commands.message_role``): a member's chat, a
  command, or the bot's own words (the platform echoes what the bot says). Chat and commands are
  analysed and moderated (an ad behind a command is still caught); only chat is counted; the bot's
  own words are only kept. A duplicate (same platform id) stops there.
- A command is answered at once: only what it acts on is analysed first (for ``/spam`` and
  ``/notspam`` the pending messages of the member they are about), not the backlog; its reply
  and effects go to the outbox in one transaction. A receiver (``--no-analysis``) analyses nothing,
  not even that: the command acts at once on what the workers have judged so far (``/spam`` on a
  message not yet analysed records the admin's verdict and strike; a worker then leaves that
  message's judgement to the admin and judges the member's other pending messages after it).
- Every stored message wakes the analysis loop, which analyses what is pending one batch per turn
  on the worker, so a command waits for at most one batch; the actions it decides are queued in
  the transaction that records them.
- At start, messages stored but never analysed (a crash, a stop) are analysed first, and missed
  digests (daily, weekly, monthly) and briefings are caught up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Protocol, TypeVar

from sqlalchemy.orm import Session

from bot import commands, metrics
from bot.account_lock import AccountInUse, AccountLock
from bot.adapters.source import PullSource
from bot.config import Config
from bot.enforcement import carry_out
from bot.message import GroupMessage, Platform, RoomInfo
from bot.outbox import Outbox, OutboxSender
from bot.period_scheduler import PeriodScheduler
from bot.pipeline import IngestReport, PlannedAction
from bot.retention import purge_daily
from bot.scheduler import DigestScheduler
from bot.store import (
    analysis as analysis_db,
    bot_status as bot_status_db,
    groups as groups_db,
    messages as messages_db,
    notify as notify_db,
)
from bot.store.common import BOT, COMMAND
from bot.sync import SyncRunner
from bot.wiring import Store, build_pipeline

log = logging.getLogger(__name__)
T = TypeVar("T")

WORKER_THREAD = "qunzhi-worker"  # the name (prefix) of the one thread that does the blocking work
# how long a command waits for another process (a worker) holding the member it is about to finish its batch
COMMAND_WAIT_SECONDS = 10.0
OUTBOX_POLL_SECONDS = 5.0  # a receiver's look at the outbox without a notification (--no-analysis)
HEARTBEAT_SECONDS = 20.0  # how often the bot writes its heartbeat (bot.store.bot_status: stale after 90 s)

MessageHandler = Callable[[GroupMessage], Awaitable[None]]
RoomHandler = Callable[[RoomInfo], Awaitable[None]]


class LivePlatform(Platform, Protocol):
    """A platform the bot lives on: it runs (reconnecting by itself) and calls back with messages."""

    @property
    def self_id(self) -> str: ...

    @property
    def self_name(self) -> str: ...

    @property
    def source(self) -> str:
        """The ``GroupMessage.source`` of what it delivers: the live bot analyses and acts on those
        only, never on what an import or replay left pending (old messages, judged by their own run)."""
        ...

    async def run(self, on_message: MessageHandler, on_room: RoomHandler) -> None:
        """Connect and deliver messages until cancelled; reconnect with backoff when dropped."""
        ...


def _now() -> datetime:
    return datetime.now(timezone.utc)


class LiveBot:
    def __init__(
        self,
        config: Config,
        store: Store,
        platform: LivePlatform,
        *,
        analyzers: list[Any] | None = None,
        clock: Callable[[], datetime] = _now,
        sender: OutboxSender | None = None,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        pull_sources: Sequence[PullSource] = (),
        analyse: bool = True,
    ) -> None:
        """``heartbeat_seconds``: how often the bot's state is written for the console
        (``bot.store.bot_status``); also at start, on every (re)connect and, stopped, at the end.
        ``pull_sources`` (``bot.sync.build_pull_sources``) are pulled beside the platform, each
        every ``source.every``, through a dry-run pipeline of their own (``bot.sync``: history is
        judged, never acted on); their database work runs on the worker, their pulls on a thread.
        ``analyse=False`` (``qunzhi run --no-analysis``): a receiver that stores, answers commands,
        sends and runs the digests, and never analyses; ``qunzhi worker`` processes analyse what it
        stores and queue what they decide, which its sender carries out (``_follow_outbox``)."""
        self.config = config
        self.store = store
        self.platform = platform
        self.clock = clock
        self.outbox = Outbox(config.digest.max_part_chars, clock=clock)
        self.account_lock = AccountLock(store.engine)  # one qunzhi run per account (bot.account_lock)
        self.sender = sender or OutboxSender(
            store.sessions, platform, config.send, clock=clock, account=self._sending_account
        )
        # what arrives is stored by _take, with its role as this account sees it: roles=False
        self.analyses = analyse
        self.pipeline = build_pipeline(
            config, store, on_action=self._queue_action, analyzers=analyzers, roles=False, analyse=analyse
        )
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=WORKER_THREAD)
        self._pull_sources = list(pull_sources)
        self._sync = (
            SyncRunner(config, store, build_pipeline(config, store, dry_run=True, analyzers=analyzers, analyse=analyse))
            if self._pull_sources
            else None
        )
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop run() runs on
        self.digests = DigestScheduler(
            store.sessions,
            config,
            self.outbox,
            clock=clock,
            on_queued=lambda: self.on_loop(self.sender.wake),
            run_blocking=self._in_worker,
        )
        self.periods = PeriodScheduler(  # weekly and monthly digests, personal briefings
            store.sessions,
            config,
            self.outbox,
            clock=clock,
            on_queued=lambda: self.on_loop(self.sender.wake),
            run_blocking=self._in_worker,
        )
        self._analysis_needed = asyncio.Event()
        self._heartbeat_seconds = heartbeat_seconds
        self._beat_now = asyncio.Event()
        platform.on_connected(lambda: self.on_loop(self._beat_now.set))
        self._received_metric = metrics.MESSAGES_RECEIVED.labels(metrics.source_label(platform.source))
        self._stored_metric = metrics.MESSAGES_STORED.labels(metrics.source_label(platform.source))
        self.received = 0  # messages the platform delivered
        self.handled = 0  # of those, fully handled (stored, and answered if a command)

    def warm_up(self) -> None:
        """Load what analysis, profiles and digests load on first use (the model, three jieba
        dictionaries: about a second each on a small machine) now. Call it before the event loop
        runs, as ``qunzhi run`` does: loaded later on the worker, they hold the GIL for up to
        seconds at a time and stall the loop (and the first message waits for them)."""
        self.pipeline.warm_up()
        load_text_tools()

    # -- blocking work, one at a time ---------------------------------------------------------

    async def _in_worker(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the one worker thread, after what is already queued there."""
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)

    def on_loop(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the event loop: at once when called there, else handed over with
        ``call_soon_threadsafe`` — asyncio objects (``Event.set``, futures) may only be touched from
        the loop's own thread. Before ``run()`` (or after it ended) nothing waits, so nothing is done."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:  # a worker thread
            here = None
        if here is loop:
            fn()
        else:
            loop.call_soon_threadsafe(fn)

    def _queue_action(self, session: Session, planned: PlannedAction) -> None:
        carry_out(
            session,
            self.outbox,
            self.config,
            planned.message,
            planned.action,
            action_pk=planned.action_pk,
            dry_run=planned.dry_run,
        )

    # -- platform callbacks -------------------------------------------------------------------

    async def on_message(self, msg: GroupMessage) -> None:
        self.received += 1
        self._received_metric.inc()
        try:
            await self._in_worker(self._take, msg)
        except Exception:  # noqa: BLE001 - one bad message must not stop the bot
            log.exception("message %s from %s in %s could not be handled", msg.id, msg.sender_id, msg.group_id)
        finally:
            self.handled += 1
            self._analysis_needed.set()  # here, on the loop: the worker never touches asyncio objects
        self.sender.wake()

    def _take(self, msg: GroupMessage) -> None:
        role = commands.message_role(
            msg, self.config, bot_id=self.platform.self_id or None, bot_name=self.platform.self_name
        )
        with self.store.sessions.begin() as session:
            ((pk, created),) = messages_db.store_messages(session, [msg], [role])
            if created and role != BOT:
                notify_db.notify(session, notify_db.PENDING)  # wakes the workers (bot.worker) at commit
        if not created:
            log.info("message %s arrived again; stored once", msg.id)
            return
        self._stored_metric.inc()
        if role != COMMAND:
            return  # chat waits for the analysis loop (so does a command, after its answer); the bot's own words are only kept
        invocation = commands.registry.parse(
            msg,
            prefixes=self.config.bot.command_prefixes,
            bot_id=self.platform.self_id,
            bot_name=self.platform.self_name,
        )
        if invocation is not None:
            log.info("command /%s from %s in %s", invocation.name, msg.sender_id, msg.group_id)
            with self.store.sessions() as session:
                needed = commands.messages_needed(invocation, msg, session)
            if needed:  # what the command acts on is judged first; the rest of a backlog waits
                self.pipeline.process_messages(needed, wait=COMMAND_WAIT_SECONDS)
            commands.handle(
                invocation,
                msg,
                pk,
                sessions=self.store.sessions,
                config=self.config,
                outbox=self.outbox,
                bot_id=self.platform.self_id,
                now=self.clock(),
            )

    async def on_room(self, room: RoomInfo) -> None:
        def keep() -> None:
            with self.store.sessions.begin() as session:
                groups_db.set_room_roles(session, room.group_id, room.owner_id, room.admin_ids)
                if self.platform.self_id:  # this account's sender sends the room's outbox rows
                    groups_db.set_group_account(session, room.group_id, self.platform.self_id)
                if room.topic:
                    groups_db.set_group(session, room.group_id, name=room.topic)

        await self._in_worker(keep)

    # -- loops --------------------------------------------------------------------------------

    async def analyse_forever(self) -> None:
        while True:
            await self._analysis_needed.wait()
            self._analysis_needed.clear()
            try:
                await self.analyse_pending()
            except Exception:  # noqa: BLE001 - the messages stay pending; the next message retries
                log.exception("analysis failed; pending messages are retried on the next wake")
                await asyncio.sleep(1.0)

    async def _follow_outbox(self) -> None:
        """A receiver's sender is woken when a worker queues something (PostgreSQL ``NOTIFY``, or a
        look every ``OUTBOX_POLL_SECONDS``: on SQLite, and for a notification missed meanwhile)."""
        listener = notify_db.Listener(self.store.engine, [notify_db.OUTBOX])
        try:
            while True:
                if listener.enabled:
                    waited = 0.0
                    while waited < OUTBOX_POLL_SECONDS and not await asyncio.to_thread(listener.wait, 1.0):
                        waited += 1.0
                else:
                    await asyncio.sleep(OUTBOX_POLL_SECONDS)
                self.sender.wake()
        finally:
            await asyncio.to_thread(listener.close)

    async def analyse_pending(self) -> None:
        """Analyse what is pending, oldest first, one batch per turn on the worker: a command that
        arrives meanwhile waits for one batch, not for the whole backlog. A message that fails is
        left for the next wake (as are those another process has claimed). Only the platform's own
        messages: an import or replay killed half-way leaves its messages for its own next run, which
        judges them as a dry run, not for the live bot to act on months-old ads."""
        skip: set[int] = set()  # touched only by the worker, one call at a time
        while (report := await self._in_worker(self._analyse_batch, skip)) is not None:
            if report.analysed or report.actions or report.failed:
                log.info("analysed %d, actions %d, failed %d", report.analysed, len(report.actions), report.failed)
            if report.actions:
                self.sender.wake()

    def _analyse_batch(self, skip: set[int]) -> IngestReport | None:
        """The next batch of pending messages not in ``skip``; None when there is none. Those that
        stay pending are added to ``skip``."""
        limits = self.config.analysis
        with self.store.sessions() as session:
            pks = analysis_db.pending_pks(
                session, limits.batch_size, limits.max_attempts, exclude=skip, source=self.platform.source
            )
        if not pks:
            return None
        report = self.pipeline.process_messages(pks, wait=0.0)  # a member another process holds: next wake
        with self.store.sessions() as session:
            skip.update(analysis_db.still_pending(session, pks))
        return report

    async def run(self) -> None:
        """Run until cancelled: platform, analysis, outbox and digest schedule."""
        self._loop = asyncio.get_running_loop()
        self._analysis_needed.set()  # whatever was stored but not analysed before a stop
        self.digests.start()
        self.periods.start()
        metrics.watch_connection(lambda: self.platform.connected)
        tasks = [
            asyncio.create_task(self.heartbeat_forever(), name="heartbeat"),
            asyncio.create_task(self.platform.run(self.on_message, self.on_room), name="platform"),
            asyncio.create_task(
                self.analyse_forever() if self.analyses else self._follow_outbox(),
                name="analysis" if self.analyses else "outbox notifications",
            ),
            asyncio.create_task(self.sender.run(), name="outbox"),
            asyncio.create_task(self._catch_up(), name="digest catch-up"),
            asyncio.create_task(
                purge_daily(
                    self.store.sessions,
                    self.config,
                    self._in_worker,
                    self.clock,
                    on_requeued=self._analysis_needed.set,  # on the loop: purge_daily awaits there
                ),
                name="retention",
            ),
        ]
        if self._sync is not None:
            tasks.append(
                asyncio.create_task(self._sync.run_forever(self._pull_sources, self._in_worker), name="sources")
            )
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for t in done:
                if t.exception() is not None:
                    raise t.exception()  # type: ignore[misc]
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.digests.shutdown()
            self.periods.shutdown()
            # let the worker finish what it is doing (a batch commits or rolls back), without ever
            # blocking the event loop on it
            self._worker.shutdown(wait=False, cancel_futures=True)
            await asyncio.to_thread(self._worker.shutdown, True)
            metrics.watch_connection(None)
            await asyncio.to_thread(self._mark_stopped)  # after the worker: nothing of the bot's runs beside it
            await asyncio.to_thread(self.account_lock.release)

    async def heartbeat_forever(self) -> None:
        """Write the bot's state for the console now, every ``heartbeat_seconds`` and on every
        (re)connect; on the worker, like all the bot's database work. A failed write is logged and
        the next one tried: the console only shows the bot as gone meanwhile."""
        while True:
            self._beat_now.clear()
            connected = bool(self.platform.connected)
            try:
                await self._in_worker(self._beat, connected)
            except AccountInUse:
                raise  # another process serves this account: this one stops (with one line)
            except Exception:  # noqa: BLE001 - the heartbeat must not stop the bot
                log.warning("could not write the heartbeat", exc_info=True)
            try:
                async with asyncio.timeout(self._heartbeat_seconds):
                    await self._beat_now.wait()
            except TimeoutError:
                pass

    def _sending_account(self) -> str | None:
        """The account the outbox speaks as, held against other processes first (on the sender's
        database thread; :class:`AccountInUse` when another ``qunzhi run`` holds it: nothing is sent)."""
        account = self.platform.self_id
        if not account:
            return None  # not logged in: the sender does not send then
        self.account_lock.hold(account)
        return account

    def _beat(self, connected: bool) -> None:
        if self.platform.self_id:  # logged in: this process must be the only one speaking as it
            self.account_lock.hold(self.platform.self_id)
        with self.store.sessions.begin() as session:
            bot_status_db.beat(
                session,
                self.pipeline.worker_id,
                platform=self.platform.source,
                self_id=self.platform.self_id,
                connected=connected,
            )  # wall-clock time (the store's), not the bot's clock: the console compares it with now

    def _mark_stopped(self) -> None:
        try:
            with self.store.sessions.begin() as session:
                bot_status_db.stopped(session, self.pipeline.worker_id)
        except Exception:  # noqa: BLE001 - stopping goes on; the heartbeat goes stale instead
            log.warning("could not record the stop in the heartbeat table", exc_info=True)

    async def _catch_up(self) -> None:
        caught = await self._in_worker(self.digests.catch_up)
        for due in caught:
            log.info("caught up the digest of %s for %s", due.group_id, due.day)
        for period in await self._in_worker(self.periods.catch_up):
            log.info("caught up the %s of %s for %s", period.job.kind, period.job.target, period.period_start)


def load_text_tools() -> None:
    """Load the jieba dictionaries of profiles and digests now (see ``LiveBot.warm_up``)."""
    from bot.digest.topics import keywords
    from nlp.profile import topic_words

    topic_words("预热")
    keywords(["预热"], 1)


async def run_until_stopped(bot: LiveBot) -> None:
    """Run the bot until SIGINT/SIGTERM (Ctrl-C), then stop cleanly: tasks cancelled, scheduler
    shut down, the worker finished, the store closed. Fatal platform errors propagate."""
    import signal

    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    stopping = False

    def stop() -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            log.warning("stopping (signal received)")
            main.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    try:
        await bot.run()
    except asyncio.CancelledError:
        if not stopping:
            raise
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        bot.store.close()
        log.warning("stopped")
