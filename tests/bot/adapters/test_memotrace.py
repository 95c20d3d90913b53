import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.adapters.memotrace import SYSTEM_SENDER_ID, ImportFormatError, iter_memotrace_csv, read_memotrace_csv
from bot.message import MessageKind

ROOM = "34567890123@chatroom"
HEADER = "localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime,Remark,NickName,Sender".split(",")
BASE = datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc)  # 09:00 in Shanghai
CST = timezone(timedelta(hours=8))

LINK_XML = """<?xml version="1.0"?>
<msg>
	<appmsg appid="" sdkver="0">
		<title>杭州楼市新政解读：首套房贷利率再降</title>
		<des>滨江、萧山板块成交量环比上涨</des>
		<type>5</type>
		<url>https://mp.weixin.qq.com/s?__biz=MzA5&amp;mid=2650&amp;idx=1</url>
		<thumburl>https://mmbiz.qpic.cn/mmbiz_jpg/abc/0</thumburl>
	</appmsg>
	<fromusername>wxid_wang5</fromusername>
	<scene>0</scene>
</msg>"""

QUOTE_XML = """<msg><appmsg appid="" sdkver="0"><title>我周日去看了，采光不错，就是楼下有点吵</title><des /><action /><type>57</type><showtype>0</showtype><content /><url /><refermsg><type>1</type><svrid>7481234567890123456</svrid><fromusr>34567890123@chatroom</fromusr><chatusr>wxid_zhang3</chatusr><displayname>张三</displayname><content>大家早上好，滨江那套房子有人去看了吗？</content></refermsg></appmsg><fromusername>wxid_li4</fromusername></msg>"""

FILE_XML = """<msg><appmsg appid="" sdkver="0"><title>滨江房源对比.xlsx</title><des /><type>6</type><appattach><totallen>18432</totallen><fileext>xlsx</fileext></appattach><md5>0f3c</md5></appmsg></msg>"""

MINI_XML = """<msg><appmsg appid="wx2b03c6e691cd7370" sdkver="0"><title>贝壳找房｜滨江精装三房 急售</title><type>33</type><url>https://mp.weixin.qq.com/mp/waerrpage?appid=wx2b03c6e691cd7370</url><weappinfo><username>gh_abc@app</username></weappinfo></appmsg></msg>"""

MULTILINE_TEXT = "我补充两点：\n1. 物业费每平4元\n2. 地铁站步行10分钟"

# (localId, Type, SubType, IsSender, minutes after BASE, StrContent, Remark, NickName, Sender)
ROWS = [
    (101, 1, 0, 0, 1, "大家早上好，滨江那套房子有人去看了吗？", "", "张三", "wxid_zhang3"),
    (102, 3, 0, 0, 2, r"FileStorage\MsgAttach\9e20f4\Image\2026-11\d3b1.dat", "李四-中介", "李四", "wxid_li4"),
    (103, 34, 0, 0, 3, '<msg><voicemsg endflag="1" length="5120" voicelength="3200" /></msg>', "", "李四", "wxid_li4"),
    (
        104,
        43,
        0,
        0,
        4,
        '<?xml version="1.0"?>\n<msg><videomsg aeskey="8a7b" length="20480" playlength="12" /></msg>',
        "",
        "王五",
        "wxid_wang5",
    ),
    (
        105,
        47,
        0,
        0,
        5,
        '<msg><emoji fromusername="wxid_wang5" md5="c1f0" cdnurl="http://emoji.qpic.cn/wx_emoji/x/" /></msg>',
        "",
        "王五",
        "wxid_wang5",
    ),
    (106, 49, 5, 0, 6, LINK_XML, "", "王五", "wxid_wang5"),
    (107, 49, 57, 0, 7, QUOTE_XML, "", "李四", "wxid_li4"),
    (108, 10000, 0, 0, 8, '"王五"邀请"赵六"加入了群聊', "", "", ""),
    (109, 1, 0, 1, 9, MULTILINE_TEXT, "", "", ""),
    (110, 49, 6, 0, 10, FILE_XML, "", "张三", "wxid_zhang3"),
    (
        111,
        48,
        0,
        0,
        11,
        '<msg><location x="30.2084" y="120.2127" label="杭州市滨江区江南大道" /></msg>',
        "",
        "赵六",
        "wxid_zhao6",
    ),
    (112, 49, 33, 0, 12, MINI_XML, "", "赵六", "wxid_zhao6"),
    (113, 1, 0, 0, 13, "好的，谢谢大家😄", "", "张三", "wxid_zhang3"),
]


