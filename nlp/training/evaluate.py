"""Metrics and the held-out ad evaluation.

``binary_metrics`` is plain counting; ``evaluate_ad(analyzer)`` runs any ad analyzer (anything with
``name``, ``version`` and ``analyse(items) -> list[Verdict]``) on the ``test`` part of
``qq_group_ads`` and ``sms_spam_80w`` and on the ``test`` part of ``nus_sms_zh`` (real personal SMS,
all normal, where every "ad" is a false alarm). ``format_report`` prints it as a table.

``evaluate_models(model_dir)`` (``qunzhi eval``) scores a trained model beside the rules on every
task, and on text from outside the first round's sources (``unseen_sets``/``evaluate_unseen``): the
false-ad rate on the test part of every long-text folder, on held-out ordinary texts by length
bucket, and ad P/R/F1 on the test parts of the game-chat and telecom-fraud sets.

    python -m nlp.training.evaluate --rules                 # the rule baseline on the test split
    python -m nlp.training.evaluate --rules --split train   # what the lexicon was tuned on
    python -m nlp.training.evaluate --rules --split train --errors 20   # and the mistakes
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import sys
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from nlp.item import Item
from nlp.training import datasets
from nlp.verdict import PRECISIONS, USEFUL_THRESHOLD, Verdict

__all__ = [
    "Analyzer",
    "BinaryMetrics",
    "binary_metrics",
    "chunk_text",
    "evaluate_ad",
    "evaluate_models",
    "evaluate_unseen",
    "format_model_report",
    "format_report",
    "main",
    "unseen_sets",
]


class Analyzer(Protocol):
    name: str
    version: str

    def analyse(self, items: Sequence[Item]) -> list[Verdict]: ...


@dataclass(frozen=True, slots=True)
class BinaryMetrics:
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float  # tp / (tp + fp); 0 when nothing was predicted positive
    recall: float  # tp / (tp + fn); 0 when there are no positives
    f1: float
    accuracy: float
    fpr: float  # false-positive rate: fp / (fp + tn)

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def confusion(self) -> dict[str, int]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn}

    def as_dict(self) -> dict[str, float | int]:
        return {**asdict(self), "n": self.n}


def _div(a: float, b: float) -> float:
    return a / b if b else 0.0


def binary_metrics(y_true: Iterable[Hashable], y_pred: Iterable[Hashable], positive: Hashable) -> BinaryMetrics:
    """Precision, recall, F1, accuracy, false-positive rate and confusion counts for one class."""
    tp = fp = fn = tn = 0
    true, pred = list(y_true), list(y_pred)
    if len(true) != len(pred):
        raise ValueError(f"y_true has {len(true)} labels, y_pred {len(pred)}")
    for t, p in zip(true, pred):
        if p == positive:
            if t == positive:
                tp += 1
            else:
                fp += 1
        elif t == positive:
            fn += 1
        else:
            tn += 1
    precision, recall = _div(tp, tp + fp), _div(tp, tp + fn)
    return BinaryMetrics(
        tp=tp,
        fp=fp,
        fn=fn,
        tn=tn,
        precision=precision,
        recall=recall,
        f1=_div(2 * precision * recall, precision + recall),
        accuracy=_div(tp + tn, tp + fp + fn + tn),
        fpr=_div(fp, fp + tn),
    )


def _predict(analyzer: Analyzer, texts: Sequence[str], batch_size: int) -> list[Verdict]:
    out: list[Verdict] = []
    for i in range(0, len(texts), batch_size):
        out.extend(analyzer.analyse([Item(t) for t in texts[i : i + batch_size]]))
    return out


def evaluate_ad(
    analyzer: Analyzer,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    part: datasets.Split = "test",
    batch_size: int = 256,
    errors: int = 0,
) -> dict[str, Any]:
    """Ad metrics on one part of the split (``test`` by default) of every ad data set that is present.

    Returns ``{"analyzer", "model", "part", "datasets": {name: {...}}, "missing": [...]}``; each labelled
    set has ``metrics`` (a :class:`BinaryMetrics`) and ``seconds``, ``nus_sms_zh`` has ``n``,
    ``false_ad`` and ``false_ad_rate``. With ``errors > 0`` each set also lists up to that many
    false positives and false negatives as ``(text, verdict)``.
    """
    result: dict[str, Any] = {
        "analyzer": analyzer.name,
        "model": analyzer.version,
        "part": part,
        "datasets": {},
        "missing": [],
    }
    for name in (*datasets.AD_DATASETS, "nus_sms_zh"):
        try:
            rows = list(datasets.split(datasets.load(name, data_dir), part))
        except datasets.DatasetMissing as e:
            result["missing"].append(f"{name}: {e}")
            continue
        texts = [r.text for r in rows]
        started = time.perf_counter()
        verdicts = _predict(analyzer, texts, batch_size)
        seconds = time.perf_counter() - started
        pred = [v.label for v in verdicts]
        entry: dict[str, Any] = {"n": len(rows), "seconds": seconds}
        if name == "nus_sms_zh":
            false_ad = sum(1 for p in pred if p == "ad")
            entry.update(false_ad=false_ad, false_ad_rate=_div(false_ad, len(rows)))
        else:
            entry["metrics"] = binary_metrics((r.label for r in rows), pred, "ad")
        if errors:
            fp = [(t, v) for t, r, v in zip(texts, rows, verdicts) if v.label == "ad" and r.label != "ad"]
            fn = [(t, v) for t, r, v in zip(texts, rows, verdicts) if v.label != "ad" and r.label == "ad"]
            entry["false_positives"], entry["false_negatives"] = fp[:errors], fn[:errors]
        result["datasets"][name] = entry
    return result


def format_report(result: dict[str, Any]) -> str:
    """A plain-text table of an :func:`evaluate_ad` result."""
    lines = [
        f"ad analyzer {result['analyzer']} ({result['model']}), split part: {result['part']}",
        "",
        f"{'dataset':<14} {'n':>6} {'ads':>5} {'prec':>6} {'recall':>6} {'F1':>6} {'acc':>6} {'FPR':>6}"
        f" {'tp':>5} {'fp':>5} {'fn':>5} {'tn':>6} {'ms/msg':>7}",
    ]
    for name, e in result["datasets"].items():
        ms = 1000 * e["seconds"] / max(e["n"], 1)
        if "metrics" in e:
            m: BinaryMetrics = e["metrics"]
            lines.append(
                f"{name:<14} {e['n']:>6} {m.tp + m.fn:>5} {m.precision:>6.3f} {m.recall:>6.3f} {m.f1:>6.3f}"
                f" {m.accuracy:>6.3f} {m.fpr:>6.3f} {m.tp:>5} {m.fp:>5} {m.fn:>5} {m.tn:>6} {ms:>7.3f}"
            )
        else:
            rate = e["false_ad_rate"]
            lines.append(
                f"{name:<14} {e['n']:>6} {0:>5} {'-':>6} {'-':>6} {'-':>6} {1 - rate:>6.3f} {rate:>6.3f}"
                f" {0:>5} {e['false_ad']:>5} {0:>5} {e['n'] - e['false_ad']:>6} {ms:>7.3f}"
            )
    if result["missing"]:
        lines += ["", *(f"missing: {m}" for m in result["missing"])]
    for name, e in result["datasets"].items():
        for key in ("false_positives", "false_negatives"):
            if e.get(key):
                lines += ["", f"{name} {key.replace('_', ' ')}:"]
                lines += [f"  [{v.score:.2f}] {t[:90]!r}  {'; '.join(v.reasons[:5])}" for t, v in e[key]]
    return "\n".join(lines)


# -- models beside the rules, every task --------------------------------------------------------

TASKS = ("ad", "useful", "intent")


def _multiclass(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    confusion = {t: {p: 0 for p in labels} for t in labels}
    for t, p in zip(y_true, y_pred):
        if t in confusion and p in confusion[t]:
            confusion[t][p] += 1
    per_label = {lbl: binary_metrics(y_true, y_pred, lbl).as_dict() for lbl in labels if lbl in set(y_true)}
    f1s = [m["f1"] for m in per_label.values()]
    return {
        "n": len(y_true),
        "accuracy": _div(sum(1 for t, p in zip(y_true, y_pred) if t == p), len(y_true)),
        "macro_f1": _div(sum(f1s), len(f1s)),
        "per_label": per_label,
        "confusion": confusion,
    }


def _timed(fn: Any, *args: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - started


def _model_labels(model: Any, task: str, texts: Sequence[str], topics: Sequence[str] | None = None) -> list[str]:
    out: list[str] = []
    for i in range(0, len(texts), 512):
        preds = model.predict(texts[i : i + 512], None if topics is None else topics[i : i + 512])
        out += [model.decide(task, getattr(p, task))[0] for p in preds]
    return out


def _rule_labels(analyzer: Any, texts: Sequence[str], topics: Sequence[str] | None = None) -> list[str]:
    items = [Item(t, topics[i] if topics else "") for i, t in enumerate(texts)]
    return [v.label for v in analyzer.analyse(items)]


# -- text the model did not train on: long-text folders, length buckets, new ad sources ---------
#
# Only the ``test`` part of each folder (``datasets.split_of`` of the row's text, the split training
# uses), sampled deterministically by a hash of the text so the run stays quick on two CPU cores.

UNSEEN_SEED = "qunzhi-eval-unseen-1"
# The model reads long texts at ~16/s on one CPU thread (short chat at hundreds/s): at these caps
# the unseen sets take ~6 minutes (``qunzhi eval --unseen-cap N``: N per folder and bucket, 2N per
# new ad source; 0 skips them).
UNSEEN_CAP = 500
LONG_CAP = UNSEEN_CAP  # texts per long-text folder
BUCKET_CAP = UNSEEN_CAP  # texts per length bucket
NEW_AD_CAP = 2 * UNSEEN_CAP  # texts per new ad source
LENGTH_BUCKETS: tuple[tuple[str, int, int], ...] = (
    ("len<=20", 1, 20),
    ("len21-60", 21, 60),
    ("len61-200", 61, 200),
    ("len>200", 201, 1_000_000),
)
# pieces a held-out passage is cut into: a bucket's range drawn at random per piece
_CHUNK_RANGES = ((5, 20), (21, 60), (61, 200), (201, 600))
_CUT_RE = re.compile(r"[。！？!?；;，,、：:\n]+|(?<=[.])\s+")
# the folders' short kinds: in the length buckets, not in the per-folder false-ad rates
_SHORT_KINDS = frozenset({"question", "paper_title"})
WHU_FOLDER = "whu_addetector_snippets"
# the ordinary test texts of the first round, for the length buckets (no hand-written seeds or
# phatic lines: never test on what we wrote)
ORDINARY_SOURCES = (
    "qq_group_ads",
    "sms_spam_80w",
    "nus_sms_zh",
    "lccc_chitchat",
    "smp_ecdt_intent",
    "thucnews_titles",
    "tnews",
)
FRAUD_PREFIX = "fraud_"


def _hash(*parts: str) -> int:
    return int.from_bytes(hashlib.blake2b("\x00".join((UNSEEN_SEED, *parts)).encode(), digest_size=8).digest(), "big")


def _sample_texts(texts: Iterable[str], n: int, salt: str) -> list[str]:
    """Up to ``n`` distinct texts, the same ones whatever the input order (by a hash of the text)."""
    unique = list(dict.fromkeys(texts))
    return sorted(unique, key=lambda t: _hash(salt, t))[:n]


def chunk_text(text: str, key: str = "") -> list[str]:
    """``text`` cut, front to back, into pieces of varied length (each piece's length range drawn
    from :data:`_CHUNK_RANGES` by a hash of the text): at a punctuation or line break whose piece
    length falls in the range, nearest a target drawn in it, else hard at the target. Stripped, empty
    pieces dropped. Deterministic."""
    rng = random.Random(_hash("chunk", key, text))
    bounds = [m.end() for m in _CUT_RE.finditer(text)] + [len(text)]
    out: list[str] = []
    start = 0
    while start < len(text):
        lo, hi = rng.choice(_CHUNK_RANGES)
        target = rng.randint(lo, hi)
        fits = [b for b in bounds if lo <= b - start <= hi]
        end = min(fits, key=lambda b: abs(b - start - target)) if fits else min(start + target, len(text))
        piece = text[start:end].strip()
        if piece:
            out.append(piece)
        start = end
    return out


def _long_folder_test(name: str, data_dir: str | os.PathLike[str] | None) -> list[tuple[str, str]]:
    """``(text, kind)`` of one long-text folder's test part."""
    if name == WHU_FOLDER:
        rows = ((ex.text, "news_portal") for ex in datasets.whu_news_snippets(data_dir))
    else:
        rows = ((ex.text, ex.label) for ex in datasets.long_texts(name, data_dir))
    return [(t, kind) for t, kind in rows if datasets.split_of(t) == "test"]


