"""One person's briefing across their groups (``[[briefing]]`` in the config): fetch, build, verify,
render. Nothing is kept here; the scheduler keeps and sends it, once per recipient and period.

Each group's part is that group's own digest (``bot.daily.make_digest(save=False)``: the same
ranking, near-duplicates and verification), and ``bot.digest.briefing_build`` merges the parts
and checks every line again against the stored messages of the group it is shown under.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from sqlalchemy.orm import Session, sessionmaker

from bot import catalogue
from bot.config import Config
from bot.daily import default_embedder, make_digest
from bot.digest import Period, day_bounds, split_parts
from bot.digest.briefing_build import BriefingData, GroupPart, build_briefing, enforce
from bot.digest.dedupe import Embedder
from bot.digest.render import TEMPLATES_DIR, template_env
from bot.store import groups as groups_db, verdicts as verdicts_db

TEXT_TEMPLATE = "briefing.text.j2"
HTML_TEMPLATE = "briefing.html.j2"


class NoBriefing(LookupError):
    """``recipient`` has no ``[[briefing]]`` in the config."""


@dataclass(frozen=True, slots=True)
class RenderedBriefing:
    data: BriefingData
    text_parts: list[str]
    html: str
    empty: bool  # no group had a message in the period: nothing is sent


def make_briefing(
    sessions: sessionmaker[Session],
    config: Config,
    recipient: str,
    day: date,
    *,
    period: Period | None = None,
    embed: Embedder | None | Literal["config"] = "config",
) -> RenderedBriefing:
    """The briefing of ``recipient``'s groups for the local ``day`` (or any ``period``, e.g. a week),
    rendered. ``embed`` as in :func:`bot.daily.make_digest`. Raises :class:`NoBriefing` when the
    config has no briefing for ``recipient``."""
    briefing = config.briefing_for(recipient)
    if briefing is None:
        raise NoBriefing(recipient)
    tz = config.digest_timezone()
    if period is not None:
        day = period.last_day(tz)
        start, end = period.since, period.until
    else:
        start, end = day_bounds(day, tz)
    embedder = default_embedder(config) if isinstance(embed, str) else embed  # loaded once for every group
    parts = []
    for group_id in briefing.groups:
        digest = make_digest(sessions, config, group_id, day, save=False, embed=embedder, period=period)
        with sessions() as session:
            messages = verdicts_db.analysed_messages(session, group_id, start, end)
            opted_out = frozenset(m.member_id for m in groups_db.members(session, group_id) if m.opted_out)
        threshold = config.moderation_for(group_id).ad_threshold
        parts.append(GroupPart(digest.data, messages, opted_out, threshold))
    data = build_briefing(parts, recipient=recipient, day=day, tz=tz, period=period.label if period else "")
    data = enforce(data, parts)  # every quote from a stored message of its sender, in its group
    return RenderedBriefing(data, render_text(data, config.digest.max_part_chars), render_html(data), data.empty)


def _render(name: str, data: BriefingData, autoescape: bool) -> str:
    env = template_env(TEMPLATES_DIR.resolve(), autoescape)
    return env.get_template(name).render(d=data, b=catalogue.BRIEFING)


def render_text(data: BriefingData, max_part_chars: int = 2000) -> list[str]:
    """The briefing as WeChat text (templates/briefing.text.j2), split only when it must be."""
    return split_parts(_render(TEXT_TEMPLATE, data, autoescape=False), max_part_chars)


def render_html(data: BriefingData) -> str:
    """The briefing as one standalone HTML page (templates/briefing.html.j2), autoescaped."""
    return _render(HTML_TEMPLATE, data, autoescape=True)


def write_html(rendered: RenderedBriefing, folder: Path) -> Path:
    """``folder/briefing-<hash of the recipient>-<day>.html`` (no contact id in a file name)."""
    folder.mkdir(parents=True, exist_ok=True)
    who = hashlib.sha256(rendered.data.recipient.encode()).hexdigest()[:8]
    when = rendered.data.day.isoformat()
    if rendered.data.period:  # a week's briefing beside the day's
        when += "-" + hashlib.sha256(rendered.data.period.encode()).hexdigest()[:6]
    path = folder / f"briefing-{who}-{when}.html"
    path.write_text(rendered.html, "utf-8")
    return path
