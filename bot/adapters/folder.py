"""A watched folder of chat exports (``[[sources]] kind = "folder"``), as a
:class:`~bot.adapters.source.PullSource`.

Every pull looks at each file directly in the folder (not in sub-folders; names starting with ``.``
or ``~`` and partial downloads ``*.part *.tmp *.crdownload *.download`` are passed over) and reads
those that are new or whose size or modification time changed since the cursor, with the configured
format (``auto``: :func:`bot.adapters.formats.detect` per file). A later export that overlaps an
earlier one (the same chat, exported again a week later) is read whole; the store's uniqueness on
(``source``, ``id``) keeps only what is new, since every reader builds stable ids.

Cursor: ``{file name: [size, mtime_ns]}`` of the files as they were when last read (or found
unreadable), for the files present now; a file that disappears is dropped from it.

A file still being written is left for a later pull: one modified less than :data:`SETTLE_SECONDS`
ago, or whose size or modification time changed between the look before reading it and the look
after (what was read of it is then thrown away). A file that cannot be read is a
:class:`~bot.adapters.errors.RowError` naming it (line 0 for the file as a whole), never a stop:
an unknown or unusable format is remembered in the cursor (named once, read again when the file
changes); an OS error (permissions, a vanished file) is not, and is tried again next pull.

Mapping: the readers' own (``bot.adapters.<format>``); the folder's ``group_id`` and ``self_id``
are passed to every read ("" = None: the file names them).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.adapters import formats
from bot.adapters.errors import ImportFormatError, RowError
from bot.adapters.source import ExportFormat, PullResult, SourceError
from bot.config import FolderSource

log = logging.getLogger(__name__)

SETTLE_SECONDS = 2.0  # a file modified more recently than this may still be being written
SKIPPED_SUFFIXES = (".part", ".tmp", ".crdownload", ".download", ".partial")


class FolderWatch:
    """Read the new and changed export files of one folder (see the module's docstring)."""

    def __init__(
        self,
        config: FolderSource,
        *,
        clock: Callable[[], float] = time.time,
        settle_seconds: float = SETTLE_SECONDS,
    ) -> None:
        self._config = config
        self._folder = Path(config.path).expanduser()
        self._clock = clock
        self._settle_seconds = settle_seconds
        self._fixed: ExportFormat | None = None
        if config.format != "auto":
            try:
                self._fixed = formats.get_format(config.format)
            except ImportFormatError as e:
                raise SourceError(f"source {config.name!r}: {e}", retry=False) from None

    @property
    def name(self) -> str:
        return self._config.name

    @property
    def every(self) -> timedelta:
        return timedelta(minutes=self._config.every_minutes)

    def pull(self, cursor: Mapping[str, Any]) -> PullResult:
        if not self._folder.is_dir():
            raise SourceError(f"source {self.name!r}: {self._folder} is not a folder (or cannot be reached)")
        try:
            with os.scandir(self._folder) as listing:
                entries = sorted((e for e in listing if _watched(e.name)), key=lambda e: e.name)
        except OSError as e:
            raise SourceError(f"source {self.name!r}: cannot list {self._folder}: {e.strerror or e}") from None
        result = PullResult()
        seen: dict[str, list[int]] = {}
        now = self._clock()
        for entry in entries:
            try:
                if not entry.is_file():
                    continue
                before = entry.stat()
            except OSError:
                continue  # gone between listing and looking
            mark = [before.st_size, before.st_mtime_ns]
            previous = cursor.get(entry.name)
            if previous is not None and list(previous) == mark:
                seen[entry.name] = mark
                continue
            if now - before.st_mtime_ns / 1e9 < self._settle_seconds:
                log.info("%s was modified just now; left for the next pull", entry.path)
                if previous is not None:
                    seen[entry.name] = list(previous)
                continue
            outcome = self._read(Path(entry.path), mark, result)
            if outcome == "unsettled":
                if previous is not None:
                    seen[entry.name] = list(previous)
            elif outcome == "done":
                seen[entry.name] = mark
        result.cursor = dict(seen)
        return result

    def _read(self, path: Path, mark: list[int], result: PullResult) -> str:
        """Read one file into ``result``: "done" (read, or unreadable for good), "unsettled" (still
        being written: nothing kept), "retry" (an OS error: tried again next pull)."""
        group_id = self._config.group_id or None
        self_id = self._config.self_id or None
        try:
            fmt = self._fixed or formats.detect(path)
            read = fmt.read(path, group_id=group_id, self_id=self_id)
        except ImportFormatError as e:
            if self._changed(path, mark):
                return "unsettled"
            result.errors.append(RowError(str(path), 0, f"file: {_without_path(str(e), path)}"))
            return "done"
        except OSError as e:
            result.errors.append(RowError(str(path), 0, f"file: cannot read: {e.strerror or e}"))
            return "retry"
        if self._changed(path, mark):
            log.info("%s changed while it was read; left for the next pull", path)
            return "unsettled"
        log.info("%s (%s): %d messages, %d bad records", path, fmt.name, len(read.messages), len(read.errors))
        result.messages.extend(read.messages)
        result.errors.extend(read.errors)
        result.rooms.extend(read.rooms)
        return "done"

    @staticmethod
    def _changed(path: Path, mark: list[int]) -> bool:
        try:
            after = path.stat()
        except OSError:
            return True
        return [after.st_size, after.st_mtime_ns] != mark


def _watched(name: str) -> bool:
    return not name.startswith((".", "~")) and not name.lower().endswith(SKIPPED_SUFFIXES)


def _without_path(message: str, path: Path) -> str:
    """An ImportFormatError's text without the leading file name (the RowError names it)."""
    for prefix in (f"{path}: ", f"{path}:"):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message
