"""Admin commands in the group: parsing, a registry with permission levels, and the built-ins.

A command is a group message that starts with a prefix (``/kick``, ``／踢``) or that @-mentions the
bot and starts with a command name (``@群智 kick @x``). Targets are the contacts @-mentioned in it
(by id, as the platform reports them) or, for ``spam``/``notspam``, the quoted message. Levels
come from ``bot.roles`` (contact ids, never display names); a member without rights gets a plain
refusal and nothing else happens.

Handlers run on a worker thread with the store; whatever they make the bot say or do is queued in
the outbox in the same transaction as what they record. Admin commands are carried out even when
the group is in dry run: dry run holds back the bot's own decisions, not an admin's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from sqlalchemy.orm import Session, sessionmaker

from bot.config import Config, PolicyMode
from bot.daily import make_digest
from bot.digest import day_bounds
from bot.enforcement import carry_out
from bot.message import GroupMessage
from bot.outbox import Outbox
from bot.pipeline import moderate_one
from bot.profile_view import describe
from bot.profiles import set_opted_out
from bot.roles import Level, effective_dry_run, level_of
from bot.store import queries
from nlp.verdict import Verdict

LEVEL_NAMES = {Level.MEMBER: "成员", Level.ADMIN: "管理员", Level.OWNER: "群主", Level.SUPERADMIN: "超级管理员"}
AT_SEPARATORS = "\u2005\u2004 \t"


@dataclass(frozen=True, slots=True)
class Invocation:
    """A parsed command: which one, the words after it, and the contacts it targets."""

    name: str
    args: tuple[str, ...]
    targets: tuple[str, ...]  # mentioned contact ids, the bot itself excluded


@dataclass
class Context:
    """What a handler gets: the message, its parse, the caller's level and the services."""

    message: GroupMessage
    message_pk: int
    invocation: Invocation
    level: Level
    session: Session
    config: Config
    outbox: Outbox
    sessions: sessionmaker[Session]
    bot_id: str
    now: datetime
    room: queries.GroupRecord | None = None

    def level_of(self, member_id: str) -> Level:
        return level_of(member_id, self.message.group_id, self.config, self.room)

    def name_of(self, member_id: str) -> str:
        m = queries.member(self.session, self.message.group_id, member_id)
        return (m.display_name if m and m.display_name else "") or member_id


Handler = Callable[[Context], str]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    aliases: tuple[str, ...]
    level: Level
    usage: str
    help: str
    handler: Handler


class CommandRegistry:
    def __init__(self) -> None:
        self._by_word: dict[str, Command] = {}
        self.commands: list[Command] = []

    def register(
        self, name: str, *, aliases: tuple[str, ...] = (), level: Level = Level.ADMIN, usage: str = "", help: str = ""
    ) -> Callable[[Handler], Handler]:
        def add(handler: Handler) -> Handler:
            cmd = Command(name, aliases, level, usage or f"/{name}", help, handler)
            for word in (name, *aliases):
                if word.lower() in self._by_word:
                    raise ValueError(f"command word {word!r} registered twice")
                self._by_word[word.lower()] = cmd
            self.commands.append(cmd)
            return handler

        return add

    def lookup(self, word: str) -> Command | None:
        return self._by_word.get(word.lower())

    def parse(self, msg: GroupMessage, *, prefixes: tuple[str, ...], bot_id: str, bot_name: str) -> Invocation | None:
        """The command in ``msg``, or None when it is not one (unknown words are not commands)."""
        text = msg.text.strip()
        addressed = msg.mentions_bot or bot_id in msg.mentions
        if addressed and bot_name:
            text = re.sub(rf"^@{re.escape(bot_name)}[{AT_SEPARATORS}]*", "", text).strip()
        if msg.mentions:
            # some clients put the @names in front of what was typed: "@Bob\u2005/kick"
            text = re.sub(rf"^(?:[@＠][^{AT_SEPARATORS}]+[{AT_SEPARATORS}]+)+(?=[/／])", "", text)
        for prefix in sorted(prefixes, key=len, reverse=True):
            if text.startswith(prefix):
                text = text[len(prefix) :].lstrip()
                break
        else:
            if not addressed:
                return None
        words = [w for w in re.split(rf"[{AT_SEPARATORS}]+", text) if w]
        if not words:
            return None
        cmd = self.lookup(words[0])
        if cmd is None:
            return None
        args = tuple(w for w in words[1:] if not w.startswith(("@", "＠")))
        targets = tuple(dict.fromkeys(m for m in msg.mentions if m != bot_id))
        return Invocation(cmd.name, args, targets)

    def run(self, ctx: Context) -> str:
        """Run the parsed command if the caller may; return the reply to post in the group."""
        cmd = self.lookup(ctx.invocation.name)
        assert cmd is not None
        if ctx.level < cmd.level:
            return f"抱歉，/{cmd.name} 需要{LEVEL_NAMES[cmd.level]}权限。"
        return cmd.handler(ctx)


