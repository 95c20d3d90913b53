"""Entity extractors the pipeline runs beside the analyzers: one list of entities per item.

- ``PatternExtractor``: what patterns do better than a model — URLs, phone numbers, e-mail
  addresses, WeChat ids, QQ numbers, money amounts, and dates and times resolved against the
  message's time in the group's timezone (``nlp.patterns``, ``nlp.timeparse``).
- ``NerExtractor``: people, places, organisations and product-like names from the NER head on the
  shared encoder (``nlp.ner``), when a NER model is present.

Both keep character offsets into the original text (``end`` exclusive).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from nlp.item import Item
from nlp.patterns import extract_patterns
from nlp.verdict import Entity

log = logging.getLogger(__name__)


class PatternExtractor:
    name = "patterns"

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz

    def extract(self, items: Sequence[Item]) -> list[list[Entity]]:
        out = []
        for item in items:
            now = item.sent_at or datetime.now(timezone.utc)
            out.append(extract_patterns(item.text, now, self.tz) if item.text.strip() else [])
        return out


class NerExtractor:
    """The NER head over the shared encoder; texts too short to name anything are skipped."""

    name = "ner"
    MIN_CHARS = 4
    MIN_SCORE = 0.6  # below this, mostly fragments ("腾" for 腾讯)
    KINDS = frozenset({"text", "quote", "link", "file"})

    def __init__(self, ner_dir: str | Path, encoder_dir: str | Path, *, threads: int | None = None) -> None:
        from nlp.ner import NerModel

        # fp32 on purpose: int8 drops its MSRA F1 from 0.76 to 0.46 (measured)
        self.model = NerModel.load(ner_dir, encoder_dir, threads=threads, int8=False)

    def extract(self, items: Sequence[Item]) -> list[list[Entity]]:
        todo = [i for i, it in enumerate(items) if it.kind in self.KINDS and len(it.text.strip()) >= self.MIN_CHARS]
        out: list[list[Entity]] = [[] for _ in items]
        for i, found in zip(todo, self.model.extract([items[i].text for i in todo], min_score=self.MIN_SCORE)):
            out[i] = found
        return out


class EntityExtractor:
    """Patterns and, when present, the NER head; a pattern wins where the two overlap."""

    name = "entities"

    def __init__(self, patterns: PatternExtractor, ner: NerExtractor | None = None) -> None:
        self.patterns = patterns
        self.ner = ner

    def extract(self, items: Sequence[Item]) -> list[list[Entity]]:
        """A failing NER pass costs only the model's entities: the exact ones are kept."""
        exact = self.patterns.extract(items)
        if self.ner is None:
            return exact
        try:
            learned = self.ner.extract(items)
            if len(learned) != len(items):
                raise RuntimeError(f"NER returned {len(learned)} results for {len(items)} items")
        except Exception:  # noqa: BLE001 - the pattern entities stand on their own
            log.exception("NER failed on a batch of %d; keeping the pattern entities only", len(items))
            return exact
        return [merge(x, found) for x, found in zip(exact, learned)]


def overlaps(a: Entity, b: Entity) -> bool:
    return a.start < b.end and b.start < a.end


def merge(exact: Sequence[Entity], learned: Sequence[Entity]) -> list[Entity]:
    """Pattern entities win over model entities that overlap them (a phone number is not an ORG)."""
    kept = list(exact) + [e for e in learned if not any(overlaps(e, x) for x in exact)]
    return sorted(kept, key=lambda e: (e.start, e.end))
