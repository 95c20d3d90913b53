"""Members and leads: the table (sorting, filtering, group scoping), a member's profile and timeline,
the CSV export, and opted-out members never shown — on the sample day profiled with lead keywords."""

from __future__ import annotations

import csv
import io
import re
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from bot import catalogue
from bot.config import Config
from bot.leads import lead_rows
from bot.message import GroupMessage, MessageKind
from bot.store import groups as groups_db, purge as purge_db
from bot.web.members import safe_cell
from bot.wiring import Store, build_pipeline, open_store
from tests.web.conftest import DEMO_GROUP, OTHER_GROUP, Console, console_config, fill, login

LEAD_WORDS = ("RAG", "微调", "部署", "GPU")
SUSU = "wxid_j7x2qp5n3e"  # 苏苏: asks about 微调, names RAG
WANG = "wxid_d9fh3k2w01"  # 小王: asks questions, and an ad of theirs was acted on
ROW = re.compile(r'<tr data-member="([^"]+)" data-group="([^"]+)">(.*?)</tr>', re.S)
SCORE = re.compile(r'data-score="(\d+)"')
RISK = re.compile(r'data-risk="(\d)"')
NAME = re.compile(r'class="member-link" href="[^"]+">([^<]+)</a>')


def leads_config(db_url: str) -> Config:
    """The console's settings with product keywords, so the sample day's members get lead scores."""
    base = console_config(db_url)
    return base.model_copy(update={"leads": base.leads.model_copy(update={"keywords": LEAD_WORDS})})


@pytest.fixture(scope="module")
def leads_sqlite_file(tmp_path_factory: pytest.TempPathFactory, password_hash: str) -> Path:
    path = tmp_path_factory.mktemp("leads") / "template.db"
    config = leads_config(f"sqlite:///{path}")
    store = open_store(config)
    try:
        fill(store, config, password_hash)
    finally:
        store.close()
    return path


def _console(config: Config, store: Store) -> Iterator[Console]:
    from bot.web.app import create_app

    with TestClient(create_app(config, store), base_url="http://127.0.0.1") as client:
        yield Console(config, store, client)


@pytest.fixture
def leads(leads_sqlite_file: Path, tmp_path: Path) -> Iterator[Console]:
    """The console with leads on a SQLite copy (for what only reads)."""
    path = tmp_path / "leads.db"
    shutil.copyfile(leads_sqlite_file, path)
    config = leads_config(f"sqlite:///{path}")
    store = open_store(config)
    try:
        yield from _console(config, store)
    finally:
        store.close()


@pytest.fixture
def leads_both(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Console]:
    """The console with leads on SQLite and PostgreSQL (writes and security)."""
    config = leads_config(db_url)
    if db_url.startswith("sqlite"):
        path = tmp_path / "leads.db"
        shutil.copyfile(request.getfixturevalue("leads_sqlite_file"), path)
        config = leads_config(f"sqlite:///{path}")
    store = open_store(config)
    try:
        if not db_url.startswith("sqlite"):
            fill(store, config, request.getfixturevalue("password_hash"))
        yield from _console(config, store)
    finally:
        store.close()


def table(html: str) -> list[tuple[str, str, str, int, int]]:
    """The table's rows: (member id, group id, name, lead score, ad risk rank)."""
    out = []
    for member_id, group_id, cells in ROW.findall(html):
        score, risk, name = SCORE.search(cells), RISK.search(cells), NAME.search(cells)
        assert score and risk and name, cells
        out.append((member_id, group_id, name.group(1), int(score.group(1)), int(risk.group(1))))
    return out


def get_table(client: TestClient, query: str = "") -> list[tuple[str, str, str, int, int]]:
    r = client.get(f"/members{query}")
    assert r.status_code == 200, r.text
    return table(r.text)


def get_csv(client: TestClient, query: str = "") -> list[list[str]]:
    r = client.get(f"/members.csv{query}")
    assert r.status_code == 200, r.text
    assert r.content.startswith(b"\xef\xbb\xbf"), "a BOM, so Excel reads UTF-8"
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith("attachment")
    return list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))


