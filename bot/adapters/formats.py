"""The registry of export formats: which files ``qunzhi import`` and a watched folder can read.

Each format is an :class:`~bot.adapters.source.ExportFormat` named ``FORMAT`` in its own module,
imported only when the registry is first asked (a module that is missing is left out, so the
registry works while a format is being added):

==========  ================================  =============================================
name        module                            what it reads
==========  ================================  =============================================
qq          ``bot.adapters.qq_exporter``      QQ Chat Exporter JSON (QQ groups)
weflow      ``bot.adapters.weflow``           WeFlow JSON / ChatLab exports (WeChat 4.x)
chatlog     ``bot.adapters.chatlog``          chatlog's JSON/CSV (``/api/v1/chatlog`` saved)
memotrace   ``bot.adapters.memotrace``        MemoTrace (WeChatMsg) CSV (WeChat 3.x)
==========  ================================  =============================================

:func:`detect` reads at most the first 64 KiB of a file and asks every format's ``sniff`` (a folder: with an empty head, for QQ Chat Exporter's chunked export). When two
formats claim a file, the first in the order above wins (:data:`PRIORITY`): the most specific
signatures first (QQ Chat Exporter's ``metadata``/``chatInfo`` object, WeFlow's ``weflow``/``chatlab``
header), then chatlog's bare list of messages (``talker``/``seq``), and MemoTrace's CSV header last,
since a CSV of any tool may carry similar column names. A format whose ``sniff`` raises is taken
as not matching (and logged). No format matching is an :class:`ImportFormatError` naming the known
formats and ``--format``.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from bot.adapters.errors import ImportFormatError
from bot.adapters.source import ExportFormat

log = logging.getLogger(__name__)

HEAD_BYTES = 64 * 1024  # what detection reads of a file
PRIORITY = ("qq", "weflow", "chatlog", "memotrace")  # who wins when two formats claim one file
_MODULES = {
    "qq": "bot.adapters.qq_exporter",
    "weflow": "bot.adapters.weflow",
    "chatlog": "bot.adapters.chatlog",
    "memotrace": "bot.adapters.memotrace",
}


def formats() -> dict[str, ExportFormat]:
    """Every export format whose module is present, by name, in :data:`PRIORITY` order."""
    found: dict[str, ExportFormat] = {}
    for name in PRIORITY:
        module_name = _MODULES[name]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name != module_name:
                raise  # the module is there but needs something missing: a real error
            continue
        fmt: ExportFormat | None = getattr(module, "FORMAT", None)
        if fmt is None:
            log.debug("%s has no FORMAT yet; format %r left out", module_name, name)
            continue
        found[fmt.name] = fmt
    return found


def get_format(name: str) -> ExportFormat:
    """The format called ``name``; an unknown (or missing) one is an :class:`ImportFormatError`."""
    known = formats()
    if name not in known:
        raise ImportFormatError(f"unknown export format {name!r}: the known formats are {_listing(known)}")
    return known[name]


def detect(path: Path | str) -> ExportFormat:
    """The format of the file at ``path``, from its first 64 KiB (see the module's docstring)."""
    path = Path(path)
    folder = path.is_dir()
    if folder:
        head = b""  # only a format whose exports are folders (QQ's chunked export) claims one
    else:
        with path.open("rb") as f:  # FileNotFoundError/PermissionError go to the caller as they are
            head = f.read(HEAD_BYTES)
    known = formats()
    matches = []
    for fmt in known.values():
        try:
            if fmt.sniff(path, head):
                matches.append(fmt)
        except Exception:  # noqa: BLE001 - a sniff that breaks on odd bytes means "not mine"
            log.warning("format %s could not sniff %s", fmt.name, path, exc_info=True)
    if not matches and folder:
        raise ImportFormatError(f"{path}: is a folder, not an export file (nor a chunked QQ Chat Exporter export)")
    if not matches:
        raise ImportFormatError(
            f"{path}: not a known export format (the known formats are {_listing(known)}); "
            "if it is one of them, say which with --format NAME"
        )
    if len(matches) > 1:
        log.info("%s looks like %s; reading it as %s", path, ", ".join(m.name for m in matches), matches[0].name)
    return matches[0]


def _listing(known: dict[str, ExportFormat]) -> str:
    return ", ".join(known) or "none (no format module found)"
