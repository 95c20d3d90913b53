"""A person's briefing across their groups: ranking across groups, what was asked of them, events
merged by time, quiet groups, opted-out members, quote verification (rule 5), the config, the
command line and the demo day's three groups.

The builder's tests use hand-made analysed messages of three groups; the end-to-end ones replay
the bundled demo day (three groups, our own writing) with the rule analyzers.
"""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import jinja2
import pytest
from jinja2 import nodes

from bot import catalogue
from bot.briefing import NoBriefing, make_briefing, render_html, render_text
from bot.cli import DEMO_DIR, DEMO_SAMPLES, main
from bot.config import PROJECT_ROOT, ConfigError, load_config
from bot.digest import build_digest, range_period, verify
from bot.digest.briefing_build import (
    BriefingData,
    BriefQuestion,
    GroupPart,
    build_briefing,
    check,
    enforce,
    problems,
)
from bot.digest.data import MessageLine
from bot.records import AnalysedMessage
from bot.store import groups as groups_db
from bot.wiring import build_pipeline, open_store
from nlp.patterns import extract_patterns
from tests.bot.digest.helpers import DAY, TZ, msg as _msg
from tests.needs import missing

ME = "wxid_me"  # the recipient
AI, SCHOOL, HOME = "ai@chatroom", "school@chatroom", "home@chatroom"
NAMES = {AI: "AI 群", SCHOOL: "家长群", HOME: "邻里群"}
TOPICS = {AI: "人工智能", SCHOOL: "小学 家校", HOME: "小区 邻里"}


def msg(group: str, sender: str, hhmm: str, text: str, **kw) -> AnalysedMessage:  # noqa: ANN003
    am = _msg(sender, hhmm, text, **kw)
    return dataclasses.replace(am, message=dataclasses.replace(am.message, group_id=group))


def part(group: str, messages: Sequence[AnalysedMessage], opted_out: frozenset[str] = frozenset()) -> GroupPart:
    """One group's part, as ``bot.briefing.make_briefing`` makes it: the group's digest, verified."""
    data = build_digest(
        messages,
        group_id=group,
        group_name=NAMES[group],
        topic=TOPICS[group],
        day=DAY,
        tz=TZ,
        opted_out=opted_out,
        extract_times=extract_patterns,
    )
    return GroupPart(verify.enforce(data, messages, opted_out), messages, opted_out)


def thread(group: str, prefix: str, start: int, answers: int, useful: float) -> list[AnalysedMessage]:
    """A question at ``start`` o'clock answered ``answers`` times, each by someone else."""
    q = msg(
        group,
        f"{prefix}q",
        f"{start:02d}:00",
        f"请问{prefix}这个问题怎么解决比较好？",
        mid=f"{prefix}-q",
        useful=useful,
    )
    replies = [
        msg(
            group,
            f"{prefix}a{i}",
            f"{start:02d}:{10 + i:02d}",
            f"{prefix}的办法{i}：先查一下配置再重启服务，一般就好了",
            mid=f"{prefix}-a{i}",
            reply_to=f"{prefix}-q",
            useful=useful,
            intent="answer",
        )
        for i in range(answers)
    ]
    return [q, *replies]


def text_of(data: BriefingData) -> str:
    return "\n".join(render_text(data, 100_000))


# ------------------------------------------------------------------------------ the builder


def test_threads_are_ranked_across_groups_with_a_cap_per_group():
    ai = [*thread(AI, "ai1", 9, 5, 0.95), *thread(AI, "ai2", 10, 4, 0.9), *thread(AI, "ai3", 11, 4, 0.9)]
    school = thread(SCHOOL, "sc", 12, 2, 0.9)
    home = thread(HOME, "ho", 13, 1, 0.3)
    parts = [part(AI, ai), part(SCHOOL, school), part(HOME, home)]
    data = build_briefing(parts, recipient=ME, day=DAY, tz=TZ)
    shown = [(t.group_id, t.thread.root.id) for t in data.threads]
    # the busiest, most useful threads first, but no more than two from one group
    assert shown == [(AI, "ai1-q"), (AI, "ai2-q"), (SCHOOL, "sc-q"), (HOME, "ho-q")]
    scores = [t.thread.score for t in data.threads]
    assert scores == sorted(scores, reverse=True)
    text = text_of(data)
    assert text.index("【AI 群】") < text.index("【家长群】") < text.index("【邻里群】")


