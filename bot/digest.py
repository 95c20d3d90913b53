"""One group's day of analysed messages into a :class:`DigestData`, rendered as WeChat text or HTML.

``build_digest`` is pure: it reads the stored verdicts (analyzer "ad": ad/normal, "useful":
useful/useless, "intent": question/answer/announcement/...) and never runs a model. A message may
lack a verdict (analysis pending) or carry a "skipped" one; both simply count as "not that label".
Every text taken from a message — sender names included — is passed through :func:`bot.privacy.mask`
here, and again by the templates' ``finalize`` hook, so neither output shows a contact detail.

The lead wires ``bot.store.queries.analysed_messages(session, group_id, *day_bounds(day, tz))``
into :func:`build_digest`.
"""

from __future__ import annotations

import functools
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup

from bot.message import MessageKind
from bot.privacy import URL_RE, mask
from bot.records import AnalysedMessage

__all__ = [
    "TEMPLATES_DIR",
    "AdLine",
    "Contributor",
    "DigestCounts",
    "DigestData",
    "KindCount",
    "LinkLine",
    "MessageLine",
    "Question",
    "Topic",
    "build_digest",
    "day_bounds",
    "render_html",
    "render_text",
    "split_parts",
]

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"

# How much of each section the digest shows; totals are in DigestCounts / Topic.count.
MAX_TOPICS = 5
PER_TOPIC = 3
MAX_QUESTIONS = 10
MAX_LINKS = 10
MAX_ANNOUNCEMENTS = 5
MAX_ADS = 10
SHORT_CHARS = 60
LONG_CHARS = 160
OTHER_TOPIC = "其他"

KIND_LABELS: dict[MessageKind, str] = {
    MessageKind.TEXT: "文字",
    MessageKind.IMAGE: "图片",
    MessageKind.LINK: "链接",
    MessageKind.FILE: "文件",
    MessageKind.STICKER: "表情",
    MessageKind.VOICE: "语音",
    MessageKind.VIDEO: "视频",
    MessageKind.QUOTE: "引用",
    MessageKind.SYSTEM: "系统",
    MessageKind.OTHER: "其他",
}

# Words too common in group chat to name a topic (jieba's own stop list and IDF do the rest).
STOP_WORDS = frozenset(
    """
    大家 我们 你们 他们 她们 咱们 自己 这个 那个 这些 那些 这样 那样 这么 那么 这里 那里 哪里
    什么 怎么 怎么样 为什么 可以 可能 应该 需要 没有 不是 就是 还是 但是 因为 所以 如果 然后
    已经 现在 今天 明天 昨天 刚才 时候 一下 一个 一些 一点 有点 有人 有没有 是不是 能不能
    感觉 觉得 知道 看看 真的 其实 比较 还有 或者 而且 只是 东西 事情 问题 请问 谢谢 感谢
    好的 好吧 嗯嗯 哈哈 哈哈哈 哈哈哈哈 呵呵 嘿嘿 是的 对的 不错 厉害 牛逼 确实 老师 朋友
    图片 表情 链接 视频 语音 文件 消息 群里 群友 http https www com cn html
    """.split()
)

# Part-of-speech tags a topic keyword may carry: nouns, proper nouns (not person names), verbal
# nouns, English words.
TOPIC_POS = ("n", "nz", "nt", "ns", "nw", "vn", "eng")

_WS = re.compile(r"\s+")
_WORDLIKE = re.compile(r"^[\w\u4e00-\u9fff]+$")


# --------------------------------------------------------------------------- data


@dataclass(frozen=True, slots=True)
class MessageLine:
    """One message as the digest shows it: masked sender and text, local HH:MM."""

    id: str
    sender: str
    time: str
    text: str


@dataclass(frozen=True, slots=True)
class KindCount:
    kind: str  # MessageKind value
    label: str  # Chinese label
    count: int


@dataclass(frozen=True, slots=True)
class DigestCounts:
    total: int
    by_kind: tuple[KindCount, ...]  # most frequent first
    speakers: int  # distinct senders, system messages excluded
    useful: int
    useless: int
    ads: int
    questions: int
    links: int
    announcements: int


@dataclass(frozen=True, slots=True)
class Topic:
    keyword: str
    count: int  # useful messages in this topic; `messages` shows at most PER_TOPIC
    messages: tuple[MessageLine, ...]


@dataclass(frozen=True, slots=True)
class Question:
    message: MessageLine
    answered: bool
    answered_by: tuple[str, ...]  # masked names, first reply first


@dataclass(frozen=True, slots=True)
class LinkLine:
    title: str  # link title or the sharer's comment, masked; may be ""
    url: str  # "" when a link card carried no URL
    sender: str
    time: str


