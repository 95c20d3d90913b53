"""Gender and age-band hints from a member's own words, only where the data says they can be trusted.

The model is a logistic regression over a member's character 1-3-gram frequencies (hashed), trained
and measured by ``nlp.training.demographics_train`` on the NUS SMS corpus (real users' self-reported gender
and age band, split by user). It is additive, so a profile keeps it up to date without re-reading
history: each message adds ``W · counts`` (one sum per label) and its n-gram count to the member's
evidence; the member's logits are ``sums / n + b`` (the regression on the member's normalised
n-gram frequencies), scaled by the calibration temperature.

A task is shipped only when it beat the majority baseline in the held-out evaluation; a hint is shown
only when the member has at least ``min_ngrams`` of evidence and the calibrated confidence reaches the
task's ``threshold`` (chosen from held-out users, see ``manifest.json``). Everything below is "—".
Stdlib and numpy only.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DIM = 1 << 16
NGRAM_SIZES = (1, 2, 3)
_NOISE = re.compile(r"https?://\S+|www\.\S+|\d+|\s+")


def normalise(text: str) -> str:
    """NFKC, lower case; URLs, digits and white space dropped (they say nothing about the writer)."""
    return _NOISE.sub("", unicodedata.normalize("NFKC", text).lower())


def ngram_counts(text: str) -> Counter[int]:
    """Hashed character 1-3-gram counts of ``text`` (crc32, stable across processes)."""
    t = normalise(text)
    out: Counter[int] = Counter()
    for n in NGRAM_SIZES:
        for i in range(len(t) - n + 1):
            out[zlib.crc32(t[i : i + n].encode("utf-8")) % DIM] += 1
    return out


@dataclass(frozen=True, slots=True)
class Hint:
    task: str  # "gender" | "age"
    label: str  # "male", "21-25", ...
    confidence: float  # calibrated probability of ``label``
    shown: bool  # confident enough to show (threshold and evidence reached)


@dataclass(frozen=True, slots=True)
class TaskModel:
    name: str
    labels: tuple[str, ...]
    weights: np.ndarray  # (DIM, len(labels)) float32
    bias: np.ndarray  # (len(labels),)
    temperature: float  # logits are divided by it (fitted on held-out users)
    threshold: float  # the least calibrated confidence shown; > 1 means never shown
    min_ngrams: int  # the least evidence (character n-grams) before anything is shown

    def evidence(self, counts: Mapping[int, int]) -> list[float]:
        """What one message adds to a member's sums, one per label."""
        if not counts:
            return [0.0] * len(self.labels)
        idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        val = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        return [float(x) for x in val @ self.weights[idx]]

    def probabilities(self, sums: Iterable[float], n: int) -> list[float]:
        if n <= 0:
            return [1.0 / len(self.labels)] * len(self.labels)
        logits = (np.asarray(list(sums), dtype=np.float64) / n + self.bias) / self.temperature
        logits -= logits.max()
        p = np.exp(logits)
        return [float(x) for x in p / p.sum()]

    def hint(self, sums: Iterable[float], n: int) -> Hint:
        p = self.probabilities(sums, n)
        best = int(np.argmax(p))
        shown = n >= self.min_ngrams and p[best] >= self.threshold
        return Hint(self.name, self.labels[best], p[best], shown)


class DemographicModel:
    """The shipped tasks (possibly none), loaded from ``manifest.json`` and ``weights.npz``."""

    def __init__(
        self, tasks: Mapping[str, TaskModel], manifest: Mapping[str, object] | None = None, version: str = ""
    ) -> None:
        self.tasks = dict(tasks)
        self.manifest = dict(manifest or {})
        self.version = version  # stored beside a member's sums: other weights, other sums

    @classmethod
    def load(cls, folder: Path | str) -> DemographicModel:
        folder = Path(folder)
        text = (folder / "manifest.json").read_text("utf-8")
        manifest = json.loads(text)
        raw = (folder / "weights.npz").read_bytes()
        arrays = np.load(io.BytesIO(raw))
        tasks = {}
        for name, spec in manifest["tasks"].items():
            if not spec.get("shipped"):
                continue
            weights = arrays[f"{name}_w"].astype(np.float32)
            tasks[name] = TaskModel(
                name,
                tuple(spec["labels"]),
                weights,
                arrays[f"{name}_b"].astype(np.float64),
                float(spec["temperature"]),
                float(spec["threshold"]),
                int(spec["min_ngrams"]),
            )
        return cls(tasks, manifest, hashlib.sha256(raw + text.encode()).hexdigest()[:12])

    def evidence(self, text: str) -> tuple[int, dict[str, list[float]]]:
        """``(n-gram count, {task: sums per label})`` that ``text`` adds to its writer's evidence."""
        counts = ngram_counts(text)
        return sum(counts.values()), {name: t.evidence(counts) for name, t in self.tasks.items()}

    def hints(self, n: int, sums: Mapping[str, Iterable[float]]) -> dict[str, Hint]:
        return {name: t.hint(sums[name], n) for name, t in self.tasks.items() if name in sums}


def softmax_confidence(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax (for the trainer, kept here so both sides compute it the same way)."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    probs: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return probs


__all__ = ["DIM", "DemographicModel", "Hint", "TaskModel", "ngram_counts", "normalise", "softmax_confidence"]
