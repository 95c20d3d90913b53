"""The one pipeline every message goes through, live or replayed.

1. **Store first.** A message is written to the store before anything looks at it, so a crash
   later loses nothing; a duplicate (same source and id) is stored once and otherwise ignored.
   Each has a role (``bot.commands.message_role``): chat and commands are analysed and moderated —
   an ad behind a command is caught — the bot's own words are not; only chat is counted (the
   ``on_analysed`` hooks see each item's role: profiles skip commands).
2. **Claim, then analyse in batches.** A pipeline analyses only messages it has claimed
   (``bot.store.analysis.claim_pending``: a worker id and a lease), so two processes on one database — an
   ``import`` beside a live ``run``, or any number of ``qunzhi worker`` processes (``bot.worker``) —
   analyse each message once, and a dead process's claims lapse. A member's messages are held by
   one process at a time, so they are judged in order. A receiver's pipeline (``analyse=False``,
   ``qunzhi run --no-analysis``) only stores, and notifies the workers.
   Every analyzer returns one ``Verdict`` per message. An analyzer that crashes on a batch is
   retried message by message, so one bad message is isolated: it is marked for retry (up to
   ``analysis.max_attempts``, then parked as failed until the daily retry or ``qunzhi db requeue``)
   and the rest of the batch goes on.
3. **Moderate, in the same transaction.** Each newly analysed message is judged by
   ``bot.moderation.decide`` from its verdicts and the sender's standing; verdicts, profile
   updates, the decision and what it queues (``on_action``) commit together, so a crash never
   leaves a message analysed but unjudged. A message an admin already judged (``/spam``,
   ``/notspam``) is not judged again. Decisions are handed back to the caller, who carries them
   out (the live bot) or only reports them (replay, dry run).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot import metrics
from bot.config import Config, Moderation
from bot.message import GroupMessage, MessageKind
from bot.moderation import Action, ActionKind, Standing, decide, is_actionable_ad
from bot.roles import Level, effective_dry_run, level_of
from bot.store import (
    actions as actions_db,
    analysis as analysis_db,
    corrections as corrections_db,
    groups as groups_db,
    locks,
    messages as messages_db,
    notify as notify_db,
    search as search_db,
)
from bot.store.common import CHAT
from nlp.item import Item
from nlp.verdict import Entity, Verdict

log = logging.getLogger(__name__)

# How long a claimed batch stays ours: longer than any batch takes, short enough that a killed
# process's messages come back soon (a batch that fails is released at once).
CLAIM_LEASE = timedelta(minutes=5)


def default_worker_id() -> str:
    """``host:pid:random``: unique per pipeline, readable in the ``claimed_by`` column."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def is_dead_here(worker_id: str) -> bool:
    """Whether ``worker_id`` (``host:pid:random``) names a process on this host that has exited.
    Unknown formats, other hosts and live (or unknowable) processes are not dead."""
    host, _, rest = worker_id.partition(":")
    pid, _, _ = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. another user's process: alive
        return False
    return False


class Analyzer(Protocol):
    """Turns a batch of items into one verdict each (the rule analyzers)."""

    name: str
    version: str

    def analyse(self, items: Sequence[Item]) -> list[Verdict]: ...


class Extractor(Protocol):
    """Finds entities in a batch of items (patterns, the NER model): a list of entities per item."""

    name: str

    def extract(self, items: Sequence[Item]) -> list[list[Entity]]: ...


class MultiAnalyzer(Protocol):
    """Gives several verdicts per item from one pass (the shared-encoder models)."""

    names: tuple[str, ...]

    def analyse_all(self, items: Sequence[Item]) -> list[dict[str, Verdict]]: ...


class _Single:
    """A one-verdict analyzer seen as a multi-verdict one, so the pipeline runs one kind."""

    def __init__(self, analyzer: Analyzer) -> None:
        self._analyzer = analyzer
        self.names = (analyzer.name,)

    def analyse_all(self, items: Sequence[Item]) -> list[dict[str, Verdict]]:
        return [{v.analyzer: v} for v in self._analyzer.analyse(items)]


