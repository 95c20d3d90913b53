"""The one message type past the platform edge, and the platform protocol adapters implement.

Adapters (Wechaty, JSONL replay, MemoTrace CSV import) convert whatever they receive into a frozen
:class:`GroupMessage`; nothing past them sees a platform object. Stdlib only.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol


class MessageKind(enum.StrEnum):
    TEXT = "text"
    IMAGE = "image"
    LINK = "link"
    FILE = "file"
    STICKER = "sticker"
    VOICE = "voice"
    VIDEO = "video"
    QUOTE = "quote"
    SYSTEM = "system"
    OTHER = "other"


class MessageError(ValueError):
    """A message that cannot be represented: names the field that is wrong."""


@dataclass(frozen=True, slots=True)
class GroupMessage:
    id: str  # unique per source
    source: str  # "wechaty" | "replay" | "memotrace"
    group_id: str
    sender_id: str
    sender_name: str
    sent_at: datetime  # aware, UTC
    kind: MessageKind
    text: str
    group_topic: str = ""  # the room's name as the platform shows it
    mentions: tuple[str, ...] = field(default=())  # contact ids mentioned
    mentions_bot: bool = False
    reply_to: str | None = None  # id of the quoted message, when the platform says
    quote: str = ""  # the quoted message as WeChat shows it ("name：text"), when there is no id

    def __post_init__(self) -> None:
        for name in ("id", "source", "group_id", "sender_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise MessageError(f"{name}: must be a non-empty string, got {value!r}")
        if not isinstance(self.sent_at, datetime) or self.sent_at.tzinfo is None:
            raise MessageError(f"sent_at: must be a timezone-aware datetime, got {self.sent_at!r}")
        if self.sent_at.utcoffset() != timezone.utc.utcoffset(None):
            object.__setattr__(self, "sent_at", self.sent_at.astimezone(timezone.utc))
        if not isinstance(self.kind, MessageKind):
            try:
                object.__setattr__(self, "kind", MessageKind(self.kind))
            except ValueError:
                raise MessageError(f"kind: unknown message kind {self.kind!r}") from None
        if not isinstance(self.text, str):
            raise MessageError(f"text: must be a string, got {type(self.text).__name__}")
        if not isinstance(self.mentions, tuple):
            object.__setattr__(self, "mentions", tuple(self.mentions))


@dataclass(frozen=True, slots=True)
class RoomInfo:
    """A room as the platform describes it: its name and who runs it (contact ids)."""

    group_id: str
    topic: str = ""
    owner_id: str | None = None
    admin_ids: tuple[str, ...] = ()


class PlatformError(Exception):
    """A platform operation failed. ``retry`` says whether trying again later may help."""

    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


class NotConnected(PlatformError):
    """The platform is not reachable right now; the operation was not attempted."""


class ImagesUnsupported(PlatformError):
    """The platform cannot send images: the outbox sends the image's text instead, at once."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retry=False)


class OutcomeUnknown(PlatformError):
    """The request left, but no answer came back (deadline passed, connection reset mid-call).

    The operation may or may not have happened; the outbox decides what that means per operation
    (a group message is never resent: see ``bot.outbox``).
    """


class Platform(Protocol):
    """What the bot does on the chat platform. The Wechaty adapter implements it; tests record it.

    Only the outbox sender calls these: everything the bot says or does is queued first.
    """

    @property
    def connected(self) -> bool: ...

    def on_connected(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the event loop) each time the platform (re)connects and can act."""
        ...

    async def send_text(self, group_id: str, text: str, mentions: tuple[str, ...] = ()) -> None: ...

    async def send_private(self, contact_id: str, text: str) -> None: ...

    async def kick(self, group_id: str, member_id: str) -> None: ...

    async def add_member(self, group_id: str, member_id: str) -> None:
        """Put a member (back) into a group; WeChat sends an invitation where the group requires one."""
        ...

    async def send_image(self, target: str, png: bytes, name: str) -> None:
        """Send a PNG picture into a group or to a contact (``target``: either id), shown as file
        ``name``. A platform that cannot send images raises :class:`ImagesUnsupported`."""
        ...
