"""Everything the bot can say is Chinese and worded in bot/catalogue.py: every catalogue function
called, every string scanned, every key used, every placeholder filled.

"English" is defined in tests/bot/wording.py: a run of two or more ASCII letters that is not a
command name after "/", not "QQ", and not part of what the case passed in (names, ids, quoted data).
A "{name}" placeholder of a digest entry is filled with a number before the check.
"""

from __future__ import annotations

import ast
import inspect
import re
import string
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import jinja2
import pytest
from jinja2 import nodes

from bot import catalogue
from bot.commands import registry
from bot.config import Moderation, PolicyMode
from bot.message import MessageKind
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
    group_name="AI 交流群",
    member_name="推广小王",
    member_id="wxid_spam",
    quote="兼职刷单日赚500，加V：abc1***",
    reasons=("第 2 次违规（72 小时内已满 2 次）", "广告分 1.00（处理线 0.90）", "关键词「兼职」"),
    record=12,
)
CARD = dict(
    name="Alice",
    member_id="wxid_alice",
    where="本群",
    first_day="2026-11-01",
    last_day="2026-11-25",
    messages=40,
    active_days=10,
    per_day=4.0,
    busy_hours=(21, 9),
    topics="RAG 5、微调 3",
    mentions="机构 OpenAI 2",
    questions=3,
    answers=5,
    links=2,
    sites="github.com 2",
    useful=12,
    risk="低",
    risk_why=("广告 0 条", "违规 0 次"),
    hints={"gender": "—", "age": "—"},
    occupations="教师（自述“我是一名老师”×1）",
    lead_score=37,
    lead_why=("问过「显卡」2 次",),
)

# Every public function of bot.catalogue, with representative facts. A function without a case fails.
CASES: dict[str, list[Case]] = {
    "level_name": [call("ADMIN"), call("SUPERADMIN"), call("MEMBER"), call("OWNER"), call("nonsense", data=())],
    "action_name": [call(k) for k in ("log", "warn", "kick", "undo", "add", "strike")] + [call("unknown", data=())],
    "audit_name": [call(k, data=()) for k in (*catalogue.AUDIT_NAMES, "unknown")],
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
        call("warn"),
        call("kick"),
        call("log"),
        call("kick", dry_run=True),
        call("warn", dry_run=True),
        call("other", data=()),
    ],
    "admin_report": [
        call(action="kick", dry_run=False, **REPORT),
        call(action="warn", dry_run=True, **REPORT),
        call(**{**REPORT, "reasons": ()}, action="log", dry_run=False),
    ],
    "help_line": [
        call("/kick @成员", "把成员移出本群", ("踢", "踢出")),
        call("/help", "列出你能用的命令", ("帮助", "?", "？")),
    ],
    "help_text": [call(["/help — 列出你能用的命令"], more_for_admins=True), call([], more_for_admins=False)],
    "no_permission": [call("kick", "ADMIN"), call("dryrun", "OWNER")],
    "not_on_the_bot": [call()],
    "protected_member": [call("Bob", "ADMIN"), call("Carol", "SUPERADMIN")],
    "needs_target": [call(name) for name in COMMAND_NAMES],
    "kick_reply": [call("Bob")],
    "admin_warning": [
        call("别发广告", 1),
        call("别发广告", 1, 2, 72),
        call("别发广告", 2, 2, 72),
        call("spam", 3, 2, 72),
    ],
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
    "digest_bad_range": [call("abc"), call("100h")],
    "digest_hours_out_of_range": [call(0), call(100)],
    "digest_one_member": [call()],
    "digest_member_opted_out": [call("小王")],
    "digest_period_hours": [
        call(3, datetime(2026, 11, 25, 14, 5), datetime(2026, 11, 25, 17, 5)),
        call(5, datetime(2026, 11, 24, 22, 0), datetime(2026, 11, 25, 3, 0)),
    ],
    "digest_period_week": [
        call(date(2026, 11, 23), date(2026, 11, 29), previous=False),
        call(date(2026, 11, 16), date(2026, 11, 22), previous=True),
    ],
    "digest_period_month": [call(date(2026, 3, 1), previous=False), call(date(2026, 2, 1), previous=True)],
    "digest_previous_week": [call(date(2026, 3, 2), date(2026, 3, 8))],
    "digest_previous_month": [call(date(2026, 2, 1))],
    "digest_share": [call(0.0), call(0.345), call(1.0)],
    "digest_trend_change": [call(120, 100), call(90, 100), call(5, 5), call(3, 0), call(1001, 1000)],
    "digest_trend_points": [call(0.4, 0.25), call(0.25, 0.4), call(0.3, 0.301)],
    "digest_period_between": [
        call(datetime(2026, 11, 20), datetime(2026, 11, 25)),
        call(datetime(2026, 11, 25), datetime(2026, 11, 26)),
        call(datetime(2026, 11, 25, 8, 0), datetime(2026, 11, 25, 12, 30)),
    ],
    "stats_reply": [
        call(
            "2026-11-25",
            messages=24,
            speakers=3,
            useful=5,
            ads=2,
            actions={"warn": 2, "kick": 1, "log": 1, "add": 0},
            pending=0,
        ),
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
    "lead_reason": [
        call("request", "显卡", 2),
        call("question", "显卡", 1),
        call("mention", "GPU", 3),
        call("other", "x", 1),
    ],
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
    # the digest
    "weekday_name": [call(i) for i in range(7)],
    "event_day": [
        call(d, w, 11, 28) for d, w in ((0, 2), (1, 3), (2, 4), (3, 5), (6, 1), (7, 2), (13, 1), (14, 2), (40, 0))
    ],
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


def placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def filled(text: str) -> str:
    """``text`` with every placeholder given a number, as the templates fill it ("{}" too)."""
    named = {f: 7 for f in placeholders(text) if f and not f.isdigit()}
    return text.format(*[7] * 10, **named)


def test_catalogue_constants_are_chinese() -> None:
    """Constants hold wording too; their keys are identifiers (levels, actions, labels, digest keys)."""
    for name, value in vars(catalogue).items():
        if name.isupper() and not name.startswith("_"):
            shown = value.values() if isinstance(value, Mapping) else [value]
            assert_no_english([filled(t) for t in strings_in(list(shown))])


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
    *(str(p.relative_to(ROOT)) for p in sorted((ROOT / "bot" / "digest").glob("*.py"))),
]  # fmt: skip


