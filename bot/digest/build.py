"""One group's day of analysed messages into a :class:`DigestData`.

``build_digest`` reads the stored verdicts (analyzer "ad": ad/normal, "useful": useful/useless,
"intent": question/answer/announcement/...) and entities; it never runs a classifier. A message
may lack a verdict (analysis pending) or carry a "skipped" one; both count as "not that label".
Two things may be handed in by the caller: ``embed`` (the shared encoder's embeddings, for
near-duplicates; without it a lexical measure is used) and ``extract_times`` (the pattern
extractor, for messages stored before entities were extracted).

Members in ``opted_out`` are counted in every total and never quoted: none of their messages,
names or "@name" mentions appears in a line, and a thread they started is not shown.
Every text taken from a message is masked (``bot.privacy.mask``) here, and again by the
templates' ``finalize`` hook.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from bot import catalogue
from bot.digest import clusters as topic_clusters, dedupe, lines, threads as threading
from bot.digest.data import (
    AdLine,
    Contributor,
    DigestCounts,
    DigestData,
    HourCount,
    KindCount,
    LinkLine,
    MessageLine,
    PeriodCounts,
    Speaker,
    Thread,
    TopicCluster,
    TrendLine,
    Trends,
)
from bot.digest.events import TimeExtractor, find_events
from bot.digest.lines import LONG_CHARS, Liner, has_text, is_link, sender, short, urls
from bot.digest.topics import topics as find_topics
from bot.message import MessageKind
from bot.privacy import mask
from bot.records import AnalysedMessage
from nlp.patterns import strip_urls

# How much of each list the data keeps (the text template shows fewer); totals are in counts.
MAX_THREADS = 8
MAX_REPLIES = 5
MAX_UNANSWERED = 6
MIN_UNANSWERED_USEFUL = 0.5  # a short question less useful than this ("今天怎么回事") is left out
LONG_QUESTION = 20  # characters: a question this long is kept whatever the useful head says
MAX_ANNOUNCEMENTS = 5
MAX_LINKS = 10
MAX_ADS = 10
MAX_BEST = 5  # a week's or a month's best threads
MAX_SPEAKERS = 3  # a topic cluster's main contributors shown

KIND_LABELS: dict[MessageKind, str] = {k: catalogue.DIGEST_KIND_NAMES[k.value] for k in MessageKind}

# An announcement says so: a 【…】 head, or a word that announces.
_ANNOUNCE = re.compile(r"^\s*【[^】]{2,24}】|^\s*(?:公告|通知|群公告|重要|提醒|再提醒|内推|招聘)|群规")


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The local calendar ``day`` in ``tz`` as a half-open UTC interval ``[start, end)``."""
    start = datetime.combine(day, time.min, tzinfo=tz).astimezone(timezone.utc)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz).astimezone(timezone.utc)
    return start, end


@dataclass(frozen=True, slots=True)
class Period:
    """What a digest covers other than one local day: the half-open UTC interval ``[since, until)``
    and how the header names it (``catalogue.digest_period_*``)."""

    since: datetime
    until: datetime
    label: str
    scope: str = "range"  # "hours" | "range" | "week" | "month": what the headings call it (catalogue)
    # A week or a month: the previous one of the same length (``[since, until)`` in UTC; a period
    # still going on is compared with the same stretch of the previous one) and its name.
    previous: tuple[datetime, datetime] | None = None
    previous_label: str = ""

    def last_day(self, tz: ZoneInfo) -> date:
        """The local day of the period's last instant: the digest's ``day`` (events are dated from it)."""
        return (self.until - timedelta(microseconds=1)).astimezone(tz).date()


def hours_period(now: datetime, hours: int, tz: ZoneInfo) -> Period:
    """The last ``hours`` hours up to ``now``: "最近 3 小时（14:05–17:05）"."""
    since = now - timedelta(hours=hours)
    return Period(since, now, catalogue.digest_period_hours(hours, since.astimezone(tz), now.astimezone(tz)), "hours")


