"""QQ Chat Exporter import: the sample (JSON and chunked) against its JSON Lines twin, ids for
people, replies and mentions, bad records named by position, idempotent and overlapping imports."""

from __future__ import annotations

import copy
import json
import shutil
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.errors import ImportFormatError
from bot.adapters.qq_exporter import FORMAT, read_qq_export, sniff_qq_export
from bot.config import Config, Group
from bot.message import GroupMessage, MessageKind
from bot.wiring import build_pipeline, open_store
from tests.bot.adapters.equivalence import SAMPLES, assert_same_digest

SAMPLE = SAMPLES / "qq.json"
TWIN = SAMPLES / "qq.jsonl"
CHUNKED = SAMPLES / "qq_chunked"
GROUP = "qq:785412369"
DAY = date(2026, 11, 28)
LIN, ZHOU, CHEN, HE, JIE = "qq:382910457", "qq:1045563781", "qq:2234098871", "qq:1789054432", "qq:3308127765"


def sample() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SAMPLE.read_text(encoding="utf-8"))
    return document


def write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def by_text(messages: list[GroupMessage], fragment: str) -> GroupMessage:
    (found,) = [m for m in messages if fragment in m.text]
    return found


def record(n: int, **changes: Any) -> dict[str, Any]:
    """A good text record, numbered ``n``, with ``changes`` applied."""
    base: dict[str, Any] = {
        "id": f"74500000000000{n:05d}",
        "seq": str(n),
        "timestamp": 1764288000000 + n * 60_000,
        "sender": {"uid": "u_aliQ", "uin": "20002", "name": "阿丽"},
        "type": "text",
        "content": {"text": f"第{n}条", "elements": [{"type": "text", "data": {"text": f"第{n}条"}}], "mentions": []},
        "recalled": False,
        "system": False,
    }
    base.update(changes)
    return base


def export(messages: list[Any], **chat: Any) -> dict[str, Any]:
    info = {"name": "测试群", "type": "group", "peerUid": "123456", "peerUin": "123456"}
    info.update(chat)
    return {"metadata": {"name": "QQChatExporter"}, "chatInfo": info, "statistics": {}, "messages": messages}


# -- the sample ---------------------------------------------------------------------------


def test_sample_reads_as_its_twin_and_renders_the_same_digest(tmp_path: Path) -> None:
    result = read_qq_export(SAMPLE)
    assert len(result.messages) == 41  # 42 records, one recalled
    assert [(r.group_id, r.topic) for r in result.rooms] == [(GROUP, "滨江跑团·周末约跑")]
    assert_same_digest(result, TWIN, GROUP, DAY, tmp_path, topic="跑步")


def test_chunked_export_reads_as_the_json_one_from_the_manifest_or_the_folder() -> None:
    whole = read_qq_export(SAMPLE)
    for path in (CHUNKED, CHUNKED / "manifest.json"):
        result = read_qq_export(path)
        assert result.errors == []
        assert result.messages == whole.messages
        assert result.rooms == whole.rooms


def test_chunked_export_without_a_chunk_list_reads_every_chunk_in_name_order(tmp_path: Path) -> None:
    folder = shutil.copytree(CHUNKED, tmp_path / "export")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    del manifest["chunks"]
    write(folder / "manifest.json", manifest)
    assert read_qq_export(folder).messages == read_qq_export(SAMPLE).messages


def test_chunked_bad_lines_are_named_by_chunk_file_and_line(tmp_path: Path) -> None:
    folder = shutil.copytree(CHUNKED, tmp_path / "export")
    chunk = folder / "chunks" / "c000002.jsonl"
    lines = chunk.read_text(encoding="utf-8").splitlines()
    lines[2] = '{"id": "broken", '
    lines[4] = json.dumps(record(5, timestamp="yesterday"))
    chunk.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = read_qq_export(folder / "manifest.json")
    assert [(Path(e.path).name, e.line) for e in result.errors] == [("c000002.jsonl", 3), ("c000002.jsonl", 5)]
    assert result.errors[0].message.startswith("message 23: line: invalid JSON")
    assert result.errors[1].message.startswith("message 25: timestamp:")
    assert len(result.messages) == 41 - 2


def test_chunked_manifest_naming_a_missing_chunk_is_refused(tmp_path: Path) -> None:
    folder = shutil.copytree(CHUNKED, tmp_path / "export")
    (folder / "chunks" / "c000002.jsonl").unlink()
    with pytest.raises(ImportFormatError, match="c000002.jsonl"):
        read_qq_export(folder)