def as_multi(analyzer: Analyzer | MultiAnalyzer) -> MultiAnalyzer:
    # hasattr narrows the argument for _Single() but not the union of protocols returned
    return analyzer if hasattr(analyzer, "analyse_all") else _Single(analyzer)  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class AnalysedItem:
    """A message just analysed, as ``on_analysed`` hooks see it. ``role``: what it is as stored
    (``CHAT`` or ``COMMAND``): a command is analysed and moderated, never counted or profiled."""

    pk: int
    message: GroupMessage
    verdicts: dict[str, Verdict]
    entities: tuple[Entity, ...]
    role: str = CHAT


@dataclass(frozen=True, slots=True)
class PlannedAction:
    """A moderation decision for one message, as recorded in the store."""

    action_pk: int
    message: GroupMessage
    action: Action
    dry_run: bool


@dataclass
class IngestReport:
    stored: int = 0
    duplicates: int = 0
    analysed: int = 0
    failed: int = 0  # analysis attempts that crashed this run (messages stay stored)
    actions: list[PlannedAction] = field(default_factory=list)

    def merge(self, other: IngestReport) -> None:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.analysed += other.analysed
        self.failed += other.failed
        self.actions.extend(other.actions)


def warm_up(analyzers: Sequence[Analyzer | MultiAnalyzer], extractors: Sequence[Extractor]) -> None:
    """Load now what analysis loads on first use (model weights, jieba's dictionaries) by analysing
    two throwaway messages; nothing is stored. Meant to run before an event loop starts: loaded
    later, on a worker thread, they hold the GIL for up to seconds at a time (jieba unmarshals its
    dictionary in one C call) and stall the loop, and the first message waits."""
    items = [  # an ordinary question (usefulness cuts words) and an ad (ad rules, entities)
        Item(text="预热：明天下午3点在北京开会，RAG 的召回怎么评估？", topic="技术交流群"),
        Item(text="加微信 abc12345 领取免费资料，日结", topic="技术交流群"),
    ]
    for analyzer in analyzers:
        as_multi(analyzer).analyse_all(items)
    for extractor in extractors:
        extractor.extract(items)


