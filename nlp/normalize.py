"""Text normalisation for matching: one canonical form for rules now and models later. Stdlib only.

``normalize(text)`` returns the normalised text and a tuple of what it changed, each entry a short
string that can go straight into a verdict's reasons::

    >>> normalize("加 V：ａｂｃ１２３")
    Normalized(text='加V:abc123', changes=('nfkc', 'spaced 加 V→加V'))

Steps, in order (each can be switched off by keyword):

1. ``nfkc``: Unicode NFKC, which folds full-width letters, digits and punctuation to ASCII
   (``ｖｘ１３８`` → ``vx138``, ``：`` → ``:``) and circled digits ``①``–``⑳`` to digits.
2. ``invisible``: strip zero-width and other format characters (U+200B…, U+FEFF, soft hyphen,
   bidi controls), stray combining marks and variation selectors.
3. ``homoglyph``: Cyrillic/Greek look-alikes of Latin letters (``ｖх`` with a Cyrillic ``х``) and
   the circled digits NFKC leaves alone (``⓿``, ``❶``…, ``➀``…) → ASCII. A Cyrillic/Greek letter is
   only mapped inside a word that also has Latin letters or digits, or whose two or more letters
   are all look-alikes, so real Russian or Greek words (and a lone ``α``) are kept.
4. ``cn-digits``: a run of five or more Chinese numerals (``〇一二…九``, ``零``, ``幺``, ``壹贰叁…``),
   possibly mixed with ASCII digits, becomes digits (``二九一二一八七六七`` → ``291218767``).
   Shorter runs (``一一``, ``三五``) are ordinary words and stay.
5. ``spaced`` / ``symbols``: characters pulled apart by spaces or filler symbols are pulled back
   together (``加 V 信`` → ``加V信``, ``微-信`` → ``微信``, ``Q.Q`` → ``QQ``). A separator is dropped
   only between short pieces (one character on one side, at most two on the other), never inside
   a URL or e-mail address, never a decimal point or thousands separator between digits, and
   between Latin letters or digits only when both sides are single characters (``v x``, not
   ``ok la``).

Case is kept; callers fold it when they match.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import NamedTuple

__all__ = ["Normalized", "normalize", "normalized", "CN_DIGITS"]


class Normalized(NamedTuple):
    text: str
    changes: tuple[str, ...]  # ("nfkc", "invisible 2", "cn-digits 二九一…→291…", "spaced 加 V→加V")


# --- 2. invisible characters -------------------------------------------------------------------

_INVISIBLE_RANGES = (
    (0x00AD, 0x00AD),  # soft hyphen
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x061C, 0x061C),  # arabic letter mark
    (0x115F, 0x1160),  # hangul fillers
    (0x17B4, 0x17B5),
    (0x180B, 0x180E),  # mongolian free variation selectors, vowel separator
    (0x200B, 0x200F),  # zero width space/non-joiner/joiner, lrm, rlm
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x2060, 0x206F),  # word joiner, invisible operators, bidi isolates
    (0x3164, 0x3164),  # hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFEFF, 0xFEFF),  # zero width no-break space / BOM
    (0xFFA0, 0xFFA0),  # halfwidth hangul filler
    (0xFFF9, 0xFFFB),  # interlinear annotation
    (0x1D173, 0x1D17A),  # musical format characters
    (0xE0000, 0xE007F),  # tags
    (0xE0100, 0xE01EF),  # variation selectors supplement
)
# Combining marks stacked on letters to defeat matching ("加͟V"); NFKC has already composed the
# accents that have precomposed forms, so what is left here is decoration.
_COMBINING_RANGES = ((0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F))


def _build_invisible_re() -> re.Pattern[str]:
    parts = [f"\\U{a:08x}-\\U{b:08x}" if a != b else f"\\U{a:08x}" for a, b in _INVISIBLE_RANGES]
    parts += [f"\\U{a:08x}-\\U{b:08x}" for a, b in _COMBINING_RANGES]
    return re.compile("[" + "".join(parts) + "]")


_INVISIBLE_RE = _build_invisible_re()

# --- 3. homoglyphs -----------------------------------------------------------------------------

_CONFUSABLE_LETTERS = {
    # Cyrillic
    "А": "A", "В": "B", "Е": "E", "Ё": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P",
    "С": "C", "Т": "T", "Х": "X", "У": "Y", "Ѕ": "S", "І": "I", "Ј": "J", "Ԛ": "Q", "Ԝ": "W",
    "а": "a", "е": "e", "ё": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "к": "k",
    "м": "m", "т": "t", "в": "b", "н": "h", "ѕ": "s", "і": "i", "ј": "j", "ԁ": "d", "ԛ": "q",
    "ԝ": "w", "ѵ": "v", "Ѵ": "V", "ӏ": "l", "һ": "h", "ո": "n", "ս": "u",
    # Greek
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "α": "a", "ο": "o", "ν": "v", "κ": "k",
    "ι": "i", "ρ": "p", "υ": "u", "τ": "t", "ϲ": "c", "ϳ": "j",
}  # fmt: skip
_CIRCLED_DIGITS = {"⓪": "0", "⓿": "0", "🄀": "0"}
for _base, _offset in ((0x2776, 1), (0x2780, 1), (0x278A, 1)):  # ❶-❿ ➀-➉ ➊-➓
    for _i in range(10):
        _CIRCLED_DIGITS[chr(_base + _i)] = str(_i + _offset)
for _i in range(10):  # ⓫-⓴ and ⓵-⓾
    _CIRCLED_DIGITS[chr(0x24EB + _i)] = str(11 + _i)
    _CIRCLED_DIGITS[chr(0x24F5 + _i)] = str(_i + 1)
_CONFUSABLE_RE = re.compile("[" + "".join(_CONFUSABLE_LETTERS) + "]")
CONFUSABLE_LETTERS: dict[str, str] = dict(_CONFUSABLE_LETTERS)  # lookalike -> latin letter, one for one
_CIRCLED_RE = re.compile("[" + "".join(_CIRCLED_DIGITS) + "]")
_WORD_RE = re.compile(r"[^\W_]+")  # letters and digits of any script (CJK too; filtered below)


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return 0x3400 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x3134F or o == 0x3007


def _map_homoglyphs(text: str) -> tuple[str, int]:
    count = 0

    def word(m: re.Match[str]) -> str:
        nonlocal count
        w = m.group()
        if not _CONFUSABLE_RE.search(w):
            return w
        letters = [c for c in w if not _is_cjk(c)]
        mixed = any(c.isascii() for c in letters)
        all_lookalike = len(letters) >= 2 and all(c in _CONFUSABLE_LETTERS for c in letters)
        if not (mixed or all_lookalike):
            return w  # a real Cyrillic or Greek word
        out = _CONFUSABLE_RE.sub(lambda c: _CONFUSABLE_LETTERS[c.group()], w)
        count += sum(1 for a, b in zip(w, out) if a != b)
        return out

    text = _WORD_RE.sub(word, text)
    if _CIRCLED_RE.search(text):
        count += len(_CIRCLED_RE.findall(text))
        text = _CIRCLED_RE.sub(lambda c: _CIRCLED_DIGITS[c.group()], text)
    return text, count


# --- 4. Chinese numerals -----------------------------------------------------------------------

CN_DIGITS: dict[str, str] = {
    "〇": "0", "零": "0", "洞": "0", "一": "1", "幺": "1", "壹": "1", "二": "2", "两": "2", "贰": "2", "貳": "2",
    "三": "3", "叁": "3", "參": "3", "四": "4", "肆": "4", "五": "5", "伍": "5", "六": "6", "陆": "6", "陸": "6",
    "七": "7", "柒": "7", "八": "8", "捌": "8", "九": "9", "玖": "9",
}  # fmt: skip
_CN_RUN_RE = re.compile("[0-9" + "".join(CN_DIGITS) + "]{5,}")
_CN_MIN_NUMERALS = 3  # "2024一月" is not a number; a run needs at least this many Chinese numerals


def _map_cn_digits(text: str) -> tuple[str, list[str]]:
    found: list[str] = []

    def run(m: re.Match[str]) -> str:
        s = m.group()
        numerals = sum(1 for c in s if c in CN_DIGITS)
        if numerals < _CN_MIN_NUMERALS:
            return s
        out = "".join(CN_DIGITS.get(c, c) for c in s)
        found.append(f"{s}→{out}")
        return out

    return _CN_RUN_RE.sub(run, text), found


# --- 5. spaced-out / symbol-separated characters -----------------------------------------------

_SPACE_SEP = " \t\u3000"
_SYMBOL_SEP = "-_.·•*~|\\^'\"`=#丶ˉ¯﹏～^"
_SEP_RE = re.compile("[" + re.escape(_SPACE_SEP + _SYMBOL_SEP) + "]+")
_PROTECT_RE = re.compile(
    r"(?:https?://|www\.)\S+"  # URLs
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail
    r"|\b[a-zA-Z0-9][-a-zA-Z0-9]*(?:\.[a-zA-Z0-9][-a-zA-Z0-9]*)*"  # bare domains
    r"\.(?:com|cn|net|org|top|xyz|cc|me|io|vip|shop|fun|co|tk|ml|info|site|club|link|ink|pw|ltd|tech|app|dev|gg)"
    r"\b(?:/\S*)?",
    re.IGNORECASE,
)
_MAX_PIECE = 2  # letters/digits on either side longer than this are words, not pulled-apart characters
_EDGE_TAIL_RE = re.compile(r"[^\W_]+$")
_EDGE_HEAD_RE = re.compile(r"^[^\W_]+")


def _joinable(left: str, sep: str, right: str) -> bool:
    """Whether the separator ``sep`` between ``left`` and ``right`` pulls apart short pieces."""
    tail = _EDGE_TAIL_RE.search(left)
    head = _EDGE_HEAD_RE.search(right)
    if tail is None or head is None:
        return False
    a, b = tail.group(), head.group()
    if len(a) > _MAX_PIECE or len(b) > _MAX_PIECE or min(len(a), len(b)) > 1:
        return False  # "空的 没人" is two words; "加V 信" and "加 V" are pulled apart
    if a[-1].isdigit() and b[0].isdigit() and sep in {".", ",", "'", ":"}:
        return False  # 3.5, 1,000
    if any(_is_cjk(c) for c in a + b):
        return True
    return len(a) == 1 and len(b) == 1  # "Q Q", "v x", "1 3 8"; not "is a" or "ok la"


def _collapse_segment(seg: str, found: list[tuple[str, str, str]]) -> str:
    """Drop separators between short pieces inside one unprotected segment; record each run."""
    parts = _SEP_RE.split(seg)
    seps = _SEP_RE.findall(seg)
    if not seps:
        return seg
    out = [parts[0]]
    run: list[str] = []  # piece, sep, piece, sep, ..., piece of the current run
    kind = "spaced"

    def close() -> None:
        nonlocal run, kind
        if run:  # report only the letters next to the dropped separators: "加 V" not "加 V:abc123"
            pieces = run[::2]
            pieces[0] = _EDGE_TAIL_RE.search(pieces[0]).group()  # type: ignore[union-attr]
            pieces[-1] = _EDGE_HEAD_RE.search(pieces[-1]).group()  # type: ignore[union-attr]
            before = "".join(p + s for p, s in zip(pieces, run[1::2])) + pieces[-1]
            found.append((kind, before, "".join(pieces)))
        run, kind = [], "spaced"

    for k, sep in enumerate(seps):
        left, right = parts[k], parts[k + 1]
        if _joinable(left, sep, right):
            if not run:
                run = [left]
            if sep.strip(_SPACE_SEP):
                kind = "symbols"
            run += [sep, right]
            out.append(right)
        else:
            close()
            out += [sep, right]
    close()
    return "".join(out)


def _collapse(text: str) -> tuple[str, list[tuple[str, str, str]]]:
    found: list[tuple[str, str, str]] = []
    out: list[str] = []
    pos = 0
    for m in _PROTECT_RE.finditer(text):
        out.append(_collapse_segment(text[pos : m.start()], found))
        out.append(m.group())
        pos = m.end()
    out.append(_collapse_segment(text[pos:], found))
    return "".join(out), found


# --- the pipeline ------------------------------------------------------------------------------


def _clip(s: str, n: int = 24) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def normalize(
    text: str,
    *,
    nfkc: bool = True,
    invisible: bool = True,
    homoglyphs: bool = True,
    cn_digits: bool = True,
    collapse: bool = True,
) -> Normalized:
    """Normalise ``text`` for matching; report each kind of change made (see module docstring)."""
    changes: list[str] = []
    if nfkc:
        folded = unicodedata.normalize("NFKC", text)
        if folded != text:
            changes.append("nfkc")
            text = folded
    if invisible:
        stripped, n = _INVISIBLE_RE.subn("", text)
        if n:
            changes.append(f"invisible {n}")
            text = stripped
    if homoglyphs:
        text, n = _map_homoglyphs(text)
        if n:
            changes.append(f"homoglyph {n}")
    if cn_digits:
        text, runs = _map_cn_digits(text)
        changes.extend(f"cn-digits {_clip(r, 40)}" for r in runs)
    if collapse:
        text, collapsed = _collapse(text)
        changes.extend(f"{kind} {_clip(before)}→{_clip(after)}" for kind, before, after in collapsed)
    return Normalized(text, tuple(changes))


@functools.lru_cache(maxsize=4096)
def normalized(text: str) -> Normalized:
    """``normalize(text)`` with the default options, remembered for the last 4,096 texts: the model,
    the ad rules and the useful and intent rules each read every message of a batch (256 on a CPU,
    1,024 on a GPU worker; the cache holds more than one batch, or texts read in order keep missing)."""
    return normalize(text)
