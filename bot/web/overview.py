"""The overview: every group the viewer may see, with today's counts, and the live bot's state."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from bot.digest.build import day_bounds
from bot.store import activity as activity_db, bot_status as bot_status_db, outgoing as outgoing_db
from bot.web import auth
from bot.web.render import page

router = APIRouter()


def _day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(status_code=400, detail=f"day {value!r} is not YYYY-MM-DD") from None


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, viewer: auth.CurrentViewer, session: auth.DB, day: str | None = None) -> HTMLResponse:
    """Today's counts per group (or ``?day=``). When today is still empty everywhere, the last day
    with messages is shown instead, and the page says so."""
    config = auth.config_of(request)
    tz = config.digest_timezone()
    now = datetime.now(timezone.utc)
    today = now.astimezone(tz).date()
    groups = auth.visible_groups(session, viewer)
    shown = _day(day) or today
    start, end = day_bounds(shown, tz)
    activity = activity_db.group_activity(session, start, end)
    fell_back = False
    if day is None and not any(a.messages for a in activity.values()):
        latest = activity_db.latest_message_time(session, [g.id for g in groups])
        if latest is not None and latest.astimezone(tz).date() != today:
            shown = latest.astimezone(tz).date()
            start, end = day_bounds(shown, tz)
            activity = activity_db.group_activity(session, start, end)
            fell_back = True
    rows = [(g, activity.get(g.id, activity_db.GroupActivity())) for g in groups]
    rows.sort(key=lambda r: (-r[1].messages, r[0].name or r[0].id))
    bots = [b for b in bot_status_db.statuses(session) if b.alive(now)]
    visible = {g.id for g in groups}
    outbox = [
        o for o in outgoing_db.outgoing(session, pending_only=True) if o.group_id is None or o.group_id in visible
    ]
    return page(
        request,
        "overview.html.j2",
        today=today,
        shown=shown,
        fell_back=fell_back,
        previous_day=shown - timedelta(days=1),
        next_day=shown + timedelta(days=1) if shown < today else None,
        rows=rows,
        bots=bots,
        outbox_depth=len(outbox),
        scoped=not viewer.user.is_superadmin,
    )
