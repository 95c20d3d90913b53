"""The console's people: users (``qunzhi user``), their browser sessions, API tokens
(``qunzhi token``), and the audit trail of what they did.

Secrets are never stored as given: passwords arrive here already hashed (argon2, :mod:`bot.web.security`);
session ids and API tokens are random and kept as their SHA-256, so the database alone logs no one in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from bot.store.common import API_TOKENS, CONSOLE_AUDIT, CONSOLE_SESSIONS, CONSOLE_USERS, aware
from bot.store.db import StoreError
from bot.store.models import CONSOLE_ROLES, utcnow


def secret_hash(secret: str) -> str:
    """How a session id or an API token is kept: its SHA-256, hex. (They are 256 random bits, so a
    fast hash is enough; passwords, chosen by people, get argon2 instead.)"""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ConsoleUserRecord:
    pk: int
    name: str
    role: str  # one of models.CONSOLE_ROLES
    groups: tuple[str, ...]  # an admin's groups; ignored for a superadmin
    created_at: datetime
    disabled: bool

    @property
    def is_superadmin(self) -> bool:
        return self.role == "superadmin"

    def can_see(self, group_id: str) -> bool:
        return self.is_superadmin or group_id in self.groups


def _to_user(row: Any) -> ConsoleUserRecord:
    return ConsoleUserRecord(
        pk=row.pk,
        name=row.name,
        role=row.role,
        groups=tuple(row.groups or ()),
        created_at=row.created_at,
        disabled=row.disabled_at is not None,
    )


# ------------------------------------------------------------------------------------------ users


def add_user(session: Session, name: str, password_hash: str, role: str, groups: Iterable[str] = ()) -> int:
    """Create a console user; :class:`StoreError` when the name is taken (by a user not removed)."""
    if role not in CONSOLE_ROLES:
        raise ValueError(f"role: must be one of {', '.join(CONSOLE_ROLES)}, got {role!r}")
    name = name.strip()
    if not name:
        raise ValueError("a console user needs a name")
    c = CONSOLE_USERS.c
    existing = session.execute(select(c.pk, c.disabled_at).where(c.name == name)).first()
    if existing is not None and existing.disabled_at is None:
        raise StoreError(f"console user {name!r} exists already")
    if existing is not None:  # a removed user's name is given to the new one; the old sessions are gone
        session.execute(
            update(CONSOLE_USERS)
            .where(c.pk == existing.pk)
            .values(password_hash=password_hash, role=role, groups=list(groups), disabled_at=None, created_at=utcnow())
        )
        return int(existing.pk)
    stmt = (
        insert(CONSOLE_USERS)
        .values(name=name, password_hash=password_hash, role=role, groups=list(groups), created_at=utcnow())
        .returning(c.pk)
    )
    return int(session.execute(stmt).scalar_one())


def user_by_name(session: Session, name: str) -> tuple[ConsoleUserRecord, str] | None:
    """An active user and their password hash, by name; None when there is none (or it was removed)."""
    c = CONSOLE_USERS.c
    row = session.execute(select(CONSOLE_USERS).where(c.name == name.strip(), c.disabled_at.is_(None))).first()
    return (_to_user(row), row.password_hash) if row else None


def user_by_pk(session: Session, pk: int) -> ConsoleUserRecord | None:
    row = session.execute(select(CONSOLE_USERS).where(CONSOLE_USERS.c.pk == pk)).first()
    return _to_user(row) if row else None


def users(session: Session) -> list[ConsoleUserRecord]:
    """Every active console user, by name."""
    c = CONSOLE_USERS.c
    return [_to_user(r) for r in session.execute(select(CONSOLE_USERS).where(c.disabled_at.is_(None)).order_by(c.name))]


def set_password(session: Session, name: str, password_hash: str) -> None:
    """Give a user a new password and end every session they have (a changed password logs them out)."""
    found = user_by_name(session, name)
    if found is None:
        raise StoreError(f"no console user {name!r}")
    session.execute(update(CONSOLE_USERS).where(CONSOLE_USERS.c.pk == found[0].pk).values(password_hash=password_hash))
    session.execute(delete(CONSOLE_SESSIONS).where(CONSOLE_SESSIONS.c.user_pk == found[0].pk))


def remove_user(session: Session, name: str) -> None:
    """Remove a user: they can no longer log in, their sessions end and their tokens are revoked.
    The row stays, so the audit trail keeps naming who did what."""
    found = user_by_name(session, name)
    if found is None:
        raise StoreError(f"no console user {name!r}")
    pk = found[0].pk
    now = utcnow()
    session.execute(update(CONSOLE_USERS).where(CONSOLE_USERS.c.pk == pk).values(disabled_at=now))
    session.execute(delete(CONSOLE_SESSIONS).where(CONSOLE_SESSIONS.c.user_pk == pk))
    t = API_TOKENS.c
    session.execute(update(API_TOKENS).where(t.user_pk == pk, t.revoked_at.is_(None)).values(revoked_at=now))


# --------------------------------------------------------------------------------------- sessions


def create_session(session: Session, user_pk: int, session_id: str, csrf_token: str, expires_at: datetime) -> None:
    """Record a logged-in browser (the cookie carries ``session_id``, the table its hash)."""
    session.execute(
        insert(CONSOLE_SESSIONS).values(
            id_hash=secret_hash(session_id),
            user_pk=user_pk,
            csrf_token=csrf_token,
            created_at=utcnow(),
            expires_at=aware(expires_at, "expires_at"),
        )
    )


def session_user(
    session: Session, session_id: str, now: datetime | None = None
) -> tuple[ConsoleUserRecord, str] | None:
    """The active user of a browser session and its CSRF token; None when unknown or expired."""
    s, u = CONSOLE_SESSIONS.c, CONSOLE_USERS.c
    row = session.execute(
        select(CONSOLE_USERS, s.csrf_token)
        .select_from(CONSOLE_SESSIONS.join(CONSOLE_USERS, u.pk == s.user_pk))
        .where(
            s.id_hash == secret_hash(session_id),
            s.expires_at > (aware(now, "now") if now is not None else utcnow()),
            u.disabled_at.is_(None),
        )
    ).first()
    return (_to_user(row), row.csrf_token) if row else None


def end_session(session: Session, session_id: str) -> None:
    session.execute(delete(CONSOLE_SESSIONS).where(CONSOLE_SESSIONS.c.id_hash == secret_hash(session_id)))


def drop_expired_sessions(session: Session, now: datetime | None = None) -> int:
    result = session.execute(
        delete(CONSOLE_SESSIONS).where(CONSOLE_SESSIONS.c.expires_at <= (aware(now, "now") if now else utcnow()))
    )
    return int(getattr(result, "rowcount", 0) or 0)


# ----------------------------------------------------------------------------------------- tokens


@dataclass(frozen=True, slots=True)
class ApiTokenRecord:
    pk: int
    user: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


TOKEN_TOUCH_EVERY = timedelta(minutes=1)  # how stale a token's last_used_at may get


def create_token(session: Session, user_name: str, token_name: str, token: str) -> int:
    """Record an API token for a user (``token`` is shown once by the caller, kept here as its hash)."""
    found = user_by_name(session, user_name)
    if found is None:
        raise StoreError(f"no console user {user_name!r}")
    stmt = (
        insert(API_TOKENS)
        .values(user_pk=found[0].pk, name=token_name, token_hash=secret_hash(token), created_at=utcnow())
        .returning(API_TOKENS.c.pk)
    )
    return int(session.execute(stmt).scalar_one())


def token_user(session: Session, token: str, *, touch: bool = True) -> ConsoleUserRecord | None:
    """The active user an unrevoked token acts as; None for an unknown or revoked token."""
    t, u = API_TOKENS.c, CONSOLE_USERS.c
    row = session.execute(
        select(CONSOLE_USERS, t.pk.label("token_pk"), t.last_used_at.label("token_used_at"))
        .select_from(API_TOKENS.join(CONSOLE_USERS, u.pk == t.user_pk))
        .where(t.token_hash == secret_hash(token), t.revoked_at.is_(None), u.disabled_at.is_(None))
    ).first()
    if row is None:
        return None
    now = utcnow()
    if touch and (row.token_used_at is None or now - row.token_used_at > TOKEN_TOUCH_EVERY):
        # at most once a minute: a write per request would queue every API call behind the
        # database's write lock (SQLite beside `qunzhi run`)
        session.execute(update(API_TOKENS).where(t.pk == row.token_pk).values(last_used_at=now))
    return _to_user(row)


def tokens(session: Session, *, include_revoked: bool = False) -> list[ApiTokenRecord]:
    t, u = API_TOKENS.c, CONSOLE_USERS.c
    q = (
        select(t.pk, u.name.label("user"), t.name, t.created_at, t.last_used_at, t.revoked_at)
        .select_from(API_TOKENS.join(CONSOLE_USERS, u.pk == t.user_pk))
        .order_by(t.pk)
    )
    if not include_revoked:
        q = q.where(t.revoked_at.is_(None))
    return [
        ApiTokenRecord(r.pk, r.user, r.name, r.created_at, r.last_used_at, r.revoked_at is not None)
        for r in session.execute(q)
    ]


def revoke_token(session: Session, token_pk: int) -> bool:
    """Revoke a token by its number; False when it was revoked already. :class:`StoreError` if unknown."""
    t = API_TOKENS.c
    result = session.execute(
        update(API_TOKENS).where(t.pk == token_pk, t.revoked_at.is_(None)).values(revoked_at=utcnow()).returning(t.pk)
    ).first()
    if result is not None:
        return True
    if session.execute(select(t.pk).where(t.pk == token_pk)).first() is None:
        raise StoreError(f"no API token #{token_pk}")
    return False


# ------------------------------------------------------------------------------------------ audit


@dataclass(frozen=True, slots=True)
class AuditRecord:
    pk: int
    actor: str
    action: str
    group_id: str | None
    target: str
    detail: dict[str, Any]
    created_at: datetime


def audit(
    session: Session,
    actor: str,
    action: str,
    *,
    group_id: str | None = None,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> int:
    """Record what a console user did (in the same transaction as the doing)."""
    stmt = (
        insert(CONSOLE_AUDIT)
        .values(actor=actor, action=action, group_id=group_id, target=target, detail=detail or {}, created_at=utcnow())
        .returning(CONSOLE_AUDIT.c.pk)
    )
    return int(session.execute(stmt).scalar_one())


def audit_log(
    session: Session, *, group_ids: Iterable[str] | None = None, limit: int = 200, actor: str | None = None
) -> list[AuditRecord]:
    """The newest audit records first; only those of ``group_ids`` (and group-less ones of
    ``actor``) when given."""
    c = CONSOLE_AUDIT.c
    q = select(CONSOLE_AUDIT).order_by(c.created_at.desc(), c.pk.desc()).limit(limit)
    if group_ids is not None:
        visible = c.group_id.in_(list(group_ids))
        q = q.where(visible | (c.group_id.is_(None) & (c.actor == actor))) if actor else q.where(visible)
    return [
        AuditRecord(r.pk, r.actor, r.action, r.group_id, r.target, dict(r.detail or {}), r.created_at)
        for r in session.execute(q)
    ]
