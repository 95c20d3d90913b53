import collections
import hashlib

import pytest

from nlp.training import datasets
from nlp.training.datasets import DatasetMissing, Example, split, split_of
from tests.needs import shared_data


def test_split_is_deterministic_and_seeded():
    texts = [f"消息 {i}" for i in range(50)]
    assert [split_of(t) for t in texts] == [split_of(t) for t in texts]
    assert [split_of(t) for t in texts] != [split_of(t, seed="other") for t in texts]


def test_split_proportions():
    counts = collections.Counter(split_of(f"text number {i}") for i in range(20_000))
    assert counts["test"] / 20_000 == pytest.approx(0.20, abs=0.015)
    assert counts["dev"] / 20_000 == pytest.approx(0.10, abs=0.015)
    assert counts["train"] / 20_000 == pytest.approx(0.70, abs=0.015)


def test_the_one_hash_split_assigns_as_before():
    """split_of and the NER split are one function (hash_split) with their own seeds and fractions;
    the digest pins what each assigned before they were merged, so no record changes side."""
    from nlp.training.ner_data import ner_split

    texts = [f"第{i}条 msg {i * 7919 % 1000}" for i in range(3000)]
    marks = "".join(split_of(t)[0] + ner_split(t)[0] for t in texts)
    assert hashlib.sha256(marks.encode()).hexdigest()[:16] == "2f7aeb75f0affafc"
    assert [datasets.hash_split(t, datasets.DEFAULT_SEED, 0.20, 0.10) for t in texts[:200]] == [
        split_of(t) for t in texts[:200]
    ]


@pytest.mark.parametrize("variant", ["加V信 ABC123", "加Ｖ信 ＡＢＣ１２３", "加\u200bV信  abc123", " 加 V 信 abc123 "])
def test_near_duplicates_land_on_the_same_side(variant):
    assert split_of(variant) == split_of("加v信 abc123")


def test_split_filters_examples():
    examples = [Example(f"t{i}", "normal") for i in range(200)]
    test = list(split(examples, "test"))
    assert test and all(split_of(e.text) == "test" for e in test)
    with pytest.raises(ValueError):
        list(split(examples, "holdout"))


def test_data_dir_order(monkeypatch, tmp_path):
    monkeypatch.delenv("QUNZHI_DATA", raising=False)
    assert datasets.data_dir().parts[-2:] == ("shared", "data")
    monkeypatch.setenv("QUNZHI_DATA", str(tmp_path))
    assert datasets.data_dir() == tmp_path
    assert datasets.data_dir("/x") == datasets.Path("/x")


def test_missing_data_raises_a_clear_error(tmp_path):
    with pytest.raises(DatasetMissing, match="QUNZHI_DATA"):
        list(datasets.qq_group_ads(tmp_path))
    with pytest.raises(ValueError, match="unknown dataset"):
        datasets.load("nope", tmp_path)


def test_loaders_read_the_shared_layout(tmp_path):
    (tmp_path / "qq_group_ads").mkdir()
    (tmp_path / "qq_group_ads" / "train.tsv").write_text("label\ttext\n1\t加群123456\n0\t草\n0\t \n", encoding="utf-8")
    assert list(datasets.qq_group_ads(tmp_path)) == [Example("加群123456", "ad"), Example("草", "normal")]
    (tmp_path / "lccc_chitchat").mkdir()
    (tmp_path / "lccc_chitchat" / "dialogs.jsonl").write_text(
        '{"turns": ["你好", "在吗"]}\n{"turns": ["你好", "嗯"]}\n', encoding="utf-8"
    )
    assert [e.text for e in datasets.lccc_utterances(tmp_path)] == ["你好", "在吗", "嗯"]


def test_bad_header_is_an_error(tmp_path):
    (tmp_path / "sms_spam_80w").mkdir()
    (tmp_path / "sms_spam_80w" / "train.tsv").write_text("text\tlabel\nx\t1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="header"):
        list(datasets.sms_spam_80w(tmp_path))


def test_real_data_loads():
    shared_data("qq_group_ads", "smp_ecdt_intent")
    rows = list(datasets.qq_group_ads())
    assert len(rows) == 1700
    assert {e.label for e in rows} == {"ad", "normal"}
    assert sum(1 for e in datasets.smp_ecdt_intent(part="dev")) == 770
