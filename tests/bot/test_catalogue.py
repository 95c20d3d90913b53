"""Everything the bot can say is Chinese: every catalogue function called, every string scanned.

"English" is defined in tests/bot/wording.py: a run of two or more ASCII letters that is not a
command name after "/", not "QQ", and not part of what the case passed in (names, ids, quoted data).
"""

from __future__ import annotations

import ast
import inspect
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot import catalogue
from bot.commands import registry
from bot.config import Moderation, PolicyMode
from bot.moderation import Standing, decide
from nlp.item import Item
from nlp.rules import AdRules, IntentRules, UsefulRules
from nlp.verdict import Verdict
from tests.bot.wording import assert_no_english, english_words

ROOT = Path(__file__).resolve().parents[2]
COMMAND_NAMES = [c.name for c in registry.commands]


@dataclass
class Case:
    """One call: positional and keyword arguments; ``data`` is what the output may quote (by
    default every string passed in)."""

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    data: tuple[str, ...] | None = None


def call(*args, data: tuple[str, ...] | None = None, **kwargs) -> Case:  # noqa: ANN002, ANN003
    return Case(args, kwargs, data)


REPORT = dict(
    group_name="AI 交流群", member_name="推广小王", member_id="wxid_spam", quote="兼职刷单日赚500，加V：abc1***",
    reasons=("第 2 次违规（72 小时内已满 2 次）", "广告分 1.00（处理线 0.90）", "关键词「兼职」"), record=12,
)
CARD = dict(
    name="Alice", member_id="wxid_alice", where="本群", first_day="2026-11-01", last_day="2026-11-25", messages=40,
    active_days=10, per_day=4.0, busy_hours=(21, 9), topics="RAG 5、微调 3", mentions="机构 OpenAI 2", questions=3,
    answers=5, links=2, sites="github.com 2", useful=12, risk="低", risk_why=("广告 0 条", "违规 0 次"),
    hints={"gender": "—", "age": "—"}, occupations="教师（自述“我是一名老师”×1）", lead_score=37,
    lead_why=("问过「显卡」2 次",),
)

