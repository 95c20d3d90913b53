"""Rule-and-lexicon analyzers: the baseline every model is measured against.

Three analyzers, each with ``name``, ``version`` and a batched ``analyse(items) -> list[Verdict]``
(one verdict per :class:`~nlp.item.Item`, in order):

* :class:`AdRules`, analyzer ``"ad"``, label ``"ad"`` or ``"normal"``. Signals (contact handles, QQ
  and phone numbers, money/recruitment and promotion vocabulary, game-cheat and account-selling
  vocabulary, prices, links, evasions such as spaced-out characters and Chinese-numeral numbers) each
  add a weight to the log-odds; ``p(ad) = logistic(1.5 · (bias + Σ weights))``, with each vocabulary
  group capped so a long list of mild words cannot outvote one strong signal. ``label = "ad"`` when
  ``p ≥ 0.5``; ``score`` is the confidence in the label (``p`` or ``1 - p``); ``reasons[0]`` is
  ``"rules p(ad)=…"`` and the rest name each fired signal, strongest first
  (``"contact QQ号 291218767"``, ``"keyword 兼职"``, ``"obfuscation spaced 加 V→加V (contact 加v)"``).
* :class:`UsefulRules`, analyzer ``"useful"``, label ``"useful"`` or ``"useless"`` relative to the
  group topic (``Item.topic``): media without text, laughter, phatic one-liners, greetings and ads are
  useless; questions, links, files, long informative text and overlap with the topic's words (expanded
  by :func:`topic_terms`) are useful.
* :class:`IntentRules`, analyzer ``"intent"``, one of :data:`INTENTS`.

Nothing happens at import: regexes compile on first use, and jieba (used to segment topics and to
count content words) loads once, lazily, the first time it is needed.

The ad lexicon (``nlp.lexicon``) and the weights here were tuned on the ``train`` part of
``nlp.training.datasets.split_of`` only; ``python -m nlp.training.evaluate --rules`` reports the held-out ``test`` part.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nlp import lexicon
from nlp.item import MEDIA_KINDS, Item
from nlp.normalize import Normalized, normalize, normalized
from nlp.policy import POLICY_SCORE, PolicyHit, ad_policy, overrides
from nlp.verdict import INTENTS, Verdict

__all__ = [
    "INTENTS",
    "VERSION",
    "AdRules",
    "AdSignals",
    "IntentRules",
    "Item",
    "UsefulRules",
    "ad_signals",
    "ad_signals_cached",
    "hits",
    "topic_terms",
]

VERSION = "rules-2"  # rules-2: ad policies (nlp/policy.py) decide alone

# ================================================================================================
# jieba, once and lazily
# ================================================================================================

_JIEBA_LOCK = threading.Lock()


@functools.cache
def _jieba() -> Any:  # jieba ships no types
    """The jieba tokenizer, initialised on first call (about a second) and shared afterwards."""
    with _JIEBA_LOCK:
        import logging

        import jieba

        jieba.setLogLevel(logging.WARNING)
        tok = jieba.Tokenizer()
        tok.initialize()
        for word in lexicon.JIEBA_WORDS:
            tok.add_word(word, freq=2000)
        return tok


def _cut(text: str) -> list[str]:
    return [w for w in _jieba().lcut(text) if w.strip()]


def _alt(words: Iterable[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


# ================================================================================================
# AdRules
# ================================================================================================

_BIAS = -2.8
# Log-odds from hand weights are under-confident (signals overlap less than naive Bayes would assume);
# scaling them by this factor minimised log-loss on the train split. It does not move the 0.5 boundary.
_SCALE = 1.5
_W = {  # pattern signals
    "wechat_id": 3.5,  # 加V: abc123, vx: wxid_...
    "add_contact": 2.5,  # 加V, +v, 加薇 (evasive spellings of 微信)
    "add_friend": 1.2,  # 加我微信, 加Q, 加好友
    "wechat_word": 1.5,  # vx, wx, v信, 薇信 (an evasive spelling of 微信)
    "qq_id": 3.5,  # QQ号 291218767, 扣扣 ...
    "group_id": 4.0,  # 群号 / 加群 596370929
    "number": 1.2,  # a bare 6-11 digit run (QQ numbers are 5-11 digits)
    "verb_number": 3.0,  # 加/找/拉/私聊 675899789
    "phone": 2.2,  # mobile or landline, also the x-masked form of the SMS data
    "email": 0.8,
    "price": 1.5,  # 25r, 399/年, ¥99, xx元
    "discount": 2.0,  # 8折, x.x折
    "spend_get": 2.0,  # 满300减50, 买一送一
    "welcome": 1.5,  # 欢迎光临 / 欢迎来电 / 欢迎咨询 ...
    "follow": 1.5,  # 关注微信/公众号
    "sell_start": 3.5,  # "出vape", "收一张of卡", "出二手..." at the start
    "bank_account": 2.0,  # a bank card number next to a bank's name
    "link": 1.5,
    "link_known": 0.2,  # github.com, mp.weixin.qq.com, bilibili.com, ...
    "link_odd_tld": 1.5,  # .top .xyz .shop and other cheap TLDs, short links
    "obfuscation": 2.0,  # a signal that only appeared after normalisation
    "cn_digits": 2.0,  # a number written in Chinese numerals
    "homoglyph": 1.0,  # Latin and Cyrillic/Greek look-alikes mixed in one word
    "bracket_header": 1.0,  # 【店名】 header of marketing SMS
    "exclaim": 0.5,  # three or more "!"
    "long": 0.8,  # 60+ characters
    "very_long": 0.5,  # 100+ characters (on top of long)
}


_D = r"[0-9]"
_NOT_ALNUM_L = r"(?<![a-z0-9])"
_NOT_ALNUM_R = r"(?![a-z0-9])"
_WECHAT_WORDS = (
    "vx",
    "wx",
    "v信",
    "薇信",
    "威信",
    "徽信",
    "维信",
    "微x",
    "卫星号",
    "weixin",
    "wechat",
    "vchat",
    "嶶信",
)


@dataclass(frozen=True, slots=True)
class _Patterns:
    groups: tuple[tuple[str, re.Pattern[str], Mapping[str, float]], ...]
    signals: tuple[tuple[str, re.Pattern[str], str, int], ...]  # key, regex, reason label, group to show


@functools.cache
def _patterns() -> _Patterns:
    """Compile the lexicon once, on first use."""
    wechat = r"(?:vx|wx|v信|微信|薇信|威信|徽信|维信|微x|weixin|wechat|vchat)"
    handle = r"([a-z][-_a-z0-9]{5,19}|1[3-9][0-9]{9})"
    qq_word = r"(?:qq|扣扣|抠抠|寇寇|企鹅|球球|q)"
    banks = r"(?:农行|工行|建行|中行|交行|招行|农业银行|工商银行|建设银行|中国银行|邮政|邮储|信用社|银行)"
    card = r"(?:[0-9x]{4}[ .]*){3}[0-9x]{3,7}"
    units = r"平|万|元|块|人|米|年|月|日|个|次|字|分|秒|号|位|条|份|件|张|台|辆|吨|亿"
    d = _D
    # (key, regex, reason label, regex group shown in the reason or -1 for none). Only the first
    # match of a key counts; a stronger contact form hides the weaker ones it implies (_HIDES).
    signals = (
        # contact handles
        ("wechat_id", rf"(?:{_NOT_ALNUM_L}{wechat}(?:号|号码|id)?|(?:加|\+)\s*v(?:号)?|{_NOT_ALNUM_L}v(?:号)?\s*[:：])"
                      rf"\s*[:：]?\s*{handle}{_NOT_ALNUM_R}", "contact WeChat", 1),
        ("add_contact", r"(?:加|\+|➕|add|嘉|咖)\s*(?:我|个)?\s*(?:v|vx|wx|v信|薇信|威信|徽信|维信|薇|威|卫星)"
                        + _NOT_ALNUM_R, "contact", 0),
        ("add_friend", r"(?:加|\+|➕|add)\s*(?:我|个)?\s*(?:微信|微|q|qq|扣扣|企鹅|好友)" + _NOT_ALNUM_R, "contact", 0),
        ("wechat_word", rf"{_NOT_ALNUM_L}(?:{_alt(_WECHAT_WORDS)})(?![a-z])", "contact word", 0),
        ("qq_id", rf"{_NOT_ALNUM_L}{qq_word}\s*(?:号码|号)?\s*(?:[:：是]|\s)?\s*({d}{{5,11}})(?!{d})",
                  "contact QQ号", 1),
        ("group_id", r"(?:(?:加群|进群|入群|群号|群聊|q群|qq群|裙号|扣群|君羊|外部群|售后群|交流群|内部群|粉丝群|官方群)"
                     rf"[^0-9]{{0,6}}?|(?:群|裙)\s*[号:：]?\s*)({d}{{5,11}})(?!{d})", "contact group", 1),
        ("verb_number", rf"(?:加|找|拉|联系|私聊|私信|滴滴|dd|扣|call)\s*(?:我|群)?\s*[:：]?\s*({d}{{5,11}})(?!{d})",
                        "contact", 1),
        ("phone", rf"(?<![0-9])(?:1[3-9]{d}[- ]?{d}{{4}}[- ]?{d}{{4}}|0{d}{{2,3}}-{d}{{7,8}}"
                  rf"|400-?{d}{{3}}-?{d}{{4}})(?![0-9])", "contact phone", 0),
        # sms_spam_80w masks every digit as "x": its phone numbers are x-runs.
        ("phone", r"(?<![a-z])(?:x{11}|x{3,4}-x{7,8}|400-?xxx-?xxxx|x{7,8})(?![a-z])", "contact phone (masked)", 0),
        ("number", rf"(?<![-0-9a-z./_#=?&])([1-9]{d}{{5,10}})(?![0-9a-z.%]|\s*(?:{units}))", "contact number", 1),
        ("email", r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}", "contact email", 0),
        ("bank_account", rf"(?:{banks}|卡号|户名).{{0,12}}?{card}|{card}.{{0,12}}?{banks}", "contact bank account", -1),
        # money and promotion
        ("price", rf"(?:[¥￥$]\s*(?:{d}+|x+)|(?:仅|只要|只需|仅需|低至|售价|原价|现价|特价)\s*(?:{d}+|x+)"
                  rf"|(?:{d}+(?:\.{d}+)?|x{{1,6}})\s*"
                  r"(?:元|块钱|rmb|usd|刀|美元|r(?![a-z])|/年|/月|/天|一年|一个月|一个|一张|一份))", "price", 0),
        ("discount", r"(?:[0-9x](?:\.[0-9x])?|[一二三四五六七八九])折(?!腾|磨|叠|射|返|断|服|线|中|扣)", "promo discount", 0),
        ("spend_get", r"满[0-9x]+元?(?:立)?[减送返]|买[一二三0-9x][送赠][一二三0-9x]", "promo", 0),
        ("welcome", r"欢迎.{0,4}(?:光临|选购|咨询|来电|致电|惠顾|莅临|订购|垂询|品尝|体验)", "promo", 0),
        ("follow", r"关注.{0,8}(?:微信|公众号|公众平台|vx)", "promo", 0),
        ("sell_start", r"^(?:出|收)(?:(?:个|一个|一张|张|二手|2手|手)?(?:[a-z]|[0-9]+\+|号|账号|帐号)|二手|2手)", "sell", 0),
        # links
        ("link", r"(?:https?://|www\.)[!-~]+|[a-z0-9][-a-z0-9]*(?:\.[a-z0-9][-a-z0-9]*)*\s?\.\s?"
                 r"(?:com|cn|net|org|top|xyz|cc|me|io|vip|shop|fun|tk|ml|info|site|club|link|ink|pw|ltd|app|gg)"
                 r"(?![a-z])(?:/[!-~]*)?", "link", 0),
        ("link_odd_tld", r"\.\s?(?:top|xyz|shop|fun|vip|cc|tk|ml|ink|pw|site|club|ltd)(?![a-z])"
                         r"|(?:t\.cn|url\.cn|dwz\.cn|suo\.im|vcrm\.me)/", "link domain", 0),
        ("bracket_header", r"^\s*【[^】]{2,14}】|【[^】]{2,14}】\s*$", "format 【header】", -1),
    )  # fmt: skip
    return _Patterns(
        groups=tuple((name, re.compile(_alt(words)), words) for name, words, _ in lexicon.AD_GROUPS),
        signals=tuple((key, re.compile(rx), label, grp) for key, rx, label, grp in signals),
    )


_CAPS = {name: cap for name, _, cap in lexicon.AD_GROUPS}
# A stronger contact form hides the weaker ones it implies.
_HIDES = {
    "wechat_id": ("add_contact", "add_friend", "wechat_word", "number", "kw:加我"),
    "add_contact": ("add_friend", "kw:加我"),
    "add_friend": ("kw:加我",),
    "welcome": ("kw:欢迎",),
    "qq_id": ("number", "verb_number"),
    "group_id": ("number",),
    "phone": ("number", "kw:电话"),
    "verb_number": ("number",),
}


@dataclass(frozen=True, slots=True)
class AdSignals:
    """What :class:`AdRules` found in one text: the log-odds and a reason per fired signal."""

    logit: float
    reasons: tuple[tuple[float, str], ...]  # (weight, reason), strongest first
    policy: PolicyHit | None = None  # an ad policy that fired (nlp/policy.py): it decides alone

    @property
    def p(self) -> float:
        z = _SCALE * self.logit
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


def hits(text: str) -> list[tuple[str, str, float, str, str]]:
    """Every ad signal in a normalised, lower-cased text, uncapped: ``(key, group, weight, reason, match)``.

    ``group`` is the vocabulary group of a keyword (``"money"``...) or ``""`` for a pattern; ``match``
    is the text the signal matched.
    """
    pat = _patterns()
    out: list[tuple[str, str, float, str, str]] = []
    for name, rx, words in pat.groups:
        seen: set[str] = set()
        for m in rx.finditer(text):
            word = m.group()
            if word not in seen:
                seen.add(word)
                out.append((f"kw:{word}", name, words[word], f"keyword {word}", word))
    fired: set[str] = set()
    for key, rx, label, grp in pat.signals:
        if key in fired:
            continue
        found = rx.search(text)
        if found is None:
            continue
        fired.add(key)
        weight = _W[key]
        if key == "link":
            unknown = next((u for u in rx.finditer(text) if not _KNOWN_SITE_RE.search(u.group())), None)
            if unknown is None:  # every link goes to a well-known site: show the first
                weight, label = _W["link_known"], "link (known site)"
            else:
                found = unknown
        shown = label if grp < 0 else f"{label} {found.group(grp).strip()[:40]}"
        out.append((key, "", weight, shown, found.group()))
    hidden = {h for k in fired for h in _HIDES.get(k, ())}
    if hidden:
        out = [h for h in out if h[0] not in hidden]
    if len(_EXCLAIM_RE.findall(text)) >= 3:
        out.append(("exclaim", "", _W["exclaim"], "format !!!", ""))
    if len(text) >= 60:
        out.append(("long", "", _W["long"], f"format long {len(text)}", ""))
        if len(text) >= 100:
            out.append(("very_long", "", _W["very_long"], "format very long", ""))
    return out


def _capped(found: list[tuple[str, str, float, str, str]]) -> list[tuple[str, float, str, str]]:
    """Apply each vocabulary group's cap, strongest keywords first: ``(key, weight, reason, match)``."""
    used: dict[str, float] = {}
    out: list[tuple[str, float, str, str]] = []
    for key, group, w, reason, match in sorted(found, key=lambda h: -h[2]):
        if group:
            w = min(w, _CAPS[group] - used.get(group, 0.0))
            if w <= 0:
                continue
            used[group] = used.get(group, 0.0) + w
        out.append((key, w, reason, match))
    return out


