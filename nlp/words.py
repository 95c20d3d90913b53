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
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Sequence
from typing import Any

__all__ = ["BMES", "POS_CLASSES", "char_word_features", "posseg", "unit_word_features"]

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


def unit_word_features(units: Sequence[str]) -> tuple[list[int], list[int]]:
    """The same per unit of a tokenised sentence (a unit is a character or a short token): the
    features of its first character."""
    text = "".join(units)
    bmes, pos = char_word_features(text)
    out_b: list[int] = []
    out_p: list[int] = []
    at = 0
    for u in units:
        out_b.append(bmes[at] if u else 0)
        out_p.append(pos[at] if u else 0)
        at += len(u)
    return out_b, out_p
