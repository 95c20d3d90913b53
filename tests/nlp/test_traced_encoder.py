"""The encoder runs as a TorchScript graph recorded at load: same numbers as the eager module.

Loading and tracing a model costs seconds: each (precision, traced) analyzer is built once for the
module, and the texts are few but cover the shapes that matter (empty, one character, emoji, cut at
max_length, padded batches of many lengths, more than one forward pass). The default precision,
int8, always runs; bf16 and fp32 are ``slow`` (CI only, or QUNZHI_TEST_SLOW=1)."""

import functools
import random
from pathlib import Path

import pytest
import torch

from nlp.classify import ModelAnalyzer
from nlp.errors import ModelError
from nlp.model import traced_embed

MODEL = Path(__file__).resolve().parents[2] / "models" / "qunzhi"

TEXTS = [
    "兼职刷单，日赚300-500，手机就能做，加V：wx_abc123 秒结",
    "请问 vLLM 部署 Qwen 显存不够怎么办？",
    "哈哈",
    "",
    "😀",
    "群公告：本周六上午九点线上分享大模型推理优化，欢迎报名，名额有限先到先得。" * 6,  # cut at max_length
    "a" * 300,
    "https://huggingface.co/Qwen/Qwen2-7B-Instruct 这个版本可以直接用 vLLM 跑",
]


@functools.cache
def analyzer(precision: str, trace: bool = True) -> ModelAnalyzer:
    return ModelAnalyzer(MODEL, precision=precision, trace=trace)


@pytest.mark.parametrize(
    "precision", ["int8", pytest.param("bf16", marks=pytest.mark.slow), pytest.param("fp32", marks=pytest.mark.slow)]
)
def test_traced_and_eager_give_identical_predictions(precision):
    traced, eager = analyzer(precision), analyzer(precision, trace=False)
    assert traced.traced and not eager.traced
    rng = random.Random(7)
    # batch shapes of many sizes and lengths (1..128 tokens), with and without padding, in more
    # than one forward pass (batch_tokens caps a batch of long texts at a few messages)
    texts = TEXTS + ["".join(rng.choice(TEXTS[:3]) for _ in range(rng.randint(1, 6))) for _ in range(26)]
    topics = [rng.choice(["人工智能", "吉他弹唱", "考研交流", ""]) for _ in texts]
    assert len(traced.batches(texts, "")) > 1
    assert traced.predict(texts, topics) == eager.predict(texts, topics)
    for n in (1, 2):  # one text alone, a pair
        assert traced.predict(texts[:n], topics[:n]) == eager.predict(texts[:n], topics[:n])


class _ShapeDependent(torch.nn.Module):
    """An encoder whose Python branches on the batch size: a trace freezes the branch."""

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = (input_ids * attention_mask).float()
        return x * 2 if input_ids.shape[0] == 1 else x


def test_a_trace_that_differs_from_the_eager_forward_is_refused():
    pair = (torch.ones(2, 3, dtype=torch.long), torch.ones(2, 3, dtype=torch.long))
    single = (torch.ones(1, 3, dtype=torch.long), torch.ones(1, 3, dtype=torch.long))
    traced_embed(_ShapeDependent(), [pair, pair])  # consistent on the shapes it is checked on
    with pytest.raises(ModelError, match="traced encoder differs"):
        traced_embed(_ShapeDependent(), [pair, single])


@pytest.mark.slow
def test_bf16_verdicts_do_not_depend_on_the_batch_and_stay_near_fp32():
    bf16, fp32 = analyzer("bf16"), analyzer("fp32")
    assert bf16.version.endswith("-bf16") and fp32.version.endswith("-1")
    texts = TEXTS + ["午休 勿扰", "发错群了 😅", "预售 + 物流慢 服了", "顺便问下，中文 embedding 现在大家用哪个多？"]
    topics = ["人工智能 大模型"] * len(texts)
    together = bf16.predict(texts, topics)
    alone = [bf16.predict([t], [tp])[0] for t, tp in zip(texts, topics)]
    full = fp32.predict(texts, topics)
    for a, b, f in zip(together, alone, full):
        for head in ("ad", "useful", "intent"):
            for label, p in getattr(a, head).items():
                assert abs(p - getattr(b, head)[label]) <= 0.02  # batch neighbours do not move it
                assert abs(p - getattr(f, head)[label]) <= 0.05  # and it stays with the trained model


def test_an_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="precision"):
        ModelAnalyzer(MODEL, precision="int4", trace=False)
