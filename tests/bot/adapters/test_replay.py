import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.adapters.errors import RowError
from bot.adapters.replay import iter_jsonl, read_jsonl, write_jsonl
from bot.message import GroupMessage, MessageKind

GROUP = "20391234567@chatroom"


def row(**overrides) -> str:
    base = {
        "id": "m1",
        "group_id": GROUP,
        "sender_id": "wxid_zhang3",
        "time": "2026-11-25T09:01:12+08:00",
        "text": "这周六的线下分享会还有名额吗？",
    }
    base.update(overrides)
    return json.dumps({k: v for k, v in base.items() if v is not ...}, ensure_ascii=False)


def write(tmp_path: Path, lines: list[str], *, bom: bool = False, name: str = "chat.jsonl") -> Path:
    p = tmp_path / name
    data = "\n".join(lines) + "\n"
    p.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data.encode("utf-8"))
    return p


def test_good_rows_with_every_field_and_defaults(tmp_path):
    full = row(
        id="m1",
        sender_name="张三",
        group_name="大模型应用交流群",
        kind="text",
        mentions=["wxid_li4", "wxid_bot"],
        mentions_bot=True,
        reply_to="m0",
        source="demo",
        extra_unknown_key={"ignored": True},
    )
    minimal = row(id="m2", text=..., kind="image")
    result = read_jsonl(write(tmp_path, [full, minimal]))

    assert result.errors == []
    first, second = result.messages
    assert first == GroupMessage(
        id="m1",
        source="demo",
        group_id=GROUP,
        sender_id="wxid_zhang3",
        sender_name="张三",
        sent_at=datetime(2026, 11, 25, 1, 1, 12, tzinfo=timezone.utc),
        kind=MessageKind.TEXT,
        text="这周六的线下分享会还有名额吗？",
        group_topic="大模型应用交流群",
        mentions=("wxid_li4", "wxid_bot"),
        mentions_bot=True,
        reply_to="m0",
    )
    assert second.kind is MessageKind.IMAGE
    assert second.text == ""
    assert second.sender_name == "wxid_zhang3"  # defaults to sender_id
    assert second.group_topic == ""
    assert second.mentions == ()
    assert second.mentions_bot is False
    assert second.reply_to is None
    assert second.source == "replay"


def test_nulls_mean_defaults(tmp_path):
    line = row(sender_name=None, group_name=None, kind=None, mentions=None, mentions_bot=None, reply_to="", source=None)
    [m] = read_jsonl(write(tmp_path, [line])).messages
    assert (m.sender_name, m.group_topic, m.kind, m.mentions, m.mentions_bot, m.reply_to, m.source) == (
        "wxid_zhang3",
        "",
        MessageKind.TEXT,
        (),
        False,
        None,
        "replay",
    )


