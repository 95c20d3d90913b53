"""One typed configuration object, loaded from TOML.

Every error names the file and the dotted key (``groups.0.moderation.ad_threshold``); unknown keys
are errors too (``extra="forbid"``), so a typo never silently falls back to a default.
"""

from __future__ import annotations

import enum
import os
import re
import tomllib
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from nlp.verdict import USEFUL_THRESHOLD

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file and the dotted key."""


class _Section(BaseModel, frozen=True, extra="forbid"):
    pass


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {value!r} (use an IANA name such as Asia/Shanghai)") from None
    return value


_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _check_hhmm(value: str) -> str:
    if not _HHMM.match(value):
        raise ValueError(f"{value!r} is not a time of day written HH:MM (24-hour)")
    return value


class PolicyMode(enum.StrEnum):
    OFF = "off"  # no ad checks acted on at all
    LOG = "log"  # record the verdict and the action that would have been taken
    WARN = "warn"  # warn the member in the group
    KICK = "kick"  # warn, then remove after `kick_after_strikes` strikes within the window


class Moderation(_Section):
    mode: PolicyMode = PolicyMode.LOG
    ad_threshold: float = Field(0.9, ge=0, le=1, description="ad score at or above which a message is an ad")
    kick_after_strikes: int = Field(3, ge=1)
    strike_window_hours: int = Field(72, ge=1)
    dry_run: bool = Field(False, description="decide and log, but never send or kick")
    corroborate: bool = Field(
        True, description="warn or kick only when the rule baseline also calls the message an ad; else log it"
    )
    report_to_admins: bool = True


class DigestDelivery(enum.StrEnum):
    GROUP = "group"  # post the digest into the group itself
    ADMINS = "admins"  # send it privately to `digest_recipients`
    NONE = "none"  # render and store only


class Group(_Section):
    id: str = Field(min_length=1, description="room id as the puppet reports it, e.g. 12345@chatroom")
    name: str = ""
    topic: str = Field("", description="free-text topic the group is about, e.g. 人工智能")
    keywords: tuple[str, ...] = Field((), description="extra topic keywords")
    admins: tuple[str, ...] = Field((), description="contact ids with admin rights in this group")
    moderation: Moderation | None = None  # falls back to [moderation]
    digest_time: str | None = None  # falls back to [digest].time
    digest_weekly: str | None = None  # falls back to [digest].weekly; "off": no weekly digest here
    digest_monthly: str | None = None  # falls back to [digest].monthly; "off": no monthly digest here
    digest_delivery: DigestDelivery = DigestDelivery.GROUP
    digest_recipients: tuple[str, ...] = ()
    lead_keywords: tuple[str, ...] | None = Field(
        None, description="this group's product keywords; falls back to [leads].keywords"
    )

    _hhmm = field_validator("digest_time")(lambda cls, v: v if v is None else _check_hhmm(v))
    _weekly = field_validator("digest_weekly")(lambda cls, v: v if v in (None, OFF) else _check_weekly(v))
    _monthly = field_validator("digest_monthly")(lambda cls, v: v if v in (None, OFF) else _check_monthly(v))

    @model_validator(mode="after")
    def _recipients_for_admin_delivery(self) -> Group:
        if self.digest_delivery is DigestDelivery.ADMINS and not self.digest_recipients:
            raise ValueError("digest_delivery = 'admins' needs at least one contact id in digest_recipients")
        return self


class Bot(_Section):
    name: str = "群智"
    timezone: str = "Asia/Shanghai"
    superadmins: tuple[str, ...] = Field((), description="contact ids (never display names) with full rights")
    command_prefixes: tuple[str, ...] = ("/", "／")
    self_id: str = Field(
        "",
        description="the bot account's contact id: replayed and imported messages from it are the bot's own, not chat "
        "(the live bot learns it at login)",
    )

    _tz = field_validator("timezone")(lambda cls, v: _check_timezone(v))


class Database(_Section):
    url: str = Field(
        "sqlite:///var/qunzhi.db", description="SQLAlchemy URL; relative SQLite paths are under the working directory"
    )

    @field_validator("url")
    @classmethod
    def _known_backend(cls, v: str) -> str:
        if not (v.startswith("sqlite") or v.startswith("postgresql")):
            raise ValueError(f"unsupported database URL {v!r}: use sqlite:///PATH or postgresql+psycopg://...")
        return v


class Models(_Section):
    use: bool = Field(True, description="false: the rule baseline judges instead of the transformer models")
    path: str = Field("models/qunzhi", description="model directory holding the weights and manifest.json")
    batch_size: int = Field(32, ge=1, le=1024, description="most messages in one forward pass")
    batch_tokens: int = Field(512, ge=16, le=65536, description="most padded tokens in one forward pass")
    threads: int = Field(2, ge=1, le=256)
    precision: Literal["int8", "bf16", "fp32"] = Field(
        "int8",
        description="int8: quantise the encoder at load (fastest; a borderline message's probabilities can move "
        "a lot with the messages batched beside it); bf16: bfloat16 (same result whatever the batch, within 0.03 of fp32; ~20% slower, "
        "and fast only on CPUs with native bfloat16); fp32: as trained (about half int8's speed)",
    )
    useful_threshold: float = Field(
        USEFUL_THRESHOLD,
        ge=0.0,
        le=1.0,
        description="p(useful) from which the model calls a message useful (see docs/model-card.md)",
    )
    trace: bool = Field(
        True,
        description="run the encoder as a TorchScript graph recorded at load (same outputs, checked at load; faster on CPU)",
    )

    @model_validator(mode="before")
    @classmethod
    def _legacy_int8(cls, data: Any) -> Any:
        """``int8 = true/false`` (before ``precision``) still reads as precision int8/fp32."""
        if isinstance(data, dict) and "int8" in data:
            data = dict(data)
            legacy = data.pop("int8")
            if "precision" in data:
                raise ValueError("set models.precision only (int8 is its older spelling)")
            data["precision"] = "int8" if legacy else "fp32"
        return data

    ner_path: str = Field(
        "models/qunzhi-ner",
        description="NER head over the shared encoder (people, places, organisations ...); '' turns it off",
    )


class Analysis(_Section):
    batch_size: int = Field(256, ge=1, le=10_000, description="messages analysed together")
    ad: bool = True
    useful: bool = True
    intent: bool = True
    ner: bool = Field(
        False,
        description="run the NER head on every message the pipeline stores (about 4x slower end to end); "
        "patterns always run, and `qunzhi extract` uses NER whenever models.ner_path is set",
    )
    max_attempts: int = Field(3, ge=1, description="analysis tries before a message is parked as failed")


class Digest(_Section):
    time: str = "21:00"
    timezone: str | None = None  # falls back to [bot].timezone
    max_part_chars: int = Field(2000, ge=200, le=20_000)
    html_dir: str = "var/digests"
    top_contributors: int = Field(5, ge=1, le=50)
    card: bool = Field(False, description="send the scheduled digests as their image card, the text as the fallback")
    card_with_text: bool = Field(False, description="with card = true: send the text after the card as well")
    weekly: str | None = Field(
        None, description="every group's weekly digest: weekday and time, e.g. '周日 20:00'; unset: none"
    )
    monthly: str | None = Field(
        None, description="every group's monthly digest: '1日 09:00' (1日…28日) or '月末 20:00'; unset: none"
    )

    _hhmm = field_validator("time")(lambda cls, v: _check_hhmm(v))
    _tz = field_validator("timezone")(lambda cls, v: v if v is None else _check_timezone(v))
    _weekly = field_validator("weekly")(lambda cls, v: v if v is None else _check_weekly(v))
    _monthly = field_validator("monthly")(lambda cls, v: v if v is None else _check_monthly(v))


_WEEKLY = re.compile(r"^(周[一二三四五六日天])\s+(\S+)$")


def _check_weekly(value: str) -> str:
    """A weekday and a time: "周一 08:00" (周日 or 周天 for Sunday)."""
    m = _WEEKLY.match(value.strip())
    if not m:
        raise ValueError(f"{value!r} is not a weekday and a time written like '周一 08:00'")
    _check_hhmm(m.group(2))
    return value.strip()


class Briefing(_Section):
    """One person's briefing across their groups: sent privately to ``to`` every day at ``time``
    (and each week at ``weekly``, when set). ``groups``: "all" (every group in [[groups]]) or a
    list of group ids, resolved to a tuple of ids when the config loads."""

    to: str = Field(min_length=1, description="the recipient's contact id (never a display name)")
    groups: tuple[str, ...] = Field(description='"all" (every group in [[groups]]) or a list of group ids')
    time: str = Field("08:00", description="local time of the daily briefing, HH:MM")
    weekly: str | None = Field(
        None, description="weekday and time of a weekly briefing, e.g. '周一 08:00'; unset: none"
    )

    @field_validator("groups", mode="before")
    @classmethod
    def _all_or_list(cls, v: Any) -> Any:
        if v == "all":
            return ("*",)  # resolved against [[groups]] by Config
        if isinstance(v, str):
            raise ValueError(f'groups must be "all" or a list of group ids, not {v!r}')
        if isinstance(v, list | tuple) and not v:
            raise ValueError('groups is empty: give "all" or at least one group id')
        return v

    _hhmm = field_validator("time")(lambda cls, v: _check_hhmm(v))
    _weekly = field_validator("weekly")(lambda cls, v: v if v is None else _check_weekly(v))


OFF = "off"  # a group's digest_weekly/digest_monthly: none for this group, whatever [digest] says


@dataclass(frozen=True, slots=True)
class WeeklyTime:
    """When a weekly job runs: "周日 20:00" is weekday 6 at 20:00."""

    weekday: int  # 0 is Monday, as date.weekday()
    at: time


@dataclass(frozen=True, slots=True)
class MonthlyTime:
    """When a monthly job runs: "1日 09:00" is day 1 at 09:00, "月末 20:00" the month's last day."""

    day: int | None  # 1..28; None: the month's last day
    at: time


