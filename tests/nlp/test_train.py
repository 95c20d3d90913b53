"""Training mechanics on a tiny encoder: the pack round-trips, fit runs, checkpoints resume, and the
written model directory loads in the product's analyzer."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel

from nlp.classify import ModelAnalyzer
from nlp.item import Item
from nlp.model import load_tokenizer
from nlp.training.train import _encode, _flat, fit, load_pack

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "qunzhi"


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("enc")
    tok = load_tokenizer(SHIPPED)
    cfg = BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=130,
        pad_token_id=1,
    )
    torch.manual_seed(0)
    BertModel(cfg, add_pooling_layer=False).save_pretrained(d)
    tok.save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def pack(tiny_encoder, tmp_path_factory) -> Path:
    tok = load_tokenizer(tiny_encoder)
    rows = {
        "ad": [("加V领红包 wx_abc123", 1), ("今天开会", 0), ("兼职日结300", 1), ("晚上吃什么", 0)],
        "useful": [
            ("LoRA 学习率怎么设", 1, "人工智能"),
            ("哈哈哈", 0, "人工智能"),
            ("湖人赢了", 1, "篮球"),
            ("[表情]", 0, "篮球"),
        ],
        "intent": [("请问怎么安装？", 0), ("哈哈哈", 7), ("帮我打开音乐", 6), ("群公告：周六停电", 2)],
    }
    topics = ["人工智能", "篮球"]
    arrays = {}
    for task, data in rows.items():
        for split in ("train", "dev"):
            flat = _flat(_encode(tok, [r[0] for r in data], "passage: ", 32))
            arrays[f"{task}/{split}/ids"], arrays[f"{task}/{split}/lengths"] = flat["ids"], flat["lengths"]
            arrays[f"{task}/{split}/labels"] = np.array([r[1] for r in data], dtype=np.int64)
            if task == "useful":
                arrays[f"{task}/{split}/topics"] = np.array([topics.index(r[2]) for r in data], dtype=np.int32)
    flat = _flat(_encode(tok, topics, "query: ", 16))
    arrays["topics/ids"], arrays["topics/lengths"] = flat["ids"], flat["lengths"]
    arrays["meta"] = np.frombuffer(json.dumps({"counts": {}, "topics": topics}).encode(), dtype=np.uint8)
    path = tmp_path_factory.mktemp("pack") / "pack.npz"
    np.savez_compressed(path, **arrays)
    return path


def test_pack_round_trips(pack):
    data, topic_seqs, meta = load_pack(pack)
    assert len(data["ad"]["train"].seqs) == 4 and list(data["intent"]["dev"].labels) == [0, 7, 6, 2]
    assert len(topic_seqs) == 2 and meta["topics"] == ["人工智能", "篮球"]


def test_fit_writes_a_loadable_model_and_resumes(pack, tiny_encoder, tmp_path):
    out = tmp_path / "run"
    fit(pack, tiny_encoder, out, layers=None, epochs=2, batch_size=2, save_every=1, max_steps=2, device="cpu")
    state = torch.load(out / "checkpoint.pt", weights_only=False)
    assert state["step"] == 2
    model_dir = fit(
        pack,
        tiny_encoder,
        out,
        layers=None,
        epochs=2,
        batch_size=2,
        save_every=1,
        max_steps=4,
        device="cpu",
        resume=True,
        version="tiny-test",
    )
    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == 4
    manifest = json.loads((model_dir / "manifest.json").read_text("utf-8"))
    assert manifest["version"] == "tiny-test" and manifest["training"]["steps"] == 4
    assert [h["step"] for h in manifest["dev_history"]] == [2, 4]  # one epoch = 2 steps here
    analyzer = ModelAnalyzer(model_dir, precision="fp32")
    (d,) = analyzer.analyse_all([Item("加V领红包", "人工智能")])
    assert set(d) == {"ad", "useful", "intent", "ad_rules"} and d["ad"].model == "tiny-test"


def test_a_run_from_a_trained_model_with_frozen_embeddings_keeps_them_byte_for_byte(pack, tiny_encoder, tmp_path):
    """`fit --init-model M --freeze-embeddings --int8`: the layers move, the token embeddings (what the
    NER head reads, checked by its lower_sha256) are written back exactly as M stored them."""
    from safetensors.torch import load_file

    from nlp.model import load, pack_int8
    from nlp.ner import LowerEncoder, lower_digest

    first = fit(pack, tiny_encoder, tmp_path / "a", layers=None, epochs=1, batch_size=2, max_steps=2, device="cpu")
    # store the start int8 per row, as the shipped model is
    from safetensors.torch import save_file

    stored = load_file(str(first / "qunzhi.safetensors"))
    save_file(
        {k: v.contiguous() for k, v in pack_int8({k: v.float() for k, v in stored.items()}).items()},
        str(first / "qunzhi.safetensors"),
    )
    manifest = json.loads((first / "manifest.json").read_text("utf-8"))
    manifest["files"].pop("qunzhi.safetensors")
    (first / "manifest.json").write_text(json.dumps(manifest), "utf-8")

    # the training itself leaves the embeddings alone (stored fp16 here, so nothing is copied back)
    fp16_run = fit(
        pack,
        None,
        tmp_path / "c",
        epochs=1,
        batch_size=2,
        max_steps=3,
        lr=1e-2,
        device="cpu",
        init_model=first,
        freeze_embeddings=True,
    )
    start, trained = load(first)[0].encoder.embeddings, load(fp16_run)[0].encoder.embeddings
    for (name, a), (_, b) in zip(start.state_dict().items(), trained.state_dict().items()):
        assert torch.equal(a.half(), b.half()), name
    # and as shipped (int8), they are written back as the start stored them
    second = fit(
        pack,
        None,
        tmp_path / "b",
        epochs=1,
        batch_size=2,
        max_steps=3,
        lr=1e-2,
        device="cpu",
        init_model=first,
        freeze_embeddings=True,
        int8=True,
    )
    before, after = load_file(str(first / "qunzhi.safetensors")), load_file(str(second / "qunzhi.safetensors"))
    emb = [k for k in before if k.startswith("encoder.embeddings.")]
    assert emb and all(torch.equal(before[k], after[k]) for k in emb)
    assert after["encoder.embeddings.word_embeddings.weight"].dtype == torch.int8
    layer = "encoder.encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(before[layer], after[layer])  # the rest trained
    net_a, net_b = load(first)[0], load(second)[0]
    assert lower_digest(LowerEncoder(net_a.encoder, 0)) == lower_digest(LowerEncoder(net_b.encoder, 0))
    m = json.loads((second / "manifest.json").read_text("utf-8"))["training"]
    assert m["init_model"] == str(first) and m["freeze_embeddings"] is True
