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

from bot import catalogue
from bot.config import Config, PolicyMode
from bot.daily import MemberOptedOut, make_digest
from bot.digest import Period, day_bounds, hours_period, month_period, week_period
from bot.enforcement import carry_out, readable_reasons
from bot.message import GroupMessage
from bot.outbox import Outbox
from bot.pipeline import moderate_one
from bot.profile_view import describe
from bot.profiles import set_opted_out
from bot.roles import Level, effective_dry_run, level_of
from bot.store import (
    actions as actions_db,
    analysis as analysis_db,
    corrections as corrections_db,
    groups as groups_db,
    messages as messages_db,
    verdicts as verdicts_db,
)
from bot.store.common import BOT, CHAT, COMMAND
from bot.undo import undo_member
from nlp.verdict import Verdict

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
    room: groups_db.GroupRecord | None = None

    def level_of(self, member_id: str) -> Level:
        return level_of(member_id, self.message.group_id, self.config, self.room)

    def name_of(self, member_id: str) -> str:
        m = groups_db.member(self.session, self.message.group_id, member_id)
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
            # wording lives in the catalogue: usage and summary come from catalogue.COMMAND_HELP
            default_usage, default_help = catalogue.COMMAND_HELP.get(name, (f"/{name}", ""))
            cmd = Command(name, aliases, level, usage or default_usage, help or default_help, handler)
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
            return catalogue.no_permission(cmd.name, cmd.level.name)
        return cmd.handler(ctx)


registry = CommandRegistry()


def message_role(msg: GroupMessage, config: Config, *, bot_id: str | None = None, bot_name: str | None = None) -> str:
    """What a message is, as stored (``CHAT``, ``COMMAND`` or ``BOT``): the bot's own when
    its sender is the bot, a command when the live bot's parser takes it as one, else chat.

    A command is still analysed and moderated like chat, whoever sends it (an ad behind "/help" or
    behind a "/kick" the sender may not use is caught; an admin's is judged too and, admins never
    being acted on, only logged), but it is never counted: not in the digest, ``/stats``, profiles
    or usefulness counts. The bot's own words are not analysed at all.

    ``bot_id``/``bot_name``: the logged-in account (the live bot); by default the configured
    ``bot.self_id`` and ``bot.name`` (replays and imports, where no platform says who the bot is).
    """
    bot_id = config.bot.self_id if bot_id is None else bot_id
    bot_name = config.bot.name if bot_name is None else bot_name
    if bot_id and msg.sender_id == bot_id:
        return BOT
    parsed = registry.parse(msg, prefixes=config.bot.command_prefixes, bot_id=bot_id, bot_name=bot_name)
    return COMMAND if parsed is not None else CHAT


# --- helpers ---------------------------------------------------------------------------------------


def _one_target(ctx: Context) -> str | None:
    targets = ctx.invocation.targets
    return targets[0] if len(targets) == 1 else None


def _protected(ctx: Context, member_id: str) -> str | None:
    """Why ``member_id`` may not be acted on by the caller, or None."""
    if member_id == ctx.bot_id:
        return catalogue.not_on_the_bot()
    if ctx.level_of(member_id) >= max(ctx.level, Level.ADMIN):
        return catalogue.protected_member(ctx.name_of(member_id), ctx.level_of(member_id).name)
    return None


def _needs_target(cmd: str) -> str:
    return catalogue.needs_target(cmd)


def _local_today(ctx: Context) -> date:
    return ctx.now.astimezone(ctx.config.digest_timezone()).date()


def _quoted(session: Session, msg: GroupMessage) -> tuple[int, GroupMessage] | None:
    """The message ``msg`` quotes: by id when the platform gives one, else by the quoted text."""
    if msg.reply_to:
        pk = messages_db.find_message(session, msg.source, msg.reply_to)
        found = messages_db.message_by_pk(session, pk) if pk is not None else None
        if pk is not None and found is not None:
            return pk, found
    if msg.quote:
        return messages_db.find_quoted(session, msg.group_id, msg.quote)
    return None


def _referenced(ctx: Context) -> tuple[int, GroupMessage] | None:
    """The message a command quotes."""
    return _quoted(ctx.session, ctx.message)


NEEDS_ANALYSIS = frozenset({"spam", "notspam"})  # commands that read a member's verdicts or actions


