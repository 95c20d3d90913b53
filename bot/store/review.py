"""The review queue's reads: the stored chat messages a person should label next, and the admin
corrections still waiting for a training run.

A message is a candidate for review (:class:`QueueReason`) when

- ``disagree``: the model's ad verdict (analyzer ``ad``) and the rule baseline's (``ad_rules``,
  stored beside it when the transformer judges, see ``nlp.classify``) have different labels;
- ``logged``: a moderation action of kind ``log`` on an ad verdict was recorded only because the
  rule baseline did not corroborate the model (its reasons carry
  ``catalogue.reason_not_corroborated()``): a model-only ad nobody acted on;
- ``near_ad`` / ``near_useful``: p(ad) is within :data:`NEAR` of the group's ad threshold, or
  p(useful) within :data:`NEAR` of the line where the useful verdict flips (``models.useful_threshold``
  for the model's verdicts, 0.5 for the rule baseline's, whose verdicts are decided at 0.5).

A verdict's score is the confidence of its label, so p(ad) is the score of an ``ad`` verdict and
``1 - score`` of a ``normal`` one (likewise p(useful)). Only analysed (``done``), unpurged chat
messages count, and a reason about an analyzer is dropped once a person has recorded a correction
for that analyzer on the message; a message with no reason left is not in the queue.

Uncertainty, most uncertain first: messages the two judges disagree on (``disagree`` or ``logged``,
"tier 0") before those only near a threshold ("tier 1"); within a tier, the smaller distance of a
probability to its threshold first (tier 0: the model's p(ad) to the group's ad threshold; tier 1:
the smallest distance among its near reasons); then the newest first.

Every query is bounded: each kind is read with ``LIMIT`` (enough for the page asked), the ``log``
actions whose reasons (a JSON column, filtered in Python so both backends read it alike) are checked
at most :data:`LOG_SCAN` at a time, newest first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, and_, case, cast, exists, func, literal, select
from sqlalchemy.orm import Session, aliased

from bot import catalogue
from bot.message import GroupMessage
from bot.store.common import ACTIONS_T, CHAT, CORRECTIONS, MESSAGES, VERDICTS, aware, to_message
from bot.store.corrections import corrections
from nlp.verdict import Verdict

# How close a probability must be to its threshold to be "near" it.
NEAR = 0.1
# At most this many newest 'log' actions on ad verdicts are read per request to find the model-only ones.
LOG_SCAN = 500
# The rule baseline decides useful at 0.5 (its verdicts are stored with a model "rules-<n>", nlp.rules.VERSION).
RULES_USEFUL_THRESHOLD = 0.5
# The queue's reason kinds, in the order the page lists them.
KINDS = ("disagree", "logged", "near_ad", "near_useful")
# Which correction (analyzer) settles each kind.
ANALYZER_OF = {"disagree": "ad", "logged": "ad", "near_ad": "ad", "near_useful": "useful"}


@dataclass(frozen=True, slots=True)
class QueueReason:
    """Why a message is in the queue: one of :data:`KINDS`, the probability behind it, the
    threshold it is compared with, and their distance."""

    kind: str
    analyzer: str  # the correction that settles it: "ad" | "useful"
    probability: float  # p(ad) or p(useful) of the model's (or the judging analyzer's) verdict
    threshold: float
    distance: float


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """A message to review, with its verdicts (analyzer name -> verdict) and why it is here."""

    pk: int
    message: GroupMessage
    verdicts: dict[str, Verdict]
    reasons: tuple[QueueReason, ...]

    @property
    def tier(self) -> int:
        """0 when the judges disagree (``disagree``/``logged``), 1 when it is only near a threshold."""
        return 0 if any(r.kind in ("disagree", "logged") for r in self.reasons) else 1

    @property
    def distance(self) -> float:
        """The distance that orders it within its tier (see the module's docstring)."""
        tier_kinds = ("disagree", "logged") if self.tier == 0 else ("near_ad", "near_useful")
        return min(r.distance for r in self.reasons if r.kind in tier_kinds)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The lines the queue measures against: each group's ad threshold (``ad_default`` for a group
    not in ``ad_by_group``) and the p(useful) from which the model calls a message useful."""

    ad_by_group: Mapping[str, float]
    ad_default: float
    useful: float

    def ad(self, group_id: str) -> float:
        return self.ad_by_group.get(group_id, self.ad_default)


@dataclass(frozen=True, slots=True)
class ReviewPage:
    items: list[ReviewItem]
    has_next: bool


def _p(label: str, score: float, positive: str) -> float:
    return score if label == positive else 1.0 - score


def _p_sql(v: Any, positive: str) -> ColumnElement[float]:
    """p(positive label) of a verdict row as SQL: its score, or 1 - score for the other label."""
    return case((v.c.label == positive, v.c.score), else_=literal(1.0) - v.c.score)


def _threshold_sql(thresholds: Mapping[str, float], default: float) -> ColumnElement[float]:
    """The ad threshold of each message's group as SQL (one branch per distinct threshold)."""
    by_value: dict[float, list[str]] = defaultdict(list)
    for group_id, t in thresholds.items():
        if t != default:
            by_value[t].append(group_id)
    if not by_value:
        return cast(literal(default), Float)
    whens = [(MESSAGES.c.group_id.in_(ids), literal(t)) for t, ids in sorted(by_value.items())]
    return case(*whens, else_=literal(default))


