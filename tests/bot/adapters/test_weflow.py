"""The WeFlow reader (bot/adapters/weflow.py): WeFlow JSON, ChatLab JSON and ChatLab JSON Lines.

Samples (our own writing, invented people): ``samples/weflow.json`` (a WeFlow JSON export of a
hiking group's Saturday) with its twin ``samples/weflow.jsonl``, and
``samples/weflow_chatlab_export.jsonl`` (the same group's Sunday as ChatLab JSON Lines) with its twin
``samples/weflow_chatlab.jsonl``.
"""

from __future__ import annotations

import copy
import json
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.adapters.errors import ImportFormatError, ReadResult
from bot.adapters.memotrace import SYSTEM_SENDER_ID
from bot.adapters.replay import read_jsonl
from bot.adapters.source import ExportFormat
from bot.adapters.weflow import FORMAT, read_weflow
from bot.config import Config, Group
from bot.message import GroupMessage, MessageKind, RoomInfo
from bot.store.models import Message
from bot.wiring import build_pipeline, open_store
from tests.bot.adapters.equivalence import SAMPLES, assert_same_digest

ROOM = "48291037465@chatroom"
TOPIC = "周末徒步搭子群"
SAMPLE = SAMPLES / "weflow.json"
TWIN = SAMPLES / "weflow.jsonl"
CHATLAB_SAMPLE = SAMPLES / "weflow_chatlab_export.jsonl"
CHATLAB_TWIN = SAMPLES / "weflow_chatlab.jsonl"


def sample_doc() -> dict[str, Any]:
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


