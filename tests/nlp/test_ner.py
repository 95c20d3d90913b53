"""NER head: data reading, the scorer, BIO decoding, char tokenisation and a tiny random model end to end.

No shared data and no trained weights needed: the model test builds a two-layer random BERT in a
temporary directory shaped like ``models/qunzhi`` and a random NER top over it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nlp.bio import chunks
from nlp.errors import ModelError
from nlp.ner import (
    CharTokenizer,
    LowerEncoder,
    NerModel,
    NerNet,
    bio_labels,
    lower_digest,
    viterbi_bio,
)
from nlp.training.ner_data import Sentence, ner_split, read_bio, score
from nlp.verdict import Entity

# --- data and scoring --------------------------------------------------------------------------


def test_read_bio(tmp_path: Path) -> None:
    p = tmp_path / "x.bio"
    p.write_text("王\tB-PER\n五\tI-PER\n来\tO\n\n北\tB-LOC\n京\tI-LOC\n", "utf-8")
    sents = read_bio(p)
    assert [s.text for s in sents] == ["王五来", "北京"]
    assert sents[0].tags == ("B-PER", "I-PER", "O")


def test_chunks_follow_conlleval() -> None:
    assert chunks(["B-PER", "I-PER", "O", "B-LOC"]) == [("PER", 0, 2), ("LOC", 3, 4)]
    # an I- after O or after another type opens an entity (seqeval default mode)
    assert chunks(["O", "I-ORG", "I-ORG", "I-LOC"]) == [("ORG", 1, 3), ("LOC", 3, 4)]
    assert chunks(["B-PER", "B-PER"]) == [("PER", 0, 1), ("PER", 1, 2)]
    assert chunks(["S-PER", "B-LOC", "E-LOC"]) == [("PER", 0, 1), ("LOC", 1, 3)]
    assert chunks([]) == []


def test_score_exact_match() -> None:
    gold = [[("PER", 0, 2), ("LOC", 3, 5)], [("ORG", 0, 4)]]
    pred = [[("PER", 0, 2), ("LOC", 3, 4)], [("ORG", 0, 4), ("PER", 5, 6)]]
    s = score(gold, pred, ["PER", "LOC", "ORG"])
    assert s["PER"].precision == 0.5 and s["PER"].recall == 1.0
    assert s["LOC"].f1 == 0.0
    assert s["ORG"].f1 == 1.0
    assert s["micro"].precision == pytest.approx(2 / 4) and s["micro"].recall == pytest.approx(2 / 3)


def test_split_is_stable_and_roughly_sized() -> None:
    assert ner_split("今天北京下雨") == ner_split("今天 北京 下雨")  # spacing does not move a text
    parts = [ner_split(f"句子{i}") for i in range(4000)]
    assert 0.07 < parts.count("test") / 4000 < 0.13
    assert 0.03 < parts.count("dev") / 4000 < 0.07


# --- decoding ----------------------------------------------------------------------------------


def test_viterbi_respects_bio() -> None:
    labels = bio_labels(["PER"])  # O, B-PER, I-PER
    # the argmax would be I-PER at the start, which BIO forbids
    logp = torch.log(torch.tensor([[0.3, 0.2, 0.5], [0.1, 0.1, 0.8], [0.9, 0.05, 0.05]]))
    path = viterbi_bio(logp, labels)
    assert [labels[j] for j in path] == ["B-PER", "I-PER", "O"]
    assert viterbi_bio(logp[:0], labels) == []


def test_viterbi_forbids_type_switch_inside_entity() -> None:
    labels = bio_labels(["PER", "LOC"])  # O B-PER I-PER B-LOC I-LOC
    logp = torch.log(torch.tensor([[0.01, 0.9, 0.03, 0.03, 0.03], [0.01, 0.03, 0.3, 0.03, 0.63]]))
    tags = [labels[j] for j in viterbi_bio(logp, labels)]
    assert tags == ["B-PER", "I-PER"]


# --- a tiny random model end to end ------------------------------------------------------------

PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "王", "▁北", "京", "c", "1", "的"]


def _tiny_encoder_dir(tmp: Path) -> Path:
    """A models/qunzhi-shaped directory with a 2-layer random BERT of hidden 32."""
    from transformers import BertConfig, BertModel

    from nlp.model import QunzhiNet, save

    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=len(PIECES),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=260,
        pad_token_id=1,
    )
    bert = BertModel(cfg, add_pooling_layer=False)
    net = QunzhiNet(bert, 32)

    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.Unigram([(p, -1.0) for p in PIECES], unk_id=3))
    raw.pre_tokenizer = pre_tokenizers.Metaspace()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=raw, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>"
    )
    out = tmp / "enc"
    save(net, tok, out, {"version": "tiny"})
    return out


def test_char_tokenizer_one_id_per_character(tmp_path: Path) -> None:
    enc = _tiny_encoder_dir(tmp_path)
    tok = CharTokenizer.from_dir(enc)
    ids = tok.ids("王北京ｃ１ 谁")
    # <s> 王 ▁北 京 c(full-width folded) 1 ▁(space) <unk> </s>
    assert ids == [0, 5, 6, 7, 8, 9, 4, 3, 2]


def _tiny_ner_dir(tmp: Path, enc: Path) -> Path:
    from safetensors.torch import save_file

    from nlp.model import load

    qnet, _, _ = load(enc)
    lower = LowerEncoder(qnet.encoder, 1)
    heads = {"msra": ("PER", "LOC", "ORG"), "cluener": ("company", "game")}
    torch.manual_seed(1)
    net = NerNet(qnet.encoder.config, 1, heads)
    # bias the MSRA head towards B-PER on every token so the random model finds something
    with torch.no_grad():
        net.heads["msra"].bias.copy_(torch.tensor([0.0, 8.0, 0.0, 0.0, 0.0, 0.0, 0.0]))
    out = tmp / "ner"
    out.mkdir()
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(out / "ner.safetensors"))
    cfg = {
        "version": "tiny",
        "frozen_layers": 1,
        "top_layers": 1,
        "heads": {k: list(v) for k, v in heads.items()},
        "lower_sha256": lower_digest(lower),
    }
    (out / "ner.json").write_text(json.dumps(cfg), "utf-8")
    (out / "manifest.json").write_text(json.dumps({"version": "tiny"}), "utf-8")
    return out


def test_ner_directory_is_checked_as_the_shared_model_is(tmp_path: Path) -> None:
    """One check for both model directories (nlp.model.check_model_dir): a missing directory, a
    missing or unreadable manifest and a file that does not match it are clear errors."""
    enc = _tiny_encoder_dir(tmp_path)
    ner_dir = _tiny_ner_dir(tmp_path, enc)
    with pytest.raises(ModelError, match=r"model directory not found \(set models.ner_path"):
        NerModel.load(tmp_path / "nowhere", enc)
    manifest = ner_dir / "manifest.json"
    manifest.write_text("{", "utf-8")
    with pytest.raises(ModelError, match="not readable JSON"):
        NerModel.load(ner_dir, enc)
    manifest.write_text(json.dumps({"files": {"ner.json": "0" * 64}}), "utf-8")
    with pytest.raises(ModelError, match="sha256 does not match"):
        NerModel.load(ner_dir, enc)
    manifest.write_text(json.dumps({"files": {"gone.bin": "0" * 64}}), "utf-8")
    with pytest.raises(ModelError, match="gone.bin is missing"):
        NerModel.load(ner_dir, enc)
    manifest.unlink()
    with pytest.raises(ModelError, match="manifest.json is missing"):
        NerModel.load(ner_dir, enc)


def test_tiny_model_extracts_entities_with_exact_offsets(tmp_path: Path) -> None:
    enc = _tiny_encoder_dir(tmp_path)
    ner_dir = _tiny_ner_dir(tmp_path, enc)
    model = NerModel.load(ner_dir, enc, threads=1)
    texts = ["王北京", "", "的" * 450]
    out = model.extract(texts, batch_size=2)
    assert len(out) == 3
    assert out[1] == []
    for text, ents in zip(texts, out):
        for e in ents:
            assert isinstance(e, Entity) and e.source == "ner"
            assert e.text == text[e.start : e.end] and 0 <= e.score <= 1
            assert e.type in {"PER", "LOC", "ORG", "company", "game"}
        spans = sorted((e.start, e.end) for e in ents)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # no overlaps
    # the biased head marks every character B-PER: one PER per character, also past the window size
    assert [(e.type, e.start) for e in out[0]] == [("PER", 0), ("PER", 1), ("PER", 2)]
    assert len(out[2]) == 450
    # int8 loads and runs too
    q = NerModel.load(ner_dir, enc, threads=1, int8=True)
    assert len(q.extract(["王北京"])[0]) == 3


def test_tiny_model_refuses_a_different_encoder(tmp_path: Path) -> None:
    enc = _tiny_encoder_dir(tmp_path)
    ner_dir = _tiny_ner_dir(tmp_path, enc)
    cfg = json.loads((ner_dir / "ner.json").read_text("utf-8"))
    cfg["lower_sha256"] = "0" * 64
    (ner_dir / "ner.json").write_text(json.dumps(cfg), "utf-8")
    with pytest.raises(ModelError, match="retrain"):
        NerModel.load(ner_dir, enc)
    assert NerModel.load(ner_dir, enc, check_encoder=False).extract(["王"])


def test_word_features_reach_the_head(tmp_path: Path) -> None:
    """A net built with jieba's word cues reads them: with no top layers and a head that looks only at
    the cue dimensions, jieba's person word comes out as one PER entity."""
    from safetensors.torch import save_file

    from nlp.model import load
    from nlp.words import BMES, POS_CLASSES

    enc = _tiny_encoder_dir(tmp_path)
    qnet, _, _ = load(enc)
    lower = LowerEncoder(qnet.encoder, 2)
    net = NerNet(qnet.encoder.config, 0, {"msra": ("PER", "LOC", "ORG")}, word_features=True)
    with torch.no_grad():
        net.pos.weight[POS_CLASSES.index("person"), 0] = 20.0
        net.bmes.weight[BMES.index("B"), 1] = 10.0
        net.bmes.weight[BMES.index("M"), 2] = 10.0
        net.bmes.weight[BMES.index("E"), 2] = 10.0
        head = net.heads["msra"]
        head.weight.zero_()
        head.bias.zero_()
        head.bias[0] = 15.0  # O
        head.weight[1, 0] = head.weight[1, 1] = 1.0  # B-PER: a person word's first character
        head.weight[2, 0] = head.weight[2, 2] = 1.0  # I-PER: the rest of it
    out = tmp_path / "ner"
    out.mkdir()
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(out / "ner.safetensors"))
    cfg = {
        "version": "tiny-words",
        "frozen_layers": 2,
        "top_layers": 0,
        "heads": {"msra": ["PER", "LOC", "ORG"]},
        "lower_sha256": lower_digest(lower),
        "word_features": "jieba-posseg-1",
    }
    (out / "ner.json").write_text(json.dumps(cfg), "utf-8")
    (out / "manifest.json").write_text(json.dumps({"version": "tiny"}), "utf-8")
    model = NerModel.load(out, enc, threads=1)
    assert model.net.word_features
    (ents,) = model.extract(["王小明去北京开会"])
    assert [(e.type, e.start, e.end, e.text) for e in ents] == [("PER", 0, 3, "王小明")]
    with pytest.raises(ValueError, match="word features"):
        model.net(torch.zeros(1, 3, 32), torch.ones(1, 3, dtype=torch.long))


