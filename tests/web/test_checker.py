"""The checker page: the form, the verdicts, entities and reasons of a pasted message, CSRF."""

from __future__ import annotations

import html

from bot import catalogue
from bot.check import Checker
from bot.store import groups as groups_db
from bot.web.api import MAX_CHECK_CHARS
from tests.web.conftest import DEMO_GROUP, OTHER_GROUP, Console, login

AD = "兼职刷单日赚300，加我微信 abc_12345 或打 13800138000 <b>速来</b>"


def test_the_checker_wants_a_login(sqlite_console: Console) -> None:
    r = sqlite_console.client.get("/checker", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fchecker"


def test_the_form_offers_the_topics_of_the_viewers_groups_only(sqlite_console: Console) -> None:
    with sqlite_console.store.sessions.begin() as session:
        groups_db.set_group(session, OTHER_GROUP, topic="户外徒步")
        demo = groups_db.group(session, DEMO_GROUP)
    assert demo is not None and demo.topic
    login(sqlite_console.client, "ann")
    page = sqlite_console.client.get("/checker")
    assert page.status_code == 200
    assert 'name="text"' in page.text and 'name="topic"' in page.text and 'id="checker-result"' not in page.text
    assert f'<option value="{demo.topic}">' in page.text
    assert "户外徒步" not in page.text
    root = sqlite_console.new_client()
    login(root, "root")
    assert "户外徒步" in root.get("/checker").text


def test_a_post_without_the_csrf_token_is_refused(console: Console) -> None:
    login(console.client, "ann")
    assert console.client.post("/checker", data={"text": AD}).status_code == 403
    assert console.client.post("/checker", data={"text": AD, "csrf": "forged"}).status_code == 403
    logged_out = console.new_client()
    assert logged_out.post("/checker", data={"text": AD}, follow_redirects=False).status_code == 401


def test_every_verdict_entity_and_reason_is_shown(sqlite_console: Console) -> None:
    csrf = login(sqlite_console.client, "ann")
    r = sqlite_console.client.post("/checker", data={"csrf": csrf, "text": AD, "topic": "人工智能"})
    assert r.status_code == 200, r.text
    expected = Checker(sqlite_console.config).check(AD, "人工智能")
    page = r.text
    assert html.escape(AD) in page and "<b>速来</b>" not in page  # the message is shown, never as markup
    for v in expected.verdicts:
        assert f'data-task="{v.task}"' in page
        assert html.escape(catalogue.label_name(v.label)) in page
        for reason in v.reasons:
            assert html.escape(catalogue.reason_text(reason)) in page, reason
    assert expected.verdict("ad").label == "ad"
    assert expected.entities
    for e in expected.entities:
        assert f'data-type="{e.type}"' in page and html.escape(e.text) in page
    assert catalogue.ENTITY_NAMES["WECHAT"] in page and catalogue.ENTITY_NAMES["PHONE"] in page
    assert catalogue.CONSOLE["checker_topic_was"].format(topic="人工智能") in page


def test_a_message_without_entities_says_so(sqlite_console: Console) -> None:
    csrf = login(sqlite_console.client, "ann")
    r = sqlite_console.client.post("/checker", data={"csrf": csrf, "text": "哈哈哈"})
    assert r.status_code == 200
    assert catalogue.CONSOLE["checker_no_entities"] in r.text
    assert catalogue.CONSOLE["checker_topic_was"].format(topic=catalogue.CONSOLE["checker_no_topic"]) in r.text


def test_an_empty_or_too_long_message_is_refused_on_the_form(sqlite_console: Console) -> None:
    csrf = login(sqlite_console.client, "ann")
    r = sqlite_console.client.post("/checker", data={"csrf": csrf, "text": "  "})
    assert r.status_code == 422 and catalogue.CONSOLE["checker_empty"] in r.text
    r = sqlite_console.client.post("/checker", data={"csrf": csrf, "text": "好" * (MAX_CHECK_CHARS + 1)})
    assert r.status_code == 422 and 'id="checker-error"' in r.text and 'id="checker-result"' not in r.text