def test_a_reply_an_at_mention_and_an_unresolved_quote_map_to_ids() -> None:
    messages = read_qq_export(SAMPLE).messages
    question = by_text(messages, "10公里轻松跑")
    answer = by_text(messages, "我带两瓶水")
    assert answer.kind is MessageKind.QUOTE
    assert answer.reply_to == question.id and answer.quote == ""
    assert answer.mentions == (LIN,) and answer.mentions_bot  # the exporter (chatInfo.selfUin) is 林晓
    assert answer.sender_id == CHEN and answer.sender_name == "雨桐-配速6"

    unresolved = by_text(messages, "跑不动就走")  # reply messageId "0": no id, the quote instead
    assert unresolved.reply_to is None
    assert unresolved.quote == "小何：请问新人可以参加吗？我平时只跑5公里"

    # an @ carrying only the uid resolves through the uid -> uin pairs seen elsewhere in the file
    assert by_text(messages, "打卡表你看下").mentions == (CHEN,)
    # an @ with only the uin, listed in content.mentions with only the uid: one id, once
    assert by_text(messages, "周航哥").mentions == (ZHOU,)
    # @全体成员 names no one
    everyone = by_text(messages, "@全体成员")
    assert everyone.mentions == () and not everyone.mentions_bot
    # a sender whose uin is "0" in this record keeps the id their other records give them
    assert by_text(messages, "江边那家面馆").sender_id == JIE


def test_media_system_cards_and_recalls() -> None:
    messages = read_qq_export(SAMPLE).messages
    kinds = {m.kind for m in messages}
    assert {MessageKind.IMAGE, MessageKind.VOICE, MessageKind.VIDEO, MessageKind.FILE, MessageKind.STICKER} <= kinds
    assert not any(".jpg" in m.text or ".amr" in m.text or ".mp4" in m.text or "[图片:" in m.text for m in messages)
    system = [m for m in messages if m.kind is MessageKind.SYSTEM]
    assert [(m.sender_id, m.sender_name, m.text) for m in system] == [
        ("@system", "系统消息", "林晓 将 跑鞋特卖小王 移出了本群"),
        ("@system", "系统消息", "孙悦 加入了本群"),
    ]
    link = by_text(messages, "https://example.com/running/knee-care")
    assert link.kind is MessageKind.LINK and link.text == "冬季跑步如何保护膝盖 https://example.com/running/knee-care"
    assert not any("烧烤" in m.text for m in messages)  # the recalled message is not imported


def test_self_id_argument_decides_mentions_bot() -> None:
    messages = read_qq_export(SAMPLE, self_id="1789054432").messages  # 小何's QQ number
    assert by_text(messages, "下周可以试试8公里").mentions_bot
    assert not by_text(messages, "我带两瓶水").mentions_bot
    by_uid = read_qq_export(SAMPLE, self_id="u_Xh9eB1cM4uV").messages  # or the uid
    assert by_text(by_uid, "下周可以试试8公里").mentions_bot


# -- idempotence and overlapping exports --------------------------------------------------


def _store_messages(db: Path, batches: list[list[GroupMessage]]) -> list[int]:
    config = Config()
    config = config.model_copy(
        update={
            "database": config.database.model_copy(update={"url": f"sqlite:///{db}"}),
            "models": config.models.model_copy(update={"use": False}),
            "groups": (Group(id=GROUP, name="样例群"),),
        }
    )
    store = open_store(config)
    try:
        pipeline = build_pipeline(config, store, dry_run=True)
        return [pipeline.ingest(batch).stored for batch in batches]
    finally:
        store.close()


def test_reimport_stores_nothing_and_an_overlapping_later_export_adds_only_the_new(tmp_path: Path) -> None:
    document = sample()
    records = document["messages"]
    earlier, later = copy.deepcopy(document), copy.deepcopy(document)
    earlier["messages"] = records[:25]
    later["messages"] = records[15:]
    # the later export resolves a name differently and loses a uin: the ids stay the same
    later["messages"][0]["sender"]["name"] = "改了群名片"
    later["messages"][1]["sender"]["uin"] = "0"
    first = read_qq_export(write(tmp_path / "earlier.json", earlier))
    second = read_qq_export(write(tmp_path / "later.json", later))
    assert not first.errors and not second.errors
    overlap = {m.id for m in first.messages} & {m.id for m in second.messages}
    assert len(overlap) == 10 - 1  # records 16..25, one of them recalled
    assert {(m.id, m.sender_id) for m in first.messages if m.id in overlap} == {
        (m.id, m.sender_id) for m in second.messages if m.id in overlap
    }
    stored = _store_messages(tmp_path / "store.db", [first.messages, first.messages, second.messages])
    assert stored == [len(first.messages), 0, len(second.messages) - len(overlap)]
    assert stored[0] + stored[2] == len(read_qq_export(SAMPLE).messages)