@pytest.mark.parametrize("rel", WORDED_ELSEWHERE)
def test_no_chinese_text_is_built_outside_the_catalogue(rel: str) -> None:
    cjk = re.compile(r"[\u4e00-\u9fff]")
    tree = ast.parse((ROOT / rel).read_text("utf-8"))
    built = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        and cjk.search(
            "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
        )
    ]
    assert not built, f"{rel} builds Chinese text on lines {built}: move it to bot/catalogue.py"


# --------------------------------------------------------------------------- every key used, filled


def code_names(folder: Path) -> list[str]:
    """Every name the code under ``folder`` reads: variables, attributes, imported names (not
    comments or docstrings, not a definition itself)."""
    found: list[str] = []
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                found.append(node.id)
            elif isinstance(node, ast.Attribute):
                found.append(node.attr)
            elif isinstance(node, ast.ImportFrom):
                found.extend(a.name for a in node.names)
    return found


TEMPLATES = sorted((ROOT / "templates").glob("*.j2"))  # the digest's, reading catalogue.DIGEST
WEB_TEMPLATES = sorted((ROOT / "templates" / "web").glob("*.j2"))  # the console's, reading catalogue.CONSOLE
WORDED_TEMPLATES = [
    pytest.param(TEMPLATES, catalogue.DIGEST, id="digest"),
    pytest.param(WEB_TEMPLATES, catalogue.CONSOLE, id="console"),
]


def template_uses(templates: list[Path] = TEMPLATES) -> tuple[set[str], dict[str, list[tuple[str, set[str]]]]]:
    """From the templates' syntax trees: the catalogue keys read as ``t.<key>``, and for each key
    every ``t.<key>.format(...)`` call's keyword names, with the template it is in."""
    env = jinja2.Environment()
    used: set[str] = set()
    calls: dict[str, list[tuple[str, set[str]]]] = {}
    for path in templates:
        tree = env.parse(path.read_text("utf-8"))
        bound = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
        assert "t" not in bound, f"{path.name} binds t: the name is the catalogue's"
        for node in tree.find_all(nodes.Getitem):
            assert not (isinstance(node.node, nodes.Name) and node.node.name == "t"), (
                f"{path.name}: t[...] hides which words it reads; write t.<key>"
            )
        for node in tree.find_all(nodes.Getattr):
            if isinstance(node.node, nodes.Name) and node.node.name == "t":
                used.add(node.attr)
        for node in tree.find_all(nodes.Call):
            target = node.node
            if (
                isinstance(target, nodes.Getattr) and target.attr == "format"
                and isinstance(target.node, nodes.Getattr) and isinstance(target.node.node, nodes.Name)
                and target.node.node.name == "t"
            ):  # fmt: skip
                assert not node.args and not node.dyn_args and not node.dyn_kwargs, (
                    f"{path.name}: t.{target.node.attr} by name only"
                )
                calls.setdefault(target.node.attr, []).append((path.name, {k.key for k in node.kwargs}))
    return used, calls


