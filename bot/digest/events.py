"""Events and deadlines: a message naming a time that is still ahead, and saying what happens then.

The times are the message's stored TIME entities (``nlp.patterns``: ``value`` is ISO 8601, resolved
against the message time in the group timezone; a date alone is at 00:00 and shown without a
clock). A TIME entity makes an entry when

- the resolved time is not before the start of the digest's day (past times, "昨晚", are talk), and
- its clause (the text between ，。！？；and line breaks) or the whole message names an event
  ("分享会", "直播", "发布会", "meetup", "线上", "开会", …: :data:`EVENT_CUES`) — an *event* — or a
  limit ("截止", "之前", "ddl", or "前" right after the time: "周五前交作业") — a *deadline*.

The title of an event is "【标题】：主题" when the message has a 【…】 head and a "主题：" field
(a subtitle after "——" dropped), either alone, or else the clause — from a colon before the time
on — with the time taken out and fillers ("听说", "再提醒一下：", "的", "有人去吗") trimmed. A
deadline's title is its clause; when that says little ("报名截止") the message's 【…】 head or event
is named after it: "报名截止（周六线上分享会）".
Entries of the same kind at the same resolved time whose titles share at least half the character
pairs of the shorter one are one entry ("×2": a reminder of an announced event), titled by the
longest title; two different events at the same hour stay two. Sorted by time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from bot import catalogue
from bot.digest.data import Event
from bot.digest.dedupe import clean
from bot.digest.lines import Liner, has_text, sender
from bot.records import AnalysedMessage
from nlp.verdict import Entity

TIME_TYPES = frozenset({"TIME", "DATE"})
TITLE_CHARS = 36

EVENT_CUES = re.compile(
    r"分享会|分享|讲座|直播|发布会|会议|开会|例会|meetup|线下|线上|活动|聚会|沙龙|培训|比赛|大会|峰会|读书会|研讨|"
    r"workshop|hackathon|黑客松|开课|上课|开播|答疑|路演|聚餐|见面|报告会|公开课|训练营",
    re.IGNORECASE,
)
DEADLINE_CUES = re.compile(r"截止|截至|之前|以前|deadline|ddl|到期|最晚|过期|交作业|提交", re.IGNORECASE)
_BEFORE = re.compile(r"^\s*(?:之前|以前|前)")
_CLAUSE = re.compile(r"[，。！？；!?;\n]")
_FILLER = re.compile(
    r"^(?:听说|再提醒一下|提醒一下|再提醒|提醒|通知|注意|温馨提示|大家|各位|另外|还有|然后|对了)\s*[:：，,]?\s*"
)
_LEAD = re.compile(r"^(?:之前|以前|前|的|(?:我们|咱们)(?:组|团队|公司|群)?|有个|有一个|有场|有一场|是|在|要|就|会)\s*")
_TAIL = re.compile(r"(?:(?:有人|有谁|谁|大家)(?:要)?(?:去|来|参加|一起|报名)|吗|呢|啊|哈|哦|吧|呀|～|~|!|！|\s)+$")
_EMPTY_BRACKETS = re.compile(r"[（(]\s*[)）]")
_HEAD = re.compile(r"【([^】]{2,24})】")
_SUBJECT = re.compile(r"主题\s*[:：]\s*(.+?)(?=\s{2,}|\s*(?:主讲|时间|地点|方式|报名|嘉宾)\s*[:：]|[\n。]|$)")

TimeExtractor = Callable[[str, datetime, ZoneInfo], list[Entity]]


@dataclass(frozen=True, slots=True)
class _Found:
    kind: str
    when: datetime
    all_day: bool
    title: str
    am: AnalysedMessage


def parse_when(value: str, tz: ZoneInfo) -> tuple[datetime, bool] | None:
    """An entity value as an aware local time, and whether it is a whole day (00:00 or a date)."""
    try:
        if len(value.strip()) == 10:
            d = date.fromisoformat(value.strip())
            return datetime.combine(d, time.min, tzinfo=tz), True
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    when = when.replace(tzinfo=tz) if when.tzinfo is None else when.astimezone(tz)
    return when, when.time() == time.min


def day_label(when: date, today: date) -> str:
    """ "明天", "周六 11/28"…: see ``bot.catalogue.event_day``."""
    return catalogue.event_day((when - today).days, when.weekday(), when.month, when.day)


def _clause(text: str, start: int, end: int) -> tuple[int, int]:
    a = max((m.end() for m in _CLAUSE.finditer(text, 0, start)), default=0)
    b = next((m.start() for m in _CLAUSE.finditer(text, end)), len(text))
    return a, b


def _tidy(s: str) -> str:
    s = _EMPTY_BRACKETS.sub("", s)
    s = re.sub(r"\s+", " ", s).strip(" ：:，,-—")
    for _ in range(3):
        s = _LEAD.sub("", _FILLER.sub("", s)).strip(" ：:，,")
    return _TAIL.sub("", s)


def _cut(s: str) -> str:
    return s if len(s) <= TITLE_CHARS else s[: TITLE_CHARS - 1] + "…"


def _message_title(text: str) -> tuple[str, str]:
    """The message's own title ("【周六线上分享会】" + "主题：…", subtitle after "——" dropped), and
    its short name (the 【…】 head, else the subject)."""
    head, subject = _HEAD.search(text), _SUBJECT.search(text)
    name = head.group(1).strip() if head else ""
    topic = re.sub(r"\s*(?:——|--).*$", "", subject.group(1)).strip() if subject else ""
    if name and topic:
        return f"{name}：{topic}", name
    return (topic or name), (name or topic)


def _found_in(am: AnalysedMessage, times: Sequence[Entity], tz: ZoneInfo, day_start: datetime) -> list[_Found]:
    text = am.message.text
    whole_event = bool(EVENT_CUES.search(text))
    titled, name = _message_title(text)
    out: list[_Found] = []
    for e in times:
        parsed = parse_when(e.value, tz)
        if parsed is None or not (0 <= e.start < e.end <= len(text)):
            continue
        when, all_day = parsed
        if when < day_start:
            continue
        a, b = _clause(text, e.start, e.end)
        clause = text[a:b]
        if all_day and any(
            (p := parse_when(o.value, tz)) is not None and not p[1] and p[0].date() == when.date() for o in times
        ):
            continue  # "【周六分享会】… 时间：周六晚8点": the day alone adds nothing to the day at 20:00
        if _BEFORE.match(text[e.end : e.end + 3]) or DEADLINE_CUES.search(clause):
            kind = "deadline"
        elif EVENT_CUES.search(clause) or (whole_event and titled):
            kind = "event"
        else:
            continue
        colon = max(text.rfind("：", a, e.start), text.rfind(":", a, e.start))
        if colon >= 0:  # "训练营的同学：周五前交作业" — what follows the colon is the point
            a = colon + 1
        rest = text[a:b]
        for other in times:  # every time in the clause out of its title
            if a <= other.start and other.end <= b:
                rest = rest.replace(text[other.start : other.end], " ")
        own = _tidy(rest)
        title = titled if kind == "event" and titled else own
        out.append(_Found(kind, when, all_day, title, am))
    events = [f for f in out if f.kind == "event"]
    name = name or (min((f.title for f in events), key=len) if events else "")
    if name:  # "报名截止" alone says little: name what it belongs to
        out = [
            _Found(f.kind, f.when, f.all_day, f"{f.title}（{name}）", f.am)
            if f.kind == "deadline" and len(f.title) < 10 and name not in f.title
            else f
            for f in out
        ]
    return [f for f in out if f.title]


def _bigrams(s: str) -> set[str]:
    s = clean(s)
    return {s[i : i + 2] for i in range(len(s) - 1)} or {s}


def _alike(group: list[_Found], title: str) -> bool:
    """Two titles name the same thing when half the character pairs of the shorter are in the other."""
    b = _bigrams(title)
    for f in group:
        a = _bigrams(f.title)
        if len(a & b) >= 0.5 * min(len(a), len(b)):
            return True
    return False


def find_events(
    messages: Sequence[AnalysedMessage],
    *,
    day: date,
    tz: ZoneInfo,
    liner: Liner,
    extract_times: TimeExtractor | None = None,
) -> tuple[list[Event], set[str]]:
    """Events and deadlines named in ``messages`` (already without ads and opted-out senders),
    and the ids of the messages that named them.

    ``extract_times`` (``nlp.patterns.extract_patterns``) fills in for messages stored with no
    entities at all, e.g. before the pipeline ran extractors."""
    day_start = datetime.combine(day, time.min, tzinfo=tz)
    found: list[_Found] = []
    for am in messages:
        if not has_text(am):
            continue
        times = [e for e in am.entities if e.type in TIME_TYPES and e.value]
        if not am.entities and extract_times is not None:
            times = [
                e for e in extract_times(am.message.text, am.message.sent_at, tz) if e.type in TIME_TYPES and e.value
            ]
        if times:
            found.extend(_found_in(am, sorted(times, key=lambda e: e.start), tz, day_start))
    groups: list[list[_Found]] = []
    for f in found:
        same = next((g for g in groups if g[0].kind == f.kind and g[0].when == f.when and _alike(g, f.title)), None)
        if same is not None:
            same.append(f)
        else:
            groups.append([f])
    events = []
    for group in sorted(groups, key=lambda g: (g[0].when, g[0].kind, g[0].am.message.sent_at)):
        first = group[0]
        kind, when = first.kind, first.when
        title = max((g.title for g in group), key=len)
        events.append(
            Event(
                kind=kind,
                when=when.isoformat(),
                day_label=day_label(when.date(), day),
                clock="" if first.all_day else when.strftime("%H:%M"),
                title=liner.text(_cut(title), TITLE_CHARS + 4),
                sender=sender(first.am),
                time=liner.hhmm(first.am),
                count=len({g.am.message.id for g in group}),
            )
        )
    return events, {f.am.message.id for f in found}
