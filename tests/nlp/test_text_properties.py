"""Properties of the text parsers over text no example list covers (hypothesis): ``nlp.timeparse``
and ``nlp.patterns`` never fail on any text, their spans index into the text they were given, the
times they resolve are aware, and a written date and clock reads back as that moment."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, strategies as st

from nlp.patterns import CONTACT_TYPES, PATTERN_TYPES, contact_entities, extract_patterns
from nlp.timeparse import find_times, fold

ZONES = [ZoneInfo("Asia/Shanghai"), ZoneInfo("America/New_York"), ZoneInfo("Europe/London"), timezone.utc]

# Pieces of the grammar, so that generated text reaches the parsers' interesting paths, not only
# their "nothing here" path; mixed with arbitrary characters (full-width, zero-width, emoji, ...).
PIECES = [
    "明天",
    "后天",
    "今晚",
    "明早",
    "下午",
    "晚上",
    "凌晨",
    "中午",
    "周三",
    "星期天",
    "下周",
    "下下周",
    "本周五",
    "周末",
    "下个月",
    "12月3日",
    "3号",
    "12/3",
    "2026-12-03",
    "2026年",
    "点",
    "点半",
    "一刻",
    "分",
    "时",
    ":",
    "：",
    "到",
    "-",
    "后",
    "前",
    "天",
    "小时",
    "半",
    "个月",
    "（周四）",
    "十一",
    "两",
    "8",
    "08",
    "12",
    "24",
    "30",
    "５",
    "\u200b",
    " ",
    "，",
    "。",
    "开会",
    "见",
    "集合",
    "左右",
    "3点建议",
    "v3.5",
    "1/2",
    "3号楼",
    "¥",
    "元",
    "块",
    "万",
    "月薪",
    "微信",
    "wx",
    "加V",
    "QQ",
    "群号",
    "wxid_",
    "138",
    "0013",
    "8000",
    "+86",
    "010-",
    "@",
    ".com",
    "https://",
    "www.",
    "github.com/a/b",
    "(",
    ")",
    "美元",
]
chat_text = st.one_of(
    st.text(max_size=40),
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=2)), max_size=12).map("".join),
)
moments = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 12, 31), timezones=st.sampled_from(ZONES)
)
group_tz = st.sampled_from(ZONES)


@given(st.text())
def test_fold_keeps_one_character_for_one(text: str) -> None:
    assert len(fold(text)) == len(text)


@given(chat_text, moments, group_tz)
def test_times_lie_in_the_text_in_order_and_are_aware(text: str, now: datetime, tz: ZoneInfo) -> None:
    previous_end = 0
    for m in find_times(text, now, tz):
        assert previous_end <= m.start < m.end <= len(text)
        assert m.text == text[m.start : m.end]
        assert m.when.tzinfo is not None and m.when.utcoffset() is not None
        assert m.precision in ("minute", "day", "week", "month")
        assert m.until is None or m.until > m.when
        assert 0 < m.score <= 1
        previous_end = m.end


@given(
    st.datetimes(min_value=datetime(1995, 1, 1), max_value=datetime(2099, 12, 31)),
    moments,
    st.sampled_from(
        ["{y}年{m}月{d}日 {H:02d}:{M:02d}", "{y}-{m:02d}-{d:02d} {H:02d}:{M:02d}", "{y}年{m}月{d}号{H:02d}:{M:02d}"]
    ),
    st.sampled_from(["", "。", "，不见不散", " 开会"]),
)
def test_a_written_date_and_clock_reads_back_as_that_moment(at: datetime, now: datetime, form: str, tail: str) -> None:
    tz = ZoneInfo("Asia/Shanghai")
    written = form.format(y=at.year, m=at.month, d=at.day, H=at.hour, M=at.minute)
    [m] = find_times(f"会议定在{written}{tail}", now, tz)
    assert m.text == written and m.precision == "minute"
    assert m.when.replace(tzinfo=None) == at.replace(second=0, microsecond=0) and m.when.tzinfo == tz


@given(chat_text, moments, group_tz)
def test_patterns_spans_index_into_the_text_and_never_overlap(text: str, now: datetime, tz: ZoneInfo) -> None:
    found = extract_patterns(text, now, tz)
    previous_end = 0
    for e in found:
        assert e.type in PATTERN_TYPES and e.source == "pattern" and e.value
        assert previous_end <= e.start < e.end <= len(text)
        assert e.text == text[e.start : e.end]
        if e.type == "TIME":
            when = datetime.fromisoformat(e.value)
            assert when.tzinfo is not None
        previous_end = e.end
    contacts = contact_entities(text)
    assert all(e.type in CONTACT_TYPES and e.text == text[e.start : e.end] for e in contacts)
    # the contact finder settles overlaps as extract_patterns does: same contacts, minus none
    assert {(e.type, e.start, e.end) for e in found if e.type in CONTACT_TYPES} <= {
        (e.type, e.start, e.end) for e in contacts
    }


# characters that are neither digits nor Chinese numerals nor id/URL material
_PLAIN = "的了是我你他群里有人在吗好哈问题请看这个说话明白谢谢大家"


@given(
    st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    st.text(alphabet=_PLAIN, max_size=8),
    st.text(alphabet=_PLAIN, max_size=8),
    st.sampled_from(["", " ", "-"]),
)
def test_a_mobile_number_among_words_is_a_phone(number: str, before: str, after: str, sep: str) -> None:
    written = sep.join((number[:3], number[3:7], number[7:])) if sep else number
    text = f"{before}{written}{after}"
    phones = [
        e
        for e in extract_patterns(text, datetime(2026, 11, 25, 12, tzinfo=timezone.utc), timezone.utc)
        if e.type == "PHONE"
    ]
    assert [(e.start, e.end, e.value) for e in phones] == [(len(before), len(before) + len(written), number)]


def test_the_generated_grammar_reaches_real_matches() -> None:
    """The strategies above are only worth their time if they produce times and contacts at all."""
    now = datetime(2026, 11, 25, 21, tzinfo=ZoneInfo("Asia/Shanghai"))
    text = "".join(PIECES)
    assert find_times(text, now, now.tzinfo) and extract_patterns(text, now, now.tzinfo)
