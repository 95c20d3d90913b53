"""Range and member digests ("the same builder over any range"), on the demo day replayed with the
rules: through the command registry (``/digest 3h``, 本周, @member) and through ``qunzhi digest``.

A member digest covers the member's own messages and every message of each thread they took part
in (started, replied in, or asked again); nothing else.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import catalogue, commands
from bot.cli import main
from bot.config import Config, load_config
from bot.daily import make_digest
from bot.digest import Period, dedupe, hours_period, range_period, week_period
from bot.digest.build import member_messages
from bot.digest.lines import has_text
from bot.message import GroupMessage, MessageKind
from bot.outbox import Outbox
from bot.store import groups as groups_db, messages as messages_db, verdicts as verdicts_db
from bot.wiring import open_store

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "bot" / "demo" / "sample_day.jsonl"
GROUP = "ai-dev-2026@chatroom"
TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 25)  # a Wednesday
OWNER = "wxid_lz7q0m3k21"  # 群主-老周, a superadmin in demo.toml
CAT, CAT_NAME = "wxid_r0a7mf2s9q", "猫猫不吃鱼"
PLAIN = "wxid_k3n9x2"  # 阿杰, no rights


def local(hh: int, mm: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=TZ)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """The demo day replayed with the rules (models.use = false) into a fresh SQLite file."""
    folder = tmp_path_factory.mktemp("ranges")
    cfg = folder / "config.toml"
    cfg.write_text(
        (ROOT / "bot" / "demo" / "demo.toml").read_text("utf-8")
        + f'\n[database]\nurl = "sqlite:///{folder / "q.db"}"\n[digest]\nhtml_dir = "{folder / "html"}"\n'
        "[models]\nuse = false\n",
        "utf-8",
    )
    assert main(["--config", str(cfg), "replay", str(SAMPLE)]) == 0
    config = load_config(cfg)
    store = open_store(config)
    yield cfg, config, store.sessions
    store.close()


class Recording(Outbox):
    def __init__(self) -> None:
        super().__init__()
        self.said: list[tuple[str, str]] = []

    def say(self, session, group_id, text, **kw):  # noqa: ANN001, ANN003, ANN201
        self.said.append((text, kw.get("purpose", "")))
        return super().say(session, group_id, text, **kw)


_ids = iter(range(10_000))


def command(demo, text: str, now: datetime, *, sender: str = OWNER, mentions: tuple[str, ...] = ()):  # noqa: ANN001, ANN201
    """Send ``text`` to the group as ``sender`` at ``now``: (the reply, the digest parts queued)."""
    _, config, sessions = demo
    msg = GroupMessage(
        id=f"cmd-{next(_ids)}",
        source="replay",
        group_id=GROUP,
        sender_id=sender,
        sender_name=sender,
        sent_at=now,
        kind=MessageKind.TEXT,
        text=text,
        mentions=mentions,
    )
    with sessions.begin() as s:
        ((pk, _),) = messages_db.store_messages(s, [msg], [commands.message_role(msg, config)])
    inv = commands.registry.parse(msg, prefixes=("/",), bot_id="bot", bot_name="群智")
    assert inv is not None and inv.name == "digest"
    outbox = Recording()
    reply = commands.handle(inv, msg, pk, sessions=sessions, config=config, outbox=outbox, bot_id="bot", now=now)
    return reply, [t for t, purpose in outbox.said if purpose == "digest"]


def _count(s) -> int:  # noqa: ANN001
    from sqlalchemy import text

    return int(s.execute(text("select count(*) from digests")).scalar_one())


def quoted_ids(data) -> set[str]:  # noqa: ANN001
    ids = set()
    for t in data.threads:
        ids.add(t.root.id)
        ids |= {r.id for r in t.replies}
        if t.best is not None:
            ids.add(t.best.id)
    ids |= {line.id for line in (*data.unanswered, *data.announcements)}
    return ids


def test_three_hours_hold_only_those_hours(demo) -> None:  # noqa: ANN001
    _, config, sessions = demo
    now = local(12, 0)
    reply, parts = command(demo, "/digest 3h", now)
    assert reply == "" and parts
    text = "\n".join(parts)
    assert text.splitlines()[:2] == [
        "📊 AI 开发者交流群 · 群摘要",
        "📅 最近 3 小时（11/25 09:00–12:00） · 🏷 人工智能 大模型",
    ]

    rendered = make_digest(sessions, config, GROUP, DAY, save=False, period=hours_period(now, 3, TZ), embed=None)
    with sessions() as s:
        inside = verdicts_db.analysed_messages(s, GROUP, local(9), local(12))
        whole = verdicts_db.analysed_messages(s, GROUP, local(0), local(0, day=DAY + timedelta(days=1)))
    assert rendered.data.counts.total == len(inside) < len(whole)
    assert f"💬 {len(inside)} 条" in text
    times = {am.message.id: am.message.sent_at for am in whole}
    quoted = quoted_ids(rendered.data)
    assert quoted and all(local(9) <= times[i] < local(12) for i in quoted)
    assert "\n".join(rendered.text_parts) == text  # the command's reply is that digest


def test_a_member_digest_is_their_messages_and_their_threads(demo) -> None:  # noqa: ANN001
    _, config, sessions = demo
    reply, parts = command(demo, f"/digest @{CAT_NAME}", local(23, 59), mentions=(CAT,))
    assert reply == "" and parts
    text = "\n".join(parts)
    assert text.splitlines()[0] == f"📊 AI 开发者交流群 · 群日报 · 成员 {CAT_NAME}"

    rendered = make_digest(sessions, config, GROUP, DAY, save=False, member=CAT, embed=None)
    with sessions() as s:
        whole = verdicts_db.analysed_messages(s, GROUP, local(0), local(0, day=DAY + timedelta(days=1)))
    own = [am for am in whole if am.message.sender_id == CAT]
    people = [am for am in whole if am.message.kind is not MessageKind.SYSTEM]
    kept = member_messages(
        people, CAT, dedupe.cluster([(a.message.id, a.message.text) for a in people if has_text(a)]), set()
    )
    kept_ids = {am.message.id for am in kept}
    assert len(own) < rendered.data.counts.total < len(whole)
    assert rendered.data.counts.total <= len(kept)
    by_id = {am.message.id: am for am in whole}
    for t in rendered.data.threads:  # each thread shown is one the member took part in
        in_thread = {t.root.id, *(r.id for r in t.replies)}
        assert in_thread <= kept_ids
        assert CAT_NAME in {t.root.sender, *t.names}  # they asked, or they answered
    for line in (*rendered.data.unanswered, *rendered.data.announcements):
        assert by_id[line.id].message.sender_id == CAT  # outside threads: only their own lines
    assert {c.name for c in rendered.data.top_contributors} >= {CAT_NAME}

    reply, parts = command(demo, f"/digest 本周 @{CAT_NAME}", local(23, 59), mentions=(CAT,))
    assert reply == "" and parts[0].splitlines()[:2] == [
        f"📊 AI 开发者交流群 · {catalogue.DIGEST['weekly']} · 成员 {CAT_NAME}",
        "📅 本周（11/23–11/29） · 🏷 人工智能 大模型",
    ]
    words = catalogue.DIGEST
    as_day = "\n".join(parts).replace(words["topics_week"], words["topics"])  # the headings name the week
    assert as_day.splitlines()[2:] == text.splitlines()[2:]  # the week holds only that day


def test_this_week_is_monday_to_sunday_local(demo) -> None:  # noqa: ANN001
    _, config, sessions = demo
    week = week_period(DAY, TZ)
    assert week.since == local(0, day=date(2026, 11, 23)).astimezone(timezone.utc)
    assert week.until == local(0, day=date(2026, 11, 30)).astimezone(timezone.utc)
    assert week_period(date(2026, 11, 29), TZ) == week  # Sunday is still that week
    assert week_period(date(2026, 11, 30), TZ).since == week.until  # Monday starts the next
    reply, parts = command(demo, "/digest 本周", local(20))
    assert reply == "" and "📅 本周（11/23–11/29）" in parts[0]
    assert week_period(DAY, TZ, now=local(20)).until == local(20)  # a week going on ends now
    with sessions() as s:
        so_far = verdicts_db.analysed_messages(s, GROUP, week.since, local(20))
        day = verdicts_db.analysed_messages(s, GROUP, local(0), local(20))
    assert f"💬 {len(so_far)} 条" in parts[0] and len(so_far) == len(day)

    reply, parts = command(demo, "/digest 上周", local(20))
    assert reply == "" and "📅 上周（11/16–11/22）" in parts[0] and catalogue.DIGEST["quiet_range"] in parts[0]


def test_the_daily_digest_is_unchanged(demo, capsys) -> None:  # noqa: ANN001
    """`/digest` and `/digest 2026-11-25` send the day's digest as before (header and all), the
    CLI prints the same and keeps it once; the same day as a range differs only in its header."""
    cfg, config, sessions = demo
    _, today = command(demo, "/digest", local(23, 59))
    _, dated = command(demo, "/digest 2026-11-25", local(23, 59, day=DAY + timedelta(days=1)))
    _, yesterday = command(demo, "/digest 昨天", local(8, day=DAY + timedelta(days=1)))
    assert today == dated == yesterday
    assert today[0].splitlines()[:2] == ["📊 AI 开发者交流群 · 群日报", "📅 2026-11-25 周三 · 🏷 人工智能 大模型"]
    direct = make_digest(sessions, config, GROUP, DAY, save=False)
    assert direct.text_parts == today
    assert catalogue.DIGEST["range_digest"] not in direct.html and "成员" not in direct.html.split("<h1>")[1][:80]

    assert main(["--config", str(cfg), "digest", "--group", GROUP, "--date", "2026-11-25"]) == 0
    printed = capsys.readouterr().out
    assert printed.split("HTML digest written to")[0] == "".join(p + "\n\n" for p in today)
    assert _count_kept(sessions) == 1

    whole_day = range_period(local(0), local(0, day=DAY + timedelta(days=1)), TZ)
    as_range = make_digest(sessions, config, GROUP, DAY, save=False, period=whole_day)
    assert as_range.text_parts[0].splitlines()[:2] == [
        "📊 AI 开发者交流群 · 群摘要",
        "📅 2026-11-25 · 🏷 人工智能 大模型",
    ]
    words = catalogue.DIGEST
    as_day = "\n".join(as_range.text_parts)
    for key in ("topics", "signature"):  # the headings name the range
        assert words[f"{key}_range"] in as_day and words[key] not in as_day
        as_day = as_day.replace(words[f"{key}_range"], words[key])
    assert as_day.splitlines()[2:] == "\n".join(today).splitlines()[2:]
    same = dataclasses.replace(as_range.data, period="", scope="day")
    assert same == direct.data  # the same builder, the same data


def _count_kept(sessions) -> int:  # noqa: ANN001
    with sessions() as s:
        return _count(s)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/digest 100h", catalogue.digest_hours_out_of_range(100)),
        ("/digest 0h", catalogue.digest_hours_out_of_range(0)),
        ("/digest 明年", catalogue.digest_bad_range("明年")),
        ("/digest 3h 本周", catalogue.digest_bad_range("3h 本周")),
        ("/digest 2026-13-01", catalogue.digest_bad_date("2026-13-01")),
        ("/digest 2026-12-25", catalogue.digest_future_day()),
    ],
)
def test_bad_input_is_a_clear_reply(demo, text: str, expected: str) -> None:  # noqa: ANN001
    reply, parts = command(demo, text, local(12))
    assert reply == expected and not parts


def test_one_member_at_a_time_admins_only_and_never_an_opted_out_member(demo) -> None:  # noqa: ANN001
    _, _, sessions = demo
    reply, parts = command(demo, "/digest @a @b", local(12), mentions=(CAT, PLAIN))
    assert reply == catalogue.digest_one_member() and not parts
    reply, parts = command(demo, "/digest 3h", local(12), sender=PLAIN)
    assert reply.startswith(catalogue.no_permission("digest", "ADMIN")[:4]) and not parts
    shy = "wxid_n6h3ds2q"  # 晴天
    with sessions.begin() as s:
        groups_db.set_opted_out(s, GROUP, shy, True)
    reply, parts = command(demo, "/digest @晴天", local(23), mentions=(shy,))
    assert reply == catalogue.digest_member_opted_out("晴天") and not parts


def test_cli_range_and_member_are_printed_and_never_kept(demo, capsys) -> None:  # noqa: ANN001
    cfg, config, sessions = demo
    base = ["--config", str(cfg), "digest", "--group", GROUP]
    kept = _count_kept(sessions)
    assert main([*base, "--since", "2026-11-25T09:00", "--until", "2026-11-25T12:00"]) == 0
    out = capsys.readouterr()
    assert out.out.splitlines()[1].startswith("📅 2026-11-25 09:00–12:00")
    assert "not stored in the digests table" in out.err
    _, in_chat = command(demo, "/digest 3h", local(12))
    body = out.out.split("HTML digest written to")[0].strip("\n").splitlines()
    assert body[2:] == "\n\n".join(in_chat).splitlines()[2:]  # the same three hours as "/digest 3h"
    assert (Path(out.out.split("HTML digest written to ")[1].strip())).name == (
        "digest-ai-dev-2026_chatroom-20261125T0900-20261125T1200.html"
    )

    assert main([*base, "--date", "2026-11-25", "--member", CAT_NAME]) == 0
    out = capsys.readouterr()
    assert out.out.splitlines()[0] == f"📊 AI 开发者交流群 · 群日报 · 成员 {CAT_NAME}"
    assert main([*base, "--since", "2026-11-25T20:00+08:00", "--member", CAT]) == 0  # until now
    assert f"成员 {CAT_NAME}" in capsys.readouterr().out
    assert _count_kept(sessions) == kept


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        (["--date", "2026-11-25", "--since", "2026-11-25"], "give --date or --since/--until, not both"),
        (["--until", "2026-11-25"], "--until needs --since"),
        (["--since", "2026-11-25T12:00", "--until", "2026-11-25T09:00"], "is not after --since"),
        (["--since", "昨天"], "--since: '昨天' is not a date or time"),
        (["--member", "nobody-here"], "no member 'nobody-here' in"),
    ],
)
def test_cli_bad_combinations_are_one_line(demo, capsys, extra: list[str], error: str) -> None:  # noqa: ANN001
    cfg, _, _ = demo
    assert main(["--config", str(cfg), "digest", "--group", GROUP, *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and error in err[0]


def test_periods_are_half_open_and_named() -> None:
    p = hours_period(local(1, 30), 3, TZ)
    assert isinstance(p, Period) and p.until - p.since == timedelta(hours=3)
    assert p.label == "最近 3 小时（11/24 22:30–11/25 01:30）" and p.last_day(TZ) == DAY
    whole = range_period(local(0), local(0, day=DAY + timedelta(days=2)), TZ)
    assert whole.label == "2026-11-25 至 2026-11-26" and whole.last_day(TZ) == date(2026, 11, 26)
    assert Config().digest_timezone()  # the default timezone exists
