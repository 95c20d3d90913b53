"""Evasion augmentations for ad training data: the disguises group spammers use, one small function each. Stdlib only.

Every augmentation is ``f(text, rng) -> str`` with a ``random.Random`` passed in (never the global
one), so a corpus built with the same seed is the same corpus. An augmentation that finds nothing to
work on returns the text unchanged; :func:`applicable` says beforehand which ones will change a text.

=================  ===========================================  ==============================
name               what it does                                 undone by ``nlp.normalize``
=================  ===========================================  ==============================
``spaced``         pulls characters apart with spaces            yes (``加 V 信`` → ``加V信``)
``symbols``        ... or with filler symbols                    yes (``微-信`` → ``微信``)
``fullwidth``      ASCII letters and digits to full width        yes (NFKC)
``homoglyph``      Latin letters to Cyrillic/Greek look-alikes   yes
``invisible``      zero-width characters between characters      yes
``cn_numerals``    digit runs (5+) to Chinese numerals           yes (``二九一二一…`` → ``2912…``)
``image_caption``  the ad moves into an image: ``[图片] 扫码加vx``  no (the text itself changes)
``slang``          today's words for money and contact: 元→r/米,  no (the model must learn them)
                   微信→vx/薇/绿泡泡, 加→➕, QQ→企鹅, 联系我→dd
=================  ===========================================  ==============================

``spaced``, ``symbols`` and ``invisible`` prefer the contact words of an ad (微信, 加V, QQ, 群号,
联系...) and fall back to a random run of Chinese characters. :func:`augment` picks one applicable
augmentation (or, one time in five, two, applied in a fixed order) and returns ``(text, name)``.

``unmask_digits`` is not an evasion: ``sms_spam_80w`` masks every digit of its spam as ``x``
(``xxx元``, ``xxxxxxxxxxx``) while its normal rows keep real digits, so it puts plausible random
digits back (months 1–12 before 月, 11-digit runs as mobile numbers) to stop a model from learning
"x means spam".
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "AUGMENTATIONS",
    "REVERSIBLE",
    "applicable",
    "augment",
    "cn_numerals",
    "fullwidth",
    "homoglyph",
    "image_caption",
    "invisible",
    "slang",
    "spaced",
    "symbols",
    "unmask_digits",
]

Augmentation = Callable[[str, random.Random], str]

# --- where to disguise -------------------------------------------------------------------------

# Contact and selling words, the part a spammer disguises first.
_CONTACT_RE = re.compile(
    r"加[微薇威vV]信?|[微薇威]信号?|[vV][xX]|[wW][xX]|[vV]信|[qQ]{2}号?|扣扣|企鹅|群号|电话|手机号?|"
    r"联系|私聊|加我|客服|代理|兼职|优惠|免费|领取|进群|加群|扫码|二维码"
)
_URL_RE = re.compile(r"(?:https?://|www\.)\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)
_CJK_RUN_RE = re.compile(r"[\u4e00-\u9fff]{2,}")
_DIGIT_RUN_RE = re.compile(r"(?<![0-9])[0-9]{5,}(?![0-9])")
_ASCII_WORD_RE = re.compile(r"[A-Za-z0-9]{2,}")


def _free(text: str) -> list[bool]:
    """Per character: outside any URL or e-mail address (which must stay intact to stay a link)."""
    free = [True] * len(text)
    for m in _URL_RE.finditer(text):
        for i in range(m.start(), m.end()):
            free[i] = False
    return free


def _target_span(text: str, rng: random.Random) -> tuple[int, int] | None:
    """A span of 2..4 characters to disguise: a contact word when there is one, else Chinese characters."""
    free = _free(text)
    spans = [m.span() for m in _CONTACT_RE.finditer(text) if all(free[m.start() : m.end()])]
    if not spans:
        for m in _CJK_RUN_RE.finditer(text):
            if all(free[m.start() : m.end()]):
                length = min(len(m.group()), rng.randint(2, 4))
                start = m.start() + rng.randint(0, len(m.group()) - length)
                spans.append((start, start + length))
    if not spans:
        return None
    return rng.choice(spans)


def _separate(text: str, rng: random.Random, seps: str) -> str:
    span = _target_span(text, rng)
    if span is None:
        return text
    a, b = span
    sep = rng.choice(seps)
    if any(c.isascii() and c.isalnum() for c in text[a:b]):
        sep = rng.choice([s for s in seps if s not in ".'"] or [" "])  # "v.x" reads as a domain
    pieces = list(text[a:b])
    # Separate the span from its neighbours too, so every piece is one character and normalize()
    # pulls them back together ("请加微信号" → "请加 微 信 号", never "加微 信号").
    left = sep if a > 0 and not text[a - 1].isspace() else ""
    right = sep if b < len(text) and not text[b].isspace() else ""
    return text[:a] + left + sep.join(pieces) + right + text[b:]


def spaced(text: str, rng: random.Random) -> str:
    """Pull a contact word (or a few Chinese characters) apart with spaces: ``加 V 信``."""
    return _separate(text, rng, " " * 4 + "\u3000")


def symbols(text: str, rng: random.Random) -> str:
    """Pull a contact word (or a few Chinese characters) apart with filler symbols: ``微-信``, ``Q.Q``."""
    return _separate(text, rng, "-_.·*~|丶")


# --- width, look-alikes, invisible characters --------------------------------------------------


def fullwidth(text: str, rng: random.Random) -> str:
    """ASCII letters and digits to their full-width forms (``vx138`` → ``ｖｘ１３８``); most or all of them."""
    free = _free(text)
    all_of_them = rng.random() < 0.6
    out = []
    for i, c in enumerate(text):
        if free[i] and c.isascii() and c.isalnum() and (all_of_them or rng.random() < 0.7):
            out.append(chr(ord(c) + 0xFEE0))
        else:
            out.append(c)
    return "".join(out)


# Latin letter -> look-alikes that nlp.normalize maps back (Cyrillic, Greek, Armenian).
_LOOKALIKES: dict[str, str] = {
    "a": "аα", "c": "с", "e": "е", "o": "оο", "p": "рρ", "x": "х", "y": "у", "k": "кκ", "i": "іι",
    "j": "ј", "s": "ѕ", "h": "һ", "v": "ѵν", "t": "т", "m": "м", "n": "ո", "u": "սυ", "d": "ԁ", "q": "ԛ",
    "w": "ԝ", "l": "ӏ", "A": "АΑ", "B": "ВΒ", "C": "С", "E": "ЕΕ", "H": "НΗ", "I": "ІΙ", "J": "Ј",
    "K": "КΚ", "M": "МΜ", "N": "Ν", "O": "ОΟ", "P": "РΡ", "S": "Ѕ", "T": "ТΤ", "X": "ХΧ", "Y": "УΥ",
    "Z": "Ζ", "V": "Ѵ", "Q": "Ԛ", "W": "Ԝ",
}  # fmt: skip


def homoglyph(text: str, rng: random.Random) -> str:
    """Swap Latin letters for Cyrillic/Greek look-alikes (``vx`` → ``ѵх``) in words of two or more letters/digits.

    Single letters are left alone: ``normalize`` (rightly) keeps a lone Greek or Cyrillic letter, so
    only swaps inside longer words stay readable to it.
    """
    free = _free(text)
    chars = list(text)
    swapped = False
    words = [m for m in _ASCII_WORD_RE.finditer(text) if free[m.start()]]
    for m in words:
        idx = [i for i in range(m.start(), m.end()) if text[i] in _LOOKALIKES]
        if not idx:
            continue
        k = rng.randint(1, len(idx))
        for i in rng.sample(idx, k):
            chars[i] = rng.choice(_LOOKALIKES[text[i]])
            swapped = True
    return "".join(chars) if swapped else text


_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"


def invisible(text: str, rng: random.Random) -> str:
    """Insert zero-width characters between characters, inside the contact word when there is one."""
    if len(text) < 2:
        return text
    free = _free(text)
    span = _target_span(text, rng)
    gaps = list(range(span[0] + 1, span[1])) if span else []
    others = [i for i in range(1, len(text)) if free[i] and free[i - 1]]
    if not gaps and not others:
        return text
    chosen = set(gaps)
    extra = max(1, len(text) // 10)
    chosen.update(rng.sample(others, min(extra, len(others))))
    out = []
    for i, c in enumerate(text):
        if i in chosen:
            out.append(rng.choice(_ZERO_WIDTH) * rng.choice((1, 1, 2)))
        out.append(c)
    return "".join(out)


# --- Chinese numerals --------------------------------------------------------------------------

_NUMERAL_STYLES = (
    "〇一二三四五六七八九",
    "零一二三四五六七八九",
    "零幺二三四五六七八九",
    "零壹贰叁肆伍陆柒捌玖",
)


def cn_numerals(text: str, rng: random.Random) -> str:
    """Write runs of five or more digits (QQ, phone and group numbers) as Chinese numerals: ``二九一二一八七六七``."""
    style = rng.choice(_NUMERAL_STYLES)
    return _DIGIT_RUN_RE.sub(lambda m: "".join(style[int(d)] for d in m.group()), text)


# --- the ad moves into an image ----------------------------------------------------------------

_AD_CAPTIONS = (
    "扫码加{h}", "扫码进群", "长按识别二维码", "详情看图", "图里有联系方式", "加图中{h}领取",
    "扫一扫领福利", "看图，懂的来", "二维码在图里，过期私我", "图片里的号，备注来意", "{h}见图",
    "扫码咨询", "有意者扫码", "名额有限，扫码预约", "识别图中二维码添加好友", "图上{h}，24小时在线",
)  # fmt: skip
_HANDLE_WORDS = ("vx", "V信", "微信", "wx", "薇", "QQ", "扣扣", "企鹅")
_NEUTRAL_CAPTIONS = ("", "看图", "如图", "截图如下", "图", "你们看", "刚拍的", "见图", "这个", "上图")


def _handle(rng: random.Random) -> str:
    word = rng.choice(_HANDLE_WORDS)
    if word in ("QQ", "扣扣", "企鹅"):
        ident = str(rng.randint(10_000_000, 3_999_999_999))
    else:
        ident = rng.choice(string.ascii_lowercase) + "".join(
            rng.choice(string.ascii_lowercase + string.digits) for _ in range(rng.randint(5, 9))
        )
    return f"{word} {ident}" if rng.random() < 0.5 else f"{word}:{ident}"


def image_caption(text: str, rng: random.Random, *, ad: bool = True) -> str:
    """Wrap the message around an image placeholder, the way an ad hides its handle in a picture.

    For an ad: ``[图片]`` plus a caption that points into the image (``扫码加vx:abc123``), with the
    ad's text kept before it half of the time. For a normal message (``ad=False``): the same
    placeholder with the message itself, so ``[图片]`` alone is no evidence.
    """
    if ad:
        template = rng.choice(_AD_CAPTIONS)
        caption = template.replace("{h}", _handle(rng))
        keep_text = rng.random() < 0.5
        if "{h}" not in template and (not keep_text or rng.random() < 0.4):
            caption += " " + _handle(rng)  # a caption alone always carries a handle
        if keep_text:
            head = text if len(text) <= 40 else text[: rng.randint(12, 40)]
            return f"{head}\n[图片]\n{caption}"
        return f"[图片] {caption}"
    caption = rng.choice(_NEUTRAL_CAPTIONS)
    if rng.random() < 0.5:
        return f"[图片]\n{text}" if not caption else f"[图片] {caption}\n{text}"
    return f"{text}\n[图片]"


def _image_caption_ad(text: str, rng: random.Random) -> str:
    return image_caption(text, rng, ad=True)


# --- choosing ----------------------------------------------------------------------------------

# --- slang: the words change every month ----------------------------------------------------------

_SLANG_SWAPS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (re.compile(r"(?<=[0-9一二两三四五六七八九十百千万])(?:元|块钱|块)"), ("r", "米", "💰", "R", "圆", "块", "大洋")),
    (
        re.compile(r"微信|[vV][xX]|[wW][xX]|[vV]信|威信|薇信"),
        ("vx", "V", "v", "薇", "威", "绿泡泡", "卫星", "V❤", "wx", "微❤"),
    ),
    (re.compile(r"加(?=[我微薇威vVqQ扣企群])"), ("➕", "+", "伽", "家")),
    (re.compile(r"[qQ]{2}|扣扣"), ("扣扣", "企鹅", "qq", "Q", "抠抠")),
    (re.compile(r"联系我|私聊|私信"), ("滴滴", "dd", "扣1", "戳我", "私", "滴我")),
    (re.compile(r"兼职"), ("副业", "jz", "兼只")),
    (re.compile(r"赚钱|挣钱"), ("搞米", "赚米", "搞钱", "zq")),
)


def _slang_matches(text: str) -> list[tuple[re.Match[str], tuple[str, ...]]]:
    free = _free(text)
    return [(m, alts) for pat, alts in _SLANG_SWAPS for m in pat.finditer(text) if all(free[m.start() : m.end()])]


def slang(text: str, rng: random.Random) -> str:
    """Money and contact words to today's slang (元→r/米, 微信→vx/薇, 加→➕, QQ→企鹅, 联系我→dd ...)."""
    found = sorted(_slang_matches(text), key=lambda ma: ma[0].start())
    out, pos = [], 0
    for m, alts in found:
        if m.start() < pos:
            continue
        out += [text[pos : m.start()], rng.choice([a for a in alts if a != m.group()])]
        pos = m.end()
    return "".join(out) + text[pos:]


