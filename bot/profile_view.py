"""A member profile as people read it: lead score, ad risk, hints, and the short text ``/profile`` shows.

Everything here is computed from a stored :class:`~bot.profiles.Tally` (and the member's strikes),
never from messages, so it still works after the retention purge. "—" marks what the data does not
support: a demographic hint below its measured threshold, a topic nobody talked about.
"""

from __future__ import annotations

import functools
import logging
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.config import Config
from bot.profiles import Tally, combined, is_opted_out, profile_rows
from bot.store import queries
from nlp.demographics import DemographicModel

log = logging.getLogger(__name__)

LEAD_WEIGHTS = {"mention": 1.0, "question": 2.0, "request": 3.0, "cue": 1.0}
LEAD_SCALE = 8.0  # points at which the score reaches 63
DEMO_LABELS = {"male": "男", "female": "女"}
TASK_NAMES = {"gender": "性别", "age": "年龄"}


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
    for kind, fmt in (("request", "询价/求购「{}」{} 次"), ("question", "问过「{}」{} 次"), ("mention", "提到「{}」{} 次")):
        for what, n in per.get(kind, Counter()).most_common(3):
            reasons.append(fmt.format(what, n))
    if cues := per.get("cue"):
        reasons.append("询价用语：" + "、".join(w for w, _ in cues.most_common(4)))
    return Lead(round(100 * (1 - math.exp(-points / LEAD_SCALE))), tuple(reasons))


def risk(t: Tally, strikes: int, burst_hours: int) -> Risk:
    mean = t.ad_score_sum / t.ad_scored if t.ad_scored else 0.0
    reasons = [f"广告 {t.ads} 条", f"违规 {strikes} 次", f"广告分均值 {mean:.2f}、最高 {t.ad_score_max:.2f}",
               f"入群 {burst_hours} 小时内 {t.burst_messages} 条（广告 {t.burst_ads}）"]
    if strikes >= 1 or t.ads >= 2 or t.burst_ads >= 1:
        return Risk("高", tuple(reasons))
    if t.ads == 1 or mean >= 0.3 or t.burst_messages >= 20:
        return Risk("中", tuple(reasons))
    return Risk("低", tuple(reasons))


def hints(t: Tally, model: DemographicModel | None) -> dict[str, str]:
    """Each demographic task as shown: the label with its confidence, or "—" below the threshold."""
    out = {task: "—" for task in TASK_NAMES}
    if model is None or t.demo_model != model.version:
        return out
    for task, h in model.hints(t.demo_ngrams, t.demo_sums).items():
        if h.shown:
            out[task] = f"{DEMO_LABELS.get(h.label, h.label)}（{h.confidence:.2f}）"
    return out


def occupations(t: Tally, k: int = 2) -> str:
    by_job: dict[str, Counter[str]] = {}
    for key, n in t.occupations.items():
        job, _, cue = key.partition(":")
        by_job.setdefault(job, Counter())[cue] += n
    ranked = sorted(by_job.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))[:k]
    return "、".join(f"{job}（自述“{c.most_common(1)[0][0]}”×{sum(c.values())}）" for job, c in ranked) or "—"


def _top(counts: Counter[str], k: int, fmt: str = "{} {}") -> str:
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    return "、".join(fmt.format(w, n) for w, n in items) or "—"


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
    """The profile in a few short lines with Chinese labels."""
    per_day = t.messages / t.active_days if t.active_days else 0.0
    busiest = [h for h in sorted(range(24), key=lambda h: (-t.hours[h], h))[:3] if t.hours[h]]
    entities = Counter({k.replace(":", " ", 1): n for k, n in t.entities.items()})
    sites = f"（{_top(t.domains, 2)}）" if t.domains else ""
    r, ld, hs = risk(t, strikes, burst_hours), lead(t), hints(t, model)
    lines = [
        f"{name}（{member_id}）· {where}",
        f"活跃：{t.first_seen.astimezone(tz):%Y-%m-%d} 至 {t.last_seen.astimezone(tz):%Y-%m-%d}，共 {t.messages} 条，"
        f"活跃 {t.active_days} 天，日均 {per_day:.1f} 条；常在 " + ("、".join(f"{h}点" for h in busiest) or "—"),
        f"话题：{_top(t.keywords, 5)}",
        f"提到：{_top(entities, 3)}",
        f"角色：提问 {t.questions}，回答他人 {t.answers}，分享链接 {t.links}{sites}，有用 {t.useful}",
        f"广告风险：{r.level} — " + "，".join(r.reasons),
        "画像线索：" + "，".join(f"{TASK_NAMES[k]} {v}" for k, v in hs.items()) + f"；职业 {occupations(t)}",
        f"线索分：{ld.score}" + (" — " + "；".join(ld.reasons[:4]) if ld.reasons else "（无产品关键词相关发言）"),
    ]
    return "\n".join(lines)


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
    if is_opted_out(session, member_id):
        return f"{member_id} 已选择退出画像（/optout）：不做分析，也不展示。"
    rows = profile_rows(session, member_id, group_id)
    total = combined(rows)
    if total is None:
        return None
    names = [queries.member(session, g, member_id) for g, _ in rows]
    latest = max((m for m in names if m and m.last_seen), key=lambda m: m.last_seen, default=None)
    strikes = sum(queries.strikes(session, g, member_id, since=None) for g, _ in rows)
    return render(
        total,
        member_id=member_id,
        name=(latest.display_name if latest and latest.display_name else member_id),
        where="本群" if group_id is not None else f"{len(rows)} 个群",
        strikes=strikes,
        tz=config.digest_timezone(),
        burst_hours=config.profiles.burst_hours,
        model=demographic_model(config),
    )


__all__ = ["Lead", "Risk", "demographic_model", "describe", "hints", "lead", "occupations", "render", "risk"]
