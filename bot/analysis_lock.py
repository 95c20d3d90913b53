"""On SQLite, one analysing process at a time: an OS file lock next to the database file.

``qunzhi run`` (analysing) and ``qunzhi worker`` take it; receivers (``run --no-analysis``) and the
one-off commands (replay, import, digest, the console) do not. SQLite has one writer at a time, so a
second analysing process could only wait for the first and contend for the same backlog; several
analysing processes are what PostgreSQL is for. The lock is ``flock`` on ``<database>.analysing``:
the operating system releases it when the process dies, ``kill -9`` included, so a stale file
never blocks a restart. The file holds the owner's pid, for the refusal's one line.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType


class AnalysisLockError(Exception):
    """Another process is analysing this SQLite database."""


class AnalysisLock:
    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".analysing")
        self._fd: int | None = None

    def acquire(self, role: str) -> None:
        """Take the lock for this process, or raise ``AnalysisLockError`` naming who holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise AnalysisLockError(
                f"{self.path.with_suffix('')} is already being analysed by {holder}: SQLite takes one analysing "
                "process (qunzhi run or qunzhi worker); start this one as qunzhi run --no-analysis, or use "
                "PostgreSQL for several workers"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{role} (pid {os.getpid()})".encode())
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the flock

    def __enter__(self) -> AnalysisLock:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