def _plain(text: str) -> str:
    return normalize(text, invisible=False, homoglyphs=False, cn_digits=False, collapse=False).text.lower()


_KNOWN_SITE_RE = re.compile(
    r"^(?:https?://)?(?:[a-z0-9-]+\.)*(?:github\.com|gitee\.com|mp\.weixin\.qq\.com|bilibili\.com|b23\.tv|zhihu\.com"
    r"|wikipedia\.org|arxiv\.org|huggingface\.co|stackoverflow\.com|python\.org|pypi\.org|microsoft\.com|apple\.com"
    r"|google\.com|baidu\.com|weibo\.com|douban\.com|csdn\.net|juejin\.cn|minecraft\.net|mcmod\.cn|gov\.cn|edu\.cn)"
    r"(?![a-z0-9-])"
)
_EXCLAIM_RE = re.compile(r"!(?![a-z0-9\[(])")
_FORMAT_KEYS = frozenset({"exclaim", "long", "very_long"})


def ad_signals(text: str, norm: Normalized | None = None) -> AdSignals:
    """The ad log-odds of one text and why. ``norm`` may pass a normalisation already done."""
    norm = norm or normalized(text)
    found = _capped(hits(norm.text.lower()))
    reasons = [(w, r) for _, w, r, _ in found]
    evasion = _evasion(text, norm, found) if found else ""
    if evasion:
        reasons.append((_W["obfuscation"], evasion))
    for prefix, key in (("cn-digits", "cn_digits"), ("homoglyph", "homoglyph")):
        change = next((c for c in norm.changes if c.startswith(prefix)), None)
        if change:
            reasons.append((_W[key], f"obfuscation {change}"))
    reasons.sort(key=lambda wr: -wr[0])
    return AdSignals(_BIAS + sum(w for w, _ in reasons), tuple(reasons), ad_policy(norm.text))


