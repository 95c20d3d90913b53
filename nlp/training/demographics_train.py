"""Train and measure the demographic hints on the NUS SMS corpus, honestly. Not imported at runtime.

What can be inferred from a person's text messages about their gender and age band?

- **Split by user.** 20% of the users (by a stable hash of their id) are held out for the final
  numbers and never used for anything else; the other 80% choose the settings by 5-fold
  cross-validation, again by user, then train the shipped weights.
- **Per user.** A member is judged on all their messages together, as a profile would; also on only
  their first 5 and 20 messages, since a group member often has few.
- **Against two baselines**, per-user: always the majority label (accuracy) and guessing by the
  label prior (macro-F1 = 1 / number of labels), with calibration by confidence bin. The temperature
  and the threshold are chosen on the cross-validation folds only.
- **Shipped only if it helps.** A task ships when, on the held-out users, accuracy beats the majority
  label, macro-F1 beats guessing by ``MIN_F1_GAIN``, and the hints it would show are right at least
  ``MIN_SHOWN_ACCURACY`` of the time with a Wilson lower bound above the majority rate. Otherwise its
  threshold is "never" and a profile shows "—".

``python -m nlp.training.demographics_train [--data DIR] [--out models/demographics]`` writes ``weights.npz``,
``manifest.json`` (every number) and prints the report. Numpy only (a few minutes on two cores).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlp.demographics import DIM, ngram_counts, softmax_confidence
from nlp.training.datasets import nus_sms_records

SEED = 20261127
FOLDS = 5
TEST_FRACTION = 0.2
CHUNK_SIZES = (5, 10, 20, 40)
EVAL_PREFIXES = (5, 20, None)  # a user's first 5 and 20 messages, then all of them
THRESHOLDS = tuple(round(0.5 + 0.025 * i, 3) for i in range(19))  # 0.5 .. 0.95
L2 = (1e-5, 1e-3)
MIN_F1_GAIN = 0.05
MIN_SHOWN_ACCURACY = 0.75
MIN_COVERAGE = 0.10  # of held-out users, or the threshold is not worth having
MIN_NGRAMS = 300  # about 100 characters of a member's own text


def age_band(raw: str) -> str | None:
    """Self-reported age ranges folded into three bands with enough users each."""
    if raw in ("10-15", "16-20"):
        return "≤20"
    if raw == "21-25":
        return "21-25"
    if raw in ("26-30", "31-35", "36-40", "41-45", "46-50", "51-60"):
        return "26+"
    return None  # unknown, No response


def gender(raw: str) -> str | None:
    return raw if raw in ("male", "female") else None


TASKS = {"gender": gender, "age": age_band}


@dataclass
class User:
    id: str
    messages: list[Counter[int]]
    labels: dict[str, str | None]


def load_users(data: str | None = None) -> list[User]:
    texts: dict[str, list[str]] = defaultdict(list)
    raw: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for rec in nus_sms_records(data):
        text = (rec.get("text") or "").strip()
        if not text:
            continue
        uid = rec["user_id"]
        texts[uid].append(text)
        raw[uid]["gender"][rec.get("gender", "unknown")] += 1
        raw[uid]["age"][rec.get("age", "unknown")] += 1
    users = []
    for uid in sorted(texts):
        labels = {task: fn(raw[uid][task].most_common(1)[0][0]) for task, fn in TASKS.items()}
        users.append(User(uid, [ngram_counts(t) for t in texts[uid]], labels))
    return users


def _bucket(uid: str) -> float:
    return int(hashlib.sha256(f"{SEED}:{uid}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def split_users(users: list[User]) -> tuple[list[User], list[User]]:
    test = [u for u in users if _bucket(u.id) < TEST_FRACTION]
    return [u for u in users if _bucket(u.id) >= TEST_FRACTION], test


def _merge(messages: list[Counter[int]]) -> Counter[int]:
    total: Counter[int] = Counter()
    for m in messages:
        total.update(m)
    return total


def _examples(
    users: list[User], task: str, labels: tuple[str, ...], rng: np.random.Generator
) -> tuple[list[Counter[int]], list[int]]:
    """Each training user whole, plus chunks of their messages of several sizes (few-message members)."""
    xs, ys = [], []
    for u in users:
        y = u.labels[task]
        if y is None:
            continue
        xs.append(_merge(u.messages))
        ys.append(labels.index(y))
        for size in CHUNK_SIZES:
            order = rng.permutation(len(u.messages))
            for start in range(0, len(order) - size + 1, size):
                chunk = _merge([u.messages[i] for i in order[start : start + size]])
                if chunk:
                    xs.append(chunk)
                    ys.append(labels.index(y))
    return xs, ys


def _bags(xs: list[Counter[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised n-gram frequencies, flattened: n-gram ids, their example (row), their weight."""
    cols: list[int] = []
    rows: list[int] = []
    vals: list[float] = []
    for r, c in enumerate(xs):
        n = sum(c.values()) or 1
        cols.extend(c.keys())
        rows.extend([r] * len(c))
        vals.extend(v / n for v in c.values())
    return np.array(cols, dtype=np.int64), np.array(rows, dtype=np.int64), np.array(vals, dtype=np.float64)


