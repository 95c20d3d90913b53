"""How well topic clusters (bot.digest.clusters) recover known groupings, and which threshold.

Simulated days: each draws 3 to 7 labels of one labelled set and 1 to 20 texts of each, shuffled
(sizes 1 are true singletons, as in a real day). A clustering is scored by pairwise precision,
recall, F1 and F0.5 (pairs put together that share a label; the threshold is chosen by F0.5) and by how many of the day's true topics of
3 or more texts a found topic matches (F1 ≥ 0.5 between the two member sets).

With ``--demo``, each measure at its chosen threshold is also scored on the bundled demo day (real
group chat of our own writing, analysed by the shipped model), the threads found in it being the
known grouping: one text per near-duplicate group of the messages in answered threads.

Thresholds are chosen on TUNE (TNEWS titles by keyword tag and by class, SMP2019 domains) and reported on TEST (THUCNews
titles, SMP2017 domains but chit-chat; texts also in a tuning set dropped), never tuned on.

    .venv/bin/python benchmarks/cluster_threshold.py [--days 30] [--demo] [--cache FILE] [--data DIR]

Needs ../shared/data and the shipped model (models/qunzhi). CPU: 5–15 minutes on two busy cores
(``--cache FILE`` keeps the encoder's vectors for the next run: then about two); ``--demo`` replays
the demo day with the model first (a few minutes more).
"""

from __future__ import annotations

import argparse
import csv
import json
import pickle
import random
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.digest import clusters  # noqa: E402
from bot.digest.dedupe import EMBED_LAYER  # noqa: E402

Labelled = list[tuple[str, str]]  # (text, label)


def load(data: Path) -> tuple[dict[str, Labelled], dict[str, Labelled]]:
    tnews_rows = list(map(json.loads, open(data / "tnews/train.jsonl")))
    tnews = [(r["sentence"], r["label_desc"]) for r in tnews_rows]
    # Finer topics, nearer a group's: TNEWS keyword tags ("区块链", "王者荣耀"), a title under each of its tags.
    tags = [(r["sentence"], k) for r in tnews_rows for k in dict.fromkeys(r["keywords"].split(",")) if k]
    smp19 = [(r["text"], r["domain"]) for r in map(json.loads, open(data / "smp_ecdt_intent/smp2019_nlu_train.jsonl"))]
    seen = {t for t, _ in tnews + smp19}
    with open(data / "thucnews_titles/train.tsv") as f:
        thuc = [(r["text"], r["label"]) for r in csv.DictReader(f, delimiter="\t")]
    smp17 = []
    for name in ("smp2017_train.tsv", "smp2017_dev.tsv"):
        with open(data / "smp_ecdt_intent" / name) as f:
            smp17 += [
                (r["text"], r["label"])
                for r in csv.DictReader(f, delimiter="\t")
                if r["text"] not in seen and r["label"] != "chat"  # chit-chat is no topic
            ]
    return {"tnews-tags": tags, "tnews": tnews, "smp2019": smp19}, {"thucnews": thuc, "smp2017": smp17}


def days(rows: Labelled, n: int, seed: int) -> list[Labelled]:
    rng = random.Random(seed)
    by: dict[str, list[str]] = defaultdict(list)
    for text, label in rows:
        by[label].append(text)
    labels = sorted(k for k, v in by.items() if len(v) >= 8)
    out = []
    for _ in range(n):
        day: Labelled = []
        used: set[str] = set()  # a title under two of the day's tags goes under the first only
        for lab in rng.sample(labels, rng.randint(3, 7)):
            pool = [t for t in by[lab] if t not in used]
            picked = rng.sample(pool, min(len(pool), rng.randint(1, 20)))
            used.update(picked)
            day += [(t, lab) for t in picked]
        rng.shuffle(day)
        out.append(day)
    return out


def pair_scores(pred: Sequence[int], gold: Sequence[str]) -> tuple[int, int, int]:
    """(pairs together in both, together in pred, together in gold)."""
    p = np.asarray(pred)
    g = np.asarray([hash(x) for x in gold])
    same_p = p[:, None] == p[None, :]
    same_g = g[:, None] == g[None, :]
    iu = np.triu_indices(len(p), 1)
    return int((same_p & same_g)[iu].sum()), int(same_p[iu].sum()), int(same_g[iu].sum())


