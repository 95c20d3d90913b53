"""Everything the bot says to people, in Chinese, in one file: replies, warnings, reports, help.

Wording is reviewed here and nowhere else. Handlers and the enforcement code call these functions
(or read these constants) with facts — names, counts, limits — and never build user-facing text
themselves. Nothing here does I/O. A test scans every string this module can produce for English.

Sections: shared words, moderation (decision reasons, the analyzers' reasons for people, warnings,
admin reports), commands (help, refusals, replies), profiles, outbox follow-ups, the daily digest.
The digest's templates (``templates/digest.txt.j2`` sent to chat, ``digest.html.j2`` the page)
hold only layout, emoji and punctuation: their words are :data:`DIGEST`, read there as ``t.<key>``
(``t.more.format(n=2)`` where a key has placeholders); ``bot.digest`` takes its day labels, message
kinds and stand-ins from here too, and shows stored reasons through :func:`reason_text`.

Rules for wording: Chinese throughout; ASCII only for command names after "/" (``/notspam``),
for what is passed in (names, ids, quoted text, keywords) and for "QQ". Counts never pass their
limit ("第 3 次违规（已超过上限：72 小时内 2 次）", never "3 of 2"). A report says what has
happened, not what is planned: a removal still queued is 待移出. Stored reasons may be English
diagnostics (the analyzers'); :func:`reason_text` is how people read them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta

PLACEHOLDER = "—"  # what the data does not support (a profile line with nothing to show)

# ================================================================================================
# Shared words: permission levels, actions, labels
# ================================================================================================

LEVEL_NAMES: dict[str, str] = {"MEMBER": "成员", "ADMIN": "管理员", "OWNER": "群主", "SUPERADMIN": "超级管理员"}
ACTION_NAMES: dict[str, str] = {
    "log": "记录", "warn": "警告", "kick": "移出", "undo": "撤销", "add": "重新邀请", "strike": "记违规",
}  # fmt: skip
# What a person did in the console (the audit trail, bot/store/accounts.py audit)
AUDIT_NAMES: dict[str, str] = {
    "login": "登录", "logout": "退出", "login_failed": "登录失败", "login_refused": "登录被限制",
    "undo": "撤销处理", "review_label": "审核标注",
}  # fmt: skip
MODE_NAMES: dict[str, str] = {"off": "关闭", "log": "只记录", "warn": "警告", "kick": "警告，满次数后移出"}
LABEL_NAMES: dict[str, str] = {
    "ad": "广告", "normal": "正常", "useful": "有用", "useless": "无用", "question": "提问", "answer": "回答",
    "announcement": "公告", "link_share": "分享链接", "job_post": "招聘", "request": "求助", "chitchat": "闲聊",
    "other": "其他", "skipped": "未判定",
}  # fmt: skip
KIND_NAMES: dict[str, str] = {
    "text": "文字", "image": "图片", "link": "链接", "file": "文件", "sticker": "表情", "voice": "语音",
    "video": "视频", "quote": "引用", "system": "系统消息", "other": "其他消息",
}  # fmt: skip
ENTITY_NAMES: dict[str, str] = {
    "PER": "人名", "LOC": "地点", "ORG": "机构", "URL": "链接", "EMAIL": "邮箱", "PHONE": "电话", "WECHAT": "微信号",
    "QQ": "QQ号", "MONEY": "金额", "TIME": "时间", "DATE": "日期",
}  # fmt: skip
DEMOGRAPHIC_LABELS: dict[str, str] = {"male": "男", "female": "女"}
DEMOGRAPHIC_TASKS: dict[str, str] = {"gender": "性别", "age": "年龄"}


def level_name(level: str) -> str:
    """A permission level (``bot.roles.Level`` member name, e.g. ``"ADMIN"``) in Chinese."""
    return LEVEL_NAMES.get(level.upper(), "更高")


def action_name(action: str) -> str:
    """A recorded action kind (``"warn"``, ``"kick"``…) in Chinese."""
    return ACTION_NAMES.get(action, "其他处理")


def audit_name(action: str) -> str:
    return AUDIT_NAMES.get(action, "其他操作")


def label_name(label: str) -> str:
    return LABEL_NAMES.get(label, "其他")


def _within(window_hours: int | None) -> str:
    return f"{window_hours} 小时内" if window_hours else ""


def strike_count(strike: int, limit: int | None = None, window_hours: int | None = None) -> str:
    """ "第 n 次违规", with the group's limit when it removes members. A count never reads as
    "3 of 2": a member already past the limit (re-invited, say) is "已超过上限"."""
    if limit is None:
        return f"第 {strike} 次违规"
    within = _within(window_hours)
    if strike < limit:
        return f"第 {strike} 次违规（{within}满 {limit} 次移出）"
    if strike == limit:
        return f"第 {strike} 次违规（{within}已满 {limit} 次）"
    return f"第 {strike} 次违规（已超过上限：{within + ' ' if within else ''}{limit} 次）"


# ================================================================================================
# Moderation: decision reasons (bot/moderation.py), what analyzers found (nlp reasons, for people)
# ================================================================================================


def reason_not_an_ad() -> str:
    return "不是广告"


def reason_below_threshold(score: float, threshold: float) -> str:
    return f"广告分 {score:.2f}，低于处理线 {threshold:.2f}"


def reason_ad_score(score: float, threshold: float) -> str:
    return f"广告分 {score:.2f}（处理线 {threshold:.2f}）"


def reason_moderation_off() -> str:
    return "本群未开启广告处理"


def reason_whitelisted() -> str:
    return "发送者在白名单中，不处理"


def reason_sender_is_admin() -> str:
    return "发送者是管理员，不处理"


def reason_not_corroborated() -> str:
    return "规则基线不认为是广告：只记录，不处理"


def reason_strike(strike: int, limit: int | None = None, window_hours: int | None = None) -> str:
    """A strike that is acted on (warning or removal); ``limit`` only where the group removes members."""
    return strike_count(strike, limit, window_hours)


def reason_strike_logged(strike: int) -> str:
    """A strike under a log-only policy: counted, nothing said or done."""
    return f"第 {strike} 次违规（本群只记录，不处理）"


def _who(name: str, contact_id: str) -> str:
    return contact_id if not name or name == contact_id else f"{name}（{contact_id}）"


def reason_kicked_by(name: str, contact_id: str) -> str:
    return f"管理员 {_who(name, contact_id)} 移出"


def reason_warned_by(name: str, contact_id: str, reason: str) -> str:
    return f"管理员 {_who(name, contact_id)} 警告：{reason}"


def reason_marked_by(name: str, contact_id: str) -> str:
    return f"管理员 {_who(name, contact_id)} 标为广告"


# The analyzers' reasons (nlp/rules.py, nlp/classify.py, nlp/policy.py, nlp/normalize.py) are
# English diagnostics, kept as they are in the store and in `qunzhi predict`. People read them
# through reason_text(): every known shape in Chinese, an unknown one as a Chinese generic phrase.

_SIGNALS: dict[str, str] = {  # nlp/rules.py signal labels, shown as "label" or "label <matched text>"
    "contact WeChat": "微信号", "contact QQ号": "QQ号", "contact group": "群号", "contact phone (masked)": "电话号码（打码）",
    "contact phone": "电话号码", "contact number": "疑似联系号码", "contact email": "邮箱", "contact bank account": "银行账号",
    "contact word": "联系用语", "contact": "联系方式", "price": "标价", "promo discount": "折扣", "promo": "促销用语",
    "sell": "买卖", "link (known site)": "知名网站链接", "link domain": "可疑域名或短链接", "link": "链接",
    "format 【header】": "【标题】格式", "format !!!": "连续感叹号", "format very long": "超长文",
}  # fmt: skip
_POLICIES: dict[str, str] = {"gambling offer": "赌博推广", "summons scam": "冒充公检法诈骗"}
_EVASIONS: dict[str, str] = {
    "spaced": "拆开写", "symbols": "夹杂符号", "invisible": "隐形字符", "homoglyph": "形近字", "cn-digits": "中文数字",
    "nfkc": "全角字符",
}  # fmt: skip
_FIXED: dict[str, str] = {
    "system message: not analysed": "系统消息，未分析", "system message": "系统消息", "disabled in config": "已在配置中关闭",
    "reply": "回复", "laughter": "笑声", "sticker": "表情", "no text": "没有文字", "empty": "空消息",
    "link message": "链接消息", "very long": "很长", "specifics": "含具体信息", "off topic": "与群话题无关",
    "no intent cue": "没有明显意图",
}  # fmt: skip
_WORDED: tuple[tuple[str, str], ...] = (  # "word <detail>" shapes of the useful and intent rules
    ("question", "提问（{}）"), ("request", "求助（{}）"), ("announcement", "公告（{}）"), ("answer", "回答（{}）"),
    ("laughter", "笑声"), ("phatic", "客套话"), ("greeting", "问候"), ("informative", "信息词「{}」"),
    ("short", "很短（{} 字）"), ("long", "较长（{} 字）"), ("content words", "实词 {} 个"), ("job", "招聘（{}）"),
    ("topic chars", "与群话题共有的字：{}"), ("topic", "群话题词：{}"),
)  # fmt: skip
_PROB = re.compile(r"^(rules|model) p\((\w+)\)=([0-9.]+)(?: for topic (.*) \(useful from ([0-9.]+)\))?$")
_POLICY = re.compile(r"^policy (.+?): (.+?)(?: \(model p\(ad\)=([0-9.]+)\))?$")
_EVASION = re.compile(r"^obfuscation (\S+) ?(.*?)(?: \((.*)\))?$")
UNKNOWN_REASON = "其他判定依据"


def _signal(reason: str) -> str | None:
    if m := re.fullmatch(r"format long (\d+)", reason):
        return f"长文（{m.group(1)} 字）"
    for label in sorted(_SIGNALS, key=len, reverse=True):
        if reason == label:
            return _SIGNALS[label]
        if reason.startswith(label + " "):
            return f"{_SIGNALS[label]} {reason[len(label) + 1 :]}"
    return None


def reason_text(reason: str) -> str:
    """One stored reason as people read it. Reasons written here (Chinese) pass unchanged; the
    analyzers' English shapes are translated; any other English becomes a generic phrase."""
    if not re.match(r"[A-Za-z]", reason):
        return reason
    if reason in _FIXED:
        return _FIXED[reason]
    if m := _PROB.match(reason):
        who = "规则" if m.group(1) == "rules" else "模型"
        text = f"{who}判定{label_name(m.group(2))}概率 {m.group(3)}"
        if m.group(5):
            topic = m.group(4) if m.group(4) not in ("", "(none)") else "无"
            text += f"（话题：{topic}；{m.group(5)} 起算有用）"
        return text
    if m := _POLICY.match(reason):
        text = f"专项规则「{_POLICIES.get(m.group(1), '其他')}」命中：{m.group(2)}"
        return text + (f"（模型广告概率 {m.group(3)}）" if m.group(3) else "")
    if reason.startswith("keyword "):
        return f"关键词「{reason.removeprefix('keyword ')}」"
    if m := _EVASION.match(reason):
        how = " ".join(x for x in (_EVASIONS.get(m.group(1), "变形写法"), m.group(2)) if x)
        return f"规避写法：{how}" + (f"（{reason_text(m.group(3))}）" if m.group(3) else "")
    if m := re.fullmatch(r"(?:rules|ad) p=([0-9.]+)", reason):
        return f"广告概率 {m.group(1)}"
    if m := re.fullmatch(r"rules say (\w+)(?: \((.*)\))?", reason):
        return f"规则判定为{label_name(m.group(1))}" + (f"（{reason_text(m.group(2))}）" if m.group(2) else "")
    if m := re.fullmatch(r"next (\w+) ([0-9.]+)", reason):
        return f"其次：{label_name(m.group(1))} {m.group(2)}"
    if m := re.fullmatch(r"(\w+) (without text|shared)", reason):
        kind = KIND_NAMES.get(m.group(1), "消息")
        return f"{kind}，无文字" if m.group(2) == "without text" else f"分享了{kind}"
    if m := re.fullmatch(r"undo of action (\d+)", reason):
        return f"撤销处理 #{m.group(1)}"
    if (found := _signal(reason)) is not None:
        return found
    for word, fmt in _WORDED:
        if reason.startswith(word + " "):
            return fmt.format(reason[len(word) + 1 :])
    return UNKNOWN_REASON


