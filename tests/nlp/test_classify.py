"""The shipped weights, loaded as the product loads them, on clear cases; and clear model errors."""

import shutil
from pathlib import Path

import pytest

from nlp.classify import ModelAnalyzer
from nlp.errors import ModelError
from nlp.item import Item
from nlp.model import MANIFEST_FILE, WEIGHTS_FILE

MODEL = Path(__file__).resolve().parents[2] / "models" / "qunzhi"


@pytest.fixture(scope="module")
def model() -> ModelAnalyzer:
    return ModelAnalyzer(MODEL)


@pytest.mark.parametrize(
    "text",
    [
        "兼职刷单，日赚300-500，手机就能做，加V：wx_abc123 秒结",
        "本人专业办理贷款，无抵押无担保，当天秒到账，有需要的私聊",
        "加 V 信 ： w x 1 3 8 8 ， 免 费 领 取 资 料",  # spaced out
        "韩国面膜代理，一件代发，宝妈学生党都能做，ｖｘ：ｍｍ５２０８８８",  # full-width
    ],
)
def test_clear_ads_are_ads_with_reasons(model, text):
    (v,) = [d["ad"] for d in model.analyse_all([Item(text, "人工智能")])]
    assert v.label == "ad" and v.score > 0.9
    assert v.reasons[0].startswith("model p(ad)=")
    assert v.model.startswith("qunzhi-")


@pytest.mark.parametrize(
    "text",
    ["今天下午三点开会，大家别迟到", "请问 vLLM 部署 Qwen 显存不够怎么办？", "哈哈哈哈", "晚上一起吃饭吗"],
)
def test_ordinary_messages_are_not_ads(model, text):
    assert model.analyse_all([Item(text)])[0]["ad"].label == "normal"


def test_usefulness_is_relative_to_the_topic(model):
    on_topic = "大模型微调的时候 LoRA 的学习率一般设多少比较合适？"
    out = model.analyse_all(
        [
            Item(on_topic, "人工智能 大模型"),
            Item("哈哈哈哈哈", "人工智能 大模型"),
            Item("[表情]", "人工智能 大模型", kind="sticker"),
            Item("湖人今天又输了，詹姆斯砍下40分也没用", "人工智能 大模型"),
            Item("湖人今天又输了，詹姆斯砍下40分也没用", "NBA 篮球"),
        ]
    )
    assert [d["useful"].label for d in out] == ["useful", "useless", "useless", "useless", "useful"]
    assert "for topic 人工智能 大模型" in out[0]["useful"].reasons[0]


def test_intent_separates_questions_from_chitchat(model):
    out = model.analyse_all([Item("请问 Python 3.11 装 torch 要用哪个版本？"), Item("哈哈哈笑死我了")])
    assert [d["intent"].label for d in out] == ["question", "chitchat"]


def test_system_messages_are_not_run_through_the_model(model):
    (d,) = model.analyse_all([Item('"小王"邀请"阿杰"加入了群聊', kind="system")])
    assert d["ad"].label == "normal" and d["ad"].reasons == ("system message: not analysed",)


def test_batch_order_is_kept_whatever_the_lengths(model):
    texts = [
        "好",
        "请问 RAG 召回率低怎么排查，切分粒度和 embedding 模型都换过了还是不行？",
        "加V领红包 wx_abc123 日赚300",
    ]
    one_by_one = [model.predict([t])[0] for t in texts]
    together = model.predict(texts)
    # int8 activations are quantised per batch, so probabilities move a little with the batch
    for a, b in zip(one_by_one, together):
        assert a.ad == pytest.approx(b.ad, abs=0.02)
        assert max(a.intent, key=a.intent.get) == max(b.intent, key=b.intent.get)


def test_missing_model_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="model directory not found"):
        ModelAnalyzer(tmp_path / "nope")


