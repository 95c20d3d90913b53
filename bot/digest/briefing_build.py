"""One person's briefing across their groups: the groups' digests (``DigestData``, already built and
verified one by one) and stored messages into one :class:`BriefingData`. No store, no I/O.

What it holds, and how it is chosen:

- ``threads``: the few threads that matter most across the groups — each group's threads as its
  digest ranked them (``Thread.score``: usefulness for *that* group's topic, answers, participants;
  see ``bot.digest.threads.score``), merged by that score, at most :data:`PER_GROUP` from one
  group so one busy group does not fill the list;
- ``events``: every group's events and deadlines, merged by their resolved time;
- ``questions``: messages that @mention the recipient or quote one of their messages and ask
  something (or say something of substance to them); questions they have not answered first;
- ``links``: each group's links worth opening (its digest's ranking), taken in turn from each group;
- ``quiet``: one count line per group that gave none of the above.

:func:`enforce` checks every quote and name against the stored messages of the group it is shown
under (``bot.digest.verify.Sources``: rule 5), dropping what fails; opted-out members are never
quoted nor named.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TypeVar
from zoneinfo import ZoneInfo

from bot.digest import lines
from bot.digest.data import DigestData, Event, LinkLine, MessageLine, Thread
from bot.digest.verify import Problem, QuoteError, Sources
from bot.message import MessageKind
from bot.records import AnalysedMessage

log = logging.getLogger(__name__)

MAX_THREADS = 5
PER_GROUP = 2  # threads from one group, at most
MAX_EVENTS = 10
MAX_QUESTIONS = 8
MAX_LINKS = 5
QUESTION_CHARS = 100
MIN_SAID = 8  # characters (mentions taken off): a non-question to the recipient shorter than this is left out


@dataclass(frozen=True, slots=True)
class GroupPart:
    """One group's contribution: its digest for the period and the stored messages it was built from."""

    data: DigestData
    messages: Sequence[AnalysedMessage]
    opted_out: frozenset[str] = frozenset()
    ad_threshold: float = 0.9  # the group's moderation.ad_threshold: an ad is never a question to the recipient


@dataclass(frozen=True, slots=True)
class BriefThread:
    group_id: str
    group: str  # the group's shown name
    thread: Thread


@dataclass(frozen=True, slots=True)
class BriefEvent:
    group_id: str
    group: str
    event: Event


@dataclass(frozen=True, slots=True)
class BriefQuestion:
    """A message addressed to the recipient: it @mentions them (``how`` "mention") or quotes one of
    their messages (``how`` "reply")."""

    group_id: str
    group: str
    line: MessageLine
    how: str  # "mention" | "reply"
    asks: bool  # worded as a question
    replied: bool  # the recipient has answered it (quoted it, or @mentioned its sender after it)

    @property
    def waiting(self) -> bool:
        """A question the recipient has not answered yet."""
        return self.asks and not self.replied


@dataclass(frozen=True, slots=True)
class BriefLink:
    group_id: str
    group: str
    link: LinkLine


@dataclass(frozen=True, slots=True)
class GroupCount:
    """A group the briefing shows nothing else of: how much was said there."""

    group_id: str
    group: str
    messages: int
    speakers: int
    useful: int


@dataclass(frozen=True, slots=True)
class BriefingData:
    recipient: str  # contact id
    day: date
    timezone: str
    period: str  # "" for one local day, else how the header names the range
    groups: int  # groups covered
    active: int  # of those, with at least one message
    messages: int  # messages in all of them
    threads: tuple[BriefThread, ...]
    events: tuple[BriefEvent, ...]  # by resolved time
    questions: tuple[BriefQuestion, ...]  # questions waiting for the recipient first, then by time
    links: tuple[BriefLink, ...]
    quiet: tuple[GroupCount, ...]  # in the configured order

    @property
    def empty(self) -> bool:
        """No group had a message in the period: nothing to send."""
        return self.messages == 0


def build_briefing(
    parts: Sequence[GroupPart], *, recipient: str, day: date, tz: ZoneInfo, period: str = ""
) -> BriefingData:
    """The briefing of ``parts`` (one per group, in the recipient's configured order) for ``recipient``."""
    ranked = sorted(
        ((p, th) for p in parts for th in p.data.threads),
        key=lambda pt: (-pt[1].score, pt[1].root.time),
    )
    threads: list[BriefThread] = []
    taken: dict[str, int] = {}
    for p, th in ranked:
        gid = p.data.group_id
        if len(threads) >= MAX_THREADS:
            break
        if taken.get(gid, 0) >= PER_GROUP:
            continue
        taken[gid] = taken.get(gid, 0) + 1
        threads.append(BriefThread(gid, p.data.title, th))

    events = sorted(
        (BriefEvent(p.data.group_id, p.data.title, e) for p in parts for e in p.data.events),
        key=lambda be: (be.event.when, be.event.time, be.group_id),
    )[:MAX_EVENTS]

    questions = sorted(
        (q for p in parts for q in addressed(p, recipient, tz)),
        key=lambda q: (not q.waiting, q.line.time, q.group_id),
    )[:MAX_QUESTIONS]

    links: list[BriefLink] = []
    queues = [[BriefLink(p.data.group_id, p.data.title, link) for link in p.data.links] for p in parts]
    while len(links) < MAX_LINKS and any(queues):
        for q in queues:
            if q and len(links) < MAX_LINKS:
                links.append(q.pop(0))

    shown = {t.group_id for t in threads} | {e.group_id for e in events}
    shown |= {q.group_id for q in questions} | {link.group_id for link in links}
    quiet = tuple(
        GroupCount(p.data.group_id, p.data.title, p.data.counts.total, p.data.counts.speakers, p.data.counts.useful)
        for p in parts
        if p.data.group_id not in shown
    )
    return BriefingData(
        recipient=recipient,
        day=day,
        timezone=tz.key,
        period=period,
        groups=len(parts),
        active=sum(1 for p in parts if p.data.counts.total),
        messages=sum(p.data.counts.total for p in parts),
        threads=tuple(threads),
        events=tuple(events),
        questions=tuple(questions),
        links=tuple(links),
        quiet=quiet,
    )