def matched(groups: Sequence[Sequence[int]], gold: Sequence[str]) -> tuple[int, int]:
    """(true topics of ≥3 texts matched by a found topic of ≥2 with F1 ≥ 0.5, such true topics)."""
    true: dict[str, set[int]] = defaultdict(set)
    for k, lab in enumerate(gold):
        true[lab].add(k)
    big = [s for s in true.values() if len(s) >= 3]
    found = [set(g) for g in groups if len(g) >= clusters.MIN_SIZE]
    hit = sum(1 for s in big if any(2 * len(s & f) / (len(s) + len(f)) >= 0.5 for f in found))
    return hit, len(big)


def centred_cosines(vectors: np.ndarray) -> np.ndarray:
    """Pairwise cosines after the texts' mean vector is taken off (the encoder's vectors share a
    large common direction: any two Chinese texts are at cosine ≈ 0.8 at layer 2)."""
    vecs = vectors - vectors.mean(axis=0, keepdims=True)
    vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    return vecs @ vecs.T


Sim = Callable[[list[str]], np.ndarray]
# What the threshold is chosen by: a topic that mixes two things misleads the reader more than a
# topic split in two, so precision weighs twice recall.
OBJECTIVE = "F0.5"


def score(day_sets: list[Labelled], sim: Sim, threshold: float) -> dict[str, float]:
    both = pred = gold = hit = big = 0
    n_found = n_true = 0
    for day in day_sets:
        texts = [t for t, _ in day]
        labels = [lab for _, lab in day]
        groups = clusters.average_linkage(sim(texts), threshold)
        assign = [0] * len(texts)
        for gi, g in enumerate(groups):
            for k in g:
                assign[k] = gi
        b, p, g = pair_scores(assign, labels)
        both, pred, gold = both + b, pred + p, gold + g
        h, n = matched(groups, labels)
        hit, big = hit + h, big + n
        n_found += sum(1 for g in groups if len(g) >= clusters.MIN_SIZE)
        n_true += sum(1 for lab in set(labels) if labels.count(lab) >= clusters.MIN_SIZE)
    precision = both / pred if pred else 0.0
    recall = both / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    f05 = 1.25 * precision * recall / (0.25 * precision + recall) if precision + recall else 0.0
    return {
        "P": precision,
        "R": recall,
        "F1": f1,
        "F0.5": f05,
        "topics": hit / big if big else 0.0,
        "found/true": n_found / n_true,
    }