def fit(
    xs: list[Counter[int]], ys: list[int], n_labels: int, l2: float, steps: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """Class-balanced softmax regression on normalised n-gram frequencies: full batch, Adam, numpy."""
    cols, rows, vals = _bags(xs)
    y = np.array(ys)
    n = len(y)
    counts = np.bincount(y, minlength=n_labels).astype(np.float64)
    sample_w = (counts.sum() / (n_labels * np.maximum(counts, 1)))[y]
    sample_w /= sample_w.sum()
    w = np.zeros((DIM, n_labels))
    b = np.zeros(n_labels)
    m_w, v_w, m_b, v_b = np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b)
    lr, beta1, beta2, eps = 0.5, 0.9, 0.999, 1e-8
    onehot = np.eye(n_labels)[y]
    for step in range(1, steps + 1):
        logits = (
            np.stack([np.bincount(rows, weights=vals * w[cols, k], minlength=n) for k in range(n_labels)], axis=1) + b
        )
        g = (softmax_confidence(logits) - onehot) * sample_w[:, None]  # d loss / d logits
        grad_w: np.ndarray = np.stack(
            [np.bincount(cols, weights=vals * g[rows, k], minlength=DIM) for k in range(n_labels)], axis=1
        )
        grad_w += 2 * l2 * w
        grad_b = g.sum(axis=0)
        for p, grad, m, v in ((w, grad_w, m_w, v_w), (b, grad_b, m_b, v_b)):
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad * grad
            p -= lr * (m / (1 - beta1**step)) / (np.sqrt(v / (1 - beta2**step)) + eps)
    return w.astype(np.float32), b


