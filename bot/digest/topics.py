"""What the day was about: topic keywords (jieba TF-IDF over useful messages) and the terms two
messages share (used to tie a reply to the right question)."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence
from typing import Any

from bot.digest.data import Topic
from nlp.lexicon import CHAT_STOP_WORDS
from nlp.patterns import strip_urls

MAX_TOPICS = 6

# Words too common in group chat to name a topic (jieba's own stop list and IDF do the rest).
STOP_WORDS = CHAT_STOP_WORDS | frozenset(
    """
    哈哈哈哈 牛逼 老师 一般 大概 左右 之后 之前 直接 基本 试试 学到 收到 mark yyds ok hh
    问个 请教 求助 顺便
    """.split()
)

# Part-of-speech tags a topic keyword may carry: nouns, proper nouns (not person names), verbal
# nouns, English words.
TOPIC_POS = ("n", "nz", "nt", "ns", "nw", "vn", "eng")

_HINT = re.compile(r"\S*\*\*\*\S*")  # what masking left of a contact ("wx_s***", "z***@qq.com")
_MENTION = re.compile(r"@[^\s@，,：:]+")  # "@深圳-Jason": a member's name, not what the day was about
_WORDLIKE = re.compile(r"^[\w\u4e00-\u9fff]+$")
_LATIN = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[.\-+][A-Za-z0-9]+)*")


@functools.lru_cache(maxsize=1)
def _jieba() -> Any:
    import jieba
    import jieba.analyse  # loads jieba's dictionary and IDF table on first use

    jieba.setLogLevel(logging.WARNING)  # jieba sets its own logger to DEBUG at import
    return jieba


def _tfidf() -> Any:
    return _jieba().analyse.default_tfidf  # built (IDF table loaded) once, at jieba.analyse's import


def keywords(texts: Sequence[str], k: int, exclude: str = "") -> list[str]:
    """The ``k`` best TF-IDF keywords of ``texts``; none that is part of ``exclude`` (the group's
    own topic, which says nothing about the day), none from an @mention."""
    body = "\n".join(_MENTION.sub(" ", _HINT.sub(" ", strip_urls(t))) for t in texts)
    if not body.strip():
        return []
    skip = exclude.lower()
    out: list[str] = []
    for w in _tfidf().extract_tags(body, topK=k * 5, allowPOS=TOPIC_POS):
        w = w.strip()
        low = w.lower()
        if (
            len(w) >= 2
            and low not in STOP_WORDS
            and low not in skip
            and _WORDLIKE.match(w)
            and not w.isdigit()
            and low not in (o.lower() for o in out)
        ):
            out.append(w)
        if len(out) == k:
            break
    return out


def topics(texts: Sequence[str], exclude: str = "", k: int = MAX_TOPICS) -> tuple[Topic, ...]:
    """Keywords with how many of ``texts`` mention them, biggest first (ties keep TF-IDF rank)."""
    lowered = [_MENTION.sub(" ", t).lower() for t in texts]
    found = [Topic(kw, sum(1 for t in lowered if kw.lower() in t)) for kw in keywords(texts, k, exclude)]
    return tuple(sorted((t for t in found if t.count), key=lambda t: -t.count))


MIN_IDF = 7.0  # Chinese words commoner than this in jieba's IDF table ("的话", "目前", "上海") are not terms


@functools.lru_cache(maxsize=4096)
def terms(text: str) -> frozenset[str]:
    """Content words of ``text``: Latin-script terms (``LoRA``, ``Qwen2.5-7B``) and Chinese words
    of two or more characters that are rare in general text (jieba's IDF ≥ :data:`MIN_IDF`, or not
    in its table: "召回", "学习率"), lower-cased; "@name" mentions and stop words left out."""
    text = _MENTION.sub(" ", strip_urls(text))
    found = {m.group().lower() for m in _LATIN.finditer(text) if len(m.group()) >= 2}
    idf = _tfidf().idf_freq
    for w in _jieba().lcut(_LATIN.sub(" ", text)):
        w = w.strip()
        if len(w) >= 2 and _WORDLIKE.match(w) and not w.isdigit() and idf.get(w, MIN_IDF) >= MIN_IDF:
            found.add(w)
    return frozenset(w for w in found if w not in STOP_WORDS)
