"""Import a QQ group chat exported by QQ Chat Exporter (shuakami/qq-chat-exporter, read at ``888b51f``).

Two layouts, both read by :func:`read_qq_export` (and ``qunzhi import --format qq``):

* **JSON**: one object ``{metadata, chatInfo, statistics, messages: [...], avatars?, exportOptions?}``;
* **chunked**: a folder with ``manifest.json`` and ``chunks/c000001.jsonl``, ``c000002.jsonl``, ... (one
  message object per line). Pass the manifest or the folder. The manifest's ``chatInfo`` (top level,
  else under ``metadata``) describes the chat as in the JSON layout; the chunk files are those the
  manifest lists under ``chunks`` (strings, or objects naming ``file``/``path``/``name``), else every
  ``chunks/*.jsonl`` in name order. (The manifest's exact layout is not in the note: unverified.)

Only group chats are read: ``chatInfo.type`` must be ``group`` (``private`` and ``temp`` raise
:class:`ImportFormatError` saying qunzhi reads group chats only).

Ids — every id this reader builds starts with ``qq:``, so nothing from QQ can collide with a WeChat id:

* ``group_id`` = the ``group_id`` argument when given (``qq:`` is put in front when it lacks it, so
  ``123456`` and ``qq:123456`` are the same group), else ``"qq:" + chatInfo.peerUin`` (else
  ``peerUid``, which for a group is its number too). The room's name (``chatInfo.name``) is never an
  id: a file that names no number needs ``group_id`` (``qunzhi import --group-id``).
* a person (``sender_id``, ``mentions``, the ``self_id`` argument) = ``"qq:" + uin`` (the QQ number)
  when the record or any other record of the file pairs their ``uid`` with a uin, else
  ``"qq:" + uid`` (``u_...``). Senders, ``at`` elements and ``content.mentions`` all go through the
  same rule, so one person has one id in the file and across exports.
* ``id`` = the message's ``id`` (a 64-bit number kept as a string: stable across re-imports and
  overlapping exports of the same chat); ``source`` = ``"qq"``.

Mapping to :class:`GroupMessage`:

* ``sent_at`` = ``timestamp`` (epoch ms; a value under 10**11 is taken as seconds), else ``time``
  (ISO 8601 with an offset).
* ``sender_name`` = ``sender.name`` (the exporter's group card > remark > nickname > uin), else
  ``groupCard``, ``remark``, ``nickname``, the uin, the sender id.
* system rows (``system: true``, ``type: "system"`` or ``sender.uid == "未知"``): kind ``SYSTEM``,
  sender :data:`SYSTEM_SENDER_ID` (``@system``) named ``系统消息``, text from the elements, else
  ``content.text``.
* ``recalled: true``: not imported (the sender took it back; it is skipped silently). A message
  stored by an earlier import before it was recalled stays stored.
* ``kind``/``text`` from ``type`` and ``content.elements``, never from ``content.text``'s own
  placeholders (``[图片:a.jpg]``): ``file`` → FILE ``"[文件] name"``; ``video`` → VIDEO ``[视频]``;
  ``audio`` → VOICE ``[语音]``; ``forward`` → OTHER ``"[聊天记录] title"``; ``json`` (a QQ card) →
  LINK ``"title url"`` when it carries an http(s) link (``jumpUrl``/``qqdocurl``/``url``), else OTHER
  (its title or ``[应用消息]``); otherwise the text is built in element order: ``text`` as is,
  ``at`` as ``@name``, ``image`` as ``[图片]``, ``face`` as ``[name]`` (else ``[表情]``),
  ``market_face`` as ``[表情]``; unknown elements add nothing. A message with a ``reply`` element is
  QUOTE (its text is the reply's own words); only images → IMAGE; only faces/stickers → STICKER
  ``[表情]``; else TEXT; nothing at all → OTHER ``[其他消息]``. A record without ``elements`` (older
  builds) falls back to ``content.text`` with the exporter's ``[图片:x]`` placeholders cut to ours.
* ``mentions``: ``at`` elements with ``atType`` 2 and ``content.mentions`` of type ``user``, as
  person ids (in order, each once). ``@全体成员`` (``atType`` 1 / type ``all``) names no one: it adds
  no id and does not set ``mentions_bot``. ``mentions_bot`` = the exporting account (``self_id``,
  else ``chatInfo.selfUin``/``selfUid``) is among ``mentions``.
* ``reply_to`` = the ``reply`` element's ``messageId`` (the quoted message's ``id``); when it is
  ``"0"`` (the exporter could not resolve it) ``quote`` = ``"senderName：content"`` instead.
* ``group_topic`` = ``chatInfo.name``; ``ReadResult.rooms`` has the one room with that name.

A bad record (not an object, no ``id``, bad ``timestamp``, no sender id, a malformed element,
duplicate ``id``) becomes a :class:`RowError`: for the JSON layout ``line`` is the 1-based message
number and the text says ``message N``; for chunks ``line`` is the line in that chunk file. The read
goes on. A file that is not such an export at all raises :class:`ImportFormatError`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bot.adapters.errors import ImportFormatError, ReadResult, RowError
from bot.adapters.memotrace import SYSTEM_SENDER_ID, SYSTEM_SENDER_NAME
from bot.adapters.text import clean, json_type
from bot.message import GroupMessage, MessageError, MessageKind, RoomInfo

__all__ = ["FORMAT", "ID_PREFIX", "SOURCE", "QQExportFormat", "qq_id", "read_qq_export"]

SOURCE = "qq"
ID_PREFIX = "qq:"
MANIFEST = "manifest.json"
CHUNKS = "chunks"

_SYSTEM_UID = "未知"
_UTF8_BOM = b"\xef\xbb\xbf"
_SNIFF_HEAD = 64 * 1024
_MS_THRESHOLD = 10**11  # epoch seconds stay below this until the year 5138; epoch ms of 1973+ above
_AT_ALL = 1
_URL_KEYS = ("jumpUrl", "qqdocurl", "url")
# the exporter's own placeholders in content.text and reply contents: "[图片:a.jpg]", "[语音:3秒]"
_EXPORTER_PLACEHOLDER = re.compile(r"\[(图片|语音|视频|表情|动画表情|文件)[:：]([^\]]*)\]")
_OURS = {"图片": "[图片]", "语音": "[语音]", "视频": "[视频]", "表情": "[表情]", "动画表情": "[表情]"}


class _RowProblem(Exception):
    """Internal: this record is skipped; the message names the field."""


@dataclass(frozen=True, slots=True)
class QQExportFormat:
    """The :class:`~bot.adapters.source.ExportFormat` for QQ Chat Exporter files."""

    name: str = "qq"
    description: str = "QQ Chat Exporter JSON (a group's .json, or a chunked export's manifest.json / folder)"

    def sniff(self, path: Path, head: bytes) -> bool:
        return sniff_qq_export(path, head)

    def read(self, path: Path, *, group_id: str | None = None, self_id: str | None = None) -> ReadResult:
        return read_qq_export(path, group_id=group_id, self_id=self_id)


FORMAT = QQExportFormat()


def qq_id(value: str) -> str:
    """``value`` as a qunzhi id for QQ: ``qq:`` in front unless it is there already."""
    value = value.strip()
    return value if value.startswith(ID_PREFIX) else ID_PREFIX + value


def sniff_qq_export(path: Path, head: bytes) -> bool:
    """A JSON object naming ``chatInfo`` and ``messages`` near its start, or a chunked export's
    ``manifest.json`` (or its folder) with ``chunks/`` beside it."""
    path = Path(path)
    if path.is_dir():
        return (path / MANIFEST).is_file() and (path / CHUNKS).is_dir()
    body = head[len(_UTF8_BOM) :] if head.startswith(_UTF8_BOM) else head
    if not body.lstrip().startswith(b"{"):
        return False
    if path.name == MANIFEST and (path.parent / CHUNKS).is_dir():
        return True
    # "messages" may come after a long statistics block; a full 64 KiB head naming chatInfo will do
    return b'"chatInfo"' in body and (b'"messages"' in body or len(head) >= _SNIFF_HEAD)


def read_qq_export(
    path: str | os.PathLike[str], *, group_id: str | None = None, self_id: str | None = None
) -> ReadResult:
    """Every message of a QQ Chat Exporter group export (see the module docstring), bad records as
    :class:`RowError`. ``group_id`` overrides the group's number from the file (and is required when
    the file has none); ``self_id`` (a QQ number, uid or ``qq:`` id) is the exporting account, for
    ``mentions_bot``, else ``chatInfo.selfUin``/``selfUid``. Raises :class:`ImportFormatError` when
    the file is not such an export, is not a group chat, or names no group and ``group_id`` is None."""
    for name, value in (("group_id", group_id), ("self_id", self_id)):
        if value is not None and (not isinstance(value, str) or not value.strip() or value.strip() == ID_PREFIX):
            raise ValueError(f"{name}: must be a non-empty string or None, got {value!r}")
    export = _load(Path(path))
    chat = export.chat
    kind = chat.get("type")
    if kind in ("private", "temp"):
        what = "a private chat" if kind == "private" else "a temporary session (临时会话)"
        raise ImportFormatError(
            f"{export.path}: chatInfo.type is {kind!r}: this is {what}; qunzhi imports group chats only"
        )
    if kind != "group":
        raise ImportFormatError(f"{export.path}: chatInfo.type: expected 'group', got {kind!r}")
    group = qq_id(group_id) if group_id is not None else _file_group_id(export.path, chat)
    topic = _text(chat.get("name")).strip()

    people = _People.learn(r.value for r in export.records)
    me = (
        people.id(_text(chat.get("selfUid")), _text(chat.get("selfUin"))) if self_id is None else _self(self_id, people)
    )
    context = _Context(group, topic, people, me)

    result = ReadResult(rooms=[RoomInfo(group_id=group, topic=topic)])
    seen: dict[str, int] = {}
    for record in export.records:
        try:
            message = _to_message(record.value, context)
        except _RowProblem as e:
            result.errors.append(RowError(record.path, record.line, f"message {record.number}: {e}"))
            continue
        if message is None:
            continue  # recalled
        first = seen.setdefault(message.id, record.number)
        if first != record.number:
            result.errors.append(
                RowError(
                    record.path,
                    record.line,
                    f"message {record.number}: id: duplicate {message.id!r} (first as message {first})",
                )
            )
            continue
        result.messages.append(message)
    return result


# -- loading ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Record:
    path: str
    line: int  # 1-based: the message number (JSON layout) or the line in its chunk file
    number: int  # 1-based message number across the export
    value: Any  # the decoded object, or a _RowProblem when it could not be decoded


@dataclass(slots=True)
class _Export:
    path: str
    chat: dict[str, Any]
    records: list[_Record] = field(default_factory=list)


def _load(path: Path) -> _Export:
    if path.is_dir():
        manifest = path / MANIFEST
        if not manifest.is_file():
            raise ImportFormatError(
                f"{path}: a folder, but no {MANIFEST} in it (not a chunked QQ Chat Exporter export)"
            )
        return _load_chunked(manifest)
    if path.name == MANIFEST:
        return _load_chunked(path)
    document = _read_json(path)
    chat = document.get("chatInfo")
    if not isinstance(chat, dict):
        raise ImportFormatError(f"{path}: not a QQ Chat Exporter export: no chatInfo object")
    messages = document.get("messages")
    if not isinstance(messages, list):
        raise ImportFormatError(f"{path}: not a QQ Chat Exporter export: no messages list")
    records = [_Record(str(path), n, n, value) for n, value in enumerate(messages, start=1)]
    return _Export(str(path), chat, records)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ImportFormatError(f"{path}: cannot read: {e.strerror or e}") from None
    if raw.startswith(_UTF8_BOM):
        raw = raw[len(_UTF8_BOM) :]
    try:
        document = json.loads(raw)
    except UnicodeDecodeError as e:
        raise ImportFormatError(f"{path}: not UTF-8 JSON ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise ImportFormatError(f"{path}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except (ValueError, RecursionError) as e:
        raise ImportFormatError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(document, dict):
        raise ImportFormatError(f"{path}: not a QQ Chat Exporter export: expected a JSON object")
    return document


def _load_chunked(manifest: Path) -> _Export:
    document = _read_json(manifest)
    chat = document.get("chatInfo")
    if not isinstance(chat, dict) and isinstance(document.get("metadata"), dict):
        chat = document["metadata"].get("chatInfo")
    if not isinstance(chat, dict):
        raise ImportFormatError(f"{manifest}: not a QQ Chat Exporter manifest: no chatInfo object")
    export = _Export(str(manifest), chat)
    number = 0
    for chunk in _chunk_files(manifest, document):
        for line, value in _chunk_lines(chunk):
            number += 1
            export.records.append(_Record(str(chunk), line, number, value))
    return export


def _chunk_files(manifest: Path, document: Mapping[str, Any]) -> list[Path]:
    folder = manifest.parent.resolve()
    listed = document.get("chunks")
    names: list[str] = []
    if isinstance(listed, list):
        for entry in listed:
            if isinstance(entry, dict):
                entry = next(
                    (entry[k] for k in ("file", "path", "name", "filename") if isinstance(entry.get(k), str)), None
                )
            if isinstance(entry, str) and entry.strip():
                names.append(entry.strip())
    if not names:
        files = sorted((folder / CHUNKS).glob("*.jsonl"))
        if not files:
            raise ImportFormatError(f"{manifest}: no chunk files ({CHUNKS}/*.jsonl) beside the manifest")
        return files
    files = []
    for name in names:
        candidates = [folder / name, folder / CHUNKS / name]
        found = next((c.resolve() for c in candidates if c.is_file()), None)
        if found is None:
            raise ImportFormatError(f"{manifest}: lists chunk {name!r}, which is not in {folder}")
        if not found.is_relative_to(folder):
            raise ImportFormatError(f"{manifest}: chunk {name!r} lies outside the export folder")
        files.append(found)
    return files


def _chunk_lines(chunk: Path) -> Iterator[tuple[int, Any]]:
    try:
        f = chunk.open("rb")
    except OSError as e:
        raise ImportFormatError(f"{chunk}: cannot read: {e.strerror or e}") from None
    with f:
        for line, raw in enumerate(f, start=1):
            if line == 1 and raw.startswith(_UTF8_BOM):
                raw = raw[len(_UTF8_BOM) :]
            if not raw.strip():
                continue
            try:
                yield line, json.loads(raw)
            except UnicodeDecodeError as e:
                yield line, _RowProblem(f"line: not valid UTF-8 ({e.reason} at byte {e.start})")
            except json.JSONDecodeError as e:
                yield line, _RowProblem(f"line: invalid JSON ({e.msg} at column {e.colno})")
            except (ValueError, RecursionError) as e:
                yield line, _RowProblem(f"line: invalid JSON ({e})")


def _file_group_id(path: str, chat: Mapping[str, Any]) -> str:
    for key in ("peerUin", "peerUid"):
        number = _number(chat.get(key))
        if number:
            return ID_PREFIX + number
    raise ImportFormatError(
        f"{path}: chatInfo names no group number (peerUin/peerUid); pass the QQ group's number as "
        "group_id (qunzhi import --group-id 123456789)"
    )


# -- people -------------------------------------------------------------------------------


@dataclass(slots=True)
class _People:
    """Person ids: ``qq:<uin>`` where the file pairs the uid with a uin, else ``qq:<uid>``."""

    uin_of: dict[str, str] = field(default_factory=dict)

    @classmethod
    def learn(cls, records: Iterable[Any]) -> _People:
        people = cls()
        for record in records:
            if not isinstance(record, dict):
                continue
            people.note(record.get("sender"))
            content = record.get("content")
            elements = content.get("elements") if isinstance(content, dict) else None
            for element in elements if isinstance(elements, list) else ():
                if isinstance(element, dict) and element.get("type") == "at":
                    people.note(element.get("data"))
        return people

    def note(self, person: Any) -> None:
        if isinstance(person, dict):
            uid, uin = _text(person.get("uid")).strip(), _number(person.get("uin"))
            if uid and uin and uid != _SYSTEM_UID:
                self.uin_of.setdefault(uid, uin)

    def id(self, uid: str, uin: str) -> str | None:
        uid, uin = uid.strip(), _number(uin)
        if uin:
            return ID_PREFIX + uin
        if uid and uid != _SYSTEM_UID:
            return ID_PREFIX + self.uin_of.get(uid, uid)
        return None


def _self(value: str, people: _People) -> str:
    value = value.strip()
    if value.startswith(ID_PREFIX):
        return value
    resolved = people.id(uid="", uin=value) if value.isdigit() else people.id(uid=value, uin="")
    return resolved or qq_id(value)


# -- one message --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Context:
    group: str
    topic: str
    people: _People
    me: str | None


@dataclass(slots=True)
class _Parts:
    """What a message's elements add up to."""

    text: list[str] = field(default_factory=list)
    words: bool = False  # text or @ elements
    images: int = 0
    stickers: int = 0
    mentions: list[str] = field(default_factory=list)
    reply: dict[str, Any] | None = None
    file: str | None = None
    video: bool = False
    audio: bool = False
    forward: dict[str, Any] | None = None
    card: dict[str, Any] | None = None