def week_period(day: date, tz: ZoneInfo, *, previous: bool = False, now: datetime | None = None) -> Period:
    """The local week (Monday to Sunday) holding ``day``, or the one before it with ``previous``;
    a week still going on ends at ``now`` when given (so its events are dated from today)."""
    monday = day - timedelta(days=day.weekday() + (7 if previous else 0))
    since, _ = day_bounds(monday, tz)
    _, end = day_bounds(monday + timedelta(days=6), tz)
    until = now.astimezone(timezone.utc) if now is not None and since < now < end else end
    before = monday - timedelta(days=7)
    return Period(
        since,
        until,
        catalogue.digest_period_week(monday, monday + timedelta(days=6), previous=previous),
        "week",
        previous=_same_stretch(since, until, end, day_bounds(before, tz)[0], since),
        previous_label=catalogue.digest_previous_week(before, before + timedelta(days=6)),
    )


def month_period(day: date, tz: ZoneInfo, *, previous: bool = False, now: datetime | None = None) -> Period:
    """The local calendar month holding ``day``, or the one before it with ``previous``; a month
    still going on ends at ``now`` when given. Compared with the month before it."""
    first = day.replace(day=1)
    if previous:
        first = (first - timedelta(days=1)).replace(day=1)
    after = (first + timedelta(days=32)).replace(day=1)
    before = (first - timedelta(days=1)).replace(day=1)
    since, end = day_bounds(first, tz)[0], day_bounds(after, tz)[0]
    until = now.astimezone(timezone.utc) if now is not None and since < now < end else end
    return Period(
        since,
        until,
        catalogue.digest_period_month(first, previous=previous),
        "month",
        previous=_same_stretch(since, until, end, day_bounds(before, tz)[0], since),
        previous_label=catalogue.digest_previous_month(before),
    )


def _same_stretch(
    since: datetime, until: datetime, end: datetime, before: datetime, before_end: datetime
) -> tuple[datetime, datetime]:
    """The previous period ``[before, before_end)``; when ``[since, until)`` is still going on (``until``
    before its natural ``end``), only as much of it as has passed (a whole month is compared with the
    whole month before it, whatever their lengths)."""
    return (before, min(before_end, before + (until - since))) if until < end else (before, before_end)


def trends(now: PeriodCounts, before: PeriodCounts, previous: str, best: Sequence[Thread]) -> Trends:
    """This period's counts against the previous period's, in words (``catalogue``)."""
    names = catalogue.DIGEST_TREND_NAMES
    lines_ = [
        TrendLine(
            key,
            names[key],
            str(getattr(now, key)),
            str(getattr(before, key)),
            catalogue.digest_trend_change(getattr(now, key), getattr(before, key)),
        )
        for key in ("messages", "speakers")
    ]
    lines_.append(
        TrendLine(
            "useful_share",
            names["useful_share"],
            catalogue.digest_share(now.useful_share),
            catalogue.digest_share(before.useful_share),
            catalogue.digest_trend_points(now.useful_share, before.useful_share),
        )
    )
    lines_.append(
        TrendLine(
            "ads", names["ads"], str(now.ads), str(before.ads), catalogue.digest_trend_change(now.ads, before.ads)
        )
    )
    return Trends(previous, now, before, tuple(lines_), tuple(best[:MAX_BEST]))


def range_period(since: datetime, until: datetime, tz: ZoneInfo) -> Period:
    """Any ``[since, until)`` (aware datetimes): named by its local ends."""
    return Period(
        since.astimezone(timezone.utc),
        until.astimezone(timezone.utc),
        catalogue.digest_period_between(since.astimezone(tz), until.astimezone(tz)),
    )


def member_messages(
    messages: Sequence[AnalysedMessage], member: str, clusters: dedupe.Clusters, ads: set[str]
) -> list[AnalysedMessage]:
    """What a member digest covers: the member's own messages and every message of each thread the
    member took part in (started, replied in, or asked again), in the order given."""
    raw_threads, _ = threading.find_threads(messages, ads=ads, clusters=clusters)
    keep = {am.message.id for am in messages if am.message.sender_id == member}
    for t in raw_threads:
        if member in t.people:
            keep |= {am.message.id for am in (t.root, *t.replies, *t.copies)}
    return [am for am in messages if am.message.id in keep]