_MONTHLY = re.compile(r"^(?:(\d{1,2})日|(月末))\s+(\S+)$")
_LAST_DAY = 28  # the last day every month has: later ones are written 月末


def _check_monthly(value: str) -> str:
    """A day of the month and a time: "1日 09:00" (1日…28日) or "月末 20:00" (the last day)."""
    m = _MONTHLY.match(value.strip())
    if not m:
        raise ValueError(f"{value!r} is not a day of the month and a time written like '1日 09:00' or '月末 20:00'")
    if m.group(1) is not None and not 1 <= int(m.group(1)) <= _LAST_DAY:
        raise ValueError(f"{value!r}: the day must be 1日…{_LAST_DAY}日; write 月末 for the month's last day")
    _check_hhmm(m.group(3))
    return value.strip()


def clock_time(hhmm: str) -> time:
    """A checked "HH:MM" as a time of day."""
    hh, mm = _check_hhmm(hhmm).split(":")
    return time(int(hh), int(mm))


def weekly_time(value: str) -> WeeklyTime:
    """A checked weekly time ("周日 20:00", "周天 20:00") as a weekday and a time of day."""
    m = _WEEKLY.match(_check_weekly(value))
    assert m is not None
    day = m.group(1)[1]
    return WeeklyTime(6 if day == "天" else "一二三四五六日".index(day), clock_time(m.group(2)))