# ================================================================================================
# Moderation: what the member reads in the group, and the admins' report
# ================================================================================================


def member_warning(strike: int, limit: int | None = None, window_hours: int | None = None) -> str:
    """The warning in the group (the platform puts the @mention in front); ``limit`` only where
    the group removes members."""
    if limit is None:
        return f"请勿在本群发布广告（第 {strike} 次提醒）。如有误判请联系管理员。"
    left = limit - strike
    then = f"{_within(window_hours)}再有 {left} 次将被移出" if left > 0 else "再有违规将被移出"
    return f"请勿在本群发布广告（第 {strike} 次提醒，{then}）。如有误判请联系管理员。"


def member_removal_notice(strike: int) -> str:
    """Said in the group just before the member is removed."""
    return f"多次发布广告（第 {strike} 次），将被移出本群。如有误判请联系管理员。"


REPORT_ACTIONS: dict[str, str] = {"warn": "群内警告", "kick": "待移出", "log": "已记录"}


def report_action(action: str, *, dry_run: bool = False) -> str:
    """The 处理 line of a report: what is done or, for a removal, still to be done."""
    if dry_run:
        return f"演练（未执行）：本应{action_name(action)}"
    return REPORT_ACTIONS.get(action, action_name(action))


def admin_report(
    *,
    group_name: str,
    member_name: str,
    member_id: str,
    action: str,
    dry_run: bool,
    quote: str,
    reasons: Sequence[str],
    record: int,
) -> str:
    """The admins' short private report: who, what, why, and how to undo. ``reasons`` are already
    as people read them (see :func:`reason_text`)."""
    return (
        f"【群智·处理报告】{group_name}\n"
        f"成员：{member_name}（{member_id}）\n"
        f"处理：{report_action(action, dry_run=dry_run)}\n"
        f"消息：{quote}\n"
        f"原因：{'；'.join(reasons) or PLACEHOLDER}\n"
        f"撤销：在群里发送 /notspam @{member_name}（记录 #{record}）"
    )


