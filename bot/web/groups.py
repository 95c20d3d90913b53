"""A group's page: its day's activity, moderation policy and dry-run state, topic, members, and the
archive of its stored digests (text, and the HTML page served as stored under a strict CSP)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from bot.config import Config, Moderation
from bot.digest.build import day_bounds
from bot.roles import effective_dry_run
from bot.store import (
    activity as activity_db,
    digest_archive as archive_db,
    digests as digests_db,
    groups as groups_db,
)
from bot.store.activity import GroupActivity
from bot.store.digests import DigestRecord
from bot.store.groups import GroupRecord, MemberRecord
from bot.web import auth
from bot.web.render import page

router = APIRouter()

# A stored digest page may show its inline styles and embedded images, and nothing else: no script,
# no request anywhere (the members' words in it are never trusted as markup).
DIGEST_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


@dataclass(frozen=True, slots=True)
class MemberRow:
    """A row of the members table."""

    member: MemberRecord
    opted_out: bool  # in any group: shown as opted out, with no profile link
    profile_url: str


def profile_url(group_id: str, member_id: str) -> str:
    """Where a member's profile in a group is (the members page)."""
    return f"/members/{quote(group_id, safe='')}/{quote(member_id, safe='')}"


def _stored_group(session: Session, viewer: auth.Viewer, group_id: str) -> GroupRecord:
    """The group, if it is the viewer's (403) and stored (404)."""
    auth.check_group(viewer, group_id)
    found = groups_db.group(session, group_id)
    if found is None:
        raise HTTPException(status_code=404, detail="no such group")
    return found


def _display_name(config: Config, group: GroupRecord) -> str:
    configured = config.group(group.id)
    return (configured.name if configured and configured.name else "") or group.name or group.id


def _day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(status_code=404, detail=f"no day {value!r} (YYYY-MM-DD)") from None


def _activity(session: Session, config: Config, group_id: str, day: date | None) -> tuple[date, bool, GroupActivity]:
    """The activity of ``day`` (default today; when today is still empty, the group's latest day
    with messages), that day, and whether it fell back."""
    tz = config.digest_timezone()
    today = datetime.now(timezone.utc).astimezone(tz).date()
    shown = day or today
    found = activity_db.group_activity(session, *day_bounds(shown, tz)).get(group_id, GroupActivity())
    if day is None and not found.messages:
        latest = activity_db.latest_message_time(session, [group_id])
        if latest is not None and latest.astimezone(tz).date() != today:
            shown = latest.astimezone(tz).date()
            found = activity_db.group_activity(session, *day_bounds(shown, tz)).get(group_id, GroupActivity())
            return shown, True, found
    return shown, False, found


def _member_rows(session: Session, group_id: str) -> list[MemberRow]:
    members = groups_db.members(session, group_id)
    opted_out = groups_db.opted_out_among(session, [m.member_id for m in members]) if members else set()
    return [MemberRow(m, m.opted_out or m.member_id in opted_out, profile_url(group_id, m.member_id)) for m in members]


def _policy(config: Config, group: GroupRecord) -> tuple[Moderation, bool]:
    policy = config.moderation_for(group.id)
    return policy, effective_dry_run(policy, group)


@router.get("/groups/{group_id}", response_class=HTMLResponse)
def group_page(
    request: Request, group_id: str, viewer: auth.CurrentViewer, session: auth.DB, day: str | None = None
) -> HTMLResponse:
    config = auth.config_of(request)
    group = _stored_group(session, viewer, group_id)
    shown, fell_back, activity = _activity(session, config, group_id, _day(day))
    policy, dry_run = _policy(config, group)
    return page(
        request,
        "group.html.j2",
        group=group,
        name=_display_name(config, group),
        topic=config.topic_for(group_id, fallback=group.topic),
        shown=shown,
        fell_back=fell_back,
        activity=activity,
        policy=policy,
        dry_run=dry_run,
        dry_run_in_group=group.dry_run is not None,
        members=_member_rows(session, group_id),
        digests=archive_db.digest_days(session, group_id),
    )


def _stored_digest(session: Session, group_id: str, day: str) -> DigestRecord:
    """A stored digest of a group the caller checked, or 404."""
    the_day = _day(day)
    found = digests_db.get_digest(session, group_id, the_day) if the_day is not None else None
    if found is None:
        raise HTTPException(status_code=404, detail="no digest stored for that day")
    return found


@router.get("/groups/{group_id}/digests/{day}", response_class=HTMLResponse)
def digest_text(
    request: Request, group_id: str, day: str, viewer: auth.CurrentViewer, session: auth.DB
) -> HTMLResponse:
    config = auth.config_of(request)
    group = _stored_group(session, viewer, group_id)
    digest = _stored_digest(session, group_id, day)
    return page(request, "digest_text.html.j2", group=group, name=_display_name(config, group), digest=digest)


@router.get("/groups/{group_id}/digests/{day}/html")
def digest_html(group_id: str, day: str, viewer: auth.CurrentViewer, session: auth.DB) -> Response:
    """The stored HTML page as it is, unable to run script or load anything."""
    _stored_group(session, viewer, group_id)
    digest = _stored_digest(session, group_id, day)
    if not digest.html:
        raise HTTPException(status_code=404, detail="this digest has no HTML version")
    headers = {
        "Content-Security-Policy": DIGEST_CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    return HTMLResponse(digest.html, headers=headers)