def _evasion(text: str, norm: Normalized, found: list[tuple[str, float, str, str]]) -> str:
    """A reason when a signal was hidden on purpose: pulled apart ("加 V"), or only visible once
    zero-width characters, look-alikes or Chinese numerals are undone; else ""."""
    signals = [(k, r, m.lower()) for k, _, r, m in found if k not in _FORMAT_KEYS]
    for change in norm.changes:
        kind, _, rest = change.partition(" ")
        if kind in ("spaced", "symbols"):
            joined = rest.rpartition("→")[2].lower()
            for _, reason, match in signals:
                if joined and (joined in match or (len(match) >= 2 and match in joined)):
                    return f"obfuscation {change} ({reason})"
    # Chinese numerals are scored on their own (cn_digits); the rest is checked here.
    how = next((c for c in norm.changes if not c.startswith(("nfkc", "cn-digits"))), "")
    if how:
        plain_keys = {h[0] for h in hits(_plain(text))}
        hidden = [r for k, r, _ in signals if k not in plain_keys]
        if hidden:
            return f"obfuscation {how} ({hidden[0]})"
    return ""


@functools.lru_cache(maxsize=4096)
def ad_signals_cached(text: str) -> AdSignals:
    """:func:`ad_signals`, remembered for the last 4,096 texts (more than a GPU worker's batch): the useful and intent analyzers and
    the model's reasons ask about the batch the ad analyzer just saw."""
    return ad_signals(text)


