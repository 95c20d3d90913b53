"""Member profiles: a month of a group replayed day by day through the real pipeline (rule analyzers),
checked against a hand count from the fixture; incremental equals from scratch; opt-out; the views."""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot import commands
from bot.config import Config
from bot.outbox import Outbox
from bot.pipeline import Pipeline
from bot.profile_view import describe, lead, risk
from bot.profiles import ProfileUpdater, Tally, build_profile_hook, combined, profile_rows
from bot.store import (
    actions as actions_db,
    analysis as analysis_db,
    groups as groups_db,
    messages as messages_db,
    verdicts as verdicts_db,
)
from bot.store.models import MemberProfile
from bot.wiring import build_rule_analyzers
from tests.bot.month_fixture import GROUP, LEAD_KEYWORDS, OTHER_GROUP, TZ, month

ROWS = month()
MEMBERS = sorted({r.message.sender_id for r in ROWS if r.message.group_id == GROUP})


def make_config(batch_size: int = 16) -> Config:
    return Config.model_validate(
        {
            "analysis": {"batch_size": batch_size},
            "profiles": {"demographics": ""},
            "leads": {"keywords": list(LEAD_KEYWORDS)},
            "groups": [{"id": GROUP, "topic": "人工智能 大模型", "moderation": {"mode": "warn", "ad_threshold": 0.5}}],
        }
    )


def replay(sessions, config: Config, *, by_day: bool) -> None:  # noqa: ANN001
    pipeline = Pipeline(sessions, build_rule_analyzers(), config, on_analysed=ProfileUpdater(config))
    if not by_day:
        pipeline.ingest([r.message for r in ROWS])
        return
    days: dict = defaultdict(list)
    for r in ROWS:
        days[r.message.sent_at.astimezone(TZ).date()].append(r.message)
    for day in sorted(days):
        pipeline.ingest(days[day])


def hand_count(member: str, group: str = GROUP) -> dict:
    """The profile's numbers, counted from the fixture's truth alone."""
    mine = [r for r in ROWS if r.message.sender_id == member and r.message.group_id == group]
    local = [r.message.sent_at.astimezone(TZ) for r in mine]
    first = min(r.message.sent_at for r in mine)
    hours = [0] * 24
    for t in local:
        hours[t.hour] += 1
    roles = Counter(r.role for r in mine)
    burst = [r for r in mine if r.message.sent_at < first + timedelta(hours=24)]
    return {
        "messages": len(mine),
        "active_days": len({t.date() for t in local}),
        "hours": hours,
        "questions": roles["question"],
        "answers": roles["answer"],
        "links": roles["link"],
        "ads": roles["ad"],
        "burst_messages": len(burst),
        "burst_ads": sum(r.role == "ad" for r in burst),
        "first_seen": first,
        "last_seen": max(r.message.sent_at for r in mine),
    }


def profile_numbers(t: Tally) -> dict:
    return {
        "messages": t.messages,
        "active_days": t.active_days,
        "hours": t.hours,
        "questions": t.questions,
        "answers": t.answers,
        "links": t.links,
        "ads": t.ads,
        "burst_messages": t.burst_messages,
        "burst_ads": t.burst_ads,
        "first_seen": t.first_seen,
        "last_seen": t.last_seen,
    }


@pytest.fixture
def replayed(sessions):  # noqa: ANN001, ANN201
    replay(sessions, make_config(), by_day=True)
    return sessions


def test_fixture_is_a_month_of_a_busy_group() -> None:
    in_group = [r for r in ROWS if r.message.group_id == GROUP]
    assert 250 <= len(in_group) <= 700
    assert len(MEMBERS) == 8
    roles = Counter(r.role for r in in_group)
    assert roles["question"] >= 20 and roles["answer"] >= 10 and roles["link"] >= 10 and roles["ad"] == 4
    span = max(r.message.sent_at for r in in_group) - min(r.message.sent_at for r in in_group)
    assert span >= timedelta(days=29)


def test_rules_see_the_fixture_as_written(replayed) -> None:  # noqa: ANN001
    """The hand count compares with verdicts only if the analyzers agree with the fixture's roles."""
    with replayed() as s:
        for r in ROWS:
            pk = messages_db.find_message(s, r.message.source, r.message.id)
            got = verdicts_db.analysed_message(s, pk)
            assert (got.label("intent") == "question") == (r.role == "question"), r.message.text
            assert (got.label("ad") == "ad") == (r.role == "ad"), r.message.text