class Pipeline:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        analyzers: Sequence[Analyzer | MultiAnalyzer],
        config: Config,
        *,
        dry_run: bool = False,
        on_action: Callable[[Session, PlannedAction], None] | None = None,
        extractors: Sequence[Extractor] = (),
        on_analysed: Callable[[Session, Sequence[AnalysedItem]], None] | None = None,
        worker_id: str | None = None,
        claim_lease: timedelta = CLAIM_LEASE,
        role_of: Callable[[GroupMessage], str] | None = None,
        analyse: bool = True,
        act_on_sources: Collection[str] | None = None,
    ) -> None:
        """``on_action`` is called for each recorded action inside the transaction that records it
        (the live bot queues the warning, kick and report there, so they commit together).
        ``extractors`` find entities, stored with the verdicts; ``on_analysed`` sees every newly
        analysed message in the transaction that stores its verdicts (member profiles are kept
        up to date there, incrementally). ``worker_id`` names this pipeline's claims on messages
        (default: host, process id and a random part); a claim lapses after ``claim_lease``.
        ``role_of`` says what a stored message is (``bot.commands.message_role``): chat and commands are
        analysed and moderated (an ad behind a command is caught), the bot's own words are not; hooks
        see each item's ``role`` and count chat only. ``analyse=False`` makes a receiver's pipeline
        (``qunzhi run --no-analysis``): it stores, and ``ingest``/``process_*`` analyse nothing,
        leaving the messages to the workers. ``act_on_sources``: only messages of these sources are
        acted on; the others (history from a replay, an import, a pull) are judged as a drill, as
        their own runs judge them (None: every source, as the pipeline's ``dry_run`` says)."""
        self.worker_id = worker_id or default_worker_id()
        self._claim_lease = claim_lease
        self._checked_dead_claims = False
        self._sessions = sessions
        self._on_action = on_action
        self._extractors = list(extractors)
        self._on_analysed = on_analysed
        self._role_of = role_of
        self._analyzers = [as_multi(a) for a in analyzers]
        self._config = config
        self._dry_run = dry_run
        self.analyses = analyse
        self._act_on = None if act_on_sources is None else frozenset(act_on_sources)
        self._disabled = {
            name: not enabled
            for name, enabled in (
                ("ad", config.analysis.ad),
                ("useful", config.analysis.useful),
                ("intent", config.analysis.intent),
            )
        }

    def warm_up(self) -> None:
        """Load now what this pipeline's analysis loads on first use (see ``warm_up``)."""
        warm_up(self._analyzers, self._extractors)

    # -- 1. store ---------------------------------------------------------------------------

    def store(self, messages: Iterable[GroupMessage]) -> IngestReport:
        """Store the messages, each with its role (``role_of``: chat, a command, the bot's own; all
        chat without one). Chat and commands are left pending for analysis, the bot's words are not."""
        return self._store(list(messages))[0]

    def _store(self, msgs: list[GroupMessage]) -> tuple[IngestReport, list[int]]:
        """``store``, and the pks of the messages (new or stored before) in time order."""
        report = IngestReport()
        roles = [self._role_of(m) for m in msgs] if self._role_of is not None else None
        with self._sessions.begin() as session:
            stored = messages_db.store_messages(session, msgs, roles)
            if any(created for _, created in stored):
                notify_db.notify(session, notify_db.PENDING)  # wakes the workers at commit
        for _, created in stored:
            if created:
                report.stored += 1
            else:
                report.duplicates += 1
        metrics.count_by_source(metrics.MESSAGES_STORED, (m.source for m, (_, created) in zip(msgs, stored) if created))
        in_time = sorted(zip(msgs, stored), key=lambda ms: (ms[0].sent_at, ms[1][0]))
        return report, [pk for _, (pk, _) in in_time]

    def ingest(self, messages: Iterable[GroupMessage]) -> IngestReport:
        """Store every message, then analyse and moderate those of them still pending (those a
        crash left behind included). Other messages pending in the store are not touched: an
        ``import`` beside the live bot judges its own messages, the live bot the live ones."""
        report, pks = self._store(list(messages))
        report.merge(self.process_messages(pks))
        return report

    # -- 2. analyse, 3. moderate ------------------------------------------------------------

    def process_pending(self) -> IngestReport:
        """Claim, analyse and moderate pending messages, a batch at a time, until none is left to
        claim (messages another process has claimed are its to do). A message that fails is retried
        on a later call, not in this one."""
        report = IngestReport()
        retry_later: set[int] = set()
        while (part := self.process_next_batch(retry_later)) is not None:
            report.merge(part)
        return report

    def process_next_batch(self, retry_later: set[int]) -> IngestReport | None:
        """Claim one batch of pending messages (none of ``retry_later``), analyse and moderate it;
        None when there is nothing to claim. The messages of the batch left unfinished (failed, or
        claimed away) are added to ``retry_later``. (``qunzhi worker`` loops on this.)"""
        if not self.analyses:
            return None
        batch = self._claim(exclude=retry_later)
        if not batch:
            return None
        part, left = self._process_batch(batch)
        retry_later |= left
        return part

    def process_messages(self, pks: Sequence[int], *, wait: float | None = None) -> IngestReport:
        """Analyse and moderate exactly these messages if they are still pending: claimed like any
        batch, so one already done, parked, or being analysed by another process is skipped.
        (A command analyses only what it needs instead of the whole backlog.)

        A message whose member another process holds (``claim_pending``: one worker per member at a
        time) is waited for: claimed again, with short pauses, until that batch commits — for at
        most ``wait`` seconds (default: the claim lease; the live bot, which must not stall, waits
        little), then it is left pending for a later call or a worker."""
        report = IngestReport()
        if not self.analyses:
            return report  # a receiver: the workers analyse them
        todo = list(dict.fromkeys(pks))
        size = self._config.analysis.batch_size
        finished: set[int] = set()  # done here, failed here, or claimed by another process
        patience = self._claim_lease.total_seconds() if wait is None else wait
        pause, deadline = 0.01, time.monotonic() + patience
        while todo:
            for start in range(0, len(todo), size):
                batch = self._claim(pks=todo[start : start + size])
                if batch:
                    part, left = self._process_batch(batch)
                    report.merge(part)
                    finished |= {pk for pk, _ in batch}
                    finished |= left
            with self._sessions() as session:
                todo = analysis_db.claimable_among(
                    session,
                    [pk for pk in todo if pk not in finished],
                    self.worker_id,
                    self._config.analysis.max_attempts,
                )
            if todo:
                if time.monotonic() >= deadline:
                    if patience > 0:
                        log.warning("%d messages left pending: their members stay held by another process", len(todo))
                    break
                time.sleep(pause)  # another process holds their member: its batch commits soon
                pause = min(pause * 2, 0.5)
        return report

    def _claim(
        self, *, pks: Sequence[int] | None = None, exclude: set[int] | None = None
    ) -> list[tuple[int, GroupMessage]]:
        self._release_dead_claims()
        with self._sessions.begin() as session:  # the claim is the transaction's first statement
            return analysis_db.claim_pending(
                session,
                self.worker_id,
                self._config.analysis.batch_size,
                self._claim_lease,
                max_attempts=self._config.analysis.max_attempts,
                pks=pks,
                exclude=exclude or (),
            )

    def _item(self, msg: GroupMessage) -> Item:
        topic = self._config.topic_for(msg.group_id, fallback=msg.group_topic)
        return Item(text=msg.text, topic=topic, kind=str(msg.kind), sent_at=msg.sent_at)

    def _process_batch(self, batch: list[tuple[int, GroupMessage]]) -> tuple[IngestReport, set[int]]:
        """Analyse a claimed batch, then in ONE transaction save the verdicts (of messages still
        ours), update profiles, decide and record the moderation and queue what it does: a crash
        anywhere leaves the batch pending, never analysed but unjudged. Returns the report and the
        messages not finished (failed, or claimed away) that this run should not retry."""
        started = time.perf_counter()
        report = IngestReport()
        items = [self._item(m) for _, m in batch]
        per_message: list[list[Verdict]] = [[] for _ in batch]
        errors: dict[int, str] = {}
        for analyzer in self._analyzers:
            for i, verdicts in enumerate(self._run_isolated(analyzer, items, errors)):
                per_message[i].extend(verdicts)
        good = [i for i in range(len(batch)) if i not in errors]
        entities = dict(zip(good, self._extract([items[i] for i in good])))
        max_attempts = self._config.analysis.max_attempts
        failed_sources: list[str] = []
        try:
            with self._sessions.begin() as session:
                for i in errors:
                    if analysis_db.mark_analysis_failed(
                        session, batch[i][0], errors[i], max_attempts, worker_id=self.worker_id
                    ):
                        report.failed += 1
                        failed_sources.append(batch[i][1].source)
                saved = analysis_db.save_analyses(
                    session, [(batch[i][0], per_message[i], entities[i]) for i in good], worker_id=self.worker_id
                )
                role = messages_db.message_roles(session, saved)
                analysed = [
                    AnalysedItem(
                        batch[i][0],
                        batch[i][1],
                        {v.analyzer: v for v in per_message[i]},
                        tuple(entities[i]),
                        role[batch[i][0]],
                    )
                    for i in good
                    if batch[i][0] in saved
                ]
                if len(analysed) < len(good):
                    log.warning(
                        "%d messages were claimed by another process meanwhile; left to it", len(good) - len(analysed)
                    )
                if self._on_analysed is not None and analysed:
                    self._on_analysed(session, analysed)
                report.analysed += len(analysed)
                report.actions.extend(self._moderate(session, analysed))
        except BaseException:
            self._release([pk for pk, _ in batch])
            raise
        _count_batch(report, analysed, failed_sources, time.perf_counter() - started)
        self._index_for_search(len(batch))
        return report, {pk for pk, _ in batch} - saved

    def _index_for_search(self, batch_size: int) -> None:
        """Cut the words of newly stored messages for the console's search, in its own short
        transaction after the batch: search is secondary, so a failure here is logged and the
        messages are picked up by the next batch (or by the console's own indexing) instead. One
        process indexes at a time (``locks.try_lock_indexer``): workers would all cut the same
        oldest messages; while another indexes, this batch leaves it to it."""
        try:
            with self._sessions.begin() as session:
                if locks.try_lock_indexer(session):
                    search_db.index_pending(session, limit=max(200, 2 * batch_size))
        except SQLAlchemyError as e:
            log.warning("search indexing deferred: %s", e)

    def _release_dead_claims(self) -> None:
        """Once per pipeline: claims of processes on this host that have exited (killed mid-batch)
        are released now rather than when their lease lapses, so a restart redoes their batch at once.
        Safe even if a process is misjudged dead: verdicts are saved only under a claim still held."""
        if self._checked_dead_claims:
            return
        self._checked_dead_claims = True
        with self._sessions.begin() as session:
            for holder in analysis_db.claim_holders(session):
                if is_dead_here(holder):
                    n = analysis_db.release_claims(session, holder)
                    log.info("released %d claims of %s, which has exited", n, holder)

    def _release(self, pks: list[int]) -> None:
        """After a failed batch, let the claims go at once instead of when they lapse."""
        try:
            with self._sessions.begin() as session:
                analysis_db.release_claims(session, self.worker_id, pks)
        except Exception:  # noqa: BLE001 - the claims lapse by themselves
            log.warning("could not release the claims of a failed batch; they lapse in %s", self._claim_lease)

    def _extract(self, items: list[Item]) -> list[list[Entity]]:
        """Every extractor's entities per item; an extractor that fails loses only its entities."""
        found: list[list[Entity]] = [[] for _ in items]
        for extractor in self._extractors:
            try:
                results = extractor.extract(items)
                if len(results) != len(items):
                    raise RuntimeError(f"returned {len(results)} results for {len(items)} items")
            except Exception:  # noqa: BLE001 - entities are extra; the verdicts still count
                log.exception(
                    "extractor %s failed on a batch of %d; its entities are skipped", extractor.name, len(items)
                )
                continue
            for i, ents in enumerate(results):
                found[i].extend(ents)
        return found

    def _run_isolated(self, analyzer: MultiAnalyzer, items: list[Item], errors: dict[int, str]) -> list[list[Verdict]]:
        """Every enabled verdict of ``analyzer`` per item; a crash is narrowed to the item causing it."""
        enabled = [n for n in analyzer.names if not self._disabled.get(n)]
        skipped = [Verdict.skipped(n, "disabled in config") for n in analyzer.names if self._disabled.get(n)]
        out: list[list[Verdict]] = [list(skipped) for _ in items]
        if not enabled:
            return out
        live = [i for i in range(len(items)) if i not in errors]

        def keep(i: int, found: dict[str, Verdict]) -> None:
            missing = [n for n in enabled if n not in found]
            if missing:
                raise RuntimeError(f"gave no verdict for {missing}")
            out[i].extend(found[n] for n in enabled)

        try:
            results = analyzer.analyse_all([items[i] for i in live])
            if len(results) != len(live):
                raise RuntimeError(f"returned {len(results)} results for {len(live)} items")
            for i, found in zip(live, results):
                keep(i, found)
            return out
        except Exception:  # noqa: BLE001 - retried one by one below, where each failure is logged
            log.warning("analyzer %s failed on a batch of %d; retrying one by one", "/".join(analyzer.names), len(live))
        out = [list(skipped) for _ in items]
        for i in live:
            try:
                (found,) = analyzer.analyse_all([items[i]])
                keep(i, found)
            except Exception as e:  # isolate the message, keep the rest
                log.exception("analyzer %s failed on one message", "/".join(analyzer.names))
                errors[i] = f"{'/'.join(analyzer.names)}: {type(e).__name__}: {e}"
        return out

    def _moderate(self, session: Session, analysed: Sequence[AnalysedItem]) -> list[PlannedAction]:
        """Judge each just-analysed message in the transaction that saves its verdicts; what the
        decisions do is queued there too (``on_action``)."""
        planned: list[PlannedAction] = []
        # every member this batch may strike, locked at once in one order (see moderate_one)
        locks.lock_members(
            session,
            (
                (i.message.group_id, i.message.sender_id)
                for i in analysed
                if is_actionable_ad(i.verdicts, self._config.moderation_for(i.message.group_id))
            ),
        )
        for item in analysed:
            drill = self._dry_run or (self._act_on is not None and item.message.source not in self._act_on)
            found = moderate_one(session, self._config, item.pk, item.message, item.verdicts, dry_run=drill)
            if found is not None:
                if self._on_action is not None:
                    self._on_action(session, found)
                planned.append(found)
        return planned


