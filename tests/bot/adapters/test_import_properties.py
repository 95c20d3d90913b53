"""Properties of the two file importers over inputs no example list covers (hypothesis): what
:func:`write_jsonl` writes, :func:`read_jsonl` reads back as equal messages; a MemoTrace export in
any column order reads back as its rows; and neither importer ever fails on a bad line — every
non-blank line becomes a message or a :class:`RowError` on that line."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from bot.adapters.errors import ImportFormatError
from bot.adapters.memotrace import read_memotrace_csv
from bot.adapters.replay import read_jsonl, write_jsonl
from bot.message import GroupMessage, MessageKind


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One file, rewritten by every example (hypothesis runs many examples per test call)."""
    return tmp_path_factory.mktemp("properties") / "input"


non_blank = st.text(min_size=1, max_size=12).filter(str.strip)
moments = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(timezone.utc))


@st.composite
def messages(draw: st.DrawFn) -> GroupMessage:
    kind = draw(st.sampled_from(MessageKind))
    text = draw(non_blank if kind is MessageKind.TEXT else st.text(max_size=30))
    return GroupMessage(
        id=draw(non_blank),
        source=draw(st.one_of(st.just("replay"), non_blank)),
        group_id=draw(non_blank),
        sender_id=draw(non_blank),
        sender_name=draw(st.text(min_size=1, max_size=8)),
        sent_at=draw(moments),
        kind=kind,
        text=text,
        group_topic=draw(st.text(max_size=8)),
        mentions=tuple(draw(st.lists(non_blank, max_size=3))),
        mentions_bot=draw(st.booleans()),
        reply_to=draw(st.one_of(st.none(), st.text(min_size=1, max_size=8))),
        quote=draw(st.text(max_size=8)),
    )


@given(st.lists(messages(), max_size=6, unique_by=lambda m: (m.source, m.id)))
def test_replay_reads_back_what_it_wrote(scratch: Path, written: list[GroupMessage]) -> None:
    assert write_jsonl(written, scratch) == len(written)
    result = read_jsonl(scratch)
    assert result.errors == [] and result.messages == written


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
# objects that look like rows: the schema's keys with any JSON values, some left out
row_objects = st.dictionaries(
    st.sampled_from(
        [
            "id",
            "group_id",
            "sender_id",
            "time",
            "text",
            "kind",
            "mentions",
            "mentions_bot",
            "reply_to",
            "source",
            "quote",
        ]
    ),
    st.one_of(json_values, st.sampled_from(["2026-11-25T09:01:12+08:00", "2026-11-25", "text", "image", "m1", ""])),
)
raw_lines = st.one_of(
    row_objects.map(lambda o: json.dumps(o, ensure_ascii=False).encode("utf-8")),
    json_values.map(lambda v: json.dumps(v).encode("utf-8")),
    st.text(max_size=30).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=30),
)


@given(st.lists(raw_lines, max_size=8))
def test_replay_never_fails_on_a_bad_line(scratch: Path, lines: list[bytes]) -> None:
    lines = [line.replace(b"\n", b" ") for line in lines]  # one row per line
    scratch.write_bytes(b"\n".join(lines) + b"\n")
    result = read_jsonl(scratch)
    physical = b"\n".join(lines).split(b"\n")
    non_blank_lines = [n for n, raw in enumerate(physical, 1) if _not_blank(raw, first=n == 1)]
    assert len(result.messages) + len(result.errors) == len(non_blank_lines)
    assert {e.line for e in result.errors} <= set(non_blank_lines)
    assert all(m.sent_at.tzinfo is not None for m in result.messages)


def _not_blank(raw: bytes, *, first: bool) -> bool:
    try:
        return bool((raw.removeprefix(b"\xef\xbb\xbf") if first else raw).decode("utf-8").strip())
    except UnicodeDecodeError:
        return True  # a line that is not UTF-8 is an error row


# --- MemoTrace CSV --------------------------------------------------------------------------------

COLUMNS = [
    "localId",
    "TalkerId",
    "Type",
    "SubType",
    "IsSender",
    "CreateTime",
    "Status",
    "StrContent",
    "StrTime",
    "Remark",
    "NickName",
    "Sender",
]
# CSV-hostile text: commas, quotes, newlines inside fields, full-width forms; not NUL or a lone CR,
# which no export carries (CRLF inside a field is read as LF, tested with examples)
content = st.text(
    alphabet=st.characters(blacklist_characters="\x00\r", blacklist_categories=("Cs",)), min_size=1, max_size=40
).filter(str.strip)


@st.composite
def memotrace_rows(draw: st.DrawFn) -> list[dict[str, str]]:
    n = draw(st.integers(0, 5))
    ids = draw(st.lists(st.integers(1, 10**9), min_size=n, max_size=n, unique=True))
    return [
        {
            "localId": str(i),
            "TalkerId": "123@chatroom",
            "Type": "1",
            "SubType": "0",
            "IsSender": "0",
            "CreateTime": str(draw(st.integers(1, 4_102_444_800))),
            "Status": "2",
            "StrContent": draw(content),
            "StrTime": "",
            "Remark": "",
            "NickName": draw(
                st.text(alphabet=st.characters(blacklist_characters="\x00\r", blacklist_categories=("Cs",)), max_size=6)
            ),
            "Sender": draw(st.from_regex(r"wxid_[a-z0-9]{1,12}", fullmatch=True)),
        }
        for i in ids
    ]


@given(memotrace_rows(), st.permutations(COLUMNS))
def test_memotrace_reads_back_every_row_in_any_column_order(
    scratch: Path, rows: list[dict[str, str]], order: list[str]
) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(order)
    writer.writerows([[r[c] for c in order] for r in rows])
    scratch.write_bytes(b"\xef\xbb\xbf" + out.getvalue().encode("utf-8"))
    result = read_memotrace_csv(scratch)
    assert result.errors == []
    assert [(m.id, m.kind, m.text, m.sender_id, m.sender_name, m.sent_at) for m in result.messages] == [
        (
            f"123@chatroom:{r['localId']}",
            MessageKind.TEXT,
            r["StrContent"],
            r["Sender"],
            r["NickName"].strip() or r["Sender"],
            datetime.fromtimestamp(int(r["CreateTime"]), timezone.utc),
        )
        for r in rows
    ]


csv_cells = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["1", "3", "49", "10000", "0", "-1", "<msg><appmsg><title>t</title></appmsg></msg>", '"', ""]),
)


@given(st.lists(st.lists(csv_cells, max_size=14), max_size=6), st.binary(max_size=40))
def test_memotrace_never_fails_on_a_bad_row(scratch: Path, rows: list[list[str]], junk: bytes) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    scratch.write_bytes(out.getvalue().encode("utf-8", "surrogatepass") + junk)
    result = read_memotrace_csv(scratch)  # a valid header: rows may fail, the read may not
    assert all(e.line >= 2 for e in result.errors)
    assert all(m.text is not None and m.sent_at.tzinfo is not None for m in result.messages)


@given(st.one_of(st.binary(max_size=200), st.text(max_size=100).map(str.encode)))
def test_memotrace_refuses_a_file_that_is_not_an_export_with_one_error(scratch: Path, data: bytes) -> None:
    try:
        scratch.write_bytes(data)
        result = read_memotrace_csv(scratch)
    except ImportFormatError as e:  # the one error a whole file may raise: its header is not MemoTrace's
        assert str(scratch) in str(e)
    else:  # the header named every required column: then only rows can fail
        assert all(e.line >= 2 for e in result.errors)
