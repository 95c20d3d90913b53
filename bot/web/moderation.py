"""The moderation log (every action of the viewer's groups with its verdict and reasons, and Undo:
the ``/notspam`` path, :func:`bot.undo.undo_member`) and the console's audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from bot.config import Config
from bot.outbox import Outbox
from bot.store import (
    accounts as accounts_db,
    actions as actions_db,
    groups as groups_db,
    moderation_log as log_db,
)
from bot.store.models import ACTIONS
from bot.undo import UndoResult, undo_member, undoable
from bot.web import auth
from bot.web.render import page

router = APIRouter()

PAGE_SIZE = 50
AUDIT_LIMIT = 200
CONSOLE_ACTOR = "console:"


@dataclass(frozen=True, slots=True)
class Notice:
    """What the last undo did, as the page it returns to tells it."""

    member: str
    undone: int
    strikes_left: int
    reinvited: bool


def console_outbox(config: Config) -> Outbox:
    """The console's outbox: it only queues (``qunzhi run`` sends what is queued, from any process)."""
    return Outbox(config.digest.max_part_chars)


def _scope(session: Session, viewer: auth.Viewer, group: str | None) -> list[str]:
    """The groups the log shows: the one asked for (403 if not the viewer's), else all the viewer's."""
    if group:
        auth.check_group(viewer, group)
        return [group]
    return auth.visible_group_ids(session, viewer)


def _kind(kind: str | None) -> str | None:
    if not kind:
        return None
    if kind not in ACTIONS:
        raise HTTPException(status_code=400, detail=f"kind must be one of {', '.join(ACTIONS)}")
    return kind


def _query(**params: object) -> str:
    """A query string of the given parameters that have a value ("" when none has)."""
    given = {k: v for k, v in params.items() if v not in (None, "", 0)}
    return urlencode(given)


def _notice(session: Session, viewer: auth.Viewer, done: int | None, n: int, left: int, re: int) -> Notice | None:
    """The notice of an undo the viewer just made (``done``: the action's pk), if it is theirs to see."""
    if done is None:
        return None
    action = actions_db.get_action(session, done)
    if action is None or not viewer.can_see(action.group_id):
        return None
    member = groups_db.member(session, action.group_id, action.member_id)
    name = (member.display_name if member else "") or action.member_id
    return Notice(name, n, left, bool(re))


@router.get("/moderation", response_class=HTMLResponse)
def moderation_log(
    request: Request,
    viewer: auth.CurrentViewer,
    session: auth.DB,
    group: str | None = None,
    kind: str | None = None,
    page_no: int = Query(1, alias="page"),
    done: int | None = None,
    n: int = 0,
    left: int = 0,
    re: int = 0,
) -> HTMLResponse:
    """The log, newest first, ``PAGE_SIZE`` a page; ``?group=`` and ``?kind=`` filter it. ``done``,
    ``n``, ``left``, ``re`` come back from an undo (see :func:`undo`)."""
    group_ids = _scope(session, viewer, group)
    chosen_kind = _kind(kind)
    page_no = max(page_no, 1)
    total = log_db.count_entries(session, group_ids, kind=chosen_kind)
    entries = log_db.log_entries(
        session, group_ids, kind=chosen_kind, offset=(page_no - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    filters = _query(group=group, kind=chosen_kind)
    here = "/moderation" + (f"?{filters}" if filters else "")
    return page(
        request,
        "moderation.html.j2",
        entries=entries,
        groups=auth.visible_groups(session, viewer),
        group=group or "",
        kind=chosen_kind or "",
        kinds=ACTIONS,
        total=total,
        page_no=page_no,
        has_next=page_no * PAGE_SIZE < total,
        pager_base=here + ("&" if filters else "?"),
        back=here + (f"{'&' if filters else '?'}page={page_no}" if page_no > 1 else ""),
        notice=_notice(session, viewer, done, n, left, re),
        undoable=undoable,
        console_actor=CONSOLE_ACTOR,
    )


def _back(target: str) -> str:
    """Where an undo returns to: the log page it came from (never another site)."""
    if target.startswith("/moderation") and not target.startswith("//"):
        return target
    return "/moderation"


def _audit_detail(result: UndoResult) -> dict[str, object]:
    return {
        "member_id": result.member_id,
        "message_pk": result.message_pk,
        "undone": [a.pk for a in result.undone],
        "strikes_left": result.strikes_left,
        "reinvited": result.reinvited,
    }


@router.post("/moderation/{action_pk}/undo", dependencies=[auth.CheckedForm])
def undo(request: Request, action_pk: int, session: auth.DB, back: str = Form("/moderation")) -> RedirectResponse:
    """Undo an action as ``/notspam`` would (its member, its message), record it in the audit trail
    and go back to the log, which tells what happened. An action no longer standing is left alone."""
    viewer: auth.Viewer = request.state.viewer
    action = actions_db.get_action(session, action_pk)
    if action is None:
        raise HTTPException(status_code=404, detail="no such action")
    auth.check_group(viewer, action.group_id)
    target = _back(back)
    joiner = "&" if "?" in target else "?"
    if not undoable(action):
        return RedirectResponse(f"{target}{joiner}done={action_pk}&n=0", status_code=303)
    config = auth.config_of(request)
    result = undo_member(
        session,
        console_outbox(config),
        config,
        action.group_id,
        action.member_id,
        action.message_pk,
        by_contact=viewer.actor,
        now=datetime.now(timezone.utc),
        action_pk=action.pk,
    )
    accounts_db.audit(
        session, viewer.name, "undo", group_id=action.group_id, target=str(action_pk), detail=_audit_detail(result)
    )
    flash = f"done={action_pk}&n={len(result.undone)}&left={result.strikes_left}&re={int(result.reinvited)}"
    return RedirectResponse(f"{target}{joiner}{flash}", status_code=303)


@router.get("/moderation/audit", response_class=HTMLResponse)
def audit_trail(request: Request, viewer: auth.CurrentViewer, session: auth.DB) -> HTMLResponse:
    """Who did what from the console: a superadmin sees everything, an admin their groups' records
    and their own logins."""
    group_ids = None if viewer.user.is_superadmin else auth.visible_group_ids(session, viewer)
    records = accounts_db.audit_log(session, group_ids=group_ids, actor=viewer.name, limit=AUDIT_LIMIT)
    names = {g.id: g.name or g.id for g in auth.visible_groups(session, viewer)}
    return page(request, "moderation_audit.html.j2", records=records, group_names=names, limit=AUDIT_LIMIT)