# ================================================================================================
# Commands: help, refusals and replies (bot/commands.py)
# ================================================================================================

# Each command's usage line and one-line summary, by command name. Command names (/kick) are
# ASCII by design; help shows each command's Chinese aliases beside it.
COMMAND_HELP: dict[str, tuple[str, str]] = {
    "help": ("/help", "列出你能用的命令"),
    "kick": ("/kick @成员", "把成员移出本群"),
    "warn": ("/warn @成员 [原因]", "警告成员（记一次违规）"),
    "spam": ("/spam（引用消息）或 /spam @成员", "标为广告：记为训练数据并按群策略处理"),
    "notspam": (
        "/notspam（引用消息）或 /notspam @成员",
        "撤销误判：恢复成员记录（被移出的重新邀请入群），记为训练数据",
    ),
    "whitelist": ("/whitelist @成员", "加入白名单：永不被自动处理"),
    "unwhitelist": ("/unwhitelist @成员", "移出白名单"),
    "digest": (
        "/digest [今天|昨天|2026-11-24|3h|本周|上周] [@成员]",
        "现在发本群的摘要：某天（默认今天到目前）、最近 N 小时（1–72）、本周或上周；@成员 只看该成员的发言和参与的讨论",
    ),
    "stats": ("/stats", "本群今天的数字"),
    "profile": ("/profile @成员", "成员画像：活跃、话题、角色、广告风险、线索分"),
    "optout": ("/optout", "不再为你做画像，日报也不引用你的话"),
    "optin": ("/optin", "恢复为你做画像（从现在起）"),
    "policy": ("/policy", "本群的处理策略"),
    "dryrun": ("/dryrun 开|关|默认", "演练模式：只记录不执行"),
}


def help_line(usage: str, summary: str, aliases: Sequence[str] = ()) -> str:
    """One command in /help: usage — summary, then its aliases (punctuation-only ones left out)."""
    shown = [f"/{a}" for a in aliases if any(c.isalnum() for c in a)]
    return f"{usage} — {summary}" + (f"；也可用 {'、'.join(shown)}" if shown else "")


def help_text(lines: Sequence[str], *, more_for_admins: bool) -> str:
    head = "群智可用命令（以 / 开头，或 @群智 后跟命令）："
    tail = ["其余命令需要管理员权限。"] if more_for_admins else []
    return "\n".join([head, *lines, *tail])


def no_permission(command: str, level: str) -> str:
    return f"抱歉，/{command} 需要{level_name(level)}权限。"


def not_on_the_bot() -> str:
    return "不能对机器人自己执行此操作。"


def protected_member(name: str, level: str) -> str:
    return f"{name} 是{level_name(level)}，不能对其执行此操作。"


def needs_target(command: str) -> str:
    return f"请 @ 一位成员，例如：/{command} @张三"


def kick_reply(name: str) -> str:
    return f"好的，正在将 {name} 移出本群。"


DEFAULT_WARN_REASON = "请遵守群规"


def admin_warning(reason: str, strike: int, limit: int | None = None, window_hours: int | None = None) -> str:
    """An admin's /warn as the member reads it in the group; ``limit`` only where the group removes
    members. A count at or past the limit says so instead of "n of m"."""
    if limit is None:
        return f"管理员警告：{reason}（第 {strike} 次）"
    within = _within(window_hours)
    if strike < limit:
        return f"管理员警告：{reason}（第 {strike} 次，{within}满 {limit} 次将被移出）"
    return f"管理员警告：{reason}（第 {strike} 次，已达{' ' + within if within else ''} {limit} 次的上限，再有违规将被移出）"


def warn_reply(name: str, strike: int) -> str:
    return f"已警告 {name}（第 {strike} 次）。"


def spam_needs_quote() -> str:
    return "请引用那条消息发送 /spam，或 /spam @成员（处理其最近一条消息）。"


def spam_recorded_only(name: str) -> str:
    """/spam in a group whose moderation is off."""
    return f"已记为广告（训练数据）。本群未开启自动处理，{name} 未被处理。"


def spam_already_handled(name: str) -> str:
    return f"已记为广告（训练数据）。{name} 之前的处理仍然有效。"


SPAM_OUTCOMES: dict[str, str] = {"warn": "已警告", "kick": "将被移出", "log": "已记录"}


