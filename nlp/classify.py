"""Batched inference with the shared encoder: every verdict of a message from one forward pass.

``ModelAnalyzer.analyse_all(items)`` normalises each text (undoing evasions), sorts the batch by
length so padding stays small, runs the encoder once per message, and reads the three heads. The
topic of each item is embedded once and cached. Each verdict carries the model's probability, the
runner-up and, for ads, the rule signals that fired (``nlp.rules``) as its reasons.

``device="cuda"`` runs the same code on a GPU (the GPU worker): the encoder in bfloat16, large
batches, and tokenizing in a background thread that prepares the next window of messages while the
GPU runs the current one (:meth:`ModelAnalyzer.staged_batches`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from nlp.encoder import PASSAGE, QUERY, mean_pool, quantize_int8
from nlp.errors import ModelError
from nlp.item import MEDIA_KINDS, Item
from nlp.model import AD_LABELS, USEFUL_LABELS, load, traced_embed
from nlp.normalize import normalize, normalized
from nlp.policy import POLICY_SCORE, overrides
from nlp.rules import VERSION as RULES_VERSION, ad_signals_cached
from nlp.verdict import INTENTS, PRECISIONS, USEFUL_THRESHOLD, Verdict


@dataclass(frozen=True, slots=True)
class Prediction:
    """Probabilities per label for each head (what ``qunzhi predict`` prints)."""

    ad: dict[str, float]
    useful: dict[str, float]
    intent: dict[str, float]
    # the ad policy that fired (nlp/policy.py) with the model's own p(ad), else "": a policy raises
    # p(ad) to at least POLICY_SCORE
    policy: str = ""


def _probs(logits: torch.Tensor, labels: Sequence[str]) -> list[dict[str, float]]:
    p = torch.softmax(logits.float(), dim=-1).tolist()
    return [{label: round(v, 6) for label, v in zip(labels, row)} for row in p]


def _rule_reason(v: Verdict) -> list[str]:
    detail = next((r for r in v.reasons if not r.startswith("rules p")), "")
    return [f"rules say {v.label}" + (f" ({detail})" if detail else "")]


def _best(p: dict[str, float]) -> tuple[str, float]:
    label = max(p, key=p.__getitem__)
    return label, p[label]


# what ModelAnalyzer batches by when the caller does not say: (batch_size, batch_tokens) per device
# type. A GPU wants many messages per forward pass (46,000 messages/s at 1,024 on an H200, see
# docs/model-card.md#gpu-worker); the CPU ones are the measured best for two cores.
BATCH_DEFAULTS: dict[str, tuple[int, int]] = {"cpu": (32, 512), "cuda": (1024, 65536)}


def resolve_device(device: str) -> torch.device:
    """``"cpu"``, ``"cuda"`` or ``"cuda:N"`` as a torch device; :class:`ModelError` when a GPU is
    asked for and torch sees none (a CPU-only torch build, no driver, or N too large)."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        dev = None
    if dev is None or dev.type not in BATCH_DEFAULTS:
        raise ValueError(f"device must be cpu, cuda or cuda:N, got {device!r}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise ModelError(
                f"device {device!r}: torch {torch.__version__} ({build}) sees no CUDA GPU; "
                "run on a machine with one, or with device cpu"
            )
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ModelError(f"device {device!r}: torch sees {count} CUDA GPU(s), numbered from 0")
    return dev