class AdRules:
    """Ad / normal from contact handles, vocabulary, prices, links and evasions. See module docstring."""

    name = "ad"
    version = VERSION
    threshold = 0.5
    max_reasons = 8

    def verdict(self, item: Item | str) -> Verdict:
        text = item if isinstance(item, str) else item.text
        if not text.strip():
            return Verdict(self.name, "normal", 0.99, ("no text",), self.version)
        sig = ad_signals_cached(text)
        p = sig.p
        reasons = (f"rules p(ad)={p:.2f}", *(r for _, r in sig.reasons[: self.max_reasons]))
        if overrides(sig.policy, p):  # a policy decides alone (nlp/policy.py)
            p, reasons = POLICY_SCORE, (sig.policy.reason, *reasons)
        label = "ad" if p >= self.threshold else "normal"
        score = p if label == "ad" else 1.0 - p
        return Verdict(self.name, label, round(score, 4), reasons, self.version)

    def analyse(self, items: Sequence[Item]) -> list[Verdict]:
        return [self.verdict(item) for item in items]


# ================================================================================================
# Shared text features for the useful and intent analyzers
# ================================================================================================

_CORE_DROP_RE = re.compile(r"[\W_]+")  # punctuation, symbols, emoji, whitespace
_URL_RE = re.compile(
    r"(?:https?://|www\.)[!-~]+|\b[a-z0-9][-a-z0-9]*(?:\.[a-z0-9][-a-z0-9]*)*\."
    r"(?:com|cn|net|org|top|xyz|cc|me|io|vip|shop|fun|info|site|club|link|app|gg|co|tv|ai|dev)\b(?:/[!-~]*)?"
)