# Every public function of bot.catalogue, with representative facts. A function without a case fails.
CASES: dict[str, list[Case]] = {
    "level_name": [call("ADMIN"), call("SUPERADMIN"), call("MEMBER"), call("OWNER"), call("nonsense", data=())],
    "action_name": [call(k) for k in ("log", "warn", "kick", "undo", "add")] + [call("unknown", data=())],
    "label_name": [call(k, data=()) for k in (*catalogue.LABEL_NAMES, "unknown")],
    "strike_count": [call(1), call(1, 2, 72), call(2, 2, 72), call(3, 2, 72), call(5, 3)],
    "reason_not_an_ad": [call()],
    "reason_below_threshold": [call(0.42, 0.9)],
    "reason_ad_score": [call(1.0, 0.9)],
    "reason_moderation_off": [call()],
    "reason_whitelisted": [call()],
    "reason_sender_is_admin": [call()],
    "reason_not_corroborated": [call()],
    "reason_strike": [call(1), call(1, 2, 72), call(2, 2, 72), call(3, 2, 72)],
    "reason_strike_logged": [call(4)],
    "reason_kicked_by": [call("Bob", "wxid_bob"), call("wxid_bob", "wxid_bob")],
    "reason_warned_by": [call("Ann", "wxid_admin", "别发广告"), call("", "wxid_admin", "别发广告")],
    "reason_marked_by": [call("Ann", "wxid_admin"), call("wxid_admin", "wxid_admin")],
    # the analyzers' reasons: data is only what the reason quotes from the message
    "reason_text": [
        call("rules p(ad)=0.93", data=()),
        call("model p(ad)=0.97", data=()),
        call("model p(useful)=0.81 for topic 人工智能 (useful from 0.30)", data=()),
        call("model p(useful)=0.12 for topic (none) (useful from 0.30)", data=()),
        call("model p(question)=0.66", data=()),
        call("next chitchat 0.21", data=()),
        call("rules say useful (question ?)", data=()),
        call("rules say ad (contact WeChat wx_abc123)", data=("wx_abc123",)),
        call("policy gambling offer: 赌场 + 首充 (model p(ad)=0.09)", data=()),
        call("policy summons scam: 公安局 + 涉嫌 + 致电", data=()),
        call("policy new kind: 某 + 某", data=()),
        call("keyword 加V", data=("加V",)),
        call("contact WeChat wx_abc123", data=("wx_abc123",)),
        call("contact phone (masked) xxxxxxxxxxx", data=("xxxxxxxxxxx",)),
        call("link (known site) github.com/foo", data=("github.com/foo",)),
        call("format long 120", data=()),
        call("obfuscation spaced 加 V→加V (contact 加v)", data=("加 V→加V", "加v")),
        call("obfuscation homoglyph 2", data=()),
        call("marked as spam by admin wxid_admin", data=("wxid_admin",)),
        call("image without text", data=()),
        call("file shared", data=()),
        call("undo of action 7", data=()),
        call("something the catalogue has never seen 42", data=()),
        call("第 1 次违规", data=()),
    ],
    "member_warning": [call(1), call(1, 2, 72), call(2, 2, 72)],
    "member_removal_notice": [call(2), call(3)],
    "report_action": [
        call("warn"), call("kick"), call("log"), call("kick", dry_run=True), call("warn", dry_run=True),
        call("other", data=()),
    ],
    "admin_report": [
        call(action="kick", dry_run=False, **REPORT), call(action="warn", dry_run=True, **REPORT),
        call(**{**REPORT, "reasons": ()}, action="log", dry_run=False),
    ],
    "help_line": [call("/kick @成员", "把成员移出本群", ("踢", "踢出")), call("/help", "列出你能用的命令", ("帮助", "?", "？"))],
    "help_text": [call(["/help — 列出你能用的命令"], more_for_admins=True), call([], more_for_admins=False)],
    "no_permission": [call("kick", "ADMIN"), call("dryrun", "OWNER")],
    "not_on_the_bot": [call()],
    "protected_member": [call("Bob", "ADMIN"), call("Carol", "SUPERADMIN")],
    "needs_target": [call(name) for name in COMMAND_NAMES],
    "kick_reply": [call("Bob")],
    "admin_warning": [call("别发广告", 1), call("别发广告", 1, 2, 72), call("别发广告", 2, 2, 72), call("spam", 3, 2, 72)],
    "warn_reply": [call("Bob", 3)],
    "spam_needs_quote": [call()],
    "spam_recorded_only": [call("Bob")],
    "spam_already_handled": [call("Bob")],
    "spam_done": [
        call("Bob", "warn", dry_run=False, reason="第 1 次违规（72 小时内满 2 次移出）"),
        call("Bob", "kick", dry_run=False, reason="第 3 次违规（已超过上限：72 小时内 2 次）"),
        call("Bob", "log", dry_run=True, reason="发送者在白名单中，不处理"),
    ],
    "notspam_needs_quote": [call()],
    "notspam_nothing_to_undo": [call("Bob", recorded=True), call("Bob", recorded=False)],
    "notspam_done": [call("Bob", 2, 0, reinvited=True), call("Bob", 1, 1, reinvited=False)],
    "whitelist_done": [call(["Bob", "Carol"], on=True), call(["Bob"], on=False)],
    "digest_bad_date": [call("tomorrow"), call("2026-13-40")],
    "digest_future_day": [call()],
    "stats_reply": [
        call("2026-11-25", messages=24, speakers=3, useful=5, ads=2, actions={"warn": 2, "kick": 1, "log": 1, "add": 0}, pending=0),
        call("2026-11-25", messages=0, speakers=0, useful=0, ads=0, actions={}, pending=3),
    ],
    "optout_done": [call()],
    "optin_done": [call()],
    "policy_reply": [
        call(mode=m, threshold=0.9, kick_after=2, window_hours=72, corroborate=c, dry_run=d, set_in_group=d, report=c)
        for m, c, d in (("kick", True, False), ("warn", False, True), ("log", True, True), ("off", False, False))
    ],
    "dryrun_usage": [call()],
    "dryrun_done": [call(True), call(False)],
    "lead_reason": [call("request", "显卡", 2), call("question", "显卡", 1), call("mention", "GPU", 3), call("other", "x", 1)],
    "lead_cues": [call(["多少钱", "怎么买"])],
    "risk_reasons": [call(ads=2, strikes=1, mean=0.4, top=0.99, burst_hours=24, burst_messages=12, burst_ads=1)],
    "demographic_hint": [call("male", 0.81), call("30-39", 0.7)],
    "occupation": [call("教师", "我是一名老师", 2)],
    "entity_mention": [call("ORG", "OpenAI", 2), call("PER", "张三", 1), call("MISC", "某物", 1, data=("某物",))],
    "profile_where": [call(None), call(3)],
    "profile_card": [call(**CARD), call(**{**CARD, "busy_hours": (), "sites": "", "lead_why": ()})],
    "profile_opted_out": [call("wxid_alice")],
    "profile_missing": [call("Alice")],
    # outbox follow-ups
    "kick_done": [call(group_name="AI 交流群", member_name="推广小王", member_id="wxid_spam", record=12)],
}


