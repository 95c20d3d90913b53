"""Full-text search over stored messages (the console's message search).

A message's words are jieba's search-mode cut of its text and quote (``cut_for_search``: a long
word and the dictionary words inside it, so 数据库 is found by 数据 too), NFKC-folded, lower-cased,
punctuation dropped, each once, space-separated, in ``message_search.terms``. A query is cut by
the same function and every one of its terms must match (AND). SQLite searches them with FTS5
(``message_search_fts``), PostgreSQL with a GIN index on ``to_tsvector('simple', terms)``
(migration 0009); both split on spaces, so what jieba cut is what is searched.

The words are written lazily, not when a message is stored (the hot path loads no jieba):
:func:`index_pending` cuts the messages that have none yet, a bounded batch at a time. Only chat
and commands with text that the retention purge has not blanked are searchable; the purge deletes
the words of what it blanks (:func:`drop_purged`), and a purged message is never cut again.
jieba is loaded on the first cut (``nlp.words``, the process's one tokenizer), never at import.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, delete, exists, func, literal_column, or_, select, text
from sqlalchemy.orm import Session

from bot.store.common import CHAT, COMMAND, MESSAGE_SEARCH, MESSAGES, VERDICTS, aware, changed, dialect_insert

SEARCHED_ROLES = (CHAT, COMMAND)  # the bot's own words are not searched
FTS_TABLE = "message_search_fts"  # SQLite's FTS5 index over message_search (migration 0009)
# index_pending looks again at this many message pks below the newest indexed one: on PostgreSQL a
# message can commit after a later one was indexed, and must not be skipped for good.
RECHECK_WINDOW = 5000
# The verdict filter: a name the page offers -> (analyzer, label).
VERDICT_FILTERS: dict[str, tuple[str, str]] = {
    "ad": ("ad", "ad"),
    "normal": ("ad", "normal"),
    "useful": ("useful", "useful"),
    "useless": ("useful", "useless"),
}
_WORD = re.compile(r"[^\W_]+")  # letters, digits and CJK characters; punctuation and "_" split


def search_terms(value: str) -> list[str]:
    """The searchable words of ``value``, each once, in order (loads jieba on first use)."""
    from nlp.words import posseg

    found: dict[str, None] = {}
    for token in posseg().tokenizer.cut_for_search(unicodedata.normalize("NFKC", value)):
        for term in _WORD.findall(token.lower()):
            found.setdefault(term, None)
    return list(found)


def message_terms(message_text: str, quote: str) -> str:
    """What ``message_search.terms`` holds for a message: the words of its text and quote."""
    return " ".join(search_terms(f"{message_text}\n{quote}"))


def _searchable() -> list[ColumnElement[bool]]:
    """The messages search may show: chat and commands with text, not purged."""
    m = MESSAGES.c
    return [m.role.in_(SEARCHED_ROLES), m.purged_at.is_(None), or_(m.text != "", m.quote != "")]


def index_pending(session: Session, limit: int = 500) -> int:
    """Cut and store the words of up to ``limit`` searchable messages that have none yet, oldest
    first; return how many. Idempotent, and safe beside another indexer (a row already there is
    kept). It locks no message: a lock here would hide pending messages from another process's
    analysis claim (``FOR ... SKIP LOCKED``). A message the retention purge blanks meanwhile is
    caught twice: its words are deleted again right after they are written if it is purged by
    then, and a search never shows a purged message; the next daily purge deletes any words left."""
    m, s = MESSAGES.c, MESSAGE_SEARCH.c
    newest = session.execute(select(func.max(s.message_pk))).scalar_one() or 0
    q = (
        select(m.pk, m.text, m.quote)
        .where(m.pk > newest - RECHECK_WINDOW, *_searchable(), ~exists().where(s.message_pk == m.pk))
        .order_by(m.pk)
        .limit(limit)
    )
    rows = session.execute(q).all()
    if not rows:
        return 0
    values = [{"message_pk": r.pk, "terms": message_terms(r.text, r.quote)} for r in rows]
    session.execute(dialect_insert(session, MESSAGE_SEARCH).on_conflict_do_nothing(), values)
    written = [r.pk for r in rows]
    purged_meanwhile = exists().where(m.pk == s.message_pk, m.purged_at.is_not(None))
    session.execute(delete(MESSAGE_SEARCH).where(s.message_pk.in_(written), purged_meanwhile))
    return len(rows)


def drop_purged(session: Session) -> int:
    """Delete the words of every purged message (the retention purge calls this after blanking);
    return how many. On SQLite the FTS5 index is then merged, so the purged words leave its pages
    too, not only its results."""
    s, m = MESSAGE_SEARCH.c, MESSAGES.c
    purged = exists().where(m.pk == s.message_pk, m.purged_at.is_not(None))
    n = changed(session, delete(MESSAGE_SEARCH).where(purged))
    if n and session.get_bind().dialect.name == "sqlite":
        session.execute(text(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('optimize')"))
    return n


# --- searching --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """What a search is narrowed to. ``group_ids`` None is every group; ``member`` matches a
    sender's id or the name they sent under; ``since``/``until`` are a half-open UTC range;
    ``verdict`` is a key of :data:`VERDICT_FILTERS` or ""."""

    group_ids: tuple[str, ...] | None = None
    member: str = ""
    since: datetime | None = None
    until: datetime | None = None
    verdict: str = ""

    def __post_init__(self) -> None:
        if self.verdict and self.verdict not in VERDICT_FILTERS:
            raise ValueError(f"verdict: must be one of {', '.join(VERDICT_FILTERS)} or empty, got {self.verdict!r}")
        if self.since is not None:
            aware(self.since, "since")
        if self.until is not None:
            aware(self.until, "until")


@dataclass(frozen=True, slots=True)
class HitVerdict:
    analyzer: str
    label: str
    score: float


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One message found."""

    pk: int
    group_id: str
    sender_id: str
    sender_name: str
    sent_at: datetime
    role: str
    text: str
    quote: str
    verdicts: tuple[HitVerdict, ...]