@pytest.mark.parametrize("member", MEMBERS)
def test_profile_matches_the_hand_count(replayed, member: str) -> None:  # noqa: ANN001
    with replayed() as s:
        (row,) = profile_rows(s, member, GROUP)
        _, tally = row
    assert profile_numbers(tally) == hand_count(member)


def test_strikes_messages_per_day_and_ad_risk(replayed) -> None:  # noqa: ANN001
    with replayed() as s:
        strikes = actions_db.strikes(s, GROUP, "wxid_spam", since=None)
        ((_, spam),) = profile_rows(s, "wxid_spam", GROUP)
        ((_, chat),) = profile_rows(s, "wxid_chat", GROUP)
        text = describe(s, make_config(), "wxid_chat", GROUP)
    assert strikes == 4  # every ad warned under the group's warn policy
    assert risk(spam, strikes, 24).level == "高"
    assert spam.ad_score_max >= 0.9 and spam.ad_scored == spam.messages
    assert risk(chat, 0, 24).level == "低"
    expected = hand_count("wxid_chat")
    assert f"日均 {expected['messages'] / expected['active_days']:.1f} 条" in text
    assert f"活跃 {expected['active_days']} 天" in text


def test_incremental_equals_from_scratch(sessions, tmp_path) -> None:  # noqa: ANN001
    """Day by day in batches of 16 versus the whole month in one batch, on a second database."""
    from bot.store.db import make_engine, session_factory, upgrade

    replay(sessions, make_config(16), by_day=True)
    engine = make_engine(f"sqlite:///{tmp_path / 'scratch.db'}")
    upgrade(engine)
    try:
        scratch = session_factory(engine)
        replay(scratch, make_config(10_000), by_day=False)
        for member in MEMBERS + ["wxid_lead"]:
            with sessions() as a, scratch() as b:
                inc, full = combined(profile_rows(a, member)), combined(profile_rows(b, member))
            assert inc is not None and full is not None
            inc_row, full_row = inc.row(), full.row()
            for name in ("keywords", "entities", "domains"):  # bounded maps: the kept heads agree
                top = lambda d: sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))[:10]  # noqa: E731
                assert top(inc_row.pop(name)) == top(full_row.pop(name)), (member, name)
            assert inc_row.pop("ad_score_sum") == pytest.approx(full_row.pop("ad_score_sum"))  # summed in another order
            assert inc_row == full_row, member
    finally:
        engine.dispose()


def test_topics_links_roles_and_occupation(replayed) -> None:  # noqa: ANN001
    with replayed() as s:
        ((_, linker),) = profile_rows(s, "wxid_linker", GROUP)
        ((_, asker),) = profile_rows(s, "wxid_asker", GROUP)
        ((_, teacher),) = profile_rows(s, "wxid_teacher", GROUP)
        ((_, spam),) = profile_rows(s, "wxid_spam", GROUP)
        text = describe(s, make_config(), "wxid_teacher", GROUP)
    assert set(linker.domains) <= {"arxiv.org", "docs.vllm.ai", "github.com", "huggingface.co"}
    assert sum(linker.domains.values()) == hand_count("wxid_linker")["links"]
    assert {"RAG", "LoRA", "vLLM", "Embedding", "Qdrant", "微调", "部署"} <= set(asker.keywords)
    assert not {"效果", "原因", "请问"} & set(asker.keywords)
    assert teacher.occupations == Counter({"教师:我是一名老师": 1})
    assert not spam.keywords and not spam.occupations  # an ad's words say nothing about its sender
    assert "晚安" not in teacher.keywords
    assert "职业 教师（自述“我是一名老师”×1）" in text
    assert "性别 —，年龄 —" in text  # no model configured: nothing is guessed


def test_lead_score_with_reasons_and_across_groups(replayed) -> None:  # noqa: ANN001
    lead_rows = [r for r in ROWS if r.message.sender_id == "wxid_lead" and r.role == "question"]
    with replayed() as s:
        rows = profile_rows(s, "wxid_lead")
        text = describe(s, make_config(), "wxid_lead")
        asker_lead = lead(combined(profile_rows(s, "wxid_asker")))
    assert [g for g, _ in rows] == sorted([GROUP, OTHER_GROUP])
    total = combined(rows)
    assert total.messages == sum(1 for r in ROWS if r.message.sender_id == "wxid_lead")
    asked = Counter(k for r in lead_rows for k in LEAD_KEYWORDS if k.lower() in r.message.text.lower())
    for k, n in asked.items():
        assert total.leads[f"{k}:question"] == n
    score = lead(total)
    assert score.score >= 80 and asker_lead.score == 0
    assert any(reason.startswith("问过「") for reason in score.reasons)
    assert "2 个群" in text and f"线索分：{score.score}" in text


