"""``/healthz`` (the console answers and its database does) and ``/metrics`` (Prometheus).

``/metrics`` is unauthenticated, as Prometheus scrapes it: it carries counts only (``bot.metrics``),
labelled by route templates, methods, status codes and kinds, never a message, a member or a group.
``instrument(app)`` adds the middleware that counts the console's requests and failed logins.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot import metrics
from bot.store import db
from bot.web import auth

router = APIRouter()

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # the route label of a request no route took (a 404): never the path itself
LOGIN_FAILURE = {401: "password", 429: "rate_limited"}  # what POST /login answers when it refuses


@router.get("/healthz")
def healthz(request: Request) -> JSONResponse:
    try:
        db.ping(auth.store_of(request).engine)
    except SQLAlchemyError as e:
        return JSONResponse({"status": "error", "database": type(e).__name__}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get("/metrics")
def prometheus_metrics(request: Request) -> Response:
    """The process's metrics in the Prometheus text format, the outbox depth read from the database."""
    body = metrics.scrape(auth.store_of(request).sessions)
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def route_label(scope: Scope) -> str:
    """The template of the route that took the request (``/groups/{group_id}``), the mount point
    of a mounted app (``/static``), or ``unmatched``."""
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str) and path:
        return path
    if scope.get("endpoint") is not None and scope.get("root_path"):  # a Mount: its path is the root path
        return str(scope["root_path"])
    return UNMATCHED


def count_request(scope: Scope, status: int, seconds: float) -> None:
    method = scope.get("method", "")
    route = route_label(scope)
    metrics.HTTP_REQUESTS.labels(method if method in METHODS else "OTHER", route, str(status)).inc()
    metrics.HTTP_SECONDS.observe(seconds)
    if route == "/login" and method == "POST" and status in LOGIN_FAILURE:
        metrics.LOGIN_FAILURES.labels(LOGIN_FAILURE[status]).inc()


class RequestMetrics:
    """ASGI middleware: count each HTTP request once its response has started (an unhandled error
    counts as 500)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            count_request(scope, status, time.perf_counter() - started)


def instrument(app: FastAPI) -> None:
    """Count the app's requests and failed logins in ``bot.metrics`` (``create_app`` calls it)."""
    app.add_middleware(RequestMetrics)