def write_json(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def write_lines(path: Path, objs: list[Any]) -> Path:
    path.write_text("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objs), encoding="utf-8")
    return path


def weflow_doc(*messages: dict[str, Any], session: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "weflow": {"version": "1.4.2", "generator": "WeFlow"},
        "session": session or {"wxid": ROOM, "nickname": TOPIC, "type": "群聊"},
        "messages": list(messages),
    }


def record(local_id: int = 1, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "localId": local_id,
        "createTime": 1795219265 + local_id,
        "type": "文本消息",
        "localType": 1,
        "content": f"第{local_id}条",
        "isSend": 0,
        "senderUsername": "wxid_a",
        "senderDisplayName": "阿甲",
    }
    base.update(fields)
    return base


def read_one(tmp_path: Path, **fields: Any) -> GroupMessage:
    result = read_weflow(write_json(tmp_path / "one.json", weflow_doc(record(**fields))))
    assert not result.errors, result.errors
    [message] = result.messages
    return message


# ---- the samples ----


def test_sample_renders_the_same_digest_as_its_twin(tmp_path: Path) -> None:
    result = read_weflow(SAMPLE)
    assert len(result.messages) == 42
    assert result.rooms == [RoomInfo(ROOM, topic=TOPIC)]
    assert_same_digest(result, TWIN, ROOM, date(2026, 11, 21), tmp_path)


def test_chatlab_jsonl_sample_renders_the_same_digest_as_its_twin(tmp_path: Path) -> None:
    result = read_weflow(CHATLAB_SAMPLE)
    assert result.rooms == [RoomInfo(ROOM, topic=TOPIC)]
    assert_same_digest(result, CHATLAB_TWIN, ROOM, date(2026, 11, 22), tmp_path)


def test_sample_carries_replies_quotes_mentions_and_placeholders() -> None:
    by_id = {m.id: m for m in read_weflow(SAMPLE).messages}
    messages = list(by_id.values())
    reply = next(m for m in messages if m.reply_to)
    assert reply.kind is MessageKind.QUOTE and reply.reply_to in by_id
    assert by_id[reply.reply_to].text == "请问今天要带多少水？中午在哪吃饭？"
    quoted = next(m for m in messages if m.quote)
    assert quoted.reply_to is None and quoted.quote.startswith("林晓：上面是路线图")
    assert [m.mentions for m in messages if m.mentions] == [("wxid_hk_adseller",), ("wxid_hk_wuyu",)]
    assert not any(m.mentions_bot for m in messages)
    texts = " ".join(m.text for m in messages)
    for leak in ("images/", "voices/", "videos/", "emojis/", "files/", "<msg"):
        assert leak not in texts
    assert {m.sender_id for m in messages if m.kind is MessageKind.SYSTEM} == {SYSTEM_SENDER_ID}


def test_self_id_tells_mentions_bot(tmp_path: Path) -> None:
    result = read_weflow(SAMPLE, self_id="wxid_hk_wuyu")
    assert [m.text for m in result.messages if m.mentions_bot] == ["@吴宇\u2005我需要一根，谢谢！"]


def test_chatlab_json_document_reads_like_its_jsonl(tmp_path: Path) -> None:
    lines = [json.loads(line) for line in CHATLAB_SAMPLE.read_text(encoding="utf-8").splitlines()]
    header = lines[0]
    doc = {
        "chatlab": header["chatlab"],
        "meta": header["meta"],
        "members": [{k: v for k, v in o.items() if k != "_type"} for o in lines if o["_type"] == "member"],
        "messages": [{k: v for k, v in o.items() if k != "_type"} for o in lines if o["_type"] == "message"],
    }
    result = read_weflow(write_json(tmp_path / "chatlab.json", doc))
    assert not result.errors
    assert result.messages == read_jsonl(CHATLAB_TWIN).messages
    assert FORMAT.sniff(tmp_path / "chatlab.json", (tmp_path / "chatlab.json").read_bytes())


def test_chatlab_member_list_names_senders(tmp_path: Path) -> None:
    lines = [
        {"_type": "header", "chatlab": {"version": "0.0.2"}, "meta": {"name": "群", "type": "group", "groupId": ROOM}},
        {"_type": "message", "sender": "wxid_b", "timestamp": 1795219265, "type": 0, "content": "在吗"},
        {"_type": "member", "platformId": "wxid_b", "accountName": "阿乙"},
    ]
    [message] = read_weflow(write_lines(tmp_path / "x.jsonl", lines)).messages
    assert message.sender_name == "阿乙" and message.mentions == ()


# ---- detection ----


def test_format_object() -> None:
    fmt: ExportFormat = FORMAT
    assert fmt.name == "weflow" and fmt.description
    assert fmt.read(SAMPLE).messages == read_weflow(SAMPLE).messages


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (SAMPLE.read_bytes(), True),
        (SAMPLE.read_bytes()[:300], True),  # cut off mid-file: the first 64 KiB of a big export
        (b"\xef\xbb\xbf" + SAMPLE.read_bytes()[:300], True),
        (CHATLAB_SAMPLE.read_bytes(), True),
        (b'{"chatlab": {"version": "0.0.2"}}\n{"meta": {"name": "x"}}\n', True),  # streaming variant
        (b'{"meta": {"type": "group"}, "chatlab": {"version"', True),
        (TWIN.read_bytes(), False),  # replay JSON Lines
        (b'{"metadata": {"name": "QQChatExporter"}, "chatInfo": {"name": "g"}, "messages": []}', False),
        (b'{"session": {"weflow": 1}, "messages": [{"chatlab": 2}]}', False),  # only nested keys
        (b'[{"seq": 1, "talker": "x@chatroom"}]', False),
        (b"localId,TalkerId,Type,SubType\n1,2,1,0\n", False),
        (b"", False),
    ],
)
def test_sniff(tmp_path: Path, content: bytes, expected: bool) -> None:
    assert FORMAT.sniff(tmp_path / "f", content) is expected


# ---- ids, re-imports, overlapping exports ----


def _config(db: Path) -> Config:
    config = Config()
    return config.model_copy(
        update={
            "database": config.database.model_copy(update={"url": f"sqlite:///{db}"}),
            "models": config.models.model_copy(update={"use": False}),
            "groups": (Group(id=ROOM, name="样例群"),),
        }
    )


def _import_all(db: Path, *results: ReadResult) -> tuple[list[int], int]:
    """Store each result in turn; how many each stored, and how many messages the store holds."""
    config = _config(db)
    store = open_store(config)
    try:
        pipeline = build_pipeline(config, store, dry_run=True)
        counts = [pipeline.ingest(r.messages).stored for r in results]
        with store.sessions() as session:
            total = session.scalar(select(func.count()).select_from(Message))
        return counts, int(total or 0)
    finally:
        store.close()