def spam_done(name: str, action: str, *, dry_run: bool, reason: str) -> str:
    """/spam's reply: what the group's policy made of it; ``reason`` as people read it."""
    done = SPAM_OUTCOMES.get(action, action_name(action))
    drill = "（演练模式，未执行）" if dry_run else ""
    return f"已记为广告。{name}：{done}{drill}，{reason}。"


def notspam_needs_quote() -> str:
    return "请引用那条消息发送 /notspam，或 /notspam @成员。"


def notspam_nothing_to_undo(name: str, *, recorded: bool) -> str:
    return ("已记为非广告（训练数据）。" if recorded else "") + f"{name} 没有需要撤销的处理。"


def notspam_done(name: str, undone: int, strikes_left: int, *, reinvited: bool) -> str:
    tail = "，已重新邀请对方入群" if reinvited else ""
    return f"已撤销对 {name} 的 {undone} 项处理并记为误判，当前违规 {strikes_left} 次{tail}。"


def whitelist_done(names: Sequence[str], *, on: bool) -> str:
    return ("已加入白名单：" if on else "已移出白名单：") + "、".join(names)


def digest_bad_date(given: str) -> str:
    return f"看不懂日期「{given}」：请写成 2026-11-24 这样的日期，或“今天”“昨天”“前天”。"


def digest_future_day() -> str:
    return "那一天还没到。"


DIGEST_MAX_HOURS = 72  # "/digest 3h": 1 to this many hours


def digest_bad_range(given: str) -> str:
    return (
        f"看不懂「{given}」：可以写 今天、昨天、前天、2026-11-24、3h（1–{DIGEST_MAX_HOURS} 小时）、本周、上周、本月、上月，"
        "或 @成员（该成员当天的摘要）。"
    )


def digest_hours_out_of_range(hours: int) -> str:
    return f"小时数 {hours} 不行：请写 1 到 {DIGEST_MAX_HOURS} 之间，比如 /digest 3h。"


def digest_one_member() -> str:
    return "一次只能看一位成员的摘要：请只 @ 一个人。"


def digest_member_opted_out(name: str) -> str:
    return f"{name} 已退出画像，不生成个人摘要。"


def digest_period_hours(hours: int, since: datetime, until: datetime) -> str:
    """The header of "/digest 3h": "最近 3 小时（11/28 14:05–17:05）" (local times)."""
    end = f"{until:%H:%M}" if since.date() == until.date() else f"{until.month}/{until.day} {until:%H:%M}"
    return f"最近 {hours} 小时（{since.month}/{since.day} {since:%H:%M}–{end}）"


def digest_period_week(monday: date, sunday: date, *, previous: bool) -> str:
    """The header of a week's digest: "本周（11/23–11/29）", "上周（11/16–11/22）"."""
    return f"{'上周' if previous else '本周'}（{monday.month}/{monday.day}–{sunday.month}/{sunday.day}）"


def digest_period_month(first: date, *, previous: bool) -> str:
    """The header of a month's digest: "本月（2026 年 3 月）", "上月（2026 年 2 月）"."""
    return f"{'上月' if previous else '本月'}（{first.year} 年 {first.month} 月）"


def digest_previous_week(monday: date, sunday: date) -> str:
    """The week a week's digest is compared with: "3/2–3/8"."""
    return f"{monday.month}/{monday.day}–{sunday.month}/{sunday.day}"


def digest_previous_month(first: date) -> str:
    """The month a month's digest is compared with: "2026 年 2 月"."""
    return f"{first.year} 年 {first.month} 月"


# A week's or a month's digest against the previous period (templates: t.trends, t.trend_before)
DIGEST_TREND_NAMES: dict[str, str] = {
    "messages": "消息",
    "speakers": "发言人",
    "useful_share": "有用占比",
    "ads": "广告",
}


def digest_trend_change(now: int, before: int) -> str:
    """A count against the previous period's: "↑ 12%", "↓ 5%", "持平", "上期为 0"."""
    if now == before:
        return "持平"
    if before == 0:
        return "上期为 0"
    pct = round(abs(now - before) * 100 / before)
    return f"{'↑' if now > before else '↓'} {pct}%" if pct else ("略增" if now > before else "略减")


def digest_share(share: float) -> str:
    """A share 0..1 as a whole percent: "34%"."""
    return f"{round(share * 100)}%"


def digest_trend_points(now: float, before: float) -> str:
    """A share against the previous period's, in percentage points: "↑ 3 个百分点", "持平"."""
    points = round((now - before) * 100)
    if points == 0:
        return "持平"
    return f"{'↑' if points > 0 else '↓'} {abs(points)} 个百分点"


def digest_period_between(since: datetime, until: datetime) -> str:
    """The header of any range (local ends): whole days as "2026-11-20 至 2026-11-24" (the last day
    included), else "2026-11-25 08:00–12:00", or "2026-11-24 20:00 至 2026-11-25 08:00"."""
    if since.time() == until.time() == datetime.min.time() and until > since:
        last = (until - timedelta(days=1)).date()
        return since.date().isoformat() if last == since.date() else f"{since.date().isoformat()} 至 {last.isoformat()}"
    if since.date() == until.date():
        return f"{since:%Y-%m-%d %H:%M}–{until:%H:%M}"
    return f"{since:%Y-%m-%d %H:%M} 至 {until:%Y-%m-%d %H:%M}"


def stats_reply(
    day: str, *, messages: int, speakers: int, useful: int, ads: int, actions: Mapping[str, int], pending: int
) -> str:
    """/stats: one day's numbers; ``actions`` counts recorded actions by kind (``"warn"``…)."""
    order = [*ACTION_NAMES, *sorted(set(actions) - set(ACTION_NAMES))]
    done = "，".join(f"{action_name(k)} {actions[k]}" for k in order if actions.get(k)) or "无"
    return (
        f"今天（{day}）：{messages} 条消息，{speakers} 人发言；"
        f"有用 {useful} 条，广告 {ads} 条；处理：{done}；待分析 {pending} 条。"
    )


def optout_done() -> str:
    return "好的，已为你退出画像（所有群）：你的画像已删除，今后不再分析，日报也不引用你的发言。消息仍会保存并照常审核。发 /optin 可恢复。"


def optin_done() -> str:
    return "好的，已恢复画像：从现在起的发言会计入你的画像。发 /optout 可随时退出。"