def messages_needed(invocation: Invocation, msg: GroupMessage, session: Session) -> list[int]:
    """What must be analysed (and moderated) before the command runs, so it acts on the bot's own
    decisions: for ``spam``/``notspam`` the pending messages of the member they are about (the
    sender of the quoted message, else the one @-mentioned member) in this group, all of them so
    that strikes still count in order; nothing for the others — they answer at once."""
    if invocation.name not in NEEDS_ANALYSIS:
        return []
    quoted = _quoted(session, msg)
    if quoted is not None:
        member_id = quoted[1].sender_id
    elif len(invocation.targets) == 1:
        member_id = invocation.targets[0]
    else:
        return []
    return analysis_db.pending_member_messages(session, msg.group_id, member_id)


def _quoted_or_latest(ctx: Context) -> tuple[int, GroupMessage] | None:
    """The message a ``spam`` is about: the quoted one, else the target's latest."""
    found = _referenced(ctx)
    if found is not None:
        return found
    target = _one_target(ctx)
    if target is None:
        return None
    return messages_db.latest_message(
        ctx.session, ctx.message.group_id, target, skip_prefixes=ctx.config.bot.command_prefixes
    )


# --- the built-in commands -------------------------------------------------------------------------


@registry.register("help", aliases=("帮助", "菜单", "?", "？"), level=Level.MEMBER)
def _help(ctx: Context) -> str:
    lines = [
        catalogue.help_line(cmd.usage, cmd.help, cmd.aliases) for cmd in registry.commands if ctx.level >= cmd.level
    ]
    return catalogue.help_text(lines, more_for_admins=ctx.level < Level.ADMIN)


@registry.register("kick", aliases=("踢", "踢出", "移出"))
def _kick(ctx: Context) -> str:
    target = _one_target(ctx)
    if target is None:
        return _needs_target("kick")
    if why := _protected(ctx, target):
        return why
    name = ctx.name_of(target)
    actions_db.record_action(
        ctx.session,
        ctx.message.group_id,
        target,
        "kick",
        reasons=(catalogue.reason_kicked_by(ctx.message.sender_name, ctx.message.sender_id),),
        by_contact=ctx.message.sender_id,
        at=ctx.now,
    )
    ctx.outbox.kick(ctx.session, ctx.message.group_id, target)
    return catalogue.kick_reply(name)


@registry.register("warn", aliases=("警告",))
def _warn(ctx: Context) -> str:
    target = _one_target(ctx)
    if target is None:
        return _needs_target("warn")
    if why := _protected(ctx, target):
        return why
    reason = " ".join(ctx.invocation.args) or catalogue.DEFAULT_WARN_REASON
    group_id = ctx.message.group_id
    policy = ctx.config.moderation_for(group_id)
    actions_db.record_action(
        ctx.session,
        group_id,
        target,
        "warn",
        reasons=(catalogue.reason_warned_by(ctx.message.sender_name, ctx.message.sender_id, reason),),
        by_contact=ctx.message.sender_id,
        at=ctx.now,
    )
    since = ctx.now - timedelta(hours=policy.strike_window_hours)
    n = actions_db.strikes(ctx.session, group_id, target, since=since)
    limit = policy.kick_after_strikes if policy.mode is PolicyMode.KICK else None
    warning = catalogue.admin_warning(reason, n, limit, policy.strike_window_hours)
    ctx.outbox.say(ctx.session, group_id, warning, mentions=(target,), purpose="warn")
    return catalogue.warn_reply(ctx.name_of(target), n)


