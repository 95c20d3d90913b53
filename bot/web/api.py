"""The HTTP API under ``/api/v1``: check a message, and read groups, digests, moderation actions,
corrections and leads.

Every endpoint takes ``Authorization: Bearer <token>`` (``qunzhi token add``; 401 without a valid
one) and answers for the token's user: an admin reads their groups only (403 for another). Only
``POST /check`` computes anything, and it stores nothing. The schema is at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

import threading
from datetime import date, datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from bot.check import Checker, CheckResult, shared_checker
from bot.digest.build import day_bounds
from bot.leads import lead_rows
from bot.store import (
    actions as actions_db,
    activity as activity_db,
    api_reads,
    digest_archive,
    digests as digests_db,
    groups as groups_db,
)
from bot.store.actions import ActionRecord
from bot.web import auth
from nlp.errors import ModelError

MAX_CHECK_CHARS = 5000
MAX_TOPIC_CHARS = 200

# Declares the bearer scheme in the OpenAPI schema; auth.api_viewer does the checking.
_bearer = HTTPBearer(auto_error=False, description="an API token from `qunzhi token add`")
router = APIRouter(dependencies=[Depends(_bearer), Depends(auth.api_viewer)], tags=["api"])

_checker_lock = threading.Lock()


def checker_of(request: Request) -> Checker:
    """The app's checker, built on first use (``qunzhi web`` warms the same one up before serving)."""
    state = request.app.state
    with _checker_lock:
        checker: Checker | None = getattr(state, "checker", None)
        if checker is None:
            checker = state.checker = shared_checker(auth.config_of(request))
    return checker


def check_text(request: Request, text: str, topic: str) -> CheckResult:
    """Judge one message with the app's checker; 503 when the configured model cannot load."""
    try:
        return checker_of(request).check(text, topic)
    except ModelError as e:
        raise HTTPException(status_code=503, detail=f"model not available: {e}") from None


