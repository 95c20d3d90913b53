"""The training corpora: labels, splits kept apart, held-out topics, determinism, the hand-written seeds.

Tests that read ``shared/data`` skip when it is not there, and fail under CI=true (tests/needs.py).
"""

import hashlib
import json
import os
import random
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from nlp.training import corpus as C, datasets
from nlp.training.datasets import DatasetMissing, split_of
from nlp.training.intent_seed import SEED_LABELS, SEEDS, SLOTS, expand, slots_of
from tests.needs import missing

ROOT = Path(__file__).resolve().parents[2]


# --- seeds and fixed lists (no data needed) ----------------------------------------------------


def test_seed_labels_topics_and_slots_are_known():
    for seed in SEEDS:
        assert seed.label in SEED_LABELS, seed
        assert seed.label in C.INTENT_LABELS
        assert seed.topic is None or seed.topic in C.CATEGORIES, seed
        assert seed.topic not in C.HELD_OUT, f"no seed may be about a held-out topic: {seed}"
        assert set(slots_of(seed)) <= set(SLOTS), seed


def test_seed_counts_cover_the_classes_public_data_lacks():
    counts = Counter(s.label for s in SEEDS)
    minimum = {"announcement": 60, "job_post": 60, "link_share": 60, "answer": 80, "question": 60, "other": 40}
    for label, n in minimum.items():
        assert counts[label] >= n, (label, counts[label])
    assert len({s.text for s in SEEDS}) == len(SEEDS), "duplicate seed"


def test_seed_expansion_fills_every_slot_and_is_seeded():
    for i, seed in enumerate(SEEDS):
        a = expand(seed, random.Random(i))
        assert a == expand(seed, random.Random(i))
        assert 1 <= len(a) <= 4 and len(set(a)) == len(a)
        for text in a:
            assert text.strip() and not re.search(r"\{\w+\}", text), text
        if not slots_of(seed):
            assert a[0] == seed.text


def test_link_shares_carry_a_link():
    for seed in SEEDS:
        if seed.label == "link_share":
            assert all("http" in t for t in expand(seed, random.Random(0))), seed


def test_phatic_texts_are_short_and_unique():
    texts = C.phatic_texts()
    assert len(texts) > 300 and len(set(texts)) == len(texts)
    assert {"[表情]", "哈哈哈", "好的", "早"} <= set(texts)
    assert all(len(t) <= 20 for t in texts)


def test_intent_labels_match_the_rule_baseline():
    from nlp.rules import INTENTS

    assert tuple(C.INTENT_LABELS) == tuple(INTENTS)


@pytest.mark.parametrize(
    "text, label",
    [
        ("打开熊猫看书", "request"),
        ("帮我查一下杭州到长春的飞机航班", "request"),
        ("给德师傅发短信", "request"),
        ("金山词霸", "request"),
        ("水果沙拉怎么做？", "question"),
        ("今天温州有什么新闻。", "question"),
        ("到太湖怎么走", "question"),
        ("请问明天北京天气怎么样", "question"),
        ("我想知道明天会不会下雨", "question"),
    ],
)
def test_smp_intent_rules(text, label):
    assert C.smp_intent(text) == label


def test_categories_and_held_out_topics():
    assert C.HELD_OUT == {"agriculture", "military", "travel", "car"}
    for key in C.HELD_OUT:
        cat = C.CATEGORIES[key]
        assert not cat.thucnews and cat.tnews, "held-out categories are TNEWS-only"
    for pair in C.RELATED:
        assert pair <= set(C.CATEGORIES)
    for a in C.CATEGORIES:
        assert not C.unrelated(a, a)
        for b in C.CATEGORIES:
            assert C.unrelated(a, b) == C.unrelated(b, a)
    phrases = [p for c in C.CATEGORIES.values() for p in c.phrases]
    assert len(phrases) == len(set(phrases)), "a topic phrase belongs to one category"
    assert all(len(c.phrases) >= 3 for c in C.CATEGORIES.values())


# --- built corpora (need shared/data) ----------------------------------------------------------


@pytest.fixture(scope="module")
def built():
    try:
        t0 = time.perf_counter()
        out = {task: C.build(task) for task in C.TASKS}
        out["_seconds"] = time.perf_counter() - t0
        return out
    except DatasetMissing as e:
        missing(f"shared data not available: {e}")


LABELS = {"ad": set(C.AD_LABELS), "useful": set(C.USEFUL_LABELS), "intent": set(C.INTENT_LABELS)}


def test_builds_fast_and_bounded(built):
    assert built["_seconds"] < 30
    for task in C.TASKS:
        corpus = built[task]
        assert set(corpus) == {"train", "dev", "test"}
        assert all(corpus[s] for s in corpus), task
        assert len(corpus["train"]) <= 150_000


@pytest.mark.parametrize("task", C.TASKS)
def test_labels_are_the_task_labels(built, task):
    for s, records in built[task].items():
        seen = {r.label for r in records}
        assert seen == LABELS[task], (task, s, seen ^ LABELS[task])
        assert all(r.text.strip() and r.source for r in records)


@pytest.mark.parametrize("task", C.TASKS)
def test_no_text_on_two_sides(built, task):
    texts = {s: {r.text for r in built[task][s]} for s in C.SPLITS}
    assert not texts["train"] & texts["test"]
    assert not texts["train"] & texts["dev"]
    assert not texts["dev"] & texts["test"]