def test_every_catalogue_key_is_used() -> None:
    """Each public function and constant is read somewhere in bot/ (catalogue.py's own code
    included: a table read by a function counts), and each digest key by a template."""
    names = set(code_names(ROOT / "bot"))
    public = {
        n for n, v in vars(catalogue).items() if not n.startswith("_") and (n.isupper() or n in public_functions())
    }
    assert not sorted(public - names), "catalogue entries nothing uses: remove them or use them"


@pytest.mark.parametrize(("templates", "words"), WORDED_TEMPLATES)
def test_every_template_key_is_in_the_catalogue_and_used(templates: list[Path], words: dict[str, str]) -> None:
    """The console's Python code may read a few keys itself (``t.login_failed`` in bot/web):
    those count as used too."""
    used, _ = template_uses(templates)
    code = {
        m for p in sorted((ROOT / "bot" / "web").rglob("*.py")) for m in re.findall(r"\.(\w+)", p.read_text("utf-8"))
    }
    assert not sorted(set(words) - used - (code if words is catalogue.CONSOLE else set())), "words no template reads"
    assert not sorted(used - set(words)), "templates read words the catalogue lacks"


@pytest.mark.parametrize(("templates", "words"), WORDED_TEMPLATES)
def test_every_template_placeholder_is_filled_and_nothing_more(templates: list[Path], words: dict[str, str]) -> None:
    """A key with placeholders is only ever shown through ``.format`` with exactly those names;
    one without is never formatted. Each entry formats with dummy values."""
    used, calls = template_uses(templates)
    for key, text in words.items():
        fields = placeholders(text)
        assert all(f and not f.isdigit() for f in fields), f"{key}: placeholders are named"
        assert filled(text) != text or not fields
        for where, given in calls.get(key, []):
            assert given == fields, f"{where}: t.{key}.format({sorted(given)}) but the entry has {sorted(fields)}"
        if fields:
            source = "".join(p.read_text("utf-8") for p in templates)
            bare = re.findall(rf"\bt\.{key}\b(?!\.format)", source)
            assert not bare, f"t.{key} shown without filling {sorted(fields)}"


@pytest.mark.parametrize(("templates", "words"), WORDED_TEMPLATES)
def test_templates_hold_layout_not_words(templates: list[Path], words: dict[str, str]) -> None:
    """The words are the catalogue's: no Chinese in the templates, comments aside."""
    assert templates and words
    cjk = re.compile(r"[\u4e00-\u9fff]")
    for path in templates:
        body = re.sub(r"\{#.*?#\}", "", path.read_text("utf-8"), flags=re.S)
        found = [line for line in body.splitlines() if cjk.search(line)]
        assert not found, f"{path.name} has words of its own: {found[:3]}"


def test_the_digest_code_says_nothing_of_its_own() -> None:
    """In bot/digest, Chinese string literals are only what is read, never said: patterns
    (``re.compile``), word lists (``.split()``) and docstrings."""
    cjk = re.compile(r"[\u4e00-\u9fff]")
    for path in sorted((ROOT / "bot" / "digest").glob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        allowed: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and ast.get_docstring(node, clean=False):
                allowed.add(id(node.body[0].value))  # type: ignore[attr-defined]
            if isinstance(node, ast.Call):
                f = node.func
                if (
                    isinstance(f, ast.Attribute)
                    and f.attr in ("compile", "split")
                    or isinstance(f, ast.Name)
                    and f.id == "compile"
                ):
                    allowed.update(id(n) for a in [*node.args, f] for n in ast.walk(a))
        said = [
            node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and cjk.search(node.value) and id(node) not in allowed
        ]  # fmt: skip
        assert not said, f"{path.relative_to(ROOT)} says something on lines {said}: word it in bot/catalogue.py"


def test_every_message_kind_has_a_name() -> None:
    kinds = {k.value for k in MessageKind}
    assert set(catalogue.DIGEST_KIND_NAMES) == kinds and set(catalogue.KIND_NAMES) == kinds
