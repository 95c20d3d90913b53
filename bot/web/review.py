"""The review queue: the machine proposes, a person decides.

``GET /review`` lists the viewer's groups' messages the judges are least sure of
(:mod:`bot.store.review` says which and in what order); ``POST /review/{message_pk}`` records one
click (广告 / 不是广告 / 有用 / 无用) as an admin correction, the training data ``qunzhi train`` reads,
with an audit record in the same transaction. The page also shows how many corrections are waiting
for the next training run: those decided since the shipped model was trained.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time
from pathlib import Path
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from bot.config import Config
from bot.store import accounts as accounts_db, corrections as corrections_db, review as review_db
from bot.web import auth
from bot.web.render import page

router = APIRouter()

PAGE_SIZE = 50
# A label clicked on the page -> the analyzer its correction is for.
LABELS = {"ad": "ad", "normal": "ad", "useful": "useful", "useless": "useful"}
MANIFEST_FILE = "manifest.json"  # nlp.model.MANIFEST_FILE (not imported: that module loads torch)
TRAIN_COMMAND = "qunzhi train"


def thresholds(config: Config, group_ids: list[str]) -> review_db.Thresholds:
    """The lines the queue measures against, from the config: each group's ad threshold and the
    model's useful threshold."""
    return review_db.Thresholds(
        ad_by_group={g: config.moderation_for(g).ad_threshold for g in group_ids},
        ad_default=config.moderation.ad_threshold,
        useful=config.models.useful_threshold,
    )


def trained_on(model_dir: Path) -> date | None:
    """The day the model in ``model_dir`` was trained, as its manifest records it (``date``, the
    trainer's calendar day); None when there is no manifest or it records no day. A manifest that
    cannot be read, or a day that is not a date, is an error."""
    path = model_dir / MANIFEST_FILE
    if not path.is_file():
        return None
    manifest = json.loads(path.read_text("utf-8"))
    day = manifest.get("date") if isinstance(manifest, dict) else None
    return date.fromisoformat(day) if isinstance(day, str) and day else None


def waiting_for_training(session: Session, config: Config) -> tuple[int, date | None]:
    """How many corrections the next ``qunzhi train`` would add since the shipped model was trained,
    and the day it was trained (None: unknown, every correction counted). The manifest knows only
    the day, so corrections from the start of that day (the operator's timezone) on count: a
    correction made that day before the run is counted as waiting rather than missed."""
    day = trained_on(config.models_path())
    since = datetime.combine(day, time.min, tzinfo=config.digest_timezone()) if day is not None else None
    return review_db.corrections_waiting(session, since), day


@router.get("/review", response_class=HTMLResponse)
def review_page(
    request: Request,
    viewer: auth.CurrentViewer,
    session: auth.DB,
    group: str = "",
    page_number: int = Query(1, alias="page", ge=1, le=1000),
) -> HTMLResponse:
    config = auth.config_of(request)
    groups = auth.visible_groups(session, viewer)
    if group:
        auth.check_group(viewer, group)
    group_ids = [group] if group else [g.id for g in groups]
    found = review_db.review_queue(session, group_ids, thresholds(config, group_ids), limit=PAGE_SIZE, page=page_number)
    waiting, trained_day = waiting_for_training(session, config)
    return page(
        request,
        "review.html.j2",
        items=found.items,
        has_next=found.has_next,
        page_number=page_number,
        pager_base="/review?" + (urlencode({"group": group}) + "&" if group else ""),
        groups=groups,
        group=group,
        group_names={g.id: g.name or g.id for g in groups},
        waiting=waiting,
        trained_day=trained_day,
        train_command=TRAIN_COMMAND,
    )


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


@router.post("/review/{message_pk}", dependencies=[auth.CheckedForm])
def label_message(
    request: Request,
    message_pk: int,
    session: auth.DB,
    label: str = Form(""),
    group: str = Form(""),
) -> Response:
    """Record one person's label for a message as an admin correction, audited."""
    viewer: auth.Viewer = request.state.viewer
    config = auth.config_of(request)
    target = review_db.review_target(session, message_pk)
    if target is None:
        raise HTTPException(status_code=404, detail="no such message")
    group_id = target.message.group_id
    auth.check_group(viewer, group_id)
    analyzer = LABELS.get(label)
    if analyzer is None:
        raise HTTPException(status_code=400, detail=f"label must be one of {', '.join(LABELS)}")
    if target.purged:
        raise HTTPException(status_code=409, detail="the message's text was purged: nothing to train on")
    correction = corrections_db.record_correction(
        session,
        text=target.message.text,
        analyzer=analyzer,
        label=label,
        by_contact=viewer.actor,
        message_pk=message_pk,
    )
    accounts_db.audit(
        session,
        viewer.name,
        "review_label",
        group_id=group_id,
        target=str(message_pk),
        detail={"analyzer": analyzer, "label": label, "correction": correction},
    )
    if not _wants_json(request):
        back = "/review" + (f"?{urlencode({'group': group})}" if group and viewer.can_see(group) else "")
        return RedirectResponse(back, status_code=303)
    waiting, _ = waiting_for_training(session, config)
    still = review_db.in_queue(session, message_pk, group_id, thresholds(config, [group_id]))
    return JSONResponse(
        {
            "message_pk": message_pk,
            "analyzer": analyzer,
            "label": label,
            "correction": correction,
            "in_queue": still,
            "waiting": waiting,
        }
    )
