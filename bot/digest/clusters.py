"""Topic clusters: the period's useful messages grouped by what they are about, each named by its
key terms, with who talked and its best message.

Grouping is agglomerative with average linkage and a similarity threshold, so the number of topics
is never chosen in advance: every message starts alone, and the two groups whose messages are the
most alike on average merge, while that average is at least :data:`THRESHOLD`. How alike two
messages are: the Jaccard similarity of their content words (``topics.terms``: rare Chinese words
and Latin terms such as "LoRA", "GRPO", "学习率").

Not the shared encoder's embeddings, though near-duplicates use them: measured on the demo day with
its threads as the known grouping, pairs the encoder puts together (its layer 2 or its last layer,
alone or added to the words) share a thread no more often than chance (precision 0.05–0.09 against
the words' 0.35–0.58). In group chat the encoder groups by register — English link titles with
each other, chit-chat with chit-chat, admins' notices together — not by subject. On news titles
and assistant queries, where every text has the same register, it does better than the words; see
docs/experiments.md ("Topic clusters") for both measurements and how the threshold was chosen.

The input is one message per near-duplicate group (the builder's ``dedupe.Clusters``), so a
re-posted question is one message of its topic. A group of one message is not a topic; topics are
ranked biggest first and at most :data:`MAX_CLUSTERS` kept. Nothing here reads the store or masks:
the builder hands in what may be shown (opted-out members' messages are never handed in) and turns
the result into records.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from bot.digest.topics import keywords, terms

_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")

THRESHOLD = 0.02  # average content-word Jaccard for two groups to merge (docs/experiments.md)
MIN_SIZE = 2  # a topic is at least this many messages
MAX_CLUSTERS = 6
MAX_TERMS = 3  # key terms naming a topic
MAX_INPUT = 600  # messages clustered at most (the most useful; a month of a busy group has more)


@dataclass(frozen=True, slots=True)
class Group:
    """One topic before it becomes a record: indices into the texts given, and its key terms."""

    members: tuple[int, ...]  # in the order given
    terms: tuple[str, ...]


def term_jaccard(texts: Sequence[str]) -> np.ndarray:
    """Pairwise Jaccard similarities of the texts' content words (``topics.terms``)."""
    sets = [terms(t) for t in texts]
    n = len(sets)
    sim = np.eye(n)
    for i in range(n):
        if not sets[i]:
            continue
        for j in range(i + 1, n):
            if sets[j]:
                sim[i, j] = sim[j, i] = len(sets[i] & sets[j]) / len(sets[i] | sets[j])
    return sim


def average_linkage(sim: np.ndarray, threshold: float) -> list[list[int]]:
    """Agglomerative clustering of the items ``sim`` relates (symmetric, n × n): merge the two
    groups of highest average pairwise similarity while it is at least ``threshold``. Groups are
    returned with their items in ascending order, groups by their first item."""
    n = sim.shape[0]
    groups: dict[int, list[int]] = {i: [i] for i in range(n)}
    if n < 2:
        return list(groups.values())
    link = np.array(sim, dtype=np.float64, copy=True)
    np.fill_diagonal(link, -np.inf)
    while True:
        flat = int(np.argmax(link))
        i, j = divmod(flat, n)
        if not link[i, j] >= threshold:  # also stops on -inf (one group left)
            break
        i, j = min(i, j), max(i, j)
        ni, nj = len(groups[i]), len(groups[j])
        # Lance–Williams for average linkage: the merged group's average to every other group.
        merged = (ni * link[i] + nj * link[j]) / (ni + nj)
        link[i, :] = merged
        link[:, i] = merged
        link[i, i] = -np.inf
        link[j, :] = -np.inf
        link[:, j] = -np.inf
        groups[i] = sorted(groups[i] + groups.pop(j))
    return [groups[i] for i in sorted(groups)]


def key_terms(texts: Sequence[str], k: int, exclude: str = "", never: Collection[str] = ()) -> list[str]:
    """Up to ``k`` terms naming ``texts``, those the most of them say first: their TF-IDF keywords
    (``topics.keywords``) and the content words (``topics.terms``) at least half of them (and two)
    share — for what the keywords' part-of-speech filter misses (jieba tags "显存" and "显卡" as
    verbs). None part of ``exclude`` (the group's own topic), none in ``never`` (lower case)."""
    banned = {w.lower() for w in never}
    found = [w for w in keywords(texts, 3 * k + len(banned), exclude) if w.lower() not in banned]
    taken = {w.lower() for w in found} | banned
    skip = exclude.lower()
    shared = Counter(w for t in texts for w in terms(t))
    for w, n in sorted(shared.items(), key=lambda wn: (-wn[1], wn[0])):
        if n >= max(2, len(texts) / 2) and w not in taken and w not in skip and not w.isdigit():
            found.append(_as_written(w, texts))
            taken.add(w)
    lowered = [t.lower() for t in texts]
    spread = [sum(1 for t in lowered if w.lower() in t) for w in found]
    chosen: list[str] = []
    for i in sorted(range(len(found)), key=lambda i: (-spread[i], i)):  # ties: TF-IDF rank, keywords first
        w = found[i].lower()
        if not any(w in c.lower() or c.lower() in w for c in chosen):  # not "sgl" beside "sglang"
            chosen.append(found[i])
        if len(chosen) == k:
            break
    return chosen


def _as_written(term: str, texts: Sequence[str]) -> str:
    """``term`` (lower-cased by ``topics.terms``) as the first text that has it writes it."""
    for t in texts:
        at = t.lower().find(term)
        if at >= 0:
            return t[at : at + len(term)]
    return term


def find(
    texts: Sequence[str],
    weights: Sequence[float],
    *,
    exclude: str = "",
    names: Collection[str] = (),
    max_clusters: int = MAX_CLUSTERS,
) -> list[Group]:
    """Topics among ``texts`` (one per near-duplicate group; ``weights``: how useful each is, for
    choosing what to cluster when there are more than :data:`MAX_INPUT`), biggest first. Each is
    named by up to :data:`MAX_TERMS` key terms of its texts (:func:`key_terms`), none part of
    ``exclude`` (the group's own topic) and none one of ``names`` (the members' names) or a Latin
    word of one ("欢迎 Jason" is about no topic); a group nothing names is left out."""
    if len(weights) != len(texts):
        raise ValueError(f"{len(weights)} weights for {len(texts)} texts")
    order = sorted(range(len(texts)), key=lambda k: -weights[k])[:MAX_INPUT]
    order.sort()
    sim = term_jaccard([texts[k] for k in order])
    named = {w.lower() for n in names for w in (n.strip(), *_LATIN_WORD.findall(n)) if w}
    found: list[tuple[float, Group]] = []
    for group in average_linkage(sim, THRESHOLD):
        if len(group) < MIN_SIZE:
            continue
        members = tuple(order[g] for g in group)
        chosen = tuple(key_terms([texts[k] for k in members], MAX_TERMS, exclude, never=named))
        if chosen:
            found.append((sum(weights[k] for k in members), Group(members, chosen)))
    found.sort(key=lambda wg: (-len(wg[1].members), -wg[0], wg[1].members[0]))
    return [g for _, g in found[:max_clusters]]