def monthly_time(value: str) -> MonthlyTime:
    """A checked monthly time ("1日 09:00", "月末 20:00") as a day of the month and a time of day."""
    m = _MONTHLY.match(_check_monthly(value))
    assert m is not None
    return MonthlyTime(None if m.group(2) else int(m.group(1)), clock_time(m.group(3)))


class Send(_Section):
    per_group_per_minute: int = Field(6, ge=1)
    global_per_minute: int = Field(20, ge=1)
    jitter_seconds: tuple[float, float] = (0.8, 2.5)
    max_retries: int = Field(5, ge=0)

    @field_validator("jitter_seconds")
    @classmethod
    def _ordered(cls, v: tuple[float, float]) -> tuple[float, float]:
        if v[0] < 0 or v[1] < v[0]:
            raise ValueError("jitter_seconds must be [min, max] with 0 <= min <= max")
        return v


class Privacy(_Section):
    retention_days: int = Field(
        180, ge=0, description="message text older than this many days is purged daily (aggregates stay); 0 keeps it"
    )
    purge_time: str = Field("04:30", description="local time of the daily purge, HH:MM")

    _hhmm = field_validator("purge_time")(lambda cls, v: _check_hhmm(v))


class Profiles(_Section):
    enabled: bool = Field(True, description="keep member profiles up to date as messages are analysed")
    answer_window_minutes: int = Field(
        360, ge=1, le=10_080, description="a mention of an asker within this long after their question answers it"
    )
    burst_hours: int = Field(
        24, ge=1, le=720, description="a member's first hours in a group, watched for bursts of messages and ads"
    )
    demographics: str = Field(
        "models/demographics", description="gender/age hint model directory; empty turns the hints off"
    )


