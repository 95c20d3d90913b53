"""Import a group chat exported by WeFlow (WeChat 4.x): its JSON export, and its ChatLab JSON and
ChatLab JSON Lines exports.

Three shapes, told apart by their content (not the file name):

* **WeFlow JSON**: one object ``{weflow: {...}, session: {...}, messages: [...]}`` (some builds write
  ``chatlab``/``meta`` instead of ``weflow``). ``session``: ``wxid`` or ``accountId`` (by build),
  ``nickname``, ``remark``, ``displayName``, ``type`` (``"群聊"``/``"私聊"``). A message: ``localId``,
  ``createTime``, ``type`` (a Chinese label such as ``文本消息``), ``localType`` (WeChat's code; app
  messages may be packed as ``(sub << 32) | 49``), ``content``, ``isSend``, ``senderUsername``,
  ``senderDisplayName``, ``source`` (the ``<msgsource>`` XML) and, where the build writes them,
  ``platformMessageId``, ``replyToMessageId``, ``quotedSender``, ``quotedContent``.
* **ChatLab JSON**: ``{chatlab: {...}, meta: {name, platform, type: group|private, groupId?},
  members: [{platformId, accountName, groupNickname?}], messages: [...]}``; a message: ``sender``,
  ``accountName``, ``groupNickname?``, ``timestamp``, ``type`` (ChatLab's number), ``content``,
  ``platformMessageId?``, ``replyToMessageId?``.
* **ChatLab JSON Lines**: one object a line, ``_type`` ``header`` (with ``chatlab``/``meta``; the
  streaming variant writes ``chatlab`` and ``meta`` lines), ``member`` or ``message`` (fields as
  above).

A message is read by its own keys (``createTime``/``senderUsername`` → WeFlow's, else ChatLab's), so
a build mixing the headers still reads. Only group chats are read: an export whose session or meta
says private (``私聊``/``private``) is an :class:`ImportFormatError`.

Mapping to :class:`GroupMessage`:

* ``source`` = ``"weflow"``; ``group_id`` = the export's own group id (``session.wxid``/``accountId``
  or ``meta.groupId`` ending in ``@chatroom``), else the ``group_id`` argument, else a group id the
  export names without that suffix when it says it is a group; none is an :class:`ImportFormatError`.
  ``group_topic`` = the room's name (``session.nickname``, ``displayName``, ``remark``;
  ``meta.name``), also returned as ``ReadResult.rooms``.
* ``id`` = ``platformMessageId`` (WeChat's server id, a string; the same in every export of the
  chat) when present and not ``"0"``. Without it: ``"<group_id>:<unix seconds>:<sender id>:<hash>"``,
  the hash (SHA-1, 16 hex digits) over the mapped kind and text, so a later export that overlaps
  this one gives the same ids whatever its media options (a path or a placeholder, the text is the
  placeholder). Identical messages from one sender in one second get ``:2``, ``:3``... in file order.
  ``localId`` is never used: it restarts at 1 in every file.
* ``sender_id`` = ``senderUsername`` / ``sender`` (a wxid); an empty one on an ``isSend`` message
  is ``self_id`` (``"self"`` when not given); system messages are
  :data:`~bot.adapters.memotrace.SYSTEM_SENDER_ID`. ``sender_name`` = ``senderDisplayName``;
  ChatLab: ``groupNickname``, ``accountName``, the ``members`` entry; else the sender id.
* ``sent_at`` = ``createTime`` / ``timestamp``, unix seconds, or milliseconds when the value is at
  least 10^11 (WeFlow's HTTP API writes ms), in UTC.
* ``kind``/``text``: by ``localType`` (packed app codes unpacked; an unpacked 49 by its label) and
  else by the ``type`` label; ChatLab by its number. Text as written (must not be blank); image,
  voice, video and sticker as the placeholders ``[图片] [语音] [视频] [表情]`` (an exported file's
  path never leaks); file ``"[文件] name"``; link (app 4/5, ChatLab 7) the rendered text (title and
  url of an XML payload); quote (app 57, ChatLab 25) the reply's own text; system (10000, 10002,
  ChatLab 80/81) its text, tags stripped; anything else ``OTHER`` (its plain text, else a
  placeholder such as ``[名片] [位置] [通话] [转账] [红包] [聊天记录]``).
* ``reply_to`` = ``replyToMessageId`` (the quoted message's server id: the same id space as ``id``);
  without it, ``quote`` = ``"quotedSender：quotedContent"`` (or either alone).
* ``mentions`` = the ids in ``<atuserlist>`` of the WeFlow message's ``source`` XML (``notify@all``
  left out); ``mentions_bot`` = ``self_id`` among them. ChatLab carries no mention ids, so its
  ``mentions`` stay empty: ids are never guessed from ``@name`` in the text.

A bad record (not an object, missing or mistyped field, bad time, empty text, duplicate
``platformMessageId``) becomes a :class:`RowError`: in a JSON file ``line`` is the 1-based position
in ``messages`` and the message says ``"message N: ..."``; in JSON Lines ``line`` is the physical
line. The read goes on. A file that is not JSON, or has no ``messages`` list, raises
:class:`ImportFormatError`.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bot.adapters.errors import ImportFormatError, ReadResult, RowError
from bot.adapters.memotrace import SYSTEM_SENDER_ID, SYSTEM_SENDER_NAME
from bot.adapters.text import basename, clean as fold_space, json_type
from bot.message import GroupMessage, MessageError, MessageKind, RoomInfo

__all__ = ["FORMAT", "SOURCE", "WeFlowFormat", "read_weflow"]

SOURCE = "weflow"
DEFAULT_SELF_ID = "self"
MS_THRESHOLD = 10**11  # a unix time at least this large is in milliseconds (10^11 s is the year 5138)

_UTF8_BOM = b"\xef\xbb\xbf"
_PRIVATE_TYPES = frozenset({"私聊", "private"})
_GROUP_TYPES = frozenset({"群聊", "group"})
_HEADER_TYPES = frozenset({"header", "chatlab", "meta"})

# WeChat message codes (localType; for 49 the app sub-type is packed above bit 32 or in the label)
_TEXT, _IMAGE, _VOICE, _CARD, _VIDEO, _STICKER, _LOCATION, _APP, _CALL = 1, 3, 34, 42, 43, 47, 48, 49, 50
_SYSTEM_CODES = frozenset({10000, 10002})
_APP_LINK = frozenset({3, 4, 5})  # music card, card link, article
_APP_FILE, _APP_QUOTE = 6, 57

_MEDIA: dict[MessageKind, str] = {
    MessageKind.IMAGE: "[图片]",
    MessageKind.VOICE: "[语音]",
    MessageKind.VIDEO: "[视频]",
    MessageKind.STICKER: "[表情]",
}
_BY_CODE = {
    _IMAGE: MessageKind.IMAGE,
    _VOICE: MessageKind.VOICE,
    _VIDEO: MessageKind.VIDEO,
    _STICKER: MessageKind.STICKER,
}
_OTHER_BY_CODE = {_CARD: "[名片]", _LOCATION: "[位置]", _CALL: "[通话]"}
_OTHER_BY_APP = {19: "[聊天记录]", 33: "[小程序]", 36: "[小程序]", 2000: "[转账]", 2001: "[红包]"}
_APP_PLACEHOLDER = "[应用消息]"
_OTHER_PLACEHOLDER = "[其他消息]"

# The Chinese type labels, most specific first ("视频号" before "视频", "通话" before "语音").
_LABELS: tuple[tuple[str, MessageKind, str], ...] = (
    ("引用", MessageKind.QUOTE, ""),
    ("文件", MessageKind.FILE, ""),
    ("系统", MessageKind.SYSTEM, ""),
    ("撤回", MessageKind.SYSTEM, ""),
    ("通话", MessageKind.OTHER, "[通话]"),
    ("视频号", MessageKind.OTHER, "[视频号]"),
    ("聊天记录", MessageKind.OTHER, "[聊天记录]"),
    ("小程序", MessageKind.OTHER, "[小程序]"),
    ("转账", MessageKind.OTHER, "[转账]"),
    ("红包", MessageKind.OTHER, "[红包]"),
    ("名片", MessageKind.OTHER, "[名片]"),
    ("位置", MessageKind.OTHER, "[位置]"),
    ("拍一拍", MessageKind.OTHER, "[拍一拍]"),
    ("图片", MessageKind.IMAGE, ""),
    ("语音", MessageKind.VOICE, ""),
    ("视频", MessageKind.VIDEO, ""),
    ("表情", MessageKind.STICKER, ""),
    ("链接", MessageKind.LINK, ""),
    ("图文", MessageKind.LINK, ""),
    ("分享", MessageKind.LINK, ""),
    ("音乐", MessageKind.LINK, ""),
    ("文本", MessageKind.TEXT, ""),
)

# ChatLab's message types
_CHATLAB: dict[int, tuple[MessageKind, str]] = {
    0: (MessageKind.TEXT, ""),
    1: (MessageKind.IMAGE, ""),
    2: (MessageKind.VOICE, ""),
    3: (MessageKind.VIDEO, ""),
    4: (MessageKind.FILE, ""),
    5: (MessageKind.STICKER, ""),
    7: (MessageKind.LINK, ""),
    8: (MessageKind.OTHER, "[位置]"),
    20: (MessageKind.OTHER, "[红包]"),
    21: (MessageKind.OTHER, "[转账]"),
    22: (MessageKind.OTHER, "[拍一拍]"),
    23: (MessageKind.OTHER, "[通话]"),
    24: (MessageKind.OTHER, "[小程序]"),
    25: (MessageKind.QUOTE, ""),
    26: (MessageKind.OTHER, "[聊天记录]"),
    27: (MessageKind.OTHER, "[名片]"),
    80: (MessageKind.SYSTEM, ""),
    81: (MessageKind.SYSTEM, ""),
    99: (MessageKind.OTHER, ""),
}

_CDATA = re.compile(r"^<!\[CDATA\[(.*)\]\]>$", re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_MEDIA_PATH = re.compile(r"^(images|voices|videos|emojis|files)[\\/]", re.IGNORECASE)
_LABEL_PREFIX = re.compile(r"^\[[^\[\]]{1,8}\]\s*")  # "[文件] ", "[链接] " as some builds render


class _Problem(Exception):
    """Internal: this record is skipped; the message names the field."""


@dataclass(slots=True)
class _Chat:
    """What the export says about its chat."""

    path: str
    group_id: str
    topic: str
    self_id: str | None
    members: dict[str, str] = field(default_factory=dict)  # ChatLab platformId -> name


@dataclass(slots=True)
class _Ids:
    """Id bookkeeping across one file: duplicates of server ids are errors, fallback ids are numbered."""

    seen: dict[str, int] = field(default_factory=dict)  # id -> position first seen
    fallback_counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WeFlowFormat:
    """The :class:`~bot.adapters.source.ExportFormat` of WeFlow's JSON and ChatLab exports."""

    @property
    def name(self) -> str:
        return "weflow"

    @property
    def description(self) -> str:
        return "WeFlow JSON or ChatLab JSON/JSONL export of a WeChat group (WeChat 4.x)"

    def sniff(self, path: Path, head: bytes) -> bool:
        return sniff(head)

    def read(self, path: Path, *, group_id: str | None = None, self_id: str | None = None) -> ReadResult:
        return read_weflow(path, group_id=group_id, self_id=self_id)