def _is_ad(am: AnalysedMessage, trusted: frozenset[str], corroborate: bool, ad_threshold: float) -> bool:
    if am.message.sender_id in trusted:
        return False  # admins' posts (rules, events, referrals) are never treated as ads
    second = am.verdicts.get("ad_rules")
    if corroborate and second is not None and second.label != "ad":
        return False  # the same rule moderation applies: one judge alone is not enough
    v = am.verdicts.get("ad")
    return v is not None and v.label == "ad" and v.score >= ad_threshold


def _is_announcement(am: AnalysedMessage, trusted: bool) -> bool:
    """An admin's post the intent verdict calls an announcement or a job post, that announces
    itself (``_ANNOUNCE``) or is long; anyone else's only when it announces itself too. Never a
    message addressed to someone (it mentions a member) or a link."""
    m = am.message
    if not has_text(am) or m.mentions or m.reply_to or is_link(am):
        return False
    cue = bool(_ANNOUNCE.search(m.text))
    intent = am.label("intent") in ("announcement", "job_post")
    if trusted:
        return intent or cue or len(m.text) >= 40
    return cue and (intent or len(m.text) >= 20)


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
    opted_out: Collection[str] = frozenset(),
    embed: dedupe.Embedder | None = None,
    extract_times: TimeExtractor | None = None,
    period: Period | None = None,
    member: str | None = None,
    member_name: str = "",
) -> DigestData:
    """Summarise one local calendar day of one group, or any ``period`` (then ``day`` is the local
    day its events are dated from: ``Period.last_day``).

    Messages of other groups or outside ``day_bounds(day, tz)`` (or the period) are ignored. With
    ``member`` (a contact id), only what :func:`member_messages` keeps is summarised and the
    header names ``member_name``; the caller refuses an opted-out member. A message counts as an
    ad when its "ad" verdict says "ad" with a score of at least ``ad_threshold`` (and, with
    ``corroborate``, when the rule baseline's ``ad_rules`` verdict, if any, agrees); never when
    the sender is in ``trusted`` (the group's admins), as moderation never acts on them.
    """
    start, end = (period.since, period.until) if period is not None else day_bounds(day, tz)
    msgs = sorted(
        (am for am in messages if am.message.group_id == group_id and start <= am.message.sent_at < end),
        key=lambda am: (am.message.sent_at, am.message.id),
    )
    people = [am for am in msgs if am.message.kind is not MessageKind.SYSTEM]
    hidden = frozenset(opted_out)
    if member is not None:
        return _member_digest(
            msgs,
            member,
            member_name,
            embed=embed,
            ads={am.message.id for am in msgs if _is_ad(am, trusted, corroborate, ad_threshold)},
            group_id=group_id,
            group_name=group_name,
            topic=topic,
            day=day,
            tz=tz,
            top_n=top_n,
            ad_threshold=ad_threshold,
            corroborate=corroborate,
            trusted=trusted,
            opted_out=hidden,
            extract_times=extract_times,
            period=period,
        )

    ad_ids = {am.message.id for am in msgs if _is_ad(am, trusted, corroborate, ad_threshold)}
    useful_ids = {am.message.id for am in msgs if am.label("useful") == "useful" and am.message.id not in ad_ids}
    use = {am.message.id: lines.usefulness(am, am.message.id in ad_ids) for am in msgs}
    liner = Liner(tz, {am.message.sender_name.strip() for am in msgs if am.message.sender_id in hidden})

    def shown(am: AnalysedMessage) -> bool:
        return am.message.sender_id not in hidden

    clusters = dedupe.cluster([(am.message.id, am.message.text) for am in people if has_text(am)], embed)

    # Threads: questions with answers, links with discussion, replied-to messages.
    raw_threads, _ = threading.find_threads(people, ads=ad_ids, clusters=clusters)
    shown_threads: list[Thread] = []
    for t in sorted(raw_threads, key=lambda t: (-threading.score(t, use), t.root.message.sent_at)):
        if not t.answers() or not shown(t.root):
            continue
        shown_threads.append(_thread(t, liner, use, clusters, shown))
    question_threads = [t for t in raw_threads if t.kind == "question"]

    def asked_weight(t: threading.RawThread) -> float:
        """Usefulness, 0.5 per time it was asked again, and up to 0.5 for length (the useful
        head misreads long technical questions, see lines.usefulness)."""
        return use[t.root.message.id] + 0.5 * len(t.copies) + min(len(t.root.message.text), 60) / 120

    unanswered = [  # only what is worded as a question: the intent verdict alone takes remarks for questions
        t
        for t in question_threads
        if not t.answers()
        and shown(t.root)
        and lines.worded_as_question(t.root)
        and (use[t.root.message.id] >= MIN_UNANSWERED_USEFUL or len(t.root.message.text.strip()) >= LONG_QUESTION)
    ]
    unanswered.sort(key=lambda t: (-asked_weight(t), t.root.message.sent_at))

    visible = [am for am in people if am.message.id not in ad_ids and shown(am)]
    events, event_ids = find_events(visible, day=day, tz=tz, liner=liner, extract_times=extract_times)

    # Announcements: ranked by usefulness (admins first), near-duplicates once, events left out.
    announced_all = [
        am for am in people if am.message.id not in ad_ids and _is_announcement(am, am.message.sender_id in trusted)
    ]
    announced = _unique(
        sorted(
            (am for am in announced_all if shown(am) and am.message.id not in event_ids),
            key=lambda am: (
                -(use[am.message.id] + (0.5 if am.message.sender_id in trusted else 0.0)),
                am.message.sent_at,
            ),
        ),
        clusters,
    )

    # Links: one per URL (or link card), ranked by usefulness and shares; the roots of threads
    # shown above are left out, links inside them come last.
    thread_roots = {t.root.id for t in shown_threads}
    in_threads = {r.message.id for t in raw_threads if t.answers() for r in t.replies}
    link_msgs: dict[str, list[AnalysedMessage]] = {}
    for am in people:
        if am.message.id in ad_ids or not is_link(am):
            continue
        for url in urls(am) or [f"card:{am.message.id}"]:
            link_msgs.setdefault(url, []).append(am)
    links = []
    for url, shares in link_msgs.items():
        first = next((am for am in shares if shown(am)), None)
        if first is None or first.message.id in thread_roots:
            continue
        title = short(strip_urls(first.message.text))
        rank = use[first.message.id] + 0.5 * (len(shares) - 1) - (0.5 if first.message.id in in_threads else 0.0)
        links.append(
            (
                rank,
                first.message.sent_at,
                LinkLine(
                    liner.text(title),
                    "" if url.startswith("card:") else mask(url),
                    sender(first),
                    liner.hhmm(first),
                    len(shares),
                ),
            )
        )
    links.sort(key=lambda x: (-x[0], x[1]))

    # Ads: masked examples, near-duplicates merged, never an opted-out member's.
    ads = [am for am in msgs if am.message.id in ad_ids]
    ad_lines = []
    for am in _unique([a for a in ads if shown(a)], clusters):
        v = am.verdicts["ad"]
        n = sum(1 for a in ads if clusters.of(a.message.id) == clusters.of(am.message.id))
        ad_lines.append(
            AdLine(
                sender(am),
                liner.hhmm(am),
                liner.text(strip_urls(am.message.text, catalogue.LINK_STAND_IN)),  # never advertise the ad's link
                round(v.score, 2),
                short(v.reasons[0], 40) if v.reasons else "",
                n,
            )
        )

    # Who was active: useful messages first, then everything they said that was not an ad.
    total_by: Counter[str] = Counter()
    useful_by: Counter[str] = Counter()
    names: dict[str, str] = {}
    for am in people:
        if am.message.id in ad_ids or not shown(am):
            continue
        sid = am.message.sender_id
        names.setdefault(sid, sender(am))
        total_by[sid] += 1
        useful_by[sid] += am.message.id in useful_ids
    ranked = sorted(total_by, key=lambda s: (-useful_by[s], -total_by[s], names[s]))
    contributors = tuple(Contributor(names[s], useful_by[s], total_by[s]) for s in ranked[:top_n])

    activity = [[0, 0, 0] for _ in range(24)]
    for am in people:
        h = am.message.sent_at.astimezone(tz).hour
        activity[h][2 if am.message.id in ad_ids else 0 if am.message.id in useful_ids else 1] += 1

    useful_texts = [
        am.message.text
        for am in people
        if am.message.id in useful_ids and clusters.of(am.message.id) == am.message.id and shown(am)
    ]
    found_clusters = find_clusters(
        [am for am in people if am.message.id in useful_ids and shown(am) and has_text(am)],
        clusters,
        use,
        liner,
        topic=topic,
        names={am.message.sender_name for am in msgs},
    )
    kinds = Counter(am.message.kind for am in msgs)
    return DigestData(
        group_id=group_id,
        group_name=mask(group_name),
        topic=topic,
        day=day,
        timezone=tz.key,
        counts=DigestCounts(
            total=len(msgs),
            by_kind=tuple(
                KindCount(k.value, KIND_LABELS.get(k, k.value), n)
                for k, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0].value))
            ),
            speakers=len({am.message.sender_id for am in people}),
            useful=len(useful_ids),
            useless=sum(1 for am in msgs if am.label("useful") == "useless"),
            ads=len(ad_ids),
            questions=len(question_threads),
            answered=sum(1 for t in question_threads if t.answers()),
            threads=sum(1 for t in raw_threads if t.answers()),
            links=len(link_msgs),
            announcements=len(announced_all),
            events=len(events),
            duplicates=clusters.merged,
        ),
        threads=tuple(shown_threads[:MAX_THREADS]),
        events=tuple(events),
        announcements=tuple(
            liner.line(am, LONG_CHARS, clusters.size(am.message.id)) for am in announced[:MAX_ANNOUNCEMENTS]
        ),
        unanswered=tuple(
            liner.line(t.root, count=1 + len(t.copies), opener=False) for t in unanswered[:MAX_UNANSWERED]
        ),
        links=tuple(line for _, _, line in links[:MAX_LINKS]),
        topics=find_topics([liner.text(t, 10_000) for t in useful_texts], exclude=topic),
        activity=tuple(HourCount(h, *activity[h]) for h in range(24)),
        ads=tuple(ad_lines[:MAX_ADS]),
        top_contributors=contributors,
        analysis_pending=sum(1 for am in people if not am.verdicts),
        similarity=clusters.method,
        period=period.label if period is not None else "",
        since=start,
        until=end,
        clusters=found_clusters,
        scope=period.scope if period is not None else "day",
    )