def test_questions_that_mention_or_quote_the_recipient():
    ai = [
        msg(AI, ME, "08:00", "我们的服务昨天上线了", mid="mine"),
        msg(AI, "u1", "09:00", "@我 上线之后延迟多少？有监控截图吗", mentions=(ME,), mid="ask1"),
        msg(AI, "u2", "09:30", "回滚方案准备好了吗？", reply_to="mine", mid="ask2"),
        msg(AI, "u3", "10:00", "@我 谢谢", mentions=(ME,), mid="thanks"),  # says nothing to answer
        msg(AI, "u4", "10:30", "@别人 明天的会几点开？", mentions=("wxid_other",), mid="other"),
        msg(AI, ME, "11:00", "@U2 准备好了，脚本在仓库里", mentions=("u2",), mid="answer"),
        msg(AI, "spam", "12:00", "@我 加V领取免费课程，名额有限", mentions=(ME,), ad=True, mid="ad"),
    ]
    home = [msg(HOME, "n1", "18:00", "推车还在吗？能便宜点吗", reply_to="mine-home", mid="ask3")]
    home.insert(0, msg(HOME, ME, "07:00", "出一辆婴儿推车，九成新，200 元", mid="mine-home"))
    data = build_briefing([part(AI, ai), part(HOME, home)], recipient=ME, day=DAY, tz=TZ)
    by_id = {q.line.id: q for q in data.questions}
    assert set(by_id) == {"ask1", "ask2", "ask3"}  # not thanks, not someone else's, not the ad, not their own
    assert by_id["ask1"].how == "mention" and by_id["ask2"].how == "reply" and by_id["ask3"].group == "邻里群"
    assert by_id["ask2"].replied and not by_id["ask1"].replied  # they answered u2 by @mention
    assert [q.line.id for q in data.questions] == ["ask1", "ask3", "ask2"]  # waiting first, then by time
    assert by_id["ask1"].line.text == "上线之后延迟多少？有监控截图吗"  # the "@我" it starts with taken off
    text = text_of(data)
    assert text.count(catalogue.BRIEFING["waiting"]) == 2


def test_events_of_every_group_are_merged_by_time():
    ai = [msg(AI, "a", "09:00", "周六（11月28日）晚上 8 点线上分享会，欢迎参加", useful=0.9)]
    school = [
        msg(SCHOOL, "t", "10:00", "【家长会】本周五（11月27日）下午 2:30 在三楼开会", useful=0.9),
        msg(SCHOOL, "t", "10:05", "【秋游缴费】周四（11月26日）中午12点截止", useful=0.9),
    ]
    home = [msg(HOME, "w", "11:00", "【跳蚤市场】周六（11月28日）上午 10 点在中心花园举办活动", useful=0.9)]
    data = build_briefing([part(AI, ai), part(SCHOOL, school), part(HOME, home)], recipient=ME, day=DAY, tz=TZ)
    whens = [e.event.when for e in data.events]
    assert whens == sorted(whens) and len(whens) == 4
    assert [e.group_id for e in data.events] == [SCHOOL, SCHOOL, HOME, AI]
    assert data.events[0].event.kind == "deadline"
    text = text_of(data)
    assert text.index("截止") < text.index("家长会") < text.index("跳蚤市场") < text.index("分享会")


def test_a_quiet_group_gets_one_count_line_and_a_silent_day_is_empty():
    ai = thread(AI, "ai", 9, 2, 0.9)
    chat = [msg(HOME, "h1", "09:00", "今天好冷"), msg(HOME, "h2", "09:05", "是啊")]
    data = build_briefing([part(AI, ai), part(SCHOOL, []), part(HOME, chat)], recipient=ME, day=DAY, tz=TZ)
    assert [(g.group_id, g.messages, g.speakers) for g in data.quiet] == [(SCHOOL, 0, 0), (HOME, 2, 2)]
    text = text_of(data)
    assert catalogue.BRIEFING["quiet_line"].format(n=2, people=2, useful=0) in text
    assert catalogue.BRIEFING["no_messages"] in text
    assert not data.empty and data.active == 2 and data.messages == len(ai) + 2

    silent = build_briefing([part(AI, []), part(HOME, [])], recipient=ME, day=DAY, tz=TZ)
    assert silent.empty and not silent.quiet[0].messages
    assert catalogue.BRIEFING["empty"] in text_of(silent)