FORMAT = WeFlowFormat()


def sniff(head: bytes) -> bool:
    """A JSON object with a top-level ``weflow`` or ``chatlab`` key, or JSON Lines whose first line
    is an object with ``_type`` (or ``chatlab``)."""
    if head.startswith(_UTF8_BOM):
        head = head[len(_UTF8_BOM) :]
    text = head.decode("utf-8", errors="replace").lstrip()
    if not text.startswith("{"):
        return False
    first_line = text.split("\n", 1)[0]
    try:
        first = json.loads(first_line)
    except (ValueError, RecursionError):
        first = None
    if isinstance(first, dict) and ("_type" in first or "weflow" in first or "chatlab" in first):
        return True
    keys = _top_level_keys(text)
    return "weflow" in keys or "chatlab" in keys


def _top_level_keys(text: str) -> set[str]:
    """The keys of the top-level object(s) in ``text``, which may be cut off anywhere."""
    keys: set[str] = set()
    depth, i, n = 0, 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                break
            if depth == 1:
                k = j + 1
                while k < n and text[k] in " \t\r\n":
                    k += 1
                if k < n and text[k] == ":":
                    try:
                        keys.add(json.loads(text[i : j + 1]))
                    except ValueError:
                        pass
            i = j + 1
            continue
        if c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
        i += 1
    return keys


