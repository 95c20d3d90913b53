"""Members and leads: the table of profiled members over the viewer's groups (sortable, filterable),
each member's profile in a group with the reasons behind every score and their timeline, and the
leads as CSV. Opted-out members are never shown or exported (:mod:`bot.leads` leaves them out).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from bot import catalogue
from bot.config import Config
from bot.leads import LeadRow, lead_rows, member_detail, member_timeline
from bot.store import groups as groups_db
from bot.web import auth
from bot.web.render import Words, local_time, page

router = APIRouter()

PAGE_SIZE = 100
SORTS: dict[str, Callable[[LeadRow], Any]] = {
    "lead": lambda r: r.lead_score,
    "risk": lambda r: (r.ad_risk_rank, r.ad_score_mean),
    "messages": lambda r: r.messages,
    "last_seen": lambda r: r.last_seen,
    "name": lambda r: r.display_name.casefold(),
}
FIRST_DIRECTION = {"lead": "desc", "risk": "desc", "messages": "desc", "last_seen": "desc", "name": "asc"}
RISK_LEVELS = (catalogue.RISK_LOW, catalogue.RISK_MEDIUM, catalogue.RISK_HIGH)  # by rank
CSV_INJECTION = ("=", "+", "-", "@", "\t", "\r")  # a cell a spreadsheet would run as a formula


def _int_or_none(value: str, low: int, high: int) -> int | None:
    """A number from a query field; None when it is empty or not a number, clamped to [low, high]."""
    try:
        return min(high, max(low, int(value.strip())))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class LeadQuery:
    """The table's filters and order, as the page's query string carries them."""

    group: str = ""  # a group id; "" for every group the viewer sees
    min_lead: int | None = None  # 0..100
    min_risk: int | None = None  # rank: 1 medium or higher, 2 high
    topic: str = ""  # a word among the member's top topics
    q: str = ""  # part of the member's name or id
    sort: str = "lead"
    dir: str = "desc"

    @classmethod
    def parse(cls, request: Request) -> LeadQuery:
        p = request.query_params
        sort = p.get("sort", "lead")
        sort = sort if sort in SORTS else "lead"
        direction = p.get("dir", FIRST_DIRECTION[sort])
        return cls(
            group=p.get("group", "").strip(),
            min_lead=_int_or_none(p.get("min_lead", ""), 0, 100),
            min_risk=_int_or_none(p.get("min_risk", ""), 0, 2) or None,
            topic=p.get("topic", "").strip(),
            q=p.get("q", "").strip(),
            sort=sort,
            dir=direction if direction in ("asc", "desc") else FIRST_DIRECTION[sort],
        )

    def params(self, **changes: Any) -> dict[str, str]:
        """The query string's fields (empty ones left out), with ``changes`` applied."""
        query = replace(self, **changes)
        fields = {
            "group": query.group,
            "min_lead": "" if query.min_lead is None else str(query.min_lead),
            "min_risk": "" if query.min_risk is None else str(query.min_risk),
            "topic": query.topic,
            "q": query.q,
            "sort": query.sort,
            "dir": query.dir,
        }
        return {k: v for k, v in fields.items() if v}

    def url(self, path: str = "/members", **changes: Any) -> str:
        return f"{path}?{urlencode(self.params(**changes))}"

    def sort_url(self, column: str) -> str:
        """The header link of ``column``: sorted by it, the other way round when it is the order now."""
        if column == self.sort:
            return self.url(sort=column, dir="asc" if self.dir == "desc" else "desc")
        return self.url(sort=column, dir=FIRST_DIRECTION[column])

    def keeps(self, row: LeadRow) -> bool:
        topic, name = self.topic.casefold(), self.q.casefold()
        return (
            (not self.group or row.group_id == self.group)
            and (self.min_lead is None or row.lead_score >= self.min_lead)
            and (self.min_risk is None or row.ad_risk_rank >= self.min_risk)
            and (not topic or any(topic in t.casefold() for t in row.topics))
            and (not name or name in row.display_name.casefold() or name in row.member_id.casefold())
        )

    def apply(self, rows: Sequence[LeadRow]) -> list[LeadRow]:
        """The rows the filters keep, in the asked order (ties keep ``lead_rows``' order)."""
        kept = [r for r in rows if self.keeps(r)]
        return sorted(kept, key=SORTS[self.sort], reverse=self.dir == "desc")


def member_url(group_id: str, member_id: str) -> str:
    return f"/members/{quote(group_id, safe='')}/{quote(member_id, safe='')}"


