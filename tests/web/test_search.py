"""The search page: words found in the viewer's groups only (another group is 403), filters, the
count and pages, matched words marked in escaped text, purged texts never shown — on the sample day."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import OperationalError

from bot.message import GroupMessage, MessageKind
from bot.store import messages as messages_db, purge as purge_db, search as search_db
from bot.store.search import HitVerdict
from bot.web.search import highlight, verdict_labels
from tests.web.conftest import DEMO_GROUP, OTHER_GROUP, Console, login

ROW = re.compile(r'<tr id="message-(\d+)">(.*?)</tr>', re.S)
TOTAL = re.compile(r'<small id="search-total">共 (\d+) 条')


def rows(html: str) -> list[str]:
    return [body for _, body in ROW.findall(html)]


def total(html: str) -> int:
    found = TOTAL.search(html)
    assert found, "the page shows how many matched"
    return int(found.group(1))


def store(console: Console, text: str, group_id: str = DEMO_GROUP, n: int = 1) -> None:
    msg = GroupMessage(
        id=f"search-{n}",
        source="test",
        group_id=group_id,
        sender_id="wxid_tester",
        sender_name="测试员",
        sent_at=datetime(2026, 11, 26, 3, 0, tzinfo=timezone.utc) + timedelta(minutes=n),
        kind=MessageKind.TEXT,
        text=text,
    )
    with console.store.sessions.begin() as session:
        messages_db.store_message(session, msg)


def test_words_are_found_in_sentences_and_marked(sqlite_console: Console) -> None:
    login(sqlite_console.client, "root")
    r = sqlite_console.client.get("/search", params={"q": "上海"})
    assert r.status_code == 200
    found = rows(r.text)
    assert total(r.text) == len(found) >= 4
    assert all("<mark>上海</mark>" in row for row in found)
    assert "羡慕 <mark>上海</mark>只有魔法攻击 湿冷" in r.text
    assert "AI 开发者交流群" in found[0] and "/members/ai-dev-2026%40chatroom/" in found[0]


def test_two_words_must_both_occur(sqlite_console: Console) -> None:
    login(sqlite_console.client, "root")
    one = total(sqlite_console.client.get("/search", params={"q": "上海"}).text)
    both = sqlite_console.client.get("/search", params={"q": "上海 降温"}).text
    assert 1 == total(both) < one
    assert "<mark>上海</mark><mark>降温</mark>" not in both  # adjacent matches are one mark
    assert "<mark>上海降温</mark>" in both


def test_an_admin_searches_their_groups_only(console: Console) -> None:
    login(console.client, "ann")
    mine = console.client.get("/search", params={"q": "微信"})
    assert mine.status_code == 200 and total(mine.text) >= 1
    assert "wx123456" not in mine.text  # the other group's ad
    assert console.client.get("/search", params={"q": "wx123456"}).text.count('<tr id="message-') == 0
    refused = console.client.get("/search", params={"q": "wx123456", "group": OTHER_GROUP})
    assert refused.status_code == 403 and "wx123456" not in refused.text
    bob = console.new_client()
    login(bob, "bob")
    theirs = bob.get("/search", params={"q": "wx123456"})
    assert total(theirs.text) == 1 and "<mark>wx123456</mark>" in theirs.text
    assert bob.get("/search", params={"group": DEMO_GROUP}).status_code == 403


def test_a_logged_out_search_goes_to_the_login_form(console: Console) -> None:
    r = console.new_client().get("/search", params={"q": "上海"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2Fsearch")


def test_markup_in_a_message_is_shown_escaped(console: Console) -> None:
    store(console, '<script>alert("上海")</script><img src=x onerror=alert(1)>')
    login(console.client, "ann")
    r = console.client.get("/search", params={"q": "script 上海"})
    assert total(r.text) == 1
    assert "<script>alert" not in r.text and "<img src=x" not in r.text
    assert "&lt;<mark>script</mark>&gt;alert(&#34;<mark>上海</mark>&#34;)&lt;/<mark>script</mark>&gt;" in r.text


def test_a_new_message_is_found_at_the_first_search(sqlite_console: Console) -> None:
    login(sqlite_console.client, "ann")
    assert total(sqlite_console.client.get("/search", params={"q": "量子纠缠"}).text) == 0
    store(sqlite_console, "有人研究量子纠缠吗")
    assert total(sqlite_console.client.get("/search", params={"q": "量子纠缠"}).text) == 1


def test_a_database_too_busy_to_index_still_answers(sqlite_console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    login(sqlite_console.client, "root")
    assert total(sqlite_console.client.get("/search", params={"q": "上海"}).text) >= 4
    store(sqlite_console, "上海也下雪了")

    def busy(*_args: object) -> int:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(search_db, "index_pending", busy)
    r = sqlite_console.client.get("/search", params={"q": "上海"})
    assert r.status_code == 200 and 'id="search-catching-up"' in r.text
    assert "上海也下雪了" not in r.text  # not cut yet: found once the database lets it be written


def test_filters_list_messages_without_words(sqlite_console: Console) -> None:
    login(sqlite_console.client, "root")
    get = sqlite_console.client.get
    start = get("/search")
    assert "search-results" not in start.text and 'id="search-form"' in start.text
    other = get("/search", params={"group": OTHER_GROUP})
    assert total(other.text) == 3 and "周末去爬山吗" in other.text
    assert "周末去爬山吗" in rows(other.text)[-1]  # newest first: the first message is last
    assert total(get("/search", params={"group": OTHER_GROUP, "member": "wxid_other1"}).text) == 1
    assert total(get("/search", params={"group": OTHER_GROUP, "member": "路人0"}).text) == 2
    ads = get("/search", params={"group": OTHER_GROUP, "verdict": "ad"}).text
    assert total(ads) == 1 and "wx123456" in ads and 'class="chip ad"' in ads
    day = {"group": OTHER_GROUP, "since": "2026-11-25", "until": "2026-11-25"}
    assert total(get("/search", params=day).text) == 3
    assert total(get("/search", params={**day, "since": "2026-11-26", "until": ""}).text) == 0
    assert get("/search", params={"since": "yesterday"}).status_code == 400
    assert get("/search", params={"verdict": "spam"}).status_code == 400


def test_many_matches_come_in_pages(sqlite_console: Console) -> None:
    login(sqlite_console.client, "root")
    first = sqlite_console.client.get("/search", params={"group": DEMO_GROUP})
    n = total(first.text)
    assert n > 50 and len(rows(first.text)) == 50
    assert 'href="/search?group=ai-dev-2026%40chatroom&amp;page=2"' in first.text
    last_page = (n + 49) // 50
    last = sqlite_console.client.get("/search", params={"group": DEMO_GROUP, "page": last_page})
    assert len(rows(last.text)) == n - 50 * (last_page - 1) and 'rel="next"' not in last.text


def test_purged_texts_are_not_found(sqlite_console: Console) -> None:
    login(sqlite_console.client, "root")
    assert total(sqlite_console.client.get("/search", params={"q": "上海"}).text) >= 4  # indexed now
    now = datetime.now(timezone.utc)
    with sqlite_console.store.sessions.begin() as session:
        purge_db.blank_text_before(session, now + timedelta(days=1), now)
    assert total(sqlite_console.client.get("/search", params={"q": "上海"}).text) == 0
    assert total(sqlite_console.client.get("/search", params={"group": DEMO_GROUP}).text) == 0


def test_highlight_escapes_then_marks() -> None:
    assert str(highlight("a<b>RAG & rag", ["rag"])) == "a&lt;b&gt;<mark>RAG</mark> &amp; <mark>rag</mark>"
    assert str(highlight("said AI", ["ai"])) == "said <mark>AI</mark>"  # not inside "said"
    assert str(highlight("用ＧＰＴ写", ["gpt"])) == "用<mark>ＧＰＴ</mark>写"  # full-width folded as searched
    assert str(highlight("向量数据库", ["数据", "数据库", "向量"])) == "<mark>向量数据库</mark>"
    assert str(highlight("<mark>", [])) == "&lt;mark&gt;"


def test_a_label_two_analyzers_agree_on_is_one_chip() -> None:
    verdicts = [HitVerdict("ad", "ad", 0.9), HitVerdict("useful", "skipped", 1.0), HitVerdict("intent", "ad", 0.7)]
    assert verdict_labels(verdicts) == [verdicts[0]]


def test_the_console_indexes_a_backlog_of_messages_at_start(sqlite_console) -> None:
    from bot.store import search as search_db
    from bot.store.common import MESSAGE_SEARCH
    from bot.web.app import index_backlog

    store = sqlite_console.store
    with store.sessions.begin() as session:
        session.execute(MESSAGE_SEARCH.delete())
    assert index_backlog(store, batch=100) > 300  # the sample day, in batches of 100
    assert index_backlog(store, batch=100) == 0
    with store.sessions() as session:
        assert search_db.index_pending(session, limit=10) == 0
