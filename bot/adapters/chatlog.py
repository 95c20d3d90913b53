"""Read messages in the shape of the sjzar/chatlog HTTP API (``GET /api/v1/chatlog``): the JSON array
it returns (saved to a file, or straight from :mod:`bot.adapters.chatlog_api`), and a CSV of the same
fields.

A chatlog ``Message`` is ``{seq, time, talker, talkerName, isChatRoom, sender, senderName, isSelf,
type, subType, content, contents?}``. Mapping to :class:`GroupMessage`:

* only group chats: ``isChatRoom`` true or ``talker`` ending ``@chatroom``; other records (private
  chats) are skipped and counted (:attr:`ChatlogReadResult.skipped`), as are records of another
  talker when the caller passes ``group_id``.
* ``id`` = ``f"{talker}:{seq}"`` (``seq`` is the server's, ≈ seconds×1000 + counter, stable across
  exports and pulls); ``source`` = ``"chatlog"``; ``group_id`` = ``talker``; ``group_topic`` =
  ``talkerName``.
* ``sent_at`` = ``time`` (RFC 3339 with the server's offset) in UTC; a time without an offset is a
  bad record.
* ``sender_id`` = ``sender`` (wxid); system rows (``type`` 10000, or ``sender`` ``"系统消息"``) get
  :data:`~bot.adapters.memotrace.SYSTEM_SENDER_ID` and the name ``系统消息``; an ``isSelf`` record
  with an empty ``sender`` gets ``self_id``. ``sender_name`` = ``senderName``, else the sender id.
* ``kind``/``text`` by ``type``/``subType`` with the placeholders of the MemoTrace reader, so digests
  agree across sources: 1 text (``content``, not blank); 3 ``[图片]``, 34 ``[语音]``, 43 ``[视频]``,
  47 ``[表情]``; 49/4, 49/5 link (``"title url"`` from ``contents``, else from the ``<appmsg>`` XML);
  49/6 file (``"[文件] title"``); 49/57 quote (the reply: ``content`` when it is plain text, else
  ``contents.title``/the XML title); other 49 ``OTHER`` (title and url, else ``[应用消息]``);
  10000 system (its text, XML stripped); 42 ``[名片]``, 48 ``[位置]``, 50 ``[通话]``, anything else
  ``[其他消息]`` or its plain text. Non-text ``content`` is raw XML on WeChat 3.x data and never
  reaches ``text``.
* quotes (49/57): ``contents.refer`` is the quoted message; its ``seq`` is usually 0, so
  ``quote`` = ``"senderName：text"`` of the refer (text rendered as above); when the refer carries a
  real ``seq`` (> 0), ``reply_to`` = ``f"{talker}:{seq}"`` instead.
* ``mentions``: chatlog gives no @-list, only the text (``"@name\\u2005..."``). An ``@name`` in a text
  or quote reply is resolved to the id of the one member known under that display name (the senders
  of the same talker in the file, plus ``known_names`` from the chatroom list when pulling); names
  shared by two ids, and unknown names, are not resolved. ``mentions_bot`` = ``self_id`` is among them.

File shapes (:data:`FORMAT`, ``--format chatlog``):

* JSON: the array the API returns (``format=json``), UTF-8, BOM tolerated. A bad record becomes a
  :class:`RowError` with ``line`` = its 1-based position in the array ("message 12: ..."). A file
  that is not a JSON array raises :class:`ImportFormatError`.
* CSV: the note this was written from does not give the columns of chatlog's own ``format=csv``, so
  the CSV read here is header-driven with the JSON field names as columns (any order, case ignored):
  ``seq time talker sender type content`` required; ``talkerName isChatRoom senderName isSelf subType
  contents`` (a JSON object) optional. A bad row becomes a :class:`RowError` on its physical line.

sniff: a JSON array whose first object has ``seq`` and ``talker``, or a CSV header naming both.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bot.adapters.errors import ImportFormatError, ReadResult, RowError
from bot.adapters.memotrace import (
    APP_FILE,
    APP_QUOTE,
    MEDIA,
    OTHER_PLACEHOLDER,
    OTHER_PLACEHOLDERS,
    SYSTEM_SENDER_ID,
    SYSTEM_SENDER_NAME,
    TYPE_APP,
    TYPE_SYSTEM,
    TYPE_TEXT,
    appmsg_fields,
    system_text,
)
from bot.message import GroupMessage, MessageError, MessageKind, RoomInfo

__all__ = [
    "FORMAT",
    "SOURCE",
    "ChatlogFormat",
    "ChatlogReadResult",
    "MessageBuilder",
    "RecordProblem",
    "map_records",
    "parse_seq",
    "parse_time",
    "read_chatlog",
]

SOURCE = "chatlog"
CHATROOM_SUFFIX = "@chatroom"

APP_LINKS = (4, 5)  # chatlog also marks links with subType 4

_QUOTE_SEPARATOR = "："  # as WeChat shows a quote: "name：text"

CSV_REQUIRED = ("seq", "time", "talker", "sender", "type", "content")
CSV_OPTIONAL = ("talkerName", "isChatRoom", "senderName", "isSelf", "subType", "contents")
_UTF8_BOM = "\ufeff"
_SNIFF_KEYS = ("seq", "talker")
_MENTION_END = "\u2005 \t\n\u3000,，:：!！?？"


class RecordProblem(Exception):
    """A record that cannot be mapped; the message names the field."""


@dataclass(slots=True)
class ChatlogReadResult(ReadResult):
    """:class:`ReadResult` plus how many records were skipped as not group chats (or not the
    requested ``group_id``)."""

    skipped: int = 0


def is_group_record(record: Mapping[str, Any]) -> bool:
    talker = record.get("talker")
    return record.get("isChatRoom") is True or (isinstance(talker, str) and talker.strip().endswith(CHATROOM_SUFFIX))


class MessageBuilder:
    """Maps chatlog records to :class:`GroupMessage`s. ``names`` (talker → display name → ids) is
    what ``@name`` resolves against; :meth:`learn` adds a batch's senders first."""

    def __init__(self, self_id: str | None = None) -> None:
        self.self_id = (self_id or "").strip()
        self._names: dict[str, dict[str, set[str]]] = {}

    def know(self, talker: str, member_id: str, name: str) -> None:
        name, member_id = name.strip(), member_id.strip()
        if name and member_id and member_id != SYSTEM_SENDER_NAME:
            self._names.setdefault(talker, {}).setdefault(name, set()).add(member_id)

    def learn(self, records: Iterable[Any]) -> None:
        """Remember who goes by which display name in each talker (from well-formed records only)."""
        for record in records:
            if not isinstance(record, Mapping):
                continue
            talker, sender, name = record.get("talker"), record.get("sender"), record.get("senderName")
            if isinstance(talker, str) and isinstance(sender, str) and isinstance(name, str):
                self.know(talker.strip(), sender, name)

    def build(self, record: Any) -> GroupMessage:
        """The message of one group-chat record (check :func:`is_group_record` first); raises
        :class:`RecordProblem` naming the field when it cannot."""
        if not isinstance(record, Mapping):
            raise RecordProblem(f"record: expected a JSON object, got {type(record).__name__}")
        seq = parse_seq(record.get("seq"), "seq")
        talker = _required_str(record, "talker")
        sent_at = parse_time(record.get("time"), "time")
        msg_type = _int(record.get("type"), "type")
        sub_type = _int(record.get("subType"), "subType", default=0)
        content = _optional_str(record, "content").replace("\r\n", "\n")
        contents = record.get("contents")
        if contents is not None and not isinstance(contents, Mapping):
            raise RecordProblem(f"contents: expected an object, got {type(contents).__name__}")
        contents = contents or {}

        sender = _optional_str(record, "sender").strip()
        sender_name = _optional_str(record, "senderName").strip()
        system = msg_type == TYPE_SYSTEM or sender == SYSTEM_SENDER_NAME
        if system:
            sender, sender_name = SYSTEM_SENDER_ID, SYSTEM_SENDER_NAME
        elif not sender:
            if record.get("isSelf") is True and self.self_id:
                sender = self.self_id
            else:
                raise RecordProblem("sender: empty")

        reply_to: str | None = None
        quote = ""
        if system:
            kind, text = MessageKind.SYSTEM, system_text(content) or "[系统消息]"
        else:
            kind, text = _kind_and_text(msg_type, sub_type, content, contents)
            if kind is MessageKind.QUOTE:
                reply_to, quote = self._refer(talker, contents.get("refer"))
        mentions = self._mentions(talker, text) if kind in (MessageKind.TEXT, MessageKind.QUOTE) else ()
        try:
            return GroupMessage(
                id=f"{talker}:{seq}",
                source=SOURCE,
                group_id=talker,
                sender_id=sender,
                sender_name=sender_name or sender,
                sent_at=sent_at,
                kind=kind,
                text=text,
                group_topic=_optional_str(record, "talkerName").strip(),
                mentions=mentions,
                mentions_bot=bool(self.self_id and self.self_id in mentions),
                reply_to=reply_to,
                quote=quote,
            )
        except MessageError as e:
            raise RecordProblem(str(e)) from None

    def _refer(self, talker: str, refer: Any) -> tuple[str | None, str]:
        if not isinstance(refer, Mapping):
            return None, ""
        try:
            seq = parse_seq(refer.get("seq"), "refer.seq", allow_zero=True)
        except RecordProblem:
            seq = 0
        if seq > 0:
            return f"{talker}:{seq}", ""
        try:
            r_type = _int(refer.get("type"), "refer.type", default=TYPE_TEXT)
            r_sub = _int(refer.get("subType"), "refer.subType", default=0)
        except RecordProblem:
            r_type, r_sub = TYPE_TEXT, 0
        r_contents = refer.get("contents")
        r_content = refer.get("content")
        try:
            _, text = _kind_and_text(
                r_type,
                r_sub,
                r_content if isinstance(r_content, str) else "",
                r_contents if isinstance(r_contents, Mapping) else {},
            )
        except RecordProblem:
            text = ""
        name = refer.get("senderName") or refer.get("sender") or ""
        name = name.strip() if isinstance(name, str) else ""
        if not text:
            return None, ""
        return None, f"{name}{_QUOTE_SEPARATOR}{text}" if name else text

    def _mentions(self, talker: str, text: str) -> tuple[str, ...]:
        if "@" not in text:
            return ()
        names = self._names.get(talker, {})
        found: dict[str, int] = {}  # member -> where the first "@name" of theirs starts
        taken: set[int] = set()  # a longer name wins where two names start at the same "@"
        for name in sorted(names, key=len, reverse=True):
            ids = names[name]
            if len(ids) != 1:
                continue
            (member,) = ids
            for match in re.finditer("@" + re.escape(name), text):
                end = match.end()
                if match.start() in taken or (end < len(text) and text[end] not in _MENTION_END):
                    continue
                taken.add(match.start())
                found[member] = min(found.get(member, match.start()), match.start())
        return tuple(sorted(found, key=found.__getitem__))


