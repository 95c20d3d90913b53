"""Every quoted line is real (issue 20, point 5): the real builder's digests pass the quote check on
the demo day and on every day of the month fixture; a builder that invents, paraphrases or
misattributes a quote, or names a member who opted out, fails it — and what it made never reaches
the rendered digest."""

import dataclasses
import logging
import time
from datetime import date, timedelta

import pytest

import bot.daily
from bot.cli import DEMO_DIR, main
from bot.config import load_config
from bot.daily import make_digest
from bot.digest import DigestData, MessageLine, build_digest, day_bounds
from bot.digest.lines import short
from bot.digest.verify import QuoteError, check, enforce, problems
from bot.records import AnalysedMessage
from bot.store import groups as groups_db, verdicts as verdicts_db
from bot.wiring import open_store
from nlp.verdict import Verdict
from tests.bot.month_fixture import DAYS, GROUP, START, TZ as MONTH_TZ, month

DEMO_GROUP = "ai-dev-2026@chatroom"
DEMO_DAY = date(2026, 11, 25)
AWEN = "wxid_t8u2ho6c"  # 杭州-阿里-阿文, who answers in the day's threads


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The sample day replayed with the rule analyzers (models.use = false), and the messages the
    digest reads."""
    tmp = tmp_path_factory.mktemp("verify")
    cfg = tmp / "demo.toml"
    cfg.write_text(
        (DEMO_DIR / "demo.toml").read_text("utf-8")
        + f'\n[database]\nurl = "sqlite:///{tmp / "d.db"}"\n[models]\nuse = false\n',
        "utf-8",
    )
    assert main(["--config", str(cfg), "replay", str(DEMO_DIR / "sample_day.jsonl")]) == 0
    config = load_config(cfg)
    store = open_store(config)
    start, end = day_bounds(DEMO_DAY, config.digest_timezone())
    with store.sessions() as s:
        messages = verdicts_db.analysed_messages(s, DEMO_GROUP, start, end)
    yield config, store, messages
    store.close()


def _errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.digest.verify" and r.levelno >= logging.ERROR]


@pytest.fixture
def day_data(demo, caplog) -> DigestData:
    config, store, messages = demo
    r = make_digest(store.sessions, config, DEMO_GROUP, DEMO_DAY, save=False)
    assert _errors(caplog) == []  # nothing was dropped: the real builder's data as built
    return r.data


# ------------------------------------------------------------------------------ the real builder


def test_the_demo_days_digest_quotes_only_what_was_said(demo, day_data):
    _, _, messages = demo
    d = day_data
    assert d.threads and d.events and d.links and d.ads and d.announcements and d.unanswered and d.top_contributors
    assert any(t.best for t in d.threads)
    assert any(line.text.endswith("…") for t in d.threads for line in (t.root, *t.replies))  # cuts are checked too
    check(d, messages)


def test_the_demo_day_with_a_member_opted_out_passes_and_never_names_them(demo, caplog):
    config, store, messages = demo
    with store.sessions.begin() as s:
        groups_db.set_opted_out(s, DEMO_GROUP, AWEN)
    try:
        r = make_digest(store.sessions, config, DEMO_GROUP, DEMO_DAY, save=False)
    finally:
        with store.sessions.begin() as s:
            groups_db.set_opted_out(s, DEMO_GROUP, AWEN, False)
    assert _errors(caplog) == []
    check(r.data, messages, {AWEN})
    assert "杭州-阿里-阿文" not in "\n".join(r.text_parts)


def _month_messages() -> list[AnalysedMessage]:
    """The month with verdicts as the analyzers would store them for each message's role."""
    labels = {
        "question": {"intent": "question", "useful": "useful"},
        "answer": {"intent": "answer", "useful": "useful"},
        "link": {"intent": "share", "useful": "useful"},
        "chat": {"intent": "chitchat", "useful": "useless"},
        "ad": {"intent": "ad", "useful": "useless"},
    }
    out = []
    for row in month():
        verdicts = {k: Verdict(k, v, 0.9) for k, v in labels[row.role].items()}
        verdicts["ad"] = Verdict("ad", "ad" if row.role == "ad" else "normal", 0.95, ("contact",))
        out.append(AnalysedMessage(row.message, verdicts))
    return out


