"""What the analyzers and extractors read: one message's text, its group's topic, its kind and time. Stdlib only.

``kind`` is a message-kind string (``bot.message.MessageKind`` values are ``str``, so they can be passed
straight in without ``nlp`` importing ``bot``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

KINDS: frozenset[str] = frozenset(
    {"text", "image", "link", "file", "sticker", "voice", "video", "quote", "system", "other"}
)
MEDIA_KINDS: frozenset[str] = frozenset({"image", "sticker", "voice", "video"})


@dataclass(frozen=True, slots=True)
class Item:
    text: str
    topic: str = ""  # the group's topic or name; "" when unknown
    kind: str = "text"  # one of KINDS
    sent_at: datetime | None = None  # aware; what relative times ("明晚8点") are resolved against

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise TypeError(f"Item.text must be str, got {type(self.text).__name__}")
        if self.kind not in KINDS:
            raise ValueError(f"Item.kind must be one of {sorted(KINDS)}, got {self.kind!r}")
