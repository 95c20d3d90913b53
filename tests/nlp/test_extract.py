"""The pipeline's extractors: patterns, the shipped NER head, and their merge."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from nlp.extract import EntityExtractor, NerExtractor, PatternExtractor, merge
from nlp.item import Item
from nlp.verdict import Entity

ROOT = Path(__file__).resolve().parents[2]
NER_DIR = ROOT / "models" / "qunzhi-ner"
NOW = datetime(2026, 11, 25, 13, 0, tzinfo=timezone.utc)  # 21:00 in Shanghai


def test_a_pattern_wins_where_it_overlaps_a_model_entity() -> None:
    exact = [Entity("PHONE", 3, 14, "13800138000", 1.0, "pattern", "13800138000")]
    learned = [Entity("ORG", 0, 5, "联系电话1", 0.9, "ner"), Entity("LOC", 20, 22, "杭州", 0.99, "ner")]
    assert [e.type for e in merge(exact, learned)] == ["PHONE", "LOC"]


@pytest.fixture(scope="module")
def entities() -> EntityExtractor:
    if not NER_DIR.is_dir():
        pytest.fail(f"the shipped NER model is missing: {NER_DIR}")
    ner = NerExtractor(NER_DIR, ROOT / "models" / "qunzhi", threads=2)
    return EntityExtractor(PatternExtractor(ZoneInfo("Asia/Shanghai")), ner)


def test_shipped_ner_and_patterns_together(entities: EntityExtractor) -> None:
    items = [
        Item("马云在杭州创办了阿里巴巴，明晚8点在北京大学演讲", sent_at=NOW),
        Item("哈哈", sent_at=NOW),
        Item("[图片]", kind="image", sent_at=NOW),
    ]
    first, short, image = entities.extract(items)
    assert short == [] and image == []
    found = {(e.type, e.text) for e in first}
    assert ("LOC", "杭州") in found and ("PER", "马云") in found
    assert ("TIME", "明晚8点") in found
    for e in first:
        assert items[0].text[e.start : e.end] == e.text
        assert 0.6 <= e.score <= 1.0
    assert sorted(first, key=lambda e: e.start) == first