def read_weflow(path: str | os.PathLike[str], *, group_id: str | None = None, self_id: str | None = None) -> ReadResult:
    """Read a whole WeFlow / ChatLab export (see the module's docstring). ``group_id`` is used when
    the export names no ``@chatroom`` id; ``self_id`` stands in for the exporting account where a
    sent message has no sender, and tells ``mentions_bot``. Blank strings count as not given."""
    if group_id is not None and not isinstance(group_id, str):
        raise ValueError(f"group_id: must be a string or None, got {group_id!r}")
    if self_id is not None and not isinstance(self_id, str):
        raise ValueError(f"self_id: must be a string or None, got {self_id!r}")
    name = os.fspath(path)
    raw = Path(name).read_bytes()
    if raw.startswith(_UTF8_BOM):
        raw = raw[len(_UTF8_BOM) :]
    if not raw.strip():
        raise ImportFormatError(f"{name}: empty file, expected a WeFlow or ChatLab export")
    group = group_id.strip() if group_id and group_id.strip() else None
    me = self_id.strip() if self_id and self_id.strip() else None
    document: Any = None
    error = ""
    try:
        document = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        error = f"not valid UTF-8 at byte {e.start}"
    except json.JSONDecodeError as e:
        error = f"not valid JSON ({e.msg} at line {e.lineno} column {e.colno})"
    except (ValueError, RecursionError) as e:
        error = f"not valid JSON ({e})"
    if isinstance(document, dict) and "_type" not in document:
        return _read_document(name, document, group, me)
    lines = raw.split(b"\n")
    if _is_jsonl(lines):
        return _read_lines(name, lines, group, me)
    if error:
        raise ImportFormatError(f"{name}: {error}; expected a WeFlow or ChatLab export")
    raise ImportFormatError(f"{name}: expected a JSON object (a WeFlow or ChatLab export), got {json_type(document)}")


