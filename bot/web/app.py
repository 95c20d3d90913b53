"""The console's ASGI app: ``create_app(config, store)`` and ``serve`` (``qunzhi web``).

Handlers are plain functions run in the server's thread pool (the store is synchronous
SQLAlchemy); one request is one transaction (:func:`bot.web.auth.db_session`).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Form, Request
from fastapi.exceptions import HTTPException
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.config import Config
from bot.store import accounts as accounts_db
from bot.web import auth
from bot.web.render import STATIC_DIR, make_environment, page
from bot.web.security import LoginLimiter, burn_time, verify_password
from bot.wiring import Store

log = logging.getLogger(__name__)


def create_app(config: Config, store: Store) -> FastAPI:
    """The console on ``store``; the caller owns the store (and closes it)."""
    from bot.web import api, checker, groups, health, members, moderation, overview, review, search

    app = FastAPI(
        title="qunzhi console API",
        version="1",
        docs_url="/api/v1/docs",
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.config = config
    app.state.store = store
    app.state.templates = make_environment()
    app.state.limiter = LoginLimiter(config.web.login_attempts, config.web.login_window_minutes * 60.0)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in (overview, groups, moderation, review, members, search, checker, health):
        app.include_router(module.router, include_in_schema=False)
    health.instrument(app)
    app.include_router(api.router, prefix="/api/v1")
    _add_login(app)
    _add_errors(app)
    return app


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this site only (never ``//evil`` or a full URL)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _add_login(app: FastAPI) -> None:
    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request, next: str = "/", out: int = 0) -> HTMLResponse:  # noqa: A002 - the query's name
        request.state.viewer = None
        return page(request, "login.html.j2", next=_safe_next(next), error="", logged_out=bool(out))

    @app.post("/login", response_class=HTMLResponse, include_in_schema=False)
    def login(
        request: Request,
        username: str = Form(""),
        password: str = Form(""),
        next: str = Form("/"),  # noqa: A002 - the form field's name
    ) -> Response:
        config: Config = request.app.state.config
        limiter: LoginLimiter = request.app.state.limiter
        request.state.viewer = None
        name_key, ip_key = f"name:{username.strip()}", f"ip:{auth.client_address(request)}"
        store = auth.store_of(request)
        wait = limiter.retry_after(name_key, ip_key)
        if wait > 0:
            with store.sessions.begin() as session:
                accounts_db.audit(session, username.strip()[:100], "login_refused", detail={"reason": "rate limit"})
            error = app.state.templates.globals["t"].login_limited.format(minutes=max(1, round(wait / 60)))
            return page(request, "login.html.j2", next=_safe_next(next), error=error, logged_out=False, status_code=429)
        with store.sessions.begin() as session:
            found = accounts_db.user_by_name(session, username)
        if found is None:
            burn_time(password)
        ok = found is not None and verify_password(found[1], password)
        if not ok or found is None:
            limiter.failed(name_key, ip_key)
            with store.sessions.begin() as session:
                accounts_db.audit(session, username.strip()[:100], "login_failed", detail={"address": ip_key[3:]})
            error = app.state.templates.globals["t"].login_failed
            return page(request, "login.html.j2", next=_safe_next(next), error=error, logged_out=False, status_code=401)
        user = found[0]
        limiter.succeeded(name_key)
        with store.sessions.begin() as session:
            session_id, max_age = auth.start_session(session, user, config)
            accounts_db.audit(session, user.name, "login", detail={"address": ip_key[3:]})
        response = RedirectResponse(_safe_next(next), status_code=303)
        response.set_cookie(
            auth.SESSION_COOKIE,
            session_id,
            max_age=max_age,
            httponly=True,
            samesite="lax",
            secure=auth.secure_cookie(request, config),
            path="/",
        )
        return response

    @app.post("/logout", dependencies=[auth.CheckedForm], include_in_schema=False)
    def logout(request: Request) -> Response:
        session_id = request.cookies.get(auth.SESSION_COOKIE, "")
        viewer: auth.Viewer = request.state.viewer
        with auth.store_of(request).sessions.begin() as session:
            accounts_db.end_session(session, session_id)
            accounts_db.audit(session, viewer.name, "logout")
        response = RedirectResponse("/login?out=1", status_code=303)
        response.delete_cookie(auth.SESSION_COOKIE, path="/")
        return response


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "text/html")


def _add_errors(app: FastAPI) -> None:
    @app.exception_handler(auth.LoginRequired)
    def login_required(request: Request, _exc: auth.LoginRequired) -> Response:
        if request.url.path.startswith("/api/") or request.method != "GET":
            return JSONResponse({"detail": "login required"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if not _wants_html(request):
            headers: dict[str, Any] = dict(exc.headers or {})
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)
        if not hasattr(request.state, "viewer"):
            auth.optional_viewer(request)
        return page(request, "error.html.j2", status_code=exc.status_code, code=exc.status_code, detail=str(exc.detail))


__all__ = ["HTTPException", "create_app", "serve"]


def index_backlog(store: Store, batch: int = 2000) -> int:
    """Cut the words of every stored message not yet searchable (a database from before search
    existed, or imports the bot did not analyse), batch by batch; how many were indexed."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.store import search as search_db

    total = 0
    try:
        while True:
            with store.sessions.begin() as session:
                n = search_db.index_pending(session, limit=batch)
            total += n
            if n < batch:
                return total
    except SQLAlchemyError as e:  # the search page indexes what is left, batch by batch
        log.warning("search backlog: stopped after %d messages: %s", total, e)
        return total


def serve(config: Config, store: Store, *, host: str, port: int) -> None:
    """Run the console until interrupted (uvicorn; the trusted proxies' forwarded headers believed).
    Messages not yet searchable are indexed in the background meanwhile."""
    import threading

    import uvicorn

    threading.Thread(target=index_backlog, args=(store,), name="search-backlog", daemon=True).start()
    app = create_app(config, store)
    uvicorn.run(
        app,
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips=",".join(config.web.trusted_proxies) or None,
        log_level="warning",
        access_log=False,
        server_header=False,
    )