@pytest.mark.parametrize("task", C.TASKS)
def test_plain_records_follow_split_of(built, task):
    seeds = {t for _, t, _ in C._seed_texts()}
    for s, records in built[task].items():
        for r in records:
            if r.text in seeds or getattr(r, "aug", ""):
                continue
            assert split_of(r.text) == s, (task, s, r)


def test_held_out_topics_only_in_test(built):
    held_phrases = {p for k in C.HELD_OUT for p in C.CATEGORIES[k].phrases}
    for s in ("train", "dev"):
        for r in built["useful"][s]:
            assert r.topic not in held_phrases and r.topic_category not in C.HELD_OUT and not r.held_out
            assert r.category not in C.HELD_OUT
    test = built["useful"]["test"]
    held = [r for r in test if r.held_out]
    assert {r.topic_category for r in held} == C.HELD_OUT
    assert all(r.topic in held_phrases for r in held)
    assert {r.label for r in held} == {"useful", "useless"}
    assert {r.kind for r in held} == {"on_topic", "off_topic", "chitchat", "ad"}
    assert all(not r.held_out for r in test if r.topic not in held_phrases)


def test_held_out_headlines_are_in_no_train_or_dev(built):
    raw = C._raw(None)
    held_texts = {t for t, cat, _ in raw.news if cat in C.HELD_OUT}
    for task in C.TASKS:
        for s in ("train", "dev"):
            assert not held_texts & {r.text for r in built[task][s]}, (task, s)


def test_useful_balance_and_topic_pairs(built):
    for s, records in built["useful"].items():
        share = sum(r.label == "useful" for r in records) / len(records)
        assert 0.35 <= share <= 0.45, (s, share)
        for r in records:
            assert r.topic in C.CATEGORIES[r.topic_category].phrases
            if r.kind == "on_topic":
                assert r.label == "useful" and r.category in ("", r.topic_category)
            else:
                assert r.label == "useless"
            if r.kind == "off_topic":
                assert C.unrelated(r.category, r.topic_category), r
    pairs = [(r.text, r.topic) for s in C.SPLITS for r in built["useful"][s]]
    assert len(pairs) == len(set(pairs))


def test_useful_leaves_out_smp_task_domains(built):
    raw = C._raw(None)
    task_texts = {t for t, d in raw.smp17 + raw.smp19 if d != "chat"}
    for records in built["useful"].values():
        assert not task_texts & {r.text for r in records if r.source == "smp_ecdt_intent"}


def test_ad_sources_and_per_source_test_sets(built):
    test = C.records_by_source(built["ad"]["test"])
    assert {"qq_group_ads", "sms_spam_80w", "nus_sms_zh", "evasion"} <= set(test)
    assert {r.label for r in test["nus_sms_zh"]} == {"normal"}
    assert {r.label for r in test["qq_group_ads"]} == {"ad", "normal"}
    # The clean per-source test sets are the held-out part of the dataset, as nlp.training.evaluate reads it.
    qq_test = {ex.text.strip() for ex in datasets.qq_group_ads() if split_of(ex.text) == "test"}
    assert {r.text for r in test["qq_group_ads"]} <= qq_test
    assert len(test["qq_group_ads"]) >= 0.97 * len(qq_test)
    assert {r.label for r in test["evasion"]} == {"ad", "normal"}


def test_ad_train_oversamples_qq_and_unmasks_digits(built):
    train = built["ad"]["train"]
    qq = Counter(r.text for r in train if r.source == "qq_group_ads" and not r.aug)
    assert set(qq.values()) == {C.QQ_OVERSAMPLE}
    digits = [r for r in train if r.aug == "digits"]
    assert digits and {r.label for r in digits} == {"ad", "normal"}
    assert not any(re.search(r"(?<![A-Za-z])x+(?![A-Za-z])", r.text) for r in digits)
    evasion = Counter(r.label for r in train if r.aug not in C.NOT_EVASION)
    assert evasion["ad"] > 0 and abs(evasion["ad"] - evasion["normal"]) <= 0.05 * evasion["ad"]
    news = Counter(r.source for r in train if r.source in ("thucnews_titles", "tnews") and not r.aug)
    assert sum(news.values()) < 12_000


def test_intent_sources_and_reserved_smp_dev(built):
    dev = C.smp2017_dev_chat_vs_rest()
    assert len(dev) == 770 and 100 < sum(c for _, c in dev) < 200
    reserved = {C._key(t) for t, _ in dev}
    for records in built["intent"].values():
        assert not reserved & {C._key(r.text) for r in records if r.source == "smp_ecdt_intent"}
        by = Counter(r.label for r in records)
        assert by["chitchat"] > 0 and by["ad"] > 0
    train = Counter((r.label, r.source) for r in built["intent"]["train"])
    for label in ("announcement", "job_post", "link_share", "answer", "other"):
        assert train[(label, "intent_seed")] >= 40, label


def _digest(corpora: dict) -> str:
    h = hashlib.sha256()
    for task in C.TASKS:
        for s in C.SPLITS:
            for r in corpora[task][s]:
                h.update(json.dumps([task, s, *(getattr(r, f) for f in r.__slots__)], ensure_ascii=False).encode())
    return h.hexdigest()


def test_deterministic_across_processes(built):
    code = (
        "import sys, json; sys.path.insert(0, sys.argv[1]); from tests.nlp.test_corpus import _digest; "
        "from nlp.training import corpus as C; print(_digest({t: C.build(t) for t in C.TASKS}))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == _digest(built)


def test_stats_command(capsys, built):
    assert C.main(["--stats", "--task", "intent"]) == 0
    out = capsys.readouterr().out
    assert "== intent ==" in out and "-- train:" in out and "smp2017 dev" in out
