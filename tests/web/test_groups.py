"""A group's page (activity, policy and dry run, topic, members) and its digest archive, with the
stored HTML served unable to run script; other admins' groups refused."""

from __future__ import annotations

import html
import re
from datetime import date
from urllib.parse import quote

from bot import catalogue
from bot.daily import make_digest
from bot.digest.build import day_bounds
from bot.store import activity as activity_db, digests as digests_db, groups as groups_db
from bot.store.digests import DigestRecord
from bot.web.groups import DIGEST_CSP, profile_url
from tests.web.conftest import DEMO_GROUP, OTHER_GROUP, Console, login

SAMPLE_DAY = date(2026, 11, 25)
GROUP_URL = f"/groups/{quote(DEMO_GROUP, safe='')}"
WORDS = catalogue.CONSOLE


def count(page: str, name: str) -> int:
    found = re.search(rf'data-count="{name}">(\d+)', page)
    assert found, f"no {name} count on the page"
    return int(found.group(1))


def stored_digest(console: Console) -> DigestRecord:
    with console.store.sessions() as session:
        found = digests_db.get_digest(session, DEMO_GROUP, SAMPLE_DAY)
    assert found is not None
    return found


def test_the_group_page_shows_the_days_activity_policy_and_topic(sqlite_console: Console) -> None:
    login(sqlite_console.client, "ann")
    r = sqlite_console.client.get(GROUP_URL, params={"day": SAMPLE_DAY.isoformat()})
    assert r.status_code == 200
    tz = sqlite_console.config.digest_timezone()
    with sqlite_console.store.sessions() as session:
        expected = activity_db.group_activity(session, *day_bounds(SAMPLE_DAY, tz))[DEMO_GROUP]
    assert expected.messages > 0
    assert count(r.text, "messages") == expected.messages and count(r.text, "ads") == expected.ads
    assert count(r.text, "speakers") == expected.speakers and count(r.text, "useful") == expected.useful
    assert count(r.text, "actions") == sum(expected.actions.values())
    assert 'data-mode="kick"' in r.text and WORDS["group_mode_kick"] in r.text
    assert "0.80" in r.text and WORDS["group_strikes_value"].format(n=2, hours=72) in r.text
    assert "人工智能 大模型" in r.text  # the configured topic
    assert 'data-dry-run="off"' in r.text


def test_today_falls_back_to_the_last_day_with_messages(sqlite_console: Console) -> None:
    login(sqlite_console.client, "ann")
    page = sqlite_console.client.get(GROUP_URL).text
    assert WORDS["group_fell_back"] in page
    assert WORDS["group_activity"].format(day=SAMPLE_DAY.isoformat()) in page and count(page, "messages") > 0


def test_the_dry_run_switched_in_the_group_shows(sqlite_console: Console) -> None:
    with sqlite_console.store.sessions.begin() as session:
        groups_db.set_group_dry_run(session, DEMO_GROUP, True)
    login(sqlite_console.client, "ann")
    page = sqlite_console.client.get(GROUP_URL).text
    assert 'data-dry-run="on"' in page and WORDS["group_dry_run_in_group"].format(command="/dryrun") in page


def test_the_members_table_links_profiles_except_of_those_who_opted_out(sqlite_console: Console) -> None:
    with sqlite_console.store.sessions.begin() as session:
        members = groups_db.members(session, DEMO_GROUP)
        quiet, talker = members[-1], members[0]
        groups_db.set_opted_out(session, DEMO_GROUP, quiet.member_id)
    login(sqlite_console.client, "ann")
    page = sqlite_console.client.get(GROUP_URL).text
    rows = re.findall(r'<tr data-member="([^"]+)"', page)
    assert rows == [m.member_id for m in members]  # most messages first
    row = page[page.index(f'data-member="{quiet.member_id}"') :]
    row = row[: row.index("</tr>")]
    assert "data-opted-out" in row and WORDS["group_opted_out"] in row and "href=" not in row
    talker_row = page[page.index(f'data-member="{talker.member_id}"') :]
    assert html.escape(profile_url(DEMO_GROUP, talker.member_id)) in talker_row[: talker_row.index("</tr>")]
    assert f">{talker.message_count}<" in talker_row


def test_the_digest_archive_lists_a_stored_day_with_its_text_and_html(sqlite_console: Console) -> None:
    login(sqlite_console.client, "ann")
    assert WORDS["group_no_digests"].split("{command}")[1] in sqlite_console.client.get(GROUP_URL).text
    made = make_digest(sqlite_console.store.sessions, sqlite_console.config, DEMO_GROUP, SAMPLE_DAY, embed=None)
    stored = stored_digest(sqlite_console)
    assert made.newly_saved and stored.html == made.html and stored.text
    page = sqlite_console.client.get(GROUP_URL).text
    day_url = f"{GROUP_URL}/digests/{SAMPLE_DAY.isoformat()}"
    assert f'data-day="{SAMPLE_DAY.isoformat()}"' in page
    assert f'href="{day_url}"' in page and f'href="{day_url}/html"' in page

    r = sqlite_console.client.get(day_url)
    assert r.status_code == 200
    shown = re.search(r'<pre class="digest" id="digest-text">(.*?)</pre>', r.text, re.S)
    assert shown and html.unescape(shown.group(1)) == stored.text

    r = sqlite_console.client.get(f"{day_url}/html")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"] == DIGEST_CSP
    assert r.text == stored.html


def test_unknown_groups_and_days_are_not_found(sqlite_console: Console) -> None:
    login(sqlite_console.client, "root")
    assert sqlite_console.client.get("/groups/nobody%40chatroom").status_code == 404
    assert sqlite_console.client.get(f"{GROUP_URL}/digests/2026-11-24").status_code == 404
    assert sqlite_console.client.get(f"{GROUP_URL}/digests/2026-11-24/html").status_code == 404
    assert sqlite_console.client.get(f"{GROUP_URL}/digests/yesterday").status_code == 404
    assert sqlite_console.client.get(GROUP_URL, params={"day": "soon"}).status_code == 404


def test_another_admins_group_is_refused(console: Console) -> None:
    with console.store.sessions.begin() as session:
        digests_db.save_digest(session, DEMO_GROUP, SAMPLE_DAY, "人工智能日报", "<p>人工智能日报</p>")
    login(console.client, "bob")
    day_url = f"{GROUP_URL}/digests/{SAMPLE_DAY.isoformat()}"
    for url in (GROUP_URL, day_url, f"{day_url}/html"):
        r = console.client.get(url)
        assert r.status_code == 403, url
        assert "人工智能" not in r.text  # nothing of the group leaks
    assert console.client.get(f"/groups/{quote(OTHER_GROUP, safe='')}").status_code == 200


def test_a_logged_out_visitor_is_sent_to_the_login_form(sqlite_console: Console) -> None:
    r = sqlite_console.client.get(GROUP_URL, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