def logits_for(
    users: list[User], task: str, labels: tuple[str, ...], w: np.ndarray, b: np.ndarray, prefix: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per labelled user: logits on their first ``prefix`` messages (all when None), true label, n-grams."""
    out, ys, ns = [], [], []
    for u in users:
        y = u.labels[task]
        if y is None:
            continue
        c = _merge(u.messages[:prefix] if prefix else u.messages)
        n = sum(c.values())
        if n == 0:
            continue
        idx = np.fromiter(c.keys(), dtype=np.int64)
        val = np.fromiter(c.values(), dtype=np.float32)
        out.append((val @ w[idx]) / n + b)
        ys.append(labels.index(y))
        ns.append(n)
    return np.array(out), np.array(ys), np.array(ns)


# --- metrics --------------------------------------------------------------------------------------


def macro_f1(y: np.ndarray, pred: np.ndarray, n_labels: int) -> float:
    f1s = []
    for c in range(n_labels):
        tp = int(((pred == c) & (y == c)).sum())
        fp = int(((pred == c) & (y != c)).sum())
        fn = int(((pred != c) & (y == c)).sum())
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1s))


def wilson_low(k: int, n: int, z: float = 1.96) -> float:
    if n == 0:
        return 0.0
    p = k / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    best, best_nll = 1.0, math.inf
    for t in np.exp(np.linspace(math.log(0.05), math.log(20), 200)):
        p = softmax_confidence(logits / t)
        nll = -float(np.log(p[np.arange(len(y)), y] + 1e-12).mean())
        if nll < best_nll:
            best, best_nll = float(t), nll
    return best


def calibration(
    conf: np.ndarray, right: np.ndarray, bins: tuple[float, ...] = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01)
) -> list[dict]:
    rows = []
    for lo, hi in zip(bins, bins[1:]):
        m = (conf >= lo) & (conf < hi)
        if m.any():
            rows.append(
                {
                    "bin": f"{lo:.1f}-{min(hi, 1.0):.1f}",
                    "users": int(m.sum()),
                    "mean_conf": round(float(conf[m].mean()), 3),
                    "accuracy": round(float(right[m].mean()), 3),
                }
            )
    return rows


def summarise(logits: np.ndarray, y: np.ndarray, n_labels: int, temperature: float, majority: int) -> dict:
    p = softmax_confidence(logits / temperature)
    pred = p.argmax(1)
    conf = p.max(1)
    base = np.full_like(y, majority)
    return {
        "users": int(len(y)),
        "accuracy": round(float((pred == y).mean()), 3),
        "macro_f1": round(macro_f1(y, pred, n_labels), 3),
        "baseline_accuracy": round(float((base == y).mean()), 3),
        "baseline_macro_f1": round(macro_f1(y, base, n_labels), 3),
        "prior_guess_macro_f1": round(1 / n_labels, 3),
        "calibration": calibration(conf, pred == y),
        "_conf": conf,
        "_right": pred == y,
    }


def shown_at(conf: np.ndarray, right: np.ndarray, ns: np.ndarray, threshold: float) -> dict:
    m = (conf >= threshold) & (ns >= MIN_NGRAMS)
    k, n = int(right[m].sum()), int(m.sum())
    return {
        "threshold": threshold,
        "shown": n,
        "coverage": round(n / max(len(conf), 1), 3),
        "accuracy": round(k / n, 3) if n else None,
        "wilson_low": round(wilson_low(k, n), 3),
    }


def choose_threshold(conf: np.ndarray, right: np.ndarray, ns: np.ndarray, majority_rate: float) -> float:
    """The lowest threshold whose shown hints are accurate enough (on the cross-validation folds)."""
    for t in THRESHOLDS:
        s = shown_at(conf, right, ns, t)
        if (
            s["shown"]
            and s["coverage"] >= MIN_COVERAGE
            and s["accuracy"] >= MIN_SHOWN_ACCURACY
            and s["wilson_low"] > majority_rate
        ):
            return t
    return math.inf


# --- the experiment -------------------------------------------------------------------------------


def run_task(
    task: str, dev: list[User], test: list[User], log: Callable[[str], object] = print
) -> tuple[dict, np.ndarray, np.ndarray]:
    labels = tuple(sorted({label for u in dev + test if (label := u.labels[task])}))
    counts = Counter(u.labels[task] for u in dev if u.labels[task])
    majority = labels.index(counts.most_common(1)[0][0])
    folds = [[u for u in dev if int(_bucket(u.id) * 1e6) % FOLDS == f] for f in range(FOLDS)]
    rng = np.random.default_rng(SEED)
    # 1. choose L2 by cross-validated macro-F1 on all messages
    cv: dict[
        float, tuple[float, dict[Any, tuple[np.ndarray, ...]]]
    ] = {}  # l2: (CV macro-F1, per prefix: logits, y, n-grams)
    for l2 in L2:
        per_prefix: dict = defaultdict(lambda: ([], [], []))
        for f in range(FOLDS):
            train = [u for g, fold in enumerate(folds) if g != f for u in fold]
            w, b = fit(*_examples(train, task, labels, rng), len(labels), l2)
            for prefix in EVAL_PREFIXES:
                lg, y, n = logits_for(folds[f], task, labels, w, b, prefix)
                for acc, part in zip(per_prefix[prefix], (lg, y, n)):
                    acc.append(part)
        merged = {p: tuple(np.concatenate(parts) for parts in v) for p, v in per_prefix.items()}
        lg, y, _ = merged[None]
        score = macro_f1(y, lg.argmax(1), len(labels))
        log(f"  {task} l2={l2:g}: CV macro-F1 {score:.3f} (all messages)")
        cv[l2] = (score, merged)
    l2 = max(cv, key=lambda k: cv[k][0])
    merged = cv[l2][1]
    # 2. temperature and threshold on the CV folds (every prefix pooled: members have few messages too)
    lg = np.concatenate([merged[p][0] for p in EVAL_PREFIXES])
    y = np.concatenate([merged[p][1] for p in EVAL_PREFIXES])
    ns = np.concatenate([merged[p][2] for p in EVAL_PREFIXES])
    temperature = fit_temperature(lg, y)
    p = softmax_confidence(lg / temperature)
    majority_rate = float((y == majority).mean())
    threshold = choose_threshold(p.max(1), p.argmax(1) == y, ns, majority_rate)
    # 3. train on every dev user, measure once on the held-out users
    w, b = fit(*_examples(dev, task, labels, rng), len(labels), l2)
    report: dict = {
        "labels": list(labels),
        "l2": l2,
        "temperature": round(temperature, 4),
        "threshold": threshold if math.isfinite(threshold) else None,
        "min_ngrams": MIN_NGRAMS,
        "train_users": sum(1 for u in dev if u.labels[task]),
        "cv_macro_f1": round(cv[l2][0], 3),
        "test": {},
    }
    shipped = math.isfinite(threshold)
    for prefix in EVAL_PREFIXES:
        tl, ty, tn = logits_for(test, task, labels, w, b, prefix)
        s = summarise(tl, ty, len(labels), temperature, majority)
        conf, right = s.pop("_conf"), s.pop("_right")
        s["median_ngrams"] = int(np.median(tn))
        if math.isfinite(threshold):
            s["at_threshold"] = shown_at(conf, right, tn, threshold)
        report["test"]["all" if prefix is None else f"first_{prefix}"] = s
    full = report["test"]["all"]
    gain = full["macro_f1"] - full["prior_guess_macro_f1"]
    at = full.get("at_threshold") or {}
    shipped = (
        shipped
        and gain >= MIN_F1_GAIN
        and full["accuracy"] > full["baseline_accuracy"]
        and bool(at.get("shown"))
        and (at.get("accuracy") or 0) >= MIN_SHOWN_ACCURACY
        and at.get("wilson_low", 0) > full["baseline_accuracy"]
    )
    report["shipped"] = shipped
    report["why"] = (
        f"held-out accuracy {full['accuracy']} vs majority {full['baseline_accuracy']}, macro-F1 {full['macro_f1']} "
        f"vs guessing {full['prior_guess_macro_f1']} (gain {gain:+.3f}); "
        + (
            f"at confidence ≥ {threshold}: {at.get('shown')} of {full['users']} users shown, accuracy {at.get('accuracy')}, "
            f"Wilson low {at.get('wilson_low')} vs majority rate {full['baseline_accuracy']}"
            if at
            else "no threshold met the bar on the CV folds"
        )
    )
    return report, w, b


def train(data: str | None, out: Path, log: Callable[[str], object] = print) -> dict:
    users = load_users(data)
    dev, test = split_users(users)
    log(
        f"nus_sms_zh: {len(users)} users, {sum(len(u.messages) for u in users)} messages; {len(dev)} for choosing and training, {len(test)} held out"
    )
    manifest: dict = {
        "data": "nus_sms_zh (NUS SMS Corpus, Chinese part, 2010-2011)",
        "split": f"by user, sha256 seed {SEED}, {TEST_FRACTION:.0%} held out",
        "features": f"hashed character 1-3-grams ({DIM} buckets), normalised frequencies",
        "tasks": {},
    }
    arrays = {}
    for task in TASKS:
        report, w, b = run_task(task, dev, test, log)
        manifest["tasks"][task] = report
        if report["shipped"]:
            arrays[f"{task}_w"] = w.astype(np.float16)
            arrays[f"{task}_b"] = b
        log(f"{task}: {'SHIPPED' if report['shipped'] else 'not shipped'} — {report['why']}")
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "weights.npz", **arrays)  # type: ignore[arg-type]  # mypy matches **arrays against allow_pickle
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), "utf-8")
    return manifest


def format_report(manifest: dict) -> str:
    lines = []
    for task, r in manifest["tasks"].items():
        lines.append(f"== {task} ({', '.join(r['labels'])}); shipped: {r['shipped']}")
        lines.append(f"   {r['why']}")
        for name, s in r["test"].items():
            at = s.get("at_threshold")
            extra = f"; shown ≥{at['threshold']}: {at['shown']}/{s['users']} acc {at['accuracy']}" if at else ""
            lines.append(
                f"   {name:9} users {s['users']:3} (median {s['median_ngrams']} n-grams): acc {s['accuracy']} macro-F1 {s['macro_f1']} "
                f"| majority acc {s['baseline_accuracy']} macro-F1 {s['baseline_macro_f1']}; guessing macro-F1 {s['prior_guess_macro_f1']}{extra}"
            )
            lines.append(
                "      calibration: "
                + "; ".join(
                    f"{c['bin']} n={c['users']} conf {c['mean_conf']} acc {c['accuracy']}" for c in s["calibration"]
                )
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nlp.training.demographics_train", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="shared data folder (default $QUNZHI_DATA or ../shared/data)")
    p.add_argument("--out", default="models/demographics", help="where weights.npz and manifest.json go")
    args = p.parse_args(argv)
    manifest = train(args.data, Path(args.out), log=lambda s: print(s, file=sys.stderr))
    print(format_report(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