@dataclass(frozen=True, slots=True)
class _Text:
    raw: str
    low: str  # normalised, lower-cased
    core: str  # low without punctuation, symbols, emoji and whitespace
    has_url: bool
    question: str  # the cue that makes it a question, or ""


@functools.cache
def _cue_patterns() -> dict[str, re.Pattern[str]]:
    return {
        "phatic": re.compile(rf"^(?:{_alt(lexicon.PHATIC)})+$"),
        "laughter": re.compile(rf"^(?:{_alt(lexicon.LAUGHTER)})+$"),
        "laugh_in": re.compile(r"哈哈|hhh|233|笑死|xswl"),
        "greeting": re.compile(lexicon.GREETING_RE),
        "informative": re.compile(_alt(lexicon.INFORMATIVE)),
        "question_word": re.compile(_alt(lexicon.QUESTION_WORDS)),
        "request": re.compile(lexicon.REQUEST_RE),
        "announce_strong": re.compile(_alt(lexicon.ANNOUNCE_STRONG)),
        "announce_weak": re.compile(_alt(lexicon.ANNOUNCE_WEAK)),
        "job_strong": re.compile(rf"(?<![a-z])(?:{_alt(lexicon.JOB_STRONG)})(?![a-z])"),
        "job_weak": re.compile(rf"(?<![a-z])(?:{_alt(lexicon.JOB_WEAK)})(?![a-z])"),
        "answer_start": re.compile(lexicon.ANSWER_START_RE),
        "digits_or_latin": re.compile(r"[0-9]|[a-z]{2,}"),
    }