def test_an_opted_out_member_is_never_quoted_nor_named():
    hidden = frozenset({"ghost"})
    ai = [
        msg(AI, "ghost", "09:00", "@我 你们那个部署脚本能发我一份吗？", name="幽灵", mentions=(ME,), mid="g1"),
        *thread(AI, "ai", 10, 2, 0.9),
        msg(AI, "ghost", "10:20", "我觉得也可以换个思路，先把缓存清掉", name="幽灵", reply_to="ai-q", useful=0.99),
        msg(AI, "u", "11:00", "@幽灵 周六（11月28日）晚上 8 点线上分享会你来吗", mentions=("ghost",)),
    ]
    data = build_briefing([part(AI, ai, hidden)], recipient=ME, day=DAY, tz=TZ)
    assert not data.questions  # their question to the recipient is not quoted
    for rendered in (text_of(data), render_html(data)):
        assert "幽灵" not in rendered and "GHOST" not in rendered
    assert data.threads and all("幽灵" not in t.thread.names for t in data.threads)
    assert problems(data, [part(AI, ai, hidden)]) == []


def test_verification_drops_an_invented_quote_and_a_misplaced_line():
    ai = [msg(AI, ME, "08:00", "我们的服务昨天上线了", mid="mine"), *thread(AI, "ai", 9, 2, 0.9)]
    ai.append(msg(AI, "u1", "09:30", "@我 上线之后延迟多少？", mentions=(ME,), mid="ask"))
    home = [msg(HOME, "n", "10:00", "谁的快递放错地方了？", mid="parcel")]
    parts = [part(AI, ai), part(HOME, home)]
    data = build_briefing(parts, recipient=ME, day=DAY, tz=TZ)
    check(data, parts)  # the builder's own output is backed line by line
    q = data.questions[0]
    invented = dataclasses.replace(q, line=dataclasses.replace(q.line, text="上线之后延迟太高了，赶紧回滚"))
    misplaced = dataclasses.replace(q, group_id=HOME, group="邻里群")  # shown under a group it was not said in
    best = data.threads[0].thread.best
    assert best is not None
    paraphrased = dataclasses.replace(best, text="先重启服务，再查配置")
    bad = dataclasses.replace(
        data,
        questions=(invented, misplaced),
        threads=(
            dataclasses.replace(data.threads[0], thread=dataclasses.replace(data.threads[0].thread, best=paraphrased)),
        ),
    )
    found = problems(bad, parts)
    assert {(p.where, p.kind) for p in found} >= {
        ("questions[0]", "not verbatim"),
        ("questions[1]", "unknown"),
        ("threads[0].best", "not verbatim"),
    }
    with pytest.raises(verify.QuoteError):
        check(bad, parts)
    kept = enforce(bad, parts)
    assert kept.questions == () and kept.threads[0].thread.best is None
    assert kept.threads[0].thread.root == data.threads[0].thread.root  # the thread stays, without the invented answer
    assert "赶紧回滚" not in text_of(kept) and "再查配置" not in text_of(kept)


def test_a_line_from_nowhere_is_unknown():
    home = [msg(HOME, "n", "10:00", "谁的快递放错地方了？", mid="parcel")]
    parts = [part(HOME, home)]
    data = build_briefing(parts, recipient=ME, day=DAY, tz=TZ)
    ghost = BriefQuestion(HOME, "邻里群", MessageLine("nope", "N", "10:00", "@我 在吗？"), "mention", True, False)
    found = problems(dataclasses.replace(data, questions=(ghost,)), parts)
    assert [(p.where, p.kind) for p in found] == [("questions[0]", "unknown")]


def test_the_text_splits_only_when_it_must():
    groups = {g: thread(g, g[:2], 9 + i, 3, 0.9) for i, g in enumerate((AI, SCHOOL, HOME))}
    data = build_briefing([part(g, ms) for g, ms in groups.items()], recipient=ME, day=DAY, tz=TZ)
    (whole,) = render_text(data, 2000)
    limit = len(whole) // 2 + 20
    parts = render_text(data, limit)
    assert len(parts) > 1 and all(len(p) <= limit for p in parts) and parts[0].startswith("(1/")


def test_every_briefing_word_is_read_and_every_word_read_is_in_the_catalogue():
    env = jinja2.Environment()
    used: set[str] = set()
    for name in ("briefing.text.j2", "briefing.html.j2"):
        tree = env.parse((PROJECT_ROOT / "templates" / name).read_text("utf-8"))
        used |= {n.attr for n in tree.find_all(nodes.Getattr) if isinstance(n.node, nodes.Name) and n.node.name == "b"}
        assert not re.search(r"[\u4e00-\u9fff]", (PROJECT_ROOT / "templates" / name).read_text("utf-8"))
    assert used - set(catalogue.BRIEFING) == set()
    assert set(catalogue.BRIEFING) - used == set()