def demo_day(data_dir: Path) -> tuple[list[str], list[str]]:
    """The bundled demo day replayed with the shipped model: one text per near-duplicate group of
    the messages in a thread someone answered, labelled by the thread (the known grouping)."""
    import tempfile
    from datetime import date

    from bot.cli import DEMO_DIR, main as cli
    from bot.config import load_config
    from bot.daily import default_embedder
    from bot.digest import day_bounds, dedupe, threads as threading
    from bot.digest.lines import has_text
    from bot.store import verdicts as verdicts_db
    from bot.wiring import open_store

    tmp = Path(tempfile.mkdtemp())
    cfg = tmp / "demo.toml"
    cfg.write_text(
        (DEMO_DIR / "demo.toml").read_text("utf-8") + f'\n[database]\nurl = "sqlite:///{tmp / "d.db"}"\n', "utf-8"
    )
    assert cli(["--config", str(cfg), "replay", str(DEMO_DIR / "sample_day.jsonl")]) == 0
    config = load_config(cfg)
    store = open_store(config)
    start, end = day_bounds(date(2026, 11, 25), config.digest_timezone())
    with store.sessions() as session:
        people = [
            am for am in verdicts_db.analysed_messages(session, "ai-dev-2026@chatroom", start, end) if has_text(am)
        ]
    store.close()
    dups = dedupe.cluster([(am.message.id, am.message.text) for am in people], default_embedder(config))
    found, _ = threading.find_threads(people, ads=set(), clusters=dups)
    thread_of: dict[str, str] = {}
    for i, t in enumerate(found):
        if t.answers():
            for am in (t.root, *t.replies, *t.copies):
                thread_of.setdefault(am.message.id, str(i))
    kept = [am for am in people if am.message.id in thread_of and dups.of(am.message.id) == am.message.id]
    return [am.message.text for am in kept], [thread_of[am.message.id] for am in kept]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--cache", type=Path, help="keep the texts' vectors in this file between runs")
    ap.add_argument("--only", default="", help="only the measures whose name has this")
    ap.add_argument("--demo", action="store_true", help="also the demo day, its threads as the grouping (slow)")
    args = ap.parse_args()
    from nlp.classify import ModelAnalyzer

    model = ModelAnalyzer(ROOT / "models" / "qunzhi")
    tune_sets, test_sets = load(args.data)
    tune = {k: days(v, args.days, 1) for k, v in tune_sets.items()}
    test = {k: days(v, args.days, 2) for k, v in test_sets.items()}
    cache: dict[tuple[int | None, str], np.ndarray] = {}
    if args.cache and args.cache.exists():
        cache.update(pickle.loads(args.cache.read_bytes()))

    def encoder(layer: int | None, centred: bool) -> Sim:
        def sim(texts: list[str]) -> np.ndarray:
            missing = [t for t in dict.fromkeys(texts) if (layer, t) not in cache]
            if missing:
                for t, v in zip(missing, model.embed(missing, layer=layer), strict=True):
                    cache[layer, t] = v
            vecs = np.stack([cache[layer, t] for t in texts])
            return centred_cosines(vecs) if centred else vecs @ vecs.T

        return sim

    measures: dict[str, tuple[Sim, list[float]]] = {
        f"layer {EMBED_LAYER} centred": (encoder(EMBED_LAYER, True), [0.0, 0.03, 0.06, 0.1, 0.15, 0.2, 0.25, 0.3]),
        f"layer {EMBED_LAYER} raw": (encoder(EMBED_LAYER, False), [0.7, 0.75, 0.8]),
        "last layer centred": (encoder(None, True), [0.05, 0.1, 0.2, 0.3, 0.4]),
        "word jaccard": (clusters.term_jaccard, [0.01, 0.02, 0.04, 0.06, 0.1, 0.15]),
        f"layer {EMBED_LAYER} centred + words": (
            lambda texts: encoder(EMBED_LAYER, True)(texts) + clusters.term_jaccard(texts),
            [0.15, 0.2, 0.25, 0.3, 0.4],
        ),
    }
    demo = [demo_day(args.data)] if args.demo else []
    for _, threads in demo:
        same = np.asarray(threads)[:, None] == np.asarray(threads)[None, :]
        chance = same[np.triu_indices(len(threads), 1)].mean()
        print(f"demo day: {len(threads)} texts in {len(set(threads))} threads; chance precision {chance:.3f}")
    print(f"{args.days} days per set; tune: {', '.join(tune)}; test: {', '.join(test)}")
    for name, (sim, grid) in measures.items():
        if args.only and args.only not in name:
            continue
        rows = []
        for th in grid:
            per = [score(d, sim, th) for d in tune.values()]
            rows.append((float(np.mean([p[OBJECTIVE] for p in per])), th, per))
        for f, th, per in rows:
            detail = "  ".join(
                f"{k} P {p['P']:.2f} R {p['R']:.2f} F1 {p['F1']:.3f}" for k, p in zip(tune, per, strict=True)
            )
            print(f"  tune {name:22} t={th:<5} mean {OBJECTIVE} {f:.3f}  {detail}")
        _, best, _ = max(rows)
        for k, d in test.items():
            s = score(d, sim, best)
            print(
                f"TEST {name:22} t={best:<5} {k:12} P {s['P']:.3f} R {s['R']:.3f} F1 {s['F1']:.3f} F0.5 {s['F0.5']:.3f} "
                f"topics found {s['topics']:.0%} found/true {s['found/true']:.2f}"
            )
        for texts, threads in demo:
            s = score([list(zip(texts, threads, strict=True))], sim, best)
            print(f"DEMO {name:22} t={best:<5} threads      P {s['P']:.3f} R {s['R']:.3f} F0.5 {s['F0.5']:.3f}")
    if args.cache:
        args.cache.write_bytes(pickle.dumps(cache))


if __name__ == "__main__":
    main()
