"""The one place the parts are built from a ``Config``: store, analyzers, pipeline."""

from __future__ import annotations

import functools
import gc
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Config
from bot.pipeline import Analyzer, Extractor, MultiAnalyzer, Pipeline, PlannedAction
from bot.store import db, groups as groups_db

log = logging.getLogger(__name__)


@dataclass
class Store:
    engine: Engine
    sessions: sessionmaker[Session]

    def close(self) -> None:
        self.engine.dispose()


def open_store(config: Config, *, upgrade: bool = True) -> Store:
    """Connect to the configured database, migrating it to head first (idempotent)."""
    engine, sessions = db.open_store(config.database.url, migrate=upgrade)
    return Store(engine, sessions)


def build_rule_analyzers() -> list[Analyzer]:
    """Rule-and-lexicon analyzers: the baseline the transformer models must beat."""
    from nlp.rules import AdRules, IntentRules, UsefulRules

    ad = AdRules()
    return [ad, UsefulRules(ad=ad), IntentRules(ad=ad)]


@functools.lru_cache(maxsize=2)
def shared_model(
    path: str,
    threads: int,
    batch_size: int,
    batch_tokens: int,
    precision: str,
    trace: bool,
    useful_threshold: float,
    device: str = "cpu",
) -> Any:
    """One ``ModelAnalyzer`` per model directory and settings in a process: the pipeline and the
    digest (near-duplicates) share its weights. A missing or corrupt model raises ``ModelError``.
    ``device``: "cpu", or "cuda" (``qunzhi worker --device cuda``: the model's own GPU batch sizes,
    ``nlp.classify.BATCH_DEFAULTS``, replace ``models.batch_size``/``batch_tokens``, which are the CPU's)."""
    from nlp.classify import ModelAnalyzer

    on_gpu = device != "cpu"
    return ModelAnalyzer(
        path,
        threads=threads,
        batch_size=None if on_gpu else batch_size,
        batch_tokens=None if on_gpu else batch_tokens,
        precision=precision,
        trace=trace,
        useful_threshold=useful_threshold,
        device=device,
    )


def model_for(config: Config, path: Path | None = None, *, device: str = "cpu") -> Any:
    """The analyzer for ``models.*`` of ``config``, loaded from ``path`` if given (``qunzhi predict --model``),
    on ``device`` (``qunzhi worker --device``)."""
    m = config.models
    return shared_model(
        str(path or config.models_path()),
        m.threads,
        m.batch_size,
        m.batch_tokens,
        m.precision,
        m.trace,
        m.useful_threshold,
        device,
    )


def build_analyzers(config: Config, *, device: str = "cpu") -> list[Analyzer | MultiAnalyzer]:
    """The shared-encoder models (rule signals ride along as reasons), or the rules if so configured.

    A missing or corrupt model directory is a clear ``ModelError``, never a silent fall-back.
    """
    if not config.models.use:
        return list(build_rule_analyzers())
    return [model_for(config, device=device)]


def build_extractors(config: Config, *, ner: bool | None = None) -> list[Extractor]:
    """Entity extractors: the exact patterns (times resolved in the bot's timezone) and the NER
    head when ``ner`` (default: ``analysis.ner``) and the config has a NER model. A configured NER
    model that cannot load is a ``ModelError``."""
    from zoneinfo import ZoneInfo

    from nlp.extract import EntityExtractor, NerExtractor, PatternExtractor

    use_ner = config.analysis.ner if ner is None else ner
    ner_dir = config.ner_path() if use_ner else None
    head = NerExtractor(ner_dir, config.models_path(), threads=config.models.threads) if ner_dir else None
    return [EntityExtractor(PatternExtractor(ZoneInfo(config.bot.timezone)), head)]


def sync_groups(config: Config, store: Store) -> None:
    """Write each configured group's name and topic to the store (what digests and profiles read),
    in group id order: every writer locks ``groups`` rows in that order (``store_messages`` too), so
    a worker starting while a batch of several groups is stored cannot deadlock with it."""
    with store.sessions.begin() as session:
        for g in sorted(config.groups, key=lambda g: g.id):
            groups_db.set_group(session, g.id, name=g.name or None, topic=g.topic or None)


def build_pipeline(
    config: Config,
    store: Store,
    *,
    dry_run: bool = False,
    on_action: Callable[[Session, PlannedAction], None] | None = None,
    analyzers: Sequence[Analyzer | MultiAnalyzer] | None = None,
    extractors: Sequence[Extractor] | None = None,
    ner: bool | None = None,
    profiles: bool = True,
    roles: bool = True,
    freeze: bool = True,
    device: str = "cpu",
    analyse: bool = True,
    act_on_sources: Sequence[str] | None = None,
) -> Pipeline:
    """The one place a ``Pipeline`` is assembled: replays, imports, the demo, the live bot and the
    benchmark all call this. The configured groups are written to the store first (``sync_groups``).

    - ``analyzers``: default ``build_analyzers(config)`` (the model, or the rules if so configured);
    - ``extractors``: default ``build_extractors(config, ner=ner)``; ``()`` for none;
    - ``profiles``: keep member profiles up to date (``build_profile_hook``) as messages are analysed;
    - ``roles``: store each message with its role as replays and imports see it (``message_role``
      with the configured ``bot.self_id``): commands and the bot's own words are stored as such,
      never analysed nor counted as chat. The live bot stores what arrives itself, knowing which
      account it is logged in as, and passes False;
    - ``on_action``: called with each recorded action in the transaction that records it (the
      live bot queues warnings, kicks and reports there);
    - ``device``: where the model runs ("cpu", "cuda": ``qunzhi worker --device``);
    - ``analyse``: False for a receiver (``qunzhi run --no-analysis``): no model is loaded, nothing
      analysed; it stores, and the workers analyse;
    - ``act_on_sources``: act only on messages of these sources, judge the rest as a drill (the worker);
    - ``freeze``: move what is alive now (modules, the loaded model) out of the garbage collector's
      reach (``freeze_startup_objects``); the benchmark, building many pipelines, does it once itself.
    """
    from bot.commands import message_role
    from bot.profiles import build_profile_hook

    sync_groups(config, store)
    if not analyse:
        analyzers, extractors, profiles = [], [], False
    pipeline = Pipeline(
        store.sessions,
        build_analyzers(config, device=device) if analyzers is None else analyzers,
        config,
        dry_run=dry_run,
        on_action=on_action,
        extractors=build_extractors(config, ner=ner) if extractors is None else extractors,
        on_analysed=build_profile_hook(config) if profiles else None,
        role_of=functools.partial(message_role, config=config) if roles else None,
        analyse=analyse,
        act_on_sources=act_on_sources,
    )
    if freeze:
        freeze_startup_objects()
    return pipeline


def freeze_startup_objects() -> None:
    """Move every object alive now (imported modules, the loaded model, config) out of the cyclic
    garbage collector's reach: they live as long as the process, yet a full collection walked all
    ~430,000 of them — 250 ms, every few thousand messages, in the middle of a batch. Call once the
    models are loaded; objects made later are collected as usual."""
    gc.freeze()
