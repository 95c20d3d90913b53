"""Round 2 of the ad corpus: new sources, game-chat cleaning, chunks, seeds, leave-one-source-out."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from nlp.training import ad_seed, augment as A, corpus as C
from nlp.training.datasets import DatasetMissing, split_of
from tests.needs import missing


def test_game_chat_cleaning_rule():
    rows = [
        ("50元=6万点卷加qq2038395097", "ad", True),
        ("这个号20出需要的加qq2684789913", "normal", True),  # contact + offer: relabelled
        ("cp滴滴甜蜜双排", "normal", True),  # contact, no offer: dropped
        ("五楼会打野么？", "normal", False),
    ]
    out, counts = C.clean_game_chat(rows)
    assert out == [(rows[0][0], "ad"), (rows[1][0], "ad"), (rows[3][0], "normal")]
    assert counts == Counter({"ad": 2, "normal": 1, "relabelled_normal_to_ad": 1, "dropped_contact_no_promo": 1})


def test_chunks_fall_in_their_bucket():
    text = "。".join(f"这是第{i}句话，讲的是一个普通的技术问题和它的解释" for i in range(30)) + "。"
    for i in range(60):
        bucket = C.CHUNK_BUCKETS[i % len(C.CHUNK_BUCKETS)]
        piece = C.chunk(text, random.Random(i), bucket)
        assert bucket[0] <= len(piece) <= bucket[1] and piece in text
    assert C.chunk("太短了", random.Random(0), (21, 60)) == ""


def test_exclusion_names():
    assert C.excluded_sources(["game_chat", "qq", "fraud"]) == {
        "game_chat_ads_train",
        "qq_group_ads",
        "telecom_fraud_texts5",
    }
    assert C.excluded_sources([]) == frozenset()
    with pytest.raises(ValueError):
        C.excluded_sources(["nus_sms_zh"])


def test_exclusion_from_the_environment(monkeypatch):
    monkeypatch.setenv(C.EXCLUDE_ENV, "game_chat, fraud")
    assert C.excluded_sources() == {"game_chat_ads_train", "telecom_fraud_texts5"}


def test_ad_seeds_are_labelled_and_expand():
    assert ad_seed.SEED_COUNTS["ad"] >= 100 and ad_seed.SEED_COUNTS["normal"] >= 40
    for i, seed in enumerate(ad_seed.AD_SEEDS):
        assert seed.label in ("ad", "normal")
        for text in ad_seed.expand(seed, random.Random(i), 4):
            assert "{" not in text and text.strip()


def test_slang_changes_money_and_contact_words():
    out = A.slang("评论一条5块，加微信联系我", random.Random(1))
    assert out != "评论一条5块，加微信联系我" and "5块" not in out and "微信" not in out
    assert "slang" in A.applicable("日结200元") and "slang" not in A.applicable("今天天气不错")
    url = "https://example.com/qq/微信"
    assert url in A.slang(f"看这个 {url} 加我微信", random.Random(2))


@pytest.fixture(scope="module")
def ad():
    try:
        return C.build_ad(exclude_sources=())
    except DatasetMissing as e:
        missing(f"shared data not available: {e}")


NEW = ("game_chat_ads_train", "telecom_fraud_texts5", *C._LONG_FOLDERS)


def test_new_sources_in_every_split_and_held_out(ad):
    for s in C.SPLITS:
        sources = {r.source for r in ad[s]}
        assert set(NEW) <= sources, (s, set(NEW) - sources)
    for s in ("dev", "test"):
        assert not any(r.source == "ad_seed" for r in ad[s])
    test = C.records_by_source(ad["test"])
    assert {r.label for r in test["game_chat_ads_train"]} == {"ad", "normal"}
    assert {r.label for r in test["telecom_fraud_texts5"]} == {"ad"}
    for folder in C._LONG_FOLDERS:
        assert {r.label for r in test[folder]} == {"normal"}
    for r in ad["test"]:
        if r.source in NEW and not r.aug:
            assert split_of(r.text) == "test"


def test_every_length_bucket_among_train_negatives(ad):
    def bucket(n):
        return 0 if n <= 20 else 1 if n <= 60 else 2 if n <= 200 else 3

    long_neg = Counter(bucket(len(r.text)) for r in ad["train"] if r.source in C._LONG_FOLDERS)
    assert all(long_neg[b] >= 1000 for b in range(4)), long_neg


def test_train_caps(ad):
    c = Counter((r.source, r.label) for r in ad["train"] if not r.aug)
    assert c[("game_chat_ads_train", "ad")] <= C.GAME_AD_TRAIN
    assert c[("telecom_fraud_texts5", "ad")] <= C.FRAUD_TRAIN
    assert len(ad["train"]) <= 90_000


def test_leave_one_source_out(ad):
    try:
        loso = C.build_ad(exclude_sources=["game_chat"])
    except DatasetMissing as e:
        missing(str(e))
    for s in C.SPLITS:
        assert not any(r.source == "game_chat_ads_train" for r in loso[s])
    assert {r.source for r in loso["train"]} == {r.source for r in ad["train"]} - {"game_chat_ads_train"}
