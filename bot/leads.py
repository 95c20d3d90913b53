"""The members-and-leads table: one row per profiled member and group, with the lead score, the ad
risk and their reasons as ``/profile`` computes them (:mod:`bot.profile_view`), read from stored
profiles only (so it still works after the retention purge); and one member's profile in a group
with their timeline (questions, answers, links, moderation actions).

Members who opted out (in any group) are never listed: not in the table, not in an export, not in
the API. The console's members page, its CSV export and ``/api/v1/leads`` all read :func:`lead_rows`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot import catalogue
from bot.config import Config
from bot.message import MessageKind
from bot.pipeline import AnalysedItem
from bot.profile_view import demographic_model, hints, lead, occupations, risk
from bot.profiles import Tally, answers
from bot.store import actions as actions_db, leads as leads_db, timeline as timeline_db
from bot.store.actions import ActionRecord
from nlp.patterns import find_urls

TOP_TOPICS = 5
TIMELINE_MESSAGES = 300  # the member's newest chat messages the timeline looks through
TIMELINE_ACTIONS = 100  # and their newest moderation actions
RISK_RANK = {catalogue.RISK_LOW: 0, catalogue.RISK_MEDIUM: 1, catalogue.RISK_HIGH: 2}


@dataclass(frozen=True, slots=True)
class Roles:
    """What a member does in a group, counted by their profile."""

    questions: int  # messages the intent analyzer judged questions
    answers: int  # answers to someone else's question
    links: int  # messages sharing a link
    useful: int  # messages judged useful
    ads: int  # ads (model and rules agreeing)


@dataclass(frozen=True, slots=True)
class LeadRow:
    """One member in one group, as the leads table and its export show them."""

    group_id: str
    group_name: str  # the room's name, or its id when it has none
    member_id: str
    display_name: str  # the name the platform last showed, or the member id
    lead_score: int  # 0..100 (bot.profile_view.lead)
    lead_reasons: tuple[str, ...]  # worded by the catalogue; empty when no product keyword came up
    ad_risk: str  # catalogue.RISK_HIGH / RISK_MEDIUM / RISK_LOW (bot.profile_view.risk)
    ad_risk_reasons: tuple[str, ...]
    messages: int
    active_days: int
    last_seen: datetime
    topics: tuple[str, ...]  # the most frequent topic words, most frequent first
    roles: Roles
    strikes: int  # strikes held against the member in this group (live, not undone)
    ad_score_mean: float  # mean p(ad) of their scored messages (orders members of one risk level)

    @property
    def ad_risk_rank(self) -> int:
        """The ad risk as a number for sorting and filtering: 0 low, 1 medium, 2 high."""
        return RISK_RANK.get(self.ad_risk, 0)


@dataclass(frozen=True, slots=True)
class MemberDetail:
    """One member's profile in one group, with everything the profile page shows besides the row."""

    row: LeadRow
    first_seen: datetime
    per_day: float  # messages per active day
    busy_hours: tuple[int, ...]  # local hours of day they write most in, busiest first (at most 3)
    topic_counts: tuple[tuple[str, int], ...]  # topic word, messages
    mentions: tuple[str, ...]  # the things they named most, worded (catalogue.entity_mention)
    sites: tuple[tuple[str, int], ...]  # linked sites, links
    hints: dict[str, str]  # demographic task -> shown hint, or catalogue.PLACEHOLDER
    occupations: str  # worded hints from what they said of themselves, or catalogue.PLACEHOLDER


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One thing in a member's timeline: a message of theirs that asks, answers or shares a link, or a
    moderation action on them (with the message it was about, when there is one)."""

    at: datetime
    kinds: tuple[str, ...]  # "question", "answer", "link" for a message; ("action",) for an action
    text: str  # the message's words; "" once purged
    purged: bool  # the retention purge blanked the text
    labels: tuple[str, ...]  # the analyzers' labels of the message (intent, ad, useful), "skipped" left out
    action: ActionRecord | None = None


def _ranked(counts: Counter[str], k: int) -> list[tuple[str, int]]:
    """The ``k`` largest counts, ties by key (as ``/profile`` ranks them)."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


def _row(found: leads_db.ProfiledMember, t: Tally, strikes: int, burst_hours: int) -> LeadRow:
    ld, r = lead(t), risk(t, strikes, burst_hours)
    return LeadRow(
        group_id=found.group_id,
        group_name=found.group_name or found.group_id,
        member_id=found.member_id,
        display_name=found.display_name or found.member_id,
        lead_score=ld.score,
        lead_reasons=ld.reasons,
        ad_risk=r.level,
        ad_risk_reasons=r.reasons,
        messages=t.messages,
        active_days=t.active_days,
        last_seen=t.last_seen,
        topics=tuple(w for w, _ in _ranked(t.keywords, TOP_TOPICS)),
        roles=Roles(questions=t.questions, answers=t.answers, links=t.links, useful=t.useful, ads=t.ads),
        strikes=strikes,
        ad_score_mean=t.ad_score_sum / t.ad_scored if t.ad_scored else 0.0,
    )