AUGMENTATIONS: dict[str, Augmentation] = {  # in the order they compose
    "slang": slang,
    "cn_numerals": cn_numerals,
    "homoglyph": homoglyph,
    "fullwidth": fullwidth,
    "spaced": spaced,
    "symbols": symbols,
    "invisible": invisible,
    "image_caption": _image_caption_ad,
}
REVERSIBLE: frozenset[str] = frozenset({"cn_numerals", "homoglyph", "fullwidth", "spaced", "symbols", "invisible"})


def applicable(text: str) -> tuple[str, ...]:
    """The augmentations that change ``text`` (in composing order)."""
    free = _free(text)
    names = []
    if _slang_matches(text):
        names.append("slang")
    if _DIGIT_RUN_RE.search(text):
        names.append("cn_numerals")
    if any(free[m.start()] and any(c in _LOOKALIKES for c in m.group()) for m in _ASCII_WORD_RE.finditer(text)):
        names.append("homoglyph")
    if any(free[i] and c.isascii() and c.isalnum() for i, c in enumerate(text)):
        names.append("fullwidth")
    if any(all(free[m.start() : m.end()]) for m in _CONTACT_RE.finditer(text)) or any(
        all(free[m.start() : m.end()]) for m in _CJK_RUN_RE.finditer(text)
    ):
        names += ["spaced", "symbols"]
    if len(text) >= 2:
        names.append("invisible")
    names.append("image_caption")
    return tuple(names)