@dataclass(frozen=True, slots=True)
class SearchResult:
    """A page of hits, newest first, with how many matched in all and the query's terms (for
    highlighting)."""

    total: int
    hits: tuple[SearchHit, ...]
    terms: tuple[str, ...]


def _matching(session: Session, terms: Collection[str]) -> ColumnElement[bool]:
    """Messages whose words include every one of ``terms``."""
    m, s = MESSAGES.c, MESSAGE_SEARCH.c
    if session.get_bind().dialect.name == "sqlite":
        match = " ".join('"' + t.replace('"', '""') + '"' for t in terms)
        found = text(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :match").bindparams(match=match)
        return m.pk.in_(found.columns(literal_column("rowid")))
    tsquery = text("to_tsvector('simple', message_search.terms) @@ plainto_tsquery('simple', :query)")
    return m.pk.in_(select(s.message_pk).where(tsquery.bindparams(query=" ".join(terms))))


def _filtered(filters: SearchFilters) -> list[ColumnElement[bool]]:
    m, v = MESSAGES.c, VERDICTS.c
    where = _searchable()
    if filters.group_ids is not None:
        where.append(m.group_id.in_(filters.group_ids))
    if filters.member:
        where.append(or_(m.sender_id == filters.member, m.sender_name == filters.member))
    if filters.since is not None:
        where.append(m.sent_at >= filters.since)
    if filters.until is not None:
        where.append(m.sent_at < filters.until)
    if filters.verdict:
        analyzer, label = VERDICT_FILTERS[filters.verdict]
        where.append(exists().where(v.message_pk == m.pk, v.analyzer == analyzer, v.label == label))
    return where


def search(
    session: Session, query: str, filters: SearchFilters = SearchFilters(), *, limit: int = 50, offset: int = 0
) -> SearchResult:
    """The messages matching every word of ``query`` (all of them when ``query`` is blank) and
    ``filters``, newest first, ``limit`` from ``offset``. A query with no searchable word (only
    punctuation) matches nothing. Only what :func:`index_pending` has cut is found by words."""
    m = MESSAGES.c
    terms = tuple(search_terms(query)) if query.strip() else ()
    if query.strip() and not terms:
        return SearchResult(0, (), ())
    where = _filtered(filters)
    if terms:
        where.append(_matching(session, terms))
    total = session.execute(select(func.count()).select_from(MESSAGES).where(*where)).scalar_one()
    rows = session.execute(
        select(m.pk, m.group_id, m.sender_id, m.sender_name, m.sent_at, m.role, m.text, m.quote)
        .where(*where)
        .order_by(m.sent_at.desc(), m.pk.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    verdicts = _verdicts_of(session, [r.pk for r in rows])
    hits = tuple(
        SearchHit(
            pk=r.pk,
            group_id=r.group_id,
            sender_id=r.sender_id,
            sender_name=r.sender_name,
            sent_at=r.sent_at,
            role=r.role,
            text=r.text,
            quote=r.quote or "",
            verdicts=tuple(verdicts.get(r.pk, ())),
        )
        for r in rows
    )
    return SearchResult(total, hits, terms)


def _verdicts_of(session: Session, pks: Iterable[int]) -> dict[int, list[HitVerdict]]:
    v = VERDICTS.c
    out: dict[int, list[HitVerdict]] = {}
    pks = list(pks)
    if not pks:
        return out
    q = select(v.message_pk, v.analyzer, v.label, v.score).where(v.message_pk.in_(pks)).order_by(v.pk)
    for pk, analyzer, label, score in session.execute(q):
        out.setdefault(pk, []).append(HitVerdict(analyzer, label, score))
    return out
