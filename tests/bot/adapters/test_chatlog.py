"""The chatlog reader (JSON array / CSV of the API's messages) and the incremental pull against a
local chatlog-compatible server (``chatlog_server.py``)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.chatlog import FORMAT, ChatlogReadResult, read_chatlog
from bot.adapters.chatlog_api import ChatlogPull
from bot.adapters.errors import ImportFormatError
from bot.adapters.memotrace import SYSTEM_SENDER_ID
from bot.adapters.source import SourceError
from bot.config import ChatlogSource, Config, Group
from bot.message import GroupMessage, MessageKind
from bot.store.cursors import cursor, save_cursor
from bot.wiring import build_pipeline, open_store
from tests.bot.adapters.chatlog_server import ChatlogServer
from tests.bot.adapters.equivalence import SAMPLES, assert_same_digest

SAMPLE = SAMPLES / "chatlog.json"
TWIN = SAMPLES / "chatlog.jsonl"
ROOM = "28501234567@chatroom"
CST = timezone(timedelta(hours=8))


def sample_records() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(SAMPLE.read_text(encoding="utf-8"))
    return records


def write_json(path: Path, records: list[Any]) -> Path:
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return path


def record(seq: int, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "seq": seq,
        "time": "2026-11-28T08:00:00+08:00",
        "talker": ROOM,
        "talkerName": "群",
        "isChatRoom": True,
        "sender": "wxid_a1",
        "senderName": "阿一",
        "isSelf": False,
        "type": 1,
        "subType": 0,
        "content": f"消息{seq}",
    }
    base.update(fields)
    return base


# ------------------------------------------------------------------------------------- the file


def test_sample_reads_as_its_twin_and_renders_the_same_digest(tmp_path: Path) -> None:
    result = FORMAT.read(SAMPLE)
    assert isinstance(result, ChatlogReadResult)
    assert result.skipped == 1  # the private chat in the export
    assert [r.group_id for r in result.rooms] == [ROOM] and result.rooms[0].topic == "西溪徒步周末群"
    assert all("<" not in m.text and "msg/" not in m.text for m in result.messages)  # no raw XML, no paths
    assert_same_digest(result, TWIN, ROOM, date(2026, 11, 28), tmp_path)


def test_sample_mapping_details() -> None:
    messages = {m.text: m for m in read_chatlog(SAMPLE).messages}
    system = next(m for m in messages.values() if m.kind is MessageKind.SYSTEM)
    assert (system.sender_id, system.sender_name) == (SYSTEM_SENDER_ID, "系统消息")
    quote = messages["太好了，那我不带干粮了"]
    assert quote.kind is MessageKind.QUOTE and quote.reply_to is None
    assert quote.quote == "林月：里面吃吧，我订了深潭口的农家菜，12个人的桌"
    assert messages["@户外装备小刘\u2005群里不发广告，谢谢"].mentions == ("wxid_adv88",)
    assert messages["[图片]"].sent_at == datetime(2026, 11, 28, 0, 4, 40, tzinfo=timezone.utc)


def test_self_id_marks_mentions_of_the_bot(tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "m.json",
        [
            record(1, sender="wxid_me", senderName="老吴", content="我在"),
            record(2, content="@老吴\u2005周六来吗？"),
            record(3, sender="wxid_x1", senderName="小王", content="到"),
            record(4, sender="wxid_x2", senderName="小王", content="@小王 你是哪个小王"),  # two ids: unresolved
            record(5, content="发邮件到 a@老吴x.com"),  # not a mention: a longer word follows
        ],
    )
    messages = read_chatlog(path, self_id="wxid_me").messages
    assert messages[1].mentions == ("wxid_me",) and messages[1].mentions_bot
    assert messages[3].mentions == () and not messages[3].mentions_bot
    assert messages[4].mentions == ()


def test_quote_with_a_real_refer_seq_replies_to_that_message(tmp_path: Path) -> None:
    refer = record(1735700000000, content="几点？")
    path = write_json(
        tmp_path / "q.json",
        [record(1735700060000, type=49, subType=57, content="八点", contents={"refer": refer})],
    )
    (message,) = read_chatlog(path).messages
    assert message.reply_to == f"{ROOM}:1735700000000" and message.quote == ""


def test_3x_xml_content_never_leaks(tmp_path: Path) -> None:
    link = (
        "<msg><appmsg><title>开放时间</title><type>5</type><url>https://example.org/a?b=1&amp;c=2</url></appmsg></msg>"
    )
    quote = "<msg><appmsg><title>好的</title><type>57</type><refermsg><content>几点</content></refermsg></appmsg></msg>"
    path = write_json(
        tmp_path / "x.json",
        [
            record(1, type=49, subType=5, content=link),
            record(2, type=49, subType=57, content=quote),
            record(3, type=48, content='<msg><location x="1" y="2" label="东门" /></msg>'),
            record(4, type=49, subType=19, content="<msg><appmsg><type>19</type></appmsg></msg>"),
            record(5, type=10000, sender="", senderName="", content='<sysmsg type="pat"><pat>拍了拍</pat></sysmsg>'),
        ],
    )
    texts = [(m.kind, m.text) for m in read_chatlog(path).messages]
    assert texts == [
        (MessageKind.LINK, "开放时间 https://example.org/a?b=1&c=2"),
        (MessageKind.QUOTE, "好的"),
        (MessageKind.OTHER, "[位置]"),
        (MessageKind.OTHER, "[应用消息]"),
        (MessageKind.SYSTEM, "拍了拍"),
    ]


def test_malformed_records_are_named_by_position_and_the_rest_is_read(tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "bad.json",
        [
            record(1),
            "not an object",
            record(3, time="2026-11-28 08:00:00"),  # no offset
            record(0),
            record(5, content="  "),
            record(6, sender=""),
            record(7, type="x"),
            record(1),  # duplicate
            record(9),
        ],
    )
    result = read_chatlog(path)
    assert [m.id for m in result.messages] == [f"{ROOM}:1", f"{ROOM}:9"]
    assert [(e.line, e.message.split(":")[0]) for e in result.errors] == [
        (2, "message 2"),
        (3, "message 3"),
        (4, "message 4"),
        (5, "message 5"),
        (6, "message 6"),
        (7, "message 7"),
        (8, "message 8"),
    ]
    assert "time" in result.errors[1].message and "duplicate" in result.errors[6].message


def test_unusable_files_raise(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("[{", encoding="utf-8")
    (tmp_path / "b.csv").write_text("time,talker,content\n", encoding="utf-8")
    for name in ("a.json", "b.csv"):
        with pytest.raises(ImportFormatError):
            read_chatlog(tmp_path / name)


def test_csv_with_the_json_field_names_reads_the_same(tmp_path: Path) -> None:
    records = sample_records()
    names = ["seq", "time", "talker", "talkerName", "isChatRoom", "sender", "senderName", "isSelf", "type", "subType"]
    path = tmp_path / "chatlog.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*names, "content", "contents"])
        for r in records:
            cells = [str(r[n]).lower() if isinstance(r[n], bool) else r[n] for n in names]
            contents = json.dumps(r["contents"], ensure_ascii=False) if "contents" in r else ""
            writer.writerow([*cells, r["content"], contents])
        writer.writerow(["x", "2026-11-28T08:00:00+08:00", ROOM, "", "true", "wxid_a", "", "false", 1, 0, "hi", ""])
    head = path.read_bytes()[:200]
    assert FORMAT.sniff(path, head)
    result = read_chatlog(path)
    assert result.messages == read_chatlog(SAMPLE).messages
    last = len(path.read_text(encoding="utf-8-sig").splitlines())  # the image's XML spans two lines
    assert [(e.line, e.message.split(":")[0]) for e in result.errors] == [(last, f"line {last}")]


def test_sniff(tmp_path: Path) -> None:
    head = SAMPLE.read_bytes()[:65536]
    assert FORMAT.sniff(SAMPLE, head)
    assert FORMAT.sniff(SAMPLE, head[:120])  # the first object cut off: its keys still show
    assert not FORMAT.sniff(TWIN, TWIN.read_bytes())
    assert not FORMAT.sniff(SAMPLE, b"[]")
    assert not FORMAT.sniff(SAMPLE, b'[{"localId": 1, "createTime": 1}]')
    assert not FORMAT.sniff(SAMPLE, b"localId,TalkerId,Type,SubType,IsSender,CreateTime\n")
    assert FORMAT.sniff(SAMPLE, b"\xef\xbb\xbfSeq,Time,Talker,Sender,Type,Content\n")


def _config(db: Path) -> Config:
    config = Config()
    return config.model_copy(
        update={
            "database": config.database.model_copy(update={"url": f"sqlite:///{db}"}),
            "models": config.models.model_copy(update={"use": False}),
            "groups": (Group(id=ROOM, name="样例群"),),
        }
    )


def test_reimport_stores_nothing_and_an_overlapping_later_export_only_what_is_new(tmp_path: Path) -> None:
    records = sample_records()
    early = read_chatlog(write_json(tmp_path / "early.json", records[:20])).messages
    later = read_chatlog(write_json(tmp_path / "later.json", records[10:])).messages
    store = open_store(_config(tmp_path / "q.db"))
    try:
        pipeline = build_pipeline(_config(tmp_path / "q.db"), store, dry_run=True)
        assert pipeline.ingest(early).stored == len(early)
        assert pipeline.ingest(early).stored == 0
        new = {m.id for m in later} - {m.id for m in early}
        assert pipeline.ingest(later).stored == len(new) > 0
        assert pipeline.ingest(read_chatlog(SAMPLE).messages).stored == 0
    finally:
        store.close()


# ------------------------------------------------------------------------------------- the pull


@pytest.fixture
def server() -> Iterator[ChatlogServer]:
    s = ChatlogServer()
    s.add_room(ROOM, "西溪徒步周末群", owner="wxid_lin9x", users=[("wxid_lin9x", "林月"), ("wxid_me", "老吴")])
    s.add_room("99887766@chatroom", "读书会")
    yield s
    s.stop()


def source(server: ChatlogServer, **fields: Any) -> ChatlogSource:
    return ChatlogSource(kind="chatlog", name="home", url=server.url, timeout_seconds=5, **fields)


def ids(messages: list[GroupMessage]) -> list[str]:
    return [m.id for m in messages]


def test_pull_picks_up_new_messages_exactly_once_including_the_same_second(server: ChatlogServer) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    server.add(now - timedelta(days=2), ROOM, "wxid_lin9x", "林月", "前天的消息")  # before the first pull's day
    first = [
        server.add(now - timedelta(minutes=30), ROOM, "wxid_lin9x", "林月", "周六见"),
        server.add(now - timedelta(minutes=10), ROOM, "wxid_zhou", "周大山", "@林月\u2005几点？"),
        server.add(now - timedelta(minutes=5), "99887766@chatroom", "wxid_b", "小白", "这周读哪本？"),
    ]
    server.add(now - timedelta(minutes=4), "wxid_lin9x", "wxid_lin9x", "林月", "私聊")  # not a chat room: never pulled
    pull = ChatlogPull(source(server))
    one = pull.pull({})
    assert ids(one.messages) == [f"{m['talker']}:{m['seq']}" for m in first]
    assert one.messages[1].mentions == ("wxid_lin9x",)
    assert {r.group_id: (r.topic, r.owner_id) for r in one.rooms} == {
        ROOM: ("西溪徒步周末群", "wxid_lin9x"),
        "99887766@chatroom": ("读书会", None),
    }
    last = first[1]
    assert one.cursor[ROOM] == {"sec": last["seq"] // 1000, "seq": last["seq"]}

    assert pull.pull(one.cursor).messages == []  # nothing new: the last second comes back and is dropped
    same_second = server.add(datetime.fromisoformat(last["time"]), ROOM, "wxid_he", "何苗", "同一秒到的")
    later = server.add(now - timedelta(minutes=1), ROOM, "wxid_he", "何苗", "八点")
    two = pull.pull(one.cursor)
    assert same_second["seq"] == last["seq"] + 1
    assert ids(two.messages) == [f"{ROOM}:{same_second['seq']}", f"{ROOM}:{later['seq']}"]
    assert two.cursor[ROOM]["seq"] == later["seq"]
    assert two.cursor["99887766@chatroom"] == one.cursor["99887766@chatroom"]
    assert pull.pull(two.cursor).messages == []
    # every pull asked for the talker's range from its last second (unix seconds), "+" never raw
    asked = [r for r in server.requests if r.startswith("/api/v1/chatlog") and "28501234567" in r]
    assert f"time={last['seq'] // 1000}~" in asked[2] and all("+" not in r for r in server.requests)


def test_configured_talkers_only_and_plus_encoded(server: ChatlogServer) -> None:
    now = datetime.now(timezone.utc)
    odd = "a+b 1@chatroom"
    server.add(now - timedelta(minutes=3), odd, "wxid_x", "某人", "加号群")
    server.add(now - timedelta(minutes=2), ROOM, "wxid_x", "某人", "不该拉到")
    result = ChatlogPull(source(server, talkers=(odd,))).pull({})
    assert [m.text for m in result.messages] == ["加号群"] and result.messages[0].group_id == odd
    assert any("talker=a%2Bb%201%40chatroom" in r for r in server.requests)


def test_the_cursor_survives_a_restart_through_the_store(server: ChatlogServer, tmp_path: Path) -> None:
    config = _config(tmp_path / "q.db")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    sent = [server.add(now - timedelta(minutes=20 - i), ROOM, "wxid_a", "阿一", f"第{i}条") for i in range(3)]

    def run_once(pull: ChatlogPull) -> tuple[int, int]:
        """What the sync runner does: read the cursor, pull, store the messages, then the cursor."""
        store = open_store(config)
        try:
            with store.sessions.begin() as session:
                stored_cursor = cursor(session, pull.name)
            result = pull.pull(stored_cursor)
            stored = build_pipeline(config, store, dry_run=True).ingest(result.messages).stored
            with store.sessions.begin() as session:
                save_cursor(session, pull.name, result.cursor)
            return len(result.messages), stored
        finally:
            store.close()

    assert run_once(ChatlogPull(source(server))) == (3, 3)
    sent.append(server.add(datetime.fromisoformat(sent[-1]["time"]), ROOM, "wxid_b", "阿二", "同秒"))
    sent.append(server.add(now, ROOM, "wxid_b", "阿二", "重启后"))
    restarted = ChatlogPull(source(server))  # a new process: nothing in memory
    before = len(server.requests)
    assert run_once(restarted) == (2, 2)  # pulled once, not only de-duplicated by the store
    assert run_once(ChatlogPull(source(server))) == (0, 0)
    asked = [r for r in server.requests[before:] if r.startswith("/api/v1/chatlog") and "28501234567" in r][0]
    assert f"time={sent[2]['seq'] // 1000}~" in asked  # resumed from the stored second, not a fresh day


def test_errors(server: ChatlogServer) -> None:
    pull = ChatlogPull(source(server))
    server.fail_next(400, "time and talker are required")
    with pytest.raises(SourceError) as refused:
        pull.pull({})
    assert not refused.value.retry and "time and talker are required" in str(refused.value)
    server.fail_next(503, "database is busy")
    with pytest.raises(SourceError) as busy:
        pull.pull({})
    assert busy.value.retry
    server.stop()
    with pytest.raises(SourceError) as down:
        pull.pull({})
    assert down.value.retry


def test_a_bad_record_in_an_answer_does_not_stop_the_pull(server: ChatlogServer) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    good = server.add(now - timedelta(minutes=2), ROOM, "wxid_a", "阿一", "好的")
    bad = server.add(now - timedelta(minutes=1), ROOM, "wxid_a", "阿一", "   ")  # a text message with no text
    result = ChatlogPull(source(server, talkers=(ROOM,))).pull({})
    assert ids(result.messages) == [f"{ROOM}:{good['seq']}"]
    assert [(e.line, e.message.split(":")[0]) for e in result.errors] == [(2, "message 2")]
    assert result.cursor[ROOM]["seq"] == bad["seq"]  # not re-reported on every pull
    assert result.rooms[0].group_id == ROOM


def test_the_server_answers_the_documented_time_forms(server: ChatlogServer) -> None:
    """The test server itself: ranges are inclusive, a lone point widens to its day, errors are strings."""
    import httpx

    at = datetime(2026, 11, 28, 8, 0, 5, tzinfo=CST)
    m = server.add(at, ROOM, "wxid_a", "阿一", "早")
    second = int(at.timestamp())

    def get(time: str) -> Any:
        return httpx.get(f"{server.url}/api/v1/chatlog", params={"time": time, "talker": ROOM, "format": "json"}).json()

    assert get(f"{second}~{second}") == [m]
    assert get(f"{second + 1}~{second + 9}") == []
    assert get(str(second + 3600)) == [m]  # same day
    assert get("2026-11-28") == [m] and get("20261128") == [m] and get("2026-11-27,2026-11-28") == [m]
    assert get("2026-11-29") == []
    bad = httpx.get(f"{server.url}/api/v1/chatlog", params={"talker": ROOM})
    assert bad.status_code == 400 and isinstance(bad.json(), str)