def augment(text: str, rng: random.Random, *, ad: bool, names: tuple[str, ...] | None = None) -> tuple[str, str]:
    """One disguised copy of ``text``: ``(new_text, "spaced")`` or ``(new_text, "homoglyph+invisible")``.

    ``names`` limits the choice; ``ad=False`` gives the normal-message form of ``image_caption``.
    The choice prefers the augmentations that can work on the text; ``image_caption`` is drawn at
    most as often as any other, and never composed with a second one.
    """
    pool = [n for n in applicable(text) if names is None or n in names]
    if not pool:
        return text, ""
    k = 2 if len(pool) >= 3 and rng.random() < 0.2 else 1
    chosen = rng.sample(pool, k)
    if "image_caption" in chosen and k == 2:
        chosen = [n for n in chosen if n != "image_caption"]
    if "spaced" in chosen and "symbols" in chosen:
        chosen.remove("symbols")
    out = text
    for name in AUGMENTATIONS:  # fixed composing order
        if name not in chosen:
            continue
        out = image_caption(out, rng, ad=ad) if name == "image_caption" else AUGMENTATIONS[name](out, rng)
    used = [n for n in AUGMENTATIONS if n in chosen]
    return out, "+".join(used)


# --- sms_spam_80w digit masks ------------------------------------------------------------------

