"""Exact extractors: what patterns find better than a model. Stdlib only.

``extract_patterns(text, now, tz)`` returns ``Entity`` records (``source="pattern"``), sorted by
``start``, with character offsets into ``text`` (``end`` exclusive) and a normalised ``value``:

- ``URL``: ``http(s)://…``, ``www.…`` and bare domains with a common TLD (``github.com/x/y``,
  ``baidu.com``); ASCII only, so a URL ends at Chinese text or punctuation, and a trailing ``.``,
  ``,`` or unbalanced ``)`` is left out. Value: the URL (full-width forms folded), ``http://``
  added to a bare one.
- ``EMAIL``: ``name@host.tld``. Value: the address with its domain in lower case.
- ``PHONE``: mainland mobiles ``1[3-9]`` + 9 digits, spaced or dashed anywhere (``138 0013 8000``),
  with ``+86``/``0086``/``86-`` in front, in full-width or Chinese digits (``一三八零…``, ``幺``);
  landlines with an area code and a separator (``010-12345678``, ``(0755)1234567``); ``400``/``800``
  numbers. Value: the digits; a mobile without its country code.
- ``WECHAT``: an id after 微信/微信号/wx/vx/V信/加V/加微/威信/薇信/绿泡泡/wechat…: 6–20 of
  ``[A-Za-z0-9_-]`` starting with a letter (a plain word after a weak trigger, ``微信 message``,
  is not one), or 5–11 digits or Chinese numerals after those triggers; ``wxid_…`` and ``wx_…``
  anywhere. Value: the id (digits for a number).
- ``QQ``: 5–11 digits, or Chinese numerals, after QQ/QQ号/QQ群/Q群/扣扣/企鹅/群号. Value: digits.
- ``MONEY``: ``¥299 ￥299 299元 1,299 块 3块5 两块五 五毛 两千元 3.5万元 $20 HK$100 20美元 20刀``,
  a rate after it (``500块/天``, ``200块一晚``), a bare amount after 月薪/年薪/价格/预算/…
  (``月薪2万``, ``月薪15k``), and ``3.5万``/``3w`` alone when nothing but punctuation follows.
  Value: ``"<amount> <ISO currency>"`` with the amount in units (``"35000 CNY"``, ``"20 USD"``),
  plus ``/day``, ``/month``… for a rate, written or implied by 月薪/年薪/日薪/时薪.
- ``TIME``: dates and times, see ``nlp.timeparse``. Value: ISO 8601 of the resolved time in the
  group timezone (the first day, at 00:00, of a week or a month).

Matching runs on ``timeparse.fold(text)`` (full-width forms, look-alike letters, zero-width
characters as spaces, one character for one), so evasions count and offsets stay on ``text``.

Overlaps are settled by type, in this order: URL, EMAIL, PHONE, WECHAT, QQ, MONEY, TIME; within a
type the longer match wins. So a phone number is never also a QQ number or a time, a number inside
a URL is part of the URL, and an amount is never a time.

Scores: 1.0, except a bare domain (0.9), a landline (0.9), an id after a weak trigger such as a
lone ``wx`` (0.8), an amount known only from a trigger word (0.9) or from ``万`` alone (0.7), and
the times ``nlp.timeparse`` guessed (0.8–0.9).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, tzinfo
from decimal import Decimal

from nlp.normalize import CN_DIGITS
from nlp.timeparse import find_times, fold, parse_number
from nlp.verdict import Entity

__all__ = [
    "CONTACT_TYPES",
    "PATTERN_TYPES",
    "contact_entities",
    "extract_patterns",
    "find_urls",
    "is_number_id",
    "strip_urls",
]

PATTERN_TYPES: tuple[str, ...] = ("URL", "EMAIL", "PHONE", "WECHAT", "QQ", "MONEY", "TIME")
_SOURCE = "pattern"


def _entity(kind: str, text: str, start: int, end: int, value: str, score: float = 1.0) -> Entity:
    return Entity(kind, start, end, text[start:end], score, _SOURCE, value)


# --- URL ---------------------------------------------------------------------------------------

_URL_CHARS = r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]"
_TLDS = ("com|cn|net|org|io|me|cc|co|tv|top|xyz|info|vip|shop|club|site|app|dev|tech|ai|gov|edu|"
         "mil|biz|link|live|online|store|wang|ink|pub|fun|art|ltd|pro|hk|tw|jp|uk|us|de")  # fmt: skip
_URL_RE = re.compile(
    rf"(?<![A-Za-z0-9])(?P<scheme>https?://|www\.){_URL_CHARS}+"
    rf"|(?<![@A-Za-z0-9_.\-])(?P<host>(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+(?:{_TLDS}))(?![A-Za-z0-9-])"
    rf"(?:[/?#]{_URL_CHARS}*)?",
    re.IGNORECASE,
)
_URL_TRAILING = ".,;:!?'\"*"


def _trim_url(s: str) -> str:
    """Drop trailing punctuation that ends the sentence, and a closing bracket that opened outside."""
    while s and (s[-1] in _URL_TRAILING or (s[-1] == ")" and s.count("(") < s.count(")"))):
        s = s[:-1]
    return s


def _url_matches(folded: str) -> Iterator[tuple[int, int, bool]]:
    """``(start, end, has_scheme)`` of every URL in folded text, trailing punctuation trimmed."""
    for m in _URL_RE.finditer(folded):
        yield m.start(), m.start() + len(_trim_url(m.group())), bool(m["scheme"])


def find_urls(text: str) -> list[str]:
    """Every URL in ``text`` as written: with a scheme or ``www.``, or a bare host on a known
    top-level domain (``github.com/vllm-project``); sentence punctuation after it is not part of it.
    The one URL finder of the product: the extractor, the digest and the profiles use it."""
    return [text[s:e] for s, e, _ in _url_matches(fold(text))]


def strip_urls(text: str, repl: str = " ") -> str:
    """``text`` with every URL :func:`find_urls` finds replaced by ``repl``."""
    out, pos = [], 0
    for s, e, _ in _url_matches(fold(text)):
        out += [text[pos:s], repl]
        pos = e
    return "".join(out) + text[pos:]


def _urls(text: str, folded: str) -> Iterator[Entity]:
    for start, end, scheme in _url_matches(folded):
        url = folded[start:end]
        if scheme:
            value = url if url.lower().startswith("http") else "http://" + url
            yield _entity("URL", text, start, end, value)
        else:
            yield _entity("URL", text, start, end, "http://" + url, 0.9)


# --- EMAIL -------------------------------------------------------------------------------------

_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+-])(?P<local>[A-Za-z0-9._%+-]+)@(?P<domain>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
    r"(?![A-Za-z0-9-])"
)


def _emails(text: str, folded: str) -> Iterator[Entity]:
    for m in _EMAIL_RE.finditer(folded):
        yield _entity("EMAIL", text, m.start(), m.end(), f"{m['local']}@{m['domain'].lower()}")


# --- PHONE -------------------------------------------------------------------------------------

_D = "0-9" + "".join(CN_DIGITS)  # a digit, ASCII or Chinese (inside [...])
_SEP = r"[ \t.\-]?"
_MOBILE_RE = re.compile(
    rf"(?<![{_D}A-Za-z+])(?:(?:\+|00)\s?86{_SEP}|86[ \-])?"
    rf"[1一幺壹]{_SEP}[3-9三四五六七八九叁肆伍陆柒捌玖](?:{_SEP}[{_D}]){{9}}(?![{_D}])"
)
_LANDLINE_RE = re.compile(r"(?<![\d\-])(?:\(0(?:10|2\d|[3-9]\d{2})\)\s?|0(?:10|2\d|[3-9]\d{2})[ \-])\d{7,8}(?!\d)")
_SERVICE_RE = re.compile(r"(?<![\d\-])[48]00[ \-]?\d{3}[ \-]?\d{4}(?![\d])")


def _digits(s: str) -> str:
    return "".join(CN_DIGITS.get(c, c) for c in s if c.isdigit() or c in CN_DIGITS)


def _phones(text: str, folded: str) -> Iterator[Entity]:
    for m in _MOBILE_RE.finditer(folded):
        yield _entity("PHONE", text, m.start(), m.end(), _digits(m.group())[-11:])
    for m in _LANDLINE_RE.finditer(folded):
        yield _entity("PHONE", text, m.start(), m.end(), _digits(m.group()), 0.9)
    for m in _SERVICE_RE.finditer(folded):
        yield _entity("PHONE", text, m.start(), m.end(), _digits(m.group()))


# --- WECHAT and QQ -----------------------------------------------------------------------------

_CN_NUMERALS = "零〇一二三四五六七八九"
# a number given as an id: 5-11 digits, or Chinese numerals spelt out to dodge filters (二九一二…)
_NUMBER_ID = rf"[1-9]\d{{4,10}}(?![\dA-Za-z_-]|\.\d) | [一二三四五六七八九][{_CN_NUMERALS}]{{4,10}}(?![{_CN_NUMERALS}])"
_WECHAT_RE = re.compile(
    rf"""
    (?P<trigger>
        加\s*[vV](?:[xX]|信)? | \+\s*[vV][xX]? | 加微(?:信)? | 微信号? | [vV]信 | 薇信 | 威信 | 徽信
      | 维信 | [微薇威徽维vV]亻言 | 卫星号 | 绿泡泡 | (?<![A-Za-z0-9])(?:vx|wx|weixin|wechat)(?:号)?(?![A-Za-z])
    )
    (?P<sep>\s*(?:号码|号|id)?\s*(?:[:=是为]|is)?\s*)
    (?P<id>[A-Za-z][-_A-Za-z0-9]{{5,19}}(?![-_A-Za-z0-9]|[.@][A-Za-z0-9]) | {_NUMBER_ID})
    """,
    re.IGNORECASE | re.VERBOSE,
)
# wxid_… (WeChat's own ids) and wx_… anywhere, trigger or not
_WXID_RE = re.compile(r"(?<![A-Za-z0-9_])wx(?:id)?_[A-Za-z0-9_-]{4,30}(?![A-Za-z0-9_-])", re.IGNORECASE)
_STRONG_SEP = re.compile(r"[:=是为]|is", re.IGNORECASE)
_QQ_RE = re.compile(
    rf"""
    (?P<trigger>
        (?<![A-Za-z])qq(?:号码|号|群号?)? | (?<![A-Za-z])q[号群] | 扣扣(?:号|群)? | 企鹅(?:号|群)? | 群号(?:码)?
    )
    \s*(?:[:=是为]\s*)?
    (?P<id>{_NUMBER_ID})
    """,
    re.IGNORECASE | re.VERBOSE,
)


def _wechat_ids(text: str, folded: str) -> Iterator[Entity]:
    for m in _WXID_RE.finditer(folded):
        yield _entity("WECHAT", text, m.start(), m.end(), m.group())
    for m in _WECHAT_RE.finditer(folded):
        ident = m["id"]
        strong = m["trigger"][0] in "加+" or _STRONG_SEP.search(m["sep"]) is not None
        if ident.isascii() and ident.isalpha() and not strong:
            continue  # "微信 message": a plain word after the trigger
        weak = m["trigger"].lower() in ("wx", "vx") and not strong
        value = _digits(ident) if is_number_id(ident) else ident
        yield _entity("WECHAT", text, m.start("id"), m.end("id"), value, 0.8 if weak else 1.0)


def is_number_id(ident: str) -> bool:
    """Whether a WeChat or QQ id found here is a number (digits, or Chinese numerals)."""
    return ident.isdecimal() or all(c in _CN_NUMERALS for c in ident)


def _qq_numbers(text: str, folded: str) -> Iterator[Entity]:
    for m in _QQ_RE.finditer(folded):
        yield _entity("QQ", text, m.start("id"), m.end("id"), _digits(m["id"]))


# --- MONEY -------------------------------------------------------------------------------------

_AMOUNT_D = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_CN_AMOUNT = "零〇一二两三四五六七八九十百千万亿壹贰叁肆伍陆柒捌玖拾佰仟"
_MULT = r"万|千|百|亿|[kKwW](?![A-Za-z])"
_AMOUNT = rf"(?:(?P<d>{_AMOUNT_D})(?:\s*(?P<mult>{_MULT}))?|(?P<cn>[{_CN_AMOUNT}]+))"
_START = rf"(?<![A-Za-z0-9.,{_CN_AMOUNT}])"
_PREFIX_CUR = {"¥": "CNY", "RMB": "CNY", "CNY": "CNY", "人民币": "CNY", "US$": "USD", "$": "USD",
               "USD": "USD", "HK$": "HKD", "€": "EUR", "£": "GBP"}  # fmt: skip
_SUFFIX_CUR = {
    "元": "CNY", "块钱": "CNY", "块": "CNY", "圆": "CNY", "人民币": "CNY", "rmb": "CNY", "cny": "CNY",
    "毛": "CNY", "角": "CNY", "美元": "USD", "美金": "USD", "刀": "USD", "usd": "USD", "港币": "HKD",
    "港元": "HKD", "欧元": "EUR", "日元": "JPY", "英镑": "GBP",
}  # fmt: skip
_TENTHS = {"毛", "角"}
_PER = {"天": "day", "日": "day", "晚": "night", "月": "month", "个月": "month", "年": "year",
        "小时": "hour", "时": "hour", "h": "hour", "次": "time", "人": "person", "个": "piece",
        "件": "piece", "单": "order", "周": "week"}  # fmt: skip
_TRIGGER_PER = {"月薪": "month", "年薪": "year", "日薪": "day", "时薪": "hour", "底薪": "month"}
_TRIGGERS = ("月薪|年薪|日薪|时薪|底薪|工资|薪资|薪水|薪酬|报价|售价|价格|原价|现价|特价|单价|总价|定价|"
             "价钱|只要|仅需|仅售|收费|费用|预算|租金|押金|学费")  # fmt: skip


def _alt(words: Iterable[str]) -> str:
    return "|".join(sorted(map(re.escape, words), key=len, reverse=True))


_RATE = rf"(?:\s*(?:/|每|一)\s*(?P<per>{_alt(_PER)}))?"
_TAIL_DIGIT = r"[1-9一二三四五六七八九两](?=[毛角钱]|[^\d\u3400-\u9fff]|$)"  # not "200块一晚"
_TAIL = rf"(?:(?<=块)(?P<tail>{_TAIL_DIGIT})(?:毛|角)?|(?<=[元圆])(?P<tail10>{_TAIL_DIGIT})[毛角])?钱?"  # 3块5, 5元5角
_PREFIX_RE = re.compile(
    rf"(?<![A-Za-z])(?P<cur>{_alt(_PREFIX_CUR)})\s*{_AMOUNT}(?:\s*(?:元|块))?{_RATE}", re.IGNORECASE
)
_SUFFIX_RE = re.compile(rf"{_START}{_AMOUNT}\s*(?P<unit>{_alt(_SUFFIX_CUR)}){_TAIL}{_RATE}", re.IGNORECASE)
_TRIGGER_RE = re.compile(
    rf"(?P<trigger>{_TRIGGERS})\s*(?:[:是为]\s*)?(?:大概|大约|约|才|只要|仅)?\s*"
    rf"(?P<amount>{_AMOUNT}){_RATE}"
)
_BARE_BIG_RE = re.compile(rf"{_START}(?P<d>{_AMOUNT_D})\s*(?P<mult>万|亿|[wW](?![A-Za-z]))")
_CLEAN_AFTER = re.compile(r"$|[^\u3400-\u9fff]|[每一左多起的整吧啊呢哦呀了]")
_BARE_BIG_AFTER = re.compile(r"\s*(?:$|左右|多|起|[^\w\s])")  # "3.5万", "3.5万左右"; not "3.5万人", "2000万 token"
_MULTIPLIERS = {"万": 10**4, "千": 1000, "百": 100, "亿": 10**8, "k": 1000, "w": 10**4}


def _amount(m: re.Match[str]) -> Decimal | None:
    if cn := m.groupdict().get("cn"):
        return parse_number(cn)
    n = parse_number(m["d"])
    if n is not None and m["mult"]:
        n *= _MULTIPLIERS[m["mult"].lower()]
    return n


def _format(amount: Decimal, currency: str, per: str | None) -> str:
    number = format(amount.normalize(), "f")
    return f"{number} {currency}" + (f"/{per}" if per else "")


def _per(m: re.Match[str], folded: str, start: int) -> str | None:
    """The rate of an amount: written after it ("/天") or implied by a salary word before it."""
    if m["per"]:
        return _PER[m["per"].lower()]
    before = folded[max(0, start - 6) : start]
    return next((per for word, per in _TRIGGER_PER.items() if word in before), None)


def _is_cjk_at(s: str, i: int) -> bool:
    return i < len(s) and "\u3400" <= s[i] <= "\u9fff"


def _suffix_money(m: re.Match[str], folded: str) -> tuple[Decimal, str] | None:
    amount = _amount(m)
    unit = m["unit"].lower()
    tail = m["tail"] or m["tail10"]
    if amount is None or (unit == "刀" and m["cn"]):
        return None  # "一刀切"
    if m["cn"] and len(m["cn"]) == 1 and unit in ("元", "圆") and _is_cjk_at(folded, m.end("unit")):
        return None  # "二元一次方程", "一元复始"
    if (m["cn"] or unit == "块") and not (tail or m["per"]) and not _CLEAN_AFTER.match(folded, m.end()):
        return None  # "一块去", "3块蛋糕"
    if unit in _TENTHS:
        amount /= 10
    elif tail:
        amount += Decimal(parse_number(tail) or 0) / 10  # "3块5" = 3.5
    return amount, _SUFFIX_CUR[unit]


def _money(text: str, folded: str) -> Iterator[Entity]:
    for m in _PREFIX_RE.finditer(folded):
        amount = _amount(m)
        if amount is not None:
            cur = _PREFIX_CUR.get(m["cur"]) or _PREFIX_CUR[m["cur"].upper()]
            yield _entity("MONEY", text, m.start(), m.end(), _format(amount, cur, _per(m, folded, m.start())))
    for m in _SUFFIX_RE.finditer(folded):
        if found := _suffix_money(m, folded):
            yield _entity("MONEY", text, m.start(), m.end(), _format(*found, _per(m, folded, m.start())))
    for m in _TRIGGER_RE.finditer(folded):
        amount = _amount(m)
        if amount is not None and amount > 0:
            value = _format(amount, "CNY", _per(m, folded, m.start("amount")))
            yield _entity("MONEY", text, m.start("amount"), m.end(), value, 0.9)
    for m in _BARE_BIG_RE.finditer(folded):
        amount = _amount(m)
        if amount is not None and _BARE_BIG_AFTER.match(folded, m.end()):
            yield _entity("MONEY", text, m.start(), m.end(), _format(amount, "CNY", None), 0.7)


# --- TIME --------------------------------------------------------------------------------------


def _times(text: str, now: datetime, tz: tzinfo) -> Iterator[Entity]:
    for t in find_times(text, now, tz):
        yield Entity("TIME", t.start, t.end, t.text, t.score, _SOURCE, t.when.isoformat())


# --- all together ------------------------------------------------------------------------------

_FINDERS: tuple[Callable[[str, str], Iterator[Entity]], ...] = (
    _urls, _emails, _phones, _wechat_ids, _qq_numbers, _money
)  # fmt: skip
_RANK = {kind: i for i, kind in enumerate(PATTERN_TYPES)}


def _settle(candidates: list[Entity]) -> list[Entity]:
    """Keep the best of overlapping candidates: earlier type in PATTERN_TYPES, then longer."""
    kept: list[Entity] = []
    for e in sorted(candidates, key=lambda e: (_RANK[e.type], -(e.end - e.start), e.start)):
        if all(e.end <= k.start or e.start >= k.end for k in kept):
            kept.append(e)
    return sorted(kept, key=lambda e: (e.start, e.end))


CONTACT_TYPES: tuple[str, ...] = ("EMAIL", "PHONE", "WECHAT", "QQ")
_CONTACT_FINDERS = (_urls, _emails, _phones, _wechat_ids, _qq_numbers)


def contact_entities(text: str) -> list[Entity]:
    """Only the contact details of ``text`` (e-mails, phones, WeChat ids, QQ numbers), settled
    against URLs as :func:`extract_patterns` settles them, so a number inside a URL is not one.
    What the privacy mask hides (``bot.privacy``)."""
    if not text:
        return []
    folded = fold(text)
    return [e for e in _settle([e for find in _CONTACT_FINDERS for e in find(text, folded)]) if e.type != "URL"]


def extract_patterns(text: str, now: datetime, tz: tzinfo) -> list[Entity]:
    """URLs, e-mails, phones, WeChat ids, QQ numbers, amounts and times in ``text`` (see the module
    docstring); ``now`` is the message time (aware), ``tz`` the group timezone."""
    if not text:
        return []
    folded = fold(text)
    candidates = [e for find in _FINDERS for e in find(text, folded)]
    candidates += _times(text, now, tz)
    return _settle(candidates)
