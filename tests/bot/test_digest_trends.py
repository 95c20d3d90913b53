"""Weekly and monthly digests with trends against the previous period, on the month fixture stored
with a verdict per message's role: every number the trends show is counted again here from the
fixture's messages alone (messages, speakers, ads, useful share), for this and the previous period.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from bot import catalogue, commands
from bot.cli import main
from bot.config import Config, load_config
from bot.daily import make_digest
from bot.digest import Period, month_period, week_period
from bot.store import analysis as analysis_db, messages as messages_db
from bot.wiring import open_store
from nlp.verdict import Verdict
from tests.bot.month_fixture import GROUP, START, TZ, month

ROWS = month()
USEFUL_ROLES = ("question", "answer", "link")
WEEK_DAY = date(2026, 3, 11)  # a Wednesday: the week of March 9–15, after March 2–8


def store_month(sessions) -> None:  # noqa: ANN001
    """The month stored with the verdicts the analyzers would give each message's role."""
    with sessions.begin() as s:
        pks = messages_db.store_messages(s, [r.message for r in ROWS])
        results = []
        for (pk, _), r in zip(pks, ROWS, strict=True):
            verdicts = [
                Verdict("useful", "useful" if r.role in USEFUL_ROLES else "useless", 0.9),
                Verdict("ad", "ad" if r.role == "ad" else "normal", 0.95, ("contact",)),
                Verdict("intent", "question" if r.role == "question" else "chitchat", 0.9),
            ]
            results.append((pk, verdicts, ()))
        analysis_db.save_analyses(s, results)


@pytest.fixture
def stored(sessions):  # noqa: ANN001, ANN201
    store_month(sessions)
    return sessions


CONFIG = Config.model_validate({"bot": {"timezone": "Asia/Shanghai"}, "groups": [{"id": GROUP, "topic": "AI 开发者"}]})


def hand_count(since: datetime, until: datetime) -> dict[str, object]:
    """The trend numbers from the fixture alone: this group's messages in ``[since, until)``."""
    mine = [r for r in ROWS if r.message.group_id == GROUP and since <= r.message.sent_at < until]
    useful = sum(r.role in USEFUL_ROLES for r in mine)
    return {
        "messages": len(mine),
        "speakers": len({r.message.sender_id for r in mine}),
        "ads": sum(r.role == "ad" for r in mine),
        "useful": useful,
        "useful_share": useful / len(mine) if mine else 0.0,
    }


def shown(count: dict[str, object]) -> dict[str, str]:
    share = count["useful_share"]
    assert isinstance(share, float)
    return {
        "messages": str(count["messages"]),
        "speakers": str(count["speakers"]),
        "useful_share": catalogue.digest_share(share),
        "ads": str(count["ads"]),
    }


def check(period: Period, since: datetime, until: datetime, before: datetime, before_end: datetime, sessions):  # noqa: ANN001, ANN201
    rendered = make_digest(sessions, CONFIG, GROUP, period.last_day(TZ), save=False, embed=None, period=period)
    tr = rendered.data.trends
    assert tr is not None
    now, prev = hand_count(since, until), hand_count(before, before_end)
    for counts, expected in ((tr.now, now), (tr.before, prev)):
        assert (counts.messages, counts.speakers, counts.useful, counts.ads) == (
            expected["messages"],
            expected["speakers"],
            expected["useful"],
            expected["ads"],
        )
        assert counts.useful_share == pytest.approx(expected["useful_share"])
    assert rendered.data.counts.total == now["messages"]  # the digest and its trend agree
    lines = {line.key: line for line in tr.lines}
    assert [line.key for line in tr.lines] == ["messages", "speakers", "useful_share", "ads"]
    for key, value in shown(now).items():
        assert lines[key].value == value and lines[key].before == shown(prev)[key]
    for key in ("messages", "speakers", "ads"):
        assert lines[key].change == catalogue.digest_trend_change(now[key], prev[key])  # type: ignore[arg-type]
    assert lines["useful_share"].change == catalogue.digest_trend_points(now["useful_share"], prev["useful_share"])  # type: ignore[arg-type]
    text = "\n".join(rendered.text_parts)
    assert f"📈 {catalogue.DIGEST['trends']}（{catalogue.DIGEST['trend_before']}：{tr.previous}）" in text
    for line in tr.lines:
        assert f"· {line.label} {line.value}（{catalogue.DIGEST['trend_before']} {line.before}，{line.change}）" in text
        assert f"{line.label} <b>{line.value}</b>" in rendered.html
    assert tr.best == rendered.data.threads[: len(tr.best)]  # the builder's ranking over the whole period
    if tr.best:
        assert catalogue.DIGEST["best_threads"] in text and catalogue.DIGEST["best_threads"] in rendered.html
        assert tr.best[0].root.text[:10] in text
    return tr, now, prev


