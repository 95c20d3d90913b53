from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from nlp.timeparse import find_times, fold, parse_number

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")
NOW = datetime(2026, 11, 25, 21, 0, tzinfo=SHANGHAI)  # a Wednesday evening


def only(text, now=NOW, tz=SHANGHAI):
    found = find_times(text, now, tz)
    assert len(found) == 1, found
    m = found[0]
    assert text[m.start : m.end] == m.text
    assert m.when.tzinfo is tz
    return m


def resolved(text, now=NOW, tz=SHANGHAI):
    m = only(text, now, tz)
    return m.text, m.when.isoformat(timespec="minutes"), m.precision


# --- absolute dates ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, span, iso, precision",
    [
        ("2026年12月3日开会", "2026年12月3日", "2026-12-03T00:00+08:00", "day"),
        ("2027年1月5号", "2027年1月5号", "2027-01-05T00:00+08:00", "day"),
        ("二〇二六年十二月三日", "二〇二六年十二月三日", "2026-12-03T00:00+08:00", "day"),
        ("２０２６年１２月３日", "２０２６年１２月３日", "2026-12-03T00:00+08:00", "day"),
        ("12月3日", "12月3日", "2026-12-03T00:00+08:00", "day"),
        ("十二月三号", "十二月三号", "2026-12-03T00:00+08:00", "day"),
        ("12/3见", "12/3", "2026-12-03T00:00+08:00", "day"),
        ("2026-12-03", "2026-12-03", "2026-12-03T00:00+08:00", "day"),
        ("2026/12/03", "2026/12/03", "2026-12-03T00:00+08:00", "day"),
        ("2026.12.3", "2026.12.3", "2026-12-03T00:00+08:00", "day"),
        ("2026-12-03 19:30", "2026-12-03 19:30", "2026-12-03T19:30+08:00", "minute"),
        ("12月3日 19:30", "12月3日 19:30", "2026-12-03T19:30+08:00", "minute"),
        ("12月3日(周四)晚上8点", "12月3日(周四)晚上8点", "2026-12-03T20:00+08:00", "minute"),
        ("12月3日（周四）", "12月3日（周四）", "2026-12-03T00:00+08:00", "day"),
        ("明年3月8日", "明年3月8日", "2027-03-08T00:00+08:00", "day"),
        ("去年12月", "去年12月", "2025-12-01T00:00+08:00", "month"),
    ],
)
def test_absolute_dates(text, span, iso, precision):
    assert resolved(text) == (span, iso, precision)


@pytest.mark.parametrize(
    "text, span, iso",
    [
        ("时间：本周六（11月28日）晚8点", "本周六（11月28日）晚8点", "2026-11-28T20:00+08:00"),
        ("周六（11/28）晚8点", "周六（11/28）晚8点", "2026-11-28T20:00+08:00"),
        ("12月3日 周四 晚8点", "12月3日 周四 晚8点", "2026-12-03T20:00+08:00"),
        ("12月3日周四", "12月3日周四", "2026-12-03T00:00+08:00"),
        ("周五(12月4日)", "周五(12月4日)", "2026-12-04T00:00+08:00"),
        ("12月3日(周五)", "12月3日(周五)", "2026-12-03T00:00+08:00"),  # the date wins a disagreement
    ],
)
def test_a_second_name_for_the_same_day_is_part_of_the_match(text, span, iso):
    assert resolved(text)[:2] == (span, iso)


@pytest.mark.parametrize(
    "text, span, iso",
    [
        ("周六晚8点", "周六晚8点", "2026-11-28T20:00+08:00"),
        ("明天早9点", "明天早9点", "2026-11-26T09:00+08:00"),
        ("今天晚些时候", "今天", "2026-11-25T00:00+08:00"),  # 晚 alone is not a part of the day
    ],
)
def test_a_one_character_part_of_the_day_needs_a_clock(text, span, iso):
    assert resolved(text)[:2] == (span, iso)