class Leads(_Section):
    keywords: tuple[str, ...] = Field((), description="the operator's product keywords a lead asks or talks about")


class Wechaty(_Section):
    endpoint: str = Field("", description="host:port of the puppet service; WECHATY_PUPPET_SERVICE_ENDPOINT overrides")
    token: str = Field("", description="puppet service token; WECHATY_PUPPET_SERVICE_TOKEN overrides")


class ChatlogSource(_Section):
    """Pull new messages from a chatlog-compatible HTTP API (sjzar/chatlog ``chatlog server``)."""

    kind: Literal["chatlog"]
    name: str = Field(min_length=1, description="unique; the key of this source's stored cursor")
    url: str = Field("http://127.0.0.1:5030", description="the API's base URL")
    talkers: tuple[str, ...] = Field((), description="group ids (…@chatroom) to pull; empty: every group chat listed")
    every_minutes: float = Field(5, gt=0, le=24 * 60)
    self_id: str = Field("", description="your own wxid, for the messages you sent")
    timeout_seconds: float = Field(30, gt=0, le=600)


class FolderSource(_Section):
    """Import every new or grown export file that appears in a folder."""

    kind: Literal["folder"]
    name: str = Field(min_length=1, description="unique; the key of this source's stored cursor")
    path: str = Field(min_length=1, description="the folder to watch (not recursive)")
    format: str = Field("auto", description="auto (detect per file) or one format name, as qunzhi import --format")
    group_id: str = Field("", description="the group of files that do not name it (MemoTrace CSV)")
    self_id: str = ""
    every_minutes: float = Field(5, gt=0, le=24 * 60)


class WeComSource(_Section):
    """The WeCom chat archive (会话内容存档) of a corporation's customer groups."""

    kind: Literal["wecom"]
    name: str = Field(min_length=1, description="unique; the key of this source's stored cursor (the last seq)")
    corp_id: str = Field(min_length=1, description="企业ID")
    secret_env: str = Field(
        "QUNZHI_WECOM_SECRET", description="environment variable holding the chat archive's Secret (never in the file)"
    )
    private_keys: dict[str, str] = Field(
        min_length=1, description="publickey_ver → path of the PEM RSA private key of that version"
    )
    api_base: str = Field("https://qyapi.weixin.qq.com", description="the WeCom server API (group names and members)")
    every_minutes: float = Field(1, gt=0, le=24 * 60)
    batch: int = Field(1000, ge=1, le=1000, description="messages per GetChatData call")
    timeout_seconds: int = Field(10, ge=1, le=600)
    proxy: str = Field("", description="HTTP proxy for the Finance SDK, if the server needs one")


Source = Annotated[ChatlogSource | FolderSource | WeComSource, Field(discriminator="kind")]


class Web(_Section):
    """The console, ``qunzhi web`` (its --host/--port override these)."""

    host: str = Field("127.0.0.1", description="address to listen on; put a TLS reverse proxy in front for others")
    port: int = Field(8080, ge=1, le=65535)
    session_hours: int = Field(12, ge=1, le=24 * 30, description="how long a login lasts")
    secure_cookies: Literal["auto", "always", "never"] = Field(
        "auto",
        description="Secure session cookies: auto sets them when the request came over HTTPS "
        "(directly or as X-Forwarded-Proto from a trusted proxy)",
    )
    trusted_proxies: tuple[str, ...] = Field(
        ("127.0.0.1",), description="addresses whose X-Forwarded-For/-Proto headers are believed"
    )
    login_attempts: int = Field(5, ge=1, le=1000, description="failed logins per name and address per window")
    login_window_minutes: int = Field(15, ge=1, le=24 * 60)


