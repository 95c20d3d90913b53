"""Member profiles, kept up to date from the pipeline's ``on_analysed`` hook — never by re-reading history.

Each batch of newly analysed messages becomes one :class:`Tally` per (group, member): counts, the
local-hour histogram, topic words, entities, linked sites, occupation cues, lead-keyword hits and
the demographic evidence. The tally is added to the member's stored row in the same transaction
that stored the verdicts (rows locked on PostgreSQL, so two bots sharing a database add, not
overwrite). Adding is the same operation as merging two rows, so a member across groups is the sum
of their rows, and a profile built message by message equals one built from the whole history at
once (bounded maps keep their top entries; the tail below the cut may differ).

Not profiled: system messages, and members who sent ``/optout`` (in any group); their rows are
deleted (:func:`set_opted_out`) and never written again until ``/optin``. Commands and the bot's own
messages are not profiled at all: the bot's words are never analysed, and a command — analysed and
moderated like chat, so that an ad behind "/help" is caught — reaches the hook with its role and is
skipped there (nor is a command ever the question an answer answers). A command stored before roles
were kept still counts as activity but says nothing about topics or the member.

A message answers someone when it is not itself a question or an ad, and it replies to a question
by someone else, quotes someone who asked within ``profiles.answer_window_minutes``, or
@-mentions such an asker.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from bot.config import Config
from bot.message import MessageKind
from bot.pipeline import AnalysedItem
from bot.store import groups as groups_db, member_profiles as member_profiles_db, verdicts as verdicts_db
from bot.store.common import CHAT
from bot.store.models import utcnow
from nlp.demographics import DemographicModel
from nlp.patterns import find_urls
from nlp.profile import lead_hits, occupation_cues, topic_words

log = logging.getLogger(__name__)

# How many entries each bounded map keeps (most frequent first, ties by key).
KEEP = {"keywords": 100, "entities": 100, "domains": 30, "occupations": 30, "leads": 100, "days": 400}
# Entity types that are contact details or times: moderated and masked elsewhere, never profiled.
UNPROFILED_ENTITIES = frozenset({"PHONE", "WECHAT", "QQ", "EMAIL", "URL", "MONEY", "TIME", "DATE"})
TEXT_KINDS = frozenset({MessageKind.TEXT, MessageKind.LINK, MessageKind.QUOTE})


@dataclass
class Tally:
    """What some messages add to one member's profile in one group (or a whole stored profile)."""

    first_seen: datetime
    last_seen: datetime
    messages: int = 0
    active_days: int = 0
    days: Counter[str] = field(default_factory=Counter)
    hours: list[int] = field(default_factory=lambda: [0] * 24)
    questions: int = 0
    answers: int = 0
    links: int = 0
    ads: int = 0
    useful: int = 0
    ad_scored: int = 0
    ad_score_sum: float = 0.0
    ad_score_max: float = 0.0
    burst_messages: int = 0
    burst_ads: int = 0
    keywords: Counter[str] = field(default_factory=Counter)
    entities: Counter[str] = field(default_factory=Counter)
    domains: Counter[str] = field(default_factory=Counter)
    occupations: Counter[str] = field(default_factory=Counter)
    leads: Counter[str] = field(default_factory=Counter)
    demo_ngrams: int = 0
    demo_sums: dict[str, list[float]] = field(default_factory=dict)
    demo_model: str = ""

    def add(self, other: Tally) -> None:
        """Add ``other`` (a batch, or another group's row) to this one."""
        self.first_seen = min(self.first_seen, other.first_seen)
        self.last_seen = max(self.last_seen, other.last_seen)
        # distinct days: a day both sides were active on counts once
        self.active_days += other.active_days - len(set(self.days) & set(other.days))
        for name in (
            "messages",
            "questions",
            "answers",
            "links",
            "ads",
            "useful",
            "ad_scored",
            "burst_messages",
            "burst_ads",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.ad_score_sum += other.ad_score_sum
        self.ad_score_max = max(self.ad_score_max, other.ad_score_max)
        self.hours = [a + b for a, b in zip(self.hours, other.hours)]
        for name in ("days", "keywords", "entities", "domains", "occupations", "leads"):
            getattr(self, name).update(getattr(other, name))
        if other.demo_ngrams:
            if self.demo_model and other.demo_model != self.demo_model:  # other weights: start again
                self.demo_ngrams, self.demo_sums = 0, {}
            self.demo_model = other.demo_model
            self.demo_ngrams += other.demo_ngrams
            for task, sums in other.demo_sums.items():
                mine = self.demo_sums.get(task) or [0.0] * len(sums)
                self.demo_sums[task] = [a + b for a, b in zip(mine, sums)]

    def bounded(self) -> Tally:
        for name, k in KEEP.items():
            counts: Counter[str] = getattr(self, name)
            if len(counts) > k:
                if name == "days":  # the most recent days
                    kept = dict(sorted(counts.items())[-k:])
                else:
                    kept = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k])
                setattr(self, name, Counter(kept))
        return self

    def row(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in KEEP:
            out[name] = dict(out[name])
        out["hours"] = list(self.hours)
        return out

    @classmethod
    def from_row(cls, r: Any) -> Tally:
        t = cls(first_seen=r.first_seen, last_seen=r.last_seen)
        for f in fields(cls):
            value = getattr(r, f.name)
            if f.name in KEEP:
                value = Counter(value or {})
            elif f.name == "hours":
                value = list(value or [0] * 24)
            elif f.name == "demo_sums":
                value = {k: list(v) for k, v in (value or {}).items()}
            setattr(t, f.name, value)
        return t


def _is_ad(item: AnalysedItem) -> bool:
    """An ad for the profile when both judges say so (the model and, when stored beside it, the
    rule baseline), as moderation's default ``corroborate`` asks before acting on a member."""
    second = _label(item, "ad_rules")
    return _label(item, "ad") == "ad" and second in (None, "ad")


def _p_ad(item: AnalysedItem) -> float | None:
    v = item.verdicts.get("ad")
    if v is None or v.label == "skipped":
        return None
    return v.score if v.label == "ad" else 1.0 - v.score


def _label(item: AnalysedItem, analyzer: str) -> str | None:
    v = item.verdicts.get(analyzer)
    return v.label if v else None


def _domains(text: str) -> list[str]:
    out = []
    for url in find_urls(text):
        host = urlsplit(url if "://" in url else f"http://{url}").hostname or ""
        if host:
            out.append(host.removeprefix("www."))
    return list(dict.fromkeys(out))


class ProfileUpdater:
    """The ``on_analysed`` hook: adds each batch to the senders' profiles in the same transaction."""

    def __init__(self, config: Config, demographics: DemographicModel | None = None) -> None:
        self._config = config
        self._demographics = demographics
        self._tz = config.digest_timezone()
        self._window = timedelta(minutes=config.profiles.answer_window_minutes)
        self._burst = timedelta(hours=config.profiles.burst_hours)

    def __call__(self, session: Session, items: Sequence[AnalysedItem]) -> None:
        """Add the batch in a savepoint: a profile that cannot be updated never costs the verdicts."""
        try:
            with session.begin_nested():
                self.update(session, items)
        except Exception:  # noqa: BLE001 - profiles are extra; moderation and the digest go on
            log.exception("profiles: a batch of %d messages could not be added; its verdicts are kept", len(items))

    def update(self, session: Session, items: Sequence[AnalysedItem]) -> None:
        items = [i for i in items if i.role == CHAT and i.message.kind is not MessageKind.SYSTEM]
        if not items:
            return
        senders = {i.message.sender_id for i in items}
        opted_out = groups_db.opted_out_among(session, senders)
        if opted_out:  # opted out in one group: in every group, new ones too (the digest reads the flag)
            groups_db.spread_opt_out(session, opted_out)
        items = [i for i in items if i.message.sender_id not in opted_out]
        if not items:
            return
        joined = groups_db.first_seen(
            session, {i.message.group_id for i in items}, {i.message.sender_id for i in items}
        )
        answering = answers(session, items, self._window)
        tallies: dict[tuple[str, str], Tally] = {}
        for item in sorted(items, key=lambda i: (i.message.sent_at, i.pk)):
            m = item.message
            key = (m.group_id, m.sender_id)
            t = tallies.get(key) or tallies.setdefault(key, Tally(m.sent_at, m.sent_at))
            self._observe(t, item, item.pk in answering, joined.get(key))
        add_to_profiles(session, tallies)

    def _observe(self, t: Tally, item: AnalysedItem, answered: bool, joined: datetime | None) -> None:
        m = item.message
        local = m.sent_at.astimezone(self._tz)
        day = local.date().isoformat()
        t.first_seen = min(t.first_seen, m.sent_at)
        t.last_seen = max(t.last_seen, m.sent_at)
        t.messages += 1
        if day not in t.days:
            t.active_days += 1
        t.days[day] += 1
        t.hours[local.hour] += 1
        intent, is_ad = _label(item, "intent"), _is_ad(item)
        t.questions += intent == "question"
        t.answers += answered
        t.ads += is_ad
        t.useful += _label(item, "useful") == "useful"
        p_ad = _p_ad(item)
        if p_ad is not None:
            t.ad_scored += 1
            t.ad_score_sum += p_ad
            t.ad_score_max = max(t.ad_score_max, p_ad)
        if joined is not None and m.sent_at < joined + self._burst:
            t.burst_messages += 1
            t.burst_ads += is_ad
        sites = _domains(m.text)
        if m.kind is MessageKind.LINK or sites:
            t.links += 1
            t.domains.update(sites)
        if (
            is_ad
            or m.kind not in TEXT_KINDS
            or not m.text.strip()
            or m.text.lstrip().startswith(self._config.bot.command_prefixes)
        ):
            return  # an ad's or a command's words say nothing about the member
        t.keywords.update(topic_words(m.text))
        t.entities.update(
            {
                f"{e.type}:{e.text.strip()}"
                for e in item.entities
                if e.type not in UNPROFILED_ENTITIES and e.text.strip()
            }
        )
        t.occupations.update(f"{name}:{cue}" for name, cue in occupation_cues(m.text))
        named, cues = lead_hits(m.text, self._config.lead_keywords_for(m.group_id))
        for k in named:
            t.leads[f"{k}:mention"] += 1
            if intent == "question":
                t.leads[f"{k}:question"] += 1
            if intent == "request" or cues:
                t.leads[f"{k}:request"] += 1
        t.leads.update(f"{c}:cue" for c in cues if named)
        if self._demographics is not None and self._demographics.tasks:
            n, sums = self._demographics.evidence(m.text)
            if n:
                t.demo_model = self._demographics.version
                t.demo_ngrams += n
                for task, s in sums.items():
                    mine = t.demo_sums.get(task) or [0.0] * len(s)
                    t.demo_sums[task] = [a + b for a, b in zip(mine, s)]


def answers(session: Session, items: Sequence[AnalysedItem], window: timedelta) -> set[int]:
    """The pks of ``items`` that answer someone else's question (see the module doc)."""
    candidates = [i for i in items if _label(i, "intent") not in ("question", "ad")]
    if not candidates:
        return set()
    groups = {i.message.group_id for i in candidates}
    lo = min(i.message.sent_at for i in candidates) - window
    hi = max(i.message.sent_at for i in candidates)
    asked = verdicts_db.questions_asked(session, groups, lo, hi)
    replied: dict[tuple[str, str], tuple[str, bool]] = {}
    reply_ids = {i.message.reply_to for i in candidates if i.message.reply_to}
    if reply_ids:
        replied = verdicts_db.reply_targets(session, reply_ids)
    out: set[int] = set()
    for item in candidates:
        m = item.message
        if m.reply_to and (target := replied.get((m.source, m.reply_to))):
            if target[0] != m.sender_id and target[1]:
                out.add(item.pk)
            continue
        quoted = _quoted_name(m.quote)
        if not m.mentions and not quoted:
            continue  # only a reply, a quote or an @-mention makes an answer
        recent = [
            a
            for a in asked
            if a.group_id == m.group_id and a.sender_id != m.sender_id and m.sent_at - window <= a.sent_at <= m.sent_at
        ]
        if any(a.sender_id in m.mentions or (quoted and a.sender_name == quoted) for a in recent):
            out.add(item.pk)
    return out


def _quoted_name(quote: str) -> str:
    for sep in ("：", ":"):
        name, found, _ = quote.partition(sep)
        if found:
            return name.strip()
    return ""


def add_to_profiles(session: Session, tallies: Mapping[tuple[str, str], Tally]) -> None:
    """Add each tally to its (group, member) row, creating rows as needed. Rows are locked first on
    PostgreSQL, and a row another process created meanwhile is added to, not duplicated.

    A batch costs a handful of statements, not one per member: one locked read of the existing
    rows, one multi-row ``INSERT .. ON CONFLICT DO NOTHING`` for the new ones and one executemany
    ``UPDATE`` for the rest (those two compiled once and cached by SQLAlchemy).
    """
    if not tallies:
        return
    tallies = dict(sorted(tallies.items()))  # rows locked and created in key order: no deadlock between processes
    existing = member_profiles_db.rows_for_update(session, tallies)
    now = utcnow()
    new = {key: tally for key, tally in tallies.items() if key not in existing}
    if new:
        rows = [{**t.bounded().row(), "group_id": g, "member_id": m, "updated_at": now} for (g, m), t in new.items()]
        created = member_profiles_db.insert_new(session, rows)
        raced = [key for key in new if key not in created]  # another process created them meanwhile
        if raced:
            existing.update(member_profiles_db.rows_for_update(session, raced))
    updates = []
    for key, tally in tallies.items():
        row = existing.get(key)
        if row is None:
            continue  # created above
        merged = Tally.from_row(row)
        merged.add(tally)
        updates.append({**merged.bounded().row(), "updated_at": now, "profile_pk": row.pk})
    if updates:
        member_profiles_db.update_rows(session, updates)


def profile_rows(session: Session, member_id: str, group_id: str | None = None) -> list[tuple[str, Tally]]:
    """``(group id, tally)`` for each of a member's stored profiles, one group or all."""
    return [(r.group_id, Tally.from_row(r)) for r in member_profiles_db.member_rows(session, member_id, group_id)]


def combined(rows: Iterable[tuple[str, Tally]]) -> Tally | None:
    """The member across the given groups: the sum of their rows."""
    total: Tally | None = None
    for _, t in rows:
        if total is None:
            total = Tally.from_row(t)
        else:
            total.add(t)
    return total


def set_opted_out(session: Session, group_id: str, member_id: str, opted_out: bool) -> None:
    """``/optout`` (True) or ``/optin`` (False) for a member, in every group the bot knows them in.

    Opting out deletes their profiles at once; the pipeline stops profiling them, and the digest
    stops quoting them (it reads ``members.opted_out``). Their messages are still stored and moderated.
    """
    groups_db.set_opted_out(session, group_id, member_id, opted_out)
    groups_db.set_opted_out_everywhere(session, member_id, opted_out)
    if opted_out:
        member_profiles_db.forget(session, member_id)


def build_profile_hook(config: Config) -> ProfileUpdater | None:
    """The pipeline hook for this config, or None when profiles are off. A missing or broken
    demographic model turns the hints off (logged), never the profiles."""
    if not config.profiles.enabled:
        return None
    demographics = None
    path = config.demographics_path()
    if path is not None:
        try:
            demographics = DemographicModel.load(path)
        except (OSError, KeyError, ValueError) as e:
            log.warning("demographic hints off: cannot load %s: %s", path, e)
    return ProfileUpdater(config, demographics)


__all__ = [
    "ProfileUpdater",
    "Tally",
    "add_to_profiles",
    "answers",
    "build_profile_hook",
    "combined",
    "profile_rows",
    "set_opted_out",
]
