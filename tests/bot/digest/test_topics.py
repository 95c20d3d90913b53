"""The day's topic keywords."""

from bot.digest.topics import keywords, topics


def test_mentions_name_members_not_topics() -> None:
    texts = [
        "@深圳-Jason 先用 LoRA 微调，学习率 1e-4",
        "@深圳-Jason LoRA 的 rank 设 16 就够",
        "@深圳-Jason 数据集清洗比 LoRA 参数重要",
        "Jason 说得对，LoRA 更省显存",
    ]
    found = keywords(texts, 6)
    assert "LoRA" in found
    assert "深圳" not in found
    # a name counts only where it is written as a word, not where it is @mentioned
    counts = {t.keyword: t.count for t in topics(texts)}
    assert counts["LoRA"] == 4 and counts.get("Jason", 1) == 1


def test_the_groups_own_topic_is_not_a_keyword() -> None:
    texts = ["大模型 推理 用 vLLM", "vLLM 部署 大模型", "大模型 量化 AWQ"]
    assert "大模型" not in keywords(texts, 6, exclude="人工智能 大模型")
    assert "vLLM" in keywords(texts, 6, exclude="人工智能 大模型")