@functools.lru_cache(maxsize=4096)
def _text(raw: str) -> _Text:
    """Shared by the useful and intent analyzers, so remembered for the last 4,096 texts."""
    low = normalized(raw).text.lower().strip()
    core = _CORE_DROP_RE.sub("", low)
    cues = _cue_patterns()
    question = ""
    if "?" in low:
        question = "?"
    else:
        m = cues["question_word"].search(core)
        if m and (m.group() != "吗" or core.endswith(("吗", "吗呢"))):
            question = m.group()
    return _Text(raw, low, core, bool(_URL_RE.search(low)), question)


def _phatic(t: _Text) -> str:
    """Why the text is small talk without content ("laughter 哈哈哈"), or ""."""
    cues = _cue_patterns()
    if not t.core:
        return "no words"
    if cues["laughter"].match(t.core):
        return f"laughter {t.core[:12]}"
    if len(t.core) <= 12 and cues["phatic"].match(t.core):
        return f"phatic {t.core[:12]}"
    if len(t.core) <= 12 and cues["greeting"].search(t.core):
        return f"greeting {t.core[:12]}"
    return ""


# ================================================================================================
# Topic terms
# ================================================================================================


@dataclass(frozen=True, slots=True)
class TopicTerms:
    """What counts as on-topic for a group topic."""

    topic: str
    words: frozenset[str]  # the topic's own content words (jieba) and related-family terms
    chars: frozenset[str]  # the topic's own content characters (generic fallback)
    families: int  # how many related-term families the topic triggered


