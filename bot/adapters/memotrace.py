"""Import a group chat exported as CSV by MemoTrace (WeChatMsg).

MemoTrace writes UTF-8 with a BOM and a header row naming the columns ``localId, TalkerId, Type,
SubType, IsSender, CreateTime, Status, StrContent, StrTime, Remark, NickName, Sender``. Columns are
found by header name (any order, case and surrounding spaces ignored; extra columns ignored).
Required: ``localId Type SubType IsSender CreateTime StrContent Sender``, plus ``TalkerId`` unless
the caller passes ``group_id``; ``Remark`` and ``NickName`` are optional; ``Status`` and ``StrTime``
are not read (``CreateTime`` is the time, in unix seconds).

Mapping to :class:`GroupMessage`:

* ``id`` = ``f"{group_id}:{localId}"``, so importing the same file again yields the same ids;
  ``source`` = ``"memotrace"``; ``group_id`` = the ``group_id`` argument when given, else ``TalkerId``.
* ``sender_id`` = ``Sender``; when it is empty, ``self_id`` for ``IsSender=1`` rows and
  :data:`SYSTEM_SENDER_ID` for system rows (Type 10000); any other empty ``Sender`` is a bad row.
* ``sender_name`` = ``Remark`` or ``NickName`` or the sender id.
* ``kind``/``text`` by ``Type``/``SubType``: 1 text (``StrContent``, must not be blank); 3 image,
  34 voice, 43 video, 47 sticker as placeholders (``[图片] [语音] [视频] [表情]``, raw XML or paths
  never leak); 49/5 link (``"title url"`` from the ``<appmsg>`` XML, else the plain text); 49/6 file
  (``"[文件] name"``); 49/57 quote (the reply, i.e. ``<appmsg><title>``); 10000 system (its text);
  anything else ``OTHER`` (an app message's title if any, else a placeholder).

A bad row (wrong field count, missing value, non-integer ``CreateTime``/``Type``/``SubType``/
``IsSender``, empty ``Sender``, duplicate ``localId``, invalid UTF-8, broken quoting) becomes a
:class:`RowError` carrying the physical line where the row starts; the import goes on. A file whose
header lacks required columns raises :class:`ImportFormatError` naming them.

Not recoverable from this CSV: who was @-mentioned (``mentions`` stays empty, ``mentions_bot``
False) and which message a quote refers to (``reply_to`` stays None: the XML names a server id,
not a ``localId``).

``FORMAT`` (:class:`MemoTraceFormat`) is this reader in the export-format registry
(``bot.adapters.formats``): it claims a file whose first line is a CSV header holding the
``localId``, ``CreateTime``, ``StrContent`` and ``Sender`` columns; ``self_id`` None means ``"self"``.
"""

from __future__ import annotations

import csv
import html
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from bot.adapters.errors import ImportFormatError, ReadResult, RowError
from bot.adapters.text import basename, clean
from bot.message import GroupMessage, MessageError, MessageKind

__all__ = [
    "FORMAT",
    "SOURCE",
    "SYSTEM_SENDER_ID",
    "ImportFormatError",
    "ReadResult",
    "RowError",
    "iter_memotrace_csv",
    "read_memotrace_csv",
]

SOURCE = "memotrace"
SYSTEM_SENDER_ID = "@system"  # cannot be a WeChat id (those never contain "@")
SYSTEM_SENDER_NAME = "系统消息"

REQUIRED_COLUMNS = ("localId", "Type", "SubType", "IsSender", "CreateTime", "StrContent", "Sender")
OPTIONAL_COLUMNS = ("TalkerId", "Remark", "NickName")

TYPE_TEXT = 1
TYPE_IMAGE = 3
TYPE_VOICE = 34
TYPE_VIDEO = 43
TYPE_STICKER = 47
TYPE_APP = 49
TYPE_SYSTEM = 10000
APP_LINK = 5
APP_FILE = 6
APP_QUOTE = 57