def _useful_threshold_sql(v: Any, useful_threshold: float) -> ColumnElement[float]:
    return case((v.c.model.startswith("rules"), literal(RULES_USEFUL_THRESHOLD)), else_=literal(useful_threshold))


def _uncorrected(analyzer: str) -> ColumnElement[bool]:
    c = CORRECTIONS.c
    return ~exists().where(c.message_pk == MESSAGES.c.pk, c.analyzer == analyzer)


def _reviewable(group_ids: Collection[str], message_pk: int | None) -> list[ColumnElement[bool]]:
    c = MESSAGES.c
    where = [c.group_id.in_(list(group_ids)), c.role == CHAT, c.analysis_status == "done", c.purged_at.is_(None)]
    if message_pk is not None:
        where.append(c.pk == message_pk)
    return where


class _Queue:
    """One request's reads of the queue: the candidate pks of each kind, then their messages."""

    def __init__(
        self, session: Session, group_ids: Collection[str], thresholds: Thresholds, message_pk: int | None
    ) -> None:
        self.session = session
        self.where = _reviewable(group_ids, message_pk)
        self.thresholds = thresholds
        self.ad_t = _threshold_sql(thresholds.ad_by_group, thresholds.ad_default)
        self.found: dict[int, list[QueueReason]] = defaultdict(list)

    def disagreements(self, limit: int) -> None:
        model, rules = aliased(VERDICTS), aliased(VERDICTS)
        p = _p_sql(model, "ad")
        distance = func.abs(p - self.ad_t)
        q = (
            select(MESSAGES.c.pk, p, self.ad_t, distance)
            .join(model, and_(model.c.message_pk == MESSAGES.c.pk, model.c.analyzer == "ad"))
            .join(rules, and_(rules.c.message_pk == MESSAGES.c.pk, rules.c.analyzer == "ad_rules"))
            .where(*self.where, model.c.label != rules.c.label, _uncorrected("ad"))
            .order_by(distance, MESSAGES.c.sent_at.desc(), MESSAGES.c.pk.desc())
            .limit(limit)
        )
        for pk, prob, threshold, dist in self.session.execute(q):
            self.found[pk].append(QueueReason("disagree", "ad", float(prob), float(threshold), float(dist)))

    def logged_model_only(self, limit: int) -> None:
        a = ACTIONS_T.c
        model = aliased(VERDICTS)
        q = (
            select(MESSAGES.c.pk, MESSAGES.c.group_id, a.reasons, a.verdict_score, model.c.label, model.c.score)
            .join(ACTIONS_T, a.message_pk == MESSAGES.c.pk)
            .outerjoin(model, and_(model.c.message_pk == MESSAGES.c.pk, model.c.analyzer == "ad"))
            .where(
                *self.where,
                a.action == "log",
                a.verdict_label == "ad",
                a.undone_at.is_(None),
                _uncorrected("ad"),
            )
            .order_by(a.created_at.desc(), a.pk.desc())
            .limit(LOG_SCAN)
        )
        mark = catalogue.reason_not_corroborated()
        found: dict[int, QueueReason] = {}
        for pk, group_id, reasons, action_score, label, score in self.session.execute(q):
            if pk in found or mark not in (reasons or ()):
                continue
            prob = _p(label, score, "ad") if label is not None else float(action_score or 0.0)
            threshold = self.thresholds.ad(group_id)
            found[pk] = QueueReason("logged", "ad", prob, threshold, abs(prob - threshold))
        for pk, reason in sorted(found.items(), key=lambda kv: kv[1].distance)[:limit]:
            self.found[pk].append(reason)

    def near(self, kind: str, limit: int) -> None:
        v = aliased(VERDICTS)
        analyzer = ANALYZER_OF[kind]
        positive = "ad" if analyzer == "ad" else "useful"
        p = _p_sql(v, positive)
        threshold = self.ad_t if analyzer == "ad" else _useful_threshold_sql(v, self.thresholds.useful)
        distance = func.abs(p - threshold)
        q = (
            select(MESSAGES.c.pk, p, threshold, distance)
            .join(v, and_(v.c.message_pk == MESSAGES.c.pk, v.c.analyzer == analyzer))
            .where(*self.where, distance <= NEAR, _uncorrected(analyzer))
            .order_by(distance, MESSAGES.c.sent_at.desc(), MESSAGES.c.pk.desc())
            .limit(limit)
        )
        for pk, prob, t, dist in self.session.execute(q):
            self.found[pk].append(QueueReason(kind, analyzer, float(prob), float(t), float(dist)))

    def items(self) -> list[ReviewItem]:
        """The candidates found, with their messages and verdicts, most uncertain first."""
        pks = list(self.found)
        if not pks:
            return []
        rows = self.session.execute(select(MESSAGES).where(MESSAGES.c.pk.in_(pks))).all()
        verdicts: dict[int, dict[str, Verdict]] = defaultdict(dict)
        q = select(VERDICTS).where(VERDICTS.c.message_pk.in_(pks)).order_by(VERDICTS.c.pk)
        for v in self.session.execute(q):
            verdicts[v.message_pk][v.analyzer] = Verdict(v.analyzer, v.label, v.score, tuple(v.reasons or ()), v.model)
        out = [
            ReviewItem(
                r.pk,
                to_message(r),
                dict(verdicts.get(r.pk, {})),
                tuple(sorted(self.found[r.pk], key=lambda q: KINDS.index(q.kind))),
            )
            for r in rows
        ]
        return sorted(out, key=_uncertainty)


