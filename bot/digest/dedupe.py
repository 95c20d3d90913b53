"""Near-duplicate messages: the same thing said twice is shown once, with "×N".

Two messages are near-duplicates when

- with the shared encoder (``embed`` given: ``ModelAnalyzer.embed`` at :data:`EMBED_LAYER`): the
  cosine of their mean-pooled embeddings is at least :data:`EMBED_THRESHOLD`. Not the last
  layer: the heads' training pulls it together by task, so any two chit-chat lines (or any two
  ads) are at cosine ≥ 0.9 there, while a re-asked question scored 0.89;
- without it (rule-only configs, tests): the Jaccard similarity of their character 3-gram sets
  is at least :data:`JACCARD_THRESHOLD`, texts compared after ``nlp.normalize`` (full-width,
  homoglyphs, spaced-out letters undone), lower-cased, with spaces and punctuation dropped.

URLs are taken out first (a link's URL is compared as a URL, in ``threads``).

Texts shorter than :data:`MIN_CHARS` (after that clean-up) merge only when equal: "收到" and
"收到！" are one, but short texts carry too little for a similarity to mean anything.

Clustering is by leader: messages in time order, each joins the first cluster whose first message
it is similar to, else starts one. No chains: A~B and B~C do not put A with C unless A~C.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nlp.normalize import normalize
from nlp.patterns import strip_urls

log = logging.getLogger(__name__)

# Measured on the demo day (bot/demo/sample_day.jsonl, 270 texts, 36k pairs) with 60 re-posts made
# by light edits and 12 hand-written paraphrases: see docs/guide/digest.md.
EMBED_LAYER = 2  # of 6: the last layer is pulled together by task (every chit-chat pair ≥ 0.9)
EMBED_THRESHOLD = 0.91
JACCARD_THRESHOLD = 0.7
MIN_CHARS = 6

Embedder = Callable[[Sequence[str]], Any]  # texts -> array (n, dim) of L2-normalised rows

_DROP = re.compile(r"[\s\W_]+", re.UNICODE)


def without_urls(text: str) -> str:
    return strip_urls(text).strip() or text


def clean(text: str) -> str:
    """The form texts are compared in: URLs out, normalised, lower case, letters and digits only."""
    return _DROP.sub("", normalize(without_urls(text)).text).lower()


def grams(text: str, n: int = 3) -> frozenset[str]:
    if len(text) < n:
        return frozenset({text}) if text else frozenset()
    return frozenset(text[i : i + n] for i in range(len(text) - n + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


@dataclass(frozen=True, slots=True)
class Clusters:
    """Message id → cluster (the id of its first message); every id given is in one."""

    leader: dict[str, str] = field(default_factory=dict)
    members: dict[str, tuple[str, ...]] = field(default_factory=dict)
    method: str = ""

    def of(self, mid: str) -> str:
        return self.leader.get(mid, mid)

    def size(self, mid: str) -> int:
        return len(self.members.get(self.of(mid), (mid,)))

    @property
    def merged(self) -> int:
        """Messages that joined an earlier one."""
        return sum(len(m) - 1 for m in self.members.values())


def similarity_matrix(texts: Sequence[str], embed: Embedder | None) -> tuple[Any, float, str]:
    """Pairwise similarities of ``texts``, the threshold that means "the same", and a label.

    With ``embed``: cosines of its vectors. If it fails, a warning and the 3-gram Jaccard instead.
    """
    import numpy as np

    if embed is not None:
        if not texts:
            return (
                np.zeros((0, 0), dtype=np.float32),
                EMBED_THRESHOLD,
                f"encoder layer {EMBED_LAYER} cos≥{EMBED_THRESHOLD}",
            )
        try:
            vecs = np.asarray(embed([without_urls(t) for t in texts]), dtype=np.float32)
            if vecs.shape[0] != len(texts):
                raise ValueError(f"{vecs.shape[0]} vectors for {len(texts)} texts")
            norms = np.linalg.norm(vecs, axis=1, keepdims=True)
            vecs = vecs / np.maximum(norms, 1e-12)
            return vecs @ vecs.T, EMBED_THRESHOLD, f"encoder layer {EMBED_LAYER} cos≥{EMBED_THRESHOLD}"
        except Exception:  # noqa: BLE001 - the digest still goes out, with the lexical measure
            log.warning("embedding %d texts for the digest failed; using 3-gram Jaccard", len(texts), exc_info=True)
    sets = [grams(clean(t)) for t in texts]
    n = len(sets)
    sim = np.zeros((n, n), dtype=np.float32)
    for i in range(n):
        sim[i, i] = 1.0
        for j in range(i + 1, n):
            sim[i, j] = sim[j, i] = jaccard(sets[i], sets[j])
    return sim, JACCARD_THRESHOLD, f"3-gram jaccard≥{JACCARD_THRESHOLD}"


def cluster(items: Sequence[tuple[str, str]], embed: Embedder | None = None) -> Clusters:
    """Near-duplicate clusters of ``(id, text)`` in the given (time) order. Only texts of at
    least :data:`MIN_CHARS` are embedded or compared; shorter ones merge when equal."""
    ids = [i for i, _ in items]
    cleaned = [clean(t) for _, t in items]
    long = [k for k, c in enumerate(cleaned) if len(c) >= MIN_CHARS]
    row = {k: r for r, k in enumerate(long)}
    sim, threshold, method = similarity_matrix([items[k][1] for k in long], embed)
    leaders: list[int] = []
    leader_of: dict[str, str] = {}
    members: dict[str, list[str]] = {}
    for k, mid in enumerate(ids):
        joined = None
        for lead in leaders:
            if not cleaned[k] or not cleaned[lead]:
                continue
            if k in row and lead in row:
                same = bool(sim[row[lead], row[k]] >= threshold)
            else:
                same = cleaned[lead] == cleaned[k]
            if same:
                joined = ids[lead]
                break
        if joined is None:
            leaders.append(k)
            joined = mid
            members[mid] = []
        leader_of[mid] = joined
        members[joined].append(mid)
    return Clusters(leader_of, {k: tuple(v) for k, v in members.items()}, method)