# -- refusals and bad records -------------------------------------------------------------


@pytest.mark.parametrize(("kind", "words"), [("private", "private chat"), ("temp", "temporary session")])
def test_private_and_temporary_chats_are_refused(tmp_path: Path, kind: str, words: str) -> None:
    path = write(tmp_path / "chat.json", export([record(1)], type=kind))
    with pytest.raises(ImportFormatError, match=f"{words}.*group chats only"):
        read_qq_export(path)


def test_group_id_from_the_file_from_the_argument_or_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "chat.json", export([record(1)]))
    assert read_qq_export(path).messages[0].group_id == "qq:123456"
    assert read_qq_export(path, group_id="654321").messages[0].group_id == "qq:654321"
    assert read_qq_export(path, group_id="qq:654321").messages[0].group_id == "qq:654321"
    nameless = write(tmp_path / "nameless.json", export([record(1)], peerUid="", peerUin="0"))
    with pytest.raises(ImportFormatError, match="--group-id"):
        read_qq_export(nameless)
    assert read_qq_export(nameless, group_id="777").messages[0].group_id == "qq:777"


def test_bad_records_are_named_by_position_and_never_stop_the_read(tmp_path: Path) -> None:
    messages = [
        record(1),
        "not a record",
        record(3, id=""),
        record(4, timestamp=-5),
        record(5, sender={"name": "无名"}),
        record(6, content={"elements": [{"type": "text", "data": "oops"}]}),
        record(7, id=record(1)["id"]),
        record(8),
    ]
    path = write(tmp_path / "chat.json", export(messages))
    result = read_qq_export(path)
    assert [m.text for m in result.messages] == ["第1条", "第8条"]
    assert [(e.path, e.line) for e in result.errors] == [(str(path), n) for n in (2, 3, 4, 5, 6, 7)]
    expected = [
        "message 2: record: expected a JSON object",
        "message 3: id:",
        "message 4: timestamp:",
        "message 5: sender: no uin or uid",
        "message 6: content.elements[0].data:",
        "message 7: id: duplicate",
    ]
    for error, start in zip(result.errors, expected, strict=True):
        assert error.message.startswith(start), error.message


@pytest.mark.parametrize(
    "content",
    [b"", b"[1, 2]", b"{not json", json.dumps({"messages": []}).encode(), json.dumps({"chatInfo": {}}).encode()],
)
def test_files_that_are_no_export_raise(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "chat.json"
    path.write_bytes(content)
    with pytest.raises(ImportFormatError):
        read_qq_export(path)


def test_times_seconds_and_iso_and_the_older_elementless_records(tmp_path: Path) -> None:
    messages = [
        record(1, timestamp=1764288060),  # seconds, not ms
        record(2, timestamp=None, time="2025-11-28T00:02:00.250Z"),
        record(3, content={"text": "[回复消息]看[图片:a.jpg]和[文件:表.xlsx]"}, type="reply"),
    ]
    result = read_qq_export(write(tmp_path / "chat.json", export(messages)))
    assert not result.errors
    one, two, three = result.messages
    assert one.sent_at == datetime(2025, 11, 28, 0, 1, tzinfo=timezone.utc)
    assert two.sent_at == datetime(2025, 11, 28, 0, 2, 0, 250_000, tzinfo=timezone.utc)
    assert (three.kind, three.text) == (MessageKind.QUOTE, "看[图片]和[文件] 表.xlsx")


def test_sniff_and_the_format_entry(tmp_path: Path) -> None:
    def head(path: Path) -> bytes:
        return path.read_bytes()[: 64 * 1024]

    assert FORMAT.name == "qq"
    assert FORMAT.sniff(SAMPLE, head(SAMPLE))
    assert FORMAT.sniff(CHUNKED, b"")
    assert FORMAT.sniff(CHUNKED / "manifest.json", head(CHUNKED / "manifest.json"))
    assert not FORMAT.sniff(TWIN, head(TWIN))
    chatlab = write(tmp_path / "weflow.json", {"chatlab": {"version": "0.0.2"}, "meta": {}, "messages": []})
    assert not sniff_qq_export(chatlab, head(chatlab))
    csv = tmp_path / "memotrace.csv"
    csv.write_text("localId,TalkerId,Type\n", encoding="utf-8")
    assert not sniff_qq_export(csv, head(csv))
    assert FORMAT.read(SAMPLE).messages == read_qq_export(SAMPLE).messages
