"""The one pipeline every message goes through, live or replayed.

1. **Store first.** A message is written to the store before anything looks at it, so a crash
   later loses nothing; a duplicate (same source and id) is stored once and otherwise ignored.
2. **Analyse in batches.** Pending messages are analysed together; every analyzer returns one
   ``Verdict`` per message. An analyzer that crashes on a batch is retried message by message, so
   one bad message is isolated: it is marked for retry (up to ``analysis.max_attempts``) and the
   rest of the batch goes on.
3. **Moderate.** Each newly analysed message is judged by ``bot.moderation.decide`` from its stored
   verdicts and the sender's standing; the decision is recorded with its reasons and handed back
   to the caller, who carries it out (the live bot) or only reports it (replay, dry run).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from bot.config import Config, Moderation
from bot.message import GroupMessage, MessageKind
from bot.moderation import Action, ActionKind, Standing, decide, is_actionable_ad
from bot.roles import Level, effective_dry_run, level_of
from bot.store import queries
from nlp.item import Item
from nlp.verdict import Entity, Verdict

log = logging.getLogger(__name__)


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
    return analyzer if hasattr(analyzer, "analyse_all") else _Single(analyzer)  # type: ignore[arg-type,return-value]


@dataclass(frozen=True, slots=True)
class AnalysedItem:
    """A message just analysed, as ``on_analysed`` hooks see it."""

    pk: int
    message: GroupMessage
    verdicts: dict[str, Verdict]
    entities: tuple[Entity, ...]


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

    def merge(self, other: "IngestReport") -> None:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.analysed += other.analysed
        self.failed += other.failed
        self.actions.extend(other.actions)


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
    ) -> None:
        """``on_action`` is called for each recorded action inside the transaction that records it
        (the live bot queues the warning, kick and report there, so they commit together).
        ``extractors`` find entities, stored with the verdicts; ``on_analysed`` sees every newly
        analysed message in the transaction that stores its verdicts (member profiles are kept
        up to date there, incrementally)."""
        self._sessions = sessions
        self._on_action = on_action
        self._extractors = list(extractors)
        self._on_analysed = on_analysed
        self._analyzers = [as_multi(a) for a in analyzers]
        self._config = config
        self._dry_run = dry_run
        self._disabled = {
            name: not enabled
            for name, enabled in (
                ("ad", config.analysis.ad),
                ("useful", config.analysis.useful),
                ("intent", config.analysis.intent),
            )
        }

    # -- 1. store ---------------------------------------------------------------------------

    def store(self, messages: Iterable[GroupMessage]) -> IngestReport:
        report = IngestReport()
        with self._sessions.begin() as session:
            for _, created in queries.store_messages(session, list(messages)):
                if created:
                    report.stored += 1
                else:
                    report.duplicates += 1
        return report

    def ingest(self, messages: Iterable[GroupMessage]) -> IngestReport:
        """Store every message, then analyse and moderate whatever is pending."""
        report = self.store(messages)
        report.merge(self.process_pending())
        return report

    # -- 2. analyse -------------------------------------------------------------------------

    def process_pending(self) -> IngestReport:
        report = IngestReport()
        batch_size = self._config.analysis.batch_size
        max_attempts = self._config.analysis.max_attempts
        seen: set[int] = set()
        while True:
            with self._sessions() as session:
                batch = [
                    (pk, m)
                    for pk, m in queries.pending_messages(session, batch_size, max_attempts)
                    if pk not in seen
                ]
            if not batch:
                return report
            seen.update(pk for pk, _ in batch)
            report.merge(self._process_batch(batch))

    def _item(self, msg: GroupMessage) -> Item:
        topic = self._config.topic_for(msg.group_id, fallback=msg.group_topic)
        return Item(text=msg.text, topic=topic, kind=str(msg.kind), sent_at=msg.sent_at)

    def _process_batch(self, batch: list[tuple[int, GroupMessage]]) -> IngestReport:
        report = IngestReport()
        items = [self._item(m) for _, m in batch]
        per_message: list[list[Verdict]] = [[] for _ in batch]
        errors: dict[int, str] = {}
        for analyzer in self._analyzers:
            for i, verdicts in enumerate(self._run_isolated(analyzer, items, errors)):
                per_message[i].extend(verdicts)
        max_attempts = self._config.analysis.max_attempts
        analysed: list[tuple[int, GroupMessage, dict[str, Verdict]]] = []
        with self._sessions.begin() as session:
            for i, (pk, msg) in enumerate(batch):
                if i in errors:
                    queries.mark_analysis_failed(session, pk, errors[i], max_attempts)
                    report.failed += 1
                    continue
                analysed.append((pk, msg, {v.analyzer: v for v in per_message[i]}))
            good = [i for i in range(len(batch)) if i not in errors]
            entities = self._extract([items[i] for i in good])
            queries.save_analyses(session, [(batch[i][0], per_message[i], found) for i, found in zip(good, entities)])
            if self._on_analysed is not None:
                self._on_analysed(
                    session,
                    [
                        AnalysedItem(batch[i][0], batch[i][1], {v.analyzer: v for v in per_message[i]}, tuple(found))
                        for i, found in zip(good, entities)
                    ],
                )
            report.analysed += len(good)
        report.actions.extend(self._moderate(analysed))
        return report

    def _extract(self, items: list[Item]) -> list[list[Entity]]:
        """Every extractor's entities per item; an extractor that fails loses only its entities."""
        found: list[list[Entity]] = [[] for _ in items]
        for extractor in self._extractors:
            try:
                results = extractor.extract(items)
                if len(results) != len(items):
                    raise RuntimeError(f"returned {len(results)} results for {len(items)} items")
            except Exception:  # noqa: BLE001 - entities are extra; the verdicts still count
                log.exception("extractor %s failed on a batch of %d; its entities are skipped", extractor.name, len(items))
                continue
            for i, ents in enumerate(results):
                found[i].extend(ents)
        return found

    def _run_isolated(
        self, analyzer: MultiAnalyzer, items: list[Item], errors: dict[int, str]
    ) -> list[list[Verdict]]:
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
        except Exception:
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

    # -- 3. moderate ------------------------------------------------------------------------

    def _moderate(self, analysed: list[tuple[int, GroupMessage, dict[str, Verdict]]]) -> list[PlannedAction]:
        planned: list[PlannedAction] = []
        with self._sessions.begin() as session:
            for pk, msg, verdicts in analysed:
                found = moderate_one(session, self._config, pk, msg, verdicts, dry_run=self._dry_run)
                if found is not None:
                    if self._on_action is not None:
                        self._on_action(session, found)
                    planned.append(found)
        return planned


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
    room = queries.group(session, msg.group_id)
    dry_run = dry_run or effective_dry_run(policy, room)
    window_start = msg.sent_at - timedelta(hours=policy.strike_window_hours)
    standing = Standing(
        # a dry run counts its own simulated strikes; a live policy only real ones
        strikes=queries.strikes(session, msg.group_id, msg.sender_id, since=window_start, dry_run=dry_run),
        whitelisted=queries.is_whitelisted(session, msg.group_id, msg.sender_id),
        is_admin=level_of(msg.sender_id, msg.group_id, config, room) >= Level.ADMIN,
    )
    action = decide(verdicts, standing, policy)
    if action.kind is ActionKind.NONE:
        return None
    action_pk = queries.record_action(
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