_MASK_RE = re.compile(r"(?<![A-Za-z])x+(?![A-Za-z])")


def unmask_digits(text: str, rng: random.Random) -> str:
    """Replace ``sms_spam_80w``'s ``x`` digit masks with plausible random digits (``x月xx日`` → ``3月18日``)."""

    def digits(m: re.Match[str]) -> str:
        n = len(m.group())
        after = text[m.end() : m.end() + 1]
        if after == "月" and n <= 2:
            return str(rng.randint(1, 12))
        before = text[m.start() - 1 : m.start()]
        if n <= 2 and (after in ("日", "号") or before == "月"):
            return str(rng.randint(1, 28))
        if after in ("点", "时") and n <= 2:
            return str(rng.randint(8, 21))
        if n == 11:
            return "1" + rng.choice("3456789") + "".join(rng.choice(string.digits) for _ in range(9))
        if n == 1:
            return rng.choice("123456789")
        return rng.choice("123456789") + "".join(rng.choice(string.digits) for _ in range(n - 1))

    return _MASK_RE.sub(digits, text)


def long_texts(records: Sequence[Any], n: int, seed: str, *, with_ad: Sequence[Any] = ()) -> list[str]:
    """Long messages built by joining 2-5 short normal texts (and, for positives, one ad).

    In the public data ads are long (two thirds over 60 characters) and normal texts short (1%),
    so a model learns "long means ad"; real groups have long technical questions and answers.
    ``qunzhi eval`` measures the false-ad rate on such joined texts (made from test texts only).
    """
    rng = random.Random(seed)
    pool = [r.text for r in records if r.label == "normal" and 4 <= len(r.text) <= 60]
    out = []
    for _ in range(n):
        parts = rng.sample(pool, rng.randint(2, 5))
        if with_ad:
            parts.insert(rng.randrange(len(parts) + 1), rng.choice(with_ad).text)
        out.append(rng.choice(("，", "。", "！", "\n", " ")).join(parts))
    return out