@pytest.mark.parametrize(
    "bad_line, expected",
    [
        ('{"id": "x", "group_id": ', "line: invalid JSON"),
        ('["not", "an", "object"]', "line: expected a JSON object, got a list"),
        (row(id=...), "id: missing"),
        (row(id=""), "id: must be a non-empty string, got ''"),
        (row(id=42), "id: must be a non-empty string, got 42"),
        (row(group_id=...), "group_id: missing"),
        (row(sender_id=...), "sender_id: missing"),
        (row(time=...), "time: missing"),
        (row(time="昨天上午"), "time: '昨天上午' is not an ISO 8601 date and time"),
        (row(time="2026-11-25"), "time: '2026-11-25' is not an ISO 8601 date and time"),
        (row(time="2026-13-25T09:00:00"), "time: '2026-13-25T09:00:00' is not an ISO 8601 date and time"),
        (
            row(time="1764032472"),
            "time: '1764032472' is not an ISO 8601 date and time; unix seconds must be a JSON number",
        ),
        (row(time=True), "time: must be an ISO 8601 string or unix seconds, got True"),
        (row(time=1e300), "time: unix seconds out of range"),
        (row(time=10**30), "time: unix seconds out of range"),
        (row(time=...)[:-1] + ', "time": NaN}', "time: not a finite number: nan"),
        ('{"id": "x", "time": ' + "9" * 5000 + "}", "line: invalid JSON (Exceeds the limit"),
        ('{"id": ' + "[" * 100000 + "]" * 100000 + "}", "line: invalid JSON"),
        (row(kind="voice_note"), "kind: unknown kind 'voice_note' (one of text, image, "),
        (row(text=""), "text: empty, but kind is 'text'"),
        (row(text="   "), "text: empty, but kind is 'text'"),
        (row(text=...), "text: empty, but kind is 'text'"),
        (row(text=["a"]), "text: must be a string, got a list"),
        (row(mentions="wxid_li4"), "mentions: must be a list of contact ids, got a string"),
        (row(mentions=["wxid_li4", 7]), "mentions[1]: must be a non-empty string, got 7"),
        (row(mentions_bot="yes"), "mentions_bot: must be true or false, got 'yes'"),
        (row(reply_to=12), "reply_to: must be a message id or null, got a number"),
        (row(sender_name=3), "sender_name: must be a string, got a number"),
        (row(source=""), "source: must be a non-empty string, got ''"),
    ],
)
def test_each_malformed_line_is_reported_with_its_line_number_and_field(tmp_path, bad_line, expected):
    path = write(tmp_path, [row(id="ok1"), "", bad_line, row(id="ok2")])
    result = read_jsonl(path)

    assert [m.id for m in result.messages] == ["ok1", "ok2"]  # the read went on
    [error] = result.errors
    assert (error.path, error.line) == (str(path), 3)
    assert error.message.startswith(expected)
    assert str(error) == f"{path}:3: {error.message}"


def test_several_errors_keep_file_order_and_blank_lines_are_silent(tmp_path):
    lines = ["", row(id="a"), "   ", "{broken", row(id="b", kind="nope"), "", row(id="c"), "\t"]
    result = read_jsonl(write(tmp_path, lines))
    assert [m.id for m in result.messages] == ["a", "c"]
    assert [(e.line, e.message.split(":")[0]) for e in result.errors] == [(4, "line"), (5, "kind")]


def test_duplicate_id_within_a_source_is_an_error(tmp_path):
    lines = [row(id="m1"), row(id="m1", text="再发一次"), row(id="m1", source="wechaty")]
    result = read_jsonl(write(tmp_path, lines))
    assert [(m.source, m.id) for m in result.messages] == [("replay", "m1"), ("wechaty", "m1")]
    [error] = result.errors
    assert (error.line, error.message) == (2, "id: duplicate 'm1' (first on line 1)")


def test_naive_time_uses_default_tz(tmp_path):
    path = write(tmp_path, [row(time="2026-11-25T09:01:12"), row(id="m2", time="2026-11-25 09:01:12.250000")])
    shanghai = read_jsonl(path).messages
    assert shanghai[0].sent_at == datetime(2026, 11, 25, 1, 1, 12, tzinfo=timezone.utc)
    assert shanghai[1].sent_at == datetime(2026, 11, 25, 1, 1, 12, 250000, tzinfo=timezone.utc)

    utc = read_jsonl(path, default_tz="UTC").messages[0]
    assert utc.sent_at == datetime(2026, 11, 25, 9, 1, 12, tzinfo=timezone.utc)
    fixed = read_jsonl(path, default_tz=timezone(timedelta(hours=9))).messages[0]
    assert fixed.sent_at == datetime(2026, 11, 25, 0, 1, 12, tzinfo=timezone.utc)
    ny = read_jsonl(path, default_tz=ZoneInfo("America/New_York")).messages[0]
    assert ny.sent_at == datetime(2026, 11, 25, 14, 1, 12, tzinfo=timezone.utc)


def test_offset_times_ignore_default_tz_and_z_is_utc(tmp_path):
    path = write(tmp_path, [row(time="2026-11-25T01:01:12Z"), row(id="m2", time="2026-11-25T10:01:12+09:00")])
    for tz in ("Asia/Shanghai", "UTC"):
        times = [m.sent_at for m in read_jsonl(path, default_tz=tz).messages]
        assert times == [datetime(2026, 11, 25, 1, 1, 12, tzinfo=timezone.utc)] * 2
        assert all(t.tzinfo is timezone.utc for t in times)


