"""jieba, shared: one part-of-speech tokenizer per process, and per-character word cues for the NER head.

``posseg()`` is a ``jieba.posseg.POSTokenizer`` over its own ``jieba.Tokenizer`` (the global one
is left alone, so words another module adds to jieba cannot change what the NER head was trained
on). It loads its dictionary on first use (about a second).

``char_word_features(text)`` gives two ids per character of ``text``:

- where the character sits in its jieba word: ``B``egin, ``M``iddle, ``E``nd or ``S``ingle
  (:data:`BMES`), and
- the coarse part of speech of that word (:data:`POS_CLASSES`): person, place, organisation,
  other proper noun, noun, number, Latin, punctuation or symbol, anything else.

Id 0 of both is "no character" (the ``<s>``/``</s>`` tokens and padding). Segmentation uses the
HMM, which is what proposes unseen names ("王小明") as words.

``char_lexicon_features(text)`` gives one bitmask per character: every word of two or more
characters in jieba's dictionary that covers the character, not only the words of the one
segmentation jieba picks, by where the character sits in it (begin, middle, end) and the word's
class (:data:`LEXICON_CLASSES`). A long name jieba cuts in two ("集美" + "航天城") still shows
where its other readings begin and end, and which of them are places or organisations.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Sequence
from typing import Any

__all__ = [
    "BMES",
    "LEXICON_BITS",
    "LEXICON_CLASSES",
    "POS_CLASSES",
    "char_lexicon_features",
    "char_word_features",
    "posseg",
    "unit_word_features",
]

BMES = ("", "B", "M", "E", "S")
POS_CLASSES = ("", "person", "place", "organisation", "proper", "noun", "number", "latin", "punct", "other")

_POS_OF_FLAG = {
    "nr": 1, "nrfg": 1, "nrt": 1,
    "ns": 2,
    "nt": 3,
    "nz": 4,
    "n": 5, "ng": 5, "vn": 5, "an": 5, "nl": 5,
    "m": 6, "mq": 6, "q": 6,
    "eng": 7,
    "x": 8, "w": 8,
}  # fmt: skip

LEXICON_CLASSES = ("person", "place", "organisation", "abbreviation", "proper", "word")
LEXICON_BITS = 3 * len(LEXICON_CLASSES)  # (begin, middle, end) × class
_LEXICON_CLASS_OF_FLAG = {"nr": 0, "nrfg": 0, "nrt": 0, "ns": 1, "nt": 2, "j": 3, "nz": 4}

_LOCK = threading.Lock()


@functools.cache
def posseg() -> Any:  # noqa: ANN401 - jieba ships no types
    """The process's jieba part-of-speech tokenizer, initialised once."""
    with _LOCK:
        import jieba
        import jieba.posseg

        jieba.setLogLevel(logging.WARNING)
        tok = jieba.posseg.POSTokenizer(jieba.Tokenizer())
        tok.tokenizer.initialize()
        return tok


def _pos_class(flag: str) -> int:
    if flag in _POS_OF_FLAG:
        return _POS_OF_FLAG[flag]
    return 9


def char_word_features(text: str) -> tuple[list[int], list[int]]:
    """``(bmes, pos)``: one id each per character of ``text`` (see the module docstring)."""
    bmes: list[int] = []
    pos: list[int] = []
    for pair in posseg().cut(text, HMM=True):
        word, flag = pair.word, pair.flag
        n = len(word)
        if not n:
            continue
        cls = 8 if word.isspace() else _pos_class(flag)
        if n == 1:
            bmes.append(4)
        else:
            bmes.extend([1] + [2] * (n - 2) + [3])
        pos.extend([cls] * n)
    if len(bmes) != len(text):  # jieba keeps every character; guard against a future change
        raise RuntimeError(f"jieba lost characters of {text!r}")
    return bmes, pos


def char_lexicon_features(text: str) -> list[int]:
    """One bitmask per character of ``text``: bit ``3 * class + where`` is set when a dictionary word
    of 2+ characters and that :data:`LEXICON_CLASSES` class covers the character, ``where`` being 0
    at the word's first character, 1 inside it and 2 at its last (see the module docstring)."""
    tok = posseg()
    dag = tok.tokenizer.get_DAG(text)  # start -> ends (inclusive) of every dictionary word there
    tags = tok.word_tag_tab
    bits = [0] * len(text)
    for start, ends in dag.items():
        for end in ends:
            if end <= start:
                continue
            cls = _LEXICON_CLASS_OF_FLAG.get(tags.get(text[start : end + 1], ""), 5)
            bits[start] |= 1 << (3 * cls)
            for k in range(start + 1, end):
                bits[k] |= 1 << (3 * cls + 1)
            bits[end] |= 1 << (3 * cls + 2)
    return bits


def unit_word_features(units: Sequence[str], *, lexicon: bool = False) -> tuple[list[int], ...]:
    """The same per unit of a tokenised sentence (a unit is a character or a short token): the
    features of its first character. ``(bmes, pos)``, and with ``lexicon`` also the lexicon bitmask."""
    text = "".join(units)
    per_char: tuple[list[int], ...] = char_word_features(text)
    if lexicon:
        per_char = (*per_char, char_lexicon_features(text))
    out: tuple[list[int], ...] = tuple([] for _ in per_char)
    at = 0
    for u in units:
        for col, feats in zip(out, per_char):
            col.append(feats[at] if u else 0)
        at += len(u)
    return out
