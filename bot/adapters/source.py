"""What every input is, whatever it comes from: a source yields :class:`~bot.message.GroupMessage`s
(and, where it has them, rooms) into the one pipeline.

Three shapes:

* a **live platform** (:class:`bot.live.LivePlatform`, e.g. Wechaty): connects and calls back;
* an **export format** (:class:`ExportFormat`): a file someone exported from their own history
  (MemoTrace CSV, WeFlow JSON, chatlog JSON/CSV, QQ Chat Exporter JSON); ``qunzhi import`` detects
  which with :meth:`ExportFormat.sniff` (``bot.adapters.formats``);
* a **pull source** (:class:`PullSource`): asked every few minutes for what is new since its stored
  cursor (a chatlog HTTP API, a watched folder of exports, the WeCom chat archive); ``qunzhi sync``
  and ``qunzhi run`` drive them (``bot.sync``).

Adding an input is one module in ``bot/adapters/`` plus its tests. Nothing past the adapters sees
an SDK's or a format's own types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from bot.adapters.errors import ReadResult, RowError
from bot.message import GroupMessage, RoomInfo


class ExportFormat(Protocol):
    """A chat-history export file format."""

    @property
    def name(self) -> str:
        """What ``--format`` calls it: memotrace | weflow | chatlog | qq."""
        ...

    @property
    def description(self) -> str:
        """One line for ``--help`` and error messages (English: it is for the operator's shell)."""
        ...

    def sniff(self, path: Path, head: bytes) -> bool:
        """Whether ``path`` looks like this format, from its first bytes (``head``, up to 64 KiB)."""
        ...

    def read(self, path: Path, *, group_id: str | None = None, self_id: str | None = None) -> ReadResult:
        """Every message of the file (and its rooms, in ``ReadResult.rooms``), bad records as
        :class:`RowError` naming their position; :class:`ImportFormatError` when unusable."""
        ...


@dataclass(slots=True)
class PullResult:
    """One pull: what is new, and the cursor the next pull starts from. The runner stores the
    messages first, then the cursor, so a crash in between re-pulls (and the store drops the
    duplicates): nothing is lost, nothing is stored twice."""

    messages: list[GroupMessage] = field(default_factory=list)
    rooms: list[RoomInfo] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    cursor: dict[str, Any] = field(default_factory=dict)


class PullSource(Protocol):
    """A source asked periodically for what is new since its cursor (JSON-able, stored per source name)."""

    @property
    def name(self) -> str:
        """The ``[[sources]]`` entry's name: the key of its stored cursor."""
        ...

    @property
    def every(self) -> timedelta:
        """How often to pull."""
        ...

    def pull(self, cursor: Mapping[str, Any]) -> PullResult:
        """What is new since ``cursor`` (empty the first time). Blocking; run off the event loop.
        Raises :class:`SourceError` when the source cannot be reached or refuses."""
        ...


class SourceError(Exception):
    """A pull failed as a whole (unreachable, refused, misconfigured). ``retry`` says whether the
    next scheduled pull may succeed."""

    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


__all__ = ["ExportFormat", "PullResult", "PullSource", "ReadResult", "RowError", "SourceError"]
