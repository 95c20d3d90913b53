"""Character-level BIO data for the NER head, its held-out splits, and an entity-level scorer. Stdlib only.

Three sources under ``shared/data`` (see their ``SOURCE.md``), each read as one unit per line of its
``train.bio`` (a character, rarely a short token in Weibo) with a BIO tag:

- ``msra``: ``msra_ner/train.bio``, types PER / LOC / ORG.
- ``cluener``: ``cluener2020/train.bio`` (the same sentences as ``train.jsonl``), ten types.
- ``weibo``: ``weibo_ner/train.bio`` for training and ``dev.bio`` as the held-out test; types
  ``PER.NAM``, ``PER.NOM``, ``LOC.NAM`` ... as the data has them.

``ner_split(text)`` puts a sentence in ``train`` (85%), ``dev`` (5%) or ``test`` (10%) by a stable hash
of its normalised form (:func:`nlp.training.datasets.hash_split`, the split of
:func:`~nlp.training.datasets.split_of` with its own seed and fractions), so duplicates land on one side. Weibo's test is its ``dev.bio``; its ``train.bio`` gives train/dev.

``score(gold, pred)`` gives entity-level exact-match precision, recall and F1, micro and per type, over
entities as :func:`nlp.bio.chunks` reads them out of tag sequences (the run-time decoder's reading).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from nlp.bio import HEAD_TYPES
from nlp.training.datasets import data_dir, hash_split

__all__ = [
    "DATASETS",
    "Sentence",
    "load",
    "load_split",
    "ner_split",
    "read_bio",
    "score",
]

Split = Literal["train", "dev", "test"]
SEED = "qunzhi-ner-1"
TEST_FRACTION = 0.10
DEV_FRACTION = 0.05

# dataset -> (folder, entity types in the order its head uses)
DATASETS: dict[str, tuple[str, tuple[str, ...]]] = {
    name: (folder, HEAD_TYPES[name])
    for name, folder in (("msra", "msra_ner"), ("cluener", "cluener2020"), ("weibo", "weibo_ner"))
}


@dataclass(frozen=True, slots=True)
class Sentence:
    units: tuple[str, ...]  # one per token (a character, rarely a short Latin/digit token in Weibo)
    tags: tuple[str, ...]  # BIO, same length

    @property
    def text(self) -> str:
        return "".join(self.units)


def read_bio(path: str | Path) -> list[Sentence]:
    """CoNLL ``unit<TAB>tag`` lines, a blank line between sentences."""
    out: list[Sentence] = []
    units: list[str] = []
    tags: list[str] = []
    with Path(path).open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                if units:
                    out.append(Sentence(tuple(units), tuple(tags)))
                    units, tags = [], []
                continue
            unit, sep, tag = line.rpartition("\t")
            if not sep or not unit:
                raise ValueError(f"{path}:{n}: expected 'char<TAB>tag', got {line!r}")
            units.append(unit)
            tags.append(tag)
    if units:
        out.append(Sentence(tuple(units), tuple(tags)))
    return out


def ner_split(text: str, seed: str = SEED) -> Split:
    """:func:`nlp.training.datasets.hash_split` with the NER seed and fractions."""
    return hash_split(text, seed, TEST_FRACTION, DEV_FRACTION)


def load(name: str, data: str | Path | None = None) -> dict[str, list[Sentence]]:
    """``{"train": [...], "dev": [...], "test": [...]}`` for one dataset of :data:`DATASETS`."""
    if name not in DATASETS:
        raise ValueError(f"unknown NER dataset {name!r}; choose from {sorted(DATASETS)}")
    folder = data_dir(data) / DATASETS[name][0]
    path = folder / "train.bio"
    if not path.is_file():
        from nlp.training.datasets import DatasetMissing

        raise DatasetMissing(f"{path}: not found (set QUNZHI_DATA or pass data_dir to point at shared/data)")
    parts: dict[str, list[Sentence]] = {"train": [], "dev": [], "test": []}
    for s in read_bio(path):
        part = ner_split(s.text)
        if name == "weibo" and part == "test":
            part = "dev"  # Weibo's test is its own dev.bio; its train.bio gives train and dev
        parts[part].append(s)
    if name == "weibo":
        parts["test"] = read_bio(folder / "dev.bio")
    return parts


def load_split(name: str, part: Split, data: str | Path | None = None) -> list[Sentence]:
    return load(name, data)[part]


# --- entities and the scorer -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scores:
    precision: float
    recall: float
    f1: float
    support: int  # gold entities
    predicted: int

    def as_dict(self) -> dict[str, float | int]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "support": self.support,
            "predicted": self.predicted,
        }


def _prf(tp: int, n_pred: int, n_gold: int) -> Scores:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return Scores(p, r, f, n_gold, n_pred)


def score(
    gold: Iterable[Iterable[tuple[str, int, int]]],
    pred: Iterable[Iterable[tuple[str, int, int]]],
    types: Sequence[str] | None = None,
) -> dict[str, Scores]:
    """Entity-level exact match (type, start and end all equal), per sentence pair.

    Returns per-type scores plus ``"micro"`` (over ``types`` if given, else over every type seen).
    """
    tp: Counter[str] = Counter()
    n_gold: Counter[str] = Counter()
    n_pred: Counter[str] = Counter()
    for g, p in zip(gold, pred, strict=True):
        gs, ps = set(g), set(p)
        for t, _, _ in gs:
            n_gold[t] += 1
        for t, _, _ in ps:
            n_pred[t] += 1
        for t, _, _ in gs & ps:
            tp[t] += 1
    keys = list(types) if types is not None else sorted(set(n_gold) | set(n_pred))
    out = {t: _prf(tp[t], n_pred[t], n_gold[t]) for t in keys}
    out["micro"] = _prf(sum(tp[t] for t in keys), sum(n_pred[t] for t in keys), sum(n_gold[t] for t in keys))
    return out