@pytest.mark.parametrize(
    "text, iso",
    [
        ("11月20日", "2026-11-20"),  # five days ago beats next year
        ("1月5日", "2027-01-05"),  # six weeks ahead beats ten months ago
        ("3/15", "2027-03-15"),
        ("3号", "2026-12-03"),  # next month's 3rd is nearer than this month's
        ("20号", "2026-11-20"),
        ("30号", "2026-11-30"),
        ("3月", "2027-03-01"),
    ],
)
def test_a_date_without_year_or_month_is_its_nearest_occurrence(text, iso):
    assert only(text).when.date().isoformat() == iso


def test_a_month_alone_spans_the_month():
    m = only("12月")
    assert (m.precision, m.when.date().isoformat(), m.until.date().isoformat()) == ("month", "2026-12-01", "2027-01-01")


@pytest.mark.parametrize(
    "text, span, iso",
    [
        ("3号下午两点", "3号下午两点", "2026-12-03T14:00+08:00"),
        ("周三晚上8点", "周三晚上8点", "2026-12-02T20:00+08:00"),  # today's 20:00 has passed
        ("周四晚上8点", "周四晚上8点", "2026-11-26T20:00+08:00"),
        ("周三晚上10点", "周三晚上10点", "2026-11-25T22:00+08:00"),  # still ahead today
        ("星期五下午3点半", "星期五下午3点半", "2026-11-27T15:30+08:00"),
    ],
)
def test_day_and_clock(text, span, iso):
    assert resolved(text)[:2] == (span, iso)


# --- relative days, weeks and months -----------------------------------------------------------


@pytest.mark.parametrize(
    "text, iso, precision",
    [
        ("今天", "2026-11-25T00:00+08:00", "day"),
        ("明天", "2026-11-26T00:00+08:00", "day"),
        ("后天", "2026-11-27T00:00+08:00", "day"),
        ("大后天", "2026-11-28T00:00+08:00", "day"),
        ("昨天", "2026-11-24T00:00+08:00", "day"),
        ("前天", "2026-11-23T00:00+08:00", "day"),
        ("今晚", "2026-11-25T20:00+08:00", "day"),
        ("明晚", "2026-11-26T20:00+08:00", "day"),
        ("明早", "2026-11-26T08:00+08:00", "day"),
        ("明天下午", "2026-11-26T15:00+08:00", "day"),
        ("明晚8点", "2026-11-26T20:00+08:00", "minute"),
        ("明天8点", "2026-11-26T08:00+08:00", "minute"),
        ("明天3点", "2026-11-26T15:00+08:00", "minute"),
        ("后天上午10点", "2026-11-27T10:00+08:00", "minute"),
        ("今晚12点", "2026-11-26T00:00+08:00", "minute"),
        ("明天凌晨3点", "2026-11-26T03:00+08:00", "minute"),
    ],
)
def test_relative_days(text, iso, precision):
    assert resolved(text) == (text, iso, precision)


@pytest.mark.parametrize(
    "text, day",
    [
        ("周三", "2026-11-25"),  # today is Wednesday and the day is not over
        ("周四", "2026-11-26"),
        ("周二", "2026-12-01"),  # the coming Tuesday
        ("星期天", "2026-11-29"),
        ("礼拜一", "2026-11-30"),
        ("本周五", "2026-11-27"),
        ("这周一", "2026-11-23"),  # this calendar week, even if past
        ("这个星期天", "2026-11-29"),
        ("下周三", "2026-12-02"),
        ("下个星期三", "2026-12-02"),
        ("下周日", "2026-12-06"),
        ("下下周一", "2026-12-07"),
        ("上周五", "2026-11-20"),
        ("周末", "2026-11-28"),
        ("下周末", "2026-12-05"),
        ("下个月5号", "2026-12-05"),
        ("下月5日", "2026-12-05"),
        ("三天后", "2026-11-28"),
        ("3天以后", "2026-11-28"),
        ("两周后", "2026-12-09"),
        ("一个月后", "2026-12-25"),
        ("两天前", "2026-11-23"),
    ],
)
def test_weekdays_and_day_offsets(text, day):
    m = only(text)
    assert (m.text, m.when.date().isoformat(), m.precision) == (text, day, "day")


