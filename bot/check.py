"""The checker: every verdict and entity of a message, as ``qunzhi predict`` and ``qunzhi extract``
print them, for the console's checker page and ``POST /api/v1/check``.

A :class:`Checker` builds the configured analyzers (the shared-encoder model, or the rules) and the
extractors (patterns, and the NER head when the config has one) once, on first use, and judges
messages without storing anything. The command line writes :meth:`CheckResult.predict_record` and
:meth:`CheckResult.extract_record`; the API and the page read the same results, so the shapes
cannot drift apart.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from bot.config import Config
from bot.pipeline import Extractor, MultiAnalyzer, as_multi, warm_up
from nlp.item import Item
from nlp.verdict import Entity, Verdict

if TYPE_CHECKING:
    from nlp.classify import Prediction

# The model's heads, whose probabilities it gives per label; other verdicts (the rules, the
# model's "ad_rules") have a score only, and a two-label one gets the rest for its other label.
MODEL_HEADS = ("ad", "useful", "intent")
_AD_PAIR = {"ad": "normal", "normal": "ad"}
_OTHER_LABEL = {"ad": _AD_PAIR, "ad_rules": _AD_PAIR, "useful": {"useful": "useless", "useless": "useful"}}


@dataclass(frozen=True, slots=True)
class CheckedVerdict:
    """One analyzer's verdict on a checked message, with the probability per label behind it."""

    task: str  # "ad", "ad_rules", "useful", "intent"
    label: str
    score: float  # confidence in label, 0..1
    p: dict[str, float]  # probability per label (the model's heads); the rules: label and its other
    reasons: tuple[str, ...]
    model: str  # weights or rules version


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Every verdict (in the analyzers' order) and entity (by position) of one message."""

    text: str
    topic: str
    verdicts: tuple[CheckedVerdict, ...]
    entities: tuple[Entity, ...]

    def verdict(self, task: str) -> CheckedVerdict:
        """The verdict of ``task``; KeyError when no analyzer gave one."""
        for v in self.verdicts:
            if v.task == task:
                return v
        raise KeyError(task)

    @property
    def intent(self) -> str | None:
        return next((v.label for v in self.verdicts if v.task == "intent"), None)

    def predict_record(self, task: str) -> dict[str, Any]:
        """What ``qunzhi predict --task TASK`` writes for this message."""
        v = self.verdict(task)
        return {"text": self.text, "label": v.label, "score": v.score, "p": v.p, "reasons": list(v.reasons)}

    def extract_record(self) -> dict[str, Any]:
        """What ``qunzhi extract`` writes for this message."""
        return {
            "text": self.text,
            "entities": [
                {
                    "type": e.type,
                    "start": e.start,
                    "end": e.end,
                    "text": e.text,
                    "score": round(e.score, 4),
                    **({"value": e.value} if e.value else {}),
                }
                for e in self.entities
            ],
            "intent": self.intent,
            "verdicts": {
                v.task: {"label": v.label, "score": round(v.score, 4), "reasons": list(v.reasons)}
                for v in self.verdicts
            },
        }


def rule_probs(task: str, v: Verdict) -> dict[str, float]:
    """A score-only verdict's probabilities: its label's score, and the rest for the other label of
    a two-label task (ad, useful)."""
    p = {v.label: v.score}
    other = _OTHER_LABEL.get(task, {})
    if v.label in other:
        p[other[v.label]] = round(1 - v.score, 6)
    return p


def checked_verdict(task: str, v: Verdict, prediction: Prediction | None) -> CheckedVerdict:
    p = getattr(prediction, task) if prediction is not None and task in MODEL_HEADS else rule_probs(task, v)
    return CheckedVerdict(task, v.label, v.score, dict(p), v.reasons, v.model)


def analyse_with_probs(
    analyzer: MultiAnalyzer, items: Sequence[Item]
) -> list[tuple[Prediction | None, dict[str, Verdict]]]:
    """Each item's verdicts, with the model's probabilities where the analyzer gives them."""
    with_probs = getattr(analyzer, "analyse_with_probs", None)
    if with_probs is not None:
        found: list[tuple[Prediction | None, dict[str, Verdict]]] = with_probs(items)
        return found
    return [(None, verdicts) for verdicts in analyzer.analyse_all(items)]


class Checker:
    """The configured analyzers and extractors, loaded once, judging messages on demand.

    Thread-safe: one check runs at a time (the model's tokenizer and topic cache are not made for
    concurrent calls, and on a few cores two forward passes side by side are no faster than one
    after the other)."""

    def __init__(self, config: Config, *, ner: bool | None = None, threads: int | None = None) -> None:
        """``ner``: run the NER head (when the config has a NER model) beside the patterns; None
        follows ``analysis.ner``, as the pipeline does. ``threads``: the models' threads, instead
        of ``models.threads``."""
        if threads is not None:
            config = config.model_copy(update={"models": config.models.model_copy(update={"threads": threads})})
        self.config = config
        self.ner = ner
        self._lock = threading.Lock()
        self._analyzers: list[MultiAnalyzer] | None = None
        self._extractors: list[Extractor] | None = None

    def _loaded_analyzers(self) -> list[MultiAnalyzer]:
        if self._analyzers is None:
            from bot.wiring import build_analyzers

            self._analyzers = [as_multi(a) for a in build_analyzers(self.config)]
        return self._analyzers

    def _loaded_extractors(self) -> list[Extractor]:
        """Patterns and, as :attr:`ner` says, the NER head."""
        if self._extractors is None:
            from bot.wiring import build_extractors

            self._extractors = build_extractors(self.config, ner=self.ner)
        return self._extractors

    def warm_up(self) -> None:
        """Load the models and dictionaries now rather than on the first check."""
        with self._lock:
            warm_up(self._loaded_analyzers(), self._loaded_extractors())

    def check(self, text: str, topic: str = "", now: datetime | None = None) -> CheckResult:
        """One message's verdicts and entities; relative times are resolved against ``now``."""
        return self.check_many([text], topic, now)[0]

    def check_many(
        self, texts: Sequence[str], topic: str = "", now: datetime | None = None, *, entities: bool = True
    ) -> list[CheckResult]:
        """Messages of one topic, judged together (batched); ``entities=False`` skips the extractors."""
        sent_at = now or datetime.now(timezone.utc)
        items = [Item(text=t, topic=topic, sent_at=sent_at) for t in texts]
        with self._lock:
            verdicts: list[list[CheckedVerdict]] = [[] for _ in items]
            for analyzer in self._loaded_analyzers():
                for i, (prediction, found) in enumerate(analyse_with_probs(analyzer, items)):
                    verdicts[i].extend(checked_verdict(task, v, prediction) for task, v in found.items())
            found_entities: list[list[Entity]] = [[] for _ in items]
            for extractor in self._loaded_extractors() if entities else []:
                for i, extracted in enumerate(extractor.extract(items)):
                    found_entities[i].extend(extracted)
        return [
            CheckResult(item.text, topic, _by_task(vs), tuple(sorted(ents, key=lambda e: (e.start, e.end))))
            for item, vs, ents in zip(items, verdicts, found_entities)
        ]


def _by_task(verdicts: list[CheckedVerdict]) -> tuple[CheckedVerdict, ...]:
    """One verdict per task, the last analyzer's winning (as ``dict.update`` in ``qunzhi extract``)."""
    out: dict[str, CheckedVerdict] = {}
    for v in verdicts:
        out[v.task] = v
    return tuple(out.values())


# The console checks one message at a time, and on one thread: a single message gains little from
# two, and the threads of one parallel step wait for each other, so while anything else runs on
# the cores (``qunzhi run`` beside the console, say) each step waits for the slowest. Measured on
# 2 busy cores (benchmarks/api_check.py): p99 of the model's forward pass 23 ms on one thread,
# 780 ms on two.
CHECK_THREADS = 1


@functools.lru_cache(maxsize=4)
def shared_checker(config: Config) -> Checker:
    """The process's checker for ``config`` (on :data:`CHECK_THREADS`): the console's pages and API
    share it, and ``qunzhi web`` warms it up before serving."""
    return Checker(config, threads=CHECK_THREADS)