registry = CommandRegistry()


# --- helpers ---------------------------------------------------------------------------------------


def _one_target(ctx: Context) -> str | None:
    targets = ctx.invocation.targets
    return targets[0] if len(targets) == 1 else None


def _protected(ctx: Context, member_id: str) -> str | None:
    """Why ``member_id`` may not be acted on by the caller, or None."""
    if member_id == ctx.bot_id:
        return "不能对机器人自己执行此操作。"
    if ctx.level_of(member_id) >= max(ctx.level, Level.ADMIN):
        return f"{ctx.name_of(member_id)} 是{LEVEL_NAMES[ctx.level_of(member_id)]}，不能对其执行此操作。"
    return None


def _needs_target(cmd: str) -> str:
    return f"请 @ 一位成员，例如：/{cmd} @张三"


def _local_today(ctx: Context) -> date:
    return ctx.now.astimezone(ctx.config.digest_timezone()).date()


def _referenced(ctx: Context) -> tuple[int, GroupMessage] | None:
    """The message a command quotes: by id when the platform gives one, else by the quoted text."""
    msg = ctx.message
    if msg.reply_to:
        pk = queries.find_message(ctx.session, msg.source, msg.reply_to)
        found = queries.message_by_pk(ctx.session, pk) if pk is not None else None
        if pk is not None and found is not None:
            return pk, found
    if msg.quote:
        return queries.find_quoted(ctx.session, msg.group_id, msg.quote)
    return None


def _quoted_or_latest(ctx: Context) -> tuple[int, GroupMessage] | None:
    """The message a ``spam`` is about: the quoted one, else the target's latest."""
    found = _referenced(ctx)
    if found is not None:
        return found
    target = _one_target(ctx)
    if target is None:
        return None
    return queries.latest_message(
        ctx.session, ctx.message.group_id, target, skip_prefixes=ctx.config.bot.command_prefixes
    )


# --- the built-in commands -------------------------------------------------------------------------


@registry.register("help", aliases=("帮助", "菜单", "?", "？"), level=Level.MEMBER, help="列出你能用的命令")
def _help(ctx: Context) -> str:
    lines = ["群智可用命令（/ 开头，或 @群智 后跟命令）："]
    for cmd in registry.commands:
        if ctx.level >= cmd.level:
            alias = f"（{'/'.join(a for a in cmd.aliases if a not in ('?', '？'))}）" if cmd.aliases else ""
            lines.append(f"{cmd.usage}{alias} — {cmd.help}")
    if ctx.level < Level.ADMIN:
        lines.append("其余命令需要管理员权限。")
    return "\n".join(lines)


@registry.register("kick", aliases=("踢", "踢出", "移出"), usage="/kick @成员", help="把成员移出本群")
def _kick(ctx: Context) -> str:
    target = _one_target(ctx)
    if target is None:
        return _needs_target("kick")
    if why := _protected(ctx, target):
        return why
    name = ctx.name_of(target)
    queries.record_action(
        ctx.session, ctx.message.group_id, target, "kick",
        reasons=(f"kicked by {ctx.message.sender_name or ctx.message.sender_id} ({ctx.message.sender_id})",),
        by_contact=ctx.message.sender_id, at=ctx.now,
    )
    ctx.outbox.kick(ctx.session, ctx.message.group_id, target)
    return f"已将 {name} 移出本群。"


