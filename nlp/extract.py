"""Entity extractors the pipeline runs beside the analyzers: one list of entities per item.

- ``PatternExtractor``: what patterns do better than a model — URLs, phone numbers, e-mail
  addresses, WeChat ids, QQ numbers, money amounts, and dates and times resolved against the
  message's time in the group's timezone (``nlp.patterns``, ``nlp.timeparse``).
- ``NerExtractor``: people, places, organisations and product-like names from the NER head on the
  shared encoder (``nlp.ner``), when a NER model is present.

Both keep character offsets into the original text (``end`` exclusive).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from nlp.item import Item
from nlp.patterns import extract_patterns
from nlp.verdict import Entity


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


def overlaps(a: Entity, b: Entity) -> bool:
    return a.start < b.end and b.start < a.end


def merge(exact: Sequence[Entity], learned: Sequence[Entity]) -> list[Entity]:
    """Pattern entities win over model entities that overlap them (a phone number is not an ORG)."""
    kept = list(exact) + [e for e in learned if not any(overlaps(e, x) for x in exact)]
    return sorted(kept, key=lambda e: (e.start, e.end))


def ner_model_present(model_dir: Path) -> bool:
    return (model_dir / "ner").is_dir()
