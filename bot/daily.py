"""One group's digest for one local day, from the store: fetch, build, render, keep.

Only the members' chat is read (``bot.store.verdicts.analysed_messages``' default role): commands
and the bot's own replies are stored but never counted, threaded, quoted nor mined for hot words.

The digests table decides what has been made: ``save_digest`` is unique per (group, day), so a
digest is kept (and later sent) once, however many processes ask. The same builder covers any
range (``period``: "/digest 3h", 本周, ``qunzhi digest --since``) and one member (``member``); such
a digest is rendered, never kept: that table is the scheduler's exactly-once key, one row per
group and day.

Near-duplicates are found with the shared encoder when ``models.use`` is on — the pipeline's own
weights (one ``ModelAnalyzer`` per process). Without models, or when loading fails, the digest
uses character 3-grams instead.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from bot.config import Config, ConfigError
from bot.digest import (
    DigestData,
    Period,
    PeriodCounts,
    Trends,
    build_digest,
    day_bounds,
    render_html,
    render_text,
    trends,
    verify,
)
from bot.digest.dedupe import EMBED_LAYER, Embedder
from bot.digest.events import TimeExtractor
from bot.store import activity as activity_db, digests as digests_db, groups as groups_db, verdicts as verdicts_db

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RenderedDigest:
    data: DigestData
    text_parts: list[str]
    html: str
    newly_saved: bool  # False when a digest for this group and day was already kept (or not saved)


def default_embedder(config: Config) -> Embedder | None:
    """The shared encoder's ``embed`` when the config uses models (the same weights the pipeline
    uses, see ``bot.wiring.model_for``), else None (3-gram Jaccard)."""
    if not config.models.use:
        return None
    from bot.wiring import model_for
    from nlp.errors import ModelError

    try:
        analyzer = model_for(config)
    except ModelError as e:
        log.warning("digest: %s; near-duplicates by 3-gram Jaccard instead", e)
        return None
    return functools.partial(analyzer.embed, layer=EMBED_LAYER)


def _time_extractor() -> TimeExtractor | None:
    try:
        from nlp.patterns import extract_patterns
    except ImportError:  # pragma: no cover - patterns ship with nlp
        return None
    return extract_patterns


class MemberOptedOut(LookupError):
    """A member digest was asked for a member who opted out: they are never quoted nor named."""


def make_digest(
    sessions: sessionmaker[Session],
    config: Config,
    group_id: str,
    day: date,
    *,
    save: bool = True,
    embed: Embedder | None | Literal["config"] = "config",
    period: Period | None = None,
    member: str | None = None,
) -> RenderedDigest:
    """Build and render one group's digest of ``day``; keep it unless ``save=False`` (a preview,
    e.g. an admin asking for today's digest before the day is over). ``embed``: texts → vectors
    for near-duplicates; by default the config's model (:func:`default_embedder`), ``None`` for
    the lexical measure.

    ``period``: any range instead of ``day`` (whose local day then becomes ``period.last_day``);
    ``member``: a contact id, for a member digest (their messages and the threads they took part
    in; :class:`MemberOptedOut` for an opted-out member). Neither is ever kept: ``save`` must be
    False with them."""
    if save and (period is not None or member is not None):
        raise ValueError("a range or member digest is never kept (the digests table is one row per group and day)")
    tz = config.digest_timezone()
    if period is not None:
        day = period.last_day(tz)
        start, end = period.since, period.until
    else:
        start, end = day_bounds(day, tz)
    group_cfg = config.group(group_id)
    with sessions() as session:
        messages = verdicts_db.analysed_messages(session, group_id, start, end)
        stored_group = groups_db.group(session, group_id)
        opted_out = frozenset(m.member_id for m in groups_db.members(session, group_id) if m.opted_out)
        member_name = ""
        if member is not None:
            if member in opted_out:
                raise MemberOptedOut(member)
            record = groups_db.member(session, group_id, member)
            member_name = (record.display_name if record else "") or next(
                (am.message.sender_name for am in reversed(messages) if am.message.sender_id == member), member
            )
    name = (
        (group_cfg.name if group_cfg and group_cfg.name else "")
        or (stored_group.name if stored_group else "")
        or group_id
    )
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
        opted_out=opted_out,
        embed=default_embedder(config) if isinstance(embed, str) else embed,
        extract_times=_time_extractor(),
        period=period,
        member=member,
        member_name=member_name,
    )
    data = verify.enforce(data, messages, opted_out)  # every quote from a stored message of its sender
    if config.llm is not None and config.llm.enabled and data.clusters:  # optional model-written summaries
        data = verify.enforce(_summarised(config, data), messages, opted_out)
    if period is not None and period.previous is not None and member is None:  # a week or a month
        data = dataclasses.replace(data, trends=_trends(sessions, group_id, period, data))
    parts = render_text(data, max_part_chars=config.digest.max_part_chars)
    html = render_html(data)
    newly_saved = False
    if save:
        with sessions.begin() as session:
            newly_saved = digests_db.save_digest(session, group_id, day, "\n".join(parts), html)
    return RenderedDigest(data, parts, html, newly_saved)


def _summarised(config: Config, data: DigestData) -> DigestData:
    """``data`` with the biggest topics summarised by ``[llm]`` (``bot.digest.summaries``); as it
    was when the endpoint cannot be used (each failure logged there, or here for a missing key)."""
    from bot.digest.summaries import summarise  # httpx and the client only when [llm] is on
    from bot.llm import client_for

    assert config.llm is not None
    try:
        client = client_for(config)
    except ConfigError as e:
        log.warning("digest %s %s: no topic summaries: %s", data.group_id, data.day, e)
        return data
    with client:
        clusters = summarise(data.clusters, data.topic, client, max_topics=config.llm.max_topics)
    return dataclasses.replace(data, clusters=clusters)


def _trends(sessions: sessionmaker[Session], group_id: str, period: Period, data: DigestData) -> Trends:
    """The period against the previous one of the same length, from the stored counts."""
    assert period.previous is not None

    def counts(start: datetime, end: datetime) -> PeriodCounts:
        with sessions() as session:
            a = activity_db.group_activity(session, start, end).get(group_id)
        return PeriodCounts(a.messages, a.speakers, a.useful, a.ads) if a else PeriodCounts(0, 0, 0, 0)

    return trends(counts(period.since, period.until), counts(*period.previous), period.previous_label, data.threads)


def write_html(rendered: RenderedDigest, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    safe_group = "".join(c if c.isalnum() or c in "-_" else "_" for c in rendered.data.group_id)
    data = rendered.data
    when = data.day.isoformat()
    if data.period and data.since is not None and data.until is not None:
        tz = ZoneInfo(data.timezone)
        when = f"{data.since.astimezone(tz):%Y%m%dT%H%M}-{data.until.astimezone(tz):%Y%m%dT%H%M}"
    if data.member:
        when += "-member-" + hashlib.sha256(data.member.encode()).hexdigest()[:8]  # no name in a file name
    path = folder / f"digest-{safe_group}-{when}.html"
    path.write_text(rendered.html, "utf-8")
    return path
