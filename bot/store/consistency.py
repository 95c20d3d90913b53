"""The consistency checker: does the store say that every message was stored once, analysed once and
acted on once? For operators after an incident (``qunzhi db check``), for the multi-worker tests
and for ``benchmarks/multiworker.py`` after each run.

What it proves, each a kind of :class:`Problem`:

- ``duplicate message``: a platform message (source and id) stored twice;
- ``member count``: a member's ``message_count`` differs from a recount of their stored chat;
- ``verdicts``: a verdict on a message not analysed (pending, failed), an analyzer twice on one
  message, an analysed message (the bot's own words aside) without verdicts, or — when the expected
  analyzers are given — without exactly one verdict of each;
- ``entities``: entities on a message not analysed, or one entity (type, span, source) twice;
- ``profile``: a member profile whose counts differ from a recount from the analysed messages and
  their verdicts (messages, questions, useful, ads, ad scores, links, first and last seen, hours of
  the day, active days), a profile missing, or one kept for a member who opted out;
- ``action``: the bot's own decision recorded twice for one message, or on a message not analysed;
- ``outbox``: more warnings or kicks queued for a member than actions that ask for them, or one
  admins' report queued twice;
- ``claim``: a claim left on a message once the workers have stopped (``stopped``), or any claim on
  a message no longer pending;
- ``unanalysed``: messages still pending or parked as failed, when the run is meant to be finished
  (``finished``).

Not recounted (they depend on what was analysed before, so the order of batches changes them, or
they are bounded maps): answers, burst counts, keywords, entities, domains, occupations, leads,
the demographic sums. A member who opted out and back in has a profile restarted at the opt-in,
which this checker reports as short. The checker reads a snapshot (``check_database``), so it may
run beside live workers (``stopped=False``).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, and_, func, select
from sqlalchemy.orm import Session

from bot.store.common import ACTIONS_T, BOT, CHAT, ENTITIES, MEMBERS, MESSAGES, OUTGOING, PROFILES, VERDICTS
from nlp.patterns import find_urls

# At most this many lines per kind of problem; the rest is summed up in one more line.
SHOWN_PER_KIND = 20
# Float sums (ad scores) may differ by rounding between a batch-wise and a one-pass sum.
SCORE_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing the store gets wrong: its kind (see the module doc) and what, for an operator."""

    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


def check(
    session: Session,
    *,
    analyzers: Collection[str] | None = None,
    tz: tzinfo = timezone.utc,
    stopped: bool = True,
    finished: bool = False,
) -> list[Problem]:
    """Every problem found, by kind (at most ``SHOWN_PER_KIND`` lines each, then a count).

    ``analyzers``: the analyzer names each analysed message must have exactly one verdict of
    (default: at least one verdict, none twice). ``tz``: the timezone profiles count hours and days
    in (``Config.digest_timezone()``). ``stopped``: no worker is running, so no claim may be held.
    ``finished``: every message should be analysed by now (a finished load run)."""
    found: list[Problem] = []
    checks = [
        _duplicate_messages(session),
        _member_counts(session),
        _verdicts(session, analyzers),
        _entities(session),
        _profiles(session, tz),
        _actions(session),
        _outbox(session),
        _claims(session, stopped),
    ]
    if finished:
        checks.append(_unanalysed(session))
    for problems in checks:
        found += _capped(problems)
    return found


def check_database(engine: Engine, **options: Any) -> list[Problem]:
    """:func:`check` on one snapshot of the database (REPEATABLE READ on PostgreSQL), so that
    workers committing meanwhile never make a recount disagree with itself."""
    conn = engine.connect()
    try:
        if engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with Session(bind=conn) as session, session.begin():
            return check(session, **options)
    finally:
        conn.close()


def _capped(problems: Iterable[Problem]) -> list[Problem]:
    out: list[Problem] = []
    more = 0
    kind = ""
    for p in problems:
        kind = p.kind
        if len(out) < SHOWN_PER_KIND:
            out.append(p)
        else:
            more += 1
    if more:
        out.append(Problem(kind, f"... and {more} more"))
    return out


def _sample(values: Iterable[object], n: int = 5) -> str:
    items = list(values)
    shown = ", ".join(str(v) for v in items[:n])
    return shown + (f" ... ({len(items)} in all)" if len(items) > n else "")


# -- stored once ------------------------------------------------------------------------------


