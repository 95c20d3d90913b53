"""The GPU worker's model path, measured side by side in one run: where the time goes per batch size.

    python3 benchmarks/gpu_worker.py                   # on a machine with a GPU (cuda), else the CPU
    .venv/bin/python benchmarks/gpu_worker.py --messages 2000 --device cpu

For each batch size (64, 256, 1024 messages; a token budget of 64 per message), with the model as
``qunzhi worker --device cuda`` runs it (bfloat16 encoder, float32 heads, prefetching tokenizer):

1. tokenizing alone: normalised texts to padded, length-sorted batches (``ModelAnalyzer.batches``
   over windows of the batch size), on one core (``TOKENIZERS_PARALLELISM=false`` unless
   ``--parallel-tokenizer``): what the prefetch thread must keep up with;
2. encoder and heads alone: those batches already on the device (synchronised before the clock stops);
3. end to end, ``ModelAnalyzer.predict``: normalising, tokenizing, the model, the heads, the
   probabilities back on the host and the ad policies; with the prefetch thread and without;
4. once, at the largest batch: ``analyse_all``, the verdicts as the worker stores them, which adds the
   rule baseline's verdicts (reasons and ``ad_rules``; CPU work, and jieba must be installed).

Messages are the bundled demo day (our own writing) repeated with a lap number after each text, a
fresh lap for every round, so no per-text cache is flattered. Each figure is the median of
``--rounds`` rounds after a warm-up. Not a test: numbers depend on the machine; compare the ratios.
Needs torch, transformers, tokenizers, safetensors and numpy (the GPU machines' image has them).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SAMPLE = ROOT / "bot" / "demo" / "sample_day.jsonl"
MODEL = ROOT / "models" / "qunzhi"
TOPIC = "人工智能 大模型"
BATCH_SIZES = (64, 256, 1024)
TOKENS_PER_MESSAGE = 64  # the token budget of a batch: batch size x this (the cuda default, 1024 x 64)
PREFETCH = "end to end (predict), prefetch"
NO_PREFETCH = "end to end (predict), no prefetch"
VERDICTS = "verdicts (analyse_all, rules beside)"


def demo_lap_texts(n: int, lap: int) -> list[str]:
    """``n`` texts of the demo day, each with " (lap.k)" after it, so every lap's texts are new."""
    day = [json.loads(line)["text"] for line in SAMPLE.read_text("utf-8").splitlines() if line.strip()]
    return [f"{day[i % len(day)]} ({lap}.{i // len(day)})" for i in range(n)]


def median_rate(n: int, rounds: int, run: Callable[[int], None], sync: Callable[[], None]) -> float:
    """Messages/s, the median over ``rounds`` calls of ``run(round)`` (each on ``n`` messages)."""
    rates = []
    for r in range(rounds):
        started = time.perf_counter()
        run(r)
        sync()
        rates.append(n / (time.perf_counter() - started))
    return statistics.median(rates)


