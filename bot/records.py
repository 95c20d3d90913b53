"""Read-side records: a stored message with what the analyzers said of it. Built by
``bot.store.verdicts``, read by the digest, moderation and commands — never by re-running a model."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.message import GroupMessage
from nlp.verdict import Entity, Verdict


@dataclass(frozen=True, slots=True)
class AnalysedMessage:
    message: GroupMessage
    verdicts: dict[str, Verdict] = field(default_factory=dict)  # analyzer name -> verdict
    entities: tuple[Entity, ...] = ()

    def label(self, analyzer: str) -> str | None:
        v = self.verdicts.get(analyzer)
        return v.label if v else None
