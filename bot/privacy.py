"""Mask contact details before a message's text is shown anywhere (digest, reports, logs).

``mask(text)`` hides mainland mobile numbers, WeChat ids, QQ numbers and e-mail addresses, keeping a
short hint ("138****8000", "wx_a***", "12***89", "a***@qq.com") so a reader still sees *that* a
contact was posted. Matching runs on an NFKC-normalised copy (full-width digits and letters count),
one character for one character, so the replacements land on the original string's positions.
Numbers spelt in Chinese numerals after a trigger ("扣扣：二九一二…") and 11-numeral mobiles count too.
URLs are left alone, digits and all. Masking is idempotent: a hint never matches again. Stdlib only.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from nlp.normalize import CONFUSABLE_LETTERS

__all__ = ["URL_RE", "mask"]

# URLs, matched on the original text with an ASCII-only body so a URL stops at Chinese text or
# full-width punctuation. The digits inside a URL are never masked.
_URL_CHARS = r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]"
URL_RE = re.compile(
    rf"(?:https?://|www\.){_URL_CHARS}+"
    rf"|(?<![@\w.])(?:[A-Za-z0-9-]+\.)+[A-Za-z]{{2,}}/{_URL_CHARS}*",
    re.IGNORECASE,
)

_EMAIL_RE = re.compile(
    r"(?<![a-z0-9._%+-])(?P<local>[a-z0-9._%+-]+)@(?P<domain>[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,})",
    re.IGNORECASE,
)

# Mainland mobile: 1[3-9] and nine more digits, optionally +86 / 0086 / 86 in front, optionally
# written 3-4-4 with spaces or dashes.
_PHONE_RE = re.compile(r"(?<!\d)(?:(?:\+|00)?86[\s-]?)?1[3-9]\d(?:[\s-]?\d{4}){2}(?!\d)")

# Numbers written in Chinese numerals to dodge filters: "扣扣：二九一二一八七六七".
_CN = "零〇一二三四五六七八九"
_CN_PHONE_RE = re.compile(rf"(?<![{_CN}])一[三四五六七八九][{_CN}]{{9}}(?![{_CN}])")
_NUMBER_ID = rf"[1-9]\d{{4,10}}(?!\d)(?!\.\d)|[一二三四五六七八九][{_CN}]{{4,10}}(?![{_CN}])"

_WXID_RE = re.compile(r"(?<![a-z0-9_])wx(?:id)?_[a-z0-9_-]{4,}", re.IGNORECASE)

# A WeChat id after a trigger word. Chinese triggers (and 加V, +V) may be followed directly by the
# id; the Latin ones (vx, wx, weixin) must stand alone as a word.
_WECHAT_RE = re.compile(
    r"""
    (?P<trigger>
        加\s*[vV](?:[xX]|信)? | \+\s*[vV] | 加微(?:信)? | 微信号? | [vV]信 | 薇信 | 威信 | 徽信 | 维信 | 绿泡泡
      | (?:[微薇威徽维vV])亻言
      | (?<![a-z0-9])(?:vx|wx|weixin|wechat)(?:号)?(?![a-z])
    )
    (?P<sep>\s*(?:号码|号|id)?\s*(?:[:=是为]|is)?\s*)
    (?P<id>[a-z][-_a-z0-9]{5,19}(?![-_a-z0-9])|NUMBER_ID)
    """.replace("NUMBER_ID", _NUMBER_ID),
    re.IGNORECASE | re.VERBOSE,
)

_QQ_RE = re.compile(
    r"""
    (?P<trigger>
        (?<![a-z])qq(?:号码|号|群号?)? | (?<![a-z])q[号群] | 扣扣(?:号|群)? | 企鹅号 | 群号(?:码)?
    )
    (?P<sep>\s*(?:[:=是为]\s*)?)
    (?P<id>NUMBER_ID)
    """.replace("NUMBER_ID", _NUMBER_ID),
    re.IGNORECASE | re.VERBOSE,
)

_EXPLICIT_SEP = re.compile(r"[:=是为]|is", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Span:
    start: int
    end: int
    hint: str


def _normalise(text: str) -> str:
    """NFKC and lookalike letters (Cyrillic х for x), one character for one: a character whose
    NFKC form is not a single character stays, so offsets match the original."""
    out = []
    for ch in text:
        n = unicodedata.normalize("NFKC", ch)
        out.append(CONFUSABLE_LETTERS.get(n, n) if len(n) == 1 else ch)
    return "".join(out)


def _phone_hint(s: str) -> str:
    digits = re.sub(r"\D", "", s)[-11:]
    return f"{digits[:3]}****{digits[-4:]}"


def _is_number(s: str) -> bool:
    return s.isdecimal() or all(c in _CN for c in s)


def _id_hint(s: str) -> str:
    if _is_number(s):
        return f"{s[:2]}***{s[-2:]}"
    keep = 4 if len(s) >= 8 else 2 if len(s) >= 6 else 1
    return f"{s[:keep]}***"


def _spans(original: str) -> list[_Span]:
    norm = _normalise(original)
    taken: list[tuple[int, int]] = [m.span() for m in URL_RE.finditer(original)]
    spans: list[_Span] = []

    def free(start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b in taken)

    def add(start: int, end: int, hint: str) -> None:
        taken.append((start, end))
        spans.append(_Span(start, end, hint))

    for m in _EMAIL_RE.finditer(norm):
        if free(*m.span()):
            add(m.start(), m.end(), f"{m['local'][0]}***@{m['domain']}")
    for m in _PHONE_RE.finditer(norm):
        if free(*m.span()):
            add(m.start(), m.end(), _phone_hint(m.group()))
    for m in _CN_PHONE_RE.finditer(norm):
        if free(*m.span()):
            add(m.start(), m.end(), f"{m.group()[:3]}****{m.group()[-4:]}")
    for m in _WXID_RE.finditer(norm):
        if free(*m.span()):
            prefix = m.group()[: m.group().index("_") + 1]  # "wxid_" or "wx_"
            add(m.start(), m.end(), f"{m.group()[: len(prefix) + 1]}***")
    for m in _WECHAT_RE.finditer(norm):
        ident = m["id"]
        strong = m["trigger"].startswith(("加", "+")) or _EXPLICIT_SEP.search(m["sep"]) is not None
        if ident.isascii() and ident.isalpha() and not strong:
            continue  # "微信 message": a plain word after the trigger, not an id
        if free(*m.span("id")):
            add(m.start("id"), m.end("id"), _id_hint(ident))
    for m in _QQ_RE.finditer(norm):
        if free(*m.span("id")):
            add(m.start("id"), m.end("id"), _id_hint(m["id"]))
    return sorted(spans, key=lambda s: s.start)


def mask(text: str) -> str:
    """``text`` with phone numbers, WeChat ids, QQ numbers and e-mail addresses replaced by hints."""
    if not text:
        return text
    spans = _spans(text)
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    for s in spans:
        out.append(text[pos : s.start])
        out.append(s.hint)
        pos = s.end
    out.append(text[pos:])
    return "".join(out)