def _utc(value: datetime | None) -> datetime | None:
    """A query's time: as given with an offset, else read as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)


def _stored_group(session: Session, viewer: auth.Viewer, group_id: str) -> groups_db.GroupRecord:
    """A group the viewer may see (else 403) that the store has (else 404)."""
    auth.check_group(viewer, group_id)
    group = groups_db.group(session, group_id)
    if group is None:
        raise HTTPException(status_code=404, detail="no such group")
    return group


# ------------------------------------------------------------------------------------------ check


class CheckRequest(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_CHECK_CHARS, description="the message")
    topic: str = Field("", max_length=MAX_TOPIC_CHARS, description="the group's topic, for the useful verdict")


class VerdictOut(BaseModel):
    task: str = Field(description="ad, ad_rules (the rule baseline's ad verdict beside the model's), useful, intent")
    label: str
    score: float = Field(description="confidence in label, 0..1")
    p: dict[str, float] = Field(description="probability per label (the rules: the label and its other)")
    reasons: list[str]
    model: str = Field(description="weights or rules version")


class EntityOut(BaseModel):
    type: str = Field(description="PER, LOC, ORG, URL, PHONE, WECHAT, QQ, EMAIL, MONEY, TIME, ...")
    text: str
    start: int = Field(description="character offset, inclusive")
    end: int = Field(description="character offset, exclusive")
    score: float
    value: str = Field(description="normalised value (ISO 8601 time, phone digits, amount), or empty")
    source: str = Field(description="what found it: patterns or the NER model")


class CheckOut(BaseModel):
    """What ``qunzhi predict`` and ``qunzhi extract`` print for the message."""

    text: str
    topic: str
    intent: str | None
    verdicts: list[VerdictOut]
    entities: list[EntityOut]


def check_out(result: CheckResult) -> CheckOut:
    return CheckOut(
        text=result.text,
        topic=result.topic,
        intent=result.intent,
        verdicts=[
            VerdictOut(task=v.task, label=v.label, score=v.score, p=v.p, reasons=list(v.reasons), model=v.model)
            for v in result.verdicts
        ],
        entities=[
            EntityOut(type=e.type, text=e.text, start=e.start, end=e.end, score=e.score, value=e.value, source=e.source)
            for e in result.entities
        ],
    )


@router.post("/check", response_model=CheckOut)
def check(request: Request, body: CheckRequest) -> CheckOut:
    """Every verdict (with its reasons) and entity of one message; nothing is stored."""
    return check_out(check_text(request, body.text, body.topic))


# ----------------------------------------------------------------------------------------- groups


class ActivityOut(BaseModel):
    messages: int = Field(description="the members' chat today")
    speakers: int
    useful: int
    ads: int
    actions: dict[str, int] = Field(description="standing moderation actions today, by kind")
    backlog: int = Field(description="chat waiting for analysis")


class GroupOut(BaseModel):
    id: str
    name: str
    topic: str
    dry_run: bool | None = Field(description="an admin's dry-run switch; null follows the config")
    today: ActivityOut


class GroupsOut(BaseModel):
    day: date = Field(description="today in the digest timezone")
    groups: list[GroupOut]


@router.get("/groups", response_model=GroupsOut)
def groups(request: Request, viewer: auth.ApiViewer, session: auth.DB) -> GroupsOut:
    """The groups the token's user may see, with today's counts."""
    tz = auth.config_of(request).digest_timezone()
    today = datetime.now(timezone.utc).astimezone(tz).date()
    activity = activity_db.group_activity(session, *day_bounds(today, tz))
    out = []
    for g in auth.visible_groups(session, viewer):
        a = activity.get(g.id, activity_db.GroupActivity())
        counts = ActivityOut(
            messages=a.messages, speakers=a.speakers, useful=a.useful, ads=a.ads, actions=a.actions, backlog=a.backlog
        )
        out.append(GroupOut(id=g.id, name=g.name, topic=g.topic, dry_run=g.dry_run, today=counts))
    return GroupsOut(day=today, groups=out)


# ---------------------------------------------------------------------------------------- digests


class DigestDayOut(BaseModel):
    day: date
    created_at: datetime
    sent_at: datetime | None
    has_html: bool


class DigestOut(BaseModel):
    group_id: str
    day: date
    text: str = Field(description="the digest as sent to the group")
    html: str = Field(description="the digest's web page")
    created_at: datetime
    sent_at: datetime | None


@router.get("/groups/{group_id}/digests", response_model=list[DigestDayOut])
def digest_days(group_id: str, viewer: auth.ApiViewer, session: auth.DB) -> list[DigestDayOut]:
    """The days the group has a stored digest for, newest first."""
    _stored_group(session, viewer, group_id)
    return [
        DigestDayOut(day=d.day, created_at=d.created_at, sent_at=d.sent_at, has_html=d.has_html)
        for d in digest_archive.digest_days(session, group_id)
    ]


@router.get("/groups/{group_id}/digests/{day}", response_model=DigestOut)
def digest(group_id: str, day: date, viewer: auth.ApiViewer, session: auth.DB) -> DigestOut:
    """One day's digest, text and HTML; 404 when none was stored."""
    _stored_group(session, viewer, group_id)
    found = digests_db.get_digest(session, group_id, day)
    if found is None:
        raise HTTPException(status_code=404, detail="no digest for that day")
    return DigestOut(
        group_id=found.group_id,
        day=found.day,
        text=found.text,
        html=found.html,
        created_at=found.created_at,
        sent_at=found.sent_at,
    )


# ---------------------------------------------------------------------------------------- actions


class ActionVerdictOut(BaseModel):
    label: str
    score: float | None


class ActionOut(BaseModel):
    id: int
    group_id: str
    member_id: str
    message_id: int | None = Field(description="the stored message it was about, if any")
    action: str = Field(description="log, warn, kick, strike, undo")
    verdict: ActionVerdictOut | None = Field(description="the verdict that triggered it; null for an admin's")
    reasons: list[str]
    strike: bool = Field(description="counts against the member while not undone")
    dry_run: bool
    created_at: datetime
    undone_at: datetime | None
    by: str | None = Field(description="who triggered it; null when the bot decided")


