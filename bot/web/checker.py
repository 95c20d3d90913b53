"""The checker page: paste a message and a topic, see every verdict, entity and reason, as
``POST /api/v1/check`` answers them (the same :class:`bot.check.Checker`). Nothing is stored."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from bot import catalogue
from bot.check import CheckResult
from bot.web import auth
from bot.web.api import MAX_CHECK_CHARS, MAX_TOPIC_CHARS, check_text
from bot.web.render import page

router = APIRouter()


def topic_choices(session: Session, viewer: auth.Viewer) -> list[tuple[str, str]]:
    """``(topic, group name)`` of each of the viewer's groups with a topic, each topic once."""
    out: dict[str, str] = {}
    for g in auth.visible_groups(session, viewer):
        if g.topic and g.topic not in out:
            out[g.topic] = g.name or g.id
    return list(out.items())


def entity_name(entity_type: str) -> str:
    """An entity type in Chinese; an unknown one as it is."""
    return catalogue.ENTITY_NAMES.get(entity_type, entity_type)


def _form(
    request: Request,
    session: Session,
    viewer: auth.Viewer,
    *,
    text: str = "",
    topic: str = "",
    result: CheckResult | None = None,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    return page(
        request,
        "checker.html.j2",
        status_code=status_code,
        text=text,
        topic=topic,
        topics=topic_choices(session, viewer),
        result=result,
        error=error,
        max_chars=MAX_CHECK_CHARS,
        max_topic_chars=MAX_TOPIC_CHARS,
        entity_name=entity_name,
    )


@router.get("/checker", response_class=HTMLResponse)
def checker_form(request: Request, viewer: auth.CurrentViewer, session: auth.DB) -> HTMLResponse:
    return _form(request, session, viewer)


@router.post("/checker", response_class=HTMLResponse, dependencies=[auth.CheckedForm])
def checker_check(request: Request, session: auth.DB, text: str = Form(""), topic: str = Form("")) -> HTMLResponse:
    viewer: auth.Viewer = request.state.viewer
    words = request.app.state.templates.globals["t"]
    topic = topic.strip()
    if not text.strip():
        return _form(request, session, viewer, text=text, topic=topic, error=words.checker_empty, status_code=422)
    if len(text) > MAX_CHECK_CHARS or len(topic) > MAX_TOPIC_CHARS:
        error = words.checker_too_long.format(n=MAX_CHECK_CHARS, topic_n=MAX_TOPIC_CHARS)
        return _form(request, session, viewer, text=text, topic=topic, error=error, status_code=422)
    return _form(request, session, viewer, text=text, topic=topic, result=check_text(request, text, topic))
