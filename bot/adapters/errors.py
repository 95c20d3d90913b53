"""What the offline readers (JSONL replay, MemoTrace CSV) hand back: the messages they could build,
and one :class:`RowError` per row they could not. A bad row never stops a read; a file that cannot
be read at all (no usable header) raises :class:`ImportFormatError`. Stdlib and ``bot.message`` only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.message import GroupMessage, RoomInfo


class ImportFormatError(ValueError):
    """The whole file is unusable (e.g. required header columns are missing); names the file."""


@dataclass(frozen=True, slots=True)
class RowError:
    """One row that was skipped. ``line`` is the 1-based physical line where the row starts;
    ``message`` starts with the field it is about (``"time: ..."``, ``"CreateTime: ..."``)."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(slots=True)
class ReadResult:
    """Every message read, in file order, and every row skipped, in file order; the rooms the file
    names (their display names, owners), where the format has them."""

    messages: list[GroupMessage] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rooms: list[RoomInfo] = field(default_factory=list)

    @classmethod
    def collect(cls, items: Iterable[GroupMessage | RowError]) -> ReadResult:
        result = cls()
        for item in items:
            if isinstance(item, RowError):
                result.errors.append(item)
            else:
                result.messages.append(item)
        return result
