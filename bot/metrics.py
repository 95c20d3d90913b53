"""The process's Prometheus metrics: one registry (``REGISTRY``) that ``qunzhi run`` and
``qunzhi web`` both expose at ``/metrics``, and ``qunzhi run``'s own small metrics server.

What is counted where (docs/operations.md, "Metrics and health", has the table):

- the pipeline (``bot.pipeline``): messages stored, analysed, failed; one analysis batch's duration;
  the moderation decisions it records, by kind and dry run;
- the live bot (``bot.live``): messages received, the platform's connection state; it stores what
  arrives itself, so it counts those as stored too;
- the outbox sender (``bot.outbox``): operations sent, retried, given up, maybe delivered, by op;
- the digest scheduler (``bot.scheduler``): digests queued for delivery;
- the ``[llm]`` client (``bot.llm``, ``bot.digest.summaries``): requests, failures by reason, tokens,
  summaries attached or dropped;
- the console (``bot.web.health``): HTTP requests by route template and status, failed logins.

The outbox depth is read from the database when ``/metrics`` is scraped (``refresh_outbox_depth``),
so it is the same number in every process. Labels take bounded values only: a source, a kind, an
operation, a route template; never a member, a group or a message.

Updating a metric is a lock and an addition: cheap enough for every message.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIEnvironment

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    make_wsgi_app,
)
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.store import db, gauges as gauges_db

log = logging.getLogger(__name__)

# no ``*_created`` series beside each counter: half the series, nothing lost
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry()
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):  # the process's memory, CPU, GC
    REGISTRY.register(_collector)

KNOWN_SOURCES = frozenset({"wechaty", "replay", "memotrace"})


def source_label(source: str) -> str:
    """A message's source as a label value: the known ones, else ``other`` (a replay file may name any)."""
    return source if source in KNOWN_SOURCES else "other"


# -- messages ---------------------------------------------------------------------------------------

