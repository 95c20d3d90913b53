import collections

import pytest

from nlp import datasets
from nlp.datasets import DatasetMissing, Example, split, split_of


def test_split_is_deterministic_and_seeded():
    texts = [f"消息 {i}" for i in range(50)]
    assert [split_of(t) for t in texts] == [split_of(t) for t in texts]
    assert [split_of(t) for t in texts] != [split_of(t, seed="other") for t in texts]


def test_split_proportions():
    counts = collections.Counter(split_of(f"text number {i}") for i in range(20_000))
    assert counts["test"] / 20_000 == pytest.approx(0.20, abs=0.015)
    assert counts["dev"] / 20_000 == pytest.approx(0.10, abs=0.015)
    assert counts["train"] / 20_000 == pytest.approx(0.70, abs=0.015)


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


@pytest.mark.skipif(not (datasets.data_dir() / "qq_group_ads").is_dir(), reason="shared data folder not present")
def test_real_data_loads():
    rows = list(datasets.qq_group_ads())
    assert len(rows) == 1700
    assert {e.label for e in rows} == {"ad", "normal"}
    assert sum(1 for e in datasets.smp_ecdt_intent(part="dev")) == 770