@registry.register("warn", aliases=("警告",), usage="/warn @成员 [原因]", help="警告成员（记一次违规）")
def _warn(ctx: Context) -> str:
    target = _one_target(ctx)
    if target is None:
        return _needs_target("warn")
    if why := _protected(ctx, target):
        return why
    reason = " ".join(ctx.invocation.args) or "请遵守群规"
    group_id = ctx.message.group_id
    policy = ctx.config.moderation_for(group_id)
    queries.record_action(
        ctx.session, group_id, target, "warn",
        reasons=(f"warned by {ctx.message.sender_id}: {reason}",), by_contact=ctx.message.sender_id, at=ctx.now,
    )
    since = ctx.now - timedelta(hours=policy.strike_window_hours)
    n = queries.strikes(ctx.session, group_id, target, since=since)
    limit = f"，{policy.strike_window_hours} 小时内满 {policy.kick_after_strikes} 次将被移出" if policy.mode is PolicyMode.KICK else ""
    ctx.outbox.say(ctx.session, group_id, f"管理员警告：{reason}（第 {n} 次{limit}）", mentions=(target,), purpose="warn")
    return f"已警告 {ctx.name_of(target)}（第 {n} 次）。"


@registry.register("spam", aliases=("广告", "垃圾"), usage="/spam（引用消息）或 /spam @成员", help="标为广告：记为训练数据并按群策略处理")
def _spam(ctx: Context) -> str:
    found = _quoted_or_latest(ctx)
    if found is None:
        return "请引用那条消息发送 /spam，或 /spam @成员（处理其最近一条消息）。"
    pk, target_msg = found
    if why := _protected(ctx, target_msg.sender_id):
        return why
    queries.record_correction(
        ctx.session, text=target_msg.text, analyzer="ad", label="ad", by_contact=ctx.message.sender_id,
        message_pk=pk, at=ctx.now,
    )
    verdict = Verdict("ad", "ad", 1.0, (f"marked as spam by admin {ctx.message.sender_id}",), "admin")
    # The admin is the second opinion: no corroboration needed, the group's mode still applies.
    policy = ctx.config.moderation_for(target_msg.group_id).model_copy(update={"corroborate": False})
    name = target_msg.sender_name or target_msg.sender_id
    if policy.mode is PolicyMode.OFF:
        return f"已记为广告（训练数据）。本群未开启自动处理，{name} 未被处理。"
    planned = moderate_one(
        ctx.session, ctx.config, pk, target_msg, {"ad": verdict}, policy=policy, by_contact=ctx.message.sender_id
    )
    if planned is None:
        return f"已记为广告（训练数据）。{name} 之前的处理仍然有效。"
    carry_out(ctx.session, ctx.outbox, ctx.config, target_msg, planned.action, action_pk=planned.action_pk, dry_run=planned.dry_run)
    done = {"warn": "已警告", "kick": "已移出", "log": "已记录"}.get(str(planned.action.kind), str(planned.action.kind))
    drill = "（演练模式，未执行）" if planned.dry_run else ""
    return f"已记为广告。{name}：{done}{drill}，{planned.action.reasons[0]}。"


@registry.register("notspam", aliases=("不是广告", "误判"), usage="/notspam（引用消息）或 /notspam @成员", help="撤销误判：恢复成员记录（被移出的重新邀请入群），记为训练数据")
def _notspam(ctx: Context) -> str:
    group_id = ctx.message.group_id
    message_pk: int | None = None
    target_msg: GroupMessage | None = None
    member_id: str | None = None
    referenced = _referenced(ctx)
    if referenced is not None:
        message_pk, target_msg = referenced
        member_id = target_msg.sender_id
    if member_id is None:
        member_id = _one_target(ctx)
    if member_id is None:
        return "请引用那条消息发送 /notspam，或 /notspam @成员。"
    actions = queries.open_actions(ctx.session, group_id, member_id=member_id, message_pk=message_pk)
    actions = [a for a in actions if a.action != "log" or a.strike]
    if message_pk is None and actions:
        # the member's latest action, with every other action about the same message
        latest = actions[0]
        actions = [a for a in actions if a.pk == latest.pk or (latest.message_pk and a.message_pk == latest.message_pk)]
        message_pk = latest.message_pk
        target_msg = queries.message_by_pk(ctx.session, message_pk) if message_pk else None
    name = ctx.name_of(member_id)
    if target_msg is not None:
        queries.record_correction(
            ctx.session, text=target_msg.text, analyzer="ad", label="normal", by_contact=ctx.message.sender_id,
            message_pk=message_pk, at=ctx.now,
        )
    if not actions:
        recorded = "已记为非广告（训练数据）。" if target_msg is not None else ""
        return f"{recorded}{name} 没有需要撤销的处理。"
    for a in actions:
        queries.undo_action(ctx.session, a.pk, by_contact=ctx.message.sender_id, at=ctx.now)
    kicked = any(a.action == "kick" and not a.dry_run for a in actions)
    if kicked:  # a wrong kick is undone by putting the member back
        ctx.outbox.add_member(ctx.session, group_id, member_id)
    policy = ctx.config.moderation_for(group_id)
    left = queries.strikes(ctx.session, group_id, member_id, since=ctx.now - timedelta(hours=policy.strike_window_hours))
    tail = "，已重新邀请 TA 入群" if kicked else ""
    return f"已撤销对 {name} 的 {len(actions)} 项处理并记为误判，当前违规 {left} 次{tail}。"


