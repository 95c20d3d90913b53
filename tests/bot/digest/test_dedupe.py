"""Near-duplicates: lexical without the model, embeddings with it, never chained."""

from pathlib import Path

import numpy as np
import pytest

from bot.digest import dedupe

ASK = "有人在昇腾 910B 上用 MindIE 跑过 Qwen2.5-72B 吗？想知道 8 卡吞吐大概能到多少，客户要求国产化"


def test_jaccard_merges_a_reask_and_keeps_different_texts_apart():
    items = [
        ("a", ASK),
        ("b", "LoRA 微调学习率一般设多少？"),
        ("c", "再问一下：" + ASK),
        ("d", "ｖｘ：ｗｘ１３８８ 有人在昇腾 910B 上用 MindIE 跑过"),  # shares a part, not the whole
    ]
    c = dedupe.cluster(items)
    assert c.of("c") == "a" and c.size("a") == 2
    assert c.of("b") == "b" and c.of("d") == "d"
    assert c.merged == 1
    assert c.method == f"3-gram jaccard≥{dedupe.JACCARD_THRESHOLD}"


def test_short_texts_merge_only_when_equal_and_urls_do_not_count():
    c = dedupe.cluster(
        [
            ("a", "收到"),
            ("b", "收到！"),
            ("c", "收到了"),
            ("d", "https://x.example/a 好文"),
            ("e", "https://x.example/b 好文"),
        ]
    )
    assert c.of("b") == "a" and c.of("c") == "c"
    assert c.of("e") == "d"  # the same words around two different links: the link threads tell them apart


def test_evasions_are_undone_before_comparing():
    a = "兼职刷单日赚三百，有意者加V：wx_abc123，秒结"
    b = "兼 职 刷 单 日 赚 三 百 ， 有 意 者 加 V ： w x _ a b c 1 2 3 ， 秒 结"
    assert dedupe.cluster([("a", a), ("b", b)]).of("b") == "a"


def fake_embed(vectors):
    def embed(texts):
        return np.array([vectors[t] for t in texts], dtype=np.float32)

    return embed


def test_embeddings_decide_when_given_and_clusters_never_chain():
    t = dedupe.EMBED_THRESHOLD
    # b is close to a, c close to b, but c is not close to a: c must not join a's cluster.
    angle_ab = np.arccos(t) * 0.9
    vec = {
        "文本一的内容": [1.0, 0.0],
        "文本二的内容": [np.cos(angle_ab), np.sin(angle_ab)],
        "文本三的内容": [np.cos(2 * angle_ab), np.sin(2 * angle_ab)],
    }
    c = dedupe.cluster([("a", "文本一的内容"), ("b", "文本二的内容"), ("c", "文本三的内容")], fake_embed(vec))
    assert c.of("b") == "a" and c.of("c") == "c"
    assert c.method.startswith("encoder layer")


def test_a_failing_embedder_falls_back_to_jaccard(caplog):
    def broken(texts):
        raise RuntimeError("no model")

    c = dedupe.cluster([("a", ASK), ("b", "再问一下：" + ASK)], broken)
    assert c.of("b") == "a" and c.method.startswith("3-gram")
    assert "embedding" in caplog.text


@pytest.mark.parametrize("n", [0, 1])
def test_tiny_inputs(n):
    c = dedupe.cluster([("a", ASK)][:n], fake_embed({}))
    assert c.merged == 0


MODEL = Path(__file__).resolve().parents[3] / "models" / "qunzhi"


@pytest.fixture(scope="module")
def model():
    from nlp.classify import ModelAnalyzer

    return ModelAnalyzer(MODEL)


def test_with_the_shipped_encoder_a_reasked_question_is_a_duplicate_and_chit_chat_is_not(model):
    """At EMBED_LAYER a re-asked question is a duplicate and two unrelated chit-chat lines are
    not; at the last layer (the heads') they are closer than the re-asked question."""
    pairs = [(ASK, "再问一下：" + ASK), ("一大早就这么卷吗", "哈哈哈哈 卷起来"), ("北京昨晚下雪了哈哈", "今天吃点好的")]
    cos = lambda layer: [float(np.dot(*model.embed(list(p), layer=layer))) for p in pairs]  # noqa: E731
    dup, chat1, chat2 = cos(dedupe.EMBED_LAYER)
    assert dup >= dedupe.EMBED_THRESHOLD > max(chat1, chat2)
    dup, chat1, chat2 = cos(None)
    assert max(chat1, chat2) > dup  # why the digest does not use the last layer
