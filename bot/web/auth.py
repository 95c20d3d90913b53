"""Who is asking, and what they may do.

A browser is logged in by a session cookie (HttpOnly, SameSite=Lax, Secure over HTTPS) whose
random id the database keeps hashed; every form carries the session's CSRF token and a POST without
it is refused. The API takes ``Authorization: Bearer <token>`` instead (no cookie, so no CSRF).
A superadmin sees every group; an admin only theirs: :func:`check_group` refuses the rest.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from bot.config import Config
from bot.store import accounts as accounts_db, groups as groups_db
from bot.store.accounts import ConsoleUserRecord
from bot.store.models import utcnow
from bot.web.security import new_secret
from bot.wiring import Store

SESSION_COOKIE = "qunzhi_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"


class LoginRequired(Exception):
    """No valid session: a page redirects to the login form, the API answers 401."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """The logged-in person of a request."""

    user: ConsoleUserRecord
    csrf_token: str  # empty for an API token (no cookie, no CSRF)
    via: str  # "session" | "token"

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def actor(self) -> str:
        """How the store records who did something from the console (``by_contact``)."""
        return f"console:{self.user.name}"

    def can_see(self, group_id: str) -> bool:
        return self.user.can_see(group_id)


def config_of(request: Request) -> Config:
    config: Config = request.app.state.config
    return config


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def db_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, rolled back if it raises."""
    with store_of(request).sessions.begin() as session:
        yield session


# scope="function": the transaction commits before the response goes out, so the page a form
# redirects to shows what the form did, and a failed commit is an error answer, not a success.
DB = Annotated[Session, Depends(db_session, scope="function")]


def _session_viewer(request: Request) -> Viewer | None:
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        return None
    with store_of(request).sessions.begin() as session:
        found = accounts_db.session_user(session, session_id)
    if found is None:
        return None
    user, csrf = found
    return Viewer(user, csrf, "session")


def current_viewer(request: Request) -> Viewer:
    """The logged-in user of a page request, or :class:`LoginRequired`."""
    viewer = _session_viewer(request)
    if viewer is None:
        raise LoginRequired()
    request.state.viewer = viewer
    return viewer


def optional_viewer(request: Request) -> Viewer | None:
    viewer = _session_viewer(request)
    request.state.viewer = viewer
    return viewer


async def checked_form(request: Request) -> None:
    """For every POST from a page: the session's CSRF token must come back, as the form's ``csrf``
    field or the ``X-CSRF-Token`` header, else 403. (The cookie alone proves nothing: a browser
    sends it with a forged cross-site form too.)"""
    viewer = _session_viewer(request)
    if viewer is None:
        raise LoginRequired()
    given = request.headers.get(CSRF_HEADER, "")
    if not given:
        form = await request.form()
        value = form.get(CSRF_FIELD, "")
        given = value if isinstance(value, str) else ""
    if not given or not hmac.compare_digest(given.encode(), viewer.csrf_token.encode()):
        raise HTTPException(status_code=403, detail="CSRF token missing or wrong")
    request.state.viewer = viewer


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]
CheckedForm = Depends(checked_form)


def api_viewer(request: Request) -> Viewer:
    """The user an API request's bearer token acts as; 401 without a valid one."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(status_code=401, detail="missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    with store_of(request).sessions.begin() as session:
        user = accounts_db.token_user(session, token.strip())
    if user is None:
        raise HTTPException(status_code=401, detail="unknown or revoked token", headers={"WWW-Authenticate": "Bearer"})
    viewer = Viewer(user, "", "token")
    request.state.viewer = viewer
    return viewer


ApiViewer = Annotated[Viewer, Depends(api_viewer)]


def check_group(viewer: Viewer, group_id: str) -> None:
    """403 unless the viewer may see and act on ``group_id``."""
    if not viewer.can_see(group_id):
        raise HTTPException(status_code=403, detail="not one of your groups")


def visible_groups(session: Session, viewer: Viewer) -> list[groups_db.GroupRecord]:
    """The stored groups the viewer may see, by name."""
    found = [g for g in groups_db.groups(session) if viewer.can_see(g.id)]
    return sorted(found, key=lambda g: g.name or g.id)


def visible_group_ids(session: Session, viewer: Viewer) -> list[str]:
    return [g.id for g in visible_groups(session, viewer)]


def start_session(session: Session, user: ConsoleUserRecord, config: Config) -> tuple[str, int]:
    """Log a user in: a new session id (for the cookie) and its lifetime in seconds."""
    session_id = new_secret()
    lifetime = timedelta(hours=config.web.session_hours)
    accounts_db.create_session(session, user.pk, session_id, new_secret(), utcnow() + lifetime)
    accounts_db.drop_expired_sessions(session)
    return session_id, int(lifetime.total_seconds())


def secure_cookie(request: Request, config: Config) -> bool:
    """Whether the session cookie gets ``Secure``: over HTTPS (uvicorn believes the trusted
    proxies' X-Forwarded-Proto), or always/never as configured."""
    mode = config.web.secure_cookies
    return mode == "always" or (mode == "auto" and request.url.scheme == "https")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "?"