def policy_reply(
    *,
    mode: str,
    threshold: float,
    kick_after: int,
    window_hours: int,
    corroborate: bool,
    dry_run: bool,
    set_in_group: bool,
    report: bool,
) -> str:
    """/policy: the group's moderation settings. ``mode`` is a ``PolicyMode`` value."""
    shown = f"警告，{window_hours} 小时内 {kick_after} 次移出" if mode == "kick" else MODE_NAMES.get(mode, "未知")
    return (
        f"广告处理：{shown}；判为广告的分数线 {threshold:.2f}；"
        f"{'需要规则基线也判为广告才处理' if corroborate else '模型判定即处理'}；"
        f"演练模式：{'开' if dry_run else '关'}{'（群内设置）' if set_in_group else '（配置）'}；"
        f"向管理员报告：{'是' if report else '否'}。"
    )


def dryrun_usage() -> str:
    return "用法：/dryrun 开|关|默认"


def dryrun_done(on: bool) -> str:
    return f"演练模式已{'开启：只记录，不警告不移出' if on else '关闭：按策略执行'}。"


# ================================================================================================
# Profiles: what /profile (and `qunzhi profile`) shows (bot/profile_view.py)
# ================================================================================================

RISK_HIGH, RISK_MEDIUM, RISK_LOW = "高", "中", "低"
LEAD_KINDS: dict[str, str] = {
    "request": "询价/求购「{}」{} 次",
    "question": "问过「{}」{} 次",
    "mention": "提到「{}」{} 次",
}


def lead_reason(kind: str, what: str, count: int) -> str:
    """One reason of a lead score: ``kind`` is ``request``, ``question`` or ``mention``."""
    return LEAD_KINDS.get(kind, "提到「{}」{} 次").format(what, count)


def lead_cues(words: Iterable[str]) -> str:
    return "询价用语：" + "、".join(words)


def risk_reasons(
    *, ads: int, strikes: int, mean: float, top: float, burst_hours: int, burst_messages: int, burst_ads: int
) -> tuple[str, ...]:
    return (
        f"广告 {ads} 条", f"违规 {strikes} 次", f"广告分均值 {mean:.2f}、最高 {top:.2f}",
        f"入群 {burst_hours} 小时内 {burst_messages} 条（广告 {burst_ads}）",
    )  # fmt: skip


def demographic_hint(label: str, confidence: float) -> str:
    return f"{DEMOGRAPHIC_LABELS.get(label, label)}（{confidence:.2f}）"


def occupation(job: str, cue: str, count: int) -> str:
    return f"{job}（自述“{cue}”×{count}）"


def entity_mention(entity_type: str, text: str, count: int) -> str:
    """A thing a member mentioned, by kind (``PER``, ``ORG``…), for the profile's 提到 line."""
    return f"{ENTITY_NAMES.get(entity_type, '其他')} {text} {count}"


def profile_where(groups: int | None) -> str:
    """Where a profile was counted: this group (None) or across ``groups`` groups."""
    return "本群" if groups is None else f"{groups} 个群"


def profile_card(
    *,
    name: str,
    member_id: str,
    where: str,
    first_day: str,
    last_day: str,
    messages: int,
    active_days: int,
    per_day: float,
    busy_hours: Sequence[int],
    topics: str,
    mentions: str,
    questions: int,
    answers: int,
    links: int,
    sites: str,
    useful: int,
    risk: str,
    risk_why: Sequence[str],
    hints: Mapping[str, str],
    occupations: str,
    lead_score: int,
    lead_why: Sequence[str],
) -> str:
    """The profile in a few short lines. Lists (topics, mentions, sites, occupations) come joined;
    ``hints`` maps a demographic task (``gender``, ``age``) to what is shown."""
    hours = "、".join(f"{h}点" for h in busy_hours) or PLACEHOLDER
    lines = [
        f"{name}（{member_id}）· {where}",
        f"活跃：{first_day} 至 {last_day}，共 {messages} 条，活跃 {active_days} 天，日均 {per_day:.1f} 条；常在 {hours}",
        f"话题：{topics}",
        f"提到：{mentions}",
        f"角色：提问 {questions}，回答他人 {answers}，分享链接 {links}{f'（{sites}）' if sites else ''}，有用 {useful}",
        f"广告风险：{risk} — " + "，".join(risk_why),
        "画像线索："
        + "，".join(f"{DEMOGRAPHIC_TASKS.get(k, k)} {v}" for k, v in hints.items())
        + f"；职业 {occupations}",
        f"线索分：{lead_score}" + (" — " + "；".join(lead_why) if lead_why else "（无产品关键词相关发言）"),
    ]
    return "\n".join(lines)


def profile_opted_out(member_id: str) -> str:
    return f"{member_id} 已选择退出画像（/optout）：不做分析，也不展示。"


def profile_missing(name: str) -> str:
    return f"{name} 在本群还没有画像（没有发过言，或消息还在分析）。"


# ================================================================================================
# Outbox follow-ups (what is said once an operation is done)
# ================================================================================================


def kick_done(*, group_name: str, member_name: str, member_id: str, record: int) -> str:
    """The admins' follow-up once a removal reported as 待移出 has really happened (sent only then)."""
    return (
        f"【群智·处理结果】{group_name}\n"
        f"成员：{member_name}（{member_id}）\n"
        f"处理：已移出\n"
        f"撤销：在群里发送 /notspam @{member_name}（记录 #{record}）"
    )


# ================================================================================================
# The daily digest (templates/digest.txt.j2, templates/digest.html.j2, bot/digest/)
# ================================================================================================
# A digest is delivered as its rendered parts, with nothing said around them.

WEEKDAY_NAMES: tuple[str, ...] = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
NEAR_DAY_NAMES: dict[int, str] = {0: "今天", 1: "明天", 2: "后天"}  # by days from the digest's day
DIGEST_KIND_NAMES: dict[str, str] = {
    "text": "文字", "image": "图片", "link": "链接", "file": "文件", "sticker": "表情", "voice": "语音", "video": "视频",
    "quote": "引用", "system": "系统", "other": "其他",
}  # fmt: skip
LINK_STAND_IN = "[链接]"  # an ad's link, never shown
HIDDEN_MEMBER = "群友"  # who "@name" becomes when that member opted out