def test_opt_out_deletes_and_stops_profiling(sessions) -> None:  # noqa: ANN001
    config = make_config()
    first, rest = ROWS[:150], ROWS[150:]
    pipeline = Pipeline(sessions, build_rule_analyzers(), config, on_analysed=ProfileUpdater(config))
    pipeline.ingest([r.message for r in first])
    with sessions() as s:
        assert profile_rows(s, "wxid_chat")
    optout = first[-1].message.__class__(
        id="optout-1",
        source="replay",
        group_id=GROUP,
        sender_id="wxid_chat",
        sender_name="闲聊",
        sent_at=first[-1].message.sent_at + timedelta(seconds=1),
        kind="text",
        text="/optout",
    )
    with sessions.begin() as s:  # stored as the live bot stores it: a command, not chat
        ((pk, _),) = messages_db.store_messages(s, [optout], [commands.message_role(optout, config)])
    inv = commands.registry.parse(optout, prefixes=("/",), bot_id="bot", bot_name="群智")
    reply = commands.handle(inv, optout, pk, sessions=sessions, config=config, outbox=Outbox(), bot_id="bot")
    assert "已为你退出画像" in reply
    with sessions() as s:
        assert profile_rows(s, "wxid_chat") == []
        assert groups_db.member(s, GROUP, "wxid_chat").opted_out
        assert "已选择退出画像" in describe(s, config, "wxid_chat", GROUP)
    pipeline.ingest([r.message for r in rest])
    pipeline.process_pending()  # the /optout command too, as the live bot's analysis loop does (judged, not profiled)
    with sessions() as s:
        assert profile_rows(s, "wxid_chat") == []  # never profiled again...
        stored = messages_db.message_counts(s, GROUP)["wxid_chat"]
        assert stored == sum(
            1 for r in ROWS if r.message.sender_id == "wxid_chat"
        )  # ...but still stored (not the /optout: no chat)
        assert analysis_db.analysis_counts(s, GROUP)["pending"] == 0  # ...and analysed (moderated)
        assert profile_rows(s, "wxid_asker")  # others are untouched
    elsewhere = optout.__class__(
        id="elsewhere-1",
        source="replay",
        group_id="new@chatroom",
        sender_id="wxid_chat",
        sender_name="闲聊",
        sent_at=ROWS[-1].message.sent_at,
        kind="text",
        text="新群你好",
    )
    pipeline.ingest([elsewhere])
    with sessions() as s:
        assert groups_db.member(s, "new@chatroom", "wxid_chat").opted_out  # a group joined later is covered too
        assert profile_rows(s, "wxid_chat") == []
    optin = optout.__class__(
        id="optin-1",
        source="replay",
        group_id=GROUP,
        sender_id="wxid_chat",
        sender_name="闲聊",
        sent_at=ROWS[-1].message.sent_at + timedelta(minutes=1),
        kind="text",
        text="/optin",
    )
    with sessions.begin() as s:
        ((pk, _),) = messages_db.store_messages(s, [optin], [commands.message_role(optin, config)])
    reply = commands.handle(
        commands.registry.parse(optin, prefixes=("/",), bot_id="bot", bot_name="群智"),
        optin,
        pk,
        sessions=sessions,
        config=config,
        outbox=Outbox(),
        bot_id="bot",
    )
    assert "已恢复画像" in reply
    later = optout.__class__(
        id="after-optin",
        source="replay",
        group_id=GROUP,
        sender_id="wxid_chat",
        sender_name="闲聊",
        sent_at=optin.sent_at + timedelta(minutes=1),
        kind="text",
        text="早上好",
    )
    pipeline.ingest([later])
    with sessions() as s:
        ((_, t),) = profile_rows(s, "wxid_chat")
        assert not groups_db.member(s, GROUP, "wxid_chat").opted_out
    assert t.messages == 1  # the message after /optin (a command is no activity); nothing from before


