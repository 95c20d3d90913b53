"""Threads: a question with its answers, a link with its discussion, a message people replied to.

Messages are read in time order (ads and system messages never join a thread). Each one joins
the first thread that one of these rules gives, else it may start one:

1. **Reply**: it replies to a message (``reply_to``, or WeChat's quote "name：text" matched to
   the latest earlier message by that name starting with that text): the thread of that message.
   A message replied to that was in no thread starts one.
2. **Link comment**: its sender shared a link in the last :data:`LINK_COMMENT` and nobody has
   answered yet: the sharer's comment on the link.
3. **Thanks and follow-ups**: it mentions someone who replied in a thread its sender started:
   that thread ("@李工 @Kevin 跑起来了，感谢").
4. **Mention of an asker**: it mentions someone who asked a question today: that member's
   question sharing the most terms with it (``bot.digest.topics.terms``), provided they share one,
   or the question was active in the last :data:`MENTION_WINDOW`.
5. **Close follow-up**: its sender already took part in a thread active in the last
   :data:`FOLLOW_WINDOW` (the asker adding detail, an answerer going on): the latest such thread;
   not when it opens a new question ("再问一个", "顺便问下", …).
6. **Close answer**: the intent verdict calls it an answer, and someone else's question active in
   the last :data:`ANSWER_WINDOW` shares a term with it: that question.

Where several threads qualify (rules 3, 4, 6), the one sharing the most terms with the message
(over all its messages) wins, then the latest active.

Otherwise a link (a link card or a URL) starts a link thread, and a question (``lines.asks``) a
question thread. A question that is a near-duplicate of an earlier question root (``dedupe``), or a
link to a URL already shared, joins that thread as a copy ("×2") instead: the re-asked question
and its answers are one thread.

Ranking (:func:`score`): the usefulness of the root, plus that of every reply from someone else,
plus 0.5 per participant beyond the first and 0.5 per copy. Usefulness is ``lines.usefulness``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.digest import lines
from bot.digest.dedupe import Clusters
from bot.digest.topics import terms
from bot.message import MessageKind
from bot.records import AnalysedMessage

LINK_COMMENT = timedelta(minutes=2)
FOLLOW_WINDOW = timedelta(minutes=5)
ANSWER_WINDOW = timedelta(minutes=10)
MENTION_WINDOW = timedelta(hours=1)

_NEW_QUESTION = re.compile(r"^\s*(?:再问|顺便问|还有个|还有一个|另外问|另外请教|请教|问个|问下|问一下|求助|换个问题)")
_QUOTE = re.compile(r"^\s*(?P<name>[^：:\n]{1,40})[：:]\s*(?P<text>.+)$", re.S)


@dataclass(eq=False)
class RawThread:
    root: AnalysedMessage
    kind: str  # "question" | "link" | "talk"
    url: str = ""
    replies: list[AnalysedMessage] = field(default_factory=list)
    copies: list[AnalysedMessage] = field(default_factory=list)  # near-duplicate roots merged in
    direct: set[str] = field(default_factory=set)  # ids of replies to the root itself or its asker
    last: datetime = field(init=False)
    people: set[str] = field(default_factory=set)
    words: set[str] = field(default_factory=set)  # terms of every message in it

    def __post_init__(self) -> None:
        self.last = self.root.message.sent_at
        self.people.add(self.root.message.sender_id)
        self.words |= terms(self.root.message.text)

    def add(self, am: AnalysedMessage, copy: bool = False, direct: bool = False) -> None:
        (self.copies if copy else self.replies).append(am)
        if direct:
            self.direct.add(am.message.id)
        self.last = am.message.sent_at
        self.people.add(am.message.sender_id)
        self.words |= terms(am.message.text)

    @property
    def author(self) -> str:
        return self.root.message.sender_id

    def answers(self) -> list[AnalysedMessage]:
        """Replies from anyone but the root's author (and the authors of its copies)."""
        askers = {self.author} | {c.message.sender_id for c in self.copies}
        return [r for r in self.replies if r.message.sender_id not in askers]

    def repliers(self) -> set[str]:
        return {r.message.sender_id for r in self.answers()}


def _kind(am: AnalysedMessage) -> str:
    if am.message.kind is MessageKind.LINK or lines.urls(am):
        return "link"
    return "question" if lines.asks(am) else "talk"


def _quoted(am: AnalysedMessage, earlier: Sequence[AnalysedMessage]) -> AnalysedMessage | None:
    """The message a "name：text" quote shows: the latest earlier one by that name (or anyone,
    when the name matches nobody) whose text starts with the quoted text."""
    m = _QUOTE.match(am.message.quote or "")
    if not m:
        return None
    name, text = m["name"].strip(), re.sub(r"\s+", " ", m["text"]).strip()
    probe = text[:20]
    if not probe:
        return None
    by_text = [e for e in reversed(earlier) if re.sub(r"\s+", " ", e.message.text).strip().startswith(probe)]
    by_name = [e for e in by_text if e.message.sender_name.strip() == name]
    return next(iter(by_name or by_text), None)