def _is_jsonl(lines: list[bytes]) -> bool:
    for raw in lines:
        if not raw.strip():
            continue
        try:
            first = json.loads(raw.decode("utf-8", errors="replace"))
        except (ValueError, RecursionError):
            return False
        return isinstance(first, dict) and (
            "_type" in first or (isinstance(first.get("chatlab"), dict) and "messages" not in first)
        )
    return False


# ---- the chat: group id, name, private or not ----


def _chat(
    path: str,
    session: Any,
    meta: Any,
    group_arg: str | None,
    self_id: str | None,
) -> _Chat:
    session = session if isinstance(session, dict) else {}
    meta = meta if isinstance(meta, dict) else {}
    kinds = {str(v).strip() for v in (session.get("type"), meta.get("type")) if isinstance(v, str) and v.strip()}
    ids = [
        v.strip()
        for v in (session.get("wxid"), session.get("accountId"), session.get("userName"), meta.get("groupId"))
        if isinstance(v, str) and v.strip()
    ]
    topic = ""
    for v in (session.get("nickname"), session.get("displayName"), session.get("remark"), meta.get("name")):
        if isinstance(v, str) and v.strip():
            topic = v.strip()
            break
    who = f" ({topic})" if topic else ""
    if kinds & _PRIVATE_TYPES:
        raise ImportFormatError(f"{path}: a private chat{who}: qunzhi reads group chats only (export a group: 群聊)")
    rooms = [i for i in ids if i.endswith("@chatroom")]
    if rooms:
        return _Chat(path, rooms[0], topic, self_id)
    if group_arg:
        return _Chat(path, group_arg, topic, self_id)
    if ids and kinds & _GROUP_TYPES:
        return _Chat(path, ids[0], topic, self_id)
    if ids:
        raise ImportFormatError(
            f"{path}: chat {ids[0]!r}{who} is not a group (no @chatroom id, no group type): "
            "qunzhi reads group chats only; pass --group-id if it is one"
        )
    raise ImportFormatError(f"{path}: the export names no group id; pass --group-id")