def _duplicate_messages(session: Session) -> Iterator[Problem]:
    c = MESSAGES.c
    twice = session.execute(
        select(c.source, c.source_id, func.count())
        .group_by(c.source, c.source_id)
        .having(func.count() > 1)
        .order_by(c.source, c.source_id)
    ).all()
    for source, source_id, n in twice:
        rows = session.execute(
            select(c.pk, c.group_id).where(c.source == source, c.source_id == source_id).order_by(c.pk)
        ).all()
        groups = sorted({g for _, g in rows})
        yield Problem(
            "duplicate message",
            f"{source} message {source_id} in {', '.join(groups)} is stored {n} times (pks {_sample(pk for pk, _ in rows)})",
        )


def _member_counts(session: Session) -> Iterator[Problem]:
    c, m = MESSAGES.c, MEMBERS.c
    recount = dict(
        ((g, s), n)
        for g, s, n in session.execute(
            select(c.group_id, c.sender_id, func.count()).where(c.role == CHAT).group_by(c.group_id, c.sender_id)
        )
    )
    stored = {(g, s): n for g, s, n in session.execute(select(m.group_id, m.member_id, m.message_count))}
    for key in sorted(set(recount) | set(stored)):
        want, have = recount.get(key, 0), stored.get(key)
        if have is None:
            yield Problem("member count", f"{key[1]} in {key[0]} sent {want} messages but has no member row")
        elif have != want:
            yield Problem(
                "member count", f"{key[1]} in {key[0]}: message_count is {have}, the stored chat counts {want}"
            )


# -- analysed once ------------------------------------------------------------------------------


def _verdicts(session: Session, analyzers: Collection[str] | None) -> Iterator[Problem]:
    c, v = MESSAGES.c, VERDICTS.c
    not_done = session.execute(
        select(c.analysis_status, v.message_pk)
        .join(MESSAGES, c.pk == v.message_pk)
        .where(c.analysis_status != "done")
        .distinct()
        .order_by(v.message_pk)
    ).all()
    by_status: dict[str, list[int]] = defaultdict(list)
    for status, pk in not_done:
        by_status[status].append(pk)
    for status, pks in sorted(by_status.items()):
        yield Problem("verdicts", f"{len(pks)} {status} messages have verdicts (pks {_sample(pks)})")
    twice = session.execute(
        select(v.message_pk, v.analyzer, func.count())
        .group_by(v.message_pk, v.analyzer)
        .having(func.count() > 1)
        .order_by(v.message_pk, v.analyzer)
    ).all()
    for pk, analyzer, n in twice:
        yield Problem("verdicts", f"message {pk} has {n} verdicts of analyzer {analyzer}")
    names: dict[int, set[str]] = defaultdict(set)
    for pk, analyzer in session.execute(
        select(v.message_pk, v.analyzer).join(MESSAGES, c.pk == v.message_pk).where(c.analysis_status == "done")
    ):
        names[pk].add(analyzer)
    done = session.execute(select(c.pk).where(c.analysis_status == "done", c.role != BOT).order_by(c.pk)).scalars()
    expected = set(analyzers) if analyzers is not None else None
    none: list[int] = []
    wrong: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for pk in done:
        have = names.get(pk, set())
        if not have:
            none.append(pk)
        elif expected is not None and have != expected:
            wrong[tuple(sorted(have))].append(pk)
    if none:
        yield Problem("verdicts", f"{len(none)} analysed messages have no verdict (pks {_sample(none)})")
    for have_names, pks in sorted(wrong.items()):
        yield Problem(
            "verdicts",
            f"{len(pks)} analysed messages have verdicts of {', '.join(have_names)}, "
            f"not of exactly {', '.join(sorted(expected or ()))} (pks {_sample(pks)})",
        )


def _entities(session: Session) -> Iterator[Problem]:
    c, e = MESSAGES.c, ENTITIES.c
    not_done = (
        session.execute(
            select(e.message_pk)
            .join(MESSAGES, c.pk == e.message_pk)
            .where(c.analysis_status != "done")
            .distinct()
            .order_by(e.message_pk)
        )
        .scalars()
        .all()
    )
    if not_done:
        yield Problem("entities", f"{len(not_done)} messages not analysed have entities (pks {_sample(not_done)})")
    key = (e.message_pk, e.type, e.start, e.end, e.source)
    for pk, kind, start, end, source, n in session.execute(
        select(*key, func.count()).group_by(*key).having(func.count() > 1).order_by(*key)
    ):
        yield Problem("entities", f"message {pk} has entity {kind} [{start}:{end}] from {source!r} {n} times")


# -- profiles, recounted ------------------------------------------------------------------------


@dataclass
class _Recount:
    first_seen: datetime
    last_seen: datetime
    messages: int = 0
    questions: int = 0
    useful: int = 0
    ads: int = 0
    links: int = 0
    ad_scored: int = 0
    ad_score_sum: float = 0.0
    ad_score_max: float = 0.0
    purged: bool = False  # a text was blanked: links cannot be recounted
    hours: list[int] = field(default_factory=lambda: [0] * 24)  # local hour of day
    days: set[str] = field(default_factory=set)  # local days