def test_missing_weights_file_is_named(tmp_path):
    broken = tmp_path / "m"
    shutil.copytree(MODEL, broken)
    (broken / WEIGHTS_FILE).unlink()
    with pytest.raises(ModelError, match=f"{WEIGHTS_FILE} is missing"):
        ModelAnalyzer(broken)


def test_corrupt_weights_file_is_a_clear_error(tmp_path):
    broken = tmp_path / "m"
    shutil.copytree(MODEL, broken, ignore=shutil.ignore_patterns(WEIGHTS_FILE))
    (broken / WEIGHTS_FILE).write_bytes((MODEL / WEIGHTS_FILE).read_bytes()[:4096])
    with pytest.raises(ModelError, match="corrupt"):
        ModelAnalyzer(broken)


def test_a_flipped_byte_is_caught_by_the_manifest_checksum(tmp_path):
    broken = tmp_path / "m"
    shutil.copytree(MODEL, broken)
    data = bytearray((broken / WEIGHTS_FILE).read_bytes())
    data[-100] ^= 0xFF  # still a well-formed safetensors file
    (broken / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256 does not match"):
        ModelAnalyzer(broken)


def test_corrupt_manifest_is_a_clear_error(tmp_path):
    broken = tmp_path / "m"
    shutil.copytree(MODEL, broken)
    (broken / MANIFEST_FILE).write_text("{not json", "utf-8")
    with pytest.raises(ModelError, match="not readable JSON"):
        ModelAnalyzer(broken)


def test_a_policy_overrides_a_model_that_misses_a_gambling_offer(model):
    """The model alone gives this short gambling offer p(ad) < 0.5; the policy makes it an ad and
    says so, keeping the model's own probability in the reason."""
    text = "澳门国际赌场：真人在线娱乐，首充送100%"
    (p,) = model.predict([text])
    assert p.ad["ad"] == 0.9 and p.policy.startswith("policy gambling offer: 赌场 + 首充 (model p(ad)=")
    assert float(p.policy.rsplit("=", 1)[1].rstrip(")")) < 0.5
    v = model.analyse_all([Item(text)])[0]
    assert v["ad"].label == "ad" and v["ad"].reasons[0] == p.policy
    assert v["ad_rules"].label == "ad"  # the rules agree, so moderation may act
    (q,) = model.predict(["澳门赌场收入连续三个月下降"])
    assert q.policy == ""


def test_useful_is_decided_at_the_threshold_not_at_one_half(model):
    from nlp.classify import Prediction

    assert model.useful_threshold == 0.3
    probs = {"useless": 0.65, "useful": 0.35}
    assert model.decide("useful", probs) == ("useful", 0.35)
    assert model.decide("useful", {"useless": 0.75, "useful": 0.25}) == ("useless", 0.75)
    assert model.decide("ad", {"normal": 0.4, "ad": 0.6}) == ("ad", 0.6)  # other heads: the likeliest
    strict = ModelAnalyzer(MODEL, useful_threshold=0.5, trace=False)
    assert strict.decide("useful", probs) == ("useless", 0.65)
    # the verdict carries the decision, its confidence and the threshold it was made at
    p = Prediction({"normal": 0.9, "ad": 0.1}, probs, {"question": 0.6, "chitchat": 0.4})
    rules = {name: strict._system(Item("x"))[name] for name in ("ad_rules", "useful", "intent")}
    v = model.verdicts_for(Item("向量库选型 Milvus 还是 pgvector", "人工智能"), p, rules)["useful"]
    assert (v.label, v.score) == ("useful", 0.35)
    assert "useful from 0.30" in v.reasons[0]
    assert strict.verdicts_for(Item("向量库选型", "人工智能"), p, rules)["useful"].label == "useless"


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_a_useful_threshold_outside_zero_to_one_is_refused(bad):
    with pytest.raises(ValueError, match="useful_threshold"):
        ModelAnalyzer(MODEL, useful_threshold=bad, trace=False)
