"""The HTTP API under /api/v1: bearer tokens (on SQLite and PostgreSQL), group scoping, each
endpoint's answer, the OpenAPI schema, and /check answering as `qunzhi predict`/`extract` print."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest

from bot.adapters.replay import read_jsonl
from bot.cli import DEMO_DIR, main
from bot.store import (
    accounts as accounts_db,
    corrections as corrections_db,
    digests as digests_db,
    groups as groups_db,
    messages as messages_db,
)
from bot.web.api import MAX_CHECK_CHARS
from bot.web.security import new_secret
from tests.web.conftest import DEMO_GROUP, DEMO_GROUPS, OTHER_GROUP, Console

API = "/api/v1"


def bearer(console: Console, user: str) -> tuple[dict[str, str], int]:
    """A new API token of ``user``: the request header, and the token's number."""
    token = new_secret()
    with console.store.sessions.begin() as session:
        pk = accounts_db.create_token(session, user, "test", token)
    return {"Authorization": f"Bearer {token}"}, pk


def get(console: Console, path: str, headers: dict[str, str], **params: object) -> object:
    r = console.client.get(API + path, headers=headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()


# -------------------------------------------------------------------------------------- tokens


def test_no_token_a_garbage_token_and_a_revoked_token_are_refused(console: Console) -> None:
    r = console.client.get(f"{API}/groups")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    for header in ("Bearer nonsense", "Basic cm9vdDpwYXNz", "Bearer ", "nonsense"):
        assert console.client.get(f"{API}/groups", headers={"Authorization": header}).status_code == 401
    headers, pk = bearer(console, "root")
    assert console.client.get(f"{API}/groups", headers=headers).status_code == 200
    with console.store.sessions.begin() as session:
        assert accounts_db.revoke_token(session, pk)
    assert console.client.get(f"{API}/groups", headers=headers).status_code == 401


def test_the_token_of_a_removed_user_is_refused(console: Console) -> None:
    headers, _ = bearer(console, "ann")
    assert console.client.get(f"{API}/groups", headers=headers).status_code == 200
    with console.store.sessions.begin() as session:
        accounts_db.remove_user(session, "ann")
    assert console.client.get(f"{API}/groups", headers=headers).status_code == 401


def test_a_session_cookie_is_not_an_api_token(console: Console) -> None:
    from tests.web.conftest import login

    login(console.client, "root")
    assert console.client.get(f"{API}/groups").status_code == 401


def test_every_endpoint_wants_a_token(console: Console) -> None:
    schema = console.client.get(f"{API}/openapi.json").json()
    concrete = {"{group_id}": DEMO_GROUP, "{day}": "2026-11-25"}
    paths = {p: ops for p, ops in schema["paths"].items() if p.startswith(API)}
    assert len(paths) == 7
    for path, operations in paths.items():
        for name, value in concrete.items():
            path = path.replace(name, value)
        for method in operations:
            r = console.client.request(method.upper(), path, json={"text": "你好"})
            assert r.status_code == 401, (method, path, r.status_code)


def test_an_admin_reads_their_groups_only(console: Console) -> None:
    ann, _ = bearer(console, "ann")
    assert [g["id"] for g in get(console, "/groups", ann)["groups"]] == [DEMO_GROUP]  # type: ignore[index]
    for path in (f"/groups/{OTHER_GROUP}/digests", f"/groups/{OTHER_GROUP}/digests/2026-11-25"):
        assert console.client.get(API + path, headers=ann).status_code == 403
    assert console.client.get(f"{API}/groups/{OTHER_GROUP}/actions", headers=ann).status_code == 403
    assert console.client.get(f"{API}/leads", headers=ann, params={"group": OTHER_GROUP}).status_code == 403
    leads = get(console, "/leads", ann)
    assert leads and {row["group_id"] for row in leads} == {DEMO_GROUP}  # type: ignore[union-attr]
    # a group nobody has is 403 for an admin (its existence is not told) and 404 for a superadmin
    assert console.client.get(f"{API}/groups/nowhere/actions", headers=ann).status_code == 403
    root, _ = bearer(console, "root")
    assert console.client.get(f"{API}/groups/nowhere/actions", headers=root).status_code == 404


def test_corrections_are_scoped_and_those_of_a_gone_message_are_the_superadmins(console: Console) -> None:
    demo_message = read_jsonl(DEMO_DIR / "sample_day.jsonl").messages[0]
    with console.store.sessions.begin() as session:
        demo_pk = messages_db.find_message(session, demo_message.source, demo_message.id)
        other_pk = messages_db.find_message(session, "test", "other-1")
        assert demo_pk is not None and other_pk is not None
        for pk, label in ((demo_pk, "normal"), (other_pk, "ad"), (None, "ad")):
            corrections_db.record_correction(
                session, text=f"text of {pk}", analyzer="ad", label=label, by_contact="admin", message_pk=pk
            )
    seen = {
        user: [(c["message_id"], c["group_id"]) for c in get(console, "/corrections", bearer(console, user)[0])]  # type: ignore[union-attr]
        for user in ("root", "ann", "bob")
    }
    assert seen["ann"] == [(demo_pk, DEMO_GROUP)]
    assert seen["bob"] == [(other_pk, OTHER_GROUP)]
    assert seen["root"] == [(demo_pk, DEMO_GROUP), (other_pk, OTHER_GROUP), (None, None)]
    later = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    assert get(console, "/corrections", bearer(console, "root")[0], since=later) == []


# ------------------------------------------------------------------------------------ endpoints


def test_groups_have_todays_counts(sqlite_console: Console) -> None:
    root, _ = bearer(sqlite_console, "root")
    body = get(sqlite_console, "/groups", root)
    assert isinstance(body, dict)
    date.fromisoformat(body["day"])
    assert {g["id"] for g in body["groups"]} == DEMO_GROUPS | {OTHER_GROUP}
    for g in body["groups"]:
        assert set(g) == {"id", "name", "topic", "dry_run", "today"}
        assert set(g["today"]) == {"messages", "speakers", "useful", "ads", "actions", "backlog"}
        assert g["today"]["backlog"] == 0  # the fixture's messages are all analysed
    demo = next(g for g in body["groups"] if g["id"] == DEMO_GROUP)
    assert demo["topic"]  # the demo config's topic


def test_digests_by_day(sqlite_console: Console) -> None:
    with sqlite_console.store.sessions.begin() as session:
        digests_db.save_digest(session, DEMO_GROUP, date(2026, 11, 24), "日报 24", "<p>24</p>")
        digests_db.save_digest(session, DEMO_GROUP, date(2026, 11, 25), "日报 25", "<p>25</p>")
    root, _ = bearer(sqlite_console, "root")
    days = get(sqlite_console, f"/groups/{DEMO_GROUP}/digests", root)
    assert [d["day"] for d in days] == ["2026-11-25", "2026-11-24"]  # type: ignore[union-attr]
    assert all(d["sent_at"] is None and d["has_html"] for d in days)  # type: ignore[union-attr]
    one = get(sqlite_console, f"/groups/{DEMO_GROUP}/digests/2026-11-24", root)
    assert isinstance(one, dict)
    assert (one["group_id"], one["day"], one["text"], one["html"]) == (DEMO_GROUP, "2026-11-24", "日报 24", "<p>24</p>")
    assert sqlite_console.client.get(f"{API}/groups/{DEMO_GROUP}/digests/2026-11-23", headers=root).status_code == 404
    assert sqlite_console.client.get(f"{API}/groups/{DEMO_GROUP}/digests/yesterday", headers=root).status_code == 422
    assert get(sqlite_console, f"/groups/{OTHER_GROUP}/digests", root) == []


def test_actions_carry_their_verdict_and_reasons(sqlite_console: Console) -> None:
    root, _ = bearer(sqlite_console, "root")
    found = get(sqlite_console, f"/groups/{DEMO_GROUP}/actions", root)
    assert isinstance(found, list) and found, "the sample day's ads were acted on (dry run)"
    times = [a["created_at"] for a in found]
    assert times == sorted(times, reverse=True)
    for a in found:
        assert a["group_id"] == DEMO_GROUP and a["dry_run"] is True
        assert a["verdict"]["label"] == "ad" and 0 <= a["verdict"]["score"] <= 1 and a["reasons"]
    assert len(get(sqlite_console, f"/groups/{DEMO_GROUP}/actions", root, limit=1)) == 1  # type: ignore[arg-type]
    newest = datetime.fromisoformat(found[0]["created_at"])
    naive_later = (newest.astimezone(timezone.utc) + timedelta(seconds=1)).replace(tzinfo=None).isoformat()
    assert get(sqlite_console, f"/groups/{DEMO_GROUP}/actions", root, since=naive_later) == []  # read as UTC
    assert (
        sqlite_console.client.get(f"{API}/groups/{DEMO_GROUP}/actions", headers=root, params={"limit": 0}).status_code
        == 422
    )


def test_leads_filter_by_group_and_score_and_leave_out_who_opted_out(sqlite_console: Console) -> None:
    root, _ = bearer(sqlite_console, "root")
    rows = get(sqlite_console, "/leads", root)
    assert isinstance(rows, list) and rows
    assert {r["group_id"] for r in rows} == {DEMO_GROUP, OTHER_GROUP}
    scores = [r["lead_score"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert set(rows[0]["roles"]) == {"questions", "answers", "links", "useful", "ads"}
    assert all(r["ad_risk"] and r["ad_risk_rank"] in (0, 1, 2) for r in rows)
    demo = get(sqlite_console, "/leads", root, group=DEMO_GROUP)
    assert demo and {r["group_id"] for r in demo} == {DEMO_GROUP}  # type: ignore[union-attr]
    best = rows[0]["lead_score"]
    assert [r["lead_score"] for r in get(sqlite_console, "/leads", root, min_score=best)] == [  # type: ignore[union-attr]
        s for s in scores if s >= best
    ]
    with sqlite_console.store.sessions.begin() as session:
        groups_db.set_opted_out(session, rows[0]["group_id"], rows[0]["member_id"])
    assert rows[0]["member_id"] not in {r["member_id"] for r in get(sqlite_console, "/leads", root)}  # type: ignore[union-attr]


def test_the_openapi_schema_lists_the_endpoints_and_the_bearer_scheme(sqlite_console: Console) -> None:
    schema = sqlite_console.client.get(f"{API}/openapi.json").json()
    paths = {p: ops for p, ops in schema["paths"].items() if p.startswith(API)}
    assert set(paths) == {
        f"{API}/check",
        f"{API}/groups",
        f"{API}/groups/{{group_id}}/digests",
        f"{API}/groups/{{group_id}}/digests/{{day}}",
        f"{API}/groups/{{group_id}}/actions",
        f"{API}/corrections",
        f"{API}/leads",
    }
    schemes = schema["components"]["securitySchemes"]
    assert [s for s in schemes.values() if s == {**s, "type": "http", "scheme": "bearer"}]
    for operations in paths.values():
        for op in operations.values():
            assert op["security"] and set(op["security"][0]) <= set(schemes)
            assert "200" in op["responses"] and "$ref" in json.dumps(op["responses"]["200"])
    assert "CheckOut" in schema["components"]["schemas"]


# ----------------------------------------------------------------------------------------- check

CHECKED = "兼职刷单日赚300，加我微信 abc_12345 或打 13800138000，价格2999元"


def cli_records(tmp_path, argv: list[str], text: str) -> dict:
    src, dst = tmp_path / "in.txt", tmp_path / "out.jsonl"
    src.write_text(text + "\n", "utf-8")
    assert main([*argv, str(src), str(dst)]) == 0
    (record,) = [json.loads(line) for line in dst.read_text("utf-8").splitlines()]
    return record


def test_check_answers_what_predict_and_extract_print(sqlite_console: Console, tmp_path, capsys) -> None:
    """The fixture's config judges by the rules: /check must match `predict --rules` and `extract --rules`."""
    root, _ = bearer(sqlite_console, "root")
    r = sqlite_console.client.post(f"{API}/check", headers=root, json={"text": CHECKED, "topic": "人工智能"})
    assert r.status_code == 200, r.text
    body = r.json()
    verdicts = {v["task"]: v for v in body["verdicts"]}
    assert verdicts["ad"]["label"] == "ad" and verdicts["ad"]["reasons"]
    for task in ("ad", "useful", "intent"):
        printed = cli_records(tmp_path, ["predict", "--task", task, "--rules", "--topic", "人工智能"], CHECKED)
        v = verdicts[task]
        assert {
            "text": CHECKED,
            "label": v["label"],
            "score": v["score"],
            "p": v["p"],
            "reasons": v["reasons"],
        } == printed
    extracted = cli_records(tmp_path, ["extract", "--rules", "--topic", "人工智能"], CHECKED)
    assert body["intent"] == extracted["intent"]
    assert {
        task: {"label": v["label"], "score": round(v["score"], 4), "reasons": v["reasons"]}
        for task, v in verdicts.items()
    } == extracted["verdicts"]
    entities = [
        {k: e[k] for k in ("type", "start", "end", "text", "score", "value") if k != "value" or e["value"]}
        for e in body["entities"]
    ]
    assert entities == extracted["entities"]
    assert {(e["type"], e["text"], e["source"]) for e in body["entities"]} >= {
        ("WECHAT", "abc_12345", "pattern"),
        ("PHONE", "13800138000", "pattern"),
    }


def test_check_refuses_an_empty_or_too_long_message(sqlite_console: Console) -> None:
    root, _ = bearer(sqlite_console, "root")
    for body in (
        {"text": ""},
        {"text": "好" * (MAX_CHECK_CHARS + 1)},
        {"topic": "人工智能"},
        {"text": "好", "topic": "话" * 201},
    ):
        assert sqlite_console.client.post(f"{API}/check", headers=root, json=body).status_code == 422, body
    r = sqlite_console.client.post(f"{API}/check", headers=root, json={"text": "好" * MAX_CHECK_CHARS})
    assert r.status_code == 200
    # a bad body without a token is refused for the token first
    assert sqlite_console.client.post(f"{API}/check", json={"text": ""}).status_code == 401


@pytest.mark.parametrize("user", ["ann", "bob"])
def test_any_user_may_check(sqlite_console: Console, user: str) -> None:
    headers, _ = bearer(sqlite_console, user)
    r = sqlite_console.client.post(f"{API}/check", headers=headers, json={"text": "请问 LoRA 微调学习率设多少？"})
    assert r.status_code == 200 and r.json()["intent"] == "question"


def test_concurrent_checks_answer_as_one_at_a_time(sqlite_console: Console) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from bot.check import Checker

    checker = Checker(sqlite_console.config)
    texts = [f"{CHECKED} {i}" if i % 2 else f"请问第 {i} 个问题怎么解决？" for i in range(24)]
    alone = [checker.check(t, "人工智能").extract_record() for t in texts]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda t: checker.check(t, "人工智能").extract_record(), texts))
    assert together == alone