@pytest.mark.parametrize(
    "text, start, until, precision",
    [
        ("本周", "2026-11-23", "2026-11-30", "week"),
        ("这周", "2026-11-23", "2026-11-30", "week"),
        ("下周", "2026-11-30", "2026-12-07", "week"),
        ("下下周", "2026-12-07", "2026-12-14", "week"),
        ("下下个星期", "2026-12-07", "2026-12-14", "week"),
        ("上周", "2026-11-16", "2026-11-23", "week"),
        ("本月", "2026-11-01", "2026-12-01", "month"),
        ("下个月", "2026-12-01", "2027-01-01", "month"),
        ("下下个月", "2027-01-01", "2027-02-01", "month"),
        ("上个月", "2026-10-01", "2026-11-01", "month"),
    ],
)
def test_weeks_and_months_are_ranges(text, start, until, precision):
    m = only(text)
    assert m.text == text
    assert (m.when.isoformat(), m.until.isoformat()) == (f"{start}T00:00:00+08:00", f"{until}T00:00:00+08:00")
    assert m.precision == precision


def test_the_week_after_next_is_monday_to_monday():
    m = only("下下周我们再聊")
    assert m.when.weekday() == 0 and (m.until - m.when).days == 7


@pytest.mark.parametrize(
    "text, iso",
    [
        ("半小时后", "2026-11-25T21:30+08:00"),
        ("半个小时后", "2026-11-25T21:30+08:00"),
        ("一个半小时后", "2026-11-25T22:30+08:00"),
        ("1.5小时后", "2026-11-25T22:30+08:00"),
        ("10分钟后", "2026-11-25T21:10+08:00"),
        ("两个小时之后", "2026-11-25T23:00+08:00"),
        ("3小时后", "2026-11-26T00:00+08:00"),
        ("2小时前", "2026-11-25T19:00+08:00"),
    ],
)
def test_minute_offsets_count_from_now(text, iso):
    assert resolved(text) == (text, iso, "minute")


def test_minute_offsets_drop_seconds():
    now = datetime(2026, 11, 25, 21, 0, 42, 5, tzinfo=SHANGHAI)
    assert only("半小时后", now).when == datetime(2026, 11, 25, 21, 30, tzinfo=SHANGHAI)


# --- clocks ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, span, hhmm",
    [
        ("十一点半", "十一点半", "23:30"),  # 11:30 has passed, 23:30 has not
        ("晚上七点一刻", "晚上七点一刻", "19:15"),
        ("七点三刻", "七点三刻", "07:45"),
        ("8:30", "8:30", "08:30"),  # both readings passed: as written, still today
        ("８：３０", "８：３０", "08:30"),
        ("20点", "20点", "20:00"),
        ("20时", "20时", "20:00"),
        ("20点30分", "20点30分", "20:30"),
        ("8点30", "8点30", "08:30"),
        ("八点零五分", "八点零五分", "08:05"),
        ("八点十分", "八点十分", "08:10"),
        ("中午12点", "中午12点", "12:00"),
        ("中午1点", "中午1点", "13:00"),
        ("凌晨3点", "凌晨3点", "03:00"),
        ("早上九点", "早上九点", "09:00"),
        ("上午10点", "上午10点", "10:00"),
        ("下午两点", "下午两点", "14:00"),
        ("傍晚6点", "傍晚6点", "18:00"),
        ("晚上8点", "晚上8点", "20:00"),
        ("夜里11点", "夜里11点", "23:00"),
        ("8点钟", "8点钟", "08:00"),
        ("三点前交", "三点", "15:00"),
        ("10点左右", "10点", "22:00"),
        ("１０点半", "１０点半", "22:30"),
        ("19:30:00", "19:30:00", "19:30"),
        ("05:30", "05:30", "05:30"),  # zero-padded: a 24-hour clock
        ("10点10分", "10点10分", "22:10"),
        ("六点半", "六点半", "06:30"),
    ],
)
def test_clocks(text, span, hhmm):
    m = only(text)
    assert (m.text, m.when.strftime("%H:%M"), m.precision) == (span, hhmm, "minute")


