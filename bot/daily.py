"""One group's digest for one local day, from the store: fetch, build, render, keep.

The digests table decides what has been made: ``save_digest`` is unique per (group, day), so a
digest is kept (and later sent) once, however many processes ask.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from bot.config import Config
from bot.digest import DigestData, build_digest, day_bounds, render_html, render_text
from bot.store import queries


@dataclass(frozen=True, slots=True)
class RenderedDigest:
    data: DigestData
    text_parts: list[str]
    html: str
    newly_saved: bool  # False when a digest for this group and day was already kept (or not saved)


def make_digest(
    sessions: sessionmaker[Session], config: Config, group_id: str, day: date, *, save: bool = True
) -> RenderedDigest:
    """Build and render one group's digest of ``day``; keep it unless ``save=False`` (a preview,
    e.g. an admin asking for today's digest before the day is over)."""
    tz = config.digest_timezone()
    start, end = day_bounds(day, tz)
    group_cfg = config.group(group_id)
    with sessions() as session:
        messages = queries.analysed_messages(session, group_id, start, end)
        stored_group = queries.group(session, group_id)
    name = (group_cfg.name if group_cfg and group_cfg.name else "") or (stored_group.name if stored_group else "") or group_id
    topic = config.topic_for(group_id, fallback=stored_group.topic if stored_group else "")
    policy = config.moderation_for(group_id)
    data = build_digest(
        messages,
        group_id=group_id,
        group_name=name,
        topic=topic,
        day=day,
        tz=tz,
        top_n=config.digest.top_contributors,
        ad_threshold=policy.ad_threshold,
        corroborate=policy.corroborate,
        trusted=frozenset(config.bot.superadmins) | frozenset(group_cfg.admins if group_cfg else ()),
    )
    parts = render_text(data, max_part_chars=config.digest.max_part_chars)
    html = render_html(data)
    newly_saved = False
    if save:
        with sessions.begin() as session:
            newly_saved = queries.save_digest(session, group_id, day, "\n".join(parts), html)
    return RenderedDigest(data, parts, html, newly_saved)


def write_html(rendered: RenderedDigest, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    safe_group = "".join(c if c.isalnum() or c in "-_" else "_" for c in rendered.data.group_id)
    path = folder / f"digest-{safe_group}-{rendered.data.day.isoformat()}.html"
    path.write_text(rendered.html, "utf-8")
    return path
