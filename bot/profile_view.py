"""A member profile as people read it: lead score, ad risk, hints, and the short text ``/profile`` shows.

Everything here is computed from a stored :class:`~bot.profiles.Tally` (and the member's strikes),
never from messages, so it still works after the retention purge. "—" marks what the data does not
support: a demographic hint below its measured threshold, a topic nobody talked about. The
wording (labels, reasons, the card itself) is in ``bot.catalogue``; this module computes the facts.
"""

from __future__ import annotations

import functools
import logging
import math
from collections import Counter
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot import catalogue
from bot.config import Config
from bot.profiles import Tally, combined, profile_rows
from bot.store import actions as actions_db, groups as groups_db
from nlp.demographics import DemographicModel

log = logging.getLogger(__name__)

LEAD_WEIGHTS = {"mention": 1.0, "question": 2.0, "request": 3.0, "cue": 1.0}
LEAD_SCALE = 8.0  # points at which the score reaches 63
TASK_NAMES = catalogue.DEMOGRAPHIC_TASKS  # the demographic tasks shown, in order


@dataclass(frozen=True, slots=True)
class Lead:
    score: int  # 0..100
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Risk:
    level: str  # 高 / 中 / 低
    reasons: tuple[str, ...]


def lead(t: Tally) -> Lead:
    """How much the member looks like a buyer of the configured products, and why.

    Points: each message naming a product keyword 1, asking about it 2 more, asking its price, to
    buy or to be recommended it 3 more, each buying cue beside it 1; the score is
    ``100 * (1 - e^(-points/8))``. Ads never count (``bot.profiles`` skips them).
    """
    per: dict[str, Counter[str]] = {}
    for key, n in t.leads.items():
        what, _, kind = key.rpartition(":")
        per.setdefault(kind, Counter())[what] += n
    points = sum(LEAD_WEIGHTS.get(kind, 0.0) * sum(c.values()) for kind, c in per.items())
    reasons = []
    for kind in ("request", "question", "mention"):
        for what, n in per.get(kind, Counter()).most_common(3):
            reasons.append(catalogue.lead_reason(kind, what, n))
    if cues := per.get("cue"):
        reasons.append(catalogue.lead_cues(w for w, _ in cues.most_common(4)))
    return Lead(round(100 * (1 - math.exp(-points / LEAD_SCALE))), tuple(reasons))


def risk(t: Tally, strikes: int, burst_hours: int) -> Risk:
    mean = t.ad_score_sum / t.ad_scored if t.ad_scored else 0.0
    reasons = catalogue.risk_reasons(
        ads=t.ads,
        strikes=strikes,
        mean=mean,
        top=t.ad_score_max,
        burst_hours=burst_hours,
        burst_messages=t.burst_messages,
        burst_ads=t.burst_ads,
    )
    if strikes >= 1 or t.ads >= 2 or t.burst_ads >= 1:
        return Risk(catalogue.RISK_HIGH, reasons)
    if t.ads == 1 or mean >= 0.3 or t.burst_messages >= 20:
        return Risk(catalogue.RISK_MEDIUM, reasons)
    return Risk(catalogue.RISK_LOW, reasons)


def hints(t: Tally, model: DemographicModel | None) -> dict[str, str]:
    """Each demographic task as shown: the label with its confidence, or "—" below the threshold."""
    out = {task: catalogue.PLACEHOLDER for task in TASK_NAMES}
    if model is None or t.demo_model != model.version:
        return out
    for task, h in model.hints(t.demo_ngrams, t.demo_sums).items():
        if h.shown:
            out[task] = catalogue.demographic_hint(h.label, h.confidence)
    return out


def occupations(t: Tally, k: int = 2) -> str:
    by_job: dict[str, Counter[str]] = {}
    for key, n in t.occupations.items():
        job, _, cue = key.partition(":")
        by_job.setdefault(job, Counter())[cue] += n
    ranked = sorted(by_job.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))[:k]
    shown = (catalogue.occupation(job, c.most_common(1)[0][0], sum(c.values())) for job, c in ranked)
    return "、".join(shown) or catalogue.PLACEHOLDER


def _ranked(counts: Counter[str], k: int) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


def _top(counts: Counter[str], k: int) -> str:
    return "、".join(f"{w} {n}" for w, n in _ranked(counts, k)) or catalogue.PLACEHOLDER


def _mentioned(entities: Counter[str], k: int) -> str:
    """The entities a member named most (keys ``TYPE:text``), with their kind in words."""
    shown = []
    for key, n in _ranked(entities, k):
        kind, _, text = key.partition(":")
        shown.append(catalogue.entity_mention(kind, text, n))
    return "、".join(shown) or catalogue.PLACEHOLDER


def render(
    t: Tally,
    *,
    member_id: str,
    name: str,
    where: str,
    strikes: int,
    tz: ZoneInfo,
    burst_hours: int,
    model: DemographicModel | None,
) -> str:
    """The profile in a few short lines (worded by ``catalogue.profile_card``)."""
    busiest = [h for h in sorted(range(24), key=lambda h: (-t.hours[h], h))[:3] if t.hours[h]]
    r, ld = risk(t, strikes, burst_hours), lead(t)
    return catalogue.profile_card(
        name=name,
        member_id=member_id,
        where=where,
        first_day=f"{t.first_seen.astimezone(tz):%Y-%m-%d}",
        last_day=f"{t.last_seen.astimezone(tz):%Y-%m-%d}",
        messages=t.messages,
        active_days=t.active_days,
        per_day=t.messages / t.active_days if t.active_days else 0.0,
        busy_hours=busiest,
        topics=_top(t.keywords, 5),
        mentions=_mentioned(t.entities, 3),
        questions=t.questions,
        answers=t.answers,
        links=t.links,
        sites=_top(t.domains, 2) if t.domains else "",
        useful=t.useful,
        risk=r.level,
        risk_why=r.reasons,
        hints=hints(t, model),
        occupations=occupations(t),
        lead_score=ld.score,
        lead_why=ld.reasons[:4],
    )


@functools.lru_cache(maxsize=4)
def _model(path: Path) -> DemographicModel | None:
    try:
        return DemographicModel.load(path)
    except (OSError, KeyError, ValueError) as e:
        log.warning("demographic hints off: cannot load %s: %s", path, e)
        return None


def demographic_model(config: Config) -> DemographicModel | None:
    path = config.demographics_path()
    return _model(path) if path is not None else None


def describe(session: Session, config: Config, member_id: str, group_id: str | None = None) -> str | None:
    """The profile text of ``member_id`` in one group (or across every group when None); None
    when there is no profile. An opted-out member's profile is never shown (there is none)."""
    if groups_db.is_opted_out(session, member_id):
        return catalogue.profile_opted_out(member_id)
    rows = profile_rows(session, member_id, group_id)
    total = combined(rows)
    if total is None:
        return None
    names = [groups_db.member(session, g, member_id) for g, _ in rows]
    latest = max((m for m in names if m and m.last_seen), key=attrgetter("last_seen"), default=None)
    strikes = sum(actions_db.strikes(session, g, member_id, since=None) for g, _ in rows)
    return render(
        total,
        member_id=member_id,
        name=(latest.display_name if latest and latest.display_name else member_id),
        where=catalogue.profile_where(None if group_id is not None else len(rows)),
        strikes=strikes,
        tz=config.digest_timezone(),
        burst_hours=config.profiles.burst_hours,
        model=demographic_model(config),
    )


__all__ = ["Lead", "Risk", "demographic_model", "describe", "hints", "lead", "occupations", "render", "risk"]