def long_text_folders() -> tuple[str, ...]:
    return (*datasets.LONG_TEXT_DATASETS, WHU_FOLDER)


def unseen_sets(
    data_dir: str | os.PathLike[str] | None = None,
    ordinary: Sequence[str] = (),
    *,
    long_cap: int = LONG_CAP,
    bucket_cap: int = BUCKET_CAP,
    new_ad_cap: int = NEW_AD_CAP,
) -> dict[str, Any]:
    """The held-out sets of text from outside the first round's sources, without running anything.

    Returns ``{"long": {folder: [text]}, "length": {bucket: [(text, origin)]}, "new_ad":
    {name: (texts, truths, kinds)}, "missing": [...]}``:

    - ``long``: per long-text folder, up to ``long_cap`` of its test part's long texts (the
      passages, abstracts, recipes ...; not the questions or titles), all ordinary;
    - ``length``: per length bucket, up to ``bucket_cap`` ordinary texts, half (where there are
      enough) from the long-text folders' test parts (their passages cut by :func:`chunk_text`, and
      their questions and titles) and half from ``ordinary`` (the first round's ordinary test texts);
      ``origin`` is the folder name or ``"ordinary"``;
    - ``new_ad``: ``game_chat_ads`` (label 1 as ads; as negatives only the label-0 rows without a
      contact cue, since ~20% of the label-0 rows carry one and many of those are ads) and
      ``telecom_fraud`` (the four fraud types, all ads; ``normal_sms`` is marketing and left out),
      ``kinds`` the fraud type per text (``""`` for game chat).
    """
    out: dict[str, Any] = {"long": {}, "length": {}, "new_ad": {}, "missing": []}
    pieces: dict[str, list[tuple[str, str]]] = {b: [] for b, _, _ in LENGTH_BUCKETS}

    def bucket_of(text: str) -> str | None:
        n = len(text)
        return next((b for b, lo, hi in LENGTH_BUCKETS if lo <= n <= hi), None)

    for name in long_text_folders():
        try:
            rows = _long_folder_test(name, data_dir)
        except datasets.DatasetMissing as e:
            out["missing"].append(f"{name}: {e}")
            continue
        long = [t for t, kind in rows if kind not in _SHORT_KINDS]
        out["long"][name] = _sample_texts(long, long_cap, f"long-{name}")
        for t, kind in rows:
            for piece in chunk_text(t, name) if kind not in _SHORT_KINDS else [t.strip()]:
                if (b := bucket_of(piece)) is not None:
                    pieces[b].append((piece, name))
    for t in ordinary:
        if (b := bucket_of(t)) is not None:
            pieces[b].append((t, "ordinary"))
    for b, _, _ in LENGTH_BUCKETS:
        origin = dict(reversed(pieces[b]))  # one origin per text, the first seen
        folders = _sample_texts((t for t, o in pieces[b] if o != "ordinary"), len(origin), f"len-{b}-folders")
        chat = _sample_texts((t for t, o in pieces[b] if o == "ordinary"), len(origin), f"len-{b}-ordinary")
        half = bucket_cap // 2
        take_f = min(len(folders), max(half, bucket_cap - len(chat)))
        take_c = min(len(chat), bucket_cap - take_f)
        chosen = list(dict.fromkeys([*folders[:take_f], *chat[:take_c]]))
        out["length"][b] = [(t, origin[t]) for t in chosen]

    try:
        game = [(t, lab, cue) for t, lab, cue in datasets.game_chat_ads(data_dir) if datasets.split_of(t) == "test"]
    except datasets.DatasetMissing as e:
        out["missing"].append(f"game_chat_ads_train: {e}")
    else:
        truth = {t: lab for t, lab, cue in game if lab == "ad" or not cue}
        texts = _sample_texts(truth, new_ad_cap, "game")
        out["new_ad"]["game_chat_ads"] = (texts, [truth[t] for t in texts], [""] * len(texts))
    try:
        fraud = {
            ex.text: ex.label
            for ex in datasets.telecom_fraud_texts(data_dir)
            if ex.label.startswith(FRAUD_PREFIX) and datasets.split_of(ex.text) == "test"
        }
    except datasets.DatasetMissing as e:
        out["missing"].append(f"telecom_fraud_texts5: {e}")
    else:
        texts = _sample_texts(fraud, new_ad_cap, "fraud")
        out["new_ad"]["telecom_fraud"] = (texts, ["ad"] * len(texts), [fraud[t] for t in texts])
    return out