def export(path: Path, rows=ROWS, header=HEADER) -> Path:
    """Write a CSV the way MemoTrace does: utf-8-sig, csv.writer (\\r\\n, minimal quoting)."""
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for local_id, typ, sub, is_sender, minutes, content, remark, nick, sender in rows:
            when = BASE + timedelta(minutes=minutes)
            values = {
                "localId": local_id,
                "TalkerId": ROOM,
                "Type": typ,
                "SubType": sub,
                "IsSender": is_sender,
                "CreateTime": int(when.timestamp()),
                "Status": 2,
                "StrContent": content,
                "StrTime": when.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S"),
                "Remark": remark,
                "NickName": nick,
                "Sender": sender,
            }
            by_name = {k.lower(): v for k, v in values.items()}
            w.writerow([by_name.get(col.strip().lower(), "") for col in header])
    return path


def raw(tmp_path: Path, text: str, name: str = "raw.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    return p


def header_line() -> str:
    return ",".join(HEADER)


def test_realistic_export_maps_every_type(tmp_path):
    path = export(tmp_path / "杭州二手房交流群.csv")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in path.read_bytes()

    result = read_memotrace_csv(path, group_name="杭州二手房交流群")
    assert result.errors == []
    got = {m.id.split(":")[1]: m for m in result.messages}
    assert len(got) == len(ROWS)

    table = {local_id: (got[str(local_id)].kind, got[str(local_id)].text) for local_id, *_ in ROWS}
    assert table == {
        101: (MessageKind.TEXT, "大家早上好，滨江那套房子有人去看了吗？"),
        102: (MessageKind.IMAGE, "[图片]"),
        103: (MessageKind.VOICE, "[语音]"),
        104: (MessageKind.VIDEO, "[视频]"),
        105: (MessageKind.STICKER, "[表情]"),
        106: (
            MessageKind.LINK,
            "杭州楼市新政解读：首套房贷利率再降 https://mp.weixin.qq.com/s?__biz=MzA5&mid=2650&idx=1",
        ),
        107: (MessageKind.QUOTE, "我周日去看了，采光不错，就是楼下有点吵"),
        108: (MessageKind.SYSTEM, '"王五"邀请"赵六"加入了群聊'),
        109: (MessageKind.TEXT, MULTILINE_TEXT),
        110: (MessageKind.FILE, "[文件] 滨江房源对比.xlsx"),
        111: (MessageKind.OTHER, "[位置]"),
        112: (
            MessageKind.OTHER,
            "贝壳找房｜滨江精装三房 急售 https://mp.weixin.qq.com/mp/waerrpage?appid=wx2b03c6e691cd7370",
        ),
        113: (MessageKind.TEXT, "好的，谢谢大家😄"),
    }
    for m in result.messages:  # no raw XML or local paths leak into text
        if m.kind is not MessageKind.TEXT:
            assert "<" not in m.text and "FileStorage" not in m.text, m


def test_identity_names_and_times(tmp_path):
    result = read_memotrace_csv(export(tmp_path / "g.csv"), group_name="杭州二手房交流群")
    by_id = {m.id: m for m in result.messages}

    first = by_id[f"{ROOM}:101"]
    assert (first.source, first.group_id, first.sender_id, first.sender_name) == (
        "memotrace",
        ROOM,
        "wxid_zhang3",
        "张三",
    )
    assert first.sent_at == datetime(2026, 11, 25, 1, 1, tzinfo=timezone.utc)
    assert first.sent_at.tzinfo is timezone.utc
    assert first.group_topic == "杭州二手房交流群"
    assert (first.mentions, first.mentions_bot, first.reply_to) == ((), False, None)

    assert by_id[f"{ROOM}:102"].sender_name == "李四-中介"  # Remark wins over NickName
    assert by_id[f"{ROOM}:103"].sender_name == "李四"
    mine = by_id[f"{ROOM}:109"]
    assert (mine.sender_id, mine.sender_name) == ("self", "self")
    system = by_id[f"{ROOM}:108"]
    assert (system.sender_id, system.sender_name) == (SYSTEM_SENDER_ID, "系统消息")

    custom = read_memotrace_csv(export(tmp_path / "g.csv"), self_id="wxid_me").messages
    assert [m.sender_id for m in custom if m.id.endswith(":109")] == ["wxid_me"]


def test_reimport_is_idempotent(tmp_path):
    path = export(tmp_path / "g.csv")
    first = read_memotrace_csv(path).messages
    second = read_memotrace_csv(path).messages
    assert [m.id for m in first] == [f"{ROOM}:{r[0]}" for r in ROWS]
    assert first == second
    # a later, longer export of the same chat keeps the ids of the rows both contain
    longer = export(tmp_path / "later.csv", ROWS + [(114, 1, 0, 0, 30, "周末见", "", "张三", "wxid_zhang3")])
    assert [m.id for m in read_memotrace_csv(longer).messages][: len(first)] == [m.id for m in first]


def test_column_order_extra_columns_and_header_spelling(tmp_path):
    header = [
        "Sender",
        "NickName",
        "StrContent",
        "CreateTime",
        "Type",
        "SubType",
        " localid ",
        "IsSender",
        "TALKERID",
        "MsgSvrID",
        "Remark",
    ]
    path = export(tmp_path / "reordered.csv", ROWS[:1], header=header)
    [m] = read_memotrace_csv(path).messages
    assert (m.id, m.sender_id, m.sender_name, m.text) == (f"{ROOM}:101", "wxid_zhang3", "张三", ROWS[0][5])


def test_group_id_argument_replaces_or_supplies_talker(tmp_path):
    without = [c for c in HEADER if c != "TalkerId"]
    path = export(tmp_path / "no_talker.csv", ROWS[:2], header=without)
    with pytest.raises(ImportFormatError, match=r"lacks column\(s\) TalkerId \(or pass group_id=...\)"):
        read_memotrace_csv(path)
    messages = read_memotrace_csv(path, group_id="99999@chatroom").messages
    assert [(m.id, m.group_id) for m in messages] == [
        ("99999@chatroom:101", "99999@chatroom"),
        ("99999@chatroom:102", "99999@chatroom"),
    ]

    # when given, group_id is used even where the file has a TalkerId (e.g. MemoTrace's numeric one)
    with_talker = export(tmp_path / "g.csv", ROWS[:1])
    [m] = read_memotrace_csv(with_talker, group_id="99999@chatroom").messages
    assert m.id == "99999@chatroom:101"


def test_link_and_quote_fallbacks(tmp_path):
    rows = [
        # broken XML (raw & in the title): tags still found, no XML leaks
        (
            201,
            49,
            5,
            0,
            1,
            "<msg><appmsg><title>二手房 & 租房 攻略</title><url>https://example.cn/a?b=1&amp;c=2</url></appmsg>",
            "",
            "王五",
            "wxid_wang5",
        ),
        # plain text link (older exports): kept as is
        (202, 49, 5, 0, 2, "滨江房价走势 https://example.cn/trend", "", "王五", "wxid_wang5"),
        # XML without title/url, and an empty StrContent: placeholders
        (203, 49, 5, 0, 3, "<msg><appmsg><type>5</type></appmsg></msg>", "", "王五", "wxid_wang5"),
        (204, 49, 57, 0, 4, "", "", "李四", "wxid_li4"),
        # quote whose reply text was stored plainly; speaker prefix before XML; CDATA title
        (205, 49, 57, 0, 5, "那套已经卖掉了", "", "李四", "wxid_li4"),
        (
            206,
            49,
            5,
            0,
            6,
            "wxid_wang5:\n<msg><appmsg><title><![CDATA[学区房 <必看>]]></title></appmsg></msg>",
            "",
            "王五",
            "wxid_wang5",
        ),
        (
            207,
            49,
            6,
            0,
            7,
            r"C:\Users\me\Documents\WeChat Files\wxid_me\FileStorage\File\2026-11\合同模板.docx",
            "",
            "张三",
            "wxid_zhang3",
        ),
        (
            208,
            10000,
            0,
            0,
            8,
            '<sysmsg type="revokemsg"><revokemsg><content>"李四" 撤回了一条消息</content></revokemsg></sysmsg>',
            "",
            "",
            "",
        ),
        (
            209,
            10002,
            0,
            0,
            9,
            '<sysmsg type="pat"><pat><fromusername>wxid_li4</fromusername></pat></sysmsg>',
            "",
            "李四",
            "wxid_li4",
        ),
        (210, 9999, 0, 0, 10, "未知类型的纯文本", "", "李四", "wxid_li4"),
    ]
    result = read_memotrace_csv(export(tmp_path / "g.csv", rows))
    assert result.errors == []
    assert [(m.kind.value, m.text) for m in result.messages] == [
        ("link", "二手房 & 租房 攻略 https://example.cn/a?b=1&c=2"),
        ("link", "滨江房价走势 https://example.cn/trend"),
        ("link", "[链接]"),
        ("quote", "[引用消息]"),
        ("quote", "那套已经卖掉了"),
        ("link", "学区房 <必看>"),
        ("file", "[文件] 合同模板.docx"),
        ("system", '"李四" 撤回了一条消息'),
        ("other", "[其他消息]"),
        ("other", "未知类型的纯文本"),
    ]


def test_multiline_quoted_fields_keep_physical_line_numbers(tmp_path):
    t = int(BASE.timestamp())
    text = "\n".join(
        [
            header_line(),  # line 1
            f'301,{ROOM},1,0,0,{t},2,"第一行\n第二行\n第三行",2026-11-25 09:00:00,,张三,wxid_zhang3',  # lines 2-4
            f"302,{ROOM},1,0,0,not-a-time,2,坏时间,2026-11-25 09:00:00,,张三,wxid_zhang3",  # line 5
            f'303,{ROOM},1,0,0,{t},2,"引用里有""双引号""\n和换行",2026-11-25 09:00:00,,李四,wxid_li4',  # lines 6-7
            f'304,{ROOM},abc,0,0,{t},2,"坏类型\n跨两行",2026-11-25 09:00:00,,李四,wxid_li4',  # lines 8-9
            f"305,{ROOM},1,0,0,{t},2,最后一条,2026-11-25 09:00:00,,王五,wxid_wang5",  # line 10
            "",
        ]
    )
    result = read_memotrace_csv(raw(tmp_path, text))
    assert [(m.id.split(":")[1], m.text) for m in result.messages] == [
        ("301", "第一行\n第二行\n第三行"),  # CRLF inside a field becomes \n, as WeChat stores it
        ("303", '引用里有"双引号"\n和换行'),
        ("305", "最后一条"),
    ]
    assert [(e.line, e.message) for e in result.errors] == [
        (5, "CreateTime: not an integer: 'not-a-time'"),
        (8, "Type: not an integer: 'abc'"),
    ]


def test_malformed_rows_are_counted_with_line_numbers_and_the_rest_imported(tmp_path):
    t = int(BASE.timestamp())
    good = lambda i, who="wxid_zhang3": f"{i},{ROOM},1,0,0,{t},2,第{i}条,2026-11-25 09:00:00,,张三,{who}"  # noqa: E731
    lines = [
        header_line(),  # 1
        good(1),  # 2
        f"2,{ROOM},1,0,0,{t},2,没有发送者,2026-11-25 09:00:00,,张三,",  # 3 empty Sender, IsSender=0
        f",{ROOM},1,0,0,{t},2,没有localId,2026-11-25 09:00:00,,张三,wxid_zhang3",  # 4
        f"4,{ROOM},1,0,0,{t}",  # 5 truncated row
        f"5,{ROOM},1,0,0,{t},2,逗号,没加引号,2026-11-25 09:00:00,,张三,wxid_zhang3",  # 6 one field too many
        f"6,{ROOM},1,0,0,{t},2,,2026-11-25 09:00:00,,张三,wxid_zhang3",  # 7 empty text
        f"7,{ROOM},1,abc,0,{t},2,坏子类型,2026-11-25 09:00:00,,张三,wxid_zhang3",  # 8
        f"8,{ROOM},1,0,2,{t},2,坏IsSender,2026-11-25 09:00:00,,张三,wxid_zhang3",  # 9
        f"9,{ROOM},1,0,0,0,2,零时间,1970-01-01 08:00:00,,张三,wxid_zhang3",  # 10
        f"10,{ROOM},1,0,0,99999999999999999,2,太远,,,张三,wxid_zhang3",  # 11
        f"11,,1,0,0,{t},2,没有群,2026-11-25 09:00:00,,张三,wxid_zhang3",  # 12
        good(1),  # 13 duplicate localId
        "",  # 14 blank: silent
        good(12, "wxid_li4"),  # 15
        f"13,{ROOM},1,0,0,{t},2,尾部空列,2026-11-25 09:00:00,,张三,wxid_zhang3,,",  # 16 trailing empty cells are fine
        "",
    ]
    result = read_memotrace_csv(raw(tmp_path, "\n".join(lines)))
    assert [m.id.split(":")[1] for m in result.messages] == ["1", "12", "13"]
    assert [(e.line, e.message) for e in result.errors] == [
        (3, "Sender: empty for a message not sent by the exporting account (IsSender=0)"),
        (4, "localId: empty"),
        (5, "row: 6 fields but the header has 12; no value for StrContent, Sender"),
        (6, "row: 13 fields but the header has 12 (unquoted comma?)"),
        (7, "StrContent: empty for a text message (Type 1)"),
        (8, "SubType: not an integer: 'abc'"),
        (9, "IsSender: must be 0 or 1, got '2'"),
        (10, "CreateTime: not a unix time: '0'"),
        (11, "CreateTime: unix seconds out of range: '99999999999999999'"),
        (12, "TalkerId: empty (pass group_id=... to import this file)"),
        (13, f"localId: duplicate id '{ROOM}:1' (first on line 2)"),
    ]
    assert all(str(e).startswith(f"{e.path}:{e.line}: ") for e in result.errors)


def test_invalid_utf8_and_broken_csv_are_row_errors(tmp_path):
    t = int(BASE.timestamp())
    p = tmp_path / "mixed.csv"
    lines = [
        ("\ufeff" + header_line()).encode("utf-8"),  # 1
        f"1,{ROOM},1,0,0,{t},2,正常,,,张三,wxid_zhang3".encode(),  # 2
        f"2,{ROOM},1,0,0,{t},2,GBK编码的一行,,,张三,wxid_zhang3".encode("gbk"),  # 3
        f"3,{ROOM},1,0,0,{t},2,裸回车\r在字段里,,,张三,wxid_zhang3".encode(),  # 4
        f"4,{ROOM},1,0,0,{t},2,之后照常,,,张三,wxid_zhang3".encode(),  # 5
        f'5,{ROOM},1,0,0,{t},2,"引号没有关上,,,张三,wxid_zhang3'.encode(),  # 6: swallows the rest
        f"6,{ROOM},1,0,0,{t},2,被吞掉的一行,,,张三,wxid_zhang3".encode(),  # 7
    ]
    p.write_bytes(b"\r\n".join(lines) + b"\r\n")
    result = read_memotrace_csv(p)
    assert [m.text for m in result.messages] == ["正常", "之后照常"]
    assert [(e.line, e.message) for e in result.errors] == [
        (3, "row: not valid UTF-8 (line 3)"),
        (4, "row: not valid CSV (new-line character seen in unquoted field)"),
        (6, "row: 8 fields but the header has 12; no value for Sender"),
    ]


def test_missing_header_columns_is_a_clear_error(tmp_path):
    path = raw(tmp_path, "localId,TalkerId,Type,IsSender,StrContent,NickName\n1,x@chatroom,1,0,你好,张三\n")
    with pytest.raises(ImportFormatError) as info:
        read_memotrace_csv(path)
    message = str(info.value)
    assert str(path) in message
    assert "lacks column(s) SubType, CreateTime, Sender" in message


def test_a_non_csv_or_empty_file_is_a_clear_error(tmp_path):
    jsonl = tmp_path / "chat.jsonl"
    jsonl.write_text('{"id": "m1", "group_id": "g"}\n', "utf-8")
    with pytest.raises(ImportFormatError, match="not a MemoTrace CSV export"):
        read_memotrace_csv(jsonl)
    empty = raw(tmp_path, "\n\n", "empty.csv")
    with pytest.raises(ImportFormatError, match="empty file"):
        read_memotrace_csv(empty)


def test_iter_form_streams_and_checks_arguments_early(tmp_path):
    items = iter_memotrace_csv(export(tmp_path / "g.csv"))
    assert next(items).id == f"{ROOM}:101"
    assert sum(1 for _ in items) == len(ROWS) - 1
    with pytest.raises(ValueError, match="self_id"):
        iter_memotrace_csv(tmp_path / "g.csv", self_id="")
    with pytest.raises(ValueError, match="group_id"):
        iter_memotrace_csv(tmp_path / "g.csv", group_id="  ")


def test_a_field_over_the_csv_size_limit_is_a_row_error(tmp_path):
    huge = (
        "<msg><appmsg><title>群聊的聊天记录</title><recorditem>"
        + "很长的转发记录" * 20000
        + "</recorditem></appmsg></msg>"
    )
    rows = [ROWS[0], (150, 49, 19, 0, 2, huge, "", "王五", "wxid_wang5"), ROWS[-1]]
    result = read_memotrace_csv(export(tmp_path / "g.csv", rows))
    assert [m.id for m in result.messages] == [f"{ROOM}:101", f"{ROOM}:113"]
    [error] = result.errors
    assert error.line == 3
    assert error.message.startswith("row: not valid CSV (field larger than field limit")
