"""The console in a real browser: Debian's Chromium (headless) on the console served by uvicorn.

One browser for the whole run (starting Chromium takes a second); each test gets a freshly filled
database, its own server and no cookies. The pages' tests run on SQLite; the security tests
(logged out, wrong group, no CSRF token) on SQLite and PostgreSQL. Without Chromium and chromedriver
these tests skip, except under CI=true, where they fail (tests/needs.py).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from bot.catalogue import CONSOLE as WORDS
from bot.config import Config
from bot.store import accounts as accounts_db, actions as actions_db, corrections as corrections_db
from bot.web.app import create_app
from bot.wiring import Store
from tests import needs
from tests.web.browser import PHONE, Site, serve, start_chromium
from tests.web.conftest import DEMO_GROUP, DEMO_GROUPS, OTHER_GROUP, PASSWORD

sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def group_path(group_id: str) -> str:
    return "/groups/" + quote(group_id, safe="")


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebDriver, Path]]:
    """One headless Chromium for every browser test, and the folder it downloads to."""
    binary, chromedriver = needs.browser()
    downloads = tmp_path_factory.mktemp("downloads")
    driver = start_chromium(binary, chromedriver, downloads)
    try:
        yield driver, downloads
    finally:
        driver.quit()


@pytest.fixture
def site(chromium: tuple[WebDriver, Path], console_store: tuple[Config, Store]) -> Iterator[Site]:
    """The browser, with no cookies and at desktop size, on the filled console served for real."""
    driver, downloads = chromium
    config, store = console_store
    with serve(create_app(config, store)) as base:
        site = Site(driver, base, downloads, config, store)
        site.reset()
        yield site


# --- logging in, and who may see what (SQLite and PostgreSQL) -----------------------------------


def test_logging_in_through_the_form_and_a_wrong_password(site: Site) -> None:
    site.go("/login")
    site.fill_login("root", "not the password")
    assert site.path.startswith("/login")
    assert site.text(".error[role=alert]") == WORDS["login_failed"]
    site.fill_login("root", PASSWORD)
    assert site.path == "/"
    assert site.find("#logout").is_displayed()
    assert "root" in site.text("header .who")


def test_a_logged_out_visitor_lands_on_the_login_form_and_then_where_they_were_going(site: Site) -> None:
    site.go(group_path(DEMO_GROUP))
    target = "/groups/" + DEMO_GROUP  # as the server read the path
    assert site.path == "/login?next=" + quote(target, safe="")
    assert site.find("#password").is_displayed()
    assert not site.find_all("#logout")
    site.fill_login("ann", PASSWORD)
    assert site.path == target
    assert DEMO_GROUP in site.text("h1") and site.find_all("#activity")


def test_an_admin_of_another_group_is_refused_that_group(site: Site) -> None:
    site.enter("bob")
    site.go(group_path(OTHER_GROUP))
    assert OTHER_GROUP in site.text("h1") and site.find_all("#activity")  # his own group opens ...
    site.go(group_path(DEMO_GROUP))
    assert "(403)" in site.text("h1") and not site.find_all("#activity")  # ... ann's does not
    assert site.text(".error[role=alert]")
    site.go("/moderation?group=" + quote(DEMO_GROUP, safe=""))
    assert "(403)" in site.text("h1")


def test_a_form_posted_without_its_csrf_token_is_refused(site: Site) -> None:
    site.enter("root")
    site.script("document.querySelector('form[action=\"/logout\"] input[name=csrf]').remove()")
    site.submit_and_wait(site.find("#logout"))
    assert "(403)" in site.text("h1")
    site.go("/")
    assert site.path == "/"  # the refused logout left the session alone
    assert site.fetch("POST", "/logout") == 403  # a script's POST without the header: refused too
    site.go("/")
    assert site.path == "/"
    assert site.fetch("POST", "/logout", csrf=True) == 0  # with the page's token: the redirect (opaque to fetch)
    site.go("/")
    assert site.path.startswith("/login")


# --- the pages (SQLite) ----------------------------------------------------------------------------


@sqlite_only
def test_the_overview_lists_the_viewers_groups(site: Site) -> None:
    site.enter("root")
    links = [a.get_attribute("href") or "" for a in site.find_all("#groups tbody a")]
    assert {link[len(site.base) :] for link in links} == {group_path(g) for g in DEMO_GROUPS | {OTHER_GROUP}}
    site.enter("ann")
    links = [a.get_attribute("href") or "" for a in site.find_all("#groups tbody a")]
    assert [link[len(site.base) :] for link in links] == [group_path(DEMO_GROUP)]


@sqlite_only
def test_the_overview_fits_a_phone_and_turns_dark(site: Site) -> None:
    site.enter("root")
    light = site.background()
    site.phone()
    site.go("/")
    site.wait(lambda _d: site.inner_width() == PHONE[0])  # the page's viewport is the phone's
    assert site.overflow() <= 0
    assert not site.find("#groups thead").is_displayed()  # the table became cards
    site.toggle_theme()
    assert site.theme() == "dark"
    assert site.background() != light
    site.go("/")
    assert site.theme() == "dark"  # remembered
    site.toggle_theme()
    assert site.background() == light


@sqlite_only
def test_reviewing_messages_with_a_click_and_with_the_keyboard(site: Site) -> None:
    store = site.store
    site.enter("ann", then="/review")
    waiting = site.text("#review-waiting-count")
    first, second, third = site.find_all(".review-item")[:3]
    first_pk, second_pk = int(first.get_attribute("data-pk") or 0), int(second.get_attribute("data-pk") or 0)

    first.find_element(By.CSS_SELECTOR, "button[data-mark=ad]").click()
    site.wait(lambda _d: site.text("#review-waiting-count") != waiting)
    assert site.wait(lambda _d: _status_of(site, first_pk)) in (WORDS["review_recorded"], "gone")
    if site.find_all(f"#review-{first_pk}.done-row"):  # settled: it leaves the queue in a moment
        site.wait(lambda _d: _status_of(site, first_pk) == "gone")

    second.find_element(By.CSS_SELECTOR, ".msg").click()  # the message a key acts on
    site.wait(lambda _d: "current" in (second.get_attribute("class") or ""))
    site.press("j")
    site.wait(lambda _d: "current" in (third.get_attribute("class") or ""))
    site.press("k")
    site.wait(lambda _d: "current" in (second.get_attribute("class") or ""))
    site.press("u")
    assert site.wait(lambda _d: _status_of(site, second_pk)) in (WORDS["review_recorded"], "gone")

    with store.sessions() as session:
        made = {(c.message_pk, c.analyzer, c.label, c.by_contact) for c in corrections_db.corrections(session)}
        audited = [a for a in accounts_db.audit_log(session) if a.action == "review_label"]
    assert (first_pk, "ad", "ad", "console:ann") in made
    assert (second_pk, "useful", "useful", "console:ann") in made
    assert {a.target for a in audited} == {str(first_pk), str(second_pk)} and {a.actor for a in audited} == {"ann"}


def _status_of(site: Site, pk: int) -> str:
    """The review item's status line ("recorded" or "failed"), or "" while it has none; "gone" once
    the item left the queue (it does after a decision that settles it)."""
    found = site.find_all(f"#review-{pk} .review-status")
    if not found:
        return "gone"
    return str(found[0].text) if found[0].is_displayed() else ""


@sqlite_only
def test_undoing_an_action_in_the_moderation_log(site: Site) -> None:
    store = site.store
    site.enter("ann", then="/moderation")
    row = site.find("#moderation-log tbody tr:has(form.undo)")
    action_pk = int((row.get_attribute("id") or "").removeprefix("action-"))
    site.submit_and_wait(row.find_element(By.CSS_SELECTOR, "form.undo button"))
    assert site.path.startswith("/moderation?")
    assert site.find("#undo-notice").is_displayed()
    assert "done-row" in (site.find(f"#action-{action_pk}").get_attribute("class") or "")
    assert not site.find_all(f"#action-{action_pk} form.undo")
    with store.sessions() as session:
        action = actions_db.get_action(session, action_pk)
        audited = [a for a in accounts_db.audit_log(session) if a.action == "undo"]
    assert action is not None and action.undone_at is not None
    assert [(a.actor, a.target) for a in audited] == [("ann", str(action_pk))]


@sqlite_only
def test_exporting_the_leads_as_csv(site: Site) -> None:
    site.enter("ann", then="/members")
    shown = {
        (r.get_attribute("data-group"), r.get_attribute("data-member")) for r in site.find_all("#members tbody tr")
    }
    assert shown
    site.find("#export-leads").click()
    path = site.downloaded(".csv")
    with path.open(encoding="utf-8-sig", newline="") as f:
        header, *rows = list(csv.reader(f))
    group_at, member_at = header.index(WORDS["members_csv_group_id"]), header.index(WORDS["members_csv_member_id"])
    assert {(r[group_at], r[member_at]) for r in rows} == shown  # the table's members, ann's group only
    assert all(r[group_at] == DEMO_GROUP for r in rows)


@sqlite_only
def test_sorting_the_members_and_opening_a_profile(site: Site) -> None:
    site.enter("root", then="/members")
    for _ in range(2):  # one way, then the other
        site.submit_and_wait(site.find("#members thead a[data-sort=messages]"))
        assert "sort=messages" in site.path
        cells = site.find_all(f"#members tbody td[data-label='{WORDS['members_col_messages']}']")
        counts = [int(c.text) for c in cells]
        assert len(set(counts)) > 2
        assert counts == sorted(counts, reverse="dir=desc" in site.path), site.path
    link = site.find("#members tbody a.member-link")
    name = str(link.text)
    site.submit_and_wait(link)
    assert site.path.startswith("/members/") and name in site.text("h1")
    assert site.find("#lead").is_displayed() and site.find("#risk").is_displayed()


@sqlite_only
def test_searching_highlights_the_words_found_in_the_viewers_groups_only(site: Site) -> None:
    site.enter("ann", then="/search")
    site.find("#q").send_keys("模型", Keys.ENTER)
    site.wait_for_path(lambda p: "q=" in p)
    rows = site.find_all("#search-results tbody tr")
    assert len(rows) >= 2
    assert all(row.find_elements(By.CSS_SELECTOR, "mark") for row in rows)  # every hit shows why it was found
    assert {str(m.text) for m in site.find_all("#search-results mark")} == {"模型"}
    site.find("#q").clear()
    site.find("#q").send_keys("爬山", Keys.ENTER)  # bob's group talks about it; ann sees nothing
    site.wait_for_path(lambda p: "%E7%88%AC" in p or "爬" in p)
    assert site.find_all("#search-none") and not site.find_all("#search-results")


@sqlite_only
def test_the_checker_shows_verdicts_entities_and_reasons(site: Site) -> None:
    site.enter("ann", then="/checker")
    site.find("#checker-text").send_keys("加我微信 wx123456 代开发票 低价")
    site.submit_and_wait(site.find("#checker-submit"))
    assert site.find("#checker-result").is_displayed()
    rules = site.find("#checker-verdicts tr[data-task=ad]")
    assert "ad" in (rules.find_element(By.CSS_SELECTOR, ".chip").get_attribute("class") or "").split()
    assert "微信号" in str(rules.text)  # a reason
    assert "wx123456" in site.text("#checker-entities tbody")
    assert (
        site.find("#checker-text").get_attribute("value") == "加我微信 wx123456 代开发票 低价"
    )  # kept for the next try


# --- every page at phone width, and dark ----------------------------------------------------------------

PAGES = {
    "login": "/login",
    "overview": "/",
    "group": group_path(DEMO_GROUP),
    "review": "/review",
    "moderation": "/moderation",
    "audit": "/moderation/audit",
    "members": "/members",
    "member": "",  # the first member of the members page
    "search": "/search?q=" + quote("模型"),
    "checker": "/checker",
}


@sqlite_only
@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_fits_a_phone_and_a_desktop_in_light_and_dark(site: Site, name: str) -> None:
    site.enter("root")
    path = PAGES[name] or _first_member(site)
    site.go(path)
    assert site.find_all("main h1") and "(40" not in site.text("h1"), site.text("main")[:200]
    assert site.overflow() <= 0, f"{path} is wider than the desktop by {site.overflow()} px"
    light = site.background()
    site.phone()
    site.go(path)
    site.wait(lambda _d: site.inner_width() == PHONE[0])  # the page's viewport is the phone's
    assert site.overflow() <= 0, f"{path} is wider than a phone by {site.overflow()} px"
    site.toggle_theme()
    assert site.theme() == "dark" and site.background() != light
    assert site.overflow() <= 0


def _first_member(site: Site) -> str:
    site.go("/members")
    href = site.find("#members tbody a.member-link").get_attribute("href") or ""
    return href[len(site.base) :]
