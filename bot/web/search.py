"""Message search: full text over the viewer's groups' stored messages (:mod:`bot.store.search`),
filtered by group, member, local date range and verdict, newest first, with the matched words
marked. The messages not yet cut are cut first, a bounded batch per search."""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence
from datetime import date, datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bot.digest.build import day_bounds
from bot.store import search as search_db
from bot.web import auth
from bot.web.render import page

router = APIRouter()
log = logging.getLogger(__name__)

PAGE_SIZE = 50
INDEX_BATCH = 2000  # messages cut per search at most (about a fifth of a second)


def _fold(value: str) -> str:
    """``value`` folded as the search folds words (NFKC, lower case), character by character, so
    positions in the result are positions in ``value``."""
    out = []
    for ch in value:
        folded = unicodedata.normalize("NFKC", ch).lower()
        out.append(folded if len(folded) == 1 else ch)
    return "".join(out)


def _latin(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _spans(folded: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    """Where ``terms`` occur in ``folded``, overlaps merged; a Latin term only as a whole word
    ("ai" is not marked inside "said")."""
    found: list[tuple[int, int]] = []
    for term in terms:
        start = folded.find(term)
        while start != -1:
            end = start + len(term)
            inside = (_latin(term[0]) and start > 0 and _latin(folded[start - 1])) or (
                _latin(term[-1]) and end < len(folded) and _latin(folded[end])
            )
            if not inside:
                found.append((start, end))
            start = folded.find(term, start + 1)
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def highlight(value: str, terms: Sequence[str]) -> Markup:
    """``value`` escaped, every occurrence of the query's ``terms`` in ``<mark>``. The text is a
    member's words: it is escaped piece by piece, never trusted as markup."""
    pieces: list[str] = []
    at = 0
    for start, end in _spans(_fold(value), terms):
        pieces += [escape(value[at:start]), Markup("<mark>"), escape(value[start:end]), Markup("</mark>")]
        at = end
    pieces.append(escape(value[at:]))
    return Markup("").join(pieces)


def verdict_labels(verdicts: Sequence[search_db.HitVerdict]) -> list[search_db.HitVerdict]:
    """The verdicts a hit shows: one per label (the ad analyzer's "ad" and the intent "ad" are one
    chip), none "skipped"."""
    shown: dict[str, search_db.HitVerdict] = {}
    for v in verdicts:
        if v.label != "skipped":
            shown.setdefault(v.label, v)
    return list(shown.values())


def _day(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(status_code=400, detail=f"{name} must be a date, YYYY-MM-DD") from None


def _range(since: date | None, until: date | None, tz: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """The local days ``since`` .. ``until`` (both included) as a half-open UTC range."""
    return (day_bounds(since, tz)[0] if since else None, day_bounds(until, tz)[1] if until else None)


def _verdict(value: str) -> str:
    if value and value not in search_db.VERDICT_FILTERS:
        raise HTTPException(status_code=400, detail=f"verdict must be one of {', '.join(search_db.VERDICT_FILTERS)}")
    return value


def _scope(session: Session, viewer: auth.Viewer, group: str) -> tuple[str, ...] | None:
    """The groups searched: the one asked for (403 if not the viewer's), else all the viewer's
    (None, every group, for a superadmin)."""
    if group:
        auth.check_group(viewer, group)
        return (group,)
    if viewer.user.is_superadmin:
        return None
    return tuple(auth.visible_group_ids(session, viewer))


def _index_pending(request: Request) -> bool:
    """Cut the messages not cut yet, a bounded batch in a transaction of its own (committed before
    the search reads); True when more may be waiting (the batch was full, or the database was too
    busy to write: the search then finds what was cut before)."""
    try:
        with auth.store_of(request).sessions.begin() as session:
            return search_db.index_pending(session, INDEX_BATCH) == INDEX_BATCH
    except OperationalError as e:
        log.warning("search: could not index new messages now: %s", e.orig)
        return True


@router.get("/search", response_class=HTMLResponse)
def search_page(
    request: Request,
    viewer: auth.CurrentViewer,
    session: auth.DB,
    q: str = "",
    group: str = "",
    member: str = "",
    since: str = "",
    until: str = "",
    verdict: str = "",
    page_no: int = Query(1, alias="page"),
) -> HTMLResponse:
    """The search form, and with a query or a filter the matching messages, ``PAGE_SIZE`` a page."""
    q, member = q.strip(), member.strip()
    tz = auth.config_of(request).digest_timezone()
    since_day, until_day = _day(since, "since"), _day(until, "until")
    start, end = _range(since_day, until_day, tz)
    group_ids = _scope(session, viewer, group)
    filters = search_db.SearchFilters(group_ids, member, start, end, _verdict(verdict))
    page_no = max(page_no, 1)
    catching_up = bool(q) and _index_pending(request)
    result = None
    if q or group or member or since_day or until_day or verdict:
        result = search_db.search(session, q, filters, limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE)
    params = {"q": q, "group": group, "member": member, "since": since, "until": until, "verdict": verdict}
    query = urlencode({k: v for k, v in params.items() if v})
    groups = auth.visible_groups(session, viewer)
    return page(
        request,
        "search.html.j2",
        form=params,
        groups=groups,
        group_names={g.id: g.name or g.id for g in groups},
        verdicts=list(search_db.VERDICT_FILTERS),
        result=result,
        terms=result.terms if result else (),
        catching_up=catching_up,
        page_no=page_no,
        has_next=result is not None and page_no * PAGE_SIZE < result.total,
        pager_base=f"/search?{query}&" if query else "/search?",
        highlight=highlight,
        verdict_labels=verdict_labels,
    )