def _rooms(chat: _Chat) -> list[RoomInfo]:
    return [RoomInfo(chat.group_id, topic=chat.topic)]


# ---- one JSON document ----


def _read_document(path: str, document: dict[str, Any], group_arg: str | None, self_id: str | None) -> ReadResult:
    records = document.get("messages")
    if not isinstance(records, list):
        found = ", ".join(sorted(map(str, document))) or "nothing"
        raise ImportFormatError(f"{path}: not a WeFlow or ChatLab export: no 'messages' list (top-level keys: {found})")
    if not any(k in document for k in ("session", "weflow", "chatlab", "meta")):
        raise ImportFormatError(f"{path}: not a WeFlow or ChatLab export: no 'session', 'weflow', 'chatlab' or 'meta'")
    chat = _chat(path, document.get("session"), document.get("meta"), group_arg, self_id)
    members = document.get("members")
    if isinstance(members, list):
        for member in members:
            _add_member(chat, member)
    ids = _Ids()
    result = ReadResult(rooms=_rooms(chat))
    for number, record in enumerate(records, start=1):
        try:
            message = _message(record, chat, ids, number, lambda n: f"message {n}")
        except _Problem as e:
            result.errors.append(RowError(path, number, f"message {number}: {e}"))
            continue
        result.messages.append(message)
    return result


def _add_member(chat: _Chat, member: Any) -> None:
    if not isinstance(member, dict):
        return
    platform_id = member.get("platformId")
    if not isinstance(platform_id, str) or not platform_id.strip():
        return
    name = _first_str(member.get("groupNickname"), member.get("accountName"))
    if name:
        chat.members[platform_id.strip()] = name


# ---- ChatLab JSON Lines ----


def _read_lines(path: str, lines: list[bytes], group_arg: str | None, self_id: str | None) -> ReadResult:
    parsed: list[tuple[int, dict[str, Any] | RowError]] = list(_parse_lines(path, lines))
    chatlab_meta: dict[str, Any] = {}
    for _, obj in parsed:
        if isinstance(obj, dict) and _line_type(obj) in _HEADER_TYPES:
            meta = obj.get("meta")
            if isinstance(meta, dict):
                chatlab_meta.update(meta)
            elif obj.get("_type") == "meta":
                chatlab_meta.update({k: v for k, v in obj.items() if k != "_type"})
    chat = _chat(path, None, chatlab_meta, group_arg, self_id)
    for _, obj in parsed:
        if isinstance(obj, dict) and _line_type(obj) == "member":
            _add_member(chat, obj)
    ids = _Ids()
    result = ReadResult(rooms=_rooms(chat))
    for number, obj in parsed:
        if isinstance(obj, RowError):
            result.errors.append(obj)
            continue
        kind = _line_type(obj)
        if kind in _HEADER_TYPES or kind == "member":
            continue
        if kind != "message":
            result.errors.append(RowError(path, number, f"_type: unknown record type {obj.get('_type')!r}"))
            continue
        try:
            message = _message(obj, chat, ids, number, lambda n: f"line {n}")
        except _Problem as e:
            result.errors.append(RowError(path, number, str(e)))
            continue
        result.messages.append(message)
    return result


