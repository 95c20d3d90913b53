"""Small readers shared by the digest's parts: how a message is shown, how useful it is, whether
it asks something, which URLs it carries. No state."""

from __future__ import annotations

import re
from collections.abc import Collection
from zoneinfo import ZoneInfo

from bot import catalogue
from bot.digest.data import MessageLine
from bot.message import MessageKind
from bot.privacy import mask
from bot.records import AnalysedMessage
from nlp.patterns import find_urls, strip_urls

SHORT_CHARS = 60
LONG_CHARS = 160

_WS = re.compile(r"\s+")

# Kinds whose text is a placeholder ("[图片]"), never content.
MEDIA_KINDS = frozenset({MessageKind.IMAGE, MessageKind.STICKER, MessageKind.VOICE, MessageKind.VIDEO})

# A message asks something when it says so: a question mark, 吗/呢 at a clause end, or a cue
# ("请教", "有人…过", "怎么", "哪个", "多少", "选哪", …). Used beside the intent verdict, which
# misreads long technical questions (see docs/model-card.md, limits).
_QUESTION_RE = re.compile(
    r"[?？]|[吗呢](?:[\s，。,.!！~～]|$)|请教|问个|问下|问一下|求助|求教|有没有|有谁|有人.{0,20}?(?:过|知道|遇到|用|懂)"
    r"|怎么(?!可能|了|回事)|如何|为什么|为啥|哪个|哪家|哪些|哪里|多少|是不是|能不能|可不可以|选哪|咋"
)


# Openers that say nothing about a question: greetings and "请教一下：" (taken off in thread roots
# and unanswered questions).
_OPENER = re.compile(
    r"^(?:(?:早上好|上午好|下午好|晚上好|大家好|各位大佬|各位|hello|hi)[，,！!。~～\s]*)*"
    r"(?:(?:问个问题|问一个问题|请教一下|请教下|请教个问题|问一下|问下|顺便问下|顺便问一下|再问一个|求助)[：:，,。\s]*)?",
    re.IGNORECASE,
)


_LEADING_MENTIONS = re.compile(r"^(?:\s*@[^\s@]+)+\s*")


def brief(text: str) -> str:
    """``text`` without a greeting or "请教一下：" in front (unchanged if nothing would be left)."""
    rest = _OPENER.sub("", text, count=1).strip()
    return rest if len(rest) >= 4 else text


def short(text: str, limit: int = SHORT_CHARS) -> str:
    """Masked, one line, at most ``limit`` characters. Masks before cutting, so no half number leaks."""
    one_line = _WS.sub(" ", mask(text)).strip()
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def sender(am: AnalysedMessage) -> str:
    m = am.message
    return mask(m.sender_name.strip() or m.sender_id)


class Liner:
    """Turns messages into :class:`MessageLine` for one digest: local time, masking, and "@name"
    mentions of opted-out members replaced by "@群友"."""

    def __init__(self, tz: ZoneInfo, hidden_names: Collection[str] = ()) -> None:
        self.tz = tz
        names = sorted({n for n in hidden_names if n.strip()}, key=len, reverse=True)
        self._hidden = re.compile("@(?:" + "|".join(map(re.escape, names)) + ")") if names else None

    def text(self, text: str, limit: int = SHORT_CHARS) -> str:
        if self._hidden is not None:
            text = self._hidden.sub("@" + catalogue.HIDDEN_MEMBER, text)
        return short(text, limit)

    def hhmm(self, am: AnalysedMessage) -> str:
        return am.message.sent_at.astimezone(self.tz).strftime("%H:%M")

    def line(
        self, am: AnalysedMessage, limit: int = SHORT_CHARS, count: int = 1, *, opener: bool = True, to: bool = True
    ) -> MessageLine:
        """``opener=False`` drops a greeting or "请教一下：" in front (questions); ``to=False`` the
        "@name" it starts with (replies in a thread, where who is answered is plain)."""
        text = am.message.text if opener else brief(am.message.text)
        if not to:
            text = _LEADING_MENTIONS.sub("", text) or text
        return MessageLine(am.message.id, sender(am), self.hhmm(am), self.text(text, limit), count)


def usefulness(am: AnalysedMessage, counted_as_ad: bool) -> float:
    """p(useful) from the stored verdict, 0..1; 0.5 when unknown.

    A message the ad model calls an ad but the digest does not count as one (the rule baseline
    disagreed, or an admin posted it) gets 0.5: the useful head shares the ad head's confusion on
    long technical messages, so its verdict on those says little.
    """
    if counted_as_ad:
        return 0.0
    v = am.verdicts.get("useful")
    if v is None or v.label not in ("useful", "useless"):
        return 0.5
    ad = am.verdicts.get("ad")
    if ad is not None and ad.label == "ad":
        return 0.5
    return v.score if v.label == "useful" else 1.0 - v.score


def has_text(am: AnalysedMessage) -> bool:
    return (
        am.message.kind not in MEDIA_KINDS
        and am.message.kind is not MessageKind.SYSTEM
        and bool(am.message.text.strip())
    )


def worded_as_question(am: AnalysedMessage) -> bool:
    """The text itself asks (a question mark or a cue), whatever the intent verdict says: "官方 3 折
    怎么可能" is a remark even where the intent model reads a question."""
    return has_text(am) and bool(_QUESTION_RE.search(strip_urls(am.message.text)))


def asks(am: AnalysedMessage) -> bool:
    """A question: the intent verdict says so, or the text asks and the intent verdict does not
    call it chit-chat."""
    if not has_text(am):
        return False
    intent = am.label("intent")
    if intent == "question":
        return True
    text = strip_urls(am.message.text)
    return intent != "chitchat" and len(text.strip()) >= 6 and bool(_QUESTION_RE.search(text))


def urls(am: AnalysedMessage) -> list[str]:
    found = [e.text for e in am.entities if e.type == "URL" and e.text]
    found += find_urls(am.message.text)  # trimmed of sentence punctuation, like the entities
    return list(dict.fromkeys(found))


def is_link(am: AnalysedMessage) -> bool:
    return am.message.kind is MessageKind.LINK or bool(urls(am))
