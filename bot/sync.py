"""The pull-source runner: ``qunzhi sync`` and the sources task of ``qunzhi run``.

One pull of one source (:meth:`SyncRunner.pull_once`, or its three steps when the database work
must go to a worker thread, as in ``bot.live``):

1. read the source's stored cursor (``bot.store.cursors``; ``{}`` the first time);
2. ``source.pull(cursor)`` — blocking (HTTP, files, the WeCom SDK), never touching the database;
3. ingest the messages through the one pipeline (``bot.wiring.build_pipeline``: stored, analysed,
   moderated), keep the rooms' names (and owner/admins where the source has them), and only THEN
   save the new cursor. A crash between the two re-pulls what was stored; the store's uniqueness
   on (``source``, ``id``) drops it: nothing is lost, nothing stored twice.

Pulled messages are **history**, judged as a dry run, like ``qunzhi import``: moderation is
recorded (what it would do) but never acted on — no warning, no kick, nothing sent. Only the live
platform of ``qunzhi run`` acts, on what it delivers itself; a pull source has no bot account in
the group to act with, and a batch of last hour's messages is not the moment to warn someone.

Failures: a record the source could not read is a ``RowError``, logged, and the pull goes on. A
:class:`SourceError` with ``retry=True`` (unreachable, timed out) is logged and the source is
pulled again next period, from the same cursor. One with ``retry=False`` (misconfigured, refused:
a wrong secret, a missing key) is logged as an error and that source stops until a restart; the
others go on. Any other exception in a pull is logged with its traceback and retried next period.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from bot.adapters.errors import RowError
from bot.adapters.source import PullResult, PullSource, SourceError
from bot.config import Config
from bot.message import RoomInfo
from bot.pipeline import Pipeline
from bot.store import cursors as cursors_db, groups as groups_db
from bot.wiring import Store

log = logging.getLogger(__name__)
T = TypeVar("T")

ROW_ERRORS_LOGGED = 20  # per pull; the rest are counted

# [[sources]] kind -> (module, class): imported only when configured (the WeCom SDK is optional)
SOURCE_CLASSES = {
    "chatlog": ("bot.adapters.chatlog_api", "ChatlogPull"),
    "folder": ("bot.adapters.folder", "FolderWatch"),
    "wecom": ("bot.adapters.wecom", "WeComArchive"),
}


def build_pull_sources(config: Config, only: str | None = None) -> list[PullSource]:
    """The configured ``[[sources]]`` as pull sources (``only``: the one of that name). A source
    whose module or SDK is missing, or whose settings cannot work, raises :class:`SourceError`."""
    chosen = [s for s in config.sources if only is None or s.name == only]
    if only is not None and not chosen:
        names = ", ".join(s.name for s in config.sources) or "none"
        raise SourceError(f"no [[sources]] entry named {only!r} (configured: {names})", retry=False)
    built: list[PullSource] = []
    for entry in chosen:
        module_name, class_name = SOURCE_CLASSES[entry.kind]
        try:
            module = importlib.import_module(module_name)
        except ImportError as e:
            raise SourceError(
                f"source {entry.name!r} ({entry.kind}) cannot be loaded: {e}; see docs/guide/imports.md",
                retry=False,
            ) from None
        cls = getattr(module, class_name)
        built.append(cls(entry))
    return built


@dataclass
class PullReport:
    """What one pull of one source did."""

    source: str
    read: int = 0
    stored: int = 0
    duplicates: int = 0
    rooms: int = 0
    errors: list[RowError] = field(default_factory=list)
    failure: str = ""  # the SourceError (or crash) that stopped this pull; "" when it went through
    stop: bool = False  # the failure will not go away by itself: stop pulling this source

    def line(self) -> str:
        if self.failure:
            return f"{self.source}: failed: {self.failure}" + (" (stopped until restart)" if self.stop else "")
        return (
            f"{self.source}: {self.read} messages read, {len(self.errors)} malformed records skipped; "
            f"{self.stored} stored, {self.duplicates} already stored, {self.rooms} rooms"
        )


class SyncRunner:
    """Pulls sources into one store through one (dry-run) pipeline. The steps are separate so a
    caller with a database thread of its own (the live bot) can run them where they belong."""

    def __init__(self, config: Config, store: Store, pipeline: Pipeline) -> None:
        self.config = config
        self.store = store
        self.pipeline = pipeline

    # -- the three steps ---------------------------------------------------------------------

    def load_cursor(self, source: PullSource) -> dict[str, Any]:
        with self.store.sessions() as session:
            return cursors_db.cursor(session, source.name)

    def keep(self, source: PullSource, result: PullResult) -> PullReport:
        """Ingest what a pull brought, keep its rooms, then save its cursor (in that order)."""
        report = PullReport(source.name, read=len(result.messages), errors=list(result.errors))
        _log_row_errors(source.name, result.errors)
        if result.messages:
            ingested = self.pipeline.ingest(result.messages)
            report.stored, report.duplicates = ingested.stored, ingested.duplicates
        with self.store.sessions.begin() as session:
            report.rooms = keep_rooms(session, result.rooms)
            cursors_db.save_cursor(session, source.name, result.cursor)
        return report

    # -- one whole pull ------------------------------------------------------------------------

    def pull_once(self, source: PullSource) -> PullReport:
        """Cursor, pull, keep: all on the calling thread. Never raises for the source's failures:
        they are in the report (``failure``, ``stop``) and in the log."""
        try:
            cursor = self.load_cursor(source)
            result = source.pull(cursor)
        except Exception as e:  # noqa: BLE001 - one source's failure never stops the others
            return failed(source, e)
        return self.keep(source, result)

    async def pull_async(self, source: PullSource, in_db: Callable[..., Awaitable[Any]] | None = None) -> PullReport:
        """:meth:`pull_once` from an event loop: the database steps through ``in_db`` (the live
        bot's worker; default a thread of their own), the pull on a thread of its own."""
        run_db: Callable[..., Awaitable[Any]] = in_db or asyncio.to_thread
        try:
            cursor = await run_db(self.load_cursor, source)
            result = await asyncio.to_thread(source.pull, cursor)
        except Exception as e:  # noqa: BLE001 - one source's failure never stops the others
            return failed(source, e)
        report: PullReport = await run_db(self.keep, source, result)
        return report

    async def run_forever(
        self, sources: Sequence[PullSource], in_db: Callable[..., Awaitable[Any]] | None = None
    ) -> None:
        """Pull every source now and then every ``source.every``, until cancelled."""
        if not sources:
            return
        await asyncio.gather(*(self._pull_forever(s, in_db) for s in sources))

    async def _pull_forever(self, source: PullSource, in_db: Callable[..., Awaitable[Any]] | None) -> None:
        while True:
            try:
                report = await self.pull_async(source, in_db)
            except Exception:  # noqa: BLE001 - a database failure: the cursor was not saved, try again
                log.exception("source %s: storing the pull failed; retried next period", source.name)
            else:
                if report.stop:
                    return
                if report.read or report.errors:
                    log.info("%s", report.line())
            await asyncio.sleep(source.every.total_seconds())


def run_blocking(
    runner: SyncRunner,
    sources: Sequence[PullSource],
    *,
    on_report: Callable[[PullReport], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    rounds: int | None = None,
) -> None:
    """``qunzhi sync`` without an event loop: pull each source when it is due, sleep until the next
    one is, until interrupted (``rounds``: stop after that many pulls in all, for tests). A source
    whose failure will not go away by itself drops out; when none is left, return."""
    due = {id(s): clock() for s in sources}
    active = list(sources)
    done = 0
    while active and (rounds is None or done < rounds):
        source = min(active, key=lambda s: due[id(s)])
        wait = due[id(source)] - clock()
        if wait > 0:
            sleep(wait)
        try:
            report = runner.pull_once(source)
        except Exception as e:  # noqa: BLE001 - the database failed: the cursor was not saved, try again
            log.exception("source %s: storing the pull failed; retried next period", source.name)
            report = PullReport(source.name, failure=f"storing failed: {e}")
        on_report(report)
        done += 1
        if report.stop:
            active.remove(source)
        due[id(source)] = clock() + source.every.total_seconds()


def failed(source: PullSource, error: Exception) -> PullReport:
    """The report of a pull that failed as a whole, logged as the error deserves."""
    if isinstance(error, SourceError):
        if error.retry:
            log.warning("source %s: %s; pulled again next period", source.name, error)
            return PullReport(source.name, failure=str(error))
        log.error("source %s: %s; this source stops until qunzhi is restarted", source.name, error)
        return PullReport(source.name, failure=str(error), stop=True)
    log.error("source %s: the pull crashed; pulled again next period", source.name, exc_info=error)
    return PullReport(source.name, failure=f"{type(error).__name__}: {error}")


def keep_rooms(session: Session, rooms: Sequence[RoomInfo]) -> int:
    """Keep each room's name (and owner and admins, when the source has them); the number kept."""
    for room in rooms:
        if room.topic:
            groups_db.set_group(session, room.group_id, name=room.topic)
        else:
            groups_db.ensure_group(session, room.group_id)
        if room.owner_id or room.admin_ids:
            groups_db.set_room_roles(session, room.group_id, room.owner_id, room.admin_ids)
    return len(rooms)


def _log_row_errors(name: str, errors: Sequence[RowError]) -> None:
    for err in errors[:ROW_ERRORS_LOGGED]:
        log.warning("source %s: skipped %s", name, err)
    if len(errors) > ROW_ERRORS_LOGGED:
        log.warning("source %s: ... and %d more malformed records", name, len(errors) - ROW_ERRORS_LOGGED)