Labeller = Callable[[Sequence[str]], list[str]]


def evaluate_unseen(labellers: dict[str, Labeller], sets: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Score every labeller (``{"model": fn, "rules": fn}``, each ``texts -> ad labels``) on
    :func:`unseen_sets`; one run per labeller and group of sets, rows cut from it.

    Returns ``{"ad_long": {folder: row}, "ad_len": {bucket: row}, "ad_new": {name: row}}``, a row as
    in :func:`evaluate_models` (``n`` and per labeller the binary metrics of ``ad`` and
    ``ms_per_msg``); length rows also have ``by_origin`` (per origin: ``n`` and each labeller's
    false ads), and ad rows of a set without negatives ``positives_only``.
    """
    groups: dict[str, list[tuple[str, list[str], list[str], list[str]]]] = {
        "ad_long": [
            (name, texts, ["normal"] * len(texts), [name] * len(texts)) for name, texts in sets["long"].items()
        ],
        "ad_len": [
            (b, [t for t, _ in rows], ["normal"] * len(rows), [o for _, o in rows])
            for b, rows in sets["length"].items()
        ],
        "ad_new": [],
    }
    for name, (texts, truth, kinds) in sets["new_ad"].items():
        groups["ad_new"].append((name, list(texts), list(truth), list(kinds)))
        for kind in sorted({k for k in kinds if k}):
            idx = [i for i, k in enumerate(kinds) if k == kind]
            groups["ad_new"].append(
                (
                    f"{name}:{kind.removeprefix(FRAUD_PREFIX)}",
                    [texts[i] for i in idx],
                    [truth[i] for i in idx],
                    [kind] * len(idx),
                )
            )
    out: dict[str, dict[str, Any]] = {}
    for group, rows in groups.items():
        # a text in two rows (a fraud type and its whole source) is labelled once
        texts = list(dict.fromkeys(t for _, ts, _, _ in rows for t in ts))
        preds: dict[str, dict[str, str]] = {}
        ms: dict[str, float] = {}
        for who, fn in labellers.items():
            labels, secs = _timed(fn, texts)
            preds[who] = dict(zip(texts, labels))
            ms[who] = 1000 * secs / max(1, len(texts))
        for name, ts, truth, origins in rows:
            row: dict[str, Any] = {"n": len(ts)}
            for who in labellers:
                pred = [preds[who][t] for t in ts]
                row[who] = {**binary_metrics(truth, pred, "ad").as_dict(), "ms_per_msg": ms[who]}
            if group == "ad_len":
                by: dict[str, dict[str, int]] = {}
                for t, o in zip(ts, origins):
                    e = by.setdefault(o, {"n": 0, **{who: 0 for who in labellers}})
                    e["n"] += 1
                    for who in labellers:
                        e[who] += preds[who][t] == "ad"
                row["by_origin"] = dict(sorted(by.items()))
            if ts and "normal" not in truth:
                row["positives_only"] = True
            out.setdefault(group, {})[name] = row
    return out


def evaluate_models(
    model_dir: str | os.PathLike[str],
    data_dir: str | os.PathLike[str] | None = None,
    *,
    precision: str = "int8",
    tasks: Sequence[str] = TASKS,
    rules: bool = True,
    useful_threshold: float = USEFUL_THRESHOLD,
    unseen_cap: int = UNSEEN_CAP,
) -> dict[str, Any]:
    """Every task on held-out data, model and rule baseline side by side. The model decides as the
    product does, at ``useful_threshold``.

    - ad: the ``test`` part of ``qq_group_ads`` and ``sms_spam_80w`` (P/R/F1), the false-ad rate on
      ``nus_sms_zh``'s ``test`` part, disguised copies of test texts ("evasion"), and the false-ad
      rate on long messages made by joining 2-5 short normal test texts (the public ad data's
      length bias: ads are long there, chat is short).
    - useful: test pairs on topics seen in training and on four topic categories held out of
      training entirely (agriculture, military, travel, cars).
    - intent: SMP 2017's dev file as chit-chat vs the rest, and the 9-class intent test part.
    - with ``unseen_cap`` > 0 (and ``ad`` in ``tasks``), text from outside the first round's sources, test
      parts only (:func:`unseen_sets`, :func:`evaluate_unseen`): the false-ad rate on every
      long-text folder (``ad_long``), on ordinary texts by length bucket (``ad_len``), and ad
      P/R/F1 on the new ad sources (``ad_new``: game chat, telecom fraud and each fraud type), at
      most ``unseen_cap`` texts per folder and bucket and twice that per new ad source. Folders
      that are missing are listed in ``missing`` and skipped.
    """
    from nlp.classify import ModelAnalyzer
    from nlp.rules import AdRules, IntentRules, UsefulRules
    from nlp.training import corpus

    model = ModelAnalyzer(os.fspath(model_dir), precision=precision, useful_threshold=useful_threshold)
    ad_rules = AdRules()
    baseline = {"ad": ad_rules, "useful": UsefulRules(ad=ad_rules), "intent": IntentRules(ad=ad_rules)}
    result: dict[str, Any] = {
        "model": model.version,
        "precision": precision,
        "useful_threshold": model.useful_threshold,
        "tasks": {},
        "missing": [],
    }
    started = time.perf_counter()

    def compare(
        task: str, name: str, texts: list[str], truth: list[str], topics: list[str] | None, positive: str | None
    ) -> None:
        row: dict[str, Any] = {"n": len(texts)}
        for who, run in (
            ("model", lambda: _model_labels(model, task, texts, topics)),
            ("rules", lambda: _rule_labels(baseline[task], texts, topics)),
        ):
            if who == "rules" and not rules:
                continue
            pred, secs = _timed(run)
            if positive is None:
                row[who] = _multiclass(truth, pred, list(dict.fromkeys([*truth, *pred])))
            else:
                row[who] = binary_metrics(truth, pred, positive).as_dict()
            row[who]["ms_per_msg"] = 1000 * secs / max(1, len(texts))
        result["tasks"].setdefault(task, {})[name] = row

    if "ad" in tasks:
        ad_test = corpus.build_ad(data_dir)["test"]
        by_source = corpus.records_by_source(ad_test)
        for name in ("qq_group_ads", "sms_spam_80w", "nus_sms_zh", "evasion"):
            recs = by_source.get(name, [])
            if recs:
                compare("ad", name, [r.text for r in recs], [r.label for r in recs], None, "ad")
        from nlp.training.augment import long_texts

        joined = long_texts(ad_test, 2000, "eval-long")
        compare("ad", "long_normal_joined", joined, ["normal"] * len(joined), None, "ad")
        if unseen_cap > 0:
            started = time.perf_counter()
            ordinary = [r.text for r in ad_test if r.label == "normal" and not r.aug and r.source in ORDINARY_SOURCES]
            sets = unseen_sets(
                data_dir, ordinary, long_cap=unseen_cap, bucket_cap=unseen_cap, new_ad_cap=2 * unseen_cap
            )
            labellers: dict[str, Labeller] = {"model": lambda texts: _model_labels(model, "ad", texts)}
            if rules:
                labellers["rules"] = lambda texts: _rule_labels(ad_rules, texts)
            result["tasks"].update(evaluate_unseen(labellers, sets))
            result["missing"] = sets["missing"]
            result["unseen_seconds"] = time.perf_counter() - started
    if "useful" in tasks:
        by_kind = corpus.records_by_source(corpus.build_useful(data_dir)["test"])
        for name in ("held_out_topics", "seen_topics"):
            useful_recs = by_kind.get(name, [])
            if useful_recs:
                compare(
                    "useful",
                    name,
                    [r.text for r in useful_recs],
                    [r.label for r in useful_recs],
                    [r.topic for r in useful_recs],
                    "useful",
                )
    if "intent" in tasks:
        smp = corpus.smp2017_dev_chat_vs_rest(data_dir)
        texts = [t for t, _ in smp]
        truth = ["chitchat" if c else "rest" for _, c in smp]
        row: dict[str, Any] = {"n": len(texts)}
        for who, labels in (
            ("model", lambda: _model_labels(model, "intent", texts)),
            ("rules", lambda: _rule_labels(baseline["intent"], texts)),
        ):
            if who == "rules" and not rules:
                continue
            pred, secs = _timed(labels)
            pred = ["chitchat" if p == "chitchat" else "rest" for p in pred]
            row[who] = {
                **binary_metrics(truth, pred, "chitchat").as_dict(),
                "ms_per_msg": 1000 * secs / max(1, len(texts)),
            }
        result["tasks"].setdefault("intent", {})["smp2017_dev_chat_vs_rest"] = row
        intent_recs = corpus.build_intent(data_dir)["test"]
        compare(
            "intent", "intent_test_9_class", [r.text for r in intent_recs], [r.label for r in intent_recs], None, None
        )
    result["seconds"] = time.perf_counter() - started
    return result


_SET_NOTES = {
    "ad_long": "false-ad rate (FPR) on each long-text folder's test part (all ordinary texts)",
    "ad_len": "false-ad rate (FPR) on held-out ordinary texts by length (folder pieces + first-round test texts)",
    "ad_new": "new ad sources, test parts: game chat (negatives: label 0 without contact cues), telecom fraud (all ads)",
}


def _f(x: float, width: int, digits: int, show: bool) -> str:
    return f"{x:>{width}.{digits}f}" if show else f"{'-':>{width}}"


def format_model_report(result: dict[str, Any]) -> str:
    head = f"{result['precision']}, useful from p {result['useful_threshold']:.2f}"
    lines = [f"model {result['model']} ({head}) beside the rule baseline, held-out data", ""]
    head = f"{'task':<7} {'set':<30} {'n':>6}  {'who':<5} {'prec':>6} {'recall':>6} {'F1':>6} {'acc':>6} {'FPR':>7} {'ms/msg':>7}"
    lines.append(head)
    for task, sets in result["tasks"].items():
        if task in _SET_NOTES:
            lines.append(f"-- {task}: {_SET_NOTES[task]}")
        for name, row in sets.items():
            for who in ("model", "rules"):
                m = row.get(who)
                if m is None:
                    continue
                if "per_label" in m:
                    lines.append(
                        f"{task:<7} {name:<30} {row['n']:>6}  {who:<5} {'':>6} {'':>6} {m['macro_f1']:>6.3f}"
                        f" {m['accuracy']:>6.3f} {'':>7} {m['ms_per_msg']:>7.2f}   (macro F1)"
                    )
                else:
                    pos = m["tp"] + m["fn"] > 0  # P/R/F1 mean nothing on a set without positives
                    neg = m["fp"] + m["tn"] > 0  # nor precision and FPR on one without negatives
                    lines.append(
                        f"{task:<7} {name:<30} {row['n']:>6}  {who:<5} {_f(m['precision'], 6, 3, pos and neg)}"
                        f" {_f(m['recall'], 6, 3, pos)} {_f(m['f1'], 6, 3, pos and neg)} {m['accuracy']:>6.3f}"
                        f" {_f(m['fpr'], 7, 4, neg)} {m['ms_per_msg']:>7.2f}"
                    )
    lines += [f"missing: {m}" for m in result.get("missing", [])]
    if "seconds" in result:
        extra = f" ({result['unseen_seconds']:.0f} s of it on the unseen sets)" if "unseen_seconds" in result else ""
        lines += ["", f"evaluated in {result['seconds']:.0f} s{extra}"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nlp.training.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--rules", action="store_true", help="evaluate the rule baseline (nlp.rules.AdRules)")
    parser.add_argument("--model", help="evaluate the model directory on every task, beside the rules")
    parser.add_argument("--fp32", action="store_true", help="with --model: no int8 quantisation")
    parser.add_argument("--precision", choices=PRECISIONS, default=None, help="with --model: encoder precision")
    parser.add_argument(
        "--useful-threshold",
        type=float,
        default=USEFUL_THRESHOLD,
        help="with --model: p(useful) from which a message is useful",
    )
    parser.add_argument("--json", help="with --model: also write the full result (confusions included) here")
    parser.add_argument(
        "--unseen-cap",
        type=int,
        default=UNSEEN_CAP,
        metavar="N",
        help=f"with --model: texts per long-text folder and length bucket, 2N per new ad source (0: skip; default {UNSEEN_CAP})",
    )
    parser.add_argument("--data", default=None, help="shared data folder (default: $QUNZHI_DATA or ../shared/data)")
    parser.add_argument("--split", default="test", choices=("train", "dev", "test"), help="split part (default test)")
    parser.add_argument("--errors", type=int, default=0, metavar="N", help="also list N false positives/negatives")
    args = parser.parse_args(argv)
    if args.model:
        import json

        try:
            precision = "fp32" if args.fp32 else (args.precision or "int8")
            full = evaluate_models(
                args.model,
                args.data,
                precision=precision,
                useful_threshold=args.useful_threshold,
                unseen_cap=args.unseen_cap,
            )
        except datasets.DatasetMissing as e:
            print(f"no data: {e}", file=sys.stderr)
            return 2
        print(format_model_report(full))
        if args.json:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(full, f, ensure_ascii=False, indent=1)
        return 0
    if not args.rules:
        parser.error("choose an analyzer: --rules or --model DIR")
    from nlp.rules import AdRules

    result = evaluate_ad(AdRules(), args.data, part=args.split, errors=args.errors)
    if not result["datasets"]:
        print("\n".join(["no data found", *result["missing"]]), file=sys.stderr)
        return 2
    print(format_report(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