# ----------------------------------------------------------------------------------------- fields


def _required_str(record: Mapping[str, Any], key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RecordProblem(f"{key}: must be a non-empty string, got {value!r}")
    return value.strip()


def _optional_str(record: Mapping[str, Any], key: str) -> str:
    value = record.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RecordProblem(f"{key}: must be a string, got {type(value).__name__}")
    return value


def _int(value: Any, key: str, *, default: int | None = None) -> int:
    if value is None or value == "":
        if default is not None:
            return default
        raise RecordProblem(f"{key}: missing")
    if isinstance(value, bool):
        raise RecordProblem(f"{key}: not an integer: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,19}\s*", value):
        return int(value)
    raise RecordProblem(f"{key}: not an integer: {value!r}")


def parse_seq(value: Any, key: str, *, allow_zero: bool = False) -> int:
    seq = _int(value, key)
    if seq < 0 or (seq == 0 and not allow_zero):
        raise RecordProblem(f"{key}: must be a positive integer, got {value!r}")
    return seq


def parse_time(value: Any, key: str) -> datetime:
    if not isinstance(value, str) or not value.strip():
        raise RecordProblem(f"{key}: must be an RFC 3339 time, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise RecordProblem(f"{key}: not an RFC 3339 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise RecordProblem(f"{key}: no UTC offset in {value!r}")
    return parsed.astimezone(timezone.utc)


def _looks_like_xml(content: str) -> bool:
    stripped = content.lstrip()
    return stripped.startswith("<") or bool(re.match(r"^[A-Za-z0-9_\-@.]+:\s*\n\s*<", stripped))


def _contents_str(contents: Mapping[str, Any], key: str) -> str:
    value = contents.get(key)
    return " ".join(value.split()) if isinstance(value, str) else ""


def _kind_and_text(msg_type: int, sub_type: int, content: str, contents: Mapping[str, Any]) -> tuple[MessageKind, str]:
    xml = _looks_like_xml(content)
    plain = "" if xml else content.strip()
    if msg_type == TYPE_TEXT:
        if not content.strip():
            raise RecordProblem("content: empty for a text message (type 1)")
        return MessageKind.TEXT, content
    if msg_type in MEDIA:
        return MEDIA[msg_type]
    if msg_type == TYPE_SYSTEM:
        return MessageKind.SYSTEM, system_text(content) or "[系统消息]"
    if msg_type == TYPE_APP:
        xml_title, xml_url = appmsg_fields(content) if xml else ("", "")
        title = _contents_str(contents, "title") or xml_title
        url = _contents_str(contents, "url") or xml_url
        if sub_type in APP_LINKS:
            return MessageKind.LINK, " ".join(p for p in (title, url) if p) or plain or "[链接]"
        if sub_type == APP_FILE:
            name = title or re.split(r"[\\/]", plain)[-1].strip()
            return MessageKind.FILE, f"[文件] {name}" if name else "[文件]"
        if sub_type == APP_QUOTE:
            return MessageKind.QUOTE, plain or title or "[引用消息]"
        return MessageKind.OTHER, " ".join(p for p in (title, url) if p) or plain or OTHER_PLACEHOLDERS[TYPE_APP]
    if xml or not plain:
        return MessageKind.OTHER, OTHER_PLACEHOLDERS.get(msg_type, OTHER_PLACEHOLDER)
    return MessageKind.OTHER, plain


# ----------------------------------------------------------------------------------------- files


def map_records(
    records: list[Any],
    builder: MessageBuilder,
    *,
    where: str,
    position: str = "message",
    lines: list[int] | None = None,
    group_id: str | None = None,
) -> ChatlogReadResult:
    """Map a list of chatlog records (in order): messages, errors (``line`` = ``lines[i]`` or the
    1-based index), rooms (talker → talkerName), skipped count. Duplicate ids are bad records."""
    result = ChatlogReadResult()
    builder.learn(records)
    seen: dict[str, int] = {}
    rooms: dict[str, str] = {}
    for index, record in enumerate(records):
        line = lines[index] if lines is not None else index + 1
        if isinstance(record, Mapping) and not is_group_record(record):
            result.skipped += 1
            continue
        try:
            message = builder.build(record)
        except RecordProblem as e:
            result.errors.append(RowError(where, line, f"{position} {line}: {e}"))
            continue
        if group_id is not None and message.group_id != group_id:
            result.skipped += 1
            continue
        first = seen.setdefault(message.id, line)
        if first != line:
            result.errors.append(
                RowError(where, line, f"{position} {line}: seq: duplicate id {message.id!r} (first at {first})")
            )
            continue
        if message.group_topic or message.group_id not in rooms:
            rooms[message.group_id] = message.group_topic or rooms.get(message.group_id, "")
        result.messages.append(message)
    result.rooms = [RoomInfo(group_id=g, topic=t) for g, t in rooms.items()]
    return result


def read_chatlog(
    path: str | os.PathLike[str], *, group_id: str | None = None, self_id: str | None = None
) -> ChatlogReadResult:
    """Read a chatlog JSON array or CSV file (see the module docstring)."""
    where = os.fspath(path)
    try:
        raw = Path(where).read_bytes()
    except OSError as e:
        raise ImportFormatError(f"{where}: cannot read: {e}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ImportFormatError(f"{where}: not UTF-8 ({e.reason} at byte {e.start})") from None
    text = text.removeprefix(_UTF8_BOM)
    wanted = group_id.strip() if group_id and group_id.strip() else None
    builder = MessageBuilder(self_id)
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except (ValueError, RecursionError) as e:
            raise ImportFormatError(f"{where}: not a chatlog JSON array: {e}") from None
        if not isinstance(records, list):
            raise ImportFormatError(f"{where}: not a chatlog JSON array")
        return map_records(records, builder, where=where, group_id=wanted)
    records, lines, errors = _csv_records(where, text)
    result = map_records(records, builder, where=where, position="line", lines=lines, group_id=wanted)
    result.errors = sorted(errors + result.errors, key=lambda e: e.line)
    return result


def _csv_records(where: str, text: str) -> tuple[list[Any], list[int], list[RowError]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    records: list[Any] = []
    lines: list[int] = []
    errors: list[RowError] = []
    columns: dict[str, int] | None = None
    width = 0
    end = 0
    while True:
        start = end + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            end = reader.line_num
            if columns is None:
                raise ImportFormatError(f"{where}:{start}: header row is not valid CSV: {e}") from None
            errors.append(RowError(where, start, f"line {start}: not valid CSV ({e})"))
            continue
        end = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if columns is None:
            found = {name.strip().lower(): i for i, name in reversed(list(enumerate(row)))}
            columns = {n: found[n.lower()] for n in CSV_REQUIRED + CSV_OPTIONAL if n.lower() in found}
            missing = [n for n in CSV_REQUIRED if n not in columns]
            if missing:
                raise ImportFormatError(f"{where}: not a chatlog CSV: header lacks column(s) {', '.join(missing)}")
            width = len(row)
            continue
        if len(row) != width:
            errors.append(RowError(where, start, f"line {start}: {len(row)} fields but the header has {width}"))
            continue
        record: dict[str, Any] = {name: row[i] for name, i in columns.items()}
        for flag in ("isChatRoom", "isSelf"):
            if flag in record:
                record[flag] = record[flag].strip().lower() in ("true", "1")
        if record.get("contents", "").strip():
            try:
                record["contents"] = json.loads(record["contents"])
            except ValueError:
                errors.append(RowError(where, start, f"line {start}: contents: not a JSON object"))
                continue
        else:
            record.pop("contents", None)
        records.append(record)
        lines.append(start)
    if columns is None:
        raise ImportFormatError(f"{where}: empty file, expected a chatlog JSON array or CSV header")
    return records, lines, errors


@dataclass(frozen=True, slots=True)
class ChatlogFormat:
    """The chatlog JSON/CSV shape as an :class:`~bot.adapters.source.ExportFormat`."""

    name: str = "chatlog"
    description: str = "sjzar/chatlog API output saved to a file (JSON array of messages, or CSV with the same fields)"

    def sniff(self, path: Path, head: bytes) -> bool:
        text = head.decode("utf-8", errors="ignore").removeprefix(_UTF8_BOM).lstrip()
        if text.startswith("["):
            body = text[1:].lstrip()
            if not body.startswith("{"):
                return False
            try:
                first, _ = json.JSONDecoder().raw_decode(body)
            except ValueError:  # the first object runs past the head: look at its keys as text
                return all(re.search(rf'"{k}"\s*:', body) for k in _SNIFF_KEYS)
            return isinstance(first, dict) and all(k in first for k in _SNIFF_KEYS)
        first_line = text.splitlines()[0] if text else ""
        names = {cell.strip().lower() for cell in next(csv.reader([first_line]), [])}
        return all(k in names for k in _SNIFF_KEYS)

    def read(self, path: Path, *, group_id: str | None = None, self_id: str | None = None) -> ReadResult:
        return read_chatlog(path, group_id=group_id, self_id=self_id)


FORMAT = ChatlogFormat()
