"""The one place the parts are built from a ``Config``: store, analyzers, pipeline."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Config
from bot.pipeline import Analyzer, Extractor, MultiAnalyzer, Pipeline
from bot.store import db, queries

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


def build_analyzers(config: Config) -> list[Analyzer | MultiAnalyzer]:
    """The shared-encoder models (rule signals ride along as reasons), or the rules if so configured.

    A missing or corrupt model directory is a clear ``ModelError``, never a silent fall-back.
    """
    if not config.models.use:
        return list(build_rule_analyzers())
    from nlp.classify import ModelAnalyzer

    return [
        ModelAnalyzer(
            config.models_path(),
            threads=config.models.threads,
            batch_size=config.models.batch_size,
            batch_tokens=config.models.batch_tokens,
            int8=config.models.int8,
        )
    ]


def build_extractors(config: Config) -> list[Extractor]:
    """Entity extractors: the exact patterns (times resolved in the bot's timezone)."""
    from zoneinfo import ZoneInfo

    from nlp.extract import PatternExtractor

    return [PatternExtractor(ZoneInfo(config.bot.timezone))]


def sync_groups(config: Config, store: Store) -> None:
    """Write each configured group's name and topic to the store (what digests and profiles read)."""
    with store.sessions.begin() as session:
        for g in config.groups:
            queries.set_group(session, g.id, name=g.name or None, topic=g.topic or None)


def build_pipeline(config: Config, store: Store, *, dry_run: bool = False) -> Pipeline:
    sync_groups(config, store)
    return Pipeline(
        store.sessions, build_analyzers(config), config, dry_run=dry_run, extractors=build_extractors(config)
    )