def _to_message(record: Any, context: _Context) -> GroupMessage | None:
    if isinstance(record, _RowProblem):
        raise record
    if not isinstance(record, dict):
        raise _RowProblem(f"record: expected a JSON object, got {json_type(record)}")
    if record.get("recalled") is True:
        return None
    msg_id = record.get("id")
    if isinstance(msg_id, int) and not isinstance(msg_id, bool):
        msg_id = str(msg_id)
    if not isinstance(msg_id, str) or not msg_id.strip():
        raise _RowProblem(f"id: must be a non-empty string, got {msg_id!r}")
    sent_at = _sent_at(record)
    sender = record.get("sender")
    if not isinstance(sender, dict):
        raise _RowProblem(f"sender: expected an object, got {json_type(sender)}")
    content = record.get("content")
    if content is None:
        content = {}
    if not isinstance(content, dict):
        raise _RowProblem(f"content: expected an object, got {json_type(content)}")
    msg_type = _text(record.get("type"))
    uid = _text(sender.get("uid")).strip()
    system = record.get("system") is True or msg_type == "system" or uid == _SYSTEM_UID

    parts = _elements(content, context.people)
    if system:
        sender_id, sender_name = SYSTEM_SENDER_ID, SYSTEM_SENDER_NAME
        kind = MessageKind.SYSTEM
        text = "".join(parts.text).strip() or _text(content.get("text")).strip() or "[系统消息]"
    else:
        found = context.people.id(uid, _text(sender.get("uin")))
        if found is None:
            raise _RowProblem("sender: no uin or uid")
        sender_id = found
        sender_name = next(
            (n for k in ("name", "groupCard", "remark", "nickname") if (n := _text(sender.get(k)).strip())),
            _number(sender.get("uin")) or sender_id,
        )
        kind, text = _kind_and_text(msg_type, parts, content)

    reply_to, quote = None, ""
    if parts.reply is not None and not system:
        reply_to, quote = _reply(parts.reply)
    mentions = _mentions(parts, content, context.people)
    try:
        return GroupMessage(
            id=msg_id.strip(),
            source=SOURCE,
            group_id=context.group,
            sender_id=sender_id,
            sender_name=sender_name,
            sent_at=sent_at,
            kind=kind,
            text=text,
            group_topic=context.topic,
            mentions=mentions,
            mentions_bot=bool(context.me and context.me in mentions),
            reply_to=reply_to,
            quote=quote,
        )
    except MessageError as e:
        raise _RowProblem(str(e)) from None


