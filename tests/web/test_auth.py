"""Logging in and out, sessions, CSRF, rate limits and group scoping, on SQLite and PostgreSQL."""

from __future__ import annotations

from bot.store import accounts as accounts_db
from tests.web.conftest import DEMO_GROUP, OTHER_GROUP, PASSWORD, Console, login


def test_a_logged_out_request_goes_to_the_login_form(console: Console) -> None:
    r = console.client.get("/", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2F"
    form = console.client.get("/login")
    assert form.status_code == 200 and 'name="password"' in form.text


def test_login_sets_a_session_cookie_that_scripts_cannot_read(console: Console) -> None:
    r = console.client.post("/login", data={"username": "root", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "qunzhi_session=" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain HTTP on 127.0.0.1; HTTPS gets Secure (next test)
    assert console.client.get("/").status_code == 200


def test_the_cookie_is_secure_behind_a_tls_proxy(console: Console) -> None:
    client = console.new_client()
    client.base_url = client.base_url.copy_with(scheme="https")
    r = client.post("/login", data={"username": "root", "password": PASSWORD}, follow_redirects=False)
    assert "Secure" in r.headers["set-cookie"]


def test_a_wrong_password_is_refused_and_recorded(console: Console) -> None:
    r = console.client.post("/login", data={"username": "root", "password": "wrong password"})
    assert r.status_code == 401
    assert "用户名或密码不对" in r.text
    assert console.client.get("/", follow_redirects=False).status_code == 303
    with console.store.sessions() as session:
        log = accounts_db.audit_log(session)
    assert log[0].action == "login_failed" and log[0].actor == "root"
    assert PASSWORD not in repr(log) and "wrong password" not in repr(log)


def test_logins_are_rate_limited(console: Console) -> None:
    for _ in range(console.config.web.login_attempts):
        assert console.client.post("/login", data={"username": "ann", "password": "nope nope"}).status_code == 401
    r = console.client.post("/login", data={"username": "ann", "password": PASSWORD})
    assert r.status_code == 429  # even the right password, until the window passes
    assert "尝试次数过多" in r.text


def test_a_post_without_the_csrf_token_is_refused(console: Console) -> None:
    csrf = login(console.client, "root")
    assert console.client.post("/logout", follow_redirects=False).status_code == 403
    assert console.client.post("/logout", data={"csrf": "forged"}, follow_redirects=False).status_code == 403
    assert console.client.get("/").status_code == 200  # still logged in
    r = console.client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert console.client.get("/", follow_redirects=False).status_code == 303


def test_logging_out_ends_the_session_on_the_server(console: Console) -> None:
    csrf = login(console.client, "root")
    stolen = console.client.cookies.get("qunzhi_session")
    console.client.post("/logout", data={"csrf": csrf})
    thief = console.new_client()
    thief.cookies.set("qunzhi_session", stolen)
    assert thief.get("/", follow_redirects=False).status_code == 303


def test_removing_a_user_ends_their_sessions(console: Console) -> None:
    login(console.client, "ann")
    with console.store.sessions.begin() as session:
        accounts_db.remove_user(session, "ann")
    assert console.client.get("/", follow_redirects=False).status_code == 303


def test_an_admin_sees_only_their_groups(console: Console) -> None:
    login(console.client, "bob")
    page = console.client.get("/").text
    assert OTHER_GROUP.split("@")[0] in page or "other-group" in page
    assert DEMO_GROUP not in page and "AI 开发者交流群" not in page


def test_the_next_page_after_login_stays_on_this_site(console: Console) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        r = console.client.post(
            "/login", data={"username": "root", "password": PASSWORD, "next": target}, follow_redirects=False
        )
        assert r.headers["location"] == "/"


def test_healthz(console: Console) -> None:
    assert console.client.get("/healthz").json() == {"status": "ok", "database": "ok"}


def test_the_overview_shows_the_last_day_with_messages_when_today_is_empty(sqlite_console: Console) -> None:
    login(sqlite_console.client, "root")
    page = sqlite_console.client.get("/").text
    assert 'id="fell-back"' in page and "2026-11-25" in page  # the sample day
    assert "AI 开发者交流群" in page and 'data-label="消息">356<' in page  # the digest counts 356 too
    empty = sqlite_console.client.get("/?day=2026-11-20").text
    assert 'id="fell-back"' not in empty
    assert sqlite_console.client.get("/?day=yesterday").status_code == 400