@registry.register("spam", aliases=("广告", "垃圾"))
def _spam(ctx: Context) -> str:
    found = _quoted_or_latest(ctx)
    if found is None:
        return catalogue.spam_needs_quote()
    pk, target_msg = found
    if why := _protected(ctx, target_msg.sender_id):
        return why
    corrections_db.record_correction(
        ctx.session,
        text=target_msg.text,
        analyzer="ad",
        label="ad",
        by_contact=ctx.message.sender_id,
        message_pk=pk,
        at=ctx.now,
    )
    marked = catalogue.reason_marked_by(ctx.message.sender_name, ctx.message.sender_id)
    verdict = Verdict("ad", "ad", 1.0, (marked,), "admin")
    # The admin is the second opinion: no corroboration needed, the group's mode still applies.
    policy = ctx.config.moderation_for(target_msg.group_id).model_copy(update={"corroborate": False})
    name = target_msg.sender_name or target_msg.sender_id
    if policy.mode is PolicyMode.OFF:
        return catalogue.spam_recorded_only(name)
    planned = moderate_one(
        ctx.session, ctx.config, pk, target_msg, {"ad": verdict}, policy=policy, by_contact=ctx.message.sender_id
    )
    if planned is None:
        return catalogue.spam_already_handled(name)
    carry_out(
        ctx.session,
        ctx.outbox,
        ctx.config,
        target_msg,
        planned.action,
        action_pk=planned.action_pk,
        dry_run=planned.dry_run,
    )
    reason = readable_reasons(planned.action.reasons, limit=1)
    return catalogue.spam_done(
        name, str(planned.action.kind), dry_run=planned.dry_run, reason=reason[0] if reason else ""
    )


@registry.register("notspam", aliases=("不是广告", "误判"))
def _notspam(ctx: Context) -> str:
    message_pk: int | None = None
    member_id: str | None = None
    referenced = _referenced(ctx)
    if referenced is not None:
        message_pk, member_id = referenced[0], referenced[1].sender_id
    if member_id is None:
        member_id = _one_target(ctx)
    if member_id is None:
        return catalogue.notspam_needs_quote()
    result = undo_member(
        ctx.session,
        ctx.outbox,
        ctx.config,
        ctx.message.group_id,
        member_id,
        message_pk,
        by_contact=ctx.message.sender_id,
        now=ctx.now,
    )
    name = ctx.name_of(member_id)
    if not result.undone:
        return catalogue.notspam_nothing_to_undo(name, recorded=result.message is not None)
    return catalogue.notspam_done(name, len(result.undone), result.strikes_left, reinvited=result.reinvited)


def _set_whitelist(ctx: Context, on: bool, command: str) -> str:
    if not ctx.invocation.targets:
        return _needs_target(command)
    for t in ctx.invocation.targets:
        groups_db.set_whitelisted(ctx.session, ctx.message.group_id, t, on)
    return catalogue.whitelist_done([ctx.name_of(t) for t in ctx.invocation.targets], on=on)


@registry.register("whitelist", aliases=("白名单", "加白"))
def _whitelist(ctx: Context) -> str:
    return _set_whitelist(ctx, True, "whitelist")


@registry.register("unwhitelist", aliases=("取消白名单", "移出白名单"))
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


_HOURS = re.compile(r"(\d{1,4})\s*(?:h|H|小时|個小時|个小时)")


def _parse_period(ctx: Context) -> Period | date | str:
    """What ``/digest`` covers: a day (today, 昨天, 前天, 2026-11-24), the last N hours ("3h",
    "3小时"; 1 to ``catalogue.DIGEST_MAX_HOURS``), 本周 or 上周 (Monday to Sunday, local; this week up
    to now), 本月 or 上月 (local calendar months; this month up to now); or the reply that says why
    the words were not understood."""
    words = ctx.invocation.args
    tz = ctx.config.digest_timezone()
    today = _local_today(ctx)
    word = words[0] if words else ""
    if len(words) > 1:
        return catalogue.digest_bad_range(" ".join(words))
    hours = _HOURS.fullmatch(word)
    if hours:
        n = int(hours.group(1))
        if not 1 <= n <= catalogue.DIGEST_MAX_HOURS:
            return catalogue.digest_hours_out_of_range(n)
        return hours_period(ctx.now, n, tz)
    if word in ("本周", "这周"):
        return week_period(today, tz, now=ctx.now)
    if word in ("上周",):
        return week_period(today, tz, previous=True, now=ctx.now)
    if word in ("本月", "这个月"):
        return month_period(today, tz, now=ctx.now)
    if word in ("上月", "上个月"):
        return month_period(today, tz, previous=True, now=ctx.now)
    day = _parse_day(words, today)
    if day is None:
        return catalogue.digest_bad_range(word) if not re.match(r"\d{4}-", word) else catalogue.digest_bad_date(word)
    if day > today:
        return catalogue.digest_future_day()
    return day