def test_the_table_lists_the_sample_days_members_with_lead_scores_and_ad_risk(leads: Console) -> None:
    login(leads.client, "root")
    rows = get_table(leads.client)
    with leads.store.sessions() as session:
        expected = lead_rows(session, leads.config, [DEMO_GROUP, OTHER_GROUP])
    assert len(rows) == len(expected) > 20
    assert {(r[0], r[1]) for r in rows} == {(e.member_id, e.group_id) for e in expected}
    by_member = {(r[0], r[1]): r for r in rows}
    susu = by_member[(SUSU, DEMO_GROUP)]
    assert susu[2] == "苏苏" and susu[3] > 0
    assert [r[3] for r in rows] == sorted((r[3] for r in rows), reverse=True), "best lead first"
    assert any(r[4] == 2 for r in rows) and any(r[4] < 2 for r in rows), "high risk and lower"
    page = leads.client.get("/members").text
    assert "问过「微调」1 次" in page, "the lead score's reasons"
    assert "广告 1 条" in page, "the ad risk's reasons"
    assert "wxid_other1" in page, "the other group's members too"


def test_sorting_changes_the_order(leads: Console) -> None:
    login(leads.client, "root")
    by_lead = get_table(leads.client, "?sort=lead&dir=desc")
    lead_up = get_table(leads.client, "?sort=lead&dir=asc")
    assert [r[3] for r in lead_up] == sorted(r[3] for r in by_lead)
    assert lead_up[0][3] < by_lead[0][3]
    by_name = get_table(leads.client, "?sort=name&dir=asc")
    assert [r[2].casefold() for r in by_name] == sorted(r[2].casefold() for r in by_name)
    assert [r[0] for r in by_name] != [r[0] for r in by_lead]
    by_risk = get_table(leads.client, "?sort=risk&dir=desc")
    assert [r[4] for r in by_risk] == sorted((r[4] for r in by_risk), reverse=True)
    assert by_risk[0][4] == 2 and by_risk[-1][4] < 2
    page = leads.client.get("/members?sort=lead&dir=desc").text
    assert 'href="/members?sort=lead&amp;dir=asc"' in page, "the sorted column's header turns the order round"
    assert 'href="/members?sort=messages&amp;dir=desc"' in page
    assert 'aria-sort="descending"' in page


def test_filters_narrow_the_rows(leads: Console) -> None:
    login(leads.client, "root")
    everyone = get_table(leads.client)
    other = get_table(leads.client, f"?group={quote(OTHER_GROUP)}")
    assert other and {r[1] for r in other} == {OTHER_GROUP}
    good = get_table(leads.client, "?min_lead=30")
    assert good and len(good) < len(everyone) and all(r[3] >= 30 for r in good)
    risky = get_table(leads.client, "?min_risk=2")
    assert risky and len(risky) < len(everyone) and all(r[4] == 2 for r in risky)
    assert [r[0] for r in get_table(leads.client, f"?q={quote('苏')}")] == [SUSU]
    rag = get_table(leads.client, "?topic=rag")
    with leads.store.sessions() as session:
        topics = {(r.member_id, r.group_id): r.topics for r in lead_rows(session, leads.config, [DEMO_GROUP])}
    assert rag and len(rag) < len(everyone)
    assert all(any("rag" in t.casefold() for t in topics[(r[0], r[1])]) for r in rag)
    assert get_table(leads.client, "?min_lead=abc&min_risk=&topic=") == everyone, "empty or bad fields ignored"
    assert 'id="no-members"' in leads.client.get(f"/members?q={quote('没有这个人')}").text


def test_a_member_profile_gives_the_reasons_behind_every_score(leads: Console) -> None:
    login(leads.client, "root")
    page = leads.client.get(f"/members/{quote(DEMO_GROUP)}/{SUSU}")
    assert page.status_code == 200
    text = page.text
    assert "苏苏" in text and SUSU in text
    assert "问过「微调」1 次" in text and "提到「RAG」1 次" in text
    assert "广告分均值" in text and "入群 24 小时内" in text, "the ad risk's reasons"
    assert "性别" in text and "年龄" in text and catalogue.PLACEHOLDER in text, "hints the data does not support"
    assert re.search(r"提问 \d+，回答他人 \d+，分享链接 \d+", text)
    assert leads.client.get(f"/members/{quote(DEMO_GROUP)}/wxid_nobody").status_code == 404


def test_the_timeline_shows_questions_and_actions_newest_first(leads: Console) -> None:
    login(leads.client, "root")
    text = leads.client.get(f"/members/{quote(DEMO_GROUP)}/{WANG}").text
    timeline = text[text.index('id="timeline"') :]
    kinds = re.findall(r'data-kinds="([^"]+)"', timeline)
    assert any("question" in k for k in kinds) and "action" in kinds
    times = re.findall(r'<time datetime="([^"]+)"', timeline)
    assert times == sorted(times, reverse=True) and len(times) == len(kinds)
    assert "警告" in timeline and "广告分" in timeline, "the action with its reasons in words"