@pytest.mark.parametrize(
    "text, iso",
    [
        ("凌晨3点", "2026-11-26T03:00+08:00"),  # said in the evening: the coming night
        ("半夜2点", "2026-11-26T02:00+08:00"),
        ("晚上12点", "2026-11-26T00:00+08:00"),
        ("24点", "2026-11-26T00:00+08:00"),
        ("8点钟", "2026-11-25T08:00+08:00"),  # a clock without a date stays on the message's day
    ],
)
def test_clocks_around_midnight(text, iso):
    assert resolved(text)[1] == iso


def test_an_hour_said_in_the_morning_keeps_its_reading():
    morning = datetime(2026, 11, 25, 7, 0, tzinfo=SHANGHAI)
    assert only("8点半", morning).when.isoformat() == "2026-11-25T08:30:00+08:00"
    assert only("凌晨3点", morning).when.isoformat() == "2026-11-25T03:00:00+08:00"


def test_an_hour_between_six_and_eleven_becomes_evening_once_the_morning_has_passed():
    noon = datetime(2026, 11, 25, 12, 0, tzinfo=SHANGHAI)
    m = only("8点半", noon)
    assert m.when.strftime("%H:%M") == "20:30" and m.score < 1


def test_guessed_readings_score_lower():
    assert only("3点半").score < 1
    assert only("下午3点半").score == 1.0
    assert only("20点").score == 1.0
    assert only("3号").score < 1
    assert only("3号下午两点").score == 1.0


@pytest.mark.parametrize(
    "text, start, until",
    [
        ("下午3点到5点", "2026-11-25T15:00", "2026-11-25T17:00"),
        ("明天上午9点到11点", "2026-11-26T09:00", "2026-11-26T11:00"),
        ("下周三下午3点-5点开会", "2026-12-02T15:00", "2026-12-02T17:00"),
        ("晚上10点到凌晨2点", "2026-11-25T22:00", "2026-11-26T02:00"),
        ("8:00~10:00", "2026-11-25T08:00", "2026-11-25T10:00"),
    ],
)
def test_clock_ranges_carry_their_end(text, start, until):
    m = only(text)
    assert text.startswith(m.text) and m.text[-1] in "点0"
    assert m.when.isoformat(timespec="minutes") == start + "+08:00"
    assert m.until.isoformat(timespec="minutes") == until + "+08:00"


# --- several in one message, offsets into the original -----------------------------------------


def test_several_expressions_keep_original_offsets():
    text = "各位：\u200b明晚８点开会，下下周一交报告，截止12月3日 18:00。"
    found = find_times(text, NOW, SHANGHAI)
    assert [m.text for m in found] == ["明晚８点", "下下周一", "12月3日 18:00"]
    for m in found:
        assert text[m.start : m.end] == m.text
    assert [m.when.isoformat() for m in found] == [
        "2026-11-26T20:00:00+08:00",
        "2026-12-07T00:00:00+08:00",
        "2026-12-03T18:00:00+08:00",
    ]


# --- not times ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "3点建议",
        "我有三点建议",
        "第3点",
        "有一点累",
        "一周",
        "用了两天",
        "3小时",
        "一个月",
        "两周三次",
        "一周一次",
        "2026年",
        "2026年的目标",
        "v3.5",
        "版本3.5.1",
        "13800138000",
        "电话 138 0013 8000",
        "299元",
        "1/2的人",
        "3号楼",
        "1号线",
        "7日内发货",
        "早上好",
        "晚上好",
        "以后天气会变冷",
        "这周边有什么好吃的",
        "三个月",
        "5天",
        "http://x.cn/a?id=20",
    ],
)
def test_not_a_time(text):
    assert find_times(text, NOW, SHANGHAI) == []


