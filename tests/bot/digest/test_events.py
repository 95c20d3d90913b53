"""Events and deadlines: resolved times (nlp.patterns), titles, merging, order."""

from datetime import date

import pytest

from bot.digest.events import day_label, find_events, parse_when
from bot.digest.lines import Liner
from nlp.patterns import extract_patterns
from nlp.verdict import Entity
from tests.bot.digest.helpers import DAY, TZ, msg


def with_times(sender, hhmm, text, **kw):
    """A message with the TIME entities the pipeline would have stored."""
    bare = msg(sender, hhmm, text, **kw)
    times = tuple(e for e in extract_patterns(text, bare.message.sent_at, TZ) if e.type == "TIME")
    kw.setdefault("mid", bare.message.id)
    return msg(sender, hhmm, text, entities=times or (Entity("NONE", 0, 0, ""),), **kw)


def events(messages, extract=None):
    found, ids = find_events(messages, day=DAY, tz=TZ, liner=Liner(TZ), extract_times=extract)
    return [(e.kind, e.day_label, e.clock, e.title, e.count) for e in found], ids


def test_events_and_deadlines_with_resolved_times_sorted_by_time():
    ms = [
        with_times(
            "y",
            "11:52",
            "【周六线上分享会】\n主题：从 0 到 1 搭建企业级 RAG —— 切分、召回\n时间：本周六（11月28日）晚8点\n报名截止周五中午12点",
            mid="big",
        ),
        with_times("l", "21:35", "明晚8点线上分享：RAG 实战", mid="share"),
        with_times("y", "17:50", "【作业提醒】训练营的同学，周五前交作业（demo + 一页说明）", mid="hw"),
        with_times("m", "21:55", "下周三徐汇那个线下 meetup 有人去吗", mid="meetup"),
    ]
    got, ids = events(ms)
    assert got == [
        ("event", "明天", "20:00", "线上分享：RAG 实战", 1),
        ("deadline", "后天", "", "交作业（demo + 一页说明）", 1),
        ("deadline", "后天", "12:00", "报名截止（周六线上分享会）", 1),
        ("event", "周六 11/28", "20:00", "周六线上分享会：从 0 到 1 搭建企业级 RAG", 1),
        ("event", "下周三 12/2", "", "徐汇那个线下 meetup", 1),
    ]
    assert ids == {"big", "share", "hw", "meetup"}


def test_past_times_and_times_without_an_event_are_talk():
    ms = [
        with_times("a", "08:58", "早，昨晚加班到两点 人已经没了"),
        with_times("b", "18:21", "今天吃点好的"),
        with_times("c", "22:05", "睡了 明天还要早起"),
        with_times("d", "09:00", "昨天的分享会录屏在群文件"),  # an event, but past
    ]
    assert events(ms)[0] == []


def test_a_reminder_merges_with_the_announcement_but_two_events_at_one_hour_stay_two():
    ms = [
        with_times("y", "11:52", "【周六线上分享会】\n主题：企业级 RAG\n时间：本周六晚8点"),
        with_times("y", "19:48", "再提醒一下：周六（11/28）晚8点的 RAG 分享会，大家别忘了"),
        with_times("l", "16:48", "明晚8点我们组有个线上读书会，读 DeepSeek-V3 技术报告"),
        with_times("k", "21:35", "听说明晚8点有个国产模型发布会"),
    ]
    got, _ = events(sorted(ms, key=lambda m: m.message.sent_at))
    assert got == [
        ("event", "明天", "20:00", "线上读书会", 1),
        ("event", "明天", "20:00", "国产模型发布会", 1),
        ("event", "周六 11/28", "20:00", "周六线上分享会：企业级 RAG", 2),
    ]


def test_messages_stored_without_entities_are_scanned_with_the_extractor():
    bare = msg("l", "21:35", "明晚8点线上分享：RAG 实战")
    assert events([bare])[0] == []
    assert events([bare], extract=extract_patterns)[0] == [("event", "明天", "20:00", "线上分享：RAG 实战", 1)]


def test_titles_are_masked():
    ms = [with_times("y", "17:50", "明天下午3点线上分享，报名加微信 wx_secret99")]
    (e,), _ = find_events(ms, day=DAY, tz=TZ, liner=Liner(TZ))
    assert "wx_secret99" not in e.title


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2026-11-26T20:00:00+08:00", ("2026-11-26 20:00", False)),
        ("2026-11-26T00:00:00+08:00", ("2026-11-26 00:00", True)),
        ("2026-11-26", ("2026-11-26 00:00", True)),
        ("2026-11-26T12:00:00+00:00", ("2026-11-26 20:00", False)),  # to the group's timezone
        ("明天", None),
    ],
)
def test_parse_when(value, expected):
    got = parse_when(value, TZ)
    assert (None if got is None else (got[0].strftime("%Y-%m-%d %H:%M"), got[1])) == expected


def test_day_labels():
    assert [day_label(date(2026, 11, d), DAY) for d in (25, 26, 27, 29)] == ["今天", "明天", "后天", "周日 11/29"]
    assert day_label(date(2026, 12, 2), DAY) == "下周三 12/2" and day_label(date(2026, 12, 25), DAY) == "12/25"