def test_commands_and_the_bot_s_words_are_no_activity(sessions) -> None:  # noqa: ANN001
    config = make_config()
    config = config.model_copy(update={"bot": config.bot.model_copy(update={"self_id": "wxid_qunzhi"})})
    base = ROWS[0].message
    said = [
        ("wxid_kim", "大模型微调用 LoRA 还是全参？"),
        ("wxid_kim", "/stats"),
        ("wxid_kim", "@群智 help"),
        ("wxid_qunzhi", "今天（2026-11-01）：2 条消息，1 人发言"),
        ("wxid_kim", "LoRA 省显存，效果也够用"),
    ]
    msgs = [
        base.__class__(
            id=f"roles-{i}",
            source="replay",
            group_id=GROUP,
            sender_id=who,
            sender_name=who,
            kind="text",
            text=text,
            sent_at=base.sent_at + timedelta(minutes=i),
            mentions=("wxid_qunzhi",) if "@群智" in text else (),
        )
        for i, (who, text) in enumerate(said)
    ]
    role_of = functools.partial(commands.message_role, config=config)
    Pipeline(sessions, build_rule_analyzers(), config, on_analysed=ProfileUpdater(config), role_of=role_of).ingest(msgs)
    with sessions() as s:
        ((_, kim),) = profile_rows(s, "wxid_kim")
        assert profile_rows(s, "wxid_qunzhi") == []
        assert groups_db.member(s, GROUP, "wxid_kim").message_count == 2
    assert kim.messages == 2 and sum(kim.hours) == 2 and sum(kim.days.values()) == 2
    assert not {"stats", "help"} & set(kim.keywords)


def test_profile_command_is_for_admins_and_shows_the_profile(replayed) -> None:  # noqa: ANN001
    config = make_config().model_copy(
        update={"bot": make_config().bot.model_copy(update={"superadmins": ("wxid_boss",)})}
    )
    last = ROWS[-1].message
    ask = last.__class__(
        id="cmd-profile",
        source="replay",
        group_id=GROUP,
        sender_id="wxid_boss",
        sender_name="老板",
        sent_at=last.sent_at + timedelta(minutes=5),
        kind="text",
        text="/profile @小李",
        mentions=("wxid_helper",),
    )
    with replayed.begin() as s:
        ((pk, _),) = messages_db.store_messages(s, [ask])
    inv = commands.registry.parse(ask, prefixes=("/",), bot_id="bot", bot_name="群智")
    reply = commands.handle(inv, ask, pk, sessions=replayed, config=config, outbox=Outbox(), bot_id="bot")
    helper = hand_count("wxid_helper")
    assert reply.startswith("小李（wxid_helper）· 本群")
    assert f"回答他人 {helper['answers']}" in reply and "线索分：0" in reply
    sneaky = ask.__class__(**{**{f: getattr(ask, f) for f in ask.__slots__}, "id": "cmd-2", "sender_id": "wxid_chat"})
    with replayed.begin() as s:
        ((pk, _),) = messages_db.store_messages(s, [sneaky])
    reply = commands.handle(inv, sneaky, pk, sessions=replayed, config=config, outbox=Outbox(), bot_id="bot")
    assert "需要管理员权限" in reply


def test_profiles_never_hold_message_text(replayed) -> None:  # noqa: ANN001
    texts = {r.message.text for r in ROWS}
    with replayed() as s:
        rows = s.execute(select(MemberProfile)).scalars().all()
        assert s.scalar(select(func.count()).select_from(MemberProfile)) == len(MEMBERS) + 1
    for p in rows:
        stored = repr([p.keywords, p.entities, p.domains, p.occupations, p.leads])
        assert not [t for t in texts if len(t) > 8 and t in stored]


def test_demographic_hints_accumulate_and_show_only_above_threshold(sessions, tmp_path) -> None:  # noqa: ANN001
    from tests.nlp.test_demographics import save, tiny_model

    save(tmp_path / "demo", tiny_model(threshold=0.9, min_ngrams=30))
    config = make_config().model_copy(
        update={"profiles": make_config().profiles.model_copy(update={"demographics": str(tmp_path / "demo")})}
    )
    base = ROWS[0].message
    texts = {"wxid_bro": ["哥们早", "哥几个吃了吗", "哥哥哥哥哥哥哥哥哥哥哥哥"], "wxid_quiet": ["今天不错", "好的"]}
    msgs = [
        base.__class__(
            id=f"d{s}{i}",
            source="replay",
            group_id=GROUP,
            sender_id=s,
            sender_name=s,
            sent_at=base.sent_at + timedelta(minutes=i),
            kind="text",
            text=t,
        )
        for s, ts in texts.items()
        for i, t in enumerate(ts)
    ]
    hook = build_profile_hook(config)
    Pipeline(sessions, build_rule_analyzers(), config, on_analysed=hook).ingest(msgs)
    model = hook._demographics
    with sessions() as s:
        ((_, bro),) = profile_rows(s, "wxid_bro", GROUP)
        bro_text = describe(s, config, "wxid_bro", GROUP)
        quiet_text = describe(s, config, "wxid_quiet", GROUP)
    n, sums = model.evidence("".join(texts["wxid_bro"]))
    assert bro.demo_ngrams == sum(model.evidence(t)[0] for t in texts["wxid_bro"]) and bro.demo_model == model.version
    assert bro.demo_sums["gender"] == pytest.approx(sums["gender"], rel=1e-5)
    assert "性别 男（" in bro_text
    assert "性别 —" in quiet_text  # too little text and nothing to go on