def _parse_lines(path: str, lines: list[bytes]) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    for number, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            yield number, RowError(path, number, f"line: not valid UTF-8 ({e.reason} at byte {e.start})")
            continue
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            yield number, RowError(path, number, f"line: invalid JSON ({e.msg} at column {e.colno})")
            continue
        except (ValueError, RecursionError) as e:
            yield number, RowError(path, number, f"line: invalid JSON ({e})")
            continue
        if not isinstance(obj, dict):
            yield number, RowError(path, number, f"line: expected a JSON object, got {json_type(obj)}")
            continue
        yield number, obj


def _line_type(obj: dict[str, Any]) -> str:
    kind = obj.get("_type")
    if isinstance(kind, str):
        return kind
    if kind is None and ("chatlab" in obj or "meta" in obj):
        return "header"
    return "" if kind is None else repr(kind)


# ---- one message ----


@dataclass(slots=True)
class _Fields:
    seconds: float
    sender: str
    sender_name: str
    kind: MessageKind
    text: str
    platform_id: str | None
    reply_to: str | None = None
    quote: str = ""
    mentions: tuple[str, ...] = ()


def _message(record: Any, chat: _Chat, ids: _Ids, number: int, where: Callable[[int], str]) -> GroupMessage:
    if not isinstance(record, dict):
        raise _Problem(f"record: expected a JSON object, got {json_type(record)}")
    weflow = any(k in record for k in ("createTime", "senderUsername", "localType", "localId"))
    f = _weflow_fields(record, chat) if weflow else _chatlab_fields(record, chat)
    if f.platform_id is not None:
        msg_id = f.platform_id
        first = ids.seen.setdefault(msg_id, number)
        if first != number:
            raise _Problem(f"platformMessageId: duplicate {msg_id!r} (first in {where(first)})")
    else:
        digest = hashlib.sha1(f"{f.kind.value}\x1f{f.text}".encode()).hexdigest()[:16]
        base = f"{chat.group_id}:{int(f.seconds)}:{f.sender}:{digest}"
        count = ids.fallback_counts.get(base, 0) + 1
        ids.fallback_counts[base] = count
        msg_id = base if count == 1 else f"{base}:{count}"
        ids.seen.setdefault(msg_id, number)
    try:
        return GroupMessage(
            id=msg_id,
            source=SOURCE,
            group_id=chat.group_id,
            sender_id=f.sender,
            sender_name=f.sender_name or f.sender,
            sent_at=datetime.fromtimestamp(f.seconds, timezone.utc),
            kind=f.kind,
            text=f.text,
            group_topic=chat.topic,
            mentions=f.mentions,
            mentions_bot=bool(chat.self_id and chat.self_id in f.mentions),
            reply_to=f.reply_to,
            quote=f.quote,
        )
    except MessageError as e:
        raise _Problem(str(e)) from None