def _set_whitelist(ctx: Context, on: bool, command: str) -> str:
    if not ctx.invocation.targets:
        return _needs_target(command)
    for t in ctx.invocation.targets:
        queries.set_whitelisted(ctx.session, ctx.message.group_id, t, on)
    return ("已加入白名单：" if on else "已移出白名单：") + "、".join(ctx.name_of(t) for t in ctx.invocation.targets)


@registry.register("whitelist", aliases=("白名单", "加白"), usage="/whitelist @成员", help="加入白名单：永不被自动处理")
def _whitelist(ctx: Context) -> str:
    return _set_whitelist(ctx, True, "whitelist")


@registry.register("unwhitelist", aliases=("取消白名单", "移出白名单"), usage="/unwhitelist @成员", help="移出白名单")
def _unwhitelist(ctx: Context) -> str:
    return _set_whitelist(ctx, False, "unwhitelist")


def _parse_day(words: tuple[str, ...], today: date) -> date | None:
    if not words or words[0] in ("今天", "today"):
        return today
    if words[0] in ("昨天", "yesterday"):
        return today - timedelta(days=1)
    if words[0] in ("前天",):
        return today - timedelta(days=2)
    try:
        return date.fromisoformat(words[0])
    except ValueError:
        return None


@registry.register("digest", aliases=("日报", "摘要", "总结"), usage="/digest [YYYY-MM-DD|昨天]", help="现在发本群某天的摘要（默认今天到目前）")
def _digest(ctx: Context) -> str:
    today = _local_today(ctx)
    day = _parse_day(ctx.invocation.args, today)
    if day is None:
        return f"看不懂日期 {ctx.invocation.args[0]!r}：请写 YYYY-MM-DD、今天或昨天。"
    if day > today:
        return "那一天还没到。"
    group_id = ctx.message.group_id
    # rendered afresh and not kept: the scheduled digest of that day is still made and sent once
    rendered = make_digest(ctx.sessions, ctx.config, group_id, day, save=False)
    for part in rendered.text_parts:
        ctx.outbox.say(ctx.session, group_id, part, purpose="digest")
    return ""


@registry.register("stats", aliases=("统计",), usage="/stats", help="本群今天的数字")
def _stats(ctx: Context) -> str:
    tz = ctx.config.digest_timezone()
    today = _local_today(ctx)
    start, end = day_bounds(today, tz)
    group_id = ctx.message.group_id
    counts = queries.message_counts(ctx.session, group_id, start, end)
    msgs = queries.analysed_messages(ctx.session, group_id, start, end)
    ads = sum(1 for m in msgs if m.label("ad") == "ad")
    useful = sum(1 for m in msgs if m.label("useful") == "useful")
    actions = [a for a in queries.actions_for_group(ctx.session, group_id, since=start) if a.undone_at is None]
    by_kind: dict[str, int] = {}
    for a in actions:
        if a.action != "undo":
            by_kind[a.action] = by_kind.get(a.action, 0) + 1
    status = queries.analysis_counts(ctx.session, group_id)
    done = " ".join(f"{k} {v}" for k, v in sorted(by_kind.items())) or "无"
    return (
        f"今天（{today.isoformat()}）：{sum(counts.values())} 条消息，{len(counts)} 人发言；"
        f"有用 {useful} 条，广告 {ads} 条；处理：{done}；待分析 {status['pending']} 条。"
    )