@functools.lru_cache(maxsize=1024)
def topic_terms(topic: str) -> TopicTerms:
    """The topic's content words plus its related-term families (``nlp.lexicon.TOPIC_FAMILIES``)."""
    low = normalize(topic).text.lower()
    words: set[str] = set()
    for w in _cut(low) if low.strip() else ():
        w = w.strip()
        if w and w not in lexicon.TOPIC_STOPWORDS and not _CORE_DROP_RE.fullmatch(w) and not w.isdigit():
            words.add(w)
    families = 0
    for triggers, terms in lexicon.TOPIC_FAMILIES:
        if any(_contains(low, trig) for trig in triggers):
            families += 1
            words.update(terms)
    words = {w for w in words if len(w) > 1 or not w.isascii()}
    chars = frozenset(
        c for w in words if not w.isascii() for c in w if c not in lexicon.TOPIC_STOPCHARS and "\u4e00" <= c <= "\u9fff"
    )
    if families:
        chars = frozenset(c for w in _cut(low) for c in w if c in chars)  # own characters only
    return TopicTerms(topic, frozenset(words), chars, families)


def _contains(text: str, term: str) -> bool:
    if term.isascii():
        return re.search(rf"(?<![a-z0-9]){re.escape(term)}(?![a-z0-9])", text) is not None
    return term in text


@functools.lru_cache(maxsize=1024)
def _topic_regex(topic: str) -> re.Pattern[str] | None:
    terms = topic_terms(topic).words
    if not terms:
        return None
    cjk = [t for t in terms if not t.isascii()]
    latin = [t for t in terms if t.isascii()]
    parts = []
    if cjk:
        parts.append(_alt(cjk))
    if latin:
        parts.append(rf"(?<![a-z0-9])(?:{_alt(latin)})(?![a-z0-9])")
    return re.compile("|".join(parts))


# ================================================================================================
# UsefulRules
# ================================================================================================

_USEFUL_BIAS = -0.8


class UsefulRules:
    """Useful / useless relative to the group topic. See module docstring.

    ``ad`` is the ad analyzer whose "ad" verdicts make a message useless (a fresh :class:`AdRules`
    by default).
    """

    name = "useful"
    version = VERSION

    def __init__(self, ad: AdRules | None = None) -> None:
        self._ad = ad or AdRules()

    def analyse(self, items: Sequence[Item]) -> list[Verdict]:
        return [self.verdict(item) for item in items]

    def verdict(self, item: Item) -> Verdict:
        if item.kind == "system":
            return self._v("useless", 0.95, ("system message",))
        if not item.text.strip():
            if item.kind in MEDIA_KINDS:
                return self._v("useless", 0.9 if item.kind == "sticker" else 0.7, (f"{item.kind} without text",))
            if item.kind == "file":
                return self._v("useful", 0.7, ("file shared",))
            if item.kind == "link":
                return self._v("useful", 0.6, ("link shared",))
            return self._v("useless", 0.9, ("empty",))
        ad = self._ad.verdict(item)
        if ad.label == "ad":
            return self._v("useless", ad.score, (f"ad p={ad.score:.2f}", *ad.reasons[1:3]))
        t = _text(item.text)
        if item.kind == "sticker":
            return self._v("useless", 0.9, ("sticker",))
        small = _phatic(t)
        if small and item.kind not in ("link", "file"):
            return self._v("useless", 0.9, (small,))

        logit, reasons = _USEFUL_BIAS, []

        def add(w: float, why: str) -> None:
            nonlocal logit
            logit += w
            reasons.append(why)

        cues = _cue_patterns()
        if item.kind in ("link", "file"):
            add(2.0, f"{item.kind} shared")
        elif t.has_url:
            add(1.5, "link")
        if t.question:
            add(1.0, f"question {t.question}")
        n = len(t.core)
        # four words of two or more characters need eight characters: shorter texts skip jieba
        content = [w for w in _cut(t.core) if len(w) >= 2] if n >= 8 else []
        if n < 5:
            add(-1.0, f"short {n}")
        elif n >= 15:
            add(0.6, f"long {n}")
            if n >= 40:
                add(0.6, "very long")
        if len(content) >= 4:
            add(0.4, f"content words {len(content)}")
        m = cues["informative"].search(t.core)
        if m:
            add(0.7, f"informative {m.group()}")
        if cues["digits_or_latin"].search(t.core) and n >= 6:
            add(0.2, "specifics")
        if cues["laugh_in"].search(t.core):
            add(-0.6, "laughter")
        if item.kind == "quote":
            add(0.3, "reply")
        if item.topic.strip():
            rx = _topic_regex(item.topic)
            found = sorted({m.group() for m in rx.finditer(t.low)}) if rx else []
            if found:
                add(1.5 + 0.5 * min(len(found) - 1, 2), "topic " + ", ".join(found[:4]))
            else:
                chars = topic_terms(item.topic).chars
                shared = sorted(chars.intersection(t.core))
                if shared:
                    add(0.5, "topic chars " + "".join(shared[:6]))
                else:  # a topic we know the vocabulary of is a stronger hint than a generic one
                    add(-0.6 if topic_terms(item.topic).families else -0.4, "off topic")
        p = 1.0 / (1.0 + math.exp(-logit))
        label = "useful" if p >= 0.5 else "useless"
        return self._v(label, p if label == "useful" else 1.0 - p, (f"rules p(useful)={p:.2f}", *reasons))

    def _v(self, label: str, score: float, reasons: tuple[str, ...]) -> Verdict:
        return Verdict(self.name, label, round(min(max(score, 0.0), 1.0), 4), reasons, self.version)


