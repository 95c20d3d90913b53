"""Text signals for a member profile, one message at a time: topic words, occupation cues, lead hits.

- ``topic_words(text)``: the nouns and English terms a message is about (jieba, part-of-speech
  filtered, chat filler dropped), each once per message.
- ``occupation_cues(text)``: what a member says about their own work ("我是老师", "做外贸的",
  "我们公司招…"), as ``(occupation, cue)``; rules, so every hint carries the words that gave it.
- ``lead_hits(text, keywords)``: which of the operator's product keywords a message names, and
  whether it asks to buy ("多少钱", "求推荐", "怎么买").

Stdlib and jieba (the process's one tokenizer, ``nlp.words.posseg``), loaded on first use (about a second).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from nlp.lexicon import CHAT_STOP_WORDS
from nlp.patterns import strip_urls
from nlp.words import posseg

TOPIC_POS = frozenset({"n", "nz", "nt", "ns", "nw", "vn", "eng"})  # nouns, not person names; English words
STOP_WORDS = CHAT_STOP_WORDS | frozenset(
    """
    时间 地方 办法 情况 方面 同学 各位 原因 方法 结果 意思 样子 人家 东东 晚安 早安 午安 早上 晚上
    中午 下午 上午 周末
    """.split()
)
_WORDLIKE = re.compile(r"^[\w\u4e00-\u9fff+#.-]+$")

# Self-statements about work. Each pattern names one occupation; the cue shown is the matched words.
_ME = r"(?:我|本人|俺)(?:是|就是|目前是|现在是|在做|是做|做|当)?(?:一名|一个|个|名)?"
OCCUPATIONS: tuple[tuple[str, str], ...] = (
    ("教师", _ME + r"(?:老师|教师|班主任|辅导员|讲师)"),
    ("学生", _ME + r"(?:学生|大学生|研究生|博士生|研一|研二|研三|大一|大二|大三|大四|高三)(?!家长)"),
    ("程序员", _ME + r"(?:程序员|码农|开发|工程师|前端|后端|算法工程师|架构师)"),
    ("医护", _ME + r"(?:医生|护士|大夫|药剂师)"),
    ("律师", _ME + r"(?:律师|法务)"),
    ("财会", _ME + r"(?:会计|财务|审计)"),
    ("设计师", _ME + r"(?:设计师|美工|UI)"),
    ("产品经理", _ME + r"(?:产品经理|产品)(?!的)"),
    ("销售", _ME + r"(?:销售|业务员|客户经理)"),
    ("人力资源", _ME + r"(?:HR|hr|人事|招聘专员)"),
    ("宝妈", r"(?:我是|本人是?|作为)(?:一个|一名|个)?(?:宝妈|全职妈妈|二胎妈妈)"),
    ("外贸", r"(?:我|我们)?(?:是)?做外贸的|我(?:在|是)做外贸"),
    ("电商", r"(?:我|我们)?(?:是)?做电商的|我(?:在|是)做电商|我开(?:了)?(?:个)?(?:网店|淘宝店)"),
    ("创业者", r"我(?:在)?创业|我(?:是)?创业者|我自己开(?:了)?(?:个|家)?公司"),
    ("招聘方", r"(?:我们|我司|本公司|我们公司|我们团队)(?:在|正在)?(?:招|招聘|诚聘)"),
)
_OCCUPATION_RES = tuple((name, re.compile(p)) for name, p in OCCUPATIONS)

# Asking to buy, price, try or be recommended something.
BUY_CUES = re.compile(
    r"多少钱|什么价|价格|报价|怎么收费|收费吗|怎么买|哪里买|在哪买|哪儿买|购买|求推荐|有推荐|推荐一下|推荐个|"
    r"有没有好用的|试用|采购|预算|怎么卖|包月|年费|套餐"
)


def _clean(text: str) -> str:
    return strip_urls(unicodedata.normalize("NFKC", text))


def topic_words(text: str) -> list[str]:
    """The topic words of one message, each once, in order of first appearance."""
    body = _clean(text).strip()
    if not body:
        return []
    out: dict[str, None] = {}
    for word, flag in posseg().lcut(body, HMM=False):  # the HMM guesses unknown words: 5× slower
        w = word.strip()
        if flag not in TOPIC_POS or len(w) < 2 or w.isdigit() or not _WORDLIKE.match(w):
            continue
        if w.lower() not in STOP_WORDS:
            out.setdefault(w, None)  # as written: "LoRA", "vLLM"
    return list(out)


def occupation_cues(text: str) -> list[tuple[str, str]]:
    """``(occupation, the words that say so)`` for every self-statement about work in ``text``."""
    body = unicodedata.normalize("NFKC", text)
    found: list[tuple[str, str]] = []
    for name, pattern in _OCCUPATION_RES:
        m = pattern.search(body)
        if m:
            found.append((name, m.group().strip()))
    return found


def lead_hits(text: str, keywords: Iterable[str]) -> tuple[list[str], list[str]]:
    """``(product keywords named, buying cues)`` in one message; keywords match case-insensitively."""
    body = unicodedata.normalize("NFKC", text).lower()
    named = [k for k in dict.fromkeys(keywords) if k.strip() and unicodedata.normalize("NFKC", k).lower() in body]
    cues = list(dict.fromkeys(m.group() for m in BUY_CUES.finditer(body)))
    return named, cues


__all__ = ["BUY_CUES", "OCCUPATIONS", "lead_hits", "occupation_cues", "topic_words"]
