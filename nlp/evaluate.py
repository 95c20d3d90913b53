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
from nlp.verdict import Verdict

__all__ = ["Analyzer", "BinaryMetrics", "binary_metrics", "evaluate_ad", "format_report", "main"]


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nlp.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--rules", action="store_true", help="evaluate the rule baseline (nlp.rules.AdRules)")
    parser.add_argument("--data", default=None, help="shared data folder (default: $QUNZHI_DATA or ../shared/data)")
    parser.add_argument("--split", default="test", choices=("train", "dev", "test"), help="split part (default test)")
    parser.add_argument("--errors", type=int, default=0, metavar="N", help="also list N false positives/negatives")
    args = parser.parse_args(argv)
    if not args.rules:
        parser.error("choose an analyzer: --rules")
    from nlp.rules import AdRules

    result = evaluate_ad(AdRules(), args.data, part=args.split, errors=args.errors)
    if not result["datasets"]:
        print("\n".join(["no data found", *result["missing"]]), file=sys.stderr)
        return 2
    print(format_report(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