def local(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=TZ)


def test_a_week_against_the_week_before(stored) -> None:  # noqa: ANN001
    period = week_period(WEEK_DAY, TZ)
    monday = local(date(2026, 3, 9))
    assert period.label == "本周（3/9–3/15）" and period.previous_label == "3/2–3/8"
    tr, now, prev = check(period, monday, monday + timedelta(days=7), monday - timedelta(days=7), monday, stored)
    assert now["messages"] and prev["messages"] and tr.previous == "3/2–3/8" and tr.best


def test_a_week_going_on_is_compared_with_the_same_stretch(stored) -> None:  # noqa: ANN001
    monday = local(date(2026, 3, 16))
    now = monday + timedelta(days=2, hours=15)  # Wednesday 15:00
    period = week_period(now.date(), TZ, now=now)
    assert period.until == now and period.previous == (monday - timedelta(days=7), now - timedelta(days=7))
    check(period, monday, now, monday - timedelta(days=7), now - timedelta(days=7), stored)


def test_a_month_against_the_month_before(stored) -> None:  # noqa: ANN001
    march = month_period(date(2026, 3, 20), TZ)
    assert march.label == "本月（2026 年 3 月）" and march.previous_label == "2026 年 2 月"
    tr, now, prev = check(march, START, local(date(2026, 4, 1)), local(date(2026, 2, 1)), START, stored)
    assert prev["messages"] == 0 and lines_change(tr, "messages") == catalogue.digest_trend_change(1, 0)
    april = month_period(date(2026, 4, 10), TZ)  # April against March: the month's messages are "before"
    assert april.previous == (START, local(date(2026, 4, 1)))
    tr, now, prev = check(april, local(date(2026, 4, 1)), local(date(2026, 5, 1)), START, april.since, stored)
    assert now["messages"] == 0 and prev["messages"] == len([r for r in ROWS if r.message.group_id == GROUP])


def lines_change(tr, key: str) -> str:  # noqa: ANN001
    return next(line.change for line in tr.lines if line.key == key)


def test_previous_months_and_a_month_going_on() -> None:
    jan = month_period(date(2026, 3, 5), TZ, previous=True)
    assert (jan.since, jan.until) == (local(date(2026, 2, 1)), local(date(2026, 3, 1)))
    assert jan.label == "上月（2026 年 2 月）" and jan.previous == (local(date(2026, 1, 1)), local(date(2026, 2, 1)))
    dec = month_period(date(2026, 1, 31), TZ)
    assert dec.previous == (local(date(2025, 12, 1)), local(date(2026, 1, 1)))
    going = month_period(date(2026, 3, 31), TZ, now=local(date(2026, 3, 31)) + timedelta(hours=10))
    # 30 days and 10 hours into March: February (28 days) is compared whole
    assert going.previous == (local(date(2026, 2, 1)), local(date(2026, 3, 1)))
    early = month_period(date(2026, 3, 3), TZ, now=local(date(2026, 3, 3)))
    assert early.previous == (local(date(2026, 2, 1)), local(date(2026, 2, 3)))