def test_purged_texts_stay_out_of_the_timeline(leads: Console) -> None:
    login(leads.client, "root")
    url = f"/members/{quote(DEMO_GROUP)}/{SUSU}"
    assert "GRPO 大概要多少卡" in leads.client.get(url).text
    now = datetime.now(timezone.utc)
    with leads.store.sessions.begin() as session:
        purge_db.blank_text_before(session, now + timedelta(days=1), now)
    text = leads.client.get(url).text
    assert "GRPO 大概要多少卡" not in text
    assert catalogue.CONSOLE["member_purged"] in text
    assert "问过「微调」1 次" in text, "the profile outlives the purge"


def test_an_opted_out_member_is_never_listed_shown_or_exported(leads_both: Console) -> None:
    client = leads_both.client
    login(client, "root")
    assert SUSU in {r[0] for r in get_table(client)}
    with leads_both.store.sessions.begin() as session:
        groups_db.set_opted_out(session, DEMO_GROUP, SUSU, True)
    assert SUSU not in {r[0] for r in get_table(client)}
    assert client.get(f"/members/{quote(DEMO_GROUP)}/{SUSU}").status_code == 404
    exported = get_csv(client)
    assert len(exported) > 20 and not any(SUSU in row for row in exported)


def test_the_csv_matches_the_table_under_the_same_filters(leads: Console) -> None:
    login(leads.client, "root")
    query = "?min_lead=10&sort=messages&dir=desc"
    rows = get_table(leads.client, query)
    exported = get_csv(leads.client, query)
    words = catalogue.CONSOLE
    assert exported[0][:5] == [
        words["members_csv_group"],
        words["members_csv_group_id"],
        words["members_csv_name"],
        words["members_csv_member_id"],
        words["members_csv_lead"],
    ]
    body = exported[1:]
    assert rows and [(r[3], r[1], int(r[4])) for r in body] == [(r[0], r[1], r[3]) for r in rows]
    susu = next(r for r in body if r[3] == SUSU)
    assert "问过「微调」1 次；" in susu[5], "reasons joined in one cell"
    assert susu[6] in (catalogue.RISK_LOW, catalogue.RISK_MEDIUM, catalogue.RISK_HIGH)
    assert leads.client.get("/members.csv", follow_redirects=False).status_code == 200
    assert leads.new_client().get("/members.csv", follow_redirects=False).status_code == 303, "logged out"


def test_the_csv_cannot_run_formulas(leads: Console) -> None:
    names = ['=HYPERLINK("http://evil","x")', "+1+1", "-2+3", "@SUM(A1)"]
    t0 = datetime(2026, 11, 25, 15, 0, tzinfo=timezone.utc)
    messages = [
        GroupMessage(
            id=f"formula-{i}",
            source="test",
            group_id=DEMO_GROUP,
            sender_id=f"wxid_formula{i}",
            sender_name=name,
            sent_at=t0 + timedelta(minutes=i),
            kind=MessageKind.TEXT,
            text="RAG 部署有推荐的方案吗？",
        )
        for i, name in enumerate(names)
    ]
    build_pipeline(leads.config, leads.store, dry_run=True).ingest(messages)
    login(leads.client, "root")
    exported = get_csv(leads.client, "?q=wxid_formula")
    assert sorted(r[2] for r in exported[1:]) == sorted("'" + n for n in names)
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in exported for cell in row)
    assert safe_cell("普通名字") == "普通名字" and safe_cell(12) == "12"


def test_an_admin_sees_and_exports_only_their_groups(leads_both: Console) -> None:
    client = leads_both.client
    login(client, "bob")
    rows = get_table(client)
    assert rows and {r[1] for r in rows} == {OTHER_GROUP}
    assert {r[1] for r in get_csv(client)[1:]} == {OTHER_GROUP}
    assert client.get(f"/members/{quote(DEMO_GROUP)}/{SUSU}").status_code == 403
    assert client.get(f"/members?group={quote(DEMO_GROUP)}").status_code == 403
    assert client.get(f"/members.csv?group={quote(DEMO_GROUP)}").status_code == 403
    assert client.get(f"/members/{quote(OTHER_GROUP)}/wxid_other0").status_code == 200