# ------------------------------------------------------------------------------ the config


def config_text(briefing: str, groups: Sequence[str] = (AI, SCHOOL)) -> str:
    return "".join(f'[[groups]]\nid = "{g}"\n' for g in groups) + briefing


@pytest.mark.parametrize(
    ("briefing", "error"),
    [
        ('[[briefing]]\nto = "x"\ngroups = ["nope@chatroom"]\n', "unknown group id 'nope@chatroom'"),
        ('[[briefing]]\nto = "x"\ngroups = "all"\ntime = "8:00"\n', "briefing.0.time: '8:00' is not a time of day"),
        ('[[briefing]]\nto = "x"\ngroups = "all"\nweekly = "Monday 08:00"\n', "briefing.0.weekly"),
        ('[[briefing]]\nto = "x"\ngroups = "all"\nweekly = "周一 25:00"\n', "briefing.0.weekly"),
        ('[[briefing]]\nto = "x"\ngroups = "some"\n', 'groups must be "all" or a list'),
        ('[[briefing]]\nto = "x"\ngroups = []\n', "groups is empty"),
        ('[[briefing]]\nto = "x"\ngroups = "all"\n[[briefing]]\nto = "x"\ngroups = "all"\n', "has a briefing already"),
        ('[[briefing]]\nto = "x"\ngroups = "all"\nwhen = "08:00"\n', "briefing.0.when: unknown key"),
    ],
)
def test_config_errors_name_the_key(tmp_path, briefing, error):
    path = tmp_path / "c.toml"
    path.write_text(config_text(briefing), "utf-8")
    with pytest.raises(ConfigError, match=re.escape(error)):
        load_config(path)


def test_config_resolves_all_and_keeps_a_list(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        config_text(
            '[[briefing]]\nto = "a"\ngroups = "all"\nweekly = "周日 20:00"\n'
            f'[[briefing]]\nto = "b"\ngroups = ["{SCHOOL}"]\ntime = "07:30"\n',
            (AI, SCHOOL, HOME),
        ),
        "utf-8",
    )
    config = load_config(path)
    a, b = config.briefings
    assert (a.to, a.groups, a.time, a.weekly) == ("a", (AI, SCHOOL, HOME), "08:00", "周日 20:00")
    assert (b.to, b.groups, b.time, b.weekly) == ("b", (SCHOOL,), "07:30", None)
    assert config.briefing_for("b") is b and config.briefing_for("c") is None


def test_the_example_briefing_loads_once_uncommented(tmp_path):
    text = (PROJECT_ROOT / "config.example.toml").read_text("utf-8")
    block = text[text.index("# [[briefing]]") :]
    uncommented = re.sub(r"(?m)^# ", "", block)
    path = tmp_path / "c.toml"
    path.write_text(text.replace(block, uncommented), "utf-8")
    (b,) = load_config(path).briefings
    assert b.to == "wxid_reader1" and b.groups == ("12345678901@chatroom",) and b.weekly == "周一 08:00"
    (demo,) = load_config(DEMO_DIR / "demo.toml").briefings
    assert len(demo.groups) == 3 and demo.to == "wxid_w5c8ey1r4t22"


# ------------------------------------------------------------------------------ end to end: the demo day


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo day's three groups replayed with the rule analyzers into SQLite; its config path."""
    folder = tmp_path_factory.mktemp("briefing")
    cfg = folder / "config.toml"
    cfg.write_text(
        (DEMO_DIR / "demo.toml").read_text("utf-8")
        + f'\n[database]\nurl = "sqlite:///{folder / "q.db"}"\n[digest]\nhtml_dir = "{folder / "html"}"\n'
        "[models]\nuse = false\n",
        "utf-8",
    )
    for sample in DEMO_SAMPLES:
        assert main(["--config", str(cfg), "replay", str(DEMO_DIR / sample)]) == 0
    return cfg


CHEN = "wxid_w5c8ey1r4t22"  # 陈博, in the demo's three groups


