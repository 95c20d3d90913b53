"""The overview: every group the viewer may see, with today's counts, and the live bot's state."""

from __future__ import annotations

from datetime import datetime, timezone

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from bot.digest.build import day_bounds
from bot.store import activity as activity_db, bot_status as bot_status_db, outgoing as outgoing_db
from bot.web import auth
from bot.web.render import page

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, viewer: auth.CurrentViewer, session: auth.DB) -> HTMLResponse:
    config = auth.config_of(request)
    tz = config.digest_timezone()
    now = datetime.now(timezone.utc)
    today = now.astimezone(tz).date()
    start, end = day_bounds(today, tz)
    groups = auth.visible_groups(session, viewer)
    activity = activity_db.group_activity(session, start, end)
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
        rows=rows,
        bots=bots,
        outbox_depth=len(outbox),
        scoped=not viewer.user.is_superadmin,
    )