@registry.register("digest", aliases=("日报", "摘要", "总结"))
def _digest(ctx: Context) -> str:
    """A day's digest (as before), the last N hours, this or last week, and with one @member only
    what that member said and the threads they took part in. Sent as the command's replies,
    rendered afresh and never kept: the scheduled digest of a day is still made and sent once."""
    what = _parse_period(ctx)
    if isinstance(what, str):
        return what
    targets = ctx.invocation.targets
    if len(targets) > 1:
        return catalogue.digest_one_member()
    member = targets[0] if targets else None
    group_id = ctx.message.group_id
    period = what if isinstance(what, Period) else None
    day = what if isinstance(what, date) else what.last_day(ctx.config.digest_timezone())
    try:
        rendered = make_digest(ctx.sessions, ctx.config, group_id, day, save=False, period=period, member=member)
    except MemberOptedOut:
        return catalogue.digest_member_opted_out(ctx.name_of(member or ""))
    for part in rendered.text_parts:
        ctx.outbox.say(ctx.session, group_id, part, purpose="digest")
    return ""


@registry.register("stats", aliases=("统计",))
def _stats(ctx: Context) -> str:
    tz = ctx.config.digest_timezone()
    today = _local_today(ctx)
    start, end = day_bounds(today, tz)
    group_id = ctx.message.group_id
    counts = messages_db.message_counts(ctx.session, group_id, start, end)
    msgs = verdicts_db.analysed_messages(ctx.session, group_id, start, end)
    ads = sum(1 for m in msgs if m.label("ad") == "ad")
    useful = sum(1 for m in msgs if m.label("useful") == "useful")
    actions = [a for a in actions_db.actions_for_group(ctx.session, group_id, since=start) if a.undone_at is None]
    by_kind: dict[str, int] = {}
    for a in actions:
        if a.action != "undo":
            by_kind[a.action] = by_kind.get(a.action, 0) + 1
    status = analysis_db.analysis_counts(ctx.session, group_id, role=CHAT)  # like the counts: chat only
    return catalogue.stats_reply(
        today.isoformat(),
        messages=sum(counts.values()),
        speakers=len(counts),
        useful=useful,
        ads=ads,
        actions=by_kind,
        pending=status["pending"],
    )


@registry.register("profile", aliases=("画像", "档案"))
def _profile(ctx: Context) -> str:
    target = _one_target(ctx)
    if target is None:
        return _needs_target("profile")
    text = describe(ctx.session, ctx.config, target, ctx.message.group_id)
    return text if text is not None else catalogue.profile_missing(ctx.name_of(target))


@registry.register("optout", aliases=("退出画像", "不要画像"), level=Level.MEMBER)
def _optout(ctx: Context) -> str:
    set_opted_out(ctx.session, ctx.message.group_id, ctx.message.sender_id, True)
    return catalogue.optout_done()


@registry.register("optin", aliases=("恢复画像",), level=Level.MEMBER)
def _optin(ctx: Context) -> str:
    set_opted_out(ctx.session, ctx.message.group_id, ctx.message.sender_id, False)
    return catalogue.optin_done()


@registry.register("policy", aliases=("策略", "规则"))
def _policy(ctx: Context) -> str:
    p = ctx.config.moderation_for(ctx.message.group_id)
    return catalogue.policy_reply(
        mode=str(p.mode),
        threshold=p.ad_threshold,
        kick_after=p.kick_after_strikes,
        window_hours=p.strike_window_hours,
        corroborate=p.corroborate,
        dry_run=effective_dry_run(p, ctx.room),
        set_in_group=ctx.room is not None and ctx.room.dry_run is not None,
        report=p.report_to_admins,
    )


@registry.register("dryrun", aliases=("演练",))
def _dryrun(ctx: Context) -> str:
    word = ctx.invocation.args[0].lower() if ctx.invocation.args else ""
    value = {"on": True, "开": True, "off": False, "关": False, "default": None, "默认": None}
    if word not in value:
        return catalogue.dryrun_usage()
    groups_db.set_group_dry_run(ctx.session, ctx.message.group_id, value[word])
    room = groups_db.group(ctx.session, ctx.message.group_id)
    on = effective_dry_run(ctx.config.moderation_for(ctx.message.group_id), room)
    return catalogue.dryrun_done(on)


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
        room = groups_db.group(session, msg.group_id)
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


__all__ = [
    "Command",
    "CommandRegistry",
    "Context",
    "Invocation",
    "handle",
    "message_role",
    "messages_needed",
    "registry",
]
