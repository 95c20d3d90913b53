"""What every analyzer returns. Stdlib only."""

from __future__ import annotations

from dataclasses import dataclass

# The intents every intent analyzer (rules or model) chooses from; the model's head uses this order.
INTENTS: tuple[str, ...] = (
    "question",
    "answer",
    "announcement",
    "link_share",
    "job_post",
    "ad",
    "request",
    "chitchat",
    "other",
)

# The model calls a message useful from p(useful) 0.3 up, not 0.5. Its useful head under-calls
# "useful" for topics it never saw and for chat-style messages (its positives are headlines): on two
# dev proxies for unseen topics (held-out-topic pairs built from the dev split; SMP assistant
# domains as group topics) F1 rose 0.755 -> 0.793 and 0.535 -> 0.625 from 0.5 to 0.3, while dev
# pairs on the seen topics went 0.942 -> 0.941. ``models.useful_threshold`` overrides it; the
# docs/model-card.md has the test numbers both ways.
USEFUL_THRESHOLD = 0.3

# How the encoder runs (``models.precision``; see nlp.classify.ModelAnalyzer).
PRECISIONS: tuple[str, ...] = ("int8", "bf16", "fp32")


@dataclass(frozen=True, slots=True)
class Verdict:
    analyzer: str  # "ad", "useful", "intent"
    label: str  # "ad" / "normal", "useful" / "useless", "question", ..., or "skipped"
    score: float  # confidence in label, 0..1
    reasons: tuple[str, ...] = ()  # ("model p=0.97", "keyword 加V")
    model: str = ""  # weights or rules version

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"Verdict.score must be within 0..1, got {self.score}")
        if not isinstance(self.reasons, tuple):
            object.__setattr__(self, "reasons", tuple(self.reasons))

    @classmethod
    def skipped(cls, analyzer: str, why: str) -> Verdict:
        return cls(analyzer, "skipped", 0.0, (why,))


@dataclass(frozen=True, slots=True)
class Entity:
    type: str  # PER, LOC, ORG, URL, PHONE, WECHAT, QQ, EMAIL, MONEY, TIME, ...
    start: int  # character offset, inclusive
    end: int  # character offset, exclusive
    text: str
    score: float = 1.0
    source: str = ""  # "regex", "model", ...
    value: str = ""  # normalised value: ISO 8601 time for TIME, digits for PHONE, amount for MONEY, ...