def _member_digest(
    msgs: list[AnalysedMessage],
    member: str,
    member_name: str,
    *,
    embed: dedupe.Embedder | None,
    ads: set[str],
    **kw: object,
) -> DigestData:
    """The digest of ``member_messages``: threads are found on the whole range first, so a thread
    the member answered in is kept whole, then the kept messages are summarised as usual."""
    people = [am for am in msgs if am.message.kind is not MessageKind.SYSTEM]
    clusters = dedupe.cluster([(am.message.id, am.message.text) for am in people if has_text(am)], embed)
    kept = member_messages(people, member, clusters, ads)
    data = build_digest(kept, embed=embed, **kw)  # type: ignore[arg-type]
    return dataclasses.replace(data, member=mask(member_name or member))


def find_clusters(
    useful: Sequence[AnalysedMessage],
    clusters: dedupe.Clusters,
    use: dict[str, float],
    liner: Liner,
    *,
    topic: str,
    names: Collection[str],
) -> tuple[TopicCluster, ...]:
    """Topic clusters of the useful messages that may be shown (``useful``, in time order): one
    message per near-duplicate group, grouped by ``bot.digest.clusters``, each with its main
    contributors, its most useful message and its messages (by time). ``names``: every member's
    name in the period (opted-out members' too), never a topic's term."""
    reps = _unique(useful, clusters)
    groups = topic_clusters.find(
        [liner.text(am.message.text, 10_000) for am in reps],
        [use[am.message.id] for am in reps],
        exclude=topic,
        names=names,
    )
    out = []
    for group in groups:
        members = [reps[k] for k in group.members]
        said: Counter[str] = Counter(sender(am) for am in members)
        first = {name: k for k, name in reversed(list(enumerate(sender(am) for am in members)))}
        speakers = sorted(said, key=lambda name: (-said[name], first[name]))[:MAX_SPEAKERS]
        best = members[
            max(
                range(len(members)),
                key=lambda k: (use[members[k].message.id], min(len(members[k].message.text), 60), -k),
            )
        ]
        out.append(
            TopicCluster(
                name=" · ".join(group.terms),
                terms=group.terms,
                size=len(members),
                contributors=tuple(Speaker(name, said[name]) for name in speakers),
                best=liner.line(best, LONG_CHARS, clusters.size(best.message.id)),
                messages=tuple(liner.line(am, count=clusters.size(am.message.id)) for am in members),
            )
        )
    return tuple(out)