def _weflow_fields(record: dict[str, Any], chat: _Chat) -> _Fields:
    seconds = _unix_seconds(record.get("createTime"), "createTime")
    local_type = _optional_int(record.get("localType"), "localType")
    label = _optional_str(record.get("type"), "type")
    content = _optional_str(record.get("content"), "content")
    sender = _optional_str(record.get("senderUsername"), "senderUsername").strip()
    name = _optional_str(record.get("senderDisplayName"), "senderDisplayName").strip()
    is_send = record.get("isSend") in (1, True, "1")
    if sender and content.startswith(f"{sender}:\n"):  # WeChat's "speaker:\n" prefix of group rows
        content = content[len(sender) + 2 :]
    kind, placeholder = _weflow_kind(local_type, label, content)
    text = _text(kind, placeholder, content, "content")
    if kind is MessageKind.SYSTEM:
        sender, name = SYSTEM_SENDER_ID, SYSTEM_SENDER_NAME
    elif not sender:
        if not is_send:
            raise _Problem("senderUsername: empty for a message not sent by the exporting account (isSend=0)")
        sender = chat.self_id or DEFAULT_SELF_ID
    reply_to = _message_id(record.get("replyToMessageId"), "replyToMessageId")
    quote = ""
    if reply_to is None:
        quoted_sender = _optional_str(record.get("quotedSender"), "quotedSender").strip()
        quoted = fold_space(_optional_str(record.get("quotedContent"), "quotedContent"))
        quote = "：".join(p for p in (quoted_sender, quoted) if p)
    return _Fields(
        seconds=seconds,
        sender=sender,
        sender_name=name,
        kind=kind,
        text=text,
        platform_id=_message_id(record.get("platformMessageId"), "platformMessageId"),
        reply_to=reply_to,
        quote=quote,
        mentions=_at_users(_optional_str(record.get("source"), "source")),
    )


def _chatlab_fields(record: dict[str, Any], chat: _Chat) -> _Fields:
    seconds = _unix_seconds(record.get("timestamp"), "timestamp")
    code = _optional_int(record.get("type"), "type")
    if code is None:
        raise _Problem("type: missing (a ChatLab message type number)")
    content = _optional_str(record.get("content"), "content")
    kind, placeholder = _CHATLAB.get(code, (MessageKind.OTHER, ""))
    text = _text(kind, placeholder, content, "content")
    sender = _optional_str(record.get("sender"), "sender").strip()
    name = _first_str(record.get("groupNickname"), record.get("accountName"))
    if kind is MessageKind.SYSTEM:
        sender, name = SYSTEM_SENDER_ID, SYSTEM_SENDER_NAME
    elif not sender:
        raise _Problem("sender: empty")
    else:
        name = name or chat.members.get(sender, "")
    return _Fields(
        seconds=seconds,
        sender=sender,
        sender_name=name,
        kind=kind,
        text=text,
        platform_id=_message_id(record.get("platformMessageId"), "platformMessageId"),
        reply_to=_message_id(record.get("replyToMessageId"), "replyToMessageId"),
    )


def _weflow_kind(local_type: int | None, label: str, content: str) -> tuple[MessageKind, str]:
    """``(kind, placeholder)``: by the code when it is known, else by the label."""
    if local_type is not None:
        base, sub = local_type & 0xFFFFFFFF, local_type >> 32
        if base == _TEXT and sub == 0:
            return MessageKind.TEXT, ""
        if base in _BY_CODE:
            return _BY_CODE[base], ""
        if base in _OTHER_BY_CODE:
            return MessageKind.OTHER, _OTHER_BY_CODE[base]
        if base in _SYSTEM_CODES:
            return MessageKind.SYSTEM, ""
        if base == _APP:
            sub = sub or _xml_int(content, "type")
            if sub in _APP_LINK:
                return MessageKind.LINK, ""
            if sub == _APP_FILE:
                return MessageKind.FILE, ""
            if sub == _APP_QUOTE:
                return MessageKind.QUOTE, ""
            if sub in _OTHER_BY_APP:
                return MessageKind.OTHER, _OTHER_BY_APP[sub]
            by_label = _by_label(label)
            if by_label is not None and sub == 0:
                return by_label
            return MessageKind.OTHER, _APP_PLACEHOLDER
    return _by_label(label) or (MessageKind.OTHER, _OTHER_PLACEHOLDER)


def _by_label(label: str) -> tuple[MessageKind, str] | None:
    for word, kind, placeholder in _LABELS:
        if word in label:
            return kind, placeholder
    return None


