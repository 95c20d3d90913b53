"""JSON Lines replay: one :class:`GroupMessage` per line, for demos, tests and offline imports.

Schema — one JSON object per line, UTF-8 (a leading BOM is tolerated), blank lines skipped:

=================  ========  ==============================================================
key                required  value
=================  ========  ==============================================================
``id``             yes       non-empty string, unique per ``source`` within the file
``group_id``       yes       non-empty string
``sender_id``      yes       non-empty string
``time``           yes       ISO 8601 string (``"2026-11-25T09:01:12+08:00"``, ``Z`` allowed)
                             or a JSON number of unix seconds (fractions allowed). An ISO time
                             without an offset is read in ``default_tz`` (Asia/Shanghai unless
                             the caller says otherwise). A date without a time is an error.
``text``           no        string, default ``""``; must not be blank when kind is ``"text"``
``kind``           no        one of ``text image link file sticker voice video quote system
                             other``, default ``"text"``
``sender_name``    no        string, default (also when empty or null) the ``sender_id``
``group_name``     no        string, the room's name (``GroupMessage.group_topic``), default ``""``
``mentions``       no        list of contact ids (non-empty strings), default ``[]``
``mentions_bot``   no        ``true``/``false``, default ``false``
``reply_to``       no        id of the quoted message, or ``null`` (default); ``""`` means null
``quote``          no        the quoted message as WeChat shows it ("name：text"), default ``""``
``source``         no        non-empty string, default ``"replay"``
=================  ========  ==============================================================

Unknown keys are ignored; ``null`` for an optional key means its default. A line that breaks the
schema (bad JSON, not an object, missing or mistyped field, bad time, unknown kind, duplicate id)
becomes a :class:`RowError` with its 1-based line number and the field named; it never stops the
read. :func:`write_jsonl` writes the same schema (times in UTC) and :func:`read_jsonl` reads it back
into equal messages.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.adapters.errors import ReadResult, RowError
from bot.adapters.text import json_type
from bot.message import GroupMessage, MessageError, MessageKind

__all__ = ["DEFAULT_TZ", "ReadResult", "RowError", "iter_jsonl", "message_to_json", "read_jsonl", "write_jsonl"]

DEFAULT_TZ = "Asia/Shanghai"
DEFAULT_SOURCE = "replay"

_KINDS = ", ".join(k.value for k in MessageKind)
_UTF8_BOM = b"\xef\xbb\xbf"


class _RowProblem(Exception):
    """Internal: this row is skipped; the message names the field."""


def _resolve_tz(default_tz: str | tzinfo) -> tzinfo:
    if isinstance(default_tz, tzinfo):
        return default_tz
    try:
        return ZoneInfo(default_tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(
            f"default_tz: unknown timezone {default_tz!r} (use an IANA name such as Asia/Shanghai)"
        ) from None


def read_jsonl(path: str | os.PathLike[str], default_tz: str | tzinfo = DEFAULT_TZ) -> ReadResult:
    """Read a whole JSONL file: every good line as a message, every bad one as a :class:`RowError`."""
    return ReadResult.collect(iter_jsonl(path, default_tz=default_tz))


def iter_jsonl(
    path: str | os.PathLike[str], default_tz: str | tzinfo = DEFAULT_TZ
) -> Iterator[GroupMessage | RowError]:
    """Stream a JSONL file line by line, yielding a :class:`GroupMessage` or a :class:`RowError` per
    non-blank line, in file order. ``default_tz`` is checked now; the file is opened on first use.
    Memory grows only with the set of ids seen (for the duplicate check)."""
    tz = _resolve_tz(default_tz)
    return _iter_jsonl(os.fspath(path), tz)


def _iter_jsonl(path: str, tz: tzinfo) -> Iterator[GroupMessage | RowError]:
    seen: dict[tuple[str, str], int] = {}
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if number == 1 and raw.startswith(_UTF8_BOM):
                raw = raw[len(_UTF8_BOM) :]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield RowError(path, number, f"line: not valid UTF-8 ({e.reason} at byte {e.start})")
                continue
            if not line.strip():
                continue
            try:
                message = _parse_line(line, tz)
            except _RowProblem as e:
                yield RowError(path, number, str(e))
                continue
            key = (message.source, message.id)
            first = seen.setdefault(key, number)
            if first != number:
                yield RowError(path, number, f"id: duplicate {message.id!r} (first on line {first})")
                continue
            yield message


def _parse_line(line: str, tz: tzinfo) -> GroupMessage:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise _RowProblem(f"line: invalid JSON ({e.msg} at column {e.colno})") from None
    except ValueError as e:  # e.g. an integer longer than sys.get_int_max_str_digits()
        raise _RowProblem(f"line: invalid JSON ({e})") from None
    except RecursionError:
        raise _RowProblem("line: invalid JSON (nested too deeply)") from None
    if not isinstance(row, dict):
        raise _RowProblem(f"line: expected a JSON object, got {json_type(row)}")

    msg_id = _required_str(row, "id")
    group_id = _required_str(row, "group_id")
    sender_id = _required_str(row, "sender_id")
    if "time" not in row or row["time"] is None:
        raise _RowProblem("time: missing (ISO 8601 string or unix seconds)")
    sent_at = _parse_time(row["time"], tz)

    kind_value = _optional(row, "kind", "text")
    try:
        kind = MessageKind(kind_value)
    except ValueError:
        raise _RowProblem(f"kind: unknown kind {kind_value!r} (one of {_KINDS})") from None

    text = _optional(row, "text", "")
    if not isinstance(text, str):
        raise _RowProblem(f"text: must be a string, got {json_type(text)}")
    if kind is MessageKind.TEXT and not text.strip():
        raise _RowProblem("text: empty, but kind is 'text'")

    sender_name = _optional(row, "sender_name", "")
    if not isinstance(sender_name, str):
        raise _RowProblem(f"sender_name: must be a string, got {json_type(sender_name)}")
    group_name = _optional(row, "group_name", "")
    if not isinstance(group_name, str):
        raise _RowProblem(f"group_name: must be a string, got {json_type(group_name)}")

    mentions = _optional(row, "mentions", [])
    if not isinstance(mentions, list):
        raise _RowProblem(f"mentions: must be a list of contact ids, got {json_type(mentions)}")
    for i, m in enumerate(mentions):
        if not isinstance(m, str) or not m.strip():
            raise _RowProblem(f"mentions[{i}]: must be a non-empty string, got {m!r}")

    mentions_bot = _optional(row, "mentions_bot", False)
    if not isinstance(mentions_bot, bool):
        raise _RowProblem(f"mentions_bot: must be true or false, got {mentions_bot!r}")

    reply_to = row.get("reply_to")
    if reply_to is not None and not isinstance(reply_to, str):
        raise _RowProblem(f"reply_to: must be a message id or null, got {json_type(reply_to)}")

    quote = _optional(row, "quote", "")
    if not isinstance(quote, str):
        raise _RowProblem(f"quote: must be a string, got {json_type(quote)}")

    source = _optional(row, "source", DEFAULT_SOURCE)
    if not isinstance(source, str) or not source.strip():
        raise _RowProblem(f"source: must be a non-empty string, got {source!r}")

    try:
        return GroupMessage(
            id=msg_id,
            source=source,
            group_id=group_id,
            sender_id=sender_id,
            sender_name=sender_name or sender_id,
            sent_at=sent_at,
            kind=kind,
            text=text,
            group_topic=group_name,
            mentions=tuple(mentions),
            mentions_bot=mentions_bot,
            reply_to=reply_to or None,
            quote=quote,
        )
    except MessageError as e:  # the message type has the last word; its text names the field
        raise _RowProblem(str(e)) from None


def _required_str(row: dict[str, Any], key: str) -> str:
    if key not in row:
        raise _RowProblem(f"{key}: missing")
    value = row[key]
    if not isinstance(value, str) or not value.strip():
        raise _RowProblem(f"{key}: must be a non-empty string, got {value!r}")
    return value


def _optional(row: dict[str, Any], key: str, default: Any) -> Any:
    value = row.get(key)
    return default if value is None else value


def _parse_time(value: Any, tz: tzinfo) -> datetime:
    if isinstance(value, bool):
        raise _RowProblem(f"time: must be an ISO 8601 string or unix seconds, got {value!r}")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise _RowProblem(f"time: not a finite number: {value!r}")
        try:
            return datetime.fromtimestamp(value, timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise _RowProblem(f"time: unix seconds out of range: {value!r}") from None
    if not isinstance(value, str):
        raise _RowProblem(f"time: must be an ISO 8601 string or unix seconds, got {json_type(value)}")
    text = value.strip()
    if not any(sep in text for sep in ("T", "t", " ")):
        # fromisoformat would take "2026-11-25" (and "20261125") as midnight; a message needs a time.
        hint = "; unix seconds must be a JSON number, not a string" if text.isdigit() else ""
        raise _RowProblem(f"time: {value!r} is not an ISO 8601 date and time{hint}")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise _RowProblem(f"time: {value!r} is not an ISO 8601 date and time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    try:
        return parsed.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        raise _RowProblem(f"time: {value!r} is out of range") from None


def message_to_json(message: GroupMessage) -> dict[str, Any]:
    """The JSONL object for one message, every key present, time in UTC ISO 8601."""
    return {
        "id": message.id,
        "source": message.source,
        "group_id": message.group_id,
        "group_name": message.group_topic,
        "sender_id": message.sender_id,
        "sender_name": message.sender_name,
        "time": message.sent_at.astimezone(timezone.utc).isoformat(),
        "kind": message.kind.value,
        "text": message.text,
        "mentions": list(message.mentions),
        "mentions_bot": message.mentions_bot,
        "reply_to": message.reply_to,
        "quote": message.quote,
    }


def write_jsonl(messages: Iterable[GroupMessage], path: str | os.PathLike[str]) -> int:
    """Write messages as JSONL (UTF-8, no BOM, ``\\n`` line ends, non-ASCII kept as is), replacing
    the file; returns how many lines were written. :func:`read_jsonl` reads them back as equal
    messages, except a ``"text"`` message with blank text, which the reader rejects."""
    count = 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for message in messages:
            f.write(json.dumps(message_to_json(message), ensure_ascii=False, allow_nan=False))
            f.write("\n")
            count += 1
    return count