# --- time zones --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, iso",
    [
        ("今天", "2026-11-25T00:00:00+00:00"),
        ("明晚8点", "2026-11-26T20:00:00+00:00"),
        ("下周三", "2026-12-02T00:00:00+00:00"),
        ("半小时后", "2026-11-25T13:30:00+00:00"),
        ("3点半", "2026-11-25T15:30:00+00:00"),  # 13:00 local: the afternoon reading
        ("十一点半", "2026-11-25T23:30:00+00:00"),  # 11:30 has passed, 23:30 has not
        ("8点钟", "2026-11-25T20:00:00+00:00"),
    ],
)
def test_a_utc_group_resolves_in_utc(text, iso):
    # The same instant as NOW, read by a group that keeps UTC: it is Wednesday 13:00 there.
    assert only(text, NOW.astimezone(timezone.utc), UTC).when.isoformat() == iso


def test_the_day_depends_on_the_group_timezone():
    now = datetime(2026, 11, 25, 17, 0, tzinfo=timezone.utc)  # Thursday 01:00 in Shanghai
    assert only("今天", now, SHANGHAI).when.date().isoformat() == "2026-11-26"
    assert only("今天", now, UTC).when.date().isoformat() == "2026-11-25"
    assert only("周四", now, SHANGHAI).when.date().isoformat() == "2026-11-26"
    assert only("周四", now, UTC).when.date().isoformat() == "2026-11-26"


def test_naive_now_is_refused():
    with pytest.raises(ValueError):
        find_times("明天", datetime(2026, 11, 25, 21, 0), SHANGHAI)


# --- helpers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, value",
    [
        ("11", 11),
        ("十一", 11),
        ("二十三", 23),
        ("两千", 2000),
        ("一百零五", 105),
        ("三千五", 3500),
        ("一万二", 12000),
        ("一万五千", 15000),
        ("二〇二六", 2026),
        ("3.5万", 35000),
        ("1,299", 1299),
        ("壹仟贰佰", 1200),
    ],
)
def test_parse_number(text, value):
    assert parse_number(text) == Decimal(value)


@pytest.mark.parametrize("text", ["", "abc", "二二十", "百"])
def test_parse_number_refuses_what_is_not_a_number(text):
    assert parse_number(text) is None


def test_fold_keeps_length_and_folds_full_width():
    text = "明晚８：３０\u200b见，ｗｘ"
    folded = fold(text)
    assert len(folded) == len(text)
    assert folded == "明晚8:30 见，wx"


def _atoms_reference(folded: str) -> list[tuple[str, int, int]]:
    """The scan the fast one replaces: at every position try every pattern, the longest wins."""
    from nlp.timeparse import _ATOMS

    out, pos = [], 0
    while pos < len(folded):
        best = None
        for kind, rx in _ATOMS:
            m = rx.match(folded, pos)
            if m and m.end() > pos and (best is None or m.end() > best[2]):
                best = (kind, pos, m.end())
        if best is None:
            pos += 1
            continue
        out.append(best)
        pos = best[2]
    return out


@pytest.mark.parametrize(
    "text",
    [
        "明晚8点在3号楼开会，下下周三下午3点半截止，2026-11-26 10:00 或 12/25 前交",
        "十一点半到十二点一刻，3个半小时后，今明两天，周末，下个月5号，上上个月",
        "１２月３日 ７：３０集合；以后天气好了再说；这周边有吃的吗",
        "1号线换乘，月薪2万，5月份，2026年1月，2026.1.5，v1.2.3 版本",
        "没有任何时间的一句话",
        "",
    ],
)
def test_atom_scan_finds_what_trying_every_position_finds(text: str) -> None:
    from nlp.timeparse import _atoms

    folded = fold(text)
    assert [(a.kind, a.start, a.end) for a in _atoms(folded)] == _atoms_reference(folded)