def find_threads(
    messages: Sequence[AnalysedMessage], *, ads: set[str], clusters: Clusters
) -> tuple[list[RawThread], dict[str, RawThread]]:
    """Threads of one day's ``messages`` (time order), and which thread each message is in."""
    by_id = {am.message.id: am for am in messages}
    threads: list[RawThread] = []
    thread_of: dict[str, RawThread] = {}
    seen: list[AnalysedMessage] = []

    def start(root: AnalysedMessage, kind: str) -> RawThread:
        t = RawThread(root, kind, url=next(iter(lines.urls(root)), "") if kind == "link" else "")
        threads.append(t)
        thread_of[root.message.id] = t
        return t

    def join(t: RawThread, am: AnalysedMessage, copy: bool = False, direct: bool = False) -> None:
        t.add(am, copy, direct)
        thread_of[am.message.id] = t

    def closest(candidates: list[RawThread], words: frozenset[str]) -> tuple[RawThread | None, int]:
        """The candidate sharing the most terms with ``words``; the latest active on a tie."""
        best: tuple[int, datetime] | None = None
        found = None
        for t in candidates:
            key = (len(words & t.words), t.last)
            if best is None or key > best:
                best, found = key, t
        return found, (best[0] if best else 0)

    for am in messages:
        m = am.message
        if m.id in ads or not (lines.has_text(am) or m.kind is MessageKind.FILE):
            seen.append(am)
            continue
        now = m.sent_at
        words = terms(m.text)
        target: RawThread | None = None
        direct = False

        # 1. an explicit reply or quote
        parent = by_id.get(m.reply_to) if m.reply_to else None
        if parent is None and m.quote and not m.reply_to:
            parent = _quoted(am, seen)
        if parent is not None and parent.message.sent_at <= now and parent.message.id != m.id:
            if parent.message.id in ads:
                seen.append(am)
                continue  # a reaction to an ad ("？？？") is nobody's thread
            target = thread_of.get(parent.message.id) or start(parent, _kind(parent))
            direct = parent.message.id == target.root.message.id

        recent = sorted(threads, key=lambda t: t.last, reverse=True)
        # 2. the sharer's comment on the link just shared
        if target is None and not lines.urls(am):
            target = next(
                (
                    t
                    for t in recent
                    if t.kind == "link"
                    and t.author == m.sender_id
                    and not t.answers()
                    and now - t.root.message.sent_at <= LINK_COMMENT
                ),
                None,
            )
        # 3. thanks and follow-ups: mentions someone who answered in a thread the sender started
        mentioned = set(m.mentions) - {m.sender_id}
        if target is None and mentioned:
            target, _ = closest([t for t in recent if t.author == m.sender_id and mentioned & t.repliers()], words)
        # 4. a mention of someone who asked a question today
        if target is None and mentioned:
            asked = [t for t in recent if t.kind == "question" and t.author in mentioned]
            t, shared = closest(asked, words)
            if t is not None and (shared or now - t.last <= MENTION_WINDOW):
                target, direct = t, True
        new_question = lines.asks(am) and bool(_NEW_QUESTION.search(m.text))
        # 5. a close follow-up by someone already in the thread
        if target is None and not new_question:
            target = next((t for t in recent if m.sender_id in t.people and now - t.last <= FOLLOW_WINDOW), None)
        # 6. an answer right after someone else's question, on its subject
        if target is None and am.label("intent") == "answer":
            open_questions = [
                t for t in recent if t.kind == "question" and t.author != m.sender_id and now - t.last <= ANSWER_WINDOW
            ]
            t, shared = closest(open_questions, words)
            if t is not None and shared:
                target = t
        if target is not None:
            join(target, am, direct=direct)
        else:
            kind = _kind(am)
            if kind == "question":
                leader = clusters.of(m.id)
                twin = next(
                    (t for t in threads if t.kind == "question" and clusters.of(t.root.message.id) == leader), None
                )
                if twin is not None and leader != m.id:
                    join(twin, am, copy=True)
                else:
                    start(am, kind)
            elif kind == "link":
                url = next(iter(lines.urls(am)), "")
                twin = next((t for t in threads if url and t.url == url), None)
                if twin is not None:
                    join(twin, am, copy=True)
                else:
                    start(am, kind)
        seen.append(am)
    return threads, thread_of


def score(t: RawThread, usefulness: dict[str, float]) -> float:
    """Root usefulness + usefulness of each answer + 0.5 per extra participant + 0.5 per copy."""
    u = usefulness.get(t.root.message.id, 0.5)
    u += sum(usefulness.get(a.message.id, 0.5) for a in t.answers())
    return round(u + 0.5 * (len(t.people) - 1) + 0.5 * len(t.copies), 3)
