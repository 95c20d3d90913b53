"""The stored schema: one ``Base``, typed ``Mapped[...]`` columns, timezone-aware UTC datetimes.

Every change here needs a migration in ``migrations/versions``; ``tests/bot/store/test_migrations.py``
fails when the models and the migrated schema disagree.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

ANALYSIS_STATUSES = ("pending", "done", "failed")
# What a stored message is: a member's chat, a command to the bot, or the bot's own words. Only chat
# is analysed and counted (digest, /stats, profiles); the rest is kept for the record (issue 15).
MESSAGE_ROLES = ("chat", "command", "bot")
ACTIONS = ("log", "warn", "kick", "undo", "strike")
OUTGOING_OPS = ("text", "private", "kick", "add", "image")
PERIODIC_KINDS = ("weekly", "monthly", "briefing", "briefing_weekly")  # periodic_deliveries.kind
CONSOLE_ROLES = ("superadmin", "admin")  # who may use the web console (qunzhi web)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC, read back as aware UTC on every backend.

    PostgreSQL keeps ``timestamptz``; SQLite drops tzinfo, so the value is written as naive UTC and
    tagged UTC again on the way out. Naive datetimes are refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware (UTC) datetime")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        date: Date(),
        str: Text(),
        list[str]: JSON(),
    }


class Group(Base):
    __tablename__ = "groups"

    id: Mapped[str] = mapped_column(primary_key=True)  # platform room id
    name: Mapped[str] = mapped_column(default="")  # room name as the platform shows it
    topic: Mapped[str] = mapped_column(default="")  # what the group is about (from config)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The room's own roles as the platform last reported them (admin rights come from these and
    # from config, never from display names).
    owner_id: Mapped[str | None]
    admin_ids: Mapped[list[str]] = mapped_column(default=list)
    # An admin's in-chat `dryrun on|off`; None follows the configured policy.
    dry_run: Mapped[bool | None] = mapped_column(Boolean)
    # The bot account (its own contact id) that last reported being in the room: its sender sends
    # the group's outbox rows (several accounts on one database, one `qunzhi run` each).
    account: Mapped[str | None]


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("group_id", "member_id"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    member_id: Mapped[str]  # contact id
    display_name: Mapped[str] = mapped_column(default="")
    first_seen: Mapped[datetime | None]  # None until the member's first stored message
    last_seen: Mapped[datetime | None]
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    whitelisted: Mapped[bool] = mapped_column(Boolean, default=False)
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("source", "source_id"),
        Index(None, "group_id", "sent_at"),
        Index(None, "group_id", "sender_id", "sent_at"),
        Index(None, "analysis_status"),
        CheckConstraint(
            "analysis_status IN (" + ", ".join(f"'{s}'" for s in ANALYSIS_STATUSES) + ")",
            name="analysis_status",
        ),
        CheckConstraint("role IN (" + ", ".join(f"'{r}'" for r in MESSAGE_ROLES) + ")", name="role"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str]
    source_id: Mapped[str]  # GroupMessage.id
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    sender_id: Mapped[str]
    sender_name: Mapped[str] = mapped_column(default="")
    sent_at: Mapped[datetime]
    kind: Mapped[str]
    text: Mapped[str] = mapped_column(default="")
    mentions: Mapped[list[str]] = mapped_column(default=list)
    mentions_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    reply_to: Mapped[str | None]
    quote: Mapped[str] = mapped_column(default="")  # "name：text" of a quoted message without an id
    group_topic: Mapped[str] = mapped_column(default="")
    role: Mapped[str] = mapped_column(String(16), default="chat", server_default="chat")  # one of MESSAGE_ROLES
    stored_at: Mapped[datetime] = mapped_column(default=utcnow)
    analysis_status: Mapped[str] = mapped_column(String(16), default="pending")
    analysis_attempts: Mapped[int] = mapped_column(Integer, default=0)
    analysis_error: Mapped[str | None]
    # Who is analysing it (``analysis.claim_pending``): a worker id and when its claim lapses, so two
    # processes on one database never analyse the same message and a dead one's claims come back.
    claimed_by: Mapped[str | None]
    claim_expires_at: Mapped[datetime | None]
    # When it was parked as 'failed', and how often the daily retry has put it back since
    # (``analysis.requeue_due``): failed messages are retried with a growing gap, a bounded number of times.
    analysis_failed_at: Mapped[datetime | None]
    analysis_requeues: Mapped[int] = mapped_column(Integer, default=0)
    purged_at: Mapped[datetime | None]  # when the retention purge blanked text and quote (bot.retention)

    verdicts: Mapped[list[VerdictRow]] = relationship(
        back_populates="message", lazy="raise", order_by="VerdictRow.pk", passive_deletes=True
    )
    entities: Mapped[list[EntityRow]] = relationship(
        back_populates="message", lazy="raise", order_by="EntityRow.pk", passive_deletes=True
    )


class VerdictRow(Base):
    __tablename__ = "verdicts"
    __table_args__ = (UniqueConstraint("message_pk", "analyzer"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.pk", ondelete="CASCADE"))
    analyzer: Mapped[str]
    label: Mapped[str]
    score: Mapped[float] = mapped_column(Float)
    reasons: Mapped[list[str]] = mapped_column(default=list)
    model: Mapped[str] = mapped_column(default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    message: Mapped[Message] = relationship(back_populates="verdicts", lazy="raise")


class EntityRow(Base):
    __tablename__ = "entities"
    __table_args__ = (Index(None, "message_pk"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.pk", ondelete="CASCADE"))
    type: Mapped[str]
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    text: Mapped[str]
    score: Mapped[float] = mapped_column(Float, default=1.0)
    source: Mapped[str] = mapped_column(default="")
    value: Mapped[str] = mapped_column(default="")  # normalised value (a resolved time, a phone number ...)

    message: Mapped[Message] = relationship(back_populates="entities", lazy="raise")


class ModerationAction(Base):
    __tablename__ = "moderation_actions"
    __table_args__ = (
        Index(None, "group_id", "member_id", "created_at"),
        Index(None, "group_id", "created_at"),
        CheckConstraint("action IN (" + ", ".join(f"'{a}'" for a in ACTIONS) + ")", name="action"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    member_id: Mapped[str]
    message_pk: Mapped[int | None] = mapped_column(ForeignKey("messages.pk", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[str]] = mapped_column(default=list)
    verdict_label: Mapped[str | None]
    verdict_score: Mapped[float | None] = mapped_column(Float)
    strike: Mapped[bool] = mapped_column(Boolean, default=False)  # counts against the member (see actions.strikes)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    undone_at: Mapped[datetime | None]
    by_contact: Mapped[str | None]  # the admin who triggered it; None when the bot decided


class Correction(Base):
    __tablename__ = "corrections"
    __table_args__ = (Index(None, "analyzer", "created_at"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_pk: Mapped[int | None] = mapped_column(ForeignKey("messages.pk", ondelete="SET NULL"))
    text: Mapped[str]
    analyzer: Mapped[str]
    label: Mapped[str]
    by_contact: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Digest(Base):
    __tablename__ = "digests"
    __table_args__ = (UniqueConstraint("group_id", "day"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    day: Mapped[date]
    text: Mapped[str]
    html: Mapped[str] = mapped_column(default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class Outgoing(Base):
    """The outbox: everything the bot means to say or do on the platform, kept until it is done.

    Rows are written in the same transaction as the decision that causes them (a moderation
    action, a digest marked sent), so a crash or a dropped puppet connection delays them, never
    loses them. ``sent_at`` marks success; ``failed_at`` marks giving up after the retries;
    ``uncertain_at`` marks a group operation whose outcome is unknown (the request left, no answer
    came back): maybe delivered, never resent (``bot.outbox`` states the rule). A row with
    ``after_pk`` waits until that row is sent (the admins' "done" note after a kick), and is given
    up if that row ends any other way. An ``image`` row's picture is in ``outgoing_images``; if it
    is given up, its text parts are queued in its place (``instead_of_pk``), in the same commit.
    """

    __tablename__ = "outgoing"
    __table_args__ = (
        Index(None, "sent_at", "failed_at", "not_before"),
        CheckConstraint("op IN (" + ", ".join(f"'{o}'" for o in OUTGOING_OPS) + ")", name="op"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    op: Mapped[str] = mapped_column(String(16))  # text (to a group) | private (to a contact) | kick | add | image
    group_id: Mapped[str | None]  # the room for 'text' and 'kick'
    contact_id: Mapped[str | None]  # the receiver for 'private' (and a private 'image'), the member for 'kick'
    text: Mapped[str] = mapped_column(default="")
    mentions: Mapped[list[str]] = mapped_column(default=list)
    purpose: Mapped[str] = mapped_column(default="")  # reply | warn | kick | report | digest ...
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    not_before: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None]
    sent_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    uncertain_at: Mapped[datetime | None]  # maybe delivered: the outcome is unknown, never resent
    after_pk: Mapped[int | None] = mapped_column(Integer)  # held until this outgoing row is sent
    # a text sent in place of this image row, which failed: it takes the image's place in the queue
    instead_of_pk: Mapped[int | None] = mapped_column(Integer)
    # the bot account that sends it: the group's account when queued, else the first sender to claim it
    account: Mapped[str | None]


class OutgoingImage(Base):
    """The picture of an ``image`` outbox row and the text parts sent instead if it cannot go out.

    A table of its own, not a column of ``outgoing``: the sender reads every open outbox row at each
    look, and a card is hundreds of KB. Deleted when its row ends (sent, given up, maybe delivered):
    a card quotes members, and nothing needs it after.
    """

    __tablename__ = "outgoing_images"

    outgoing_pk: Mapped[int] = mapped_column(ForeignKey("outgoing.pk", ondelete="CASCADE"), primary_key=True)
    png: Mapped[bytes] = mapped_column(LargeBinary)
    name: Mapped[str]  # the file name the platform shows (ASCII, .png)
    fallback: Mapped[list[str]] = mapped_column(default=list)  # text parts sent in its place if it fails


class MemberProfile(Base):
    """What the bot has learnt about one member in one group, kept up to date message by message.

    Only aggregates: counts, a local-hour histogram, bounded keyword and entity counts, the sums the
    demographic hints need, lead-keyword hits. No message text, so it outlives the retention purge;
    a member's ``/optout`` deletes the row (``bot.profiles``). The member across groups is the sum of
    their rows.
    """

    __tablename__ = "member_profiles"
    __table_args__ = (UniqueConstraint("group_id", "member_id"), Index(None, "member_id"))

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    member_id: Mapped[str]
    first_seen: Mapped[datetime]  # first profiled message
    last_seen: Mapped[datetime]
    messages: Mapped[int] = mapped_column(Integer, default=0)
    active_days: Mapped[int] = mapped_column(Integer, default=0)  # distinct local days with a message
    days: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # local day -> messages (recent days)
    hours: Mapped[list[int]] = mapped_column(JSON, default=list)  # 24 counts, local hour of day
    questions: Mapped[int] = mapped_column(Integer, default=0)  # intent "question"
    answers: Mapped[int] = mapped_column(Integer, default=0)  # a reply to, or a mention of, a recent asker
    links: Mapped[int] = mapped_column(Integer, default=0)  # link messages or texts with a URL
    ads: Mapped[int] = mapped_column(Integer, default=0)  # ad verdict "ad"
    useful: Mapped[int] = mapped_column(Integer, default=0)  # useful verdict "useful"
    ad_scored: Mapped[int] = mapped_column(Integer, default=0)  # messages with an ad verdict
    ad_score_sum: Mapped[float] = mapped_column(Float, default=0.0)  # of p(ad)
    ad_score_max: Mapped[float] = mapped_column(Float, default=0.0)
    burst_messages: Mapped[int] = mapped_column(Integer, default=0)  # within profiles.burst_hours of joining
    burst_ads: Mapped[int] = mapped_column(Integer, default=0)
    keywords: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # topic word -> messages (bounded)
    entities: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # "TYPE:text" -> count (bounded)
    domains: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # linked site -> count (bounded)
    occupations: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # "occupation:cue" -> count
    leads: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # "keyword:mention|question|request" -> count
    demo_ngrams: Mapped[int] = mapped_column(Integer, default=0)  # evidence for the demographic hints
    demo_sums: Mapped[dict[str, list[float]]] = mapped_column(JSON, default=dict)  # task -> sums per label
    demo_model: Mapped[str] = mapped_column(default="")  # which weights the sums belong to
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsoleUser(Base):
    """A person who may log in to the web console (``qunzhi user add``). A superadmin sees every
    group; an admin only the groups listed. The password is kept as an argon2 hash, never as text."""

    __tablename__ = "console_users"
    __table_args__ = (
        UniqueConstraint("name"),
        CheckConstraint("role IN (" + ", ".join(f"'{r}'" for r in CONSOLE_ROLES) + ")", name="role"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str]
    password_hash: Mapped[str]
    role: Mapped[str] = mapped_column(String(16))
    groups: Mapped[list[str]] = mapped_column(default=list)  # the groups an admin acts on
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None]  # a removed user: kept for the audit trail, never logs in


class ConsoleSession(Base):
    """A logged-in browser: the cookie holds a random id, the table only its SHA-256, so a copy of
    the database logs no one in. Logging out or removing the user deletes the row."""

    __tablename__ = "console_sessions"
    __table_args__ = (Index(None, "user_pk"),)

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_pk: Mapped[int] = mapped_column(ForeignKey("console_users.pk", ondelete="CASCADE"))
    csrf_token: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class ApiToken(Base):
    """A bearer token for ``/api/v1`` (``qunzhi token create``): shown once, kept as its SHA-256.
    It acts as the user it belongs to, with that user's groups."""

    __tablename__ = "api_tokens"
    __table_args__ = (UniqueConstraint("token_hash"), Index(None, "user_pk"))

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_pk: Mapped[int] = mapped_column(ForeignKey("console_users.pk", ondelete="CASCADE"))
    name: Mapped[str]
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class ConsoleAudit(Base):
    """What a person did in the console or through the API, with who did it (the chat commands'
    equivalent is the stored command message and the action's ``by_contact``)."""

    __tablename__ = "console_audit"
    __table_args__ = (Index(None, "created_at"), Index(None, "group_id", "created_at"))

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    actor: Mapped[str]  # the console user's name
    action: Mapped[str]  # login | logout | login_failed | undo | correct | check ...
    group_id: Mapped[str | None]
    target: Mapped[str] = mapped_column(default="")  # what it was done to: "message 12", "action 3"
    detail: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BotStatus(Base):
    """A running ``qunzhi run`` process's heartbeat: the console shows connection state from it."""

    __tablename__ = "bot_status"

    worker: Mapped[str] = mapped_column(primary_key=True)  # the process's worker id
    platform: Mapped[str] = mapped_column(default="")
    self_id: Mapped[str] = mapped_column(default="")
    connected: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    stopped_at: Mapped[datetime | None]


class MessageSearchTerms(Base):
    """A message's words for full-text search: jieba's cut of its text and quote, space-separated
    (SQLite FTS5 and PostgreSQL's 'simple' text search both split on spaces). The retention purge
    deletes the row with the text, so purged texts cannot be found."""

    __tablename__ = "message_search"

    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.pk", ondelete="CASCADE"), primary_key=True)
    terms: Mapped[str]


class SourceCursor(Base):
    """Where a pull source (``[[sources]]``) stopped: its cursor, as the source defines it (a chatlog
    talker's last second and seqs, a WeCom archive's last seq, a folder's files and sizes). Written
    after the messages it covers are stored, so a restart neither loses nor repeats them."""

    __tablename__ = "source_cursors"

    name: Mapped[str] = mapped_column(primary_key=True)  # the [[sources]] entry's name
    cursor: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PeriodicDelivery(Base):
    """Every scheduled delivery but the daily digest (``digests``): a group's weekly or monthly
    digest, a recipient's daily or weekly briefing. Kept once per (kind, target, period_start) by
    the unique constraint; whoever flips ``sent_at`` from NULL queues it (``bot.period_scheduler``)."""

    __tablename__ = "periodic_deliveries"
    __table_args__ = (
        UniqueConstraint("kind", "target", "period_start"),
        CheckConstraint("kind IN (" + ", ".join(f"'{k}'" for k in PERIODIC_KINDS) + ")", name="kind"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # weekly | monthly | briefing | briefing_weekly
    target: Mapped[str]  # the group id (weekly, monthly) or the recipient's contact id (briefings)
    period_start: Mapped[date]  # the local day the period starts (a Monday, a month's 1st, the day)
    text: Mapped[str]  # as sent: its parts joined, "(i/n)" lines marking them
    html: Mapped[str] = mapped_column(default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]  # queued for delivery (or, when empty, kept and not sent)