def test_lexicon_features_reach_the_head(tmp_path: Path) -> None:
    """A net built with the lexicon cue reads it: a head that looks only at the "place" bits finds
    上海 — as a whole word of the dictionary — and nothing else."""
    from safetensors.torch import save_file

    from nlp.model import load
    from nlp.words import LEXICON_CLASSES

    enc = _tiny_encoder_dir(tmp_path)
    qnet, _, _ = load(enc)
    lower = LowerEncoder(qnet.encoder, 2)
    with pytest.raises(ValueError, match="on top of word_features"):
        NerNet(qnet.encoder.config, 0, {"msra": ("PER", "LOC", "ORG")}, lexicon_features=True)
    net = NerNet(qnet.encoder.config, 0, {"msra": ("PER", "LOC", "ORG")}, word_features=True, lexicon_features=True)
    place = 3 * LEXICON_CLASSES.index("place")
    with torch.no_grad():
        net.lexicon.weight[0, place] = 10.0  # dimension 0: a place word begins here
        net.lexicon.weight[1, place + 1] = 10.0  # dimension 1: inside or at the end of one
        net.lexicon.weight[1, place + 2] = 10.0
        head = net.heads["msra"]
        head.weight.zero_()
        head.bias.zero_()
        head.bias[0] = 5.0  # O
        head.weight[3, 0] = 1.0  # B-LOC
        head.weight[4, 1] = 1.0  # I-LOC
    out = tmp_path / "ner"
    out.mkdir()
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(out / "ner.safetensors"))
    cfg = {
        "version": "tiny-lexicon",
        "frozen_layers": 2,
        "top_layers": 0,
        "heads": {"msra": ["PER", "LOC", "ORG"]},
        "lower_sha256": lower_digest(lower),
        "word_features": "jieba-posseg-1",
        "lexicon_features": "jieba-dag-1",
    }
    (out / "ner.json").write_text(json.dumps(cfg), "utf-8")
    (out / "manifest.json").write_text(json.dumps({"version": "tiny"}), "utf-8")
    model = NerModel.load(out, enc, threads=1)
    assert model.net.lexicon_features
    (out / "ner.json").write_text(json.dumps({**cfg, "lexicon_features": "jieba-dag-2"}), "utf-8")
    with pytest.raises(ModelError, match="jieba-dag-2"):
        NerModel.load(out, enc, threads=1)
    (out / "ner.json").write_text(json.dumps(cfg), "utf-8")
    (ents,) = model.extract(["我明天去上海开会"])
    assert [(e.type, e.text) for e in ents] == [("LOC", "上海")]
    with pytest.raises(ValueError, match="lexicon bitmask"):
        model.net(
            torch.zeros(1, 3, 32), torch.ones(1, 3, dtype=torch.long), words=torch.zeros(1, 3, 2, dtype=torch.long)
        )