@pytest.mark.parametrize("opted_out", [frozenset(), frozenset({"wxid_asker", "wxid_helper"})])
def test_every_day_of_the_month_fixture_passes(opted_out):
    messages = _month_messages()
    quoted = 0
    for n in range(DAYS):
        day = (START + timedelta(days=n)).date()
        d = build_digest(
            messages, group_id=GROUP, group_name="AI", topic="AI 开发者", day=day, tz=MONTH_TZ, opted_out=opted_out
        )
        start, end = day_bounds(day, MONTH_TZ)
        read = [am for am in messages if start <= am.message.sent_at < end]
        check(d, read, opted_out)
        quoted += len(d.threads) + len(d.unanswered) + len(d.links) + len(d.ads)
    assert quoted > 15


def test_what_the_builder_trims_passes_a_link_with_its_comment_a_greeting_a_mention():
    from tests.bot.digest.helpers import DAY, TZ, G, msg

    messages = [
        msg("a", "09:00", "这篇讲 RAG 评测的 https://arxiv.org/abs/2401.00001", useful=0.9, mid="link"),
        msg("a", "09:01", "重点看第三节", useful=0.9),
        msg("b", "09:05", "第三节的表格数据是哪来的？", useful=0.9, reply_to="link"),
        msg("c", "10:00", "大家好，请教一下：LoRA 微调要多大显存？", intent="question", useful=0.9),
        msg("d", "10:03", "@C 7B 的话 24G 够了", intent="answer", useful=0.9, mentions=("c",)),
    ]
    d = build_digest(messages, group_id=G, group_name="g", topic="", day=DAY, tz=TZ)
    roots = {t.root.text for t in d.threads}
    assert "这篇讲 RAG 评测的 —— 重点看第三节" in roots and "LoRA 微调要多大显存？" in roots
    assert "7B 的话 24G 够了" in {t.best.text for t in d.threads if t.best}
    check(d, messages)


# ------------------------------------------------------------------------------ builders that lie


def _kinds(d: DigestData, messages, opted_out=()) -> set[str]:
    found = problems(d, messages, opted_out)
    with pytest.raises(QuoteError):
        check(d, messages, opted_out)
    return {p.kind for p in found}


def _with_best(d: DigestData, i: int, **change) -> DigestData:
    t = d.threads[i]
    assert t.best is not None
    threads = list(d.threads)
    threads[i] = dataclasses.replace(t, best=dataclasses.replace(t.best, **change))
    return dataclasses.replace(d, threads=tuple(threads))


def _answered(d: DigestData, first: int = 0) -> int:
    return next(i for i, t in enumerate(d.threads) if i >= first and t.best is not None and len(t.best.text) > 6)


def test_an_invented_quote_fails(demo, day_data):
    _, _, messages = demo
    d = day_data
    i = _answered(d)
    assert _kinds(_with_best(d, i, text="直接用 vLLM 部署就行，别的都不用管"), messages) == {"not verbatim"}
    invented = MessageLine("m9999", d.threads[i].root.sender, "12:00", "这是我编的一句话")
    assert _kinds(dataclasses.replace(d, announcements=(invented,)), messages) == {"unknown"}
    ad = dataclasses.replace(d.ads[0], text="加我微信领取免费资料")
    assert _kinds(dataclasses.replace(d, ads=(ad, *d.ads[1:])), messages) == {"not verbatim"}


def test_a_paraphrase_fails_even_by_one_word_or_a_misplaced_cut(demo, day_data):
    _, _, messages = demo
    d = day_data
    i = _answered(d)
    best = d.threads[i].best
    assert best is not None
    changed = best.text[:2] + ("对" if best.text[2] != "对" else "错") + best.text[3:]
    assert _kinds(_with_best(d, i, text=changed), messages) == {"not verbatim"}
    assert _kinds(_with_best(d, i, text=best.text.rstrip("…")[:-1] + "啊"), messages) == {"not verbatim"}
    middle = best.text[:3] + "…" + best.text[5:]  # "…" where the builder never cuts
    assert _kinds(_with_best(d, i, text=middle), messages) == {"not verbatim"}
    assert problems(_with_best(d, i, text=best.text.rstrip("…")[:5] + "…"), messages) == []  # a shorter cut is fine
    link = dataclasses.replace(d.links[0], title=d.links[0].title + "，强烈推荐")
    assert _kinds(dataclasses.replace(d, links=(link, *d.links[1:])), messages) == {"not verbatim"}