def test_wording_of_changes() -> None:
    assert catalogue.digest_trend_change(120, 100) == "↑ 20%"
    assert catalogue.digest_trend_change(90, 100) == "↓ 10%"
    assert catalogue.digest_trend_change(5, 5) == "持平"
    assert catalogue.digest_trend_points(0.40, 0.25) == "↑ 15 个百分点"
    assert catalogue.digest_trend_points(0.25, 0.40) == "↓ 15 个百分点"


def test_the_daily_digest_has_no_trends(stored) -> None:  # noqa: ANN001
    rendered = make_digest(stored, CONFIG, GROUP, date(2026, 3, 11), save=False, embed=None)
    assert rendered.data.trends is None and catalogue.DIGEST["trends"] not in "\n".join(rendered.text_parts)
    assert catalogue.DIGEST["best_threads"] not in "\n".join(rendered.text_parts) + rendered.html


def parse(words: list[str], now: datetime) -> object:
    ctx = SimpleNamespace(invocation=SimpleNamespace(args=words), config=CONFIG, now=now)
    return commands._parse_period(ctx)  # type: ignore[arg-type]


def test_this_month_and_last_month_in_the_group() -> None:
    now = local(date(2026, 3, 20)) + timedelta(hours=15)
    this = parse(["本月"], now)
    assert this == month_period(date(2026, 3, 20), TZ, now=now) and isinstance(this, Period) and this.until == now
    last = parse(["上月"], now)
    assert last == month_period(date(2026, 3, 20), TZ, previous=True, now=now)
    assert isinstance(last, Period) and last.label == "上月（2026 年 2 月）"
    assert last.previous == (local(date(2026, 1, 1)), local(date(2026, 2, 1)))
    assert parse(["本月", "上月"], now) == catalogue.digest_bad_range("本月 上月")
    assert "本月、上月" in catalogue.digest_bad_range("x")


def test_cli_week_and_month_are_printed_with_trends_and_never_kept(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[bot]\ntimezone = "Asia/Shanghai"\n[database]\nurl = "sqlite:///{tmp_path / "q.db"}"\n'
        f'[digest]\nhtml_dir = "{tmp_path / "html"}"\n[models]\nuse = false\n'
        f'[[groups]]\nid = "{GROUP}"\ntopic = "AI 开发者"\n',
        "utf-8",
    )
    store = open_store(load_config(cfg))
    try:
        store_month(store.sessions)
    finally:
        store.close()
    monday = local(date(2026, 3, 9))
    now, prev = hand_count(monday, monday + timedelta(days=7)), hand_count(monday - timedelta(days=7), monday)
    assert main(["--config", str(cfg), "digest", "--group", GROUP, "--week", "--date", "2026-03-11"]) == 0
    out, err = capsys.readouterr()
    assert "📅 本周（3/9–3/15）" in out and "（上期：3/2–3/8）" in out and "not stored" in err
    assert f"· 消息 {now['messages']}（上期 {prev['messages']}，" in out
    assert f"· 广告 {now['ads']}（上期 {prev['ads']}，" in out
    assert main(["--config", str(cfg), "digest", "--group", GROUP, "--month", "--date", "2026-03-05"]) == 0
    out, err = capsys.readouterr()
    total = hand_count(START, local(date(2026, 4, 1)))
    assert "本月（2026 年 3 月）" in out and f"· 消息 {total['messages']}（上期 0，上期为 0）" in out
    assert main(["--config", str(cfg), "digest", "--group", GROUP, "--week", "--since", "2026-03-01"]) == 2
    assert "--week/--month or --since/--until" in capsys.readouterr().err
    store = open_store(load_config(cfg))
    try:
        with store.sessions() as s:
            assert s.execute(text("select count(*) from digests")).scalar() == 0
    finally:
        store.close()