def test_cli_profile_and_purge(tmp_path, capsys) -> None:  # noqa: ANN001
    from bot.cli import main
    from bot.store.db import open_store

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine, sessions = open_store(url, migrate=True)
    try:
        replay(sessions, make_config(), by_day=False)
    finally:
        engine.dispose()
    config = tmp_path / "config.toml"
    config.write_text('[leads]\nkeywords = ["GPU", "算力", "API"]\n[profiles]\ndemographics = ""\n', "utf-8")
    assert main(["--config", str(config), "profile", "wxid_lead", "--db", url]) == 0
    out = capsys.readouterr().out
    assert out.startswith("老王（wxid_lead）· 2 个群") and "线索分：" in out and "问过「" in out
    assert main(["--config", str(config), "profile", "wxid_lead", "--group", GROUP, "--db", url]) == 0
    assert "· 本群" in capsys.readouterr().out
    assert main(["--config", str(config), "profile", "wxid_nobody", "--db", url]) == 2
    assert "no profile for wxid_nobody" in capsys.readouterr().err
    assert main(["--config", str(config), "db", "purge", "--days", "1", "--db", url]) == 0
    assert f"purged the text of {len(ROWS)} messages" in capsys.readouterr().out
    assert main(["--config", str(config), "profile", "wxid_lead", "--db", url]) == 0  # aggregates stay
    assert "线索分：" in capsys.readouterr().out


def test_a_failing_profile_update_keeps_the_verdicts(sessions, monkeypatch) -> None:  # noqa: ANN001
    config = make_config()
    hook = ProfileUpdater(config)

    def explode(*_):  # noqa: ANN002, ANN202
        raise RuntimeError("profile bug")

    monkeypatch.setattr("bot.profiles.add_to_profiles", explode)
    report = Pipeline(sessions, build_rule_analyzers(), config, on_analysed=hook).ingest([r.message for r in ROWS[:40]])
    assert report.analysed == 40 and report.failed == 0
    with sessions() as s:
        assert analysis_db.analysis_counts(s, GROUP)["done"] == 40
        assert s.scalar(select(func.count()).select_from(MemberProfile)) == 0


def test_a_profile_created_meanwhile_is_added_to_not_duplicated(sessions, monkeypatch) -> None:  # noqa: ANN001
    """Another process creates a member's row between this batch's read and its insert: the batch's
    tally is added to that row; the other members of the batch get new rows; one row each."""
    from datetime import datetime, timezone

    import bot.profiles as profiles
    from bot.store import member_profiles as member_profiles_db

    t0 = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)

    def tally(n: int, word: str) -> Tally:
        return Tally(t0, t0 + timedelta(minutes=n), messages=n, keywords=Counter({word: n}))

    real_insert, raced_once = member_profiles_db.insert_new, []

    def racing_insert(session, rows):  # noqa: ANN001, ANN202
        if not raced_once:
            raced_once.append(True)
            with sessions.begin() as other:  # the other process wins the race and commits first
                profiles.add_to_profiles(other, {(GROUP, "wxid_race"): tally(2, "向量库")})
        return real_insert(session, rows)

    with sessions.begin() as s:
        groups_db.ensure_group(s, GROUP)
    monkeypatch.setattr(member_profiles_db, "insert_new", racing_insert)
    with sessions.begin() as s:
        profiles.add_to_profiles(s, {(GROUP, "wxid_race"): tally(3, "微调"), (GROUP, "wxid_new"): tally(1, "显卡")})
    assert raced_once  # the race did happen
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(MemberProfile)) == 2
        ((_, raced),) = profile_rows(s, "wxid_race")
        ((_, new),) = profile_rows(s, "wxid_new")
    assert raced.messages == 5 and raced.keywords == Counter({"微调": 3, "向量库": 2})
    assert raced.last_seen == t0 + timedelta(minutes=3)
    assert new.messages == 1 and new.keywords == Counter({"显卡": 1})