def public_functions() -> dict[str, object]:
    return {
        name: fn
        for name, fn in inspect.getmembers(catalogue, inspect.isfunction)
        if not name.startswith("_") and fn.__module__ == catalogue.__name__
    }


def strings_in(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from strings_in(k)
            yield from strings_in(v)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for v in value:
            yield from strings_in(v)


def test_every_catalogue_function_has_a_case() -> None:
    missing = sorted(set(public_functions()) - set(CASES))
    assert not missing, f"add a case to CASES for {missing}"
    assert not sorted(set(CASES) - set(public_functions())), "a case names no catalogue function"


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_catalogue_string_is_chinese(name: str) -> None:
    fn = public_functions()[name]
    for case in CASES[name]:
        out = fn(*case.args, **case.kwargs)  # type: ignore[operator]
        data = case.data if case.data is not None else tuple(strings_in((case.args, case.kwargs)))
        texts = list(strings_in(out))
        assert texts and all(texts), f"{name}{case.args} said nothing"
        assert_no_english(texts, data)


def test_catalogue_constants_are_chinese() -> None:
    """Constants hold wording too; their keys are identifiers (levels, actions, labels)."""
    for name, value in vars(catalogue).items():
        if name.isupper() and not name.startswith("_"):
            shown = value.values() if isinstance(value, Mapping) else [value]
            assert_no_english(strings_in(list(shown)))


def test_the_english_check_can_fail() -> None:
    assert english_words("已警告，strike 1 of 2。") == ["strike", "of"]
    assert english_words("处理：kick 1", ["/kick @Bob"], never=["kick"]) == ["kick"]
    assert english_words("发送 /notspam @Bob", ["Bob"]) == []
    assert english_words("微信号 abc1***，QQ号 12***78", ["加V：abc12345"]) == []


def variants(text: str) -> list[str]:
    """The text as the analyzers read it: lower-cased, evasions undone (full-width, spaced out)."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return [text.lower(), folded, "".join(folded.split())]


def test_every_known_reason_the_rule_analyzers_give_reads_as_chinese() -> None:
    """Run the rule analyzers over ads and chat of every kind; each reason is translated (not the
    generic phrase) and quotes nothing but the message it is about."""
    texts = [
        "兼职刷单日赚500，加V：abc12345 详询", "代理微商招募，日结工资，加微信 wx_8899001 了解", "贷款秒批，无抵押，联系QQ 12345678",
        "澳门国际赌场：真人在线娱乐，首充送100%，官网注册", "您好，这里是市公安局，您涉嫌洗钱，账户将被冻结，请致电 010-12345678",
        "点击 http://abc.top/x 领取福利!!!", "【通知】仅需 99 元，全场8折，满100减20，欢迎选购", "出个号，加群 123456789 详聊",
        "电话 13812345678 或邮箱 sale@shop.com", "加 V 信 a b c 1 2 3", "工行 6222 0200 1234 5678 910 转账", "联系我 xxxxxxxxxxx",
        "加我扣扣二九一二一八七六七", "关注公众号领取资料，github.com/foo 也有", "请问 RAG 的召回率怎么评估？", "哈哈哈", "大家好",
        "明天下午三点开会，请大家准时参加", "可以用 recall@k，再人工抽检", "长" * 120, "ｖｘ：ｗｘ＿ａｂｃ１２３", "加\u200bV\u200b信 abc12345",
        "招聘 Python 工程师，薪资面议", "有没有人推荐一下显卡", "好的", "嗯嗯",
    ]  # fmt: skip
    items = [Item(text=t, topic="人工智能 大模型") for t in texts]
    items += [Item(text="", kind=k) for k in ("image", "sticker", "file", "link", "text")]
    items += [Item(text="某某 加入了群聊", kind="system")]
    ad = AdRules()
    untranslated = []
    for analyzer in (ad, UsefulRules(ad=ad), IntentRules(ad=ad)):
        for item, verdict in zip(items, analyzer.analyse(items)):
            for reason in verdict.reasons:
                shown = catalogue.reason_text(reason)
                if shown == catalogue.UNKNOWN_REASON:
                    untranslated.append(reason)
                assert_no_english([shown], [item.text, *variants(item.text), "人工智能 大模型"])
    assert not untranslated, f"reasons with no Chinese wording: {sorted(set(untranslated))}"


def test_a_count_never_passes_its_limit() -> None:
    """A member already at the limit who posts again (re-invited, say) is past it, not "3 of 2"."""
    policy = Moderation(mode=PolicyMode.KICK, kick_after_strikes=2, ad_threshold=0.5)
    ad = {"ad": Verdict("ad", "ad", 1.0, ("keyword 加V",), "rules-2")}
    action = decide(ad, Standing(strikes=2), policy)
    assert action.reasons[0] == "第 3 次违规（已超过上限：72 小时内 2 次）"
    for strike in range(1, 6):
        counted = catalogue.strike_count(strike, 2, 72)
        warned = catalogue.admin_warning("别发广告", strike, 2, 72)
        assert f"第 {strike} 次" in counted and f"第 {strike} 次" in warned
        if strike >= 2:  # at or past the limit: no "n 次 until removal" any more
            assert "满 2 次移出" not in counted and "满 2 次将被移出" not in warned, (counted, warned)
        if strike > 2:
            assert "已超过上限" in counted, counted
    assert "再有 0 次" not in catalogue.member_warning(2, 2, 72)


def test_every_command_is_worded_in_the_catalogue() -> None:
    for cmd in registry.commands:
        assert (cmd.usage, cmd.help) == catalogue.COMMAND_HELP[cmd.name], f"/{cmd.name}: wording outside the catalogue"


# Modules whose wording moved to the catalogue: none builds Chinese text with an f-string again.
WORDED_ELSEWHERE = [
    "bot/commands.py", "bot/enforcement.py", "bot/moderation.py", "bot/profile_view.py", "bot/pipeline.py",
    "bot/live.py", "bot/outbox.py", "bot/scheduler.py", "bot/daily.py", "bot/profiles.py",
]  # fmt: skip


@pytest.mark.parametrize("rel", WORDED_ELSEWHERE)
def test_no_chinese_text_is_built_outside_the_catalogue(rel: str) -> None:
    cjk = re.compile(r"[\u4e00-\u9fff]")
    tree = ast.parse((ROOT / rel).read_text("utf-8"))
    built = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        and cjk.search("".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)))
    ]
    assert not built, f"{rel} builds Chinese text on lines {built}: move it to bot/catalogue.py"