# WeChat's message types as their placeholders: shared with the chatlog reader (the same type codes)
MEDIA: dict[int, tuple[MessageKind, str]] = {
    TYPE_IMAGE: (MessageKind.IMAGE, "[图片]"),
    TYPE_VOICE: (MessageKind.VOICE, "[语音]"),
    TYPE_VIDEO: (MessageKind.VIDEO, "[视频]"),
    TYPE_STICKER: (MessageKind.STICKER, "[表情]"),
}
OTHER_PLACEHOLDERS = {42: "[名片]", 48: "[位置]", 50: "[通话]", TYPE_APP: "[应用消息]"}
OTHER_PLACEHOLDER = "[其他消息]"

_UTF8_BOM = b"\xef\xbb\xbf"
# Some WeChat XML payloads carry the speaker's id before the XML: "wxid_abc123:\n<msg>...".
_SPEAKER_PREFIX = re.compile(r"^[A-Za-z0-9_\-@.]+:\s*$")
_CDATA = re.compile(r"^<!\[CDATA\[(.*)\]\]>$", re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


class _RowProblem(Exception):
    """Internal: this row is skipped; the message names the column."""


def read_memotrace_csv(
    path: str | os.PathLike[str],
    group_id: str | None = None,
    self_id: str = "self",
    *,
    group_name: str = "",
) -> ReadResult:
    """Read a whole MemoTrace CSV export. ``group_id`` (when given) is used for every row instead of
    ``TalkerId``; ``self_id`` stands in for the exporting account where ``Sender`` is empty;
    ``group_name`` becomes every message's ``group_topic`` (the CSV does not carry the room's name).
    Raises :class:`ImportFormatError` when required header columns are missing."""
    return ReadResult.collect(iter_memotrace_csv(path, group_id, self_id, group_name=group_name))


def iter_memotrace_csv(
    path: str | os.PathLike[str],
    group_id: str | None = None,
    self_id: str = "self",
    *,
    group_name: str = "",
) -> Iterator[GroupMessage | RowError]:
    """Stream a MemoTrace CSV export row by row (see :func:`read_memotrace_csv`). The arguments are
    checked now; the header is checked, and :class:`ImportFormatError` raised, on the first ``next``."""
    if group_id is not None and (not isinstance(group_id, str) or not group_id.strip()):
        raise ValueError(f"group_id: must be a non-empty string or None, got {group_id!r}")
    if not isinstance(self_id, str) or not self_id.strip():
        raise ValueError(f"self_id: must be a non-empty string, got {self_id!r}")
    return _iter_csv(os.fspath(path), group_id.strip() if group_id else None, self_id.strip(), group_name)


def _decoded_lines(f: BinaryIO, bad_lines: set[int]) -> Iterator[str]:
    """Physical lines as text; a line that is not UTF-8 is decoded with replacement and noted."""
    for number, raw in enumerate(f, start=1):
        if number == 1 and raw.startswith(_UTF8_BOM):
            raw = raw[len(_UTF8_BOM) :]
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            bad_lines.add(number)
            yield raw.decode("utf-8", errors="replace")


def _iter_csv(path: str, group_id: str | None, self_id: str, group_name: str) -> Iterator[GroupMessage | RowError]:
    bad_lines: set[int] = set()
    seen: dict[str, int] = {}
    header: _Header | None = None
    with open(path, "rb") as f:
        reader = csv.reader(_decoded_lines(f, bad_lines))
        end = 0  # last physical line consumed so far
        while True:
            start = end + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                end = reader.line_num
                if header is None:
                    raise ImportFormatError(f"{path}:{start}: header row is not valid CSV: {e}") from None
                reason = str(e).split(" - ")[0]  # drop csv's "open the file in universal-newline mode" hint
                yield RowError(path, start, f"row: not valid CSV ({reason})")
                continue
            end = reader.line_num
            if not any(cell.strip() for cell in row):
                continue  # blank line
            broken = sorted(n for n in bad_lines if start <= n <= end)
            if header is None:
                if broken:
                    raise ImportFormatError(f"{path}:{broken[0]}: header row is not valid UTF-8")
                header = _header(path, row, need_talker=group_id is None)
                continue
            if broken:
                yield RowError(path, start, f"row: not valid UTF-8 (line {broken[0]})")
                continue
            try:
                message = _to_message(row, header, group_id, self_id, group_name)
            except _RowProblem as e:
                yield RowError(path, start, str(e))
                continue
            first = seen.setdefault(message.id, start)
            if first != start:
                yield RowError(path, start, f"localId: duplicate id {message.id!r} (first on line {first})")
                continue
            yield message
    if header is None:
        expected = ", ".join(REQUIRED_COLUMNS)
        raise ImportFormatError(f"{path}: empty file, expected a MemoTrace header row ({expected}, ...)")


@dataclass(frozen=True, slots=True)
class _Header:
    columns: dict[str, int]  # canonical column name -> index
    width: int


def _header(path: str, row: list[str], *, need_talker: bool) -> _Header:
    found: dict[str, int] = {}
    for index, name in enumerate(row):
        found.setdefault(name.strip().lstrip("\ufeff").lower(), index)
    wanted = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
    columns = {name: found[name.lower()] for name in wanted if name.lower() in found}
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if need_talker and "TalkerId" not in columns:
        missing.append("TalkerId")
    if missing:
        hint = " (or pass group_id=...)" if missing == ["TalkerId"] else ""
        raise ImportFormatError(
            f"{path}: not a MemoTrace CSV export: header lacks column(s) {', '.join(missing)}{hint}; "
            f"found {', '.join(repr(c) for c in row)}"
        )
    return _Header(columns, len(row))


def _to_message(row: list[str], header: _Header, group_id: str | None, self_id: str, group_name: str) -> GroupMessage:
    columns, width = header.columns, header.width
    if len(row) > width and any(cell.strip() for cell in row[width:]):
        raise _RowProblem(f"row: {len(row)} fields but the header has {width} (unquoted comma?)")
    short = [name for name in REQUIRED_COLUMNS if columns[name] >= len(row)]
    if short:
        raise _RowProblem(f"row: {len(row)} fields but the header has {width}; no value for {', '.join(short)}")

    def cell(name: str) -> str:
        index = columns.get(name)
        return row[index] if index is not None and index < len(row) else ""

    local_id = cell("localId").strip()
    if not local_id:
        raise _RowProblem("localId: empty")
    msg_type = _integer(cell("Type"), "Type")
    sub_type = _integer(cell("SubType"), "SubType", default=0)
    is_sender = _integer(cell("IsSender"), "IsSender", default=0)
    if is_sender not in (0, 1):
        raise _RowProblem(f"IsSender: must be 0 or 1, got {cell('IsSender')!r}")
    created = _integer(cell("CreateTime"), "CreateTime")
    if created <= 0:
        raise _RowProblem(f"CreateTime: not a unix time: {cell('CreateTime')!r}")
    try:
        sent_at = datetime.fromtimestamp(created, timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise _RowProblem(f"CreateTime: unix seconds out of range: {cell('CreateTime')!r}") from None

    group = group_id or cell("TalkerId").strip()
    if not group:
        raise _RowProblem("TalkerId: empty (pass group_id=... to import this file)")

    sender = cell("Sender").strip()
    default_name = ""
    if not sender:
        if is_sender == 1:
            sender = self_id
        elif msg_type == TYPE_SYSTEM:
            sender, default_name = SYSTEM_SENDER_ID, SYSTEM_SENDER_NAME
        else:
            raise _RowProblem("Sender: empty for a message not sent by the exporting account (IsSender=0)")
    sender_name = cell("Remark").strip() or cell("NickName").strip() or default_name or sender

    content = cell("StrContent").replace("\r\n", "\n")  # a re-saved export may carry CRLF inside fields
    kind, text = _kind_and_text(msg_type, sub_type, content)

    try:
        return GroupMessage(
            id=f"{group}:{local_id}",
            source=SOURCE,
            group_id=group,
            sender_id=sender,
            sender_name=sender_name,
            sent_at=sent_at,
            kind=kind,
            text=text,
            group_topic=group_name,
        )
    except MessageError as e:
        raise _RowProblem(str(e)) from None


def _integer(value: str, column: str, *, default: int | None = None) -> int:
    value = value.strip()
    if not value and default is not None:
        return default
    try:
        return int(value)
    except ValueError:
        raise _RowProblem(f"{column}: not an integer: {value!r}") from None


def _kind_and_text(msg_type: int, sub_type: int, content: str) -> tuple[MessageKind, str]:
    if msg_type == TYPE_TEXT:
        if not content.strip():
            raise _RowProblem("StrContent: empty for a text message (Type 1)")
        return MessageKind.TEXT, content
    if msg_type in MEDIA:
        return MEDIA[msg_type]
    if msg_type == TYPE_SYSTEM:
        return MessageKind.SYSTEM, system_text(content)
    if msg_type == TYPE_APP:
        title, url = appmsg_fields(content)
        plain = "" if _looks_like_xml(content) else content.strip()
        if sub_type == APP_LINK:
            return MessageKind.LINK, " ".join(p for p in (title, url) if p) or plain or "[链接]"
        if sub_type == APP_FILE:
            name = title or basename(plain)
            return MessageKind.FILE, f"[文件] {name}" if name else "[文件]"
        if sub_type == APP_QUOTE:
            return MessageKind.QUOTE, title or plain or "[引用消息]"
        return MessageKind.OTHER, " ".join(p for p in (title, url) if p) or plain or OTHER_PLACEHOLDERS[TYPE_APP]
    if _looks_like_xml(content) or not content.strip():
        return MessageKind.OTHER, OTHER_PLACEHOLDERS.get(msg_type, OTHER_PLACEHOLDER)
    return MessageKind.OTHER, content.strip()


def _xml_start(content: str) -> int | None:
    """Where the XML in ``content`` begins (after an optional ``speaker:`` line), or None."""
    stripped = content.lstrip()
    offset = len(content) - len(stripped)
    at = stripped.find("<")
    if at < 0:
        return None
    if at == 0 or _SPEAKER_PREFIX.match(stripped[:at]):
        return offset + at
    return None


def _looks_like_xml(content: str) -> bool:
    return _xml_start(content) is not None


def appmsg_fields(content: str) -> tuple[str, str]:
    """``(title, url)`` of an ``<appmsg>`` payload, each "" when absent; tolerates broken XML."""
    start = _xml_start(content)
    if start is None:
        return "", ""
    xml = content[start:].strip()
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return _regex_field(xml, "title"), _regex_field(xml, "url")
    appmsg = root if root.tag == "appmsg" else root.find(".//appmsg")
    if appmsg is None:
        return "", ""
    return clean(appmsg.findtext("title") or ""), clean(appmsg.findtext("url") or "")


def _regex_field(xml: str, tag: str) -> str:
    match = re.search(rf"<{tag}>(.*?)</{tag}>", xml, re.DOTALL)
    if not match:
        return ""
    value = match.group(1).strip()
    cdata = _CDATA.match(value)
    return clean(cdata.group(1) if cdata else html.unescape(value))


def system_text(content: str) -> str:
    start = _xml_start(content)
    if start is None:
        return content.strip()
    try:
        text = "".join(ET.fromstring(content[start:].strip()).itertext())
    except ET.ParseError:
        text = html.unescape(_TAG.sub(" ", content[start:]))
    return clean(text) or "[系统消息]"


_SNIFF_COLUMNS = {"localid", "createtime", "strcontent", "sender"}


class MemoTraceFormat:
    """The MemoTrace CSV as an :class:`~bot.adapters.source.ExportFormat`."""

    name = "memotrace"
    description = "MemoTrace (WeChatMsg) CSV export of a group chat"

    def sniff(self, path: Path, head: bytes) -> bool:
        first = head.removeprefix(_UTF8_BOM).split(b"\n", 1)[0].decode("utf-8", errors="replace")
        try:
            columns = next(csv.reader([first.rstrip("\r")]), [])
        except csv.Error:
            return False
        return _SNIFF_COLUMNS <= {c.strip().lstrip("\ufeff").lower() for c in columns}

    def read(self, path: Path, *, group_id: str | None = None, self_id: str | None = None) -> ReadResult:
        return read_memotrace_csv(path, group_id, self_id or "self")


FORMAT = MemoTraceFormat()