def _unique(ams: Sequence[AnalysedMessage], clusters: dedupe.Clusters) -> list[AnalysedMessage]:
    """The first of each near-duplicate cluster, order kept."""
    seen: set[str] = set()
    out = []
    for am in ams:
        c = clusters.of(am.message.id)
        if c not in seen:
            seen.add(c)
            out.append(am)
    return out


def _thread(
    t: threading.RawThread,
    liner: Liner,
    use: dict[str, float],
    clusters: dedupe.Clusters,
    shown: Callable[[AnalysedMessage], bool],
) -> Thread:
    root = t.root
    text = root.message.text
    replies = list(t.replies)
    if t.kind == "link":
        text = strip_urls(text).strip()
        first = replies[0] if replies else None
        if (
            first is not None
            and first.message.sender_id == t.author
            and first.message.sent_at - root.message.sent_at <= threading.LINK_COMMENT
            and not urls(first)
        ):
            text = f"{text} —— {first.message.text}" if text else first.message.text
            replies = replies[1:]
    else:
        text = lines.brief(text)
    root_line = MessageLine(root.message.id, sender(root), liner.hhmm(root), liner.text(text), 1 + len(t.copies))
    answers = [a for a in t.answers() if shown(a) and has_text(a)]

    def merit(a: AnalysedMessage) -> tuple[float, float]:
        """Best answer: useful, said to the question itself, not a link or a question back, with
        some length."""
        m = (
            use[a.message.id]
            + (0.3 if a.message.id in t.direct else 0.0)
            - (0.3 if is_link(a) or lines.asks(a) else 0.0)
        )
        return m + min(len(a.message.text), 60) / 300, -a.message.sent_at.timestamp()

    best = max(answers, key=merit, default=None)
    visible = _unique([r for r in replies if shown(r) and has_text(r)], clusters)
    top = sorted(visible, key=lambda r: -use[r.message.id])[:MAX_REPLIES]
    top.sort(key=lambda r: r.message.sent_at)
    names: list[str] = []
    for a in answers:
        n = sender(a)
        if n not in names:
            names.append(n)
    return Thread(
        kind=t.kind,
        root=root_line,
        url=mask(t.url),
        replies=tuple(liner.line(r, count=clusters.size(r.message.id), to=False) for r in top),
        best=liner.line(best, to=False) if best is not None else None,
        reply_count=len(t.replies),
        participants=len(t.people),
        names=tuple(names),
        score=threading.score(t, use),
    )