def _text(kind: MessageKind, placeholder: str, content: str, field_name: str) -> str:
    """The text a message of ``kind`` shows; never a media path or raw XML."""
    if kind in _MEDIA:
        return _MEDIA[kind]
    if kind is MessageKind.TEXT:
        if not content.strip():
            raise _Problem(f"{field_name}: empty for a text message")
        return content
    xml = _looks_like_xml(content)
    if kind is MessageKind.SYSTEM:
        text = fold_space(html.unescape(_TAG.sub(" ", content))) if xml else fold_space(content)
        return text or "[系统消息]"
    if kind is MessageKind.FILE:
        name = _xml_field(content, "title") if xml else basename(_LABEL_PREFIX.sub("", content.strip()))
        return f"[文件] {name}" if name else "[文件]"
    if kind is MessageKind.LINK:
        if xml:
            joined = " ".join(p for p in (_xml_field(content, "title"), _xml_field(content, "url")) if p)
            return joined or "[链接]"
        return fold_space(content) or "[链接]"
    if kind is MessageKind.QUOTE:
        if xml:
            return _xml_field(content, "title") or "[引用消息]"
        return content.strip() or "[引用消息]"
    # OTHER
    if xml:
        return _xml_field(content, "title") or placeholder or _APP_PLACEHOLDER
    plain = content.strip()
    if not plain or _MEDIA_PATH.match(plain):
        return placeholder or _OTHER_PLACEHOLDER
    return plain


# ---- field helpers ----


def _unix_seconds(value: Any, field_name: str) -> float:
    if value is None:
        raise _Problem(f"{field_name}: missing (unix seconds)")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Problem(f"{field_name}: must be a unix time (a number), got {json_type(value)}")
    if not value > 0 or value != value or value == float("inf"):
        raise _Problem(f"{field_name}: not a unix time: {value!r}")
    seconds = value / 1000 if value >= MS_THRESHOLD else value
    try:
        datetime.fromtimestamp(seconds, timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise _Problem(f"{field_name}: unix time out of range: {value!r}") from None
    return float(seconds)


def _optional_int(value: Any, field_name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Problem(f"{field_name}: must be an integer, got {value!r}")
    return value


def _optional_str(value: Any, field_name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Problem(f"{field_name}: must be a string, got {json_type(value)}")
    return value.replace("\r\n", "\n")


def _first_str(*values: Any) -> str:
    for v in values:
        if isinstance(v, str) and v.strip():
            return v.strip()
    return ""


def _message_id(value: Any, field_name: str) -> str | None:
    """A server id as a string (64-bit ids stay exact); absent, empty or ``0`` is None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _Problem(f"{field_name}: must be an id string, got {json_type(value)}")
    text = str(value).strip()
    return None if text in ("", "0") else text


def _at_users(msgsource: str) -> tuple[str, ...]:
    """The contact ids in ``<atuserlist>`` of a ``<msgsource>`` payload, in order, ``notify@all`` left out."""
    raw = _xml_field(msgsource, "atuserlist", clean=False) if "atuserlist" in msgsource else ""
    found: list[str] = []
    for part in raw.split(","):
        contact = part.strip()
        if contact and contact != "notify@all" and contact not in found:
            found.append(contact)
    return tuple(found)


def _looks_like_xml(content: str) -> bool:
    stripped = content.lstrip()
    return stripped.startswith("<") and ">" in stripped


def _xml_field(xml: str, tag: str, *, clean: bool = True) -> str:
    match = re.search(rf"<{tag}(?:\s[^>]*)?>(.*?)</{tag}>", xml, re.DOTALL)
    if not match:
        return ""
    value = match.group(1).strip()
    cdata = _CDATA.match(value)
    value = cdata.group(1) if cdata else html.unescape(value)
    return fold_space(value) if clean else value


def _xml_int(xml: str, tag: str) -> int:
    value = _xml_field(xml, tag) if _looks_like_xml(xml) else ""
    return int(value) if value.isdigit() else 0