def _has_link(kind: str, text: str) -> bool:
    """A link for the profile (``bot.profiles``): a link message, or a text with a URL that has a host."""
    if kind == "link":
        return True
    return any(urlsplit(u if "://" in u else f"http://{u}").hostname for u in find_urls(text))


def _recount(session: Session, tz: tzinfo) -> dict[tuple[str, str], _Recount]:
    """Each member's profile as the analysed chat and its verdicts say it should be."""
    c = MESSAGES.c
    opted_out = set(session.execute(select(MEMBERS.c.member_id).where(MEMBERS.c.opted_out.is_(True))).scalars())
    joined = {name: VERDICTS.alias(f"v_{name}") for name in ("ad", "ad_rules", "useful", "intent")}
    q = select(
        c.pk,
        c.group_id,
        c.sender_id,
        c.sent_at,
        c.kind,
        c.text,
        c.purged_at,
        *(joined[n].c.label.label(f"{n}_label") for n in joined),
        joined["ad"].c.score.label("ad_score"),
    ).where(c.analysis_status == "done", c.role == CHAT, c.kind != "system")
    frm: Any = MESSAGES
    for name, v in joined.items():
        frm = frm.outerjoin(v, and_(v.c.message_pk == c.pk, v.c.analyzer == name))
    out: dict[tuple[str, str], _Recount] = {}
    seen: set[int] = set()
    for r in session.execute(q.select_from(frm)):
        if r.sender_id in opted_out or r.pk in seen:  # an analyzer twice (reported above) joins a message twice
            continue
        seen.add(r.pk)
        t = out.get((r.group_id, r.sender_id)) or out.setdefault(
            (r.group_id, r.sender_id), _Recount(r.sent_at, r.sent_at)
        )
        t.first_seen, t.last_seen = min(t.first_seen, r.sent_at), max(t.last_seen, r.sent_at)
        t.messages += 1
        local = r.sent_at.astimezone(tz)
        t.hours[local.hour] += 1
        t.days.add(local.date().isoformat())
        t.questions += r.intent_label == "question"
        t.useful += r.useful_label == "useful"
        t.ads += r.ad_label == "ad" and r.ad_rules_label in (None, "ad")
        if r.ad_label is not None and r.ad_label != "skipped":
            p_ad = r.ad_score if r.ad_label == "ad" else 1.0 - r.ad_score
            t.ad_scored += 1
            t.ad_score_sum += p_ad
            t.ad_score_max = max(t.ad_score_max, p_ad)
        t.purged |= r.purged_at is not None
        t.links += _has_link(r.kind, r.text or "")
    return out


def _profiles(session: Session, tz: tzinfo) -> Iterator[Problem]:
    want = _recount(session, tz)
    p = PROFILES.c
    opted_out = set(session.execute(select(MEMBERS.c.member_id).where(MEMBERS.c.opted_out.is_(True))).scalars())
    stored = {(r.group_id, r.member_id): r for r in session.execute(select(PROFILES).order_by(p.group_id, p.member_id))}
    for key in sorted(set(want) | set(stored)):
        group_id, member_id = key
        row, t = stored.get(key), want.get(key)
        who = f"{member_id} in {group_id}"
        if row is None:
            assert t is not None
            yield Problem("profile", f"{who}: no profile, but {t.messages} analysed messages")
            continue
        if t is None:
            why = "who opted out" if member_id in opted_out else "without an analysed message"
            yield Problem("profile", f"{who}: a profile of {row.messages} messages kept for a member {why}")
            continue
        diffs = [f"{name} {got} (recount {exp})" for name, got, exp in _differences(row, t)]
        if diffs:
            yield Problem("profile", f"{who}: " + "; ".join(diffs))


def _differences(row: Any, t: _Recount) -> Iterator[tuple[str, object, object]]:
    for name in ("messages", "questions", "useful", "ads", "ad_scored"):
        if getattr(row, name) != getattr(t, name):
            yield name, getattr(row, name), getattr(t, name)
    if not t.purged and row.links != t.links:
        yield "links", row.links, t.links
    for name in ("ad_score_sum", "ad_score_max"):
        got, exp = float(getattr(row, name)), getattr(t, name)
        if not math.isclose(got, exp, rel_tol=SCORE_TOLERANCE, abs_tol=SCORE_TOLERANCE):
            yield name, round(got, 6), round(exp, 6)
    for name in ("first_seen", "last_seen"):
        if getattr(row, name) != getattr(t, name):
            yield name, getattr(row, name).isoformat(), getattr(t, name).isoformat()
    if list(row.hours or [0] * 24) != t.hours:
        yield "hours", list(row.hours or []), t.hours
    if row.active_days != len(t.days):
        yield "active_days", row.active_days, len(t.days)