def test_reimport_stores_nothing_new(tmp_path: Path) -> None:
    counts, total = _import_all(tmp_path / "db.sqlite", read_weflow(SAMPLE), read_weflow(SAMPLE))
    assert counts == [42, 0] and total == 42


def _strip_server_ids(doc: dict[str, Any]) -> None:
    for m in doc["messages"]:
        for key in ("platformMessageId", "replyToMessageId"):
            m.pop(key, None)


@pytest.mark.parametrize("server_ids", [True, False], ids=["platformMessageId", "fallback-ids"])
def test_overlapping_later_export_adds_only_the_new_messages(tmp_path: Path, server_ids: bool) -> None:
    full = sample_doc()
    if not server_ids:
        _strip_server_ids(full)
    first, later = copy.deepcopy(full), copy.deepcopy(full)
    first["messages"] = full["messages"][:30]
    later["messages"] = copy.deepcopy(full["messages"][15:])  # 15 shared, 12 new
    for n, m in enumerate(later["messages"], start=1):
        m["localId"] = n  # localId restarts in every file
        if m["localType"] in (3, 34, 43, 47):  # this export was made without media files
            m["content"] = ""
    a = read_weflow(write_json(tmp_path / "first.json", first))
    b = read_weflow(write_json(tmp_path / "later.json", later))
    assert not a.errors and not b.errors
    assert len({m.id for m in a.messages} & {m.id for m in b.messages}) == 15
    counts, total = _import_all(tmp_path / "db.sqlite", a, b, b)
    assert counts == [30, 12, 0] and total == 42


def test_fallback_ids_number_identical_messages_in_one_second(tmp_path: Path) -> None:
    same = {"createTime": 1795219265, "content": "+1"}
    doc = weflow_doc(record(1, **same), record(2, **same), record(3, **same, senderUsername="wxid_b"))
    ids = [m.id for m in read_weflow(write_json(tmp_path / "x.json", doc)).messages]
    assert len(set(ids)) == 3
    assert ids[1] == ids[0] + ":2"
    assert all(i.startswith(f"{ROOM}:1795219265:") for i in ids)


# ---- malformed records ----


def test_malformed_records_are_named_by_position_and_skipped(tmp_path: Path) -> None:
    doc = weflow_doc(
        record(1),
        "not a record",
        record(3, createTime=None),
        record(4, createTime="yesterday"),
        record(5, content="   "),
        record(6, platformMessageId="7001"),
        record(7, platformMessageId="7001"),
        record(8, senderUsername=""),
        record(9, localType="x"),
        record(10, content=["a list"]),
        record(11),
    )
    result = read_weflow(write_json(tmp_path / "bad.json", doc))
    assert [m.text for m in result.messages] == ["第1条", "第6条", "第11条"]
    errors = {e.line: e.message for e in result.errors}
    assert sorted(errors) == [2, 3, 4, 5, 7, 8, 9, 10]
    assert all(e.path == str(tmp_path / "bad.json") for e in result.errors)
    assert errors[2].startswith("message 2: record:")
    assert errors[3].startswith("message 3: createTime: missing")
    assert errors[4].startswith("message 4: createTime:")
    assert errors[5].startswith("message 5: content: empty")
    assert errors[7] == "message 7: platformMessageId: duplicate '7001' (first in message 6)"
    assert errors[8].startswith("message 8: senderUsername: empty")
    assert errors[9].startswith("message 9: localType:")
    assert errors[10].startswith("message 10: content: must be a string")