@dataclass(frozen=True, slots=True)
class AdLine:
    sender: str
    time: str
    text: str
    score: float
    reason: str  # the verdict's first reason, or ""


@dataclass(frozen=True, slots=True)
class Contributor:
    name: str
    useful: int
    total: int


@dataclass(frozen=True, slots=True)
class DigestData:
    group_id: str
    group_name: str
    topic: str
    day: date
    timezone: str
    counts: DigestCounts
    topics: tuple[Topic, ...]
    questions: tuple[Question, ...]
    links: tuple[LinkLine, ...]
    announcements: tuple[MessageLine, ...]
    ads: tuple[AdLine, ...]
    top_contributors: tuple[Contributor, ...]
    analysis_pending: int  # messages with no verdict at all yet

    @property
    def title(self) -> str:
        return self.group_name or self.topic or self.group_id


# --------------------------------------------------------------------------- building


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The local calendar ``day`` in ``tz`` as a half-open UTC interval ``[start, end)``."""
    start = datetime.combine(day, time.min, tzinfo=tz).astimezone(timezone.utc)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz).astimezone(timezone.utc)
    return start, end


def _short(text: str, limit: int = SHORT_CHARS) -> str:
    """Masked, one line, at most ``limit`` characters. Masks before cutting, so no half number leaks."""
    one_line = _WS.sub(" ", mask(text)).strip()
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def _sender(am: AnalysedMessage) -> str:
    m = am.message
    return mask(m.sender_name.strip() or m.sender_id)


def _line(am: AnalysedMessage, tz: ZoneInfo, limit: int = SHORT_CHARS) -> MessageLine:
    m = am.message
    return MessageLine(m.id, _sender(am), m.sent_at.astimezone(tz).strftime("%H:%M"), _short(m.text, limit))


@functools.lru_cache(maxsize=1)
def _tfidf() -> Any:
    import jieba
    import jieba.analyse  # loads jieba's dictionary and IDF table on first use

    jieba.setLogLevel(logging.WARNING)  # jieba sets its own logger to DEBUG at import
    return jieba.analyse.TFIDF()


def _keywords(texts: Sequence[str], k: int) -> list[str]:
    body = "\n".join(URL_RE.sub(" ", t) for t in texts)
    if not body.strip():
        return []
    out: list[str] = []
    for w in _tfidf().extract_tags(body, topK=k * 4, allowPOS=TOPIC_POS):
        w = w.strip()
        if (
            len(w) >= 2
            and w.lower() not in STOP_WORDS
            and _WORDLIKE.match(w)
            and not w.isdigit()
            and w.lower() not in (o.lower() for o in out)
        ):
            out.append(w)
        if len(out) == k:
            break
    return out


def _topics(useful: Sequence[AnalysedMessage], tz: ZoneInfo) -> tuple[Topic, ...]:
    """Each useful message goes to the highest-ranked keyword it contains, else to 其他."""
    masked = [mask(am.message.text) for am in useful]
    keywords = _keywords(masked, MAX_TOPICS)
    groups: dict[str, list[AnalysedMessage]] = defaultdict(list)
    for am, text in zip(useful, masked):
        low = text.lower()
        kw = next((k for k in keywords if k.lower() in low), OTHER_TOPIC)
        groups[kw].append(am)
    ordered = [k for k in keywords if groups.get(k)]
    ordered.sort(key=lambda k: -len(groups[k]))  # stable: ties keep keyword rank
    if groups.get(OTHER_TOPIC):
        ordered.append(OTHER_TOPIC)
    return tuple(
        Topic(k, len(groups[k]), tuple(_line(am, tz) for am in groups[k][:PER_TOPIC])) for k in ordered
    )


def _urls(am: AnalysedMessage) -> list[str]:
    found = [e.text for e in am.entities if e.type == "URL" and e.text]
    found += [m.group() for m in URL_RE.finditer(am.message.text)]
    return list(dict.fromkeys(u.rstrip(".,;:!?)]") for u in found))


def build_digest(
    messages: Sequence[AnalysedMessage],
    *,
    group_id: str,
    group_name: str,
    topic: str,
    day: date,
    tz: ZoneInfo,
    top_n: int = 5,
    ad_threshold: float = 0.0,
    corroborate: bool = False,
    trusted: frozenset[str] = frozenset(),
) -> DigestData:
    """Summarise one local calendar day of one group. Pure: no I/O, no models.

    Messages of other groups or outside ``day_bounds(day, tz)`` are ignored. A message counts as an
    ad when its "ad" verdict says "ad" with a score of at least ``ad_threshold`` (and, with
    ``corroborate``, when the rule baseline's ``ad_rules`` verdict, if any, agrees); never when
    the sender is in ``trusted`` (the group's admins), as moderation never acts on them.
    """
    start, end = day_bounds(day, tz)
    msgs = sorted(
        (am for am in messages if am.message.group_id == group_id and start <= am.message.sent_at < end),
        key=lambda am: (am.message.sent_at, am.message.id),
    )
    people = [am for am in msgs if am.message.kind is not MessageKind.SYSTEM]

    def is_ad(am: AnalysedMessage) -> bool:
        if am.message.sender_id in trusted:
            return False  # admins' posts (rules, events, referrals) are never treated as ads
        second = am.verdicts.get("ad_rules")
        if corroborate and second is not None and second.label != "ad":
            return False  # the same rule moderation applies: one judge alone is not enough
        v = am.verdicts.get("ad")
        return v is not None and v.label == "ad" and v.score >= ad_threshold

    useful = [am for am in msgs if am.label("useful") == "useful" and not is_ad(am)]
    useless = [am for am in msgs if am.label("useful") == "useless"]
    ads = [am for am in msgs if is_ad(am)]
    asked = [am for am in msgs if am.label("intent") == "question"]
    announced = [am for am in msgs if am.label("intent") == "announcement" and not is_ad(am)]

    kinds = Counter(am.message.kind for am in msgs)
    by_kind = tuple(
        KindCount(k.value, KIND_LABELS.get(k, k.value), n)
        for k, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0].value))
    )

    # Questions: answered when a later message from someone else quotes it or mentions the asker.
    replies: dict[str, list[AnalysedMessage]] = defaultdict(list)
    mentioning: dict[str, list[AnalysedMessage]] = defaultdict(list)
    for am in people:
        if am.message.reply_to:
            replies[am.message.reply_to].append(am)
        for who in set(am.message.mentions):
            mentioning[who].append(am)
    questions: list[Question] = []
    for q in asked:
        qm = q.message
        candidates = sorted(
            {id(am): am for am in replies[qm.id] + mentioning[qm.sender_id]}.values(),
            key=lambda am: (am.message.sent_at, am.message.id),
        )
        by: list[str] = []
        for am in candidates:
            m = am.message
            if m.sent_at < qm.sent_at or m.id == qm.id or m.sender_id == qm.sender_id:
                continue
            name = _sender(am)
            if name not in by:
                by.append(name)
        questions.append(Question(_line(q, tz), bool(by), tuple(by)))

    # Links: link cards and any text carrying a URL, one entry per URL, ads left out.
    links: list[LinkLine] = []
    seen_urls: set[str] = set()
    for am in msgs:
        if is_ad(am):
            continue
        m = am.message
        urls = _urls(am)
        if not urls and m.kind is not MessageKind.LINK:
            continue
        title = _short(URL_RE.sub(" ", m.text))
        hhmm = m.sent_at.astimezone(tz).strftime("%H:%M")
        for url in urls or [""]:
            if url and url in seen_urls:
                continue
            seen_urls.add(url)
            links.append(LinkLine(title, mask(url), _sender(am), hhmm))

    ad_lines = tuple(
        AdLine(
            _sender(am),
            am.message.sent_at.astimezone(tz).strftime("%H:%M"),
            _short(URL_RE.sub("[链接]", am.message.text)),  # never advertise the ad's link
            round(am.verdicts["ad"].score, 2),
            _short(am.verdicts["ad"].reasons[0], 40) if am.verdicts["ad"].reasons else "",
        )
        for am in ads[:MAX_ADS]
    )

    # Contributors: useful messages first, then everything they said that was not an ad.
    total_by: Counter[str] = Counter()
    useful_by: Counter[str] = Counter()
    names: dict[str, str] = {}
    for am in people:
        if is_ad(am):
            continue
        sid = am.message.sender_id
        names.setdefault(sid, _sender(am))
        total_by[sid] += 1
    for am in useful:
        if am.message.kind is not MessageKind.SYSTEM:
            useful_by[am.message.sender_id] += 1
    ranked = sorted(total_by, key=lambda s: (-useful_by[s], -total_by[s], names[s]))
    contributors = tuple(Contributor(names[s], useful_by[s], total_by[s]) for s in ranked[:top_n])

    return DigestData(
        group_id=group_id,
        group_name=mask(group_name),
        topic=topic,
        day=day,
        timezone=tz.key,
        counts=DigestCounts(
            total=len(msgs),
            by_kind=by_kind,
            speakers=len({am.message.sender_id for am in people}),
            useful=len(useful),
            useless=len(useless),
            ads=len(ads),
            questions=len(asked),
            links=len(links),
            announcements=len(announced),
        ),
        topics=_topics(useful, tz),
        questions=tuple(questions[:MAX_QUESTIONS]),
        links=tuple(links[:MAX_LINKS]),
        announcements=tuple(_line(am, tz, LONG_CHARS) for am in announced[:MAX_ANNOUNCEMENTS]),
        ads=ad_lines,
        top_contributors=contributors,
        analysis_pending=sum(1 for am in people if not am.verdicts),
    )


# --------------------------------------------------------------------------- rendering


def _finalize(value: Any) -> Any:
    """Every ``{{ ... }}`` output passes through mask(), a second guard behind build_digest."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return mask(value)
    return value


@functools.lru_cache(maxsize=8)
def _env(templates_dir: Path, autoescape: bool) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def _render(name: str, data: DigestData, templates_dir: Path | str | None, autoescape: bool) -> str:
    folder = Path(templates_dir) if templates_dir is not None else TEMPLATES_DIR
    return _env(folder.resolve(), autoescape).get_template(name).render(d=data)


_ITEM_PREFIXES = ("·", " ", "\u3000", "-", "•")


def _marker(i: int, n: int) -> str:
    return f"({i}/{n})\n"


def _pack(text: str, budget: int) -> list[str]:
    """Text into chunks of at most ``budget`` characters.

    A section (lines between blank lines) that does not fit in what is left of a chunk that is at
    least half full starts a fresh chunk; otherwise it fills chunks line by line. A line longer than
    ``budget`` is hard-split. Blank lines between sections are kept inside a chunk, dropped at its edges.
    """
    chunks: list[str] = []
    cur = ""

    def put(piece: str, sep: str, carry_heading: bool = False) -> None:
        nonlocal cur
        if cur and len(cur) + len(sep) + len(piece) <= budget:
            cur += sep + piece
            return
        if cur:
            head, _, last = cur.rpartition("\n")
            # Do not leave a heading ("【RAG】2 条", "🔥 今日话题") alone at the end of a part.
            is_heading = not last.startswith(_ITEM_PREFIXES)
            if carry_heading and is_heading and head.strip() and len(last) + 1 + len(piece) <= budget:
                chunks.append(head.rstrip("\n"))
                cur = last + "\n" + piece
                return
            chunks.append(cur)
        cur = piece

    for block in re.split(r"\n(?:[ \t]*\n)+", text):
        block = block.strip("\n")
        if not block.strip():
            continue
        fits_here = not cur or len(cur) + 2 + len(block) <= budget
        if len(block) <= budget and (fits_here or len(cur) >= budget // 2):
            put(block, "\n\n")  # the whole section, here or at the top of a fresh chunk
            continue
        for j, line in enumerate(block.split("\n")):
            sep = "\n\n" if j == 0 else "\n"
            if len(line) <= budget:
                put(line, sep, carry_heading=True)
            else:  # hard-split: each piece but the last fills a chunk on its own
                for i in range(0, len(line), budget):
                    put(line[i : i + budget], sep if i == 0 else "")
    if cur:
        chunks.append(cur)
    return chunks


def split_parts(text: str, max_part_chars: int) -> list[str]:
    """Split ``text`` into WeChat-sized parts, each at most ``max_part_chars`` long, marker included.

    Breaks at line boundaries; a line longer than a part is hard-split. With more than one part,
    each starts with a line "(i/n)". Text that fits is returned as one unmarked part.
    """
    text = text.strip("\n")
    if len(text) <= max_part_chars:
        return [text]
    n_guess = 2
    while True:
        budget = max_part_chars - len(_marker(n_guess, n_guess))
        if budget < 1:
            raise ValueError(f"max_part_chars={max_part_chars} leaves no room next to the part marker")
        chunks = _pack(text, budget)
        if len(str(len(chunks))) <= len(str(n_guess)):
            n = len(chunks)
            return [_marker(i, n) + c for i, c in enumerate(chunks, 1)]
        n_guess = len(chunks)


def render_text(
    data: DigestData, max_part_chars: int = 2000, *, templates_dir: Path | str | None = None
) -> list[str]:
    """The digest as WeChat text (templates/digest.txt.j2), split into parts of at most ``max_part_chars``."""
    return split_parts(_render("digest.txt.j2", data, templates_dir, autoescape=False), max_part_chars)


def render_html(data: DigestData, *, templates_dir: Path | str | None = None) -> str:
    """The digest as one standalone HTML page (templates/digest.html.j2), autoescaped."""
    return _render("digest.html.j2", data, templates_dir, autoescape=True)