def test_int8_row_packing_halves_storage_and_round_trips(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    from nlp.model import INT8_SCALE, load_weights, pack_int8, unpack_weights

    torch.manual_seed(3)
    lin = torch.nn.Linear(96, 64)
    ln = torch.nn.LayerNorm(64)
    net = torch.nn.Sequential(lin, ln)
    packed = pack_int8(net.state_dict())
    assert packed["0.weight"].dtype == torch.int8 and packed["0.weight" + INT8_SCALE].shape == (64, 1)
    assert packed["0.bias"].dtype == torch.float16 and packed["1.weight"].dtype == torch.float16  # small: fp16
    back = unpack_weights(packed)
    step = lin.weight.abs().amax(dim=1, keepdim=True) / 127
    assert ((back["0.weight"] - lin.weight).abs() <= step / 2 + 1e-3 * step).all()
    save_file(packed, str(tmp_path / "w.safetensors"))
    fresh = torch.nn.Sequential(torch.nn.Linear(96, 64), torch.nn.LayerNorm(64))
    load_weights(fresh, tmp_path / "w.safetensors")
    x = torch.randn(5, 96)
    assert torch.allclose(fresh(x), net(x), atol=0.05)
    assert set(load_file(str(tmp_path / "w.safetensors"))) == set(packed)


def _tiny_sentences() -> list[Sentence]:
    return [
        Sentence(tuple("王北京的"), ("B-PER", "B-LOC", "I-LOC", "O")),
        Sentence(("的", "c1", "王"), ("O", "O", "B-ORG")),  # a multi-character unit, as in Weibo
        Sentence(tuple("北京"), ("B-LOC", "I-LOC")),
    ]


def test_portable_export_round_trips(tmp_path: Path) -> None:
    """What `train_ner export` writes, `read_portable` gives back: the same sentences, the same jieba
    cues, and the same lower states as the cache path computes."""
    import numpy as np

    from nlp.model import load
    from nlp.training.train_ner import encode_sentences, read_portable, write_portable
    from nlp.words import unit_word_features

    enc = _tiny_encoder_dir(tmp_path)
    tok = CharTokenizer.from_dir(enc)
    lower = LowerEncoder(load(enc)[0].encoder, 0).eval()
    sents = _tiny_sentences()
    write_portable(tmp_path / "msra-dev.npz", sents, tok, "sha")
    data = read_portable(tmp_path, "msra", "dev", bio_labels(("PER", "LOC", "ORG")), lower, tok)
    assert data.sents == sents
    assert data.words == [unit_word_features(s.units, lexicon=True) for s in sents]
    assert torch.equal(data.hidden, encode_sentences(lower, tok, sents))
    assert data.labels[0] == [1, 3, 4, 0]  # B-PER B-LOC I-LOC O
    # a file of another format is refused with a clear message
    z = dict(np.load(tmp_path / "msra-dev.npz"))
    z["meta"] = np.frombuffer(json.dumps({"format": "other"}).encode(), dtype=np.uint8)
    np.savez_compressed(tmp_path / "msra-test.npz", **z)
    with pytest.raises(SystemExit, match="not a qunzhi-ner-portable-1 file"):
        read_portable(tmp_path, "msra", "test", bio_labels(("PER", "LOC", "ORG")), lower, tok)
    with pytest.raises(SystemExit, match="missing"):
        read_portable(tmp_path, "msra", "train", bio_labels(("PER", "LOC", "ORG")), lower, tok)


def test_portable_training_writes_a_model_ner_model_loads(tmp_path: Path) -> None:
    """`train --portable` end to end on a tiny encoder: the top layers past the encoder's depth come
    from --layers-from, a time-boxed run stops cleanly, and NerModel loads what it wrote."""
    from safetensors.torch import load_file, save_file
    from transformers import BertConfig, BertModel

    from nlp.model import load, pack_int8
    from nlp.training.train_ner import main, write_portable

    enc = _tiny_encoder_dir(tmp_path)
    tok = CharTokenizer.from_dir(enc)
    export = tmp_path / "export"
    export.mkdir()
    for part in ("train", "dev"):
        write_portable(export / f"msra-{part}.npz", _tiny_sentences() * 3, tok, "sha")
    # a "deeper encoder" of three layers; its third layer (index 2) initialises the third top layer
    torch.manual_seed(5)
    deep = BertModel(
        BertConfig(
            vocab_size=len(PIECES),
            hidden_size=32,
            num_hidden_layers=3,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=260,
        ),
        add_pooling_layer=False,
    )
    save_file(
        pack_int8({k: v for k, v in deep.state_dict().items() if k.startswith("encoder.layer.")}),
        str(tmp_path / "deep.safetensors"),
    )
    out = tmp_path / "model"
    main(
        [
            "train",
            "--encoder",
            str(enc),
            "--frozen",
            "0",
            "--top",
            "3",
            "--datasets",
            "msra",
            "--portable",
            str(export),
            "--epochs",
            "2",
            "--lr",
            "0",
            "--head-lr",
            "1e-2",
            "--word-features",
            "--lexicon-features",
            "--layers-from",
            str(tmp_path / "deep.safetensors"),
            "--layers-from-index",
            "2",
            "--out",
            str(out),
            "--threads",
            "1",
            "--max-minutes",
            "10",
        ]
    )
    weights = load_file(str(out / "ner.safetensors"))
    shared = load(enc)[0].encoder.encoder.layer
    # --lr 0 keeps the layers as initialised: 0-1 from the shared encoder, 2 from the deeper file
    q = "layers.{}.attention.self.query.weight"
    assert torch.allclose(weights[q.format(0)].float(), shared[0].attention.self.query.weight, atol=1e-3)
    assert torch.allclose(weights[q.format(1)].float(), shared[1].attention.self.query.weight, atol=1e-3)
    src = deep.encoder.layer[2].attention.self.query.weight
    assert torch.allclose(weights[q.format(2)].float(), src, atol=src.abs().max().item() / 100)
    cfg = json.loads((out / "ner.json").read_text("utf-8"))
    assert cfg["top_layers"] == 3 and cfg["lexicon_features"]
    history = [json.loads(line) for line in (tmp_path / "model-train.log").read_text("utf-8").splitlines()]
    assert [h["epoch"] for h in history if "dev_micro_f1" in h] == [1, 2]
    model = NerModel.load(out, enc, threads=1)
    assert len(model.extract(["王北京"])) == 1


def test_average_is_the_mean_of_the_weights_and_refuses_other_networks(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    from nlp.model import unpack_weights
    from nlp.training.train_ner import main

    enc = _tiny_encoder_dir(tmp_path)
    one = _tiny_ner_dir(tmp_path, enc)
    (one / "manifest.json").write_text(json.dumps({"version": "tiny"}), "utf-8")
    two = tmp_path / "two"
    two.mkdir()
    state = load_file(str(one / "ner.safetensors"))
    save_file({k: v + 1.0 for k, v in state.items()}, str(two / "ner.safetensors"))
    for name in ("ner.json", "manifest.json"):
        (two / name).write_text((one / name).read_text("utf-8"), "utf-8")
    main(["average", "--models", str(one), str(two), "--out", str(tmp_path / "avg")])
    avg = unpack_weights(load_file(str(tmp_path / "avg" / "ner.safetensors")))
    for k, v in state.items():
        step = v.abs().max().item() / 127 + 1.0 / 127  # int8 storage: within a step of the row maximum
        assert torch.allclose(avg[k], v + 0.5, atol=step), k
    manifest = json.loads((tmp_path / "avg" / "manifest.json").read_text("utf-8"))
    assert [m["model"] for m in manifest["averaged_from"]] == [str(one), str(two)]
    assert NerModel.load(tmp_path / "avg", enc, threads=1).extract(["王北京"])
    cfg = json.loads((two / "ner.json").read_text("utf-8"))
    cfg["top_layers"] = 2
    (two / "ner.json").write_text(json.dumps(cfg), "utf-8")
    with pytest.raises(SystemExit, match="another network"):
        main(["average", "--models", str(one), str(two), "--out", str(tmp_path / "bad")])


def test_greedy_soup_keeps_only_what_does_not_lower_dev(tmp_path: Path) -> None:
    """`soup` scores each candidate on the dev splits, starts from the best, and adds a candidate
    only when the average's dev score does not drop; the result is the mean of what it kept."""
    from safetensors.torch import load_file, save_file

    from nlp.model import unpack_weights
    from nlp.training.train_ner import main, write_portable

    enc = _tiny_encoder_dir(tmp_path)
    good = _tiny_ner_dir(tmp_path, enc)  # tags every character B-PER: finds the PER of the dev split
    (good / "manifest.json").write_text(json.dumps({"version": "tiny"}), "utf-8")
    state = load_file(str(good / "ner.safetensors"))

    def candidate(name: str, msra_bias: list[float]) -> Path:
        d = tmp_path / name
        d.mkdir()
        save_file({**state, "heads.msra.bias": torch.tensor(msra_bias)}, str(d / "ner.safetensors"))
        for f in ("ner.json", "manifest.json"):
            (d / f).write_text((good / f).read_text("utf-8"), "utf-8")
        return d

    blind = candidate("blind", [30.0, 0, 0, 0, 0, 0, 0])  # tags everything O: finds nothing
    twin = candidate("twin", [0.0, 8.0, 0, 0, 0, 0, 0])  # the same as good
    tok = CharTokenizer.from_dir(enc)
    export = tmp_path / "export"
    export.mkdir()
    write_portable(export / "msra-dev.npz", [Sentence(tuple("王的"), ("B-PER", "O"))], tok, "sha")
    write_portable(
        export / "cluener-dev.npz", [Sentence(tuple("王北京"), ("B-company", "B-game", "I-game"))], tok, "sha"
    )
    out = tmp_path / "soup"
    main(
        [
            "soup",
            "--encoder",
            str(enc),
            "--models",
            str(blind),
            str(good),
            str(twin),
            "--portable",
            str(export),
            "--out",
            str(out),
            "--threads",
            "1",
        ]
    )
    soup = json.loads((out / "manifest.json").read_text("utf-8"))["soup"]
    scores = {c["model"]: c["dev_select"] for c in soup["candidates"]}
    assert scores[str(good)] == scores[str(twin)] > scores[str(blind)]
    assert soup["candidates"][-1]["model"] == str(blind)  # tried last
    best = scores[soup["ingredients"][0]]
    for t in soup["tries"]:  # each try is kept exactly when it does not lower the running best
        assert t["kept"] == (t["dev_select"] >= best)
        best = max(best, t["dev_select"]) if t["kept"] else best
    assert str(blind) not in soup["ingredients"] and len(soup["ingredients"]) == 2
    bias = unpack_weights(load_file(str(out / "ner.safetensors")))["heads.msra.bias"]
    assert torch.allclose(bias, torch.tensor([0.0, 8.0, 0, 0, 0, 0, 0]), atol=0.01)
    assert NerModel.load(out, enc, threads=1).extract(["王北京"])
    cfg = json.loads((twin / "ner.json").read_text("utf-8"))
    cfg["top_layers"] = 2
    (twin / "ner.json").write_text(json.dumps(cfg), "utf-8")
    with pytest.raises(SystemExit, match="another network"):
        main(
            [
                "soup",
                "--encoder",
                str(enc),
                "--models",
                str(good),
                str(twin),
                "--portable",
                str(export),
                "--out",
                str(tmp_path / "bad"),
            ]
        )