def test_malformed_jsonl_lines_are_named_by_line_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    header = {"_type": "header", "chatlab": {}, "meta": {"name": "群", "type": "group", "groupId": ROOM}}
    good = {"_type": "message", "sender": "wxid_a", "timestamp": 1795219265, "type": 0, "content": "好"}
    rows = [
        json.dumps(header),
        json.dumps(good),
        "{broken",
        "[1, 2]",
        json.dumps({"_type": "reaction", "sender": "wxid_a"}),
        json.dumps({**good, "timestamp": "soon"}),
        json.dumps({**good, "type": None}),
        "",
        json.dumps({**good, "content": "还在", "timestamp": 1795219266}),
    ]
    path.write_bytes(("\n".join(rows) + "\n").encode() + b'{"_type": "message", "content": "\xff"}\n')
    result = read_weflow(path)
    assert [m.text for m in result.messages] == ["好", "还在"]
    errors = {e.line: e.message for e in result.errors}
    assert sorted(errors) == [3, 4, 5, 6, 7, 10]
    assert errors[3].startswith("line: invalid JSON")
    assert errors[4] == "line: expected a JSON object, got a list"
    assert errors[5].startswith("_type: unknown")
    assert errors[6].startswith("timestamp:")
    assert errors[7].startswith("type: missing")
    assert errors[10].startswith("line: not valid UTF-8")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "empty"),
        (b"not json at all", "not valid JSON"),
        (b"[1, 2, 3]", "expected a JSON object"),
        (b'{"weflow": {}, "session": {"wxid": "x@chatroom"}}', "no 'messages' list"),
        (b'{"messages": []}', "no 'session'"),
    ],
)
def test_unusable_files_are_format_errors(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "x.json"
    path.write_bytes(content)
    with pytest.raises(ImportFormatError, match=match):
        read_weflow(path)


# ---- group chats only; which group ----


def test_private_weflow_chat_is_refused(tmp_path: Path) -> None:
    doc = weflow_doc(record(1), session={"wxid": "wxid_friend", "nickname": "老同学", "type": "私聊"})
    with pytest.raises(ImportFormatError, match="private chat"):
        read_weflow(write_json(tmp_path / "p.json", doc), group_id="given@chatroom")


def test_private_chatlab_chat_is_refused(tmp_path: Path) -> None:
    doc = {"chatlab": {}, "meta": {"name": "老同学", "platform": "wechat", "type": "private"}, "messages": []}
    with pytest.raises(ImportFormatError, match="private chat"):
        read_weflow(write_json(tmp_path / "p.json", doc))
    lines = [{"_type": "header", "chatlab": {}, "meta": {"name": "老同学", "type": "private"}}]
    with pytest.raises(ImportFormatError, match="private chat"):
        read_weflow(write_lines(tmp_path / "p.jsonl", lines))


def test_chat_without_a_group_id_is_refused_unless_one_is_given(tmp_path: Path) -> None:
    path = write_json(tmp_path / "x.json", weflow_doc(record(1), session={"wxid": "wxid_friend"}))
    for blank in (None, "", "  "):
        with pytest.raises(ImportFormatError, match="not a group"):
            read_weflow(path, group_id=blank)
    [message] = read_weflow(path, group_id="given@chatroom").messages
    assert message.group_id == "given@chatroom"


def test_the_exports_own_group_id_wins(tmp_path: Path) -> None:
    session = {"accountId": ROOM, "displayName": TOPIC, "type": "群聊"}  # accountId: another build
    result = read_weflow(write_json(tmp_path / "x.json", weflow_doc(record(1), session=session)), group_id="o@x")
    assert result.messages[0].group_id == ROOM and result.messages[0].group_topic == TOPIC


# ---- times, kinds, senders ----


def test_millisecond_timestamps_are_detected(tmp_path: Path) -> None:
    seconds = read_one(tmp_path, createTime=1795219265)
    millis = read_one(tmp_path, createTime=1795219265123)
    assert seconds.sent_at == datetime(2026, 11, 21, 0, 1, 5, tzinfo=timezone.utc)
    assert millis.sent_at == datetime(2026, 11, 21, 0, 1, 5, 123000, tzinfo=timezone.utc)
    assert millis.sent_at.tzinfo is timezone.utc
    lines = [
        {"_type": "header", "chatlab": {}, "meta": {"type": "group", "groupId": ROOM}},
        {"_type": "message", "sender": "wxid_a", "timestamp": 1795219265000, "type": 0, "content": "早"},
    ]
    [chatlab] = read_weflow(write_lines(tmp_path / "ms.jsonl", lines)).messages
    assert chatlab.sent_at == seconds.sent_at


LINK_XML = (
    "<msg><appmsg><title>秋季徒步路线</title><type>5</type><url>https://example.com/a?b=1&amp;c=2</url></appmsg></msg>"
)


@pytest.mark.parametrize(
    ("local_type", "label", "content", "kind", "text"),
    [
        (1, "文本消息", "你好", MessageKind.TEXT, "你好"),
        (None, "图片消息", "images/a.jpg", MessageKind.IMAGE, "[图片]"),
        (3, "", "", MessageKind.IMAGE, "[图片]"),
        (47, "动画表情", "emojis/x.gif", MessageKind.STICKER, "[表情]"),
        (25769803825, "文件消息", "files/报名表.xlsx", MessageKind.FILE, "[文件] 报名表.xlsx"),
        (49, "文件消息", "[文件] 行程单.pdf", MessageKind.FILE, "[文件] 行程单.pdf"),
        (49, "", LINK_XML, MessageKind.LINK, "秋季徒步路线 https://example.com/a?b=1&c=2"),
        (17179869233, "卡片式链接", "标题 https://example.com", MessageKind.LINK, "标题 https://example.com"),
        (244813135921, "引用消息", "好的", MessageKind.QUOTE, "好的"),
        (266287972401, "拍一拍", '"阿甲" 拍了拍 "阿乙"', MessageKind.OTHER, '"阿甲" 拍了拍 "阿乙"'),
        (8589934592049, "转账卡片", "", MessageKind.OTHER, "[转账]"),
        (48, "位置消息", "<msg><location label='西湖'/></msg>", MessageKind.OTHER, "[位置]"),
        (None, "名片消息", "", MessageKind.OTHER, "[名片]"),
        (None, "什么新消息", "", MessageKind.OTHER, "[其他消息]"),
        (
            10000,
            "系统消息",
            '<sysmsg>"阿甲"<b>邀请</b>"阿乙"加入了群聊</sysmsg>',
            MessageKind.SYSTEM,
            '"阿甲" 邀请 "阿乙"加入了群聊',
        ),
    ],
)
def test_kinds_and_texts(
    tmp_path: Path, local_type: int | None, label: str, content: str, kind: MessageKind, text: str
) -> None:
    message = read_one(tmp_path, localType=local_type, type=label, content=content)
    assert (message.kind, message.text) == (kind, text)


def test_speaker_prefix_is_dropped_and_own_messages_get_self_id(tmp_path: Path) -> None:
    assert read_one(tmp_path, content="wxid_a:\n早上好").text == "早上好"
    mine = read_one(tmp_path, senderUsername="", senderDisplayName="", isSend=1)
    assert mine.sender_id == "self"
    doc = weflow_doc(record(1, senderUsername="", isSend=1))
    [message] = read_weflow(write_json(tmp_path / "me.json", doc), self_id="wxid_me").messages
    assert message.sender_id == "wxid_me"


def test_mentions_come_from_atuserlist_only(tmp_path: Path) -> None:
    source = "<msgsource><atuserlist>,wxid_b,notify@all,wxid_c,wxid_b</atuserlist></msgsource>"
    message = read_one(tmp_path, content="@所有人 @阿乙 @阿丙 集合了", source=source)
    assert message.mentions == ("wxid_b", "wxid_c")
    named_only = read_one(tmp_path, content="@阿乙\u2005你好", source="<msgsource/>")
    assert named_only.mentions == ()


def test_quote_without_server_id_keeps_the_quoted_text(tmp_path: Path) -> None:
    message = read_one(tmp_path, localType=244813135921, quotedSender="阿乙", quotedContent="几点 出发？")
    assert message.reply_to is None and message.quote == "阿乙：几点 出发？"
    replied = read_one(tmp_path, replyToMessageId=7001234567890123456, quotedSender="阿乙", quotedContent="x")
    assert replied.reply_to == "7001234567890123456" and replied.quote == ""