def test_unix_seconds_int_and_float(tmp_path):
    ts = int(datetime(2026, 11, 25, 1, 1, 12, tzinfo=timezone.utc).timestamp())
    path = write(tmp_path, [row(time=ts), row(id="m2", time=ts + 0.5)])
    first, second = read_jsonl(path).messages
    assert first.sent_at == datetime(2026, 11, 25, 1, 1, 12, tzinfo=timezone.utc)
    assert second.sent_at == datetime(2026, 11, 25, 1, 1, 12, 500000, tzinfo=timezone.utc)


def test_bom_and_crlf_are_tolerated(tmp_path):
    p = tmp_path / "bom.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + (row(id="m1") + "\r\n" + row(id="m2") + "\r\n").encode("utf-8"))
    result = read_jsonl(p)
    assert result.errors == []
    assert [m.id for m in result.messages] == ["m1", "m2"]


def test_bom_only_at_file_start(tmp_path):
    path = write(tmp_path, [row(id="m1")], bom=True)
    assert read_jsonl(path).messages[0].id == "m1"


def test_invalid_utf8_line_is_reported_and_read_goes_on(tmp_path):
    p = tmp_path / "mixed.jsonl"
    gbk = row(id="m2", text="这是GBK编码的一行").encode("gbk")
    p.write_bytes(row(id="m1").encode() + b"\n" + gbk + b"\n" + row(id="m3").encode() + b"\n")
    result = read_jsonl(p)
    assert [m.id for m in result.messages] == ["m1", "m3"]
    assert [(e.line, e.message[:26]) for e in result.errors] == [(2, "line: not valid UTF-8 (inv")]


def test_round_trip_with_write_jsonl(tmp_path):
    messages = [
        GroupMessage(
            id="wechaty-1",
            source="wechaty",
            group_id=GROUP,
            sender_id="wxid_zhang3",
            sender_name="张三 🐼",
            sent_at=datetime(2026, 11, 25, 9, 1, 12, 123456, tzinfo=ZoneInfo("Asia/Shanghai")),
            kind=MessageKind.TEXT,
            text='第一行\n第二行 "引号" \\ 反斜杠\u2005@李四',
            group_topic="大模型应用交流群",
            mentions=("wxid_li4",),
            mentions_bot=True,
            reply_to="wechaty-0",
        ),
        GroupMessage(
            id="r-2",
            source="replay",
            group_id=GROUP,
            sender_id="wxid_li4",
            sender_name="李四",
            sent_at=datetime(2026, 11, 25, 1, 2, tzinfo=timezone.utc),
            kind=MessageKind.LINK,
            text="大模型周报 https://mp.weixin.qq.com/s/AbC?x=1&y=2",
        ),
        GroupMessage(
            id="r-3",
            source="replay",
            group_id=GROUP,
            sender_id="wxid_li4",
            sender_name="李四",
            sent_at=datetime(2026, 11, 25, 1, 3, tzinfo=timezone.utc),
            kind=MessageKind.IMAGE,
            text="",
        ),
    ]
    path = tmp_path / "out.jsonl"
    assert write_jsonl(messages, path) == 3

    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert "张三 🐼".encode() in raw  # non-ASCII written as is
    assert raw.count(b"\n") == 3  # the newline inside text is escaped
    first = json.loads(raw.splitlines()[0])
    assert first["time"] == "2026-11-25T01:01:12.123456+00:00"
    assert first["group_name"] == "大模型应用交流群"

    result = read_jsonl(path)
    assert result.errors == []
    assert result.messages == messages


def test_iter_jsonl_streams_in_order(tmp_path):
    path = write(tmp_path, [row(id="a"), "oops", row(id="b")])
    items = iter_jsonl(path)
    first = next(items)
    assert isinstance(first, GroupMessage) and first.id == "a"
    second = next(items)
    assert isinstance(second, RowError) and second.line == 2
    assert [x.id for x in items] == ["b"]


def test_bad_default_tz_fails_before_reading(tmp_path):
    with pytest.raises(ValueError, match="default_tz: unknown timezone 'Mars/Olympus'"):
        iter_jsonl(tmp_path / "does-not-matter.jsonl", default_tz="Mars/Olympus")


def test_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_jsonl(tmp_path / "nope.jsonl")