def _uncertainty(item: ReviewItem) -> tuple[int, float, float, int]:
    return item.tier, round(item.distance, 6), -item.message.sent_at.timestamp(), -item.pk


def review_queue(
    session: Session,
    group_ids: Collection[str],
    thresholds: Thresholds,
    *,
    limit: int = 50,
    page: int = 1,
    message_pk: int | None = None,
) -> ReviewPage:
    """The messages of ``group_ids`` to review, most uncertain first, ``limit`` per page (1-based);
    ``message_pk`` asks about one message (whether it is still in the queue)."""
    if limit < 1 or page < 1:
        raise ValueError(f"limit and page must be at least 1, got {limit} and {page}")
    if not group_ids:
        return ReviewPage([], False)
    queue = _Queue(session, group_ids, thresholds, message_pk)
    wanted = page * limit + 1  # enough of each kind for this page and to know there is a next one
    queue.disagreements(wanted)
    queue.logged_model_only(wanted)
    queue.near("near_ad", wanted)
    queue.near("near_useful", wanted)
    items = queue.items()
    start = (page - 1) * limit
    return ReviewPage(items[start : start + limit], len(items) > start + limit)


def in_queue(session: Session, message_pk: int, group_id: str, thresholds: Thresholds) -> bool:
    """Whether one message of ``group_id`` is still in the review queue."""
    return bool(review_queue(session, [group_id], thresholds, message_pk=message_pk, limit=1).items)


@dataclass(frozen=True, slots=True)
class ReviewTarget:
    """A stored message a person labels: what the correction keeps (its text) and where it is."""

    pk: int
    message: GroupMessage
    purged: bool  # the retention purge blanked its text: nothing left to train on


def review_target(session: Session, message_pk: int) -> ReviewTarget | None:
    r = session.execute(select(MESSAGES).where(MESSAGES.c.pk == message_pk)).first()
    return ReviewTarget(r.pk, to_message(r), r.purged_at is not None) if r else None


def corrections_waiting(session: Session, since: datetime | None) -> int:
    """How many entries of ``corrections.corrections_for_training`` (what ``qunzhi train`` reads)
    were decided at or after ``since`` (all of them when None): per message and analyzer the latest
    decision wins, and its time is the entry's time (keyed as ``corrections_for_training`` keys them).
    A database error propagates: a failure to read is never a count of zero."""
    if since is not None:
        aware(since, "since")
    latest: dict[tuple[object, str], datetime] = {}
    for c in corrections(session):
        latest[(c.message_pk if c.message_pk is not None else ("text", c.text), c.analyzer)] = c.created_at
    return sum(1 for at in latest.values() if since is None or at >= since)


__all__ = [
    "KINDS",
    "NEAR",
    "QueueReason",
    "ReviewItem",
    "ReviewPage",
    "ReviewTarget",
    "Thresholds",
    "corrections_waiting",
    "in_queue",
    "review_queue",
    "review_target",
]
