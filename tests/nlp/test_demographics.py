"""Demographic hints: features, additivity, gating by threshold and evidence, the artefact, the trainer's
honesty rules (split by user, thresholds, shipping), and the rule-based profile text signals."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from nlp.demographics import DIM, DemographicModel, TaskModel, ngram_counts, normalise
from nlp.profile import lead_hits, occupation_cues, topic_words
from nlp.training import demographics_train as trainer

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "demographics"


def tiny_model(threshold: float = 0.6, min_ngrams: int = 10) -> TaskModel:
    """A made-up gender model: the character 哒 pulls to "female", 哥 to "male"."""
    w = np.zeros((DIM, 2), dtype=np.float32)
    for ch, label in (("哒", 0), ("哥", 1)):
        w[next(iter(ngram_counts(ch))), label] = 40.0
    return TaskModel("gender", ("female", "male"), w, np.zeros(2), 1.0, threshold, min_ngrams)


def save(folder: Path, task: TaskModel, shipped: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {f"{task.name}_w": task.weights.astype(np.float16), f"{task.name}_b": task.bias} if shipped else {}
    np.savez_compressed(folder / "weights.npz", **arrays)
    spec = {
        "labels": list(task.labels),
        "temperature": task.temperature,
        "threshold": task.threshold,
        "min_ngrams": task.min_ngrams,
        "shipped": shipped,
    }
    (folder / "manifest.json").write_text(json.dumps({"tasks": {task.name: spec}}), "utf-8")


def test_ngrams_are_stable_and_ignore_urls_digits_and_spaces() -> None:
    assert normalise("Ｈｉ 你好 123 https://x.cn/a") == "hi你好"
    c = ngram_counts("你好你好")
    assert sum(c.values()) == 4 + 3 + 2  # 1-, 2- and 3-grams
    assert c == ngram_counts("你好 你好 42")
    assert all(0 <= k < DIM for k in c)


def test_evidence_adds_up_message_by_message() -> None:
    model = tiny_model()
    texts = ["哥们好", "今天吃啥哒", "哥哥哥"]
    total = Counter()
    sums = [0.0, 0.0]
    for t in texts:
        counts = ngram_counts(t)
        total.update(counts)
        sums = [a + b for a, b in zip(sums, model.evidence(counts))]
    assert sums == pytest.approx(model.evidence(total), rel=1e-5)
    p = model.probabilities(sums, sum(total.values()))
    assert p[1] > p[0] and sum(p) == pytest.approx(1.0)


def test_hints_need_confidence_and_evidence() -> None:
    model = tiny_model(threshold=0.6, min_ngrams=10)
    strong = ngram_counts("哥" * 12)
    assert model.hint(model.evidence(strong), sum(strong.values())).shown
    few = ngram_counts("哥")
    h = model.hint(model.evidence(few), sum(few.values()))
    assert h.label == "male" and not h.shown  # confident, but one character is not evidence
    neutral = ngram_counts("今天天气不错我们去公园走走吧")
    h = model.hint(model.evidence(neutral), sum(neutral.values()))
    assert h.confidence == pytest.approx(0.5) and not h.shown
    assert not tiny_model(threshold=math.inf).hint(model.evidence(strong), sum(strong.values())).shown


def test_model_loads_only_shipped_tasks_and_has_a_version(tmp_path: Path) -> None:
    save(tmp_path / "a", tiny_model())
    m = DemographicModel.load(tmp_path / "a")
    assert set(m.tasks) == {"gender"} and len(m.version) == 12
    assert DemographicModel.load(tmp_path / "a").version == m.version
    n, sums = m.evidence("哥哥好")
    assert n == sum(ngram_counts("哥哥好").values()) and sums["gender"][1] > 0
    save(tmp_path / "b", tiny_model(), shipped=False)
    assert DemographicModel.load(tmp_path / "b").tasks == {}


def test_trainer_label_folding_and_wilson() -> None:
    assert [trainer.age_band(a) for a in ("16-20", "21-25", "31-35", "unknown", "No response")] == [
        "≤20",
        "21-25",
        "26+",
        None,
        None,
    ]
    assert trainer.gender("unknown") is None and trainer.gender("female") == "female"
    assert trainer.wilson_low(80, 100) == pytest.approx(0.711, abs=0.002)
    assert trainer.wilson_low(0, 0) == 0.0


def test_threshold_is_the_lowest_that_is_accurate_enough() -> None:
    conf = np.array([0.55] * 50 + [0.8] * 50)
    right = np.array([i % 2 == 0 for i in range(50)] + [i % 10 != 0 for i in range(50)])
    ns = np.full(100, 1000)
    assert trainer.choose_threshold(conf, right, ns, majority_rate=0.6) == pytest.approx(0.575)
    assert trainer.choose_threshold(conf, right, ns, majority_rate=0.95) == math.inf
    assert trainer.choose_threshold(conf, right, np.full(100, 10), majority_rate=0.6) == math.inf  # too little text


def test_fit_learns_a_separable_problem() -> None:
    xs = [ngram_counts("哒" * (3 + i % 4) + "好的") for i in range(20)] + [
        ngram_counts("哥" * (3 + i % 4) + "好的") for i in range(20)
    ]
    ys = [0] * 20 + [1] * 20
    w, b = trainer.fit(xs, ys, 2, l2=1e-4, steps=60)
    test = TaskModel("gender", ("female", "male"), w, b, 1.0, 0.6, 1)
    for text, want in (("哒哒好的", "female"), ("哥哥哥好的", "male")):
        c = ngram_counts(text)
        assert test.hint(test.evidence(c), sum(c.values())).label == want


def test_users_are_split_disjointly_and_stably() -> None:
    users = [trainer.User(f"u{i}", [], {"gender": "male", "age": None}) for i in range(500)]
    dev, test = trainer.split_users(users)
    assert not {u.id for u in dev} & {u.id for u in test}
    assert 0.15 < len(test) / 500 < 0.25
    assert [u.id for u in trainer.split_users(users)[1]] == [u.id for u in test]


def test_shipped_artefact_is_small_and_honest() -> None:
    if not (SHIPPED / "manifest.json").exists():
        pytest.skip("no demographic model in models/demographics")
    assert (SHIPPED / "weights.npz").stat().st_size < 2_000_000
    manifest = json.loads((SHIPPED / "manifest.json").read_text("utf-8"))
    model = DemographicModel.load(SHIPPED)
    for name, spec in manifest["tasks"].items():
        full = spec["test"]["all"]
        assert full["users"] >= 50
        if spec["shipped"]:
            assert name in model.tasks
            at = full["at_threshold"]
            assert at["accuracy"] >= trainer.MIN_SHOWN_ACCURACY and at["wilson_low"] > full["baseline_accuracy"]
        else:
            assert name not in model.tasks  # nothing below the bar is ever shown


def test_occupation_cues_are_self_statements_with_their_words() -> None:
    assert occupation_cues("我是一名老师，平时用 AI 备课") == [("教师", "我是一名老师")]
    assert occupation_cues("我们公司在招前端，有兴趣私聊") == [("招聘方", "我们公司在招")]
    assert occupation_cues("我是做外贸的") == [("外贸", "我是做外贸的")]
    assert occupation_cues("我是学生家长") == []
    assert occupation_cues("老师说明天交作业") == []
    assert occupation_cues("宝妈在家轻松日入500") == [] and occupation_cues("我是全职妈妈") == [
        ("宝妈", "我是全职妈妈")
    ]


def test_topic_words_and_lead_hits() -> None:
    words = topic_words("请问 LoRA 微调一般要多大显存？ https://github.com/x/y")
    assert "LoRA" in words and "微调" in words and "请问" not in words and "github" not in " ".join(words)
    assert topic_words("   ") == []
    # a URL ends where the ASCII ends: the words written right after it still count
    assert topic_words("推荐 https://huggingface.co/Qwen看看这个模型，LoRA 微调很方便") == ["模型", "LoRA", "微调"]
    assert lead_hits("你们的 gpu 云服务器多少钱一个月？求推荐", ["GPU", "算力"]) == (["GPU"], ["多少钱", "求推荐"])
    assert lead_hits("今天天气不错", ["GPU"]) == ([], [])