# -- acted on once ------------------------------------------------------------------------------


def _actions(session: Session) -> Iterator[Problem]:
    a, c = ACTIONS_T.c, MESSAGES.c
    bots = and_(a.by_contact.is_(None), a.action != "undo", a.message_pk.is_not(None))
    for pk, n, kinds in session.execute(
        select(a.message_pk, func.count(), func.min(a.action) + "/" + func.max(a.action))
        .where(bots)
        .group_by(a.message_pk)
        .having(func.count() > 1)
        .order_by(a.message_pk)
    ):
        yield Problem("action", f"message {pk}: the bot decided {n} times ({kinds})")
    not_done = (
        session.execute(
            select(a.pk).join(MESSAGES, c.pk == a.message_pk).where(bots, c.analysis_status != "done").order_by(a.pk)
        )
        .scalars()
        .all()
    )
    if not_done:
        yield Problem("action", f"{len(not_done)} bot decisions on messages not analysed (actions {_sample(not_done)})")


def _outbox(session: Session) -> Iterator[Problem]:
    """What the outbox queued against what the actions ask for: a warning text (mentioning the
    member) per non-drill warn or kick, a kick per non-drill kick, each admins' report once (its
    text names the action's record, so two identical reports to one admin are one report twice)."""
    a, o = ACTIONS_T.c, OUTGOING.c
    asked: Counter[tuple[str, str, str]] = Counter()
    for group_id, member_id, action in session.execute(
        select(a.group_id, a.member_id, a.action).where(a.dry_run.is_(False), a.action.in_(("warn", "kick")))
    ):
        asked[(group_id, member_id, "warning")] += 1
        if action == "kick":
            asked[(group_id, member_id, "kick")] += 1
    queued: Counter[tuple[str, str, str]] = Counter()
    for op, group_id, contact_id, mentions in session.execute(
        select(o.op, o.group_id, o.contact_id, o.mentions).where(
            ((o.op == "text") & o.purpose.in_(("warn", "kick"))) | (o.op == "kick")
        )
    ):
        if op == "kick":
            queued[(group_id, contact_id, "kick")] += 1
        else:
            for member_id in mentions or ():
                queued[(group_id, member_id, "warning")] += 1
    for key in sorted(queued):
        if queued[key] > asked[key]:
            group_id, member_id, what = key
            yield Problem(
                "outbox",
                f"{queued[key]} {what}s queued for {member_id} in {group_id}, for {asked[key]} actions asking for one",
            )
    for contact_id, follow_up, n in session.execute(
        select(o.contact_id, o.after_pk.is_not(None), func.count())
        .where(o.op == "private", o.purpose == "report", o.text != "")  # the retention purge blanks sent rows
        .group_by(o.contact_id, o.after_pk.is_not(None), o.text)
        .having(func.count() > 1)
        .order_by(o.contact_id)
    ):
        what = "follow-up of a report" if follow_up else "report"
        yield Problem("outbox", f"one {what} queued {n} times for {contact_id}")


# -- nothing left behind ------------------------------------------------------------------------


def _claims(session: Session, stopped: bool) -> Iterator[Problem]:
    c = MESSAGES.c
    for status, n in session.execute(
        select(c.analysis_status, func.count())
        .where(c.claimed_by.is_not(None), c.analysis_status != "pending")
        .group_by(c.analysis_status)
        .order_by(c.analysis_status)
    ):
        yield Problem("claim", f"{n} {status} messages still carry a claim")
    if not stopped:
        return
    for holder, n, until in session.execute(
        select(c.claimed_by, func.count(), func.max(c.claim_expires_at))
        .where(c.claimed_by.is_not(None), c.analysis_status == "pending")
        .group_by(c.claimed_by)
        .order_by(c.claimed_by)
    ):
        yield Problem("claim", f"{n} pending messages left claimed by {holder} (lease until {until:%Y-%m-%d %H:%M:%S})")


def _unanalysed(session: Session) -> Iterator[Problem]:
    c = MESSAGES.c
    for status, n in session.execute(
        select(c.analysis_status, func.count())
        .where(c.analysis_status != "done")
        .group_by(c.analysis_status)
        .order_by(c.analysis_status)
    ):
        yield Problem("unanalysed", f"{n} messages are {status}, not analysed")


__all__ = ["Problem", "check", "check_database"]