def weekday_name(weekday: int) -> str:
    """``date.weekday()`` (0 is Monday) as "周一"…"周日"."""
    return WEEKDAY_NAMES[weekday % 7]


def event_day(days_ahead: int, weekday: int, month: int, day: int) -> str:
    """When an event is, from the digest's day: "今天", "明天", "后天", "周六 11/28" within the
    week, "下周三 12/2" the week after, else "12/25"."""
    if days_ahead in NEAR_DAY_NAMES:
        return NEAR_DAY_NAMES[days_ahead]
    md = f"{month}/{day}"
    if 0 < days_ahead < 7:
        return f"{weekday_name(weekday)} {md}"
    if 7 <= days_ahead < 14:
        return f"下{weekday_name(weekday)} {md}"
    return md


# The image card (bot/digest/card.py) draws the words below with Python, not a template: what ends a
# card cut at its height limit. Its other words are the templates' (DIGEST).
CARD_MORE = "完整内容见文字版"

# The templates' words, by key. A "{name}" is filled in by the template (``t.more.format(n=2)``);
# emoji, markup and punctuation between the pieces stay in the templates.
DIGEST: dict[str, str] = {
    # both templates
    "daily": "群日报",
    "range_digest": "群摘要",  # any range but one day ("最近 3 小时", "本周（11/23–11/29）")
    "member_digest": "成员 {name}",  # a member digest: their messages and the threads they took part in
    "quiet_range": "这段时间群里很安静，没有消息。",
    "signature": "群智日报",
    "quiet": "今天群里很安静，没有消息。",
    "pending": "还有 {n} 条消息尚未分析，统计可能偏少",
    "threads": "热门讨论",
    "trends": "环比",  # a week or a month against the one before
    "trend_before": "上期",
    "best_threads": "本期最佳讨论",
    "events": "日程",
    "announcements": "公告",
    "unanswered": "待解答",
    "untitled": "（无标题）",
    "more": "另有 {n} 条",
    "n_items": "{n} 条",
    # the text sent to chat
    "n_people": "{n} 人",
    "useful_n": "有用 {n}",
    "questions_n": "提问 {n}（已答 {answered}）",
    "ads_n": "广告 {n}",
    "thread_size": "（{people}人·{replies}回复）",
    "links_brief": "链接",
    "ads_blocked": "拦截广告 {n} 条，例：",
    "contributors_key": "（有用/发言）",
    # the HTML page
    "overview": "概览",
    "messages": "消息",
    "speakers": "发言人",
    "useful": "有用",
    "other": "其他",
    "ads": "广告",
    "discussions": "讨论",
    "answered_questions": "已答提问",
    "merged": "合并重复 {n} 条",
    "activity": "各时段消息",
    "activity_alt": "每小时消息数：",
    "hour_n": "{hour}时 {n}",
    "topics": "今日话题",
    "topics_alt": "话题：",
    "taking_part": "{n} 人参与",
    "n_replies": "{n} 条回复",
    "answered_by": "回答：",
    "more_threads": "另有 {n} 个讨论",
    "deadline": "截止",
    "links": "链接分享",
    "all_links": "共 {n} 个链接",
    "ads_heading": "广告拦截",
    "confidence": "可信度",
    "contributors": "活跃成员",
    "useful_of_total": "有用 {useful} / 共 {total}",
    # topic clusters (both templates and the card)
    "cluster_size": "{n} 条",
    "cluster_people": "参与：",
    "cluster_best": "代表发言",
    "cluster_messages": "全部 {n} 条",
    "llm_summary_mark": "（由模型概括）",
    "llm_sources": "依据：",
    "keywords": "关键词",
    # headings naming what a digest covers (DigestData.scope): a day's are "daily", "topics" and
    # "signature" above; a member digest is signed as a summary
    "weekly": "群周报",
    "monthly": "群月报",
    "topics_range": "这段时间的话题",
    "topics_week": "这一周的话题",
    "topics_month": "这个月的话题",
    "signature_range": "群智摘要",
    "signature_week": "群智周报",
    "signature_month": "群智月报",
}

# A person's briefing across their groups (bot/briefing.py): templates/briefing.*.j2 read these as
# ``b.<key>`` (the words they share with the digest, as ``t.<key>``), and the card draws them.
BRIEFING: dict[str, str] = {
    "title": "我的群简报",
    "signature": "群智简报",
    "overview": "{groups} 个群 · {active} 个有消息 · 共 {n} 条",
    "empty": "你的群这段时间都很安静，没有新消息。",
    "threads": "各群要点",
    "for_you": "找你的",
    "replied": "已回复",
    "waiting": "待你回复",
    "links": "值得一看",
    "quiet": "其他群",
    "quiet_line": "{n} 条 · {people} 人发言 · 有用 {useful}",
    "no_messages": "没有新消息",
}


# ================================================================================================
# The console (qunzhi web: templates/web/*.j2, bot/web/)
# ================================================================================================
# The pages' words, by key, read there as ``t.<key>`` (``t.n_messages.format(n=3)``). Markup and
# punctuation stay in the templates. One block per page; keys are unique across the console.