def test_qunzhi_briefing_prints_the_demo_day(demo, capsys, tmp_path):
    capsys.readouterr()
    assert main(["--config", str(demo), "briefing", "--to", CHEN, "--date", "2026-11-25"]) == 0
    out = capsys.readouterr().out
    assert catalogue.BRIEFING["overview"].format(groups=3, active=3, n=442) in out
    for name in ("AI 开发者交流群", "阳光小学三年级(2)班", "翠湖花园邻里群"):
        assert f"【{name}" in out
    assert "浩浩妈妈 07:20：上周科学课要的那个磁铁套装" in out  # asked of him in the parents' group
    assert "9栋-琪琪 09:40：推车还在吗" in out  # a reply to his post in the neighbours' group
    assert "家长会" in out and "邻里跳蚤市场" in out  # events of every group
    assert "13912345678" not in out  # masked
    page = Path(out.split("HTML briefing written to ", 1)[1].split()[0])
    assert page.is_file() and page.read_text("utf-8").lstrip().startswith("<!DOCTYPE html>")


def test_qunzhi_briefing_refuses_an_unconfigured_recipient(demo, capsys):
    assert main(["--config", str(demo), "briefing", "--to", "wxid_nobody"]) != 0
    err = capsys.readouterr().err
    assert "--to 'wxid_nobody': no [[briefing]]" in err and CHEN in err


def test_qunzhi_briefing_png(demo, capsys, tmp_path):
    from bot.digest.card import CardFontError, find_cjk_font

    try:
        find_cjk_font()
    except CardFontError as e:
        missing(str(e))
    from PIL import Image

    png = tmp_path / "b.png"
    assert main(["--config", str(demo), "briefing", "--to", CHEN, "--date", "2026-11-25", "--png", str(png)]) == 0
    im = Image.open(io.BytesIO(png.read_bytes()))
    assert im.format == "PNG" and im.width == 750 and 1500 < im.height <= 4000


def test_make_briefing_needs_a_configured_recipient_and_an_empty_day_is_empty(demo):
    config = load_config(demo)
    store = open_store(config)
    try:
        with pytest.raises(NoBriefing):
            make_briefing(store.sessions, config, "wxid_nobody", DAY, embed=None)
        quiet = make_briefing(store.sessions, config, CHEN, DAY.replace(day=1), embed=None)
    finally:
        store.close()
    assert quiet.empty and quiet.data.messages == 0 and catalogue.BRIEFING["empty"] in quiet.text_parts[0]


def test_make_briefing_over_a_range(demo):
    """The scheduler's daily briefing covers the time since the one before (yesterday 08:00 to
    today 08:00): only the messages in the range count, and the header names it."""
    config = load_config(demo)
    store = open_store(config)
    try:
        since, until = datetime(2026, 11, 25, 8, tzinfo=TZ), datetime(2026, 11, 25, 12, tzinfo=TZ)
        rendered = make_briefing(store.sessions, config, CHEN, DAY, period=range_period(since, until, TZ), embed=None)
    finally:
        store.close()
    data = rendered.data
    assert data.period and data.period in rendered.text_parts[0] and data.day == DAY
    assert 0 < data.messages < 442
    assert all("08:00" <= q.line.time < "12:00" for q in data.questions) and data.questions
    assert "浩浩妈妈 07:20" not in rendered.text_parts[0]  # before the range


def test_make_briefing_on_each_database(db_url, tmp_path):
    """Stored, analysed and briefed on SQLite and on PostgreSQL; an opted-out member of the demo
    (浩浩妈妈, who asks him twice) is then neither quoted nor named."""
    from bot.adapters.replay import read_jsonl

    cfg = tmp_path / "c.toml"
    cfg.write_text(
        (DEMO_DIR / "demo.toml").read_text("utf-8") + f'\n[database]\nurl = "{db_url}"\n[models]\nuse = false\n',
        "utf-8",
    )
    config = load_config(cfg)
    store = open_store(config)
    try:
        pipeline = build_pipeline(config, store, dry_run=True)
        pipeline.ingest(read_jsonl(DEMO_DIR / "sample_school.jsonl").messages)
        pipeline.ingest(read_jsonl(DEMO_DIR / "sample_neighbours.jsonl").messages)
        before = make_briefing(store.sessions, config, CHEN, DAY, embed=None)
        with store.sessions.begin() as session:
            groups_db.set_opted_out(session, "sunshine-3-2-parents@chatroom", "wxid_h2x9pe4v", True)
        after = make_briefing(store.sessions, config, CHEN, DAY, embed=None)
    finally:
        store.close()
    assert before.data.active == 2 and before.data.quiet[0].group_id == "ai-dev-2026@chatroom"
    assert any(q.line.sender == "浩浩妈妈" for q in before.data.questions)
    shown = "\n".join(after.text_parts) + after.html
    assert "浩浩妈妈" not in shown and after.data.questions