@registry.register("profile", aliases=("画像", "档案"), usage="/profile @成员", help="成员画像：活跃、话题、角色、广告风险、线索分")
def _profile(ctx: Context) -> str:
    target = _one_target(ctx)
    if target is None:
        return _needs_target("profile")
    text = describe(ctx.session, ctx.config, target, ctx.message.group_id)
    return text if text is not None else f"{ctx.name_of(target)} 在本群还没有画像（没有发过言，或消息还在分析）。"


@registry.register("optout", aliases=("退出画像", "不要画像"), level=Level.MEMBER, usage="/optout", help="不再为你做画像，日报也不引用你的话")
def _optout(ctx: Context) -> str:
    set_opted_out(ctx.session, ctx.message.group_id, ctx.message.sender_id, True)
    return "好的，已为你退出画像（所有群）：你的画像已删除，今后不再分析，日报也不引用你的发言。消息仍会保存并照常审核。发 /optin 可恢复。"


@registry.register("optin", aliases=("恢复画像",), level=Level.MEMBER, usage="/optin", help="恢复为你做画像（从现在起）")
def _optin(ctx: Context) -> str:
    set_opted_out(ctx.session, ctx.message.group_id, ctx.message.sender_id, False)
    return "好的，已恢复画像：从现在起的发言会计入你的画像。发 /optout 可随时退出。"


@registry.register("policy", aliases=("策略", "规则"), usage="/policy", help="本群的处理策略")
def _policy(ctx: Context) -> str:
    p = ctx.config.moderation_for(ctx.message.group_id)
    mode = {"off": "关闭", "log": "只记录", "warn": "警告", "kick": f"警告，{p.strike_window_hours} 小时内 {p.kick_after_strikes} 次移出"}[str(p.mode)]
    drill = effective_dry_run(p, ctx.room)
    source = "（群内设置）" if ctx.room is not None and ctx.room.dry_run is not None else "（配置）"
    return (
        f"广告处理：{mode}；判为广告的分数线 {p.ad_threshold:.2f}；"
        f"{'需要规则基线也判为广告才处理' if p.corroborate else '模型判定即处理'}；"
        f"演练模式：{'开' if drill else '关'}{source}；向管理员报告：{'是' if p.report_to_admins else '否'}。"
    )


@registry.register("dryrun", aliases=("演练",), usage="/dryrun on|off|default", help="演练模式：只记录不执行")
def _dryrun(ctx: Context) -> str:
    word = ctx.invocation.args[0].lower() if ctx.invocation.args else ""
    value = {"on": True, "开": True, "off": False, "关": False, "default": None, "默认": None}
    if word not in value:
        return "用法：/dryrun on|off|default"
    queries.set_group_dry_run(ctx.session, ctx.message.group_id, value[word])
    room = queries.group(ctx.session, ctx.message.group_id)
    on = effective_dry_run(ctx.config.moderation_for(ctx.message.group_id), room)
    return f"演练模式已{'开启：只记录，不警告不移出' if on else '关闭：按策略执行'}。"


def handle(
    invocation: Invocation,
    msg: GroupMessage,
    message_pk: int,
    *,
    sessions: sessionmaker[Session],
    config: Config,
    outbox: Outbox,
    bot_id: str,
    now: datetime | None = None,
) -> str:
    """Run one command in its own transaction; the reply is queued to the group and returned."""
    now = now or datetime.now(timezone.utc)
    with sessions.begin() as session:
        room = queries.group(session, msg.group_id)
        ctx = Context(
            message=msg,
            message_pk=message_pk,
            invocation=invocation,
            level=level_of(msg.sender_id, msg.group_id, config, room),
            session=session,
            config=config,
            outbox=outbox,
            sessions=sessions,
            bot_id=bot_id,
            now=now,
            room=room,
        )
        reply = registry.run(ctx)
        if reply:
            outbox.say(session, msg.group_id, reply, mentions=(msg.sender_id,), purpose="reply")
    return reply


__all__ = ["Command", "CommandRegistry", "Context", "Invocation", "handle", "registry"]