def _count_batch(report: IngestReport, analysed: Sequence[AnalysedItem], failed: list[str], seconds: float) -> None:
    """The metrics of one committed batch (``bot.metrics``)."""
    metrics.ANALYSIS_BATCH_SECONDS.observe(seconds)
    metrics.ANALYSIS_BATCH_MESSAGES.observe(len(analysed) + len(failed))
    metrics.count_by_source(metrics.MESSAGES_ANALYSED, (a.message.source for a in analysed))
    metrics.count_by_source(metrics.MESSAGES_FAILED, failed)
    for planned in report.actions:
        metrics.MODERATION_ACTIONS.labels(str(planned.action.kind), "true" if planned.dry_run else "false").inc()


def moderate_one(
    session: Session,
    config: Config,
    pk: int,
    msg: GroupMessage,
    verdicts: dict[str, Verdict],
    *,
    dry_run: bool = False,
    policy: Moderation | None = None,
    by_contact: str | None = None,
) -> PlannedAction | None:
    """Decide on one analysed message and record the decision; None when there is nothing to record.

    ``policy`` overrides the group's (an admin's ``spam`` command judges without corroboration);
    ``dry_run`` forces a drill on top of the policy's and the group's in-chat switch.
    """
    if msg.kind is MessageKind.SYSTEM:
        return None
    policy = policy or config.moderation_for(msg.group_id)
    if not is_actionable_ad(verdicts, policy):
        return None  # decide() would say "no action"; skip the standing lookups
    if by_contact is None and corrections_db.has_correction(session, pk, "ad"):
        return None  # an admin's /spam or /notspam already decided; the automatic verdict came later
    # the member's strikes are read and the next one written under their lock: two processes
    # judging the same member at once (two workers, a worker and an admin's /spam) take turns
    locks.lock_members(session, [(msg.group_id, msg.sender_id)])
    room = groups_db.group(session, msg.group_id)
    dry_run = dry_run or effective_dry_run(policy, room)
    window_start = msg.sent_at - timedelta(hours=policy.strike_window_hours)
    standing = Standing(
        # a dry run counts its own simulated strikes; a live policy only real ones
        strikes=actions_db.strikes(session, msg.group_id, msg.sender_id, since=window_start, dry_run=dry_run),
        whitelisted=groups_db.is_whitelisted(session, msg.group_id, msg.sender_id),
        is_admin=level_of(msg.sender_id, msg.group_id, config, room) >= Level.ADMIN,
    )
    action = decide(verdicts, standing, policy)
    if action.kind is ActionKind.NONE:
        return None
    action_pk = actions_db.record_action(
        session,
        group_id=msg.group_id,
        member_id=msg.sender_id,
        message_pk=pk,
        action=str(action.kind),
        reasons=list(action.reasons),
        verdict=action.verdict,
        strike=action.counts_as_strike,
        dry_run=dry_run,
        by_contact=by_contact,
        at=msg.sent_at,
    )
    return PlannedAction(action_pk, msg, action, dry_run)