class Metrics(_Section):
    """Prometheus metrics and /healthz of ``qunzhi run`` (``qunzhi web`` serves them on its own port)."""

    port: int | None = Field(None, ge=1, le=65535, description="qunzhi run's metrics port; unset: off")
    host: str = "127.0.0.1"


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Llm(_Section):
    """Optional one-sentence topic summaries from an OpenAI-compatible chat-completions endpoint
    (``bot.llm``, ``bot.digest.summaries``); without an ``[llm]`` table nothing is asked."""

    enabled: bool = Field(True, description="false keeps the table but asks nothing")
    base_url: str = Field(
        min_length=1, description="the endpoint's /v1 URL: http://127.0.0.1:11434/v1 (Ollama), http://127.0.0.1:8000/v1"
    )
    model: str = Field(min_length=1, description="the model name the endpoint serves")
    api_key_env: str = Field(
        "", description="environment variable holding the API key (never the key itself); '' sends none"
    )
    timeout_seconds: float = Field(30, gt=0, le=600, description="per request")
    retries: int = Field(2, ge=0, le=5, description="more tries after a 429, a 5xx or a dropped connection")
    max_topics: int = Field(5, ge=1, le=50, description="topics summarised per digest, biggest first")
    max_tokens: int = Field(200, ge=16, le=4096, description="most tokens one answer may take")
    daily_token_budget: int = Field(
        100_000, ge=1, description="tokens (prompt and answer) per local day and process; then nothing more is asked"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_key_in_the_file(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(k in data for k in ("api_key", "key", "token")):
            raise ValueError(
                "never put the API key in the file: name the environment variable holding it in api_key_env"
            )
        return data

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError("must be an http:// or https:// URL, the endpoint's base (e.g. http://127.0.0.1:11434/v1)")
        if v.rstrip("/").endswith("/chat/completions"):
            raise ValueError("name the /v1 base URL only; /chat/completions is added")
        return v.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, v: str) -> str:
        if v and not _ENV_NAME.match(v):
            raise ValueError("must be the name of an environment variable (letters, digits, _), not the key itself")
        return v

    def api_key(self) -> str:
        """The key from ``api_key_env`` ('' when none is named); :class:`ConfigError` when it is named but unset."""
        if not self.api_key_env:
            return ""
        key = os.environ.get(self.api_key_env, "").strip()
        if not key:
            raise ConfigError(f"llm.api_key_env: the environment variable {self.api_key_env} is not set")
        return key


class Config(_Section):
    bot: Bot = Bot()
    database: Database = Database()
    models: Models = Models()
    analysis: Analysis = Analysis()
    moderation: Moderation = Moderation()
    digest: Digest = Digest()
    send: Send = Send()
    wechaty: Wechaty = Wechaty()
    privacy: Privacy = Privacy()
    profiles: Profiles = Profiles()
    leads: Leads = Leads()
    web: Web = Web()
    metrics: Metrics = Metrics()
    llm: Llm | None = None  # no [llm] table: no summaries
    sources: tuple[Source, ...] = ()
    groups: tuple[Group, ...] = ()
    briefing: tuple[Briefing, ...] = Field((), description="personal briefings across groups: [[briefing]] tables")

    @model_validator(mode="after")
    def _unique_groups(self) -> Config:
        seen: set[str] = set()
        for g in self.groups:
            if g.id in seen:
                raise ValueError(f"group id {g.id!r} appears twice in [[groups]]")
            seen.add(g.id)
        names: set[str] = set()
        for source in self.sources:
            if source.name in names:
                raise ValueError(f"source name {source.name!r} appears twice in [[sources]]")
            names.add(source.name)
        return self

    @model_validator(mode="after")
    def _resolve_briefings(self) -> Config:
        """Each briefing's "all" becomes every configured group; a listed id must be configured;
        one recipient, one briefing."""
        known = tuple(g.id for g in self.groups)
        resolved: list[Briefing] = []
        recipients: set[str] = set()
        for i, b in enumerate(self.briefing):
            if b.to in recipients:
                raise ValueError(f"briefing.{i}.to: {b.to!r} has a briefing already (one per recipient)")
            recipients.add(b.to)
            if b.groups == ("*",):
                if not known:
                    raise ValueError(f'briefing.{i}.groups: "all" needs at least one [[groups]] table')
                b = b.model_copy(update={"groups": known})
            unknown = [g for g in b.groups if g not in known]
            if unknown:
                raise ValueError(
                    f"briefing.{i}.groups: unknown group id {', '.join(map(repr, unknown))} (not in [[groups]])"
                )
            resolved.append(b)
        object.__setattr__(self, "briefing", tuple(resolved))
        return self

    @property
    def briefings(self) -> tuple[Briefing, ...]:
        """Every configured personal briefing, groups resolved to ids."""
        return self.briefing

    def briefing_for(self, recipient: str) -> Briefing | None:
        return next((b for b in self.briefing if b.to == recipient), None)

    def group(self, group_id: str) -> Group | None:
        return next((g for g in self.groups if g.id == group_id), None)

    def topic_for(self, group_id: str, fallback: str = "") -> str:
        g = self.group(group_id)
        return g.topic if g and g.topic else fallback

    def weekly_digest_for(self, group_id: str) -> WeeklyTime | None:
        """When the group's weekly digest runs: its digest_weekly, else [digest].weekly; None when off."""
        g = self.group(group_id)
        value = g.digest_weekly if g and g.digest_weekly is not None else self.digest.weekly
        return None if value in (None, OFF) else weekly_time(value)

    def monthly_digest_for(self, group_id: str) -> MonthlyTime | None:
        """When the group's monthly digest runs: its digest_monthly, else [digest].monthly; None when off."""
        g = self.group(group_id)
        value = g.digest_monthly if g and g.digest_monthly is not None else self.digest.monthly
        return None if value in (None, OFF) else monthly_time(value)

    def moderation_for(self, group_id: str) -> Moderation:
        g = self.group(group_id)
        return g.moderation if g and g.moderation else self.moderation

    def lead_keywords_for(self, group_id: str) -> tuple[str, ...]:
        g = self.group(group_id)
        return g.lead_keywords if g and g.lead_keywords is not None else self.leads.keywords

    def demographics_path(self) -> Path | None:
        if not self.profiles.demographics:
            return None
        p = Path(self.profiles.demographics)
        return p if p.is_absolute() else PROJECT_ROOT / p

    def digest_timezone(self) -> ZoneInfo:
        return ZoneInfo(self.digest.timezone or self.bot.timezone)

    def models_path(self) -> Path:
        p = Path(self.models.path)
        return p if p.is_absolute() else PROJECT_ROOT / p

    def ner_path(self) -> Path | None:
        """The NER model directory, or None when entities come from the patterns only."""
        if not self.models.use or not self.models.ner_path:
            return None
        p = Path(self.models.ner_path)
        return p if p.is_absolute() else PROJECT_ROOT / p

    def wechaty_endpoint(self) -> str:
        return os.environ.get("WECHATY_PUPPET_SERVICE_ENDPOINT") or self.wechaty.endpoint

    def wechaty_token(self) -> str:
        return os.environ.get("WECHATY_PUPPET_SERVICE_TOKEN") or self.wechaty.token


def _dotted(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def _format_errors(path: Path, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = _dotted(e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (typo?)"
        lines.append(f"{path}: {key}: {msg}")
    return "\n".join(lines)


def load_config(path: Path | str) -> Config:
    path = Path(path)
    try:
        return Config.model_validate(tomllib.loads(path.read_text("utf-8")))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    except ValidationError as e:
        raise ConfigError(_format_errors(path, e)) from None


def default_config() -> Config:
    return Config()