# one forward pass's input on the analyzer's device: (positions in the input, input_ids, attention_mask)
Staged = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class ModelAnalyzer:
    """The transformer analyzers (ad, useful, intent) behind one forward pass per message."""

    # "ad_rules" is the rule baseline's ad verdict, kept beside the model's so moderation can ask
    # for both judges to agree before acting on a person (see bot/moderation.py).
    names = ("ad", "useful", "intent", "ad_rules")

    def __init__(
        self,
        model_dir: Path | str,
        *,
        threads: int | None = 2,
        batch_size: int | None = None,
        precision: str = "int8",
        max_length: int = 128,
        batch_tokens: int | None = None,
        topic_cache: int = 512,
        trace: bool = True,
        useful_threshold: float = USEFUL_THRESHOLD,
        device: str = "cpu",
        prefetch: bool | None = None,
    ) -> None:
        """``precision`` (:data:`PRECISIONS`): ``int8`` quantises the encoder's linear layers at load
        (fastest; activations are scaled per batch, so a message's probabilities move with the
        messages batched beside it), ``bf16`` runs the encoder in bfloat16 (within 0.03 of fp32 and
        the same whatever the batch; fast only on CPUs with native bfloat16), ``fp32`` as trained.
        ``trace``: run the encoder as a TorchScript graph recorded at load (``nlp.model.traced_embed``,
        checked there against the eager forward); ``False`` runs the eager transformers module.
        ``useful_threshold``: the p(useful) from which a message is useful (:data:`USEFUL_THRESHOLD`).

        ``device``: ``cpu``, or ``cuda``/``cuda:N`` for a GPU (:class:`ModelError` when torch sees
        none). On a GPU, int8 (CPU-only quantisation, and the config's default) runs as bf16, so
        ``version`` ends in ``-bf16``; fp32 and bf16 run as asked. ``trace`` applies on the CPU only: the
        GPU runs the eager module (its Python time is small beside a 1,024-message batch, and the
        trace's check against the eager forward has not been measured on a GPU).
        ``batch_size``/``batch_tokens`` default per device (:data:`BATCH_DEFAULTS`).
        ``prefetch`` (default: on for cuda, off for cpu, where it changes which messages share a
        batch and so int8's numbers): tokenize in a background thread, see :meth:`staged_batches`."""
        if not 0.0 <= useful_threshold <= 1.0:
            raise ValueError(f"useful_threshold must be within 0..1, got {useful_threshold}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.device = resolve_device(device)
        on_gpu = self.device.type == "cuda"
        if on_gpu and precision == "int8":
            precision = "bf16"  # dynamic int8 quantisation is CPU-only; bfloat16 is the GPU's fast path
        self.precision = precision
        self.useful_threshold = useful_threshold
        if threads:
            torch.set_num_threads(threads)
        net, self.tokenizer, self.manifest = load(model_dir)
        if precision == "int8":
            net = quantize_int8(net)
        elif precision == "bf16":
            # the heads stay float32; embed() pools in float32 (the cast: transformers' wrapped .to() has no signature)
            cast(torch.nn.Module, net.encoder).to(torch.bfloat16)
        if on_gpu:
            net = net.to(self.device)
        self.net = net.eval()
        self.version = str(self.manifest.get("version", Path(model_dir).name)) + (
            "" if precision == "fp32" else f"-{precision}"
        )
        default_size, default_tokens = BATCH_DEFAULTS[self.device.type]
        self.batch_size = batch_size if batch_size is not None else default_size
        self.batch_tokens = batch_tokens if batch_tokens is not None else default_tokens
        if self.batch_size < 1 or self.batch_tokens < 1:
            raise ValueError(f"batch_size and batch_tokens must be at least 1, got {batch_size}, {batch_tokens}")
        self.prefetch = on_gpu if prefetch is None else prefetch
        self._pin = on_gpu  # page-locked host copies, so the copy to the GPU runs beside its work
        self._tokenizing: ThreadPoolExecutor | None = None  # the prefetch thread, started on first use
        self._tokenizer_lock = threading.Lock()  # the Rust tokenizer is not to be called from two threads at once
        self.max_length = max_length
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 1
        self._topics: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._topic_cache = topic_cache
        self._lock = threading.Lock()
        self._rules: dict[str, Any] | None = None
        # the encoder forward the analyzer runs: (input_ids, attention_mask) -> embeddings
        self.traced = trace and not on_gpu
        self.encode_batch = traced_embed(net, self._trace_checks()) if self.traced else net.embed

    def _trace_checks(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Batches to record and check the trace on: padded, one long message cut at ``max_length``,
        and a single short one."""
        shapes = [
            [PASSAGE + "今天下午三点在三楼会议室开会，记得带电脑", QUERY + "人工智能", PASSAGE + "好的"],
            [PASSAGE + "群公告：本周六上午九点线上分享大模型推理优化，欢迎报名。" * 12],
            [PASSAGE + "哈哈"],
        ]
        out = []
        for texts in shapes:
            enc = self.tokenizer(texts, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt")
            out.append((enc["input_ids"], enc["attention_mask"]))
        return out

    # -- embeddings -----------------------------------------------------------------------

    def batches(self, texts: Sequence[str], prefix: str) -> list[tuple[list[int], torch.Tensor, torch.Tensor]]:
        """``(positions, input_ids, attention_mask)`` per forward pass. Tokenized once, sorted by
        length, and cut into batches of at most ``batch_size`` messages and ``batch_tokens`` padded
        tokens, so one long announcement does not make thirty short replies pay for its padding."""
        with self._tokenizer_lock:
            ids = self.tokenizer([prefix + t for t in texts], truncation=True, max_length=self.max_length)["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        out = []
        start = 0
        while start < len(order):
            end = start + 1
            while (
                end < len(order)
                and end - start < self.batch_size
                and (end - start + 1) * len(ids[order[end]]) <= self.batch_tokens
            ):
                end += 1
            idx = order[start:end]
            width = len(ids[idx[-1]])
            input_ids = np.full((len(idx), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                input_ids[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1
            out.append((idx, torch.from_numpy(input_ids), torch.from_numpy(mask)))
            start = end
        return out

    def _window(self, texts: Sequence[str], prefix: str, start: int) -> list[Staged]:
        """:meth:`batches` of one prefetch window (texts from position ``start``), the positions as a
        tensor, everything in page-locked memory on a GPU machine. Runs in the prefetch thread."""
        out = []
        for idx, input_ids, mask in self.batches(texts, prefix):
            positions = torch.tensor(idx, dtype=torch.int64) + start
            if self._pin:
                positions, input_ids, mask = positions.pin_memory(), input_ids.pin_memory(), mask.pin_memory()
            out.append((positions, input_ids, mask))
        return out

    def staged_batches(self, texts: Sequence[str], prefix: str) -> Iterator[Staged]:
        """``(positions, input_ids, attention_mask)`` on the analyzer's device, batch by batch.

        Without prefetch: :meth:`batches` over all texts, copied to the device (no copy on the CPU).
        With prefetch: the texts are cut into windows of ``batch_size`` messages; a background
        thread tokenizes, sorts and pads window j+1 (:meth:`_window`) while the caller runs the
        batches of window j, so on a GPU only the first window's tokenizing is on the critical path.
        The copies are ``non_blocking`` from page-locked memory: they queue behind the GPU's work
        instead of waiting for it. A tokenizer error in the thread is raised here."""
        if not self.prefetch:
            for idx, input_ids, mask in self.batches(texts, prefix):
                positions = torch.tensor(idx, dtype=torch.int64)
                yield positions.to(self.device), input_ids.to(self.device), mask.to(self.device)
            return
        if self._tokenizing is None:
            self._tokenizing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qunzhi-tokenize")
        starts = range(0, len(texts), self.batch_size)
        ahead: Future[list[Staged]] | None = None
        for k, start in enumerate(starts):
            current = (
                ahead.result()
                if ahead is not None
                else self._window(texts[start : start + self.batch_size], prefix, start)
            )
            if k + 1 < len(starts):
                nxt = starts[k + 1]
                ahead = self._tokenizing.submit(self._window, texts[nxt : nxt + self.batch_size], prefix, nxt)
            for positions, input_ids, mask in current:
                yield (
                    positions.to(self.device, non_blocking=True),
                    input_ids.to(self.device, non_blocking=True),
                    mask.to(self.device, non_blocking=True),
                )

    @torch.inference_mode()
    def _embed(self, texts: Sequence[str], prefix: str) -> torch.Tensor:
        """Embeddings in input order on the analyzer's device, computed over :meth:`staged_batches`."""
        out = torch.empty(len(texts), self.net.ad.in_features, device=self.device)
        for idx, input_ids, mask in self.staged_batches(texts, prefix):
            out[idx] = self.encode_batch(input_ids, mask).float()
        return out

    @torch.inference_mode()
    def embed(self, texts: Sequence[str], layer: int | None = None) -> np.ndarray:
        """The encoder's embedding of each text, normalised as the heads see it: mean-pooled over
        tokens and L2-normalised, float32 rows in input order (a dot product is a cosine).

        ``layer=None`` is the last layer, the one the heads read. The heads' training pulls that
        one together by task (all chit-chat alike, all ads alike); a lower layer (``0`` being the
        token embeddings) keeps more of the wording, which is what near-duplicates need."""
        dim = self.net.ad.in_features
        if layer is not None and not 0 <= layer <= self.net.encoder.config.num_hidden_layers:
            raise ValueError(f"layer must be within 0..{self.net.encoder.config.num_hidden_layers}, got {layer}")
        if not texts:
            return np.zeros((0, dim), dtype=np.float32)
        norm = [normalize(t).text for t in texts]
        if layer is None:
            return self._embed(norm, PASSAGE).cpu().numpy().astype(np.float32, copy=False)
        out = torch.empty(len(norm), dim, device=self.device)
        for idx, input_ids, mask in self.staged_batches(norm, PASSAGE):
            states = self.net.encoder(input_ids=input_ids, attention_mask=mask, output_hidden_states=True).hidden_states
            out[idx] = torch.nn.functional.normalize(mean_pool(states[layer].float(), mask), dim=-1)
        return out.cpu().numpy()

    def _topic_vectors(self, topics: Sequence[str]) -> torch.Tensor:
        with self._lock:
            missing = sorted({t for t in topics if t not in self._topics})
            if missing:
                for t, v in zip(missing, self._embed(missing, QUERY)):
                    self._topics[t] = v
                while len(self._topics) > self._topic_cache:
                    self._topics.popitem(last=False)
            for t in set(topics):
                self._topics.move_to_end(t)
            return torch.stack([self._topics[t] for t in topics])

    # -- predictions ----------------------------------------------------------------------

    @torch.inference_mode()
    def predict(self, texts: Sequence[str], topics: Sequence[str] | None = None) -> list[Prediction]:
        if not texts:
            return []
        topics = list(topics) if topics is not None else [""] * len(texts)
        if len(topics) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(topics)} topics")
        norm = [normalized(t).text for t in texts]
        u = self._embed(norm, PASSAGE)
        t = self._topic_vectors([tp.strip() for tp in topics])
        ad = _probs(self.net.ad_logits(u), AD_LABELS)
        useful = _probs(self.net.useful_logits(u, t), USEFUL_LABELS)
        intent = _probs(self.net.intent_logits(u), INTENTS)
        policies = [""] * len(texts)
        for i, text in enumerate(texts):
            hit = ad_signals_cached(text).policy  # computed once per text, shared with the ad rules
            if overrides(hit, ad[i]["ad"]):
                policies[i] = f"{hit.reason} (model p(ad)={ad[i]['ad']:.2f})"
                ad[i] = {"normal": round(1.0 - POLICY_SCORE, 6), "ad": POLICY_SCORE}
        return [Prediction(a, b, c, pol) for a, b, c, pol in zip(ad, useful, intent, policies)]

    def analyse_all(self, items: Sequence[Item]) -> list[dict[str, Verdict]]:
        return [verdicts for _, verdicts in self.analyse_with_probs(items)]

    def analyse_with_probs(self, items: Sequence[Item]) -> list[tuple[Prediction | None, dict[str, Verdict]]]:
        """Verdicts per item (and the probabilities behind them; None for system messages)."""
        out: list[tuple[Prediction | None, dict[str, Verdict]] | None] = [None] * len(items)
        todo = []
        for i, it in enumerate(items):
            if it.kind == "system":
                out[i] = (None, self._system(it))
            else:
                todo.append(i)
        todo_items = [items[i] for i in todo]
        preds = self.predict([it.text for it in todo_items], [it.topic for it in todo_items])
        rule_views = self._rule_verdicts(todo_items)
        for k, (i, p) in enumerate(zip(todo, preds)):
            out[i] = (p, self.verdicts_for(items[i], p, {name: vs[k] for name, vs in rule_views.items()}))
        return [o for o in out if o is not None]

    def _rule_verdicts(self, items: Sequence[Item]) -> dict[str, list[Verdict]]:
        """What the rule baseline says, kept as reasons beside the model's verdicts."""
        if self._rules is None:
            from nlp.rules import AdRules, IntentRules, UsefulRules

            ad = AdRules()
            self._rules = {"ad_rules": ad, "useful": UsefulRules(ad=ad), "intent": IntentRules(ad=ad)}
        views = {name: rules.analyse(items) for name, rules in self._rules.items()}
        views["ad_rules"] = [replace(v, analyzer="ad_rules") for v in views["ad_rules"]]
        return views

    def _system(self, item: Item) -> dict[str, Verdict]:
        why = ("system message: not analysed",)
        return {
            "ad": Verdict("ad", "normal", 1.0, why, self.version),
            "ad_rules": Verdict("ad_rules", "normal", 1.0, why, RULES_VERSION),
            "useful": Verdict("useful", "useless", 1.0, why, self.version),
            "intent": Verdict("intent", "other", 1.0, why, self.version),
        }

    def decide(self, task: str, probs: dict[str, float]) -> tuple[str, float]:
        """The label of one head's probabilities and its confidence: the likeliest label, except
        that ``useful`` is decided at :attr:`useful_threshold`."""
        if task == "useful":
            label = "useful" if probs["useful"] >= self.useful_threshold else "useless"
            return label, probs[label]
        return _best(probs)

    def verdicts_for(self, item: Item, p: Prediction, rules: dict[str, Verdict]) -> dict[str, Verdict]:
        """The model's verdicts from its probabilities, with the rule baseline's (``rules``, keyed
        ad_rules / useful / intent) as reasons, and its ad verdict kept as ``ad_rules``."""
        ad_label, ad_score = _best(p.ad)
        signals = ad_signals_cached(item.text)
        ad_reasons = (p.policy or f"model p(ad)={p.ad['ad']:.2f}", *(r for _, r in signals.reasons[:5]))
        useful_label, useful_score = self.decide("useful", p.useful)
        useful_reasons = [
            f"model p(useful)={p.useful['useful']:.2f} for topic {item.topic or '(none)'}"
            f" (useful from {self.useful_threshold:.2f})"
        ]
        if item.kind in MEDIA_KINDS and len(item.text) <= 8:
            useful_reasons.append(f"{item.kind} without text")
        useful_reasons += _rule_reason(rules["useful"])
        ranked = sorted(p.intent.items(), key=lambda kv: -kv[1])
        intent_label, intent_score = ranked[0]
        intent_reasons = (
            f"model p({intent_label})={intent_score:.2f}",
            f"next {ranked[1][0]} {ranked[1][1]:.2f}",
            *_rule_reason(rules["intent"]),
        )
        return {
            "ad": Verdict("ad", ad_label, round(ad_score, 4), ad_reasons, self.version),
            "ad_rules": rules["ad_rules"],
            "useful": Verdict("useful", useful_label, round(useful_score, 4), tuple(useful_reasons), self.version),
            "intent": Verdict("intent", intent_label, round(intent_score, 4), intent_reasons, self.version),
        }