CONSOLE: dict[str, str] = {
    # every page (base.html.j2)
    "console": "群智控制台",
    "nav_overview": "总览",
    "nav_review": "待审核",
    "nav_moderation": "处理记录",
    "nav_members": "成员与线索",
    "nav_search": "搜索",
    "nav_checker": "检测器",
    "logout": "退出",
    "logged_in_as": "当前用户：{name}",
    "role_superadmin": "超级管理员",
    "role_admin": "管理员",
    "theme": "深色/浅色",
    "skip_to_content": "跳到正文",
    "back": "返回",
    "previous_page": "上一页",
    "next_page": "下一页",
    # login (login.html.j2)
    "login": "登录",
    "username": "用户名",
    "password": "密码",
    "login_failed": "用户名或密码不对。",
    "login_limited": "尝试次数过多，请 {minutes} 分钟后再试。",
    "logged_out": "已退出登录。",
    # errors (error.html.j2)
    "error_title": "出错了",
    "error_403": "没有权限：这不是你管理的群，或表单已过期（请刷新页面再试）。",
    "error_404": "找不到这个页面或记录。",
    "error_other": "请求没有完成：{detail}",
    # overview (overview.html.j2)
    "overview_title": "今日总览",
    "overview_day": "{day} 总览",
    "previous_day": "前一天",
    "next_day": "后一天",
    "today": "今天",
    "no_messages_today": "今天还没有消息，下面是最近有消息的一天。",
    "bot_state": "机器人状态",
    "bot_connected": "在线（{platform}，{self_id}）",
    "bot_disconnected": "已启动，未连接（{platform}）",
    "bot_not_running": "未运行：用 {command} 启动",
    "last_heartbeat": "最近心跳 {when}",
    "outbox_depth": "待发送 {n} 条",
    "group": "群",
    "messages_today": "消息",
    "speakers_today": "发言人",
    "useful_today": "有用",
    "ads_today": "广告",
    "actions_today": "处理",
    "backlog": "待分析",
    "no_groups": "还没有群：{command} 存入消息后，这里会列出各群。",
    "your_groups_only": "只显示你管理的群。",
    # group (group.html.j2)
    "group_moderation_link": "查看本群的处理记录",
    "group_activity": "{day} 的活动",
    "group_fell_back": "今天还没有消息，这里是最近有消息的一天。",
    "group_policy": "广告处理策略",
    "group_topic": "群话题",
    "group_no_topic": "未设置",
    "group_mode": "处理方式",
    "group_mode_off": "关闭",
    "group_mode_log": "只记录",
    "group_mode_warn": "警告",
    "group_mode_kick": "警告，满次数后移出",
    "group_threshold": "广告分数线",
    "group_strikes": "移出条件",
    "group_strikes_value": "{hours} 小时内违规 {n} 次",
    "group_corroborate": "需要规则基线也判为广告",
    "group_report": "向管理员报告",
    "group_dry_run": "演练模式",
    "group_dry_run_in_group": "（群内用 {command} 设置）",
    "group_dry_run_configured": "（配置文件）",
    "group_yes": "是",
    "group_no": "否",
    "group_on": "开",
    "group_off": "关",
    "group_digests": "日报存档",
    "group_digest_day": "日期",
    "group_digest_sent": "发送时间",
    "group_digest_not_sent": "未发送",
    "group_digest_versions": "查看",
    "group_digest_text": "文字版",
    "group_digest_html": "网页版",
    "group_no_digests": "还没有存下的日报：{command} 生成后会列在这里。",
    "group_members": "成员（{n} 人）",
    "group_member": "成员",
    "group_member_messages": "消息数",
    "group_first_seen": "首次发言",
    "group_last_seen": "最近发言",
    "group_member_flags": "标记",
    "group_whitelisted": "白名单",
    "group_opted_out": "已退出画像",
    "group_no_members": "还没有成员记录。",
    "digest_title": "{name} · {day} 日报",
    "digest_back_to_group": "返回群页面",
    # moderation log (moderation.html.j2)
    "mod_title": "处理记录",
    "mod_total": "共 {n} 条",
    "mod_all_groups": "全部群",
    "mod_kind": "处理类型",
    "mod_all_kinds": "全部类型",
    "mod_filter": "筛选",
    "mod_time": "时间",
    "mod_member": "成员",
    "mod_action": "处理",
    "mod_by": "操作人",
    "mod_by_bot": "机器人",
    "mod_by_console": "控制台：{name}",
    "mod_by_admin": "管理员：{name}",
    "mod_verdict": "判定与理由",
    "mod_message": "消息",
    "mod_no_message": "无对应消息",
    "mod_purged": "（已按保留期限清除）",
    "mod_state": "状态",
    "mod_dry_run": "演练",
    "mod_strike": "计违规",
    "mod_is_undo": "撤销记录",
    "mod_undone_at": "已于 {when} 撤销",
    "mod_standing": "有效",
    "mod_logged_only": "仅记录",
    "mod_undo": "撤销",
    "mod_undo_done": "已撤销对 {name} 的 {n} 项处理并记为误判，当前违规 {left} 次。",
    "mod_undo_reinvited": "已安排重新邀请对方入群。",
    "mod_undo_nothing": "{name} 的这项处理已经撤销过，没有再做改动。",
    "mod_empty": "没有符合条件的处理记录。",
    "mod_audit_link": "控制台操作记录",
    "mod_back_to_log": "返回处理记录",
    "mod_audit_title": "控制台操作记录",
    "mod_audit_note": "最近 {n} 条：谁在控制台做了什么。",
    "mod_audit_who": "操作人",
    "mod_audit_what": "操作",
    "mod_audit_target": "对象",
    "mod_audit_detail": "详情",
    "mod_audit_empty": "还没有控制台操作记录。",
    # review queue (review.html.j2)
    "review_title": "待审核",
    "review_intro": "机器提出，人来决定：模型与规则基线意见不一的、只记录未处理的模型广告判断、接近判定线的判断，"
    "最拿不准的排在最前。每条点一下即记为管理员更正，作为下一次训练的数据（同一条消息以最后一次标注为准）。",
    "review_waiting": "等待下一次训练的更正：{n} 条",
    "review_waiting_since": "当前模型训练于 {day}，当天及之后记录的更正都计入。用 {command} 重新训练。",
    "review_waiting_no_date": "找不到当前模型的训练日期，计入的是全部更正。用 {command} 训练。",
    "review_group": "群",
    "review_all_groups": "全部群",
    "review_show": "筛选",
    "review_keys": "快捷键",
    "review_key_next": "下一条",
    "review_key_previous": "上一条",
    "review_empty": "没有待审核的消息。",
    "review_sender": "发送者",
    "review_time": "时间",
    "review_why": "为什么要审核",
    "review_why_disagree": "模型判为{model}，规则基线判为{rules}",
    "review_why_logged": "只有模型判为广告，规则基线不认同：只记录，未处理",
    "review_why_near_ad": "广告概率 {p} 接近本群处理线 {threshold}",
    "review_why_near_useful": "有用概率 {p} 接近判定线 {threshold}",
    "review_verdicts": "各项判断",
    "review_analyzer": "判断",
    "review_label": "结论",
    "review_score": "分数",
    "review_reasons": "依据",
    "review_analyzer_ad": "广告",
    "review_analyzer_ad_rules": "广告（规则基线）",
    "review_analyzer_useful": "有用",
    "review_analyzer_intent": "意图",
    "review_analyzer_other": "其他",
    "review_mark": "标注为",
    "review_mark_ad": "广告",
    "review_mark_normal": "不是广告",
    "review_mark_useful": "有用",
    "review_mark_useless": "无用",
    "review_recorded": "已记录，谢谢。",
    "review_failed": "没有记录成功，请刷新页面再试。",
    # members and leads (members.html.j2, member.html.j2)
    "members_title": "成员与线索",
    "members_all_groups": "全部群",
    "members_min_lead": "线索分不低于",
    "members_min_risk": "广告风险",
    "members_any_risk": "不限",
    "members_risk_medium_up": "中及以上",
    "members_risk_high_only": "仅高",
    "members_topic": "话题词",
    "members_search": "名字或账号",
    "members_apply": "筛选",
    "members_reset": "清除筛选",
    "members_export": "导出表格",
    "members_count": "共 {n} 人",
    "members_col_name": "成员",
    "members_col_lead": "线索分",
    "members_col_risk": "广告风险",
    "members_col_messages": "消息",
    "members_col_active_days": "活跃天数",
    "members_col_last_seen": "最近发言",
    "members_col_topics": "话题",
    "members_col_roles": "角色",
    "members_sorted_asc": "（升序）",
    "members_sorted_desc": "（降序）",
    "members_none": "没有符合条件的成员。",
    "members_opted_out_note": "选择退出画像的成员不会列出，也不会导出。",
    "members_lead_setting": "线索分按产品关键词计算（配置 {setting}，或群的 {group_setting}）。",
    "members_no_lead_reasons": "无产品关键词相关发言",
    "members_roles": "提问 {questions}，回答他人 {answers}，分享链接 {links}，有用 {useful}，广告 {ads}",
    "members_list_separator": "；",
    "members_topic_separator": "、",
    "members_csv_group": "群名",
    "members_csv_group_id": "群号",
    "members_csv_name": "成员",
    "members_csv_member_id": "成员账号",
    "members_csv_lead": "线索分",
    "members_csv_lead_reasons": "线索依据",
    "members_csv_risk": "广告风险",
    "members_csv_risk_reasons": "风险依据",
    "members_csv_messages": "消息数",
    "members_csv_active_days": "活跃天数",
    "members_csv_last_seen": "最近发言",
    "members_csv_topics": "话题",
    "members_csv_roles": "角色",
    "member_title": "{name} · {group}",
    "member_back": "返回成员列表",
    "member_whitelisted": "白名单成员",
    "member_lead": "线索分 {score}",
    "member_risk": "广告风险：{level}",
    "member_strikes": "违规 {n} 次（未撤销）",
    "member_activity": "活跃",
    "member_span": "{first} 至 {last}",
    "member_first_last": "首次 / 最近发言",
    "member_messages": "消息",
    "member_active_days": "活跃天数",
    "member_per_day": "日均",
    "member_busy_hours": "常在",
    "member_hour": "{hour}点",
    "member_topics": "话题",
    "member_mentions": "提到",
    "member_roles": "角色",
    "member_sites": "分享的网站",
    "member_hints": "画像线索",
    "member_occupation": "职业",
    "member_hints_note": "性别、年龄的提示只在测得足够准时显示；“—”表示数据不足以支持。",
    "member_timeline": "动态",
    "member_timeline_note": "提问、回答、分享链接和对其的处理，最新的在前。",
    "member_timeline_empty": "还没有提问、回答、链接或处理记录。",
    "member_kind_question": "提问",
    "member_kind_answer": "回答他人",
    "member_kind_link": "分享链接",
    "member_kind_action": "处理",
    "member_purged": "（原文已按保留期限清除）",
    "member_dry_run": "演练，未实际执行",
    "member_undone": "已撤销 {when}",
    "member_by": "由 {who} 操作",
    "member_by_bot": "机器人自动处理",
    "member_verdict": "判定：{label} {score}",
    # search (search.html.j2)
    "search_title": "消息搜索",
    "search_query": "关键词",
    "search_query_hint": "多个词用空格分开，须全部出现",
    "search_all_groups": "全部群",
    "search_member": "成员",
    "search_member_hint": "微信号或发言时的昵称",
    "search_since": "从",
    "search_until": "到",
    "search_verdict": "判定",
    "search_any_verdict": "不限",
    "search_submit": "搜索",
    "search_total": "共 {n} 条，按时间从新到旧",
    "search_none": "没有找到符合条件的消息。",
    "search_start": "输入关键词，或选择群、成员、日期、判定来列出消息。已按保留期限清除的消息不会出现在结果里。",
    "search_catching_up": "还有较早的消息正在建立索引，可能暂时搜不到，稍后再搜一次。",
    "search_time": "时间",
    "search_sender": "发送者",
    "search_message": "消息",
    "search_verdicts": "判定",
    "search_quote": "引用：",
    "search_command": "命令",
    # checker (checker.html.j2)
    "checker_title": "消息检测",
    "checker_intro": "粘贴一条消息、填上群话题，查看每一项判定、识别出的实体和理由。检测结果不会保存。",
    "checker_text": "消息内容",
    "checker_topic": "群话题",
    "checker_topic_hint": "可从你管理的群的话题中选择，也可自行填写；判断消息是否有用时参考。",
    "checker_submit": "检测",
    "checker_empty": "请先输入要检测的消息。",
    "checker_too_long": "消息最多 {n} 个字，话题最多 {topic_n} 个字。",
    "checker_verdicts": "判定",
    "checker_topic_was": "话题：{topic}",
    "checker_no_topic": "无",
    "checker_task": "判定项",
    "checker_task_ad": "广告",
    "checker_task_ad_rules": "广告（规则基线）",
    "checker_task_useful": "是否有用",
    "checker_task_intent": "意图",
    "checker_label": "结果",
    "checker_score": "可信度",
    "checker_probs": "各项概率",
    "checker_reasons": "理由",
    "checker_model": "判定依据版本：{version}",
    "checker_entities": "实体",
    "checker_entity_type": "类型",
    "checker_entity_text": "原文",
    "checker_entity_value": "规范写法",
    "checker_entity_where": "位置",
    "checker_entity_source": "来源",
    "checker_source_pattern": "规则匹配",
    "checker_source_ner": "模型识别",
    "checker_no_entities": "没有识别出实体。",
}