# ================================================================================================
# IntentRules
# ================================================================================================


class IntentRules:
    """One intent of :data:`INTENTS` per message, first match wins:

    ad (AdRules) → job_post → announcement → link_share (URL, no question) → request → question →
    chitchat (phatic, laughter, greetings, media) → answer (a reply, or "@someone ..." / "可以…",
    "试试…") → other.
    """

    name = "intent"
    version = VERSION

    def __init__(self, ad: AdRules | None = None) -> None:
        self._ad = ad or AdRules()

    def analyse(self, items: Sequence[Item]) -> list[Verdict]:
        return [self.verdict(item) for item in items]

    def verdict(self, item: Item) -> Verdict:
        if item.kind == "system":
            return self._v("other", 0.9, "system message")
        if not item.text.strip():
            if item.kind in MEDIA_KINDS:
                return self._v("chitchat", 0.6, f"{item.kind} without text")
            if item.kind == "link":
                return self._v("link_share", 0.8, "link message")
            return self._v("other", 0.5, f"{item.kind} without text")
        ad = self._ad.verdict(item)
        if ad.label == "ad":
            return self._v("ad", ad.score, f"ad p={ad.score:.2f}", *ad.reasons[1:3])
        t = _text(item.text)
        cues = _cue_patterns()

        jobs = sorted({m.group() for m in cues["job_strong"].finditer(t.low)})
        job_weak = sorted({m.group() for m in cues["job_weak"].finditer(t.low)})
        if jobs and (not t.question or len(jobs) + len(job_weak) >= 3):
            return self._v("job_post", 0.9 if len(jobs) >= 2 else 0.7, "job " + ", ".join(jobs[:3]))

        strong = cues["announce_strong"].search(t.low)
        weak = sorted({m.group() for m in cues["announce_weak"].finditer(t.low)})
        if strong or (len(weak) >= 2 and len(t.core) >= 8 and not t.question):
            cue = strong.group() if strong else ", ".join(weak[:3])
            return self._v("announcement", 0.85 if strong else 0.6, f"announcement {cue}")

        if (t.has_url or item.kind == "link") and not t.question:
            return self._v("link_share", 0.85, "link")

        req = cues["request"].search(t.core)
        if req:
            return self._v("request", 0.75, f"request {req.group()}")

        if t.question:
            return self._v("question", 0.9 if t.question == "?" else 0.7, f"question {t.question}")

        small = _phatic(t)
        if small or item.kind == "sticker":
            return self._v("chitchat", 0.85, small or "sticker")

        start = cues["answer_start"].search(t.low) if len(t.core) >= 4 else None
        if item.kind == "quote" or start:
            return self._v("answer", 0.55, f"answer {start.group().strip()}" if start else "reply")
        if len(t.core) < 8 or cues["laugh_in"].search(t.core):
            return self._v("chitchat", 0.55, f"short {len(t.core)}" if len(t.core) < 8 else "laughter")
        return self._v("other", 0.5, "no intent cue")

    def _v(self, label: str, score: float, *reasons: str) -> Verdict:
        return Verdict(self.name, label, round(min(max(score, 0.0), 1.0), 4), tuple(reasons), self.version)