def measure(model: Any, n: int, rounds: int, sync: Callable[[], None], verdicts: int) -> dict[str, float]:
    """The rows of one batch size (``model.batch_size``): messages/s per measure."""
    import torch

    from nlp.encoder import PASSAGE
    from nlp.item import Item
    from nlp.normalize import normalize

    size = model.batch_size
    warm = demo_lap_texts(512, 0)
    model.predict(warm, [TOPIC] * len(warm))  # kernels chosen, topic embedded and cached
    laps = [demo_lap_texts(n, size * 100 + r + 1) for r in range(rounds)]
    norm = [[normalize(t).text for t in texts] for texts in laps]
    staged = [list(model.staged_batches(texts, PASSAGE)) for texts in norm]
    topic = model._topic_vectors([TOPIC])  # the cached topic vector, as predict reads it

    def tokenize(r: int) -> None:
        for start in range(0, n, size):
            model.batches(norm[r][start : start + size], PASSAGE)

    def encode(r: int) -> None:
        with torch.inference_mode():
            for _, input_ids, mask in staged[r]:
                u = model.encode_batch(input_ids, mask)
                model.net.ad_logits(u), model.net.intent_logits(u)
                model.net.useful_logits(u, topic.expand(len(u), -1))

    def predict(r: int) -> None:
        model.predict(laps[r], [TOPIC] * n)

    row = {"tokenizing": median_rate(n, rounds, tokenize, sync), "encoder+heads": median_rate(n, rounds, encode, sync)}
    staged.clear()
    row[PREFETCH] = median_rate(n, rounds, predict, sync)
    model.prefetch = False
    laps = [demo_lap_texts(n, size * 100 + 50 + r) for r in range(rounds)]  # fresh texts: no cache hits
    row[NO_PREFETCH] = median_rate(n, rounds, predict, sync)
    model.prefetch = True
    if verdicts and importlib.util.find_spec("jieba") is not None:
        items = [[Item(t, TOPIC) for t in demo_lap_texts(verdicts, 9000 + r)] for r in range(rounds)]
        model.analyse_all(items[0][:64])  # the rules load their lexicons and jieba
        row[VERDICTS] = median_rate(verdicts, rounds, lambda r: model.analyse_all(items[r]), sync)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when torch sees a GPU)")
    parser.add_argument("--messages", type=int, default=None, help="per round (default 50,000 on cuda, 1,000 on cpu)")
    parser.add_argument("--verdict-messages", type=int, default=None, help="for analyse_all (default a fifth)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (one per worker)")
    parser.add_argument("--parallel-tokenizer", action="store_true", help="let the tokenizer use every core")
    args = parser.parse_args(argv)
    if not args.parallel_tokenizer:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"  # read when the tokenizer first encodes a batch

    import torch

    from nlp.classify import ModelAnalyzer

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    on_gpu = device.startswith("cuda")
    n = args.messages or (50_000 if on_gpu else 1_000)
    n_verdicts = args.verdict_messages or max(n // 5, 1)
    rounds = args.rounds

    def sync() -> None:
        if on_gpu:
            torch.cuda.synchronize()

    name = torch.cuda.get_device_name(0) if on_gpu else "CPU"
    rows: dict[str, dict[int, float]] = {}
    for size in BATCH_SIZES:
        started = time.perf_counter()
        model = ModelAnalyzer(
            MODEL,
            device=device,
            precision="bf16",
            threads=args.threads,
            batch_size=size,
            batch_tokens=size * TOKENS_PER_MESSAGE,
            prefetch=True,
            trace=False,
        )
        row = measure(model, n, rounds, sync, n_verdicts if size == BATCH_SIZES[-1] else 0)
        for label, rate in row.items():
            rows.setdefault(label, {})[size] = rate
        print(f"batch {size}: measured in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)

    tokenizer_cores = "every core" if args.parallel_tokenizer else "one core"
    print(
        f"device: {device} ({name}), torch {torch.__version__}, bf16 encoder, {args.threads} torch thread(s), "
        f"tokenizer on {tokenizer_cores}; {n} messages per round ({n_verdicts} for analyse_all), "
        f"median of {rounds} rounds"
    )
    print()
    print(f"{'messages/s':40}" + "".join(f"{'batch ' + str(s):>12}" for s in BATCH_SIZES))
    for label, by_size in rows.items():
        print(f"{label:40}" + "".join(f"{by_size[s]:>12,.0f}" if s in by_size else f"{'':>12}" for s in BATCH_SIZES))
    if VERDICTS not in rows:
        print("verdicts (analyse_all): not measured, jieba is not installed here (the rules need it)")
    print()
    print("ratios")
    for label, top, bottom in (
        ("encoder+heads / tokenizing", "encoder+heads", "tokenizing"),
        ("end to end / encoder+heads", PREFETCH, "encoder+heads"),
        ("end to end / tokenizing", PREFETCH, "tokenizing"),
        ("prefetch / no prefetch, end to end", PREFETCH, NO_PREFETCH),
    ):
        print(f"  {label:38}" + "".join(f"{rows[top][s] / rows[bottom][s]:>12.2f}" for s in BATCH_SIZES))
    big, small = BATCH_SIZES[-1], BATCH_SIZES[0]
    print(
        f"  {f'batch {big} / batch {small}, encoder+heads':38}{rows['encoder+heads'][big] / rows['encoder+heads'][small]:>12.2f}"
    )
    verdicts = rows.get(VERDICTS)
    if verdicts:
        share = verdicts[big] / rows[PREFETCH][big]
        print(f"  {f'analyse_all / predict, batch {big}':38}{share:>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
