"""The live bot: messages from a connected platform through the pipeline, commands, moderation,
the outbox and the digest schedule — everything but the platform itself, which comes in as a
``LivePlatform`` (the Wechaty adapter in production, anything that speaks the protocol in tests).

Blocking work (the store, the models) runs on one worker thread, in arrival order, so the event
loop stays free to receive messages and the SQLite writer is never contended by the bot itself.

- A message is stored first; a duplicate (same platform id) stops there.
- A command is answered at once (its reply and effects go to the outbox in one transaction).
- Anything else wakes the analysis loop, which analyses everything pending in batches; the
  actions it decides are queued in the transaction that records them.
- At start, messages stored but never analysed (a crash, a stop) are analysed first, and missed
  digests are caught up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Protocol, TypeVar

from sqlalchemy.orm import Session

from bot import commands
from bot.config import Config
from bot.enforcement import carry_out
from bot.message import GroupMessage, Platform, RoomInfo
from bot.outbox import Outbox, OutboxSender
from bot.pipeline import PlannedAction, Pipeline
from bot.profiles import build_profile_hook
from bot.retention import purge_daily
from bot.scheduler import DigestScheduler
from bot.store import queries
from bot.wiring import Store, build_analyzers, build_extractors, freeze_startup_objects, sync_groups

log = logging.getLogger(__name__)
T = TypeVar("T")

MessageHandler = Callable[[GroupMessage], Awaitable[None]]
RoomHandler = Callable[[RoomInfo], Awaitable[None]]


class LivePlatform(Platform, Protocol):
    """A platform the bot lives on: it runs (reconnecting by itself) and calls back with messages."""

    @property
    def self_id(self) -> str: ...

    @property
    def self_name(self) -> str: ...

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
    ) -> None:
        self.config = config
        self.store = store
        self.platform = platform
        self.clock = clock
        self.outbox = Outbox(config.digest.max_part_chars, clock=clock)
        self.sender = sender or OutboxSender(store.sessions, platform, config.send, clock=clock)
        sync_groups(config, store)
        self.pipeline = Pipeline(
            store.sessions,
            analyzers if analyzers is not None else build_analyzers(config),
            config,
            on_action=self._queue_action,
            extractors=build_extractors(config),
            on_analysed=build_profile_hook(config),
        )
        freeze_startup_objects()
        self.digests = DigestScheduler(
            store.sessions, config, self.outbox, engine=store.engine, clock=clock, on_queued=self.sender.wake
        )
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qunzhi-worker")
        self._analysis_needed = asyncio.Event()
        self.received = 0  # messages the platform delivered
        self.handled = 0  # of those, fully handled (stored, and answered if a command)

    # -- blocking work, one at a time ---------------------------------------------------------

    async def _in_worker(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)

    def _queue_action(self, session: Session, planned: PlannedAction) -> None:
        carry_out(
            session, self.outbox, self.config, planned.message, planned.action,
            action_pk=planned.action_pk, dry_run=planned.dry_run,
        )

    # -- platform callbacks -------------------------------------------------------------------

    async def on_message(self, msg: GroupMessage) -> None:
        self.received += 1
        try:
            await self._in_worker(self._take, msg)
        except Exception:  # noqa: BLE001 - one bad message must not stop the bot
            log.exception("message %s from %s in %s could not be handled", msg.id, msg.sender_id, msg.group_id)
        finally:
            self.handled += 1
        self.sender.wake()

    def _take(self, msg: GroupMessage) -> None:
        with self.store.sessions.begin() as session:
            ((pk, created),) = queries.store_messages(session, [msg])
        if not created:
            log.info("message %s arrived again; stored once", msg.id)
            return
        invocation = commands.registry.parse(
            msg,
            prefixes=self.config.bot.command_prefixes,
            bot_id=self.platform.self_id,
            bot_name=self.platform.self_name,
        )
        if invocation is not None:
            log.info("command /%s from %s in %s", invocation.name, msg.sender_id, msg.group_id)
            self.pipeline.process_pending()  # a command sees every message before it analysed
            commands.handle(
                invocation, msg, pk, sessions=self.store.sessions, config=self.config, outbox=self.outbox,
                bot_id=self.platform.self_id, now=self.clock(),
            )
        self._analysis_needed.set()

    async def on_room(self, room: RoomInfo) -> None:
        def keep() -> None:
            with self.store.sessions.begin() as session:
                queries.set_room_roles(session, room.group_id, room.owner_id, room.admin_ids)
                if room.topic:
                    queries.set_group(session, room.group_id, name=room.topic)

        await self._in_worker(keep)

    # -- loops --------------------------------------------------------------------------------

    async def analyse_forever(self) -> None:
        while True:
            await self._analysis_needed.wait()
            self._analysis_needed.clear()
            try:
                report = await self._in_worker(self.pipeline.process_pending)
            except Exception:  # noqa: BLE001 - the messages stay pending; the next message retries
                log.exception("analysis failed; pending messages are retried on the next wake")
                await asyncio.sleep(1.0)
                continue
            if report.analysed or report.actions:
                log.info("analysed %d, actions %d, failed %d", report.analysed, len(report.actions), report.failed)
            if report.actions:
                self.sender.wake()

    async def run(self) -> None:
        """Run until cancelled: platform, analysis, outbox and digest schedule."""
        self._analysis_needed.set()  # whatever was stored but not analysed before a stop
        self.digests.start()
        tasks = [
            asyncio.create_task(self.platform.run(self.on_message, self.on_room), name="platform"),
            asyncio.create_task(self.analyse_forever(), name="analysis"),
            asyncio.create_task(self.sender.run(), name="outbox"),
            asyncio.create_task(self._catch_up(), name="digest catch-up"),
            asyncio.create_task(purge_daily(self.store.sessions, self.config, self._in_worker, self.clock), name="retention"),
        ]
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
            # let the worker finish what it is doing (a batch commits or rolls back), without ever
            # blocking the event loop on it
            self._worker.shutdown(wait=False, cancel_futures=True)
            await asyncio.to_thread(self._worker.shutdown, True)

    async def _catch_up(self) -> None:
        caught = await self._in_worker(self.digests.catch_up)
        for due in caught:
            log.info("caught up the digest of %s for %s", due.group_id, due.day)


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