def lead_rows(session: Session, config: Config, group_ids: Collection[str]) -> list[LeadRow]:
    """Every profiled member of these groups, best lead first (then most messages, then name);
    opted-out members are left out. The caller decides which groups a viewer may see."""
    found = leads_db.profiled_members(session, group_ids)
    strikes = leads_db.strike_counts(session, group_ids)
    burst = config.profiles.burst_hours
    rows = [_row(f, Tally.from_row(f.profile), strikes.get((f.group_id, f.member_id), 0), burst) for f in found]
    rows.sort(key=lambda r: (-r.lead_score, -r.messages, r.display_name, r.group_id, r.member_id))
    return rows


def member_detail(session: Session, config: Config, group_id: str, member_id: str) -> MemberDetail | None:
    """A member's profile in one group; None when there is none (never profiled, or opted out)."""
    found = leads_db.profiled_members(session, [group_id], member_id)
    if not found:
        return None
    t = Tally.from_row(found[0].profile)
    strikes = leads_db.strike_counts(session, [group_id], member_id).get((group_id, member_id), 0)
    busiest = [h for h in sorted(range(24), key=lambda h: (-t.hours[h], h))[:3] if t.hours[h]]
    mentions = []
    for key, n in _ranked(t.entities, 3):
        kind, _, text = key.partition(":")
        mentions.append(catalogue.entity_mention(kind, text, n))
    return MemberDetail(
        row=_row(found[0], t, strikes, config.profiles.burst_hours),
        first_seen=t.first_seen,
        per_day=t.messages / t.active_days if t.active_days else 0.0,
        busy_hours=tuple(busiest),
        topic_counts=tuple(_ranked(t.keywords, 10)),
        mentions=tuple(mentions),
        sites=tuple(_ranked(t.domains, 5)),
        hints=hints(t, demographic_model(config)),
        occupations=occupations(t),
    )


def _labels(stored: timeline_db.StoredMessage) -> tuple[str, ...]:
    """The analyzers' labels, each once (the intent analyzer may say "ad" too)."""
    order = ("intent", "ad", "useful")
    found = (v.label for name in order if (v := stored.verdicts.get(name)) is not None and v.label != "skipped")
    return tuple(dict.fromkeys(found))


def _message_entry(stored: timeline_db.StoredMessage, answered: bool) -> TimelineEntry | None:
    """The timeline's entry for a message, or None when it neither asks, answers nor shares a link."""
    m = stored.message
    intent = stored.verdicts.get("intent")
    kinds = tuple(
        kind
        for kind, yes in (
            ("question", intent is not None and intent.label == "question"),
            ("answer", answered),
            ("link", m.kind is MessageKind.LINK or bool(find_urls(m.text))),
        )
        if yes
    )
    if not kinds:
        return None
    purged = stored.purged_at is not None
    return TimelineEntry(m.sent_at, kinds, "" if purged else m.text, purged, _labels(stored))


def _action_entry(action: ActionRecord, about: timeline_db.StoredMessage | None) -> TimelineEntry:
    purged = about is not None and about.purged_at is not None
    text = about.message.text if about is not None and not purged else ""
    labels = _labels(about) if about is not None else ()
    return TimelineEntry(action.created_at, ("action",), text, purged, labels, action)


def member_timeline(session: Session, config: Config, group_id: str, member_id: str) -> list[TimelineEntry]:
    """A member's questions, answers, links and the moderation actions on them in one group, newest
    first. What counts as an answer is what the profile counts (:func:`bot.profiles.answers`)."""
    chat = timeline_db.member_chat(session, group_id, member_id, TIMELINE_MESSAGES)
    items = [AnalysedItem(s.pk, s.message, s.verdicts, ()) for s in chat]
    answering = answers(session, items, timedelta(minutes=config.profiles.answer_window_minutes))
    entries = [e for s in chat if (e := _message_entry(s, s.pk in answering)) is not None]
    acts = actions_db.actions_for_group(session, group_id, member_id=member_id, limit=TIMELINE_ACTIONS)
    about = timeline_db.messages_by_pk(session, sorted({a.message_pk for a in acts if a.message_pk is not None}))
    entries += [_action_entry(a, about.get(a.message_pk) if a.message_pk is not None else None) for a in acts]
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries


__all__ = [
    "LeadRow",
    "MemberDetail",
    "Roles",
    "TimelineEntry",
    "lead_rows",
    "member_detail",
    "member_timeline",
]
