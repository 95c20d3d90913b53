"""Dates and times in Chinese chat, resolved against the message time and the group timezone.

``find_times(text, now, tz)`` returns one ``TimeMatch`` per expression, left to right, with
character offsets into ``text`` (``end`` exclusive) and an aware ``when`` in ``tz``::

    >>> from zoneinfo import ZoneInfo
    >>> now = datetime(2026, 11, 25, 21, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Wednesday
    >>> [(m.text, m.when.isoformat(), m.precision) for m in find_times("明晚8点开会", now, now.tzinfo)]
    [('明晚8点', '2026-11-26T20:00:00+08:00', 'minute')]

Matching runs on ``fold(text)``, a copy of the same length (NFKC one character for one, zero-width
characters as spaces), so full-width digits and colons count and offsets stay on the original.
Numbers may be written in digits or Chinese numerals (``十一点半``, ``二〇二六年十二月三日``).

What is recognised, as a date part, then an optional part of the day, then an optional clock:

- dates: ``2026年12月3日``, ``2026-12-03`` (``/`` and ``.`` too), ``12月3日``/``12月3号``, ``12/3``,
  ``3号``, ``今天 明天 后天 大后天 昨天 前天``, ``今晚 明晚 明早 今晨 ...``, ``周三``/``星期三``/
  ``礼拜天``, ``本周五 这周五 下周三 下下周一 上周二``, ``周末``, ``下个月5号``, ``明年3月8日``;
- whole weeks and months: ``本周 下周 下下周 上周`` (precision ``week``), ``本月 下个月`` and a
  month alone, ``12月`` (precision ``month``); ``until`` is the exclusive end of that range;
- offsets: ``三天后 两周后 一个月后`` (precision ``day``), ``半小时后 一个半小时后 10分钟后
  2小时前`` (precision ``minute``);
- parts of the day: ``凌晨 清晨 早上 早晨 上午 中午 下午 傍晚 晚上 夜里 半夜 ...``, and ``早``/``晚``
  right before a clock (``周六晚8点``);
- clocks: ``8点 8点半 8点30(分) 七点一刻 三刻 20时 20点 8:30 19:30:00 24点``;
- clock ranges: ``下午3点到5点``, ``8:00-10:00``, ``晚上10点到凌晨2点`` are one match, ``when`` the
  start and ``until`` the end (the first such time after the start; the end takes the start's date
  and part of the day unless it names its own);
- a second name for the same day, in brackets or right after: ``12月3日(周四)``, ``12月3日 周四``,
  ``本周六（11月28日）`` are one match; when the two disagree the absolute date wins.

Conventions:

- Weeks start on Monday. ``本周三``/``这周三`` is the Wednesday of this calendar week, even if past;
  ``下周三`` the Wednesday of next calendar week, ``下下周三`` the one after; ``上周三`` last week's.
- ``周三`` alone is the coming Wednesday: today if today is Wednesday and, when a clock is given, that
  time is still ahead (without a clock the day itself counts); otherwise next week's. ``周末`` is
  this week's Saturday (today if today is Sunday); ``下周末`` next week's Saturday.
- A date without a year (``12月3日``, ``12/3``) is its nearest occurrence (last, this or next year);
  a day of the month alone (``3号``) likewise the nearest among last, this and next month. Said on
  25 November, ``3号`` is 3 December and ``20号`` is 20 November.
- A part of the day shifts the hour: ``下午``/``傍晚`` 1–11 → +12; ``晚上``/``夜里`` 6–11 → +12 and
  12, 0 and 1–5 → that hour after midnight (``今晚12点`` is 00:00 tomorrow); ``中午`` 1–4 → +12;
  ``凌晨 12点`` → 00:00; morning words keep the hour.
- A part of the day without a clock (``明晚``, ``明天下午``) gets a typical hour (凌晨 02:00, 清晨
  06:00, 早上 08:00, 上午 09:00, 中午 12:00, 下午 15:00, 傍晚 18:00, 晚上 20:00, 夜里 22:00, 半夜
  24:00) and precision ``day``: only the day is certain. A date alone is at 00:00, precision ``day``.
- A clock without a part of the day: 1–5 o'clock is read as afternoon (13–17; people say ``凌晨``
  for the night); 6–11 as written, except that without a date, when the morning time has already
  passed today and the evening one has not, the evening one; these guesses score 0.9. 0 and 12–24,
  and zero-padded hours (``08:30``, ``05点``), are as written.
- A clock without a date is on the message's own day, even if that time has passed (a digest reads
  "8点" said at 21:00 as this morning's 8:00; the wording gives no better hint). One exception:
  a ``凌晨`` time said from 18:00 on is the coming night (``半夜2点`` always is).
- Offsets in minutes and hours count from ``now`` (seconds dropped); in days, weeks and months from
  today's date, at 00:00.

Not times (to keep false positives out): a bare ``N点`` with nothing that marks it as a clock
(``3点建议``) — a clock needs ``钟 半 刻``, minutes, ``时``, a colon, an hour from 13 on, a date or
part of the day before it, or a word after it such as ``前 左右 整 见 开始 集合 截止``; durations without
``后``/``前`` (``一周``, ``两天``, ``3小时``); a year alone (``2026年``); ``第3天``; numbers inside
longer digit runs (phone numbers, versions like ``v3.5``, amounts); ``1/2`` (a slash date needs a
two-digit month or day, or a clock after it); ``3号楼``, ``1号线``; a part of the day alone
(``早上好``). Stdlib only.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Literal

from nlp.normalize import CN_DIGITS, CONFUSABLE_LETTERS

__all__ = ["Precision", "TimeMatch", "find_times", "fold", "parse_number"]

Precision = Literal["minute", "day", "week", "month"]


@dataclass(frozen=True, slots=True)
class TimeMatch:
    start: int  # character offset into the original text, inclusive
    end: int  # exclusive
    text: str  # original text[start:end]
    when: datetime  # aware, in the group timezone; for a week or month its first day at 00:00
    precision: Precision
    until: datetime | None = None  # end of a week or month (exclusive) or of a clock range, else None
    score: float = 1.0  # lower when an am/pm reading or a bare day number was guessed


# --- folding and numbers -----------------------------------------------------------------------

# Chinese punctuation that NFKC would turn into ASCII is kept, so a URL or an id stops at it.
_KEEP = set("，；！？（）")


@functools.lru_cache(maxsize=8192)  # per character: a message's characters are mostly repeats
def _fold_char(ch: str) -> str:
    if unicodedata.category(ch) == "Cf":
        return " "  # zero-width and other format characters: a gap, never glue
    if ch in _KEEP:
        return ch
    n = unicodedata.normalize("NFKC", ch)
    if len(n) != 1:
        return ch
    return CONFUSABLE_LETTERS.get(n, n)


def fold(text: str) -> str:
    """``text`` with full-width forms folded (NFKC), look-alike letters mapped and zero-width
    characters turned into spaces, one character for one, so offsets still match ``text``. The
    full-width ``，；！？（）`` stay, so a URL or an id written before them ends there."""
    return "".join(map(_fold_char, text))


_CN_DIGIT = {ch: int(d) for ch, d in CN_DIGITS.items()}  # 一 幺 壹 → 1, 两 贰 → 2, ...
_CN_SMALL_UNIT = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN_BIG_UNIT = {"万": 10**4, "萬": 10**4, "亿": 10**8, "億": 10**8}
_NUMBER_PIECE = re.compile(r"\d+(?:\.\d+)?|.", re.S)
_PLAIN_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3})")


def _units_to_number(pieces: list[str]) -> Decimal | None:
    total = section = Decimal(0)
    number: Decimal | None = None
    last_unit, after_unit, tail = 1, False, False  # tail: the last digit came right after a unit
    for p in pieces:
        if p[0].isdigit() or p in _CN_DIGIT:
            if number is not None and number != 0:
                return None  # "二二" inside a number with units
            number = Decimal(p) if p[0].isdigit() else Decimal(_CN_DIGIT[p])
            tail, after_unit = after_unit, False
        elif p in _CN_SMALL_UNIT:
            if number is None:
                if _CN_SMALL_UNIT[p] != 10:
                    return None
                number = Decimal(1)  # "十一": a leading 十 is one ten
            section += number * _CN_SMALL_UNIT[p]
            number, last_unit, after_unit = None, _CN_SMALL_UNIT[p], True
        elif p in _CN_BIG_UNIT:
            section += number or 0
            if section == 0:
                return None
            total += section * _CN_BIG_UNIT[p]
            section, number, last_unit, after_unit = Decimal(0), None, _CN_BIG_UNIT[p], True
        else:
            return None
    if number is not None:
        section += number * last_unit / 10 if tail else number  # "三千五" = 3500, "一万二" = 12000
    return total + section


def parse_number(s: str) -> Decimal | None:
    """The value of ``s``: ASCII digits (``1,299.5``), Chinese numerals with units (``两千``,
    ``一百零五``, colloquial ``三千五`` = 3500, ``一万二`` = 12000), digit-by-digit numerals
    (``二〇二六`` = 2026) or a mix (``3.5万``); None when ``s`` is not a number."""
    s = _THOUSANDS.sub("", s.strip())
    if not s:
        return None
    if _PLAIN_NUMBER.fullmatch(s):
        return Decimal(s)
    pieces = _NUMBER_PIECE.findall(s)
    try:
        if all(p in _CN_DIGIT for p in pieces):
            return Decimal("".join(str(_CN_DIGIT[p]) for p in pieces))
        return _units_to_number(pieces)
    except InvalidOperation:
        return None


def _int(s: str | None) -> int | None:
    if s is None:
        return None
    n = parse_number(s)
    return int(n) if n is not None and n == int(n) else None


# --- atoms -------------------------------------------------------------------------------------

_CN_NUM_CHARS = "零〇一二两三四五六七八九十"
_NUM = rf"(?:\d{{1,2}}(?!\d)|[{_CN_NUM_CHARS}]{{1,3}})"  # an hour, minute, day or month
_NUM_NO_TWO = r"(?:\d{1,2}(?!\d)|[零〇一二三四五六七八九十]{1,3})"  # "两月" is a duration
_START = rf"(?<![\d{_CN_NUM_CHARS}百千万第.:/A-Za-z])"  # not inside a longer number or word
_YEAR = r"(?:(?:19|20)\d{2}|[零〇一二三四五六七八九]{4})"
_SHIFT = r"(?P<shift>下下个?|上上个?|下个?|上个?|这个?|本)"
_DAY_MARK = r"[日号號]"
_NOT_A_DAY_AFTER = r"(?![楼樓线線房门室床位车厢口院馆店机台球码选座栋单元层字件期游内元电])"  # 3号楼, 7日内, 20日元

_REL_DAYS = {
    "大前天": -3, "前天": -2, "昨天": -1, "昨日": -1, "昨儿": -1, "今天": 0, "今日": 0, "今儿": 0,
    "明天": 1, "明日": 1, "明儿": 1, "后天": 2, "大后天": 3,
}  # fmt: skip
_REL_DAY_PERIODS = {
    "今晚": (0, "晚上"), "今夜": (0, "夜里"), "今早": (0, "早上"), "今晨": (0, "早上"),
    "明晚": (1, "晚上"), "明夜": (1, "夜里"), "明早": (1, "早上"), "明晨": (1, "早上"),
    "昨晚": (-1, "晚上"), "昨夜": (-1, "夜里"), "昨早": (-1, "早上"),
}  # fmt: skip
_REL_YEARS = {"前年": -2, "去年": -1, "今年": 0, "明年": 1, "后年": 2}
_SHIFTS = {"本": 0, "这": 0, "这个": 0, "下": 1, "下个": 1, "下下": 2, "下下个": 2,
           "上": -1, "上个": -1, "上上": -2, "上上个": -2, None: 0}  # fmt: skip
_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "七": 6,
             "1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6, "末": 5}  # fmt: skip
_WEEK_WORD = r"(?:周|星期|礼拜|禮拜)"

# Part of the day -> (how it shifts an hour, its typical hour when no clock is given).
_PERIODS = {
    "凌晨": ("early", 2), "清晨": ("morning", 6), "早晨": ("morning", 8), "早上": ("morning", 8),
    "上午": ("morning", 9), "中午": ("noon", 12), "下午": ("afternoon", 15), "傍晚": ("afternoon", 18),
    "晚上": ("evening", 20), "晚间": ("evening", 20), "夜晚": ("evening", 20), "夜里": ("evening", 22),
    "夜间": ("evening", 22), "半夜": ("midnight", 24), "午夜": ("midnight", 24),
    "早": ("morning", 8), "晚": ("evening", 20),  # only before a clock: "周六晚8点", "早9点"
}  # fmt: skip


def _alternation(words: Iterable[str]) -> str:
    return "|".join(sorted(map(re.escape, words), key=len, reverse=True))


_ATOMS: list[tuple[str, re.Pattern[str]]] = [
    ("ymd", re.compile(r"(?<![\d.])(?P<y>(?:19|20)\d{2})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})(?![\d.]|[-/]\d)")),
    ("year_md", re.compile(rf"{_START}(?P<y>{_YEAR})\s*年\s*(?P<m>{_NUM_NO_TWO})\s*月份?(?:\s*(?P<d>{_NUM})\s*{_DAY_MARK})?")),
    ("rel_year_md", re.compile(rf"(?P<ry>{_alternation(_REL_YEARS)})\s*(?P<m>{_NUM_NO_TWO})\s*月份?(?:\s*(?P<d>{_NUM})\s*{_DAY_MARK})?")),
    ("md", re.compile(rf"{_START}(?P<m>{_NUM_NO_TWO})\s*月(?:份|(?:\s*(?P<d>{_NUM})\s*{_DAY_MARK}))?(?![薪饼光亮球票卡供嫂])")),
    ("md_slash", re.compile(r"(?<![\d/.A-Za-z])(?P<m>\d{1,2})/(?P<d>\d{1,2})(?![\d/]|\.\d)")),
    ("day", re.compile(rf"{_START}(?:(?P<dd>\d{{1,2}})(?!\d)\s*{_DAY_MARK}|(?P<dc>[{_CN_NUM_CHARS}]{{1,3}})\s*[号號]){_NOT_A_DAY_AFTER}")),
    ("rel_day", re.compile(rf"(?<![以之然最提])(?:{_alternation(_REL_DAYS)})")),  # not "以后天气"
    ("rel_day_period", re.compile(_alternation(_REL_DAY_PERIODS))),
    ("weekday", re.compile(rf"(?<![\d{_CN_NUM_CHARS}几个])(?:{_SHIFT}?){_WEEK_WORD}(?P<wd>[一二三四五六日天七末1-7])(?![\d{_CN_NUM_CHARS}])")),
    ("week", re.compile(rf"{_SHIFT}{_WEEK_WORD}(?![一二三四五六日天七末1-7边围年岁期长])")),  # not "这周边"
    ("month_rel", re.compile(rf"(?P<mshift>下下个?|上上个?|下个?|上个?|这个?|本)月(?:\s*(?P<d>{_NUM})\s*{_DAY_MARK})?(?![饼球光亮薪])")),
    ("offset", re.compile(
        rf"{_START}(?:(?P<n>\d+(?:\.\d+)?|[{_CN_NUM_CHARS}]{{1,3}})\s*个?\s*(?P<half>半)?|(?P<half0>半)\s*个?)"
        rf"\s*(?P<unit>小时|钟头|分钟|天|日|周|星期|礼拜|月)\s*(?P<dir>以后|之后|后|以前|之前|前)")),
    ("period", re.compile(_alternation(_PERIODS))),
    ("clock", re.compile(
        rf"{_START}(?P<h>{_NUM})\s*(?P<sep>[点點时時])(?P<zhong>钟|鐘)?"
        rf"(?:(?P<half>半)|(?P<q>[一三])刻|(?P<mi>\d{{1,2}}(?!\d)|[{_CN_NUM_CHARS}]{{1,3}})(?P<fen>分)?)?")),
    ("colon", re.compile(r"(?<![\d:.])(?P<h>\d{1,2}):(?P<mi>\d{2})(?::\d{2})?(?![\d:])")),
]  # fmt: skip

# Date atoms that name one day, so a part of the day and a clock may follow (see _is_day_level).
_DAY_KINDS = {"ymd", "year_md", "rel_year_md", "md", "md_slash", "day", "rel_day", "rel_day_period",
              "weekday", "month_rel", "offset"}  # fmt: skip
_CLOCK_CONTEXT_AFTER = re.compile(r"\s*(?:以前|之前|前|左右|整|准时|见|开始|集合|出发|截止|结束|开会)")
_GAP = re.compile(r"\s{0,3}")
_RANGE_SEP = re.compile(r"\s*(?:到|至|-|~|—|–)\s*")
_NOTE_OPEN = re.compile(r"\s*[(（]\s*")
_NOTE_CLOSE = re.compile(r"\s*[)）]")
_ABSOLUTE = ("ymd", "year_md", "md", "md_slash")


@dataclass(frozen=True, slots=True)
class _Atom:
    kind: str
    start: int
    end: int
    m: re.Match[str]


def _next_match(rx: re.Pattern[str], text: str, pos: int) -> re.Match[str] | None:
    """The leftmost non-empty match of ``rx`` starting at ``pos`` or later (``search`` at a position
    gives the very match ``match`` gives there)."""
    m = rx.search(text, pos)
    while m is not None and m.end() == m.start():
        m = rx.search(text, m.start() + 1)
    return m


def _atoms(folded: str) -> list[_Atom]:
    """Leftmost-longest scan: at each position the longest atom wins (the earlier in ``_ATOMS`` on a
    tie), then scanning resumes after it.

    Each pattern is searched for once and searched again only when the scan has passed its match,
    so a message without dates costs one ``search`` per pattern instead of one ``match`` per
    pattern and character."""
    out: list[_Atom] = []
    pending = [_next_match(rx, folded, 0) for _, rx in _ATOMS]
    pos = 0
    while True:
        for i, m in enumerate(pending):
            if m is not None and m.start() < pos:
                pending[i] = _next_match(_ATOMS[i][1], folded, pos)
        starts = [m.start() for m in pending if m is not None]
        if not starts:
            return out
        pos = min(starts)
        best: _Atom | None = None
        for (kind, _), m in zip(_ATOMS, pending):
            if m is not None and m.start() == pos and (best is None or m.end() > best.end):
                best = _Atom(kind, pos, m.end(), m)
        assert best is not None
        out.append(best)
        pos = best.end


# --- resolution --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Ctx:
    now: datetime  # in the group timezone
    tz: tzinfo

    @property
    def today(self) -> date:
        return self.now.date()

    def at(self, day: date, offset: timedelta = timedelta()) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.tz) + offset


@dataclass(frozen=True, slots=True)
class _Day:
    day: date
    precision: Precision = "day"
    until: date | None = None
    score: float = 1.0


def _add_months(d: date, n: int, day: int | None = None) -> date | None:
    y, m = divmod(d.month - 1 + n, 12)
    try:
        return date(d.year + y, m + 1, day if day is not None else 1)
    except ValueError:
        return None


def _safe_date(y: int, m: int | None, d: int | None) -> date | None:
    try:
        return date(y, m or 0, d or 0)
    except (ValueError, TypeError):
        return None


def _nearest(candidates: list[date | None], today: date) -> date | None:
    valid = [c for c in candidates if c is not None]
    return min(valid, key=lambda c: (abs((c - today).days), c < today)) if valid else None


def _month_range(first: date) -> _Day:
    return _Day(first, "month", _add_months(first, 1))


def _year_month_day(y: int, m: int | None, d: int | None) -> _Day | None:
    if d is None:
        first = _safe_date(y, m, 1)
        return _month_range(first) if first else None
    day = _safe_date(y, m, d)
    return _Day(day) if day else None


def _md(m: int | None, d: int | None, today: date) -> _Day | None:
    if d is None:
        first = _nearest([_safe_date(today.year + k, m, 1) for k in (-1, 0, 1)], today.replace(day=1))
        return _month_range(first) if first else None
    day = _nearest([_safe_date(today.year + k, m, d) for k in (-1, 0, 1)], today)
    return _Day(day) if day else None


def _day_of_month(d: int | None, today: date) -> date | None:
    if d is None:
        return None
    return _nearest([_add_months(today, k, d) for k in (-1, 0, 1)], today)


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _weekday(a: _Atom, ctx: _Ctx, clock: timedelta | None) -> _Day:
    wd = _WEEKDAYS[a.m["wd"]]
    shift = a.m["shift"]
    if a.m["wd"] == "末" and shift is None and ctx.today.weekday() == 6:
        return _Day(ctx.today)
    day = _monday(ctx.today) + timedelta(weeks=_SHIFTS[shift], days=wd)
    if shift is None and a.m["wd"] != "末":
        ahead = day > ctx.today or (day == ctx.today and (clock is None or ctx.at(day, clock) > ctx.now))
        if not ahead:
            day += timedelta(weeks=1)
    return _Day(day)


def _offset_day(a: _Atom, ctx: _Ctx) -> _Day | None:
    n = _int(a.m["n"])
    if n is None or a.m["half"] or a.m["half0"]:
        return None
    sign = -1 if a.m["dir"].endswith("前") else 1
    unit = a.m["unit"]
    if unit == "月":
        day = _add_months(ctx.today, sign * n, min(ctx.today.day, 28))
        return _Day(day) if day else None
    days = n * (7 if unit in ("周", "星期", "礼拜") else 1)
    return _Day(ctx.today + timedelta(days=sign * days))


def _offset_minutes(a: _Atom) -> timedelta | None:
    """The offset of a minute- or hour-unit offset atom, or None for day units."""
    if a.kind != "offset" or a.m["unit"] not in ("小时", "钟头", "分钟"):
        return None
    n = parse_number(a.m["n"]) if a.m["n"] else Decimal(0)
    if n is None:
        return None
    n += Decimal("0.5") if (a.m["half"] or a.m["half0"]) else 0
    minutes = n * (1 if a.m["unit"] == "分钟" else 60)
    sign = -1 if a.m["dir"].endswith("前") else 1
    return timedelta(minutes=sign * float(minutes)) if minutes else None


def _resolve_day(a: _Atom, ctx: _Ctx, clock: timedelta | None) -> _Day | None:
    """The day (or week, or month) a date atom names; ``clock`` only matters for a bare weekday."""
    m, today = a.m, ctx.today
    kind = a.kind
    if kind in ("ymd", "year_md"):
        return _year_month_day(_int(m["y"]) or 0, _int(m["m"]), _int(m["d"]))
    if kind == "rel_year_md":
        return _year_month_day(today.year + _REL_YEARS[m["ry"]], _int(m["m"]), _int(m["d"]))
    if kind == "md":
        return _md(_int(m["m"]), _int(m["d"]), today)
    if kind == "md_slash":
        found = _md(_int(m["m"]), _int(m["d"]), today)
        return _Day(found.day, score=0.8) if found else None
    if kind == "day":
        day = _day_of_month(_int(m["dd"] or m["dc"]), today)
        return _Day(day, score=0.8) if day else None
    if kind == "rel_day":
        return _Day(today + timedelta(days=_REL_DAYS[m.group()]))
    if kind == "rel_day_period":
        return _Day(today + timedelta(days=_REL_DAY_PERIODS[m.group()][0]))
    if kind == "weekday":
        return _weekday(a, ctx, clock)
    if kind == "week":
        monday = _monday(today) + timedelta(weeks=_SHIFTS[m["shift"]])
        return _Day(monday, "week", monday + timedelta(weeks=1))
    if kind == "month_rel":
        n = _SHIFTS[m["mshift"]]
        if m["d"] is None:
            return _month_range(_add_months(today, n))  # type: ignore[arg-type]
        day = _add_months(today, n, _int(m["d"]))
        return _Day(day) if day else None
    if kind == "offset":
        return _offset_day(a, ctx)
    return None


def _is_day_level(a: _Atom) -> bool:
    if a.kind == "offset":
        return _offset_minutes(a) is None
    if a.kind in ("year_md", "rel_year_md", "md", "month_rel"):
        return a.m["d"] is not None
    return a.kind in _DAY_KINDS


# --- clocks ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Clock:
    hour: int
    minute: int
    explicit: bool  # marked as a clock by its own form: 钟, 半, 刻, minutes, 时, a colon
    zero_padded: bool = False  # "08:30": a 24-hour clock, read as written


def _clock(a: _Atom) -> _Clock | None:
    m = a.m
    h = _int(m["h"])
    if a.kind == "colon":
        mi = _int(m["mi"])
        explicit = True
    else:
        mi = 30 if m["half"] else {"一": 15, "三": 45}[m["q"]] if m["q"] else _int(m["mi"] or "0")
        marked = m["zhong"] or m["half"] or m["q"] or m["mi"] or m["sep"] in "时時"
        explicit = bool(marked) or (h is not None and h >= 13)  # "20点" is a clock; "3点" may be a list
    if h is None or mi is None or not (0 <= h <= 24 and 0 <= mi <= 59) or (h == 24 and mi):
        return None
    return _Clock(h, mi, explicit, m["h"].startswith("0") and len(m["h"]) == 2)


def _shift_hour(h: int, period: str) -> int:
    """The hour after midnight of the named day (may be 24 or more: the night after)."""
    how = _PERIODS[period][0]
    if how == "early":
        return 0 if h == 12 else h
    if how == "noon":
        return h + 12 if 1 <= h <= 4 else h
    if how == "afternoon":
        return h + 12 if 1 <= h <= 11 else h
    if how == "evening" and 6 <= h <= 11:
        return h + 12
    if how in ("evening", "midnight"):
        return 24 if h in (0, 12) else 24 + h if 1 <= h <= 5 else h
    return h


def _bare_hour(c: _Clock, has_date: bool, ctx: _Ctx) -> tuple[int, float]:
    """An hour with no part of the day: (hour, score); see the module docstring."""
    h = c.hour
    if c.zero_padded:
        return h, 1.0
    if 1 <= h <= 5:
        return h + 12, 0.9
    if 6 <= h <= 11:
        morning = ctx.at(ctx.today, timedelta(hours=h, minutes=c.minute))
        if not has_date and morning <= ctx.now < morning + timedelta(hours=12):
            return h + 12, 0.9
        return h, 0.9
    return h, 1.0


# --- expressions -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Expr:
    start: int
    end: int
    date: _Atom | None = None
    period: str | None = None
    clock: _Atom | None = None
    to: _Expr | None = None  # the end of a clock range: "下午3点到5点"
    is_end: bool = False  # this is such an end: a bare hour is read as written, then moved past the start


def _next(atoms: list[_Atom], i: int, kinds: tuple[str, ...], folded: str, end: int) -> _Atom | None:
    """``atoms[i]`` if it is of one of ``kinds`` and only a little whitespace lies before it."""
    if i >= len(atoms) or atoms[i].kind not in kinds:
        return None
    gap = _GAP.match(folded, end)
    return atoms[i] if gap is not None and gap.end() == atoms[i].start else None


def _expression(folded: str, atoms: list[_Atom], i: int) -> tuple[_Expr, int]:
    """One expression from ``atoms[i]`` on: [date] [part of the day] [clock]; the next index."""
    a = atoms[i]
    e = _Expr(a.start, a.end)
    i += 1
    if a.kind in ("clock", "colon"):
        e.clock = a
        return e, i
    if a.kind == "period":
        e.period = a.m.group()
    else:
        e.date = a
        if a.kind == "rel_day_period":
            e.period = _REL_DAY_PERIODS[a.m.group()][1]
        if not _is_day_level(a):
            return e, i
        i = _absorb_note(folded, atoms, i, e)
    if e.period is None and (p := _next(atoms, i, ("period",), folded, e.end)):
        if len(p.m.group()) > 1 or _next(atoms, i + 1, ("clock", "colon"), folded, p.end):  # 晚/早 need a clock
            e.period, e.end, i = p.m.group(), p.end, i + 1
    if c := _next(atoms, i, ("clock", "colon"), folded, e.end):
        e.clock, e.end, i = c, c.end, i + 1
    return e, i


def _absorb_note(folded: str, atoms: list[_Atom], i: int, e: _Expr) -> int:
    """Take in a second name for the same day, "12月3日(周四)", "12月3日 周四", "本周六（11月28日）";
    of the two the absolute date is the one resolved. Returns the next index."""
    a, b = e.date, atoms[i] if i < len(atoms) else None
    if a is None or b is None:
        return i
    if not ((a.kind in _ABSOLUTE and b.kind == "weekday" and b.m["shift"] is None)
            or (a.kind == "weekday" and b.kind in _ABSOLUTE and _is_day_level(b))):  # fmt: skip
        return i
    opened = _NOTE_OPEN.match(folded, e.end)
    if opened and opened.end() == b.start:
        closed = _NOTE_CLOSE.match(folded, b.end)
        if closed is None:
            return i
        e.end = closed.end()
    elif a.kind in _ABSOLUTE and _next(atoms, i, ("weekday",), folded, e.end):
        e.end = b.end
    else:
        return i
    if b.kind in _ABSOLUTE:
        e.date = b
    return i + 1


def _group(folded: str, atoms: list[_Atom]) -> list[_Expr]:
    out: list[_Expr] = []
    i = 0
    while i < len(atoms):
        e, i = _expression(folded, atoms, i)
        prev = out[-1] if out else None
        if prev and prev.clock and prev.to is None and e.date is None and e.clock:
            if _RANGE_SEP.fullmatch(folded, prev.end, e.start):
                e.date, e.period = prev.date, e.period or prev.period  # "5点" in "明天下午3点到5点"
                e.is_end, prev.to = True, e
                continue
        out.append(e)
    return out


def _match(folded: str, text: str, e: _Expr, ctx: _Ctx) -> TimeMatch | None:
    """The resolved expression; a clock range keeps its start as ``when`` and its end as ``until``."""
    first = _resolve(folded, text, e, ctx)
    last = _resolve(folded, text, e.to, ctx) if first and e.to else None
    if first is None or last is None:
        return first
    until, step = last.when, timedelta(hours=12 if e.to.period is None else 24)  # type: ignore[union-attr]
    while until <= first.when:
        until += step  # "3点到5点" ends at 17:00, "晚上10点到凌晨2点" the next day
    end = e.to.end  # type: ignore[union-attr]
    return replace(first, end=end, text=text[first.start : end], until=until, score=min(first.score, last.score))


def _resolve(folded: str, text: str, e: _Expr, ctx: _Ctx) -> TimeMatch | None:
    if e.date is None and e.clock is None:
        return None  # "早上好": a part of the day alone is not a time
    clock = _clock(e.clock) if e.clock else None
    if e.clock and clock is None:
        return None
    if e.date is not None and e.date.kind == "md_slash" and e.date.start == e.start and not (e.period or e.clock):
        if len(e.date.m["m"]) == 1 and len(e.date.m["d"]) == 1:
            return None  # "1/2" is a fraction until a clock says otherwise
    if clock and e.date is None and e.period is None and not (clock.explicit or e.to or e.is_end):
        if not _CLOCK_CONTEXT_AFTER.match(folded, e.end):
            return None  # "3点建议"
    span = (e.start, e.end, text[e.start : e.end])
    if e.date is not None and (minutes := _offset_minutes(e.date)) is not None:
        return TimeMatch(*span, (ctx.now + minutes).replace(second=0, microsecond=0), "minute")
    offset, precision, score = _time_of_day(e, clock, ctx)
    day = _resolve_day(e.date, ctx, offset if clock else None) if e.date else _undated_day(e, ctx)
    if day is None:
        return None
    if day.precision != "day":
        until = ctx.at(day.until) if day.until else None
        return TimeMatch(*span, ctx.at(day.day), day.precision, until, day.score)
    if e.date is not None and e.date.kind in ("day", "md_slash") and (e.period or e.clock):
        day = _Day(day.day)  # "3号下午两点": the clock confirms the bare day number
    return TimeMatch(*span, ctx.at(day.day, offset), precision, None, min(score, day.score))


def _undated_day(e: _Expr, ctx: _Ctx) -> _Day:
    if e.period == "凌晨" and ctx.now.hour >= 18:
        return _Day(ctx.today + timedelta(days=1))  # "凌晨3点" said in the evening: the coming night
    return _Day(ctx.today)


def _time_of_day(e: _Expr, clock: _Clock | None, ctx: _Ctx) -> tuple[timedelta, Precision, float]:
    if clock is None:
        hour = _PERIODS[e.period][1] if e.period else 0
        return timedelta(hours=hour), "day", 1.0
    if e.period:
        return timedelta(hours=_shift_hour(clock.hour, e.period), minutes=clock.minute), "minute", 1.0
    hour, score = (clock.hour, 1.0) if e.is_end else _bare_hour(clock, e.date is not None, ctx)
    return timedelta(hours=hour, minutes=clock.minute), "minute", score


def find_times(text: str, now: datetime, tz: tzinfo) -> list[TimeMatch]:
    """Every date or time expression in ``text``, resolved against ``now`` (aware, any zone) in the
    group timezone ``tz`` (a ``zoneinfo.ZoneInfo``)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("find_times needs an aware `now` (the message time)")
    ctx = _Ctx(now.astimezone(tz), tz)
    folded = fold(text)
    found = (_match(folded, text, e, ctx) for e in _group(folded, _atoms(folded)))
    return [t for t in found if t is not None]
