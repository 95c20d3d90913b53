"""The console's ``/metrics``: Prometheus text, served without a login, counting requests by route
template and failed logins, the outbox depth read from the database, and nothing that names a
message, a member or a group."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from bot.adapters.replay import read_jsonl
from bot.cli import DEMO_DIR
from bot.metrics import REGISTRY
from bot.outbox import Outbox
from bot.store import outgoing as outgoing_db
from tests.web.conftest import DEMO_GROUP, OTHER_GROUP, Console, login, other_group_messages


def requests(method: str, route: str, status: int) -> float:
    labels = {"method": method, "route": route, "status": str(status)}
    return REGISTRY.get_sample_value("qunzhi_console_requests_total", labels) or 0.0


def scrape(console: Console) -> tuple[str, dict[str, list[tuple[dict[str, str], float]]]]:
    """``/metrics`` fetched by a client that never logged in: the text and its samples by family."""
    r = console.new_client().get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    families = {f.name: [(s.labels, s.value) for s in f.samples] for f in text_string_to_metric_families(r.text)}
    return r.text, families


def test_metrics_parse_without_a_login_and_count_by_route_template(sqlite_console: Console) -> None:
    root = sqlite_console.client
    page_before = requests("GET", "/groups/{group_id}", 200)
    refused_before = requests("POST", "/login", 401)
    failures_before = REGISTRY.get_sample_value("qunzhi_console_login_failures_total", {"reason": "password"}) or 0
    assert sqlite_console.new_client().post("/login", data={"username": "root", "password": "wrong"}).status_code == 401
    login(root, "root")
    assert root.get(f"/groups/{DEMO_GROUP}").status_code == 200

    _, families = scrape(sqlite_console)
    assert requests("GET", "/groups/{group_id}", 200) == page_before + 1
    assert requests("POST", "/login", 401) == refused_before + 1
    assert REGISTRY.get_sample_value("qunzhi_console_login_failures_total", {"reason": "password"}) == (
        failures_before + 1
    )
    routes = {labels["route"] for labels, _ in families["qunzhi_console_requests"]}
    assert "/groups/{group_id}" in routes and not [r for r in routes if DEMO_GROUP in r]
    assert {"qunzhi_messages_analysed", "qunzhi_outbox_depth", "qunzhi_console_request_seconds"} <= set(families)


def test_the_outbox_depth_is_what_the_database_holds_at_scrape_time(console: Console) -> None:
    with console.store.sessions.begin() as session:
        Outbox().say(session, DEMO_GROUP, "待发送的消息")
    with console.store.sessions() as session:
        pending = len(outgoing_db.outgoing(session, pending_only=True))
    assert pending >= 1
    _, families = scrape(console)
    assert families["qunzhi_outbox_depth"] == [({}, float(pending))]


def test_metrics_carry_no_message_text_and_no_member_or_group_id(sqlite_console: Console) -> None:
    messages = [*read_jsonl(DEMO_DIR / "sample_day.jsonl").messages, *other_group_messages()]
    login(sqlite_console.client, "root")
    member = messages[0].sender_id
    for path in (f"/groups/{DEMO_GROUP}", f"/members/{DEMO_GROUP}/{member}", f"/no-such-page/{member}", "/"):
        sqlite_console.client.get(path)  # ids in paths: the labels keep the templates only

    text, _ = scrape(sqlite_console)
    named = {DEMO_GROUP, OTHER_GROUP} | {m.sender_id for m in messages} | {m.sender_name for m in messages}
    assert not [n for n in named if n and n in text]
    assert not [m.text for m in messages if m.text.strip() and m.text in text]
    assert not [c for c in text if "\u4e00" <= c <= "\u9fff"]  # no Chinese at all: no message, no name
