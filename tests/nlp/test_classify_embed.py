"""ModelAnalyzer.embed: the shared encoder's vectors, for the digest's near-duplicates."""

from pathlib import Path

import numpy as np
import pytest

from nlp.classify import ModelAnalyzer

MODEL = Path(__file__).resolve().parents[2] / "models" / "qunzhi"
ASK = "有人在昇腾 910B 上用 MindIE 跑过 Qwen2.5-72B 吗？想知道 8 卡吞吐大概能到多少，客户要求国产化"


@pytest.fixture(scope="module")
def model() -> ModelAnalyzer:
    return ModelAnalyzer(MODEL)


def test_embed_gives_unit_rows_in_input_order(model):
    texts = ["哈哈哈", ASK, "vLLM 部署显存不够"]
    for layer in (None, 0, 2):
        e = model.embed(texts, layer=layer)
        assert e.shape == (3, model.net.ad.in_features) and e.dtype == np.float32
        assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-4)
        one = model.embed([texts[1]], layer=layer)[0]
        # The same text alone or batched: dynamic int8 scales activations per batch, which moves
        # the last layer's vector (cos 0.84 here) far more than a low layer's.
        assert float(one @ e[1]) > (0.99 if layer is not None else 0.7)
    assert model.embed([]).shape == (0, model.net.ad.in_features)
    with pytest.raises(ValueError, match="layer"):
        model.embed(texts, layer=99)