def addressed(part: GroupPart, recipient: str, tz: ZoneInfo) -> list[BriefQuestion]:
    """The messages of one group that @mention ``recipient`` or quote one of their messages, from
    members who did not opt out, that ask something or say something of substance; never an ad."""
    msgs = sorted(part.messages, key=lambda am: (am.message.sent_at, am.message.id))
    mine = {am.message.id for am in msgs if am.message.sender_id == recipient}
    hidden = {am.message.sender_name.strip() for am in msgs if am.message.sender_id in part.opted_out}
    liner = lines.Liner(tz, hidden)
    out = []
    for i, am in enumerate(msgs):
        m = am.message
        if m.sender_id == recipient or m.sender_id in part.opted_out or m.kind is MessageKind.SYSTEM:
            continue
        how = "mention" if recipient in m.mentions else "reply" if m.reply_to in mine else ""
        if not how or not lines.has_text(am) or _is_ad(am, part.ad_threshold):
            continue
        # said to them with a "？" it is a question, whatever the intent head makes of it
        asks = lines.asks(am) or lines.worded_as_question(am)
        line = liner.line(am, QUESTION_CHARS, to=False)
        if not asks and len(line.text) < MIN_SAID:
            continue  # "@陈博 谢谢" needs nothing from them
        replied = any(
            later.message.sender_id == recipient
            and (later.message.reply_to == m.id or m.sender_id in later.message.mentions)
            for later in msgs[i + 1 :]
        )
        out.append(BriefQuestion(part.data.group_id, part.data.title, line, how, asks, replied))
    return out


def _is_ad(am: AnalysedMessage, threshold: float) -> bool:
    v = am.verdicts.get("ad")
    return v is not None and v.label == "ad" and v.score >= threshold


# ------------------------------------------------------------------------------ rule 5


def problems(data: BriefingData, parts: Sequence[GroupPart]) -> list[Problem]:
    """Every quote or name in ``data`` that the stored messages of the group it is shown under do not back."""
    found: list[Problem] = []
    _checked(data, parts, found)
    return found


def check(data: BriefingData, parts: Sequence[GroupPart]) -> None:
    """Raise :class:`QuoteError` when anything in ``data`` is not backed by its group's messages."""
    found = problems(data, parts)
    if found:
        raise QuoteError(found)


def enforce(data: BriefingData, parts: Sequence[GroupPart]) -> BriefingData:
    """``data`` without the lines that fail, each failure logged at ERROR (a builder bug)."""
    found: list[Problem] = []
    kept = _checked(data, parts, found)
    for p in found:
        log.error("briefing for %s %s: dropped a line no stored message backs: %s", data.recipient, data.day, p)
    return kept


class _Checker:
    """Each line against the stored messages of the group it is shown under."""

    def __init__(self, parts: Sequence[GroupPart], tz: ZoneInfo, found: list[Problem]) -> None:
        self.sources = {p.data.group_id: Sources(p.messages, tz, p.opted_out) for p in parts}
        self.found = found

    def source(self, where: str, group_id: str) -> Sources | None:
        src = self.sources.get(group_id)
        if src is None:
            self.found.append(Problem(where, "unknown", f"group {group_id!r} is not one of the briefing's"))
        return src

    def ok(self, where: str, issues: list[tuple[str, str]]) -> bool:
        self.found.extend(Problem(where, kind, detail) for kind, detail in issues)
        return not issues

    def keep(
        self, items: Sequence[_Line], name: str, test: Callable[[Sources, _Line], list[tuple[str, str]]]
    ) -> tuple[_Line, ...]:
        kept = []
        for i, item in enumerate(items):
            src = self.source(f"{name}[{i}]", item.group_id)
            if src is not None and self.ok(f"{name}[{i}]", test(src, item)):
                kept.append(item)
        return tuple(kept)

    def thread(self, i: int, bt: BriefThread) -> BriefThread | None:
        """None when its opener fails (the thread goes whole); a failing best answer becomes none."""
        where, th = f"threads[{i}]", bt.thread
        src = self.source(where, bt.group_id)
        if src is None or not self.ok(f"{where}.root", src.message_line(th.root)):
            return None
        best = th.best
        if best is not None and not self.ok(f"{where}.best", src.message_line(best)):
            best = None
        replies = tuple(r for j, r in enumerate(th.replies) if self.ok(f"{where}.replies[{j}]", src.message_line(r)))
        names = tuple(n for j, n in enumerate(th.names) if self.ok(f"{where}.names[{j}]", src.name(n)))
        return dataclasses.replace(bt, thread=dataclasses.replace(th, best=best, replies=replies, names=names))


_Line = TypeVar("_Line", BriefEvent, BriefQuestion, BriefLink)


def _checked(data: BriefingData, parts: Sequence[GroupPart], found: list[Problem]) -> BriefingData:
    c = _Checker(parts, ZoneInfo(data.timezone), found)
    threads = [t for i, bt in enumerate(data.threads) if (t := c.thread(i, bt)) is not None]
    return dataclasses.replace(
        data,
        threads=tuple(threads),
        events=c.keep(data.events, "events", lambda s, be: s.event(be.event)),
        questions=c.keep(data.questions, "questions", lambda s, q: s.message_line(q.line)),
        links=c.keep(data.links, "links", lambda s, bl: s.texted(bl.link.sender, bl.link.time, bl.link.title, "link")),
    )