def _sent_at(record: Mapping[str, Any]) -> datetime:
    value = record.get("timestamp")
    if value is None:
        iso = record.get("time")
        if not isinstance(iso, str) or not iso.strip():
            raise _RowProblem("timestamp: missing (and no time)")
        try:
            parsed = datetime.fromisoformat(iso.strip())
        except ValueError:
            raise _RowProblem(f"time: not an ISO 8601 time: {iso!r}") from None
        if parsed.tzinfo is None:
            raise _RowProblem(f"time: no UTC offset: {iso!r}")
        return parsed.astimezone(timezone.utc)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _RowProblem(f"timestamp: not epoch milliseconds: {value!r}")
    ms = value if value >= _MS_THRESHOLD else value * 1000
    try:
        return datetime.fromtimestamp(ms // 1000, timezone.utc) + timedelta(milliseconds=ms % 1000)
    except (OverflowError, OSError, ValueError):
        raise _RowProblem(f"timestamp: out of range: {value!r}") from None


def _elements(content: Mapping[str, Any], people: _People) -> _Parts:
    parts = _Parts()
    elements = content.get("elements")
    if elements is None:
        return parts
    if not isinstance(elements, list):
        raise _RowProblem(f"content.elements: expected a list, got {json_type(elements)}")
    for i, element in enumerate(elements):
        if not isinstance(element, dict):
            raise _RowProblem(f"content.elements[{i}]: expected an object, got {json_type(element)}")
        etype = element.get("type")
        data = element.get("data")
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise _RowProblem(f"content.elements[{i}].data: expected an object, got {json_type(data)}")
        if etype == "text":
            words = _text(data.get("text"))
            parts.text.append(words)
            parts.words = parts.words or bool(words.strip())
        elif etype == "at":
            name = _text(data.get("name")).strip().lstrip("@")
            if _int(data.get("atType")) == _AT_ALL:
                parts.text.append("@" + (name or "全体成员"))
            else:
                who = people.id(_text(data.get("uid")), _text(data.get("uin")))
                if who is None:
                    raise _RowProblem(f"content.elements[{i}]: an @ with no uin or uid")
                parts.mentions.append(who)
                parts.text.append("@" + (name or who.removeprefix(ID_PREFIX)))
            parts.words = True
        elif etype == "image":
            parts.images += 1
            parts.text.append("[图片]")
        elif etype == "face":
            name = _text(data.get("name")).strip().lstrip("/").strip("[]")
            parts.stickers += 1
            parts.text.append(f"[{name}]" if name else "[表情]")
        elif etype == "market_face":
            parts.stickers += 1
            parts.text.append("[表情]")
        elif etype == "reply":
            parts.reply = data
        elif etype == "file":
            parts.file = _text(data.get("filename")).strip()
        elif etype == "video":
            parts.video = True
        elif etype == "audio":
            parts.audio = True
        elif etype == "forward":
            parts.forward = data
        elif etype == "json":
            parts.card = data
    return parts


def _kind_and_text(msg_type: str, parts: _Parts, content: Mapping[str, Any]) -> tuple[MessageKind, str]:
    if parts.file is not None or msg_type == "file":
        return MessageKind.FILE, f"[文件] {parts.file}" if parts.file else "[文件]"
    if parts.video or msg_type == "video":
        return MessageKind.VIDEO, "[视频]"
    if parts.audio or msg_type == "audio":
        return MessageKind.VOICE, "[语音]"
    if parts.forward is not None or msg_type == "forward":
        title = clean(_text((parts.forward or {}).get("title")))
        return MessageKind.OTHER, f"[聊天记录] {title}" if title else "[聊天记录]"
    if parts.card is not None or msg_type == "json":
        return _card(parts.card or {})
    text = "".join(parts.text).strip()
    if not text and content.get("elements") is None:
        text = _our_placeholders(_text(content.get("text"))).strip()
        if not text:
            raise _RowProblem("content: no elements and no text")
        return (MessageKind.QUOTE if msg_type == "reply" else MessageKind.TEXT), text
    if parts.reply is not None:
        return MessageKind.QUOTE, text or "[引用消息]"
    if not parts.words and parts.images and not parts.stickers:
        return MessageKind.IMAGE, text
    if not parts.words and parts.stickers and not parts.images:
        return MessageKind.STICKER, "[表情]"
    if text:
        return MessageKind.TEXT, text
    return MessageKind.OTHER, "[其他消息]"


def _reply(data: Mapping[str, Any]) -> tuple[str | None, str]:
    message_id = _text(data.get("messageId")).strip()
    if message_id and message_id != "0":
        return message_id, ""
    name = clean(_text(data.get("senderName")))
    said = clean(_our_placeholders(_text(data.get("content"))))
    return None, f"{name}：{said}" if name or said else ""


def _mentions(parts: _Parts, content: Mapping[str, Any], people: _People) -> tuple[str, ...]:
    found = list(parts.mentions)
    listed = content.get("mentions")
    for entry in listed if isinstance(listed, list) else ():
        if isinstance(entry, dict) and entry.get("type", "user") == "user":
            who = people.id(_text(entry.get("uid")), _text(entry.get("uin")))
            if who:
                found.append(who)
    return tuple(dict.fromkeys(found))


def _card(data: Mapping[str, Any]) -> tuple[MessageKind, str]:
    """A QQ ark/JSON card: LINK ``"title url"`` when it carries a web link, else OTHER."""
    sources: list[Any] = [data]
    for key in ("json", "data", "content"):
        value = data.get(key)
        if isinstance(value, str) and value.lstrip().startswith("{"):
            try:
                sources.append(json.loads(value))
            except (ValueError, RecursionError):
                pass
    found: dict[str, str] = {}
    for source in sources:
        _walk_card(source, found, depth=0)
    title = found.get("title") or found.get("prompt") or found.get("desc") or ""
    url = found.get("url", "")
    if url:
        return MessageKind.LINK, f"{title} {url}" if title else url
    return MessageKind.OTHER, title or "[应用消息]"


def _walk_card(value: Any, found: dict[str, str], depth: int) -> None:
    if depth > 6 or not isinstance(value, dict):
        return
    for key, item in value.items():
        if isinstance(item, str):
            text = clean(item)
            if key in ("title", "prompt", "desc") and text:
                found.setdefault(key, text)
            elif key in _URL_KEYS and text.startswith(("http://", "https://")):
                found.setdefault("url", text)
        elif isinstance(item, dict):
            _walk_card(item, found, depth + 1)


def _our_placeholders(text: str) -> str:
    """The exporter's ``[图片:a.jpg]``-style placeholders as ours; its ``[回复消息]`` marker dropped."""

    def ours(match: re.Match[str]) -> str:
        what, detail = match.group(1), match.group(2).strip()
        if what == "文件":
            return f"[文件] {detail}" if detail else "[文件]"
        return _OURS[what]

    return _EXPORTER_PLACEHOLDER.sub(ours, text.replace("[回复消息]", ""))


# -- small helpers ------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def _number(value: Any) -> str:
    """A QQ number (uin, group number) as a string; "" for none, "0" and non-numbers."""
    text = _text(value).strip()
    return text if text.isascii() and text.isdigit() and text.strip("0") else ""


def _int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None