MESSAGES_RECEIVED = Counter(
    "qunzhi_messages_received", "Messages the live platform delivered.", ["source"], registry=REGISTRY
)
MESSAGES_STORED = Counter(
    "qunzhi_messages_stored", "Messages newly stored (duplicates not counted).", ["source"], registry=REGISTRY
)
MESSAGES_ANALYSED = Counter(
    "qunzhi_messages_analysed", "Messages analysed and judged (verdicts committed).", ["source"], registry=REGISTRY
)
MESSAGES_FAILED = Counter(
    "qunzhi_messages_failed",
    "Analysis attempts that crashed on one message (it is retried, then parked).",
    ["source"],
    registry=REGISTRY,
)
ANALYSIS_BATCH_SECONDS = Histogram(
    "qunzhi_analysis_batch_seconds",
    "Time to analyse one claimed batch and commit its verdicts and moderation (per batch, not per message).",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
ANALYSIS_BATCH_MESSAGES = Histogram(
    "qunzhi_analysis_batch_messages",
    "Messages per analysed batch (with the batch time: the time per message).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
    registry=REGISTRY,
)
MODERATION_ACTIONS = Counter(
    "qunzhi_moderation_actions",
    "Moderation decisions the pipeline recorded, by kind (log, warn, kick) and whether a dry run.",
    ["kind", "dry_run"],
    registry=REGISTRY,
)

# -- the platform and the outbox ----------------------------------------------------------------------

PLATFORM_CONNECTED = Gauge(
    "qunzhi_platform_connected", "1 while qunzhi run's platform is connected, else 0.", registry=REGISTRY
)
OUTBOX_DEPTH = Gauge(
    "qunzhi_outbox_depth", "Outbox rows still to be done, read from the database at scrape time.", registry=REGISTRY
)
ANALYSIS_PENDING = Gauge(
    "qunzhi_analysis_pending",
    "Messages waiting for analysis (the backlog every worker shares), read from the database at scrape time.",
    registry=REGISTRY,
)
ANALYSIS_CLAIMED = Gauge(
    "qunzhi_analysis_claimed",
    "Of those, messages under a live claim: batches the workers are analysing now.",
    registry=REGISTRY,
)
OUTBOX_SENT = Counter("qunzhi_outbox_sent", "Outbox operations carried out.", ["op"], registry=REGISTRY)
OUTBOX_RETRIES = Counter(
    "qunzhi_outbox_retries", "Outbox operations that failed and will be retried.", ["op"], registry=REGISTRY
)
OUTBOX_FAILURES = Counter(
    "qunzhi_outbox_failures", "Outbox operations given up (retries spent or hopeless).", ["op"], registry=REGISTRY
)
OUTBOX_UNCERTAIN = Counter(
    "qunzhi_outbox_uncertain",
    "Outbox operations whose outcome is unknown (maybe delivered, never resent).",
    ["op"],
    registry=REGISTRY,
)
DIGESTS_SENT = Counter(
    "qunzhi_digests_sent", "Daily digests queued for delivery, by delivery.", ["delivery"], registry=REGISTRY
)

# -- the [llm] endpoint (topic summaries) -------------------------------------------------------------

LLM_REQUESTS = Counter(
    "qunzhi_llm_requests", "HTTP requests sent to the [llm] endpoint (each retry counts).", registry=REGISTRY
)
LLM_FAILURES = Counter(
    "qunzhi_llm_failures",
    "[llm] requests that failed or were not sent, by reason (timeout, connect, rate_limited, server, refused, "
    "bad_answer, budget).",
    ["reason"],
    registry=REGISTRY,
)
LLM_TOKENS = Counter(
    "qunzhi_llm_tokens",
    "Tokens the [llm] endpoint reported using, by kind (prompt, completion).",
    ["kind"],
    registry=REGISTRY,
)
LLM_SUMMARIES = Counter(
    "qunzhi_llm_summaries",
    "Topic summaries the model answered, by outcome (attached, dropped: bad JSON or a source not in the topic).",
    ["outcome"],
    registry=REGISTRY,
)

# -- the console ------------------------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "qunzhi_console_requests",
    "Console HTTP requests by method, route template and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "qunzhi_console_request_seconds",
    "Console HTTP request duration.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
LOGIN_FAILURES = Counter(
    "qunzhi_console_login_failures",
    "Console logins refused: a wrong name or password, or the rate limit.",
    ["reason"],
    registry=REGISTRY,
)


def count_by_source(counter: Counter, sources: Iterable[str]) -> None:
    """Add one per message to ``counter``, labelled by each message's source."""
    tally: dict[str, int] = {}
    for s in sources:
        label = source_label(s)
        tally[label] = tally.get(label, 0) + 1
    for label, n in tally.items():
        counter.labels(label).inc(n)


def watch_connection(connected: Callable[[], bool] | None) -> None:
    """Read ``qunzhi_platform_connected`` from ``connected()`` at each scrape; None: 0 (stopped)."""
    if connected is None:
        PLATFORM_CONNECTED.set_function(lambda: 0.0)
    else:
        PLATFORM_CONNECTED.set_function(lambda: 1.0 if connected() else 0.0)


def refresh_outbox_depth(sessions: sessionmaker[Session]) -> None:
    """Read the outbox depth from the database (one indexed count); NaN when the database fails."""
    try:
        with sessions() as session:
            OUTBOX_DEPTH.set(gauges_db.outbox_depth(session))
    except SQLAlchemyError as e:
        log.warning("metrics: could not read the outbox depth: %s", type(e).__name__)
        OUTBOX_DEPTH.set(math.nan)


def refresh_analysis_queue(sessions: sessionmaker[Session]) -> None:
    """Read the analysis backlog and the claims held (two indexed counts); NaN when the database fails."""
    try:
        with sessions() as session:
            pending, claimed = gauges_db.analysis_queue(session)
    except SQLAlchemyError as e:
        log.warning("metrics: could not read the analysis queue: %s", type(e).__name__)
        pending = claimed = math.nan  # type: ignore[assignment]
    ANALYSIS_PENDING.set(pending)
    ANALYSIS_CLAIMED.set(claimed)


def scrape(sessions: sessionmaker[Session]) -> bytes:
    """``/metrics`` in the Prometheus text format, the outbox depth and analysis queue read just now."""
    refresh_outbox_depth(sessions)
    refresh_analysis_queue(sessions)
    return generate_latest(REGISTRY)


# -- qunzhi run's /metrics and /healthz ------------------------------------------------------------------


def run_health(engine: Engine, connected: Callable[[], bool]) -> tuple[int, dict[str, Any]]:
    """``qunzhi run``'s ``/healthz``: 200 while the database answers, 503 when it does not. The
    platform's connection is reported but does not fail it: the bot reconnects by itself, and a
    restart would not help (alert on ``qunzhi_platform_connected`` instead)."""
    body: dict[str, Any] = {"status": "ok", "database": "ok", "connected": bool(connected())}
    try:
        db.ping(engine)
    except SQLAlchemyError as e:
        body.update(status="error", database=type(e).__name__)
        return 503, body
    return 200, body


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a scrape in progress never holds the process at exit


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("metrics server: " + format, *args)


def run_app(sessions: sessionmaker[Session], health: Callable[[], tuple[int, dict[str, Any]]]) -> Any:
    """The WSGI app of ``qunzhi run``'s metrics port: ``/metrics``, ``/healthz``, else 404."""
    metrics_app = make_wsgi_app(REGISTRY)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            refresh_outbox_depth(sessions)
            refresh_analysis_queue(sessions)
            result: Iterable[bytes] = metrics_app(environ, start_response)
            return result
        if path == "/healthz":
            status, body = health()
            reason = "OK" if status == 200 else "Service Unavailable"
            payload = json.dumps(body).encode()
            start_response(f"{status} {reason}", [("Content-Type", "application/json"), ("Cache-Control", "no-store")])
            return [payload]
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found: /metrics and /healthz only\n"]

    return app


@dataclass
class MetricsServer:
    """``qunzhi run``'s metrics server, serving in a daemon thread until ``stop()``."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_metrics(
    host: str, port: int, sessions: sessionmaker[Session], health: Callable[[], tuple[int, dict[str, Any]]]
) -> MetricsServer:
    """Serve ``/metrics`` and ``/healthz`` on ``host:port`` (port 0: a free one) in a daemon thread.

    wsgiref and prometheus_client's WSGI app: no event loop of its own, nothing shared with the bot's,
    nothing to install; a scrape every few seconds needs no more."""
    server = make_server(host, port, run_app(sessions, health), server_class=_Server, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="qunzhi-metrics", daemon=True)
    thread.start()
    return MetricsServer(server, thread)
