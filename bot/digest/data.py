"""What a digest shows: frozen records, built by ``bot.digest.build`` and read by both templates.

Every text in here is already masked (``bot.privacy.mask``) and never comes from a member who
opted out. Times are local ``HH:MM`` strings; ``count`` on a line is how many near-duplicate
messages it stands for (shown as "×N" when above 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class MessageLine:
    """One message as the digest shows it: masked sender and text, local HH:MM."""

    id: str
    sender: str
    time: str
    text: str
    count: int = 1  # near-duplicate messages this line stands for


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
    questions: int  # question threads (a near-duplicate question counts once)
    answered: int  # of those, with at least one answer from someone else
    threads: int  # threads with at least one reply from someone else (questions, links, talks)
    links: int
    announcements: int
    events: int
    duplicates: int  # messages merged into an earlier near-duplicate


@dataclass(frozen=True, slots=True)
class Thread:
    """A question with its answers, a link with its discussion, or a message people replied to."""

    kind: str  # "question" | "link" | "talk"
    root: MessageLine
    url: str  # the link's URL for kind "link" (masked), else ""
    replies: tuple[MessageLine, ...]  # shown replies, most useful first (at most MAX_REPLIES)
    best: MessageLine | None  # the most useful answer from someone other than the root's author
    reply_count: int  # every reply, opted-out members' included
    participants: int  # distinct members, root author included
    names: tuple[str, ...]  # masked names of who answered, first first (opted-out members left out)
    score: float  # usefulness rank: see bot.digest.threads


@dataclass(frozen=True, slots=True)
class Event:
    """An event or a deadline with its resolved local time."""

    kind: str  # "event" | "deadline"
    when: str  # ISO 8601 of the resolved time, for sorting and machines
    day_label: str  # "今天", "明天", "周六 11/28", "12/09"
    clock: str  # "20:00", or "" when only a day is known
    title: str  # masked
    sender: str
    time: str  # when it was said, HH:MM
    count: int = 1  # messages that named it


@dataclass(frozen=True, slots=True)
class LinkLine:
    title: str  # link title or the sharer's comment, masked; may be ""
    url: str  # "" when a link card carried no URL
    sender: str
    time: str
    count: int = 1  # times it was shared


@dataclass(frozen=True, slots=True)
class AdLine:
    sender: str
    time: str
    text: str
    score: float
    reason: str  # the verdict's first reason, or ""
    count: int = 1  # near-duplicate ads this line stands for


@dataclass(frozen=True, slots=True)
class Topic:
    keyword: str
    count: int  # useful messages mentioning it (near-duplicates once)


@dataclass(frozen=True, slots=True)
class Speaker:
    name: str  # masked shown name (an opted-out member is never one)
    messages: int  # their messages in the cluster


@dataclass(frozen=True, slots=True)
class Summary:
    """A one-sentence summary written by a language model (``[llm]``), always shown as such."""

    text: str
    model: str  # the model that wrote it, as the endpoint named it
    sources: tuple[str, ...]  # ids of the cluster's messages it cites (each checked to be in the cluster)


@dataclass(frozen=True, slots=True)
class TopicCluster:
    """The day's useful messages about one thing, grouped by the shared encoder's embeddings."""

    name: str  # its key terms as shown ("LoRA · 学习率")
    terms: tuple[str, ...]
    size: int  # useful messages in it (near-duplicates once)
    contributors: tuple[Speaker, ...]  # main contributors, most messages first
    best: MessageLine  # its most useful message
    messages: tuple[MessageLine, ...]  # every message in it (masked, verified), by time
    summary: Summary | None = None


@dataclass(frozen=True, slots=True)
class HourCount:
    hour: int  # local hour, 0..23
    useful: int
    other: int  # neither useful nor an ad (chit-chat, media, pending)
    ads: int


@dataclass(frozen=True, slots=True)
class Contributor:
    name: str
    useful: int
    total: int


@dataclass(frozen=True, slots=True)
class PeriodCounts:
    """A period's stored counts (``bot.store.activity.group_activity``): the members' chat."""

    messages: int
    speakers: int
    useful: int
    ads: int

    @property
    def useful_share(self) -> float:
        """Useful messages per message, 0..1 (0 for a period without messages)."""
        return self.useful / self.messages if self.messages else 0.0


@dataclass(frozen=True, slots=True)
class TrendLine:
    """One measure against the previous period: words from ``catalogue`` (values and change)."""

    key: str  # "messages" | "speakers" | "useful_share" | "ads"
    label: str
    value: str  # this period, as shown ("812", "34%")
    before: str  # the previous period, as shown
    change: str  # "↑ 12%", "↓ 3 个百分点", "持平"…


@dataclass(frozen=True, slots=True)
class Trends:
    """A week or a month against the previous one of the same length (a period still going on is
    compared with the same stretch of the previous one)."""

    previous: str  # how the header names the previous period
    now: PeriodCounts
    before: PeriodCounts
    lines: tuple[TrendLine, ...]
    best: tuple[Thread, ...]  # the period's best threads (the builder's ranking), top N


@dataclass(frozen=True, slots=True)
class DigestData:
    group_id: str
    group_name: str
    topic: str
    day: date
    timezone: str
    counts: DigestCounts
    threads: tuple[Thread, ...]  # ranked by usefulness
    events: tuple[Event, ...]  # by resolved time
    announcements: tuple[MessageLine, ...]  # ranked by usefulness
    unanswered: tuple[MessageLine, ...]  # questions nobody answered, ranked by usefulness (shown by time)
    links: tuple[LinkLine, ...]  # links nobody discussed, ranked by usefulness
    topics: tuple[Topic, ...]  # biggest first
    activity: tuple[HourCount, ...]  # 24 local hours
    ads: tuple[AdLine, ...]  # masked examples, near-duplicates merged (counts.ads minus their counts: not listed)
    top_contributors: tuple[Contributor, ...]
    analysis_pending: int  # messages with no verdict at all yet
    similarity: str  # how near-duplicates were found ("3-gram jaccard≥0.7"…): a diagnostic, never shown
    # What is covered: one local day (``period`` empty) or any range the header names ("最近 3 小时…").
    period: str = ""
    since: datetime | None = None  # UTC, inclusive
    until: datetime | None = None  # UTC, exclusive
    member: str = ""  # a member digest: the member's shown name
    trends: Trends | None = None  # a week or month digest: against the previous period
    clusters: tuple[TopicCluster, ...] = ()  # topic clusters, biggest first
    scope: str = "day"  # "day" | "hours" | "range" | "week" | "month": what the headings call the period

    @property
    def title(self) -> str:
        return self.group_name or self.topic or self.group_id