def action_out(a: ActionRecord) -> ActionOut:
    verdict = ActionVerdictOut(label=a.verdict_label, score=a.verdict_score) if a.verdict_label is not None else None
    return ActionOut(
        id=a.pk,
        group_id=a.group_id,
        member_id=a.member_id,
        message_id=a.message_pk,
        action=a.action,
        verdict=verdict,
        reasons=list(a.reasons),
        strike=a.strike,
        dry_run=a.dry_run,
        created_at=a.created_at,
        undone_at=a.undone_at,
        by=a.by_contact,
    )


@router.get("/groups/{group_id}/actions", response_model=list[ActionOut])
def actions(
    group_id: str,
    viewer: auth.ApiViewer,
    session: auth.DB,
    since: Annotated[datetime | None, Query(description="ISO 8601; without an offset, UTC")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ActionOut]:
    """The group's moderation actions, newest first, with the verdict and reasons behind each."""
    _stored_group(session, viewer, group_id)
    return [action_out(a) for a in actions_db.actions_for_group(session, group_id, _utc(since), limit=limit)]


# ------------------------------------------------------------------------------------ corrections


class CorrectionOut(BaseModel):
    id: int
    message_id: int | None
    group_id: str | None = Field(description="the corrected message's group; null once the message is gone")
    text: str
    analyzer: str
    label: str
    by: str
    created_at: datetime


@router.get("/corrections", response_model=list[CorrectionOut])
def corrections(
    viewer: auth.ApiViewer,
    session: auth.DB,
    since: Annotated[datetime | None, Query(description="ISO 8601; without an offset, UTC")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> list[CorrectionOut]:
    """Admin corrections (training data), oldest first: those of the user's groups; a superadmin's
    also those whose message is gone (no group to scope them by)."""
    scope = None if viewer.user.is_superadmin else auth.visible_group_ids(session, viewer)
    return [
        CorrectionOut(
            id=c.correction.pk,
            message_id=c.correction.message_pk,
            group_id=c.group_id,
            text=c.correction.text,
            analyzer=c.correction.analyzer,
            label=c.correction.label,
            by=c.correction.by_contact,
            created_at=c.correction.created_at,
        )
        for c in api_reads.corrections_in_groups(session, scope, _utc(since), limit)
    ]


# ------------------------------------------------------------------------------------------ leads


class RolesOut(BaseModel):
    questions: int
    answers: int
    links: int
    useful: int
    ads: int


class LeadOut(BaseModel):
    group_id: str
    group_name: str
    member_id: str
    display_name: str
    lead_score: int = Field(description="0..100")
    lead_reasons: list[str]
    ad_risk: str = Field(description="the ad risk as the console words it")
    ad_risk_rank: int = Field(description="0 low, 1 medium, 2 high")
    ad_risk_reasons: list[str]
    messages: int
    active_days: int
    last_seen: datetime
    topics: list[str]
    roles: RolesOut
    strikes: int


@router.get("/leads", response_model=list[LeadOut])
def leads(
    request: Request,
    viewer: auth.ApiViewer,
    session: auth.DB,
    group: Annotated[str | None, Query(description="one group's members only")] = None,
    min_score: Annotated[int, Query(ge=0, le=100)] = 0,
) -> list[LeadOut]:
    """Profiled members of the user's groups, best lead first; members who opted out are never listed."""
    if group is not None:
        auth.check_group(viewer, group)
    scope = [group] if group is not None else auth.visible_group_ids(session, viewer)
    return [
        LeadOut(
            group_id=r.group_id,
            group_name=r.group_name,
            member_id=r.member_id,
            display_name=r.display_name,
            lead_score=r.lead_score,
            lead_reasons=list(r.lead_reasons),
            ad_risk=r.ad_risk,
            ad_risk_rank=r.ad_risk_rank,
            ad_risk_reasons=list(r.ad_risk_reasons),
            messages=r.messages,
            active_days=r.active_days,
            last_seen=r.last_seen,
            topics=list(r.topics),
            roles=RolesOut(
                questions=r.roles.questions,
                answers=r.roles.answers,
                links=r.roles.links,
                useful=r.roles.useful,
                ads=r.roles.ads,
            ),
            strikes=r.strikes,
        )
        for r in lead_rows(session, auth.config_of(request), scope)
        if r.lead_score >= min_score
    ]