def _leads(request: Request, viewer: auth.Viewer, session: auth.DB, query: LeadQuery) -> list[LeadRow]:
    """The viewer's leads under ``query``; 403 for a group filter naming someone else's group."""
    if query.group:
        auth.check_group(viewer, query.group)
    group_ids = [query.group] if query.group else auth.visible_group_ids(session, viewer)
    return query.apply(lead_rows(session, auth.config_of(request), group_ids))


def _page_number(request: Request) -> int:
    return _int_or_none(request.query_params.get("page", ""), 1, 1_000_000) or 1


@router.get("/members", response_class=HTMLResponse)
def members(request: Request, viewer: auth.CurrentViewer, session: auth.DB) -> HTMLResponse:
    query = LeadQuery.parse(request)
    rows = _leads(request, viewer, session, query)
    number = _page_number(request)
    shown = rows[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
    return page(
        request,
        "members.html.j2",
        query=query,
        rows=shown,
        total=len(rows),
        page_number=number,
        has_next=number * PAGE_SIZE < len(rows),
        groups=auth.visible_groups(session, viewer),
        member_url=member_url,
        risk_levels=RISK_LEVELS,
        scoped=not viewer.user.is_superadmin,
    )


@router.get("/members.csv")
def members_csv(request: Request, viewer: auth.CurrentViewer, session: auth.DB) -> Response:
    """The leads under the page's filters as CSV (UTF-8 with a BOM, so Excel reads the Chinese)."""
    rows = _leads(request, viewer, session, LeadQuery.parse(request))
    body = "\ufeff" + leads_csv(rows, Words(catalogue.CONSOLE), auth.config_of(request))
    return Response(
        body.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="leads.csv"', "Cache-Control": "no-store"},
    )


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: one starting like a formula gets a leading ``'``."""
    text = str(value)
    return "'" + text if text.startswith(CSV_INJECTION) else text


def leads_csv(rows: Sequence[LeadRow], t: Words, config: Config) -> str:
    """The rows as CSV text with a header row in words; reasons and lists joined in one cell each."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        [
            t.members_csv_group,
            t.members_csv_group_id,
            t.members_csv_name,
            t.members_csv_member_id,
            t.members_csv_lead,
            t.members_csv_lead_reasons,
            t.members_csv_risk,
            t.members_csv_risk_reasons,
            t.members_csv_messages,
            t.members_csv_active_days,
            t.members_csv_last_seen,
            t.members_csv_topics,
            t.members_csv_roles,
        ]
    )
    for r in rows:
        cells: list[object] = [
            r.group_name,
            r.group_id,
            r.display_name,
            r.member_id,
            r.lead_score,
            t.members_list_separator.join(r.lead_reasons),
            r.ad_risk,
            t.members_list_separator.join(r.ad_risk_reasons),
            r.messages,
            r.active_days,
            local_time(r.last_seen, config, "%Y-%m-%d %H:%M"),
            t.members_topic_separator.join(r.topics),
            roles_text(r, t),
        ]
        writer.writerow([safe_cell(c) for c in cells])
    return out.getvalue()


def roles_text(row: LeadRow, t: Words) -> str:
    roles = row.roles
    return t.members_roles.format(
        questions=roles.questions, answers=roles.answers, links=roles.links, useful=roles.useful, ads=roles.ads
    )


@router.get("/members/{group_id}/{member_id:path}", response_class=HTMLResponse)
def member(request: Request, group_id: str, member_id: str, viewer: auth.CurrentViewer, session: auth.DB) -> Response:
    """A member's profile in one group: 403 for someone else's group, 404 for an opted-out member
    or one without a profile there."""
    auth.check_group(viewer, group_id)
    if groups_db.is_opted_out(session, member_id):
        raise HTTPException(status_code=404, detail="no such member")
    config = auth.config_of(request)
    detail = member_detail(session, config, group_id, member_id)
    if detail is None:
        raise HTTPException(status_code=404, detail="no such member")
    known = groups_db.member(session, group_id, member_id)
    return page(
        request,
        "member.html.j2",
        d=detail,
        r=detail.row,
        whitelisted=known is not None and known.whitelisted,
        hints=[(catalogue.DEMOGRAPHIC_TASKS.get(task, task), shown) for task, shown in detail.hints.items()],
        timeline=member_timeline(session, config, group_id, member_id),
        placeholder=catalogue.PLACEHOLDER,
        no_lead_reasons=not detail.row.lead_reasons,
    )