def test_a_misattributed_quote_fails(demo, day_data):
    _, _, messages = demo
    d = day_data
    i = _answered(d)
    root, best = d.threads[i].root, d.threads[i].best
    assert best is not None and root.sender != best.sender
    # the right words under someone else's name
    assert _kinds(_with_best(d, i, sender=root.sender), messages) == {"misattributed"}
    # someone else's words on this message
    other = next(am for am in messages if am.message.sender_name != best.sender and len(am.message.text) > 8)
    assert _kinds(_with_best(d, i, text=short(other.message.text)), messages) == {"misattributed"}
    e = dataclasses.replace(d.events[0], sender=root.sender if d.events[0].sender != root.sender else best.sender)
    assert _kinds(dataclasses.replace(d, events=(e, *d.events[1:])), messages) == {"misattributed"}


def test_naming_or_quoting_an_opted_out_member_fails(demo, day_data):
    _, _, messages = demo
    d = day_data  # built while 阿文 had not opted out: it quotes and names them
    assert "杭州-阿里-阿文" in {line.sender for t in d.threads for line in (t.root, t.best, *t.replies) if line}
    assert _kinds(d, messages, {AWEN}) == {"opted out"}
    without = enforce(d, messages, {AWEN})  # what make_digest would send: their lines dropped
    assert problems(without, messages, {AWEN}) == [] and without.threads
    assert "杭州-阿里-阿文" not in {
        line.sender for t in without.threads for line in (t.root, t.best, *t.replies) if line
    }
    mention = dataclasses.replace(d.unanswered[0], text=f"@杭州-阿里-阿文 {d.unanswered[0].text}")
    assert _kinds(dataclasses.replace(without, unanswered=(mention,)), messages, {AWEN}) == {"opted out"}


# ------------------------------------------------------------------------------ the one rule


def test_make_digest_drops_what_a_lying_builder_made_and_logs_it(demo, day_data, monkeypatch, caplog):
    """The rule: ``make_digest`` drops each failing line and logs it at ERROR; the rest is sent."""
    config, store, messages = demo
    real = bot.daily.build_digest
    invented = "直接用 vLLM 部署就行，别的都不用管"

    def lying(*args, **kw):
        d = real(*args, **kw)
        d = _with_best(d, _answered(d, 1), text=invented)
        root = dataclasses.replace(d.threads[0].root, text=d.threads[0].root.text + "，大家都同意")
        return dataclasses.replace(d, threads=(dataclasses.replace(d.threads[0], root=root), *d.threads[1:]))

    monkeypatch.setattr(bot.daily, "build_digest", lying)
    with caplog.at_level(logging.ERROR, logger="bot.digest.verify"):
        r = make_digest(store.sessions, config, DEMO_GROUP, DEMO_DAY, save=False)
    out = "\n".join(r.text_parts) + r.html
    assert invented not in out and "大家都同意" not in out
    assert len(r.data.threads) == len(day_data.threads) - 1  # the thread whose opener lied is gone
    assert problems(r.data, messages) == []
    errors = _errors(caplog)
    assert len(errors) == 2 and all("dropped" in e for e in errors)


def test_enforce_keeps_a_thread_whose_best_answer_fails_without_it(demo, day_data):
    _, _, messages = demo
    i = _answered(day_data)
    kept = enforce(_with_best(day_data, i, text="编的"), messages)
    assert kept.threads[i].best is None and kept.threads[i].root == day_data.threads[i].root
    assert enforce(day_data, messages) is day_data  # nothing to drop: the same object, no copy


def test_the_check_is_cheap(demo, day_data):
    _, _, messages = demo
    began = time.perf_counter()
    for _ in range(5):
        problems(day_data, messages)
    assert time.perf_counter() - began < 1.0  # about 20 ms a digest
