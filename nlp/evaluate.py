"""Metrics and the held-out ad evaluation.

``binary_metrics`` is plain counting; ``evaluate_ad(analyzer)`` runs any ad analyzer (anything with
``name``, ``version`` and ``analyse(items) -> list[Verdict]``) on the ``test`` part of
``qq_group_ads`` and ``sms_spam_80w`` and on the ``test`` part of ``nus_sms_zh`` (real personal SMS,
all normal, where every "ad" is a false alarm). ``format_report`` prints it as a table.

    python -m nlp.evaluate --rules                 # the rule baseline on the test split
    python -m nlp.evaluate --rules --split train   # what the lexicon was tuned on
    python -m nlp.evaluate --rules --split train --errors 20   # and the mistakes
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from nlp import datasets
from nlp.item import Item
from nlp.verdict import PRECISIONS, USEFUL_THRESHOLD, Verdict

__all__ = ["Analyzer", "BinaryMetrics", "binary_metrics", "evaluate_ad", "evaluate_models", "format_model_report", "format_report", "main"]


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


def evaluate_models(
    model_dir: str | os.PathLike[str],
    data_dir: str | os.PathLike[str] | None = None,
    *,
    precision: str = "int8",
    tasks: Sequence[str] = TASKS,
    rules: bool = True,
    useful_threshold: float = USEFUL_THRESHOLD,
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
    """
    from nlp import corpus
    from nlp.classify import ModelAnalyzer
    from nlp.rules import AdRules, IntentRules, UsefulRules

    model = ModelAnalyzer(model_dir, precision=precision, useful_threshold=useful_threshold)
    ad_rules = AdRules()
    baseline = {"ad": ad_rules, "useful": UsefulRules(ad=ad_rules), "intent": IntentRules(ad=ad_rules)}
    result: dict[str, Any] = {
        "model": model.version, "precision": precision, "useful_threshold": model.useful_threshold, "tasks": {}
    }

    def compare(task: str, name: str, texts: list[str], truth: list[str], topics: list[str] | None, positive: str | None) -> None:
        row: dict[str, Any] = {"n": len(texts)}
        for who, run in (("model", lambda: _model_labels(model, task, texts, topics)),
                         ("rules", lambda: _rule_labels(baseline[task], texts, topics))):
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
        from nlp.augment import long_texts

        joined = long_texts(ad_test, 2000, "eval-long")
        compare("ad", "long_normal_joined", joined, ["normal"] * len(joined), None, "ad")
    if "useful" in tasks:
        by_kind = corpus.records_by_source(corpus.build_useful(data_dir)["test"])
        for name in ("held_out_topics", "seen_topics"):
            recs = by_kind.get(name, [])
            if recs:
                compare("useful", name, [r.text for r in recs], [r.label for r in recs], [r.topic for r in recs], "useful")
    if "intent" in tasks:
        smp = corpus.smp2017_dev_chat_vs_rest(data_dir)
        texts = [t for t, _ in smp]
        truth = ["chitchat" if c else "rest" for _, c in smp]
        row: dict[str, Any] = {"n": len(texts)}
        for who, labels in (("model", lambda: _model_labels(model, "intent", texts)),
                            ("rules", lambda: _rule_labels(baseline["intent"], texts))):
            if who == "rules" and not rules:
                continue
            pred, secs = _timed(labels)
            pred = ["chitchat" if p == "chitchat" else "rest" for p in pred]
            row[who] = {**binary_metrics(truth, pred, "chitchat").as_dict(), "ms_per_msg": 1000 * secs / max(1, len(texts))}
        result["tasks"].setdefault("intent", {})["smp2017_dev_chat_vs_rest"] = row
        recs = corpus.build_intent(data_dir)["test"]
        compare("intent", "intent_test_9_class", [r.text for r in recs], [r.label for r in recs], None, None)
    return result


def format_model_report(result: dict[str, Any]) -> str:
    head = f"{result['precision']}, useful from p {result['useful_threshold']:.2f}"
    lines = [f"model {result['model']} ({head}) beside the rule baseline, held-out data", ""]
    head = f"{'task':<7} {'set':<26} {'n':>6}  {'who':<5} {'prec':>6} {'recall':>6} {'F1':>6} {'acc':>6} {'FPR':>7} {'ms/msg':>7}"
    lines.append(head)
    for task, sets in result["tasks"].items():
        for name, row in sets.items():
            for who in ("model", "rules"):
                m = row.get(who)
                if m is None:
                    continue
                if "per_label" in m:
                    lines.append(
                        f"{task:<7} {name:<26} {row['n']:>6}  {who:<5} {'':>6} {'':>6} {m['macro_f1']:>6.3f}"
                        f" {m['accuracy']:>6.3f} {'':>7} {m['ms_per_msg']:>7.2f}   (macro F1)"
                    )
                else:
                    lines.append(
                        f"{task:<7} {name:<26} {row['n']:>6}  {who:<5} {m['precision']:>6.3f} {m['recall']:>6.3f}"
                        f" {m['f1']:>6.3f} {m['accuracy']:>6.3f} {m['fpr']:>7.4f} {m['ms_per_msg']:>7.2f}"
                    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nlp.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--rules", action="store_true", help="evaluate the rule baseline (nlp.rules.AdRules)")
    parser.add_argument("--model", help="evaluate the model directory on every task, beside the rules")
    parser.add_argument("--fp32", action="store_true", help="with --model: no int8 quantisation")
    parser.add_argument("--precision", choices=PRECISIONS, default=None, help="with --model: encoder precision")
    parser.add_argument("--useful-threshold", type=float, default=USEFUL_THRESHOLD, help="with --model: p(useful) from which a message is useful")
    parser.add_argument("--json", help="with --model: also write the full result (confusions included) here")
    parser.add_argument("--data", default=None, help="shared data folder (default: $QUNZHI_DATA or ../shared/data)")
    parser.add_argument("--split", default="test", choices=("train", "dev", "test"), help="split part (default test)")
    parser.add_argument("--errors", type=int, default=0, metavar="N", help="also list N false positives/negatives")
    args = parser.parse_args(argv)
    if args.model:
        import json

        try:
            precision = "fp32" if args.fp32 else (args.precision or "int8")
            full = evaluate_models(args.model, args.data, precision=precision, useful_threshold=args.useful_threshold)
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
