"""Training and evaluation corpora for the three model heads (ad, useful, intent). Stdlib only.

    python -m nlp.training.corpus --stats                 # counts per task, split, label and source
    python -m nlp.training.corpus --stats --task useful   # one task
    python -m nlp.training.corpus --out out/corpus        # also write <task>.<split>.jsonl (outside git)

``build_ad()``, ``build_useful()`` and ``build_intent()`` each return ``{"train": [...], "dev": [...],
"test": [...]}`` of small frozen records (:class:`AdRecord`, :class:`UsefulRecord`,
:class:`IntentRecord`), each with ``text``, ``label`` and ``source`` (the dataset folder name, or
``intent_seed`` / ``phatic`` for what this module and :mod:`nlp.training.intent_seed` wrote). Texts are raw
(not normalised): the trainer applies whatever it applies at inference. Everything is deterministic:
sampling keys on a hash of the text (so it does not depend on file order), and augmentation draws
from ``random.Random`` seeded per record. All three build in well under 30 s; the raw data are read
once per process and data folder.

Splits
------
A text's split is ``nlp.training.datasets.split_of(text)`` (about 70/10/20), the one split of the project, so a
text is on the same side in every task. Two exceptions, both to keep near-duplicates apart:

* a hand-written seed and all its slot-filled variants take the split of the seed's template;
* an augmented copy (evasion, digits put back) takes the split of the text it was made from.

A final pass drops from ``train`` any text that also sits in ``dev`` or ``test``, and from ``dev`` any
text in ``test``, so no exact text is ever on two sides within a task. Texts of the SMP2017 dev file
are reserved for :func:`smp2017_dev_chat_vs_rest` and are in no task at all.

ad: labels ``ad`` / ``normal``
------------------------------
Positives: ``sms_spam_80w`` label 1 and ``qq_group_ads`` label 1. Negatives: ``sms_spam_80w`` label 0,
``qq_group_ads`` label 0, ``nus_sms_zh`` (all normal; real personal SMS, much of it Cantonese or
traditional), LCCC utterances, SMP texts (2017 train and 2019, every domain), THUCNews and TNEWS
headlines (normal, including estate and stock headlines that read like promotions, "均价22000元全款
97折"), the phatic list below and the seeds of :mod:`nlp.training.intent_seed` except job posts.

Train only is sampled: ``sms_spam_80w`` normals (web sentence fragments, not SMS) down to 10,000;
LCCC down to 7,000; ``nus_sms_zh`` down to 10,000; headlines at most 1,000 per category and source for finance, stocks and estate
(the promotional-looking ones, hard negatives) and 400 for the others. ``qq_group_ads``, the product's
nearest data, is oversampled ×5 in train (both labels, exact copies; :data:`QQ_OVERSAMPLE`).
``sms_spam_80w`` masks digits as ``x`` in its spam only (its normals keep real digits): for half of
the train rows that have masks a copy with random digits put back is added (``aug="digits"``).
Evasion augmentations (:mod:`nlp.training.augment`) add a disguised copy for 35% of train ads and for the same
*number* of normals, so a disguise raises the odds of an ad without deciding it.

**What an ad is** (every source's labels are made to agree with it): any unsolicited promotion or
lure in a group — selling goods or services, recruiting for paid tasks (代发, 刷单, 打字, 评论, 点赞,
拉新), gambling, loans and fraud, account and game-item trade, contact harvesting (asking members to
add a contact or join another group to receive something). A job post of a real employer is not
written here as either (the intent seeds' job posts stay out of the ad task).

Round 2 sources (each with the same hash split, so their test parts stay held out):

* ``game_chat_ads_train`` (game world chat): label 1 → ad. Label 0 is noisy: about 10.6k of its rows
  match the folder's contact regex (``contact_cue``), and most of those are ads. Rule
  (:func:`clean_game_chat`): a label-0 row with a contact cue becomes ``ad`` when it also carries a
  promotion cue (:data:`_GAME_PROMO_RE`: a price, selling/buying/boosting words, 需要的/要的, 群号,
  福利, 视频…); a label-0 row with a contact cue and no promotion cue is dropped (neither label is
  safe: "cp滴滴", "我的微信号…"). Other label-0 rows are ``normal``. The counts are in
  :func:`clean_game_chat`'s second return value (``python -m nlp.training.corpus --stats`` prints them).
  Train sampled to 2,000 ads and 2,000 normals.
* ``telecom_fraud_texts5``: the four fraud classes → ad (1,500 in train). Its ``normal_sms`` class
  is mostly marketing and is not used at all (neither side).
* Long ordinary texts, all ``normal``: ``cmrc2018_passages``, ``drcd_passages_zhs``,
  ``csl_abstracts``, ``howtocook_recipes``, ``leetcode_cn_texts``, ``advanced_java_docs``,
  ``reviews_long`` and the news snippets of ``whu_addetector_snippets`` (its promo snippets are
  article-level labels, not used). In train up to 600 whole texts per folder, plus 600 chunks per
  folder cut from its train texts (:func:`chunk`: 6–20, 21–60, 61–120 and 121–200
  characters in turn, cut at sentence ends where possible, ``aug="chunk"``, the split of the text
  they come from), plus up to 500 of its short texts (reading-comprehension questions, paper
  titles): so ordinary text of every length bucket (≤20, 21–60, 61–200, >200) is among the
  negatives from the first step. dev and test hold every held-out text and one chunk of each.
* :mod:`nlp.training.ad_seed`: hand-written modern-genre ads (task scams in today's slang, contact
  harvesting, gambling with short domains, card agents, loans, fraud, trade) and ordinary
  look-alikes (technical questions and answers, recipes, warnings about scams); up to 6 variants
  per seed, ads and normals ×2 in train (``aug="seed"``). **Train only**: never in dev or test.

To make room, train samples ``sms_spam_80w`` normals down to 10,000, LCCC to 7,000 and
``nus_sms_zh`` to 10,000 (dev and test keep them all).

**Leave one source out**: ``build_ad(exclude_sources={"game_chat"})`` (or the environment variable
``QUNZHI_AD_EXCLUDE=game_chat``, comma-separated, which ``python -m nlp.training.train prepare`` inherits)
drops a source from every split of every task (``qq_group_ads`` and ``sms_spam_80w`` are also read
by the useful and intent corpora; ``build_useful`` and ``build_intent`` honour the same variable),
so a pack trained without it never saw it. Names: the folder names or the aliases of
:data:`AD_SOURCE_ALIASES` (``game_chat``, ``qq``, ``fraud``, ``sms``).

``dev`` and ``test`` are not sampled: every held-out row of every source is there, so the per-source
test sets equal what ``nlp.training.evaluate`` reads. Both also get disguised copies (35% of their ads, as
many normals) for measuring robustness. :func:`records_by_source` separates them: clean rows under
their dataset name (``qq_group_ads``, ``sms_spam_80w``, ``nus_sms_zh`` — every "ad" there is a false
alarm — ...), disguised ones under ``"evasion"``.

useful: labels ``useful`` / ``useless``, relative to ``topic``
-------------------------------------------------------------
``topic`` is a free-text group topic, one of several Chinese phrasings per category
(:data:`CATEGORIES`: THUCNews and TNEWS categories, merged where they are the same: sports, finance,
stocks, estate, education, entertainment, games, tech = THUCNews science + TNEWS tech; politics,
society, world, culture, stories). Useful: a headline paired with a phrasing of its own category
(``kind="on_topic"``), including the many question-form TNEWS headlines ("足彩该怎么玩？"), and the
hand-written seeds (questions, answers, link shares, announcements, job posts, requests) of a
category paired with that category; seeds that fit any group (announcements) are useful under
any topic. Useless: the same kinds of text paired with a category that is clearly different
(``"off_topic"``: never a related category, :data:`RELATED`, so "finance" is not off-topic for a
stocks group), chit-chat (``"chitchat"``: the phatic list, SMP ``chat``, short ``qq_group_ads``
chatter, LCCC) and ads (``"ad"``). Per part, for U useful records: 0.6·U off-topic, 0.3·U ads and
the rest of 1.5·U chit-chat, so about 40% useful / 60% useless. SMP task-domain utterances ("打开
uc", "红烧肉怎么做") are left out: they are commands to a voice assistant, neither content for a
topic nor chit-chat, and labelling them either way would teach the wrong thing about questions.
The intent seeds labelled ``other`` (files, system lines) are left out too: their use depends on
content the text does not show.

**Held-out topics** (:data:`HELD_OUT`): agriculture, military, travel and cars, four TNEWS categories
with no THUCNews counterpart. Their headlines are in no task's train or dev; in ``test`` they form
the held-out part (``held_out=True``): held-out-category headlines as useful under their own topic,
and test off-topic headlines, chit-chat and ads paired with a held-out topic. The rest of ``test``
(``held_out=False``) is the same construction as train on the seen topics, so evaluation can report
seen and unseen topics apart (:func:`records_by_source` keys them ``"seen_topics"`` and
``"held_out_topics"``). No seed is about a held-out category.

intent: question, answer, announcement, link_share, job_post, ad, request, chitchat, other
--------------------------------------------------------------------------------------------------
SMP2017 train ``chat`` → chitchat; its task domains and all of SMP2019 → ``question`` when
interrogative (吗/？/怎么/什么/多少/几…, 请问/我想知道…) and ``request`` otherwise: imperatives
(打开/帮我/播放/订/查…) and the bare noun phrases that are elliptical commands to the assistant
("金山词霸", "儋州到海口的航班"). LCCC utterances → chitchat, its social questions too ("你吃了吗" asks
for nothing), sampled at 20%; the few that ask for information (怎么做/在哪/多少钱/推荐…, about 3%)
are questions by the seed rules but unverified, so they are left out. Short ``qq_group_ads``
chatter (≤ 12 characters, no question, no link) and the phatic list → chitchat. Ads: all
``qq_group_ads`` ads and 20% of the ``sms_spam_80w`` spam. Announcement, job_post, link_share,
answer, other and group-style question and request: :mod:`nlp.training.intent_seed` (hand-written; labelling
rules in its docstring), up to four variants per seed (slots filled, a mention or an ending added).
Classes stay unbalanced (chitchat is the largest); use class weights.
On a duplicate text the first source wins, in the order seeds, SMP, phatic, QQ, LCCC, ads.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TypeVar

from nlp.normalize import normalize
from nlp.training import ad_seed, augment as aug, datasets
from nlp.training.datasets import DatasetMissing, Split, split_of
from nlp.training.intent_seed import SEEDS, Seed, expand
from nlp.verdict import INTENTS

__all__ = [
    "AD_LABELS",
    "AD_SOURCE_ALIASES",
    "EXCLUDE_ENV",
    "NOT_EVASION",
    "CATEGORIES",
    "HELD_OUT",
    "INTENT_LABELS",
    "QQ_OVERSAMPLE",
    "RELATED",
    "SPLITS",
    "TASKS",
    "USEFUL_LABELS",
    "AdRecord",
    "Category",
    "IntentRecord",
    "UsefulRecord",
    "build",
    "build_ad",
    "build_intent",
    "build_useful",
    "clean_game_chat",
    "chunk",
    "excluded_sources",
    "main",
    "phatic_texts",
    "records_by_source",
    "seed_split",
    "smp2017_dev_chat_vs_rest",
    "smp_intent",
    "stats",
]

SEED = "qunzhi-corpus-1"
TASKS = ("ad", "useful", "intent")
SPLITS: tuple[Split, ...] = ("train", "dev", "test")
AD_LABELS = ("ad", "normal")
USEFUL_LABELS = ("useful", "useless")
INTENT_LABELS = INTENTS

# ad: train sampling and augmentation
SMS_NORMAL_TRAIN = 10_000
LCCC_AD_TRAIN = 7_000
NUS_AD_TRAIN = 10_000
# ad, round 2 (train caps per source; dev and test keep every held-out row)
GAME_AD_TRAIN = 2_000
GAME_NORMAL_TRAIN = 2_000
FRAUD_TRAIN = 1_500
LONG_TRAIN = 600  # whole long texts per folder
LONG_CHUNK_TRAIN = 600  # chunks per folder, cut from other train texts of the folder
LONG_SHORT_TRAIN = 500  # short texts of a long-text folder (questions, paper titles)
AD_SEED_VARIANTS = 6
AD_SEED_OVERSAMPLE = {"ad": 2, "normal": 2}
# Length buckets of ordinary text the chunks fill: (min, max) characters.
CHUNK_BUCKETS = ((6, 20), (21, 60), (61, 120), (121, 200))  # half of them 61-200, where ads crowd
# Augmentation tags that are not evasions (records_by_source keeps them under their source).
NOT_EVASION = frozenset({"", "digits", "chunk", "seed"})
NEWS_AD_CAP_HARD = 1_000  # per category, for the promotional-looking ones
NEWS_AD_CAP = 400
QQ_OVERSAMPLE = 5
DIGITS_SHARE = 0.5
AD_AUG_SHARE = 0.35
# useful: useless records per useful record
OFF_TOPIC_RATIO = 0.6
AD_RATIO = 0.3
USELESS_RATIO = 1.5
# intent
LCCC_INTENT_RATE = 0.2
SMS_AD_INTENT_RATE = 0.2
QQ_CHAT_MAX_LEN = 12
SEED_VARIANTS = 4


# ================================================================================================
# records
# ================================================================================================


@dataclass(frozen=True, slots=True)
class AdRecord:
    text: str
    label: str  # "ad" | "normal"
    source: str  # dataset name
    aug: str = ""  # "" | "digits" | an augmentation name ("spaced", "homoglyph+invisible", ...)


@dataclass(frozen=True, slots=True)
class UsefulRecord:
    text: str
    label: str  # "useful" | "useless"
    source: str
    topic: str  # the group topic phrase the text is judged against
    topic_category: str  # the category key the topic phrase belongs to
    category: str = ""  # the text's own category ("" for chit-chat, ads, generic seeds)
    kind: str = "on_topic"  # "on_topic" | "off_topic" | "chitchat" | "ad"
    held_out: bool = False  # the topic is a held-out category (test only)


@dataclass(frozen=True, slots=True)
class IntentRecord:
    text: str
    label: str  # one of INTENT_LABELS
    source: str


Record = AdRecord | UsefulRecord | IntentRecord
T = TypeVar("T")
R = TypeVar("R", AdRecord, UsefulRecord, IntentRecord)


# ================================================================================================
# topic categories
# ================================================================================================


@dataclass(frozen=True, slots=True)
class Category:
    key: str
    phrases: tuple[str, ...]  # group topics, as a group owner might write them
    thucnews: tuple[str, ...] = ()  # THUCNews labels
    tnews: tuple[str, ...] = ()  # TNEWS label_desc


CATEGORIES: dict[str, Category] = {
    c.key: c
    for c in (
        Category("sports", ("体育", "足球篮球", "运动健身交流", "球迷俱乐部", "体育赛事讨论", "NBA和中超",
                            "跑步健身群"), ("sports",), ("news_sports",)),
        Category("finance", ("财经", "理财交流", "经济金融", "银行理财", "投资理财群", "宏观经济讨论"),
                 ("finance",), ("news_finance",)),
        Category("stocks", ("股票", "炒股交流", "A股投资", "股市行情", "基金股票讨论", "证券投资群"),
                 ("stocks",), ("news_stock",)),
        Category("realty", ("房产", "买房交流", "楼市资讯", "房地产", "业主交流群", "买房租房"),
                 ("realty",), ("news_house",)),
        Category("education", ("教育", "考试升学", "家长交流群", "留学交流", "考研考公", "学习交流群", "高考志愿"),
                 ("education",), ("news_edu",)),
        Category("entertainment", ("娱乐", "明星八卦", "追星", "影视综艺", "电影电视剧", "娱乐圈吃瓜"),
                 ("entertainment",), ("news_entertainment",)),
        Category("game", ("游戏", "电竞", "手游交流", "网络游戏", "主机游戏玩家", "王者荣耀开黑"),
                 ("game",), ("news_game",)),
        Category("tech", ("科技", "人工智能", "互联网科技", "数码产品", "前沿科学", "AI开发者交流", "手机数码"),
                 ("science",), ("news_tech",)),
        Category("politics", ("时政", "时事政治", "国内时政新闻", "政策解读"), ("politics",)),
        Category("society", ("社会新闻", "社会热点", "民生百态", "法制新闻", "身边事"), ("society",)),
        Category("world", ("国际新闻", "国际局势", "环球时事", "海外见闻"), (), ("news_world",)),
        Category("culture", ("文化", "历史文化", "读书会", "传统文化", "文学艺术", "书画收藏"), (), ("news_culture",)),
        Category("story", ("故事会", "奇闻趣事", "情感故事", "讲故事"), (), ("news_story",)),
        # held out: TNEWS-only categories, test split only
        Category("agriculture", ("农业", "三农", "种植养殖", "农村发展", "农产品交流"), (), ("news_agriculture",)),
        Category("military", ("军事", "军迷", "国防军事", "武器装备"), (), ("news_military",)),
        Category("travel", ("旅游", "旅行攻略", "自驾游", "出游交流", "驴友群"), (), ("news_travel",)),
        Category("car", ("汽车", "买车用车", "汽车爱好者", "新能源车", "车友会"), (), ("news_car",)),
    )
}  # fmt: skip
HELD_OUT: frozenset[str] = frozenset({"agriculture", "military", "travel", "car"})
SEEN: tuple[str, ...] = tuple(k for k in CATEGORIES if k not in HELD_OUT)
# Pairs close enough that one's headline is not clearly off-topic for the other's group.
RELATED: frozenset[frozenset[str]] = frozenset(
    frozenset(p)
    for p in (
        ("politics", "world"), ("politics", "military"), ("world", "military"), ("politics", "society"),
        ("society", "story"), ("culture", "story"), ("culture", "entertainment"), ("culture", "education"),
        ("culture", "travel"), ("finance", "stocks"), ("finance", "realty"), ("stocks", "realty"),
        ("tech", "game"), ("tech", "car"), ("game", "entertainment"), ("sports", "entertainment"),
        ("agriculture", "society"), ("agriculture", "finance"), ("travel", "car"), ("society", "education"),
    )
)  # fmt: skip
_LABEL_CATEGORY = {lab: c.key for c in CATEGORIES.values() for lab in c.thucnews + c.tnews}
_HARD_NEWS = {"realty", "finance", "stocks"}


def unrelated(a: str, b: str) -> bool:
    """Whether categories ``a`` and ``b`` are clearly different topics."""
    return a != b and frozenset((a, b)) not in RELATED


# ================================================================================================
# phatic chatter
# ================================================================================================

_PHATIC_BASE = (
    "哈哈", "哈哈哈", "哈哈哈哈", "哈哈哈哈哈哈", "hhh", "hhhh", "233", "2333", "23333", "笑死", "笑死我了",
    "绝了", "早", "早啊", "早上好", "早安", "大家早", "早早早", "午安", "晚安", "晚安各位", "大家好",
    "新人报到", "周末愉快", "节日快乐", "新年快乐", "中秋快乐", "好久不见", "好的", "好滴", "好嘞",
    "好哒", "收到", "收到收到", "明白", "了解", "知道了", "嗯嗯", "嗯", "哦哦", "ok", "OK", "好", "行",
    "可以", "没问题", "谢谢", "谢谢大家", "感谢", "多谢", "辛苦了", "辛苦辛苦", "666", "6666", "牛",
    "牛啊", "太强了", "厉害", "大佬", "膜拜", "羡慕", "哇", "啊这", "确实", "对对对", "是的是的",
    "在吗", "在不在", "有人吗", "冒泡", "潜水中", "路过", "+1", "同问", "顶", "来了来了", "真的假的",
    "我也是", "哈哈哈太真实了", "晚上好", "下午好", "欢迎欢迎", "欢迎新朋友", "撒花", "冲", "加油",
    "加油加油", "稳", "妙啊", "无语", "服了", "离谱", "好家伙", "yyds", "绝绝子", "蹲一个", "插眼",
)  # fmt: skip
_STICKERS = (
    "[表情]", "[动画表情]", "[捂脸]", "[强]", "[OK]", "[破涕为笑]", "[旺柴]", "[呲牙]", "[偷笑]",
    "[抱拳]", "[玫瑰]", "[社会社会]", "[裂开]", "[爱心]", "[太阳]", "[奸笑]", "[机智]", "[耶]",
    "😂", "🤣", "👍", "🙏", "🌹", "❤️", "😄", "🎉", "😭", "🤔",
)  # fmt: skip
_PHATIC_SUFFIX = ("", "～", "！", "!!", "。。。", "[捂脸]", "😂", "[强]", "👍", "[旺柴]")


def phatic_texts() -> tuple[str, ...]:
    """Laughter, greetings, acknowledgements, sticker placeholders: chit-chat in every task (hand-written)."""
    out: dict[str, None] = {}
    for s in _STICKERS:
        out[s] = None
        out[s * 2] = None
        out[s * 3] = None
    for base in _PHATIC_BASE:
        for suf in _PHATIC_SUFFIX:
            if suf != base:
                out[base + suf] = None
    return tuple(out)


# ================================================================================================
# deterministic helpers
# ================================================================================================


def _h(*parts: str) -> int:
    return int.from_bytes(hashlib.blake2b("\x00".join((SEED, *parts)).encode(), digest_size=8).digest(), "big")


def _keep(text: str, rate: float, salt: str) -> bool:
    return _h(salt, text) % 1_000_000 < rate * 1_000_000


def _text_of(record: object) -> str:
    return record.text  # type: ignore[attr-defined]


def _sample(items: Sequence[T], n: int, salt: str, key: Callable[[T], str] = _text_of) -> list[T]:
    """``n`` of ``items``, the same ones whatever their order; all of them when there are no more."""
    if n >= len(items):
        return list(items)
    return sorted(items, key=lambda r: _h(salt, key(r)))[:n]


def _pick(seq: Sequence[str], *key: str) -> str:
    return seq[_h(*key) % len(seq)]


def _rng(*key: str) -> random.Random:
    return random.Random(_h(*key))


@functools.cache
def _split(text: str) -> Split:
    return split_of(text)


def _key(text: str) -> str:
    return "".join(normalize(text).text.casefold().split())


def seed_split(seed: Seed) -> Split:
    """A seed's split: that of its template, so all its slot-filled variants are on one side."""
    return _split(seed.text)


# ================================================================================================
# raw data, read once per process and folder
# ================================================================================================


@dataclass(frozen=True, slots=True)
class _Raw:
    qq: tuple[tuple[str, str], ...]  # (text, "ad"|"normal")
    sms: tuple[tuple[str, str], ...]
    nus: tuple[str, ...]
    lccc: tuple[str, ...]
    news: tuple[tuple[str, str, str], ...]  # (text, category key, source)
    smp17: tuple[tuple[str, str], ...]  # (text, domain) of smp2017_train, minus reserved
    smp19: tuple[tuple[str, str], ...]  # (text, domain) of smp2019, minus reserved and SMP2017 train duplicates
    smp17_dev: tuple[tuple[str, str], ...]  # (text, domain): reserved for smp2017_dev_chat_vs_rest
    held_texts: frozenset[str]  # headlines labelled (also) with a held-out category
    game: tuple[tuple[str, str], ...] = ()  # (text, "ad"|"normal"), cleaned by clean_game_chat
    fraud: tuple[str, ...] = ()  # telecom fraud scripts (all ads)
    long: tuple[tuple[str, str, str], ...] = ()  # (text, folder, kind): ordinary texts, all normal


def _clean(text: str) -> str:
    return text.strip()


def _smp19_rows(data: str | os.PathLike[str] | None) -> list[tuple[str, str]]:
    path = datasets.data_dir(data) / "smp_ecdt_intent" / "smp2019_nlu_train.jsonl"
    if not path.is_file():
        raise DatasetMissing(f"{path}: not found (set QUNZHI_DATA or pass data_dir to point at shared/data)")
    rows = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rec = json.loads(line)
                rows.append((rec["text"], rec["domain"]))
    return rows


@functools.lru_cache(maxsize=4)
def _load(root: str) -> _Raw:
    qq = tuple((t, ex.label) for ex in datasets.qq_group_ads(root) if (t := _clean(ex.text)))
    sms = tuple((t, ex.label) for ex in datasets.sms_spam_80w(root) if (t := _clean(ex.text)))
    nus = tuple(t for ex in datasets.nus_sms_zh(root) if (t := _clean(ex.text)))
    lccc = tuple(t for ex in datasets.lccc_utterances(root) if (t := _clean(ex.text)))
    news: list[tuple[str, str, str]] = []
    for name, loader in (("thucnews_titles", datasets.thucnews_titles), ("tnews", datasets.tnews)):
        for ex in loader(root):
            if (t := _clean(ex.text)) and ex.label in _LABEL_CATEGORY:
                news.append((t, _LABEL_CATEGORY[ex.label], name))
    dev = tuple((t, ex.label) for ex in datasets.smp_ecdt_intent(root, "dev") if (t := _clean(ex.text)))
    reserved = {_key(t) for t, _ in dev}
    smp17 = tuple(
        (t, ex.label)
        for ex in datasets.smp_ecdt_intent(root, "train")
        if (t := _clean(ex.text)) and _key(t) not in reserved
    )
    seen17 = {t for t, _ in smp17}
    smp19 = tuple(
        (t, d) for t0, d in _smp19_rows(root) if (t := _clean(t0)) and t not in seen17 and _key(t) not in reserved
    )
    held = frozenset(t for t, cat, _ in news if cat in HELD_OUT)
    game, _ = clean_game_chat((t, lab, cue) for t0, lab, cue in datasets.game_chat_ads(root) if (t := _clean(t0)))
    fraud = tuple(
        t for ex in datasets.telecom_fraud_texts(root) if ex.label.startswith("fraud_") and (t := _clean(ex.text))
    )
    long: list[tuple[str, str, str]] = []
    for name in datasets.LONG_TEXT_DATASETS:
        long += [(t, name, ex.label) for ex in datasets.long_texts(name, root) if (t := _clean(ex.text))]
    long += [
        (t, "whu_addetector_snippets", "news") for ex in datasets.whu_news_snippets(root) if (t := _clean(ex.text))
    ]
    return _Raw(qq, sms, nus, lccc, tuple(news), smp17, smp19, dev, held, tuple(game), fraud, tuple(long))


# ---- round 2: game-chat label cleaning, chunks, leave-one-source-out --------------------------

# The folder's own contact regex (SOURCE.md), for rows read without its column.
_GAME_CONTACT_RE = re.compile(r"\d{6,}|qq|vx|微信|加我|加q|滴滴|v信|wx|扣扣|企鹅", re.IGNORECASE)
# A promotion cue in game chat: a price, selling/buying/boosting, "who needs it", groups, perks, media.
_GAME_PROMO_RE = re.compile(
    r"出售|售|卖|收购|高价收|低价|便宜|优惠|半价|特价|价格|价钱|[0-9一二两三四五六七八九十百千万]+\s*(?:元|块|毛|r|米|w|万)|"
    r"[¥￥]|代[练炼恋刷打充肝]|带[上飞躺]|搬钻|辅助|外挂|科技|稳定|不封|0封|视频|小说|软件|app|福利|红包|礼包|"
    r"进群|加群|加裙|群[:：号]|招|工作室|老板|需要的|要的|有需要|想要|想做|联系|咨询|先货|后钱|赚|日结|日搬|"
    r"[0-9]+\s*出|出[号皮装货物]|资源|会员|充值|点[卷券倦]|钻石|元宝|金币|代理",
    re.IGNORECASE,
)


def clean_game_chat(rows: Iterable[tuple[str, str, bool]]) -> tuple[list[tuple[str, str]], Counter[str]]:
    """``game_chat_ads_train`` rows ``(text, label, contact_cue)`` → ``(text, label)`` agreeing with the ad
    definition, and the counts of what changed.

    Rule: label ``ad`` stays ``ad``. Label ``normal`` without a contact cue stays ``normal``. Label
    ``normal`` with a contact cue (the folder's regex) becomes ``ad`` when :data:`_GAME_PROMO_RE` also
    matches (a price, selling or buying, boosting, 需要的/要的, a group number, perks, paid media: a
    contact offered for a deal), and is dropped otherwise (a contact with no visible offer — "cp滴滴",
    "我的微信号…" — is neither a safe ad nor a safe normal). Counts: ``ad``, ``normal``,
    ``relabelled_normal_to_ad``, ``dropped_contact_no_promo``.
    """
    out: list[tuple[str, str]] = []
    counts: Counter[str] = Counter()
    for text, label, cue in rows:
        if label == "normal" and (cue or _GAME_CONTACT_RE.search(text)):
            if _GAME_PROMO_RE.search(text):
                label = "ad"
                counts["relabelled_normal_to_ad"] += 1
            else:
                counts["dropped_contact_no_promo"] += 1
                continue
        counts[label] += 1
        out.append((text, label))
    return out, counts


_SENTENCE_END_RE = re.compile(r"[。！？!?；;\n]|\.(?=\s)")


def chunk(text: str, rng: random.Random, bucket: tuple[int, int]) -> str:
    """A piece of ``text`` with a length in ``bucket`` (characters), starting after a sentence end and
    ending at one where that fits; ``""`` when the text is too short for the bucket."""
    lo, hi = bucket
    if len(text) < lo + 5:
        return ""
    starts = [0] + [m.end() for m in _SENTENCE_END_RE.finditer(text) if m.end() < len(text) - lo]
    for _ in range(4):
        start = rng.choice(starts)
        while start < len(text) and text[start].isspace():
            start += 1
        target = rng.randint(lo, hi)
        piece = text[start : start + target]
        ends = [m.end() for m in _SENTENCE_END_RE.finditer(piece) if m.end() >= lo]
        if ends:
            piece = piece[: ends[-1]]
        piece = piece.strip()
        if lo <= len(piece) <= hi and piece != text.strip():
            return piece
    return ""


AD_SOURCE_ALIASES = {
    "game": "game_chat_ads_train",
    "game_chat": "game_chat_ads_train",
    "qq": "qq_group_ads",
    "fraud": "telecom_fraud_texts5",
    "telecom_fraud": "telecom_fraud_texts5",
    "sms": "sms_spam_80w",
}
_EXCLUDABLE = frozenset({"game_chat_ads_train", "qq_group_ads", "telecom_fraud_texts5", "sms_spam_80w"})
EXCLUDE_ENV = "QUNZHI_AD_EXCLUDE"


def excluded_sources(names: Iterable[str] | None = None) -> frozenset[str]:
    """Folder names of the sources to leave out: ``names``, else ``$QUNZHI_AD_EXCLUDE`` (comma-separated)."""
    if names is None:
        names = [n for n in os.environ.get(EXCLUDE_ENV, "").split(",") if n.strip()]
    out = set()
    for n in names:
        folder = AD_SOURCE_ALIASES.get(n.strip(), n.strip())
        if folder not in _EXCLUDABLE:
            raise ValueError(
                f"cannot leave out {n!r}; known: {', '.join(sorted(_EXCLUDABLE | set(AD_SOURCE_ALIASES)))}"
            )
        out.add(folder)
    return frozenset(out)


def _raw(data_dir: str | os.PathLike[str] | None, exclude: Iterable[str] | None = ()) -> _Raw:
    """The raw data, without the sources in ``exclude`` (``None``: those of ``$QUNZHI_AD_EXCLUDE``)."""
    raw = _load(str(datasets.data_dir(data_dir).resolve()))
    gone = excluded_sources(exclude)
    if not gone:
        return raw
    return replace(
        raw,
        qq=() if "qq_group_ads" in gone else raw.qq,
        sms=() if "sms_spam_80w" in gone else raw.sms,
        game=() if "game_chat_ads_train" in gone else raw.game,
        fraud=() if "telecom_fraud_texts5" in gone else raw.fraud,
    )


def _headline_ok(raw: _Raw, text: str, split: Split) -> bool:
    """Held-out categories' headlines exist only in test, in every task."""
    return split == "test" or text not in raw.held_texts


def _seed_texts(variants: int = SEED_VARIANTS) -> list[tuple[Seed, str, Split]]:
    """Every seed's variants with the split of its template, deterministic."""
    out = []
    for i, seed in enumerate(SEEDS):
        for text in expand(seed, _rng("seed", str(i), seed.text), variants):
            out.append((seed, text, seed_split(seed)))
    return out


# ================================================================================================
# split hygiene
# ================================================================================================


def _dedupe(records: Iterable[R]) -> list[R]:
    """First record per text; a text that came with two different labels is dropped."""
    first: dict[str, R] = {}
    conflict: set[str] = set()
    for r in records:
        if r.text in first:
            if first[r.text].label != r.label:
                conflict.add(r.text)
            continue
        first[r.text] = r
    return [r for t, r in first.items() if t not in conflict]


def _separate(corpus: dict[str, list[R]]) -> dict[str, list[R]]:
    """No text on two sides: test wins over dev, dev over train."""
    test = {r.text for r in corpus["test"]}
    dev = [r for r in corpus["dev"] if r.text not in test]
    dev_texts = {r.text for r in dev}
    train = [r for r in corpus["train"] if r.text not in test and r.text not in dev_texts]
    return {"train": train, "dev": dev, "test": corpus["test"]}


# ================================================================================================
# ad
# ================================================================================================


def _ad_base(raw: _Raw) -> dict[Split, list[AdRecord]]:
    """Every usable row once per split, ad sources first (dedupe keeps the first)."""
    rows: dict[Split, list[AdRecord]] = {s: [] for s in SPLITS}

    def add(text: str, label: str, source: str) -> None:
        rows[_split(text)].append(AdRecord(text, label, source))

    for t, lab in raw.qq:
        add(t, lab, "qq_group_ads")
    for t, lab in raw.sms:
        add(t, lab, "sms_spam_80w")
    for t, lab in raw.game:
        add(t, lab, "game_chat_ads_train")
    for t in raw.fraud:
        add(t, "ad", "telecom_fraud_texts5")
    for t in raw.nus:
        add(t, "normal", "nus_sms_zh")
    for t in raw.lccc:
        add(t, "normal", "lccc_chitchat")
    for t, _ in raw.smp17 + raw.smp19:
        add(t, "normal", "smp_ecdt_intent")
    for t, _, src in raw.news:
        if _headline_ok(raw, t, _split(t)):
            add(t, "normal", src)
    for t in phatic_texts():
        add(t, "normal", "phatic")
    for seed, t, s in _seed_texts():
        if seed.label != "job_post":
            rows[s].append(AdRecord(t, "normal", "intent_seed"))
    for t, folder, _ in raw.long:
        add(t, "normal", folder)
    for t, label in _ad_seed_texts():
        rows["train"].append(AdRecord(t, label, "ad_seed", "seed"))
    return {s: _dedupe(rs) for s, rs in rows.items()}


def _ad_seed_texts() -> list[tuple[str, str]]:
    """Every :mod:`nlp.training.ad_seed` seed's variants, deterministic (train only)."""
    out = []
    for i, seed in enumerate(ad_seed.AD_SEEDS):
        for text in ad_seed.expand(seed, _rng("ad-seed", str(i), seed.text), AD_SEED_VARIANTS):
            out.append((text, seed.label))
    return out


_LONG_SHORT_KINDS = frozenset({"question", "paper_title"})


def _long_chunks(records: Sequence[AdRecord], raw: _Raw, split: Split, per_folder: int | None) -> list[AdRecord]:
    """Chunks (``aug="chunk"``) of the long texts among ``records``: at most ``per_folder`` per folder
    (``None``: one per text), the length buckets of :data:`CHUNK_BUCKETS` in turn."""
    kinds = {(t, f): k for t, f, k in raw.long}
    by_folder: dict[str, list[AdRecord]] = {}
    for r in records:
        if not r.aug and kinds.get((r.text, r.source), "question") not in _LONG_SHORT_KINDS:
            by_folder.setdefault(r.source, []).append(r)
    out = []
    for folder, rs in sorted(by_folder.items()):
        picked = rs if per_folder is None else _sample(rs, per_folder, f"chunk-{split}-{folder}")
        for i, r in enumerate(sorted(picked, key=lambda r: _h("chunk-order", r.text))):
            rng = _rng("chunk", split, r.text)
            for j in range(len(CHUNK_BUCKETS)):  # this bucket, else a shorter one
                piece = chunk(r.text, rng, CHUNK_BUCKETS[(i - j) % len(CHUNK_BUCKETS)])
                if piece:
                    out.append(replace(r, text=piece, aug="chunk"))
                    break
    return out


def _sample_ad_train(train: list[AdRecord], raw: _Raw) -> list[AdRecord]:
    by_source: dict[str, list[AdRecord]] = {}
    for r in train:
        by_source.setdefault(f"{r.source}:{r.label}", []).append(r)
    out: list[AdRecord] = []
    cats = {t: c for t, c, _ in raw.news}
    long_kinds = {(t, f): k for t, f, k in raw.long}
    caps = {  # source:label -> (train rows at most, sampling salt)
        "sms_spam_80w:normal": (SMS_NORMAL_TRAIN, "ad-sms-normal"),
        "lccc_chitchat:normal": (LCCC_AD_TRAIN, "ad-lccc"),
        "nus_sms_zh:normal": (NUS_AD_TRAIN, "ad-nus"),
        "game_chat_ads_train:ad": (GAME_AD_TRAIN, "ad-game-ad"),
        "game_chat_ads_train:normal": (GAME_NORMAL_TRAIN, "ad-game-normal"),
        "telecom_fraud_texts5:ad": (FRAUD_TRAIN, "ad-fraud"),
    }
    for key, rs in sorted(by_source.items()):
        if key in caps:
            rs = _sample(rs, *caps[key])
        elif rs[0].source in _LONG_FOLDERS:
            short = [r for r in rs if long_kinds.get((r.text, r.source)) in _LONG_SHORT_KINDS]
            whole = [r for r in rs if long_kinds.get((r.text, r.source)) not in _LONG_SHORT_KINDS]
            rs = _sample(short, LONG_SHORT_TRAIN, f"ad-long-short-{key}") + _sample(whole, LONG_TRAIN, f"ad-long-{key}")
        elif key in ("thucnews_titles:normal", "tnews:normal"):
            per_cat: dict[str, list[AdRecord]] = {}
            for r in rs:
                per_cat.setdefault(cats[r.text], []).append(r)
            rs = []
            for cat, group in sorted(per_cat.items()):
                cap = NEWS_AD_CAP_HARD if cat in _HARD_NEWS else NEWS_AD_CAP
                rs += _sample(group, cap, f"ad-news-{key}-{cat}")
        out += rs
    return out


def _digit_variants(records: Iterable[AdRecord]) -> list[AdRecord]:
    out = []
    for r in records:
        if r.source == "sms_spam_80w" and aug._MASK_RE.search(r.text) and _keep(r.text, DIGITS_SHARE, "ad-digits"):
            text = aug.unmask_digits(r.text, _rng("digits", r.text))
            if text != r.text:
                out.append(replace(r, text=text, aug="digits"))
    return out


def _evasion_copies(records: Sequence[AdRecord], split: str) -> list[AdRecord]:
    """Disguised copies of AD_AUG_SHARE of the ads and of as many normals."""
    ads = [r for r in records if r.label == "ad"]
    normals = [r for r in records if r.label == "normal"]
    names = None if split == "train" else _HELD_OUT_AUGS
    n = round(AD_AUG_SHARE * len(ads))
    out = []
    for i, r in enumerate(_sample(ads, n, f"aug-ad-{split}", key=lambda r: f"{r.text}|{r.aug}")):
        out += _disguise(r, _rng("aug", split, str(i), r.text), ad=True, names=names)
    n_ads = len(out)
    for i, r in enumerate(_sample(normals, n_ads, f"aug-normal-{split}", key=lambda r: f"{r.text}|{r.aug}")):
        out += _disguise(r, _rng("aug", split, "n", str(i), r.text), ad=False, names=names)
    return out


# ``slang`` (round 2) teaches in train only: dev and test keep the disguises they were measured with.
_HELD_OUT_AUGS = tuple(n for n in aug.AUGMENTATIONS if n != "slang")


def _disguise(r: AdRecord, rng: random.Random, *, ad: bool, names: tuple[str, ...] | None = None) -> list[AdRecord]:
    """One disguised copy of ``r`` (none when nothing applies); masked SMS digits are put back first."""
    source_text = aug.unmask_digits(r.text, rng) if r.source == "sms_spam_80w" else r.text
    text, name = aug.augment(source_text, rng, ad=ad, names=names)
    if not name or text == r.text:
        return []
    return [replace(r, text=text, aug=name)]


_LONG_FOLDERS = frozenset({*datasets.LONG_TEXT_DATASETS, "whu_addetector_snippets"})


def build_ad(
    data_dir: str | os.PathLike[str] | None = None, exclude_sources: Iterable[str] | None = None
) -> dict[str, list[AdRecord]]:
    """The ad corpus: ``{"train", "dev", "test"}`` of :class:`AdRecord` (see the module docstring).

    ``exclude_sources``: sources left out of every split (folder names or :data:`AD_SOURCE_ALIASES`);
    ``None`` reads ``$QUNZHI_AD_EXCLUDE``.
    """
    raw = _raw(data_dir, exclude_sources)
    base = _ad_base(raw)
    train = _sample_ad_train(base["train"], raw)
    qq_copies = [r for r in train if r.source == "qq_group_ads"] * (QQ_OVERSAMPLE - 1)
    seed_copies = [r for r in train if r.source == "ad_seed" for _ in range(AD_SEED_OVERSAMPLE[r.label] - 1)]
    train_whole = [r for r in base["train"] if r.source in _LONG_FOLDERS]
    chunks = _long_chunks(train_whole, raw, "train", LONG_CHUNK_TRAIN)
    train = train + qq_copies + seed_copies + _dedupe(chunks) + _digit_variants(train)
    train += _evasion_copies(train, "train")
    corpus = {"train": train}
    for s in ("dev", "test"):
        held = base[s] + _dedupe(_long_chunks(base[s], raw, s, None))
        corpus[s] = held + _evasion_copies(held, s)
    return _separate(corpus)


# ================================================================================================
# useful
# ================================================================================================


@dataclass(frozen=True, slots=True)
class _Text:
    text: str
    source: str
    category: str  # "" when it has none


def _topic(cat: str, *key: str) -> str:
    return _pick(CATEGORIES[cat].phrases, "topic", cat, *key)


def _useful_part(
    split: Split,
    topics: Sequence[str],
    useful: Sequence[_Text],
    off_pool: Sequence[_Text],
    chat_pool: Sequence[_Text],
    ad_pool: Sequence[_Text],
    generic: Sequence[_Text],
    held_out: bool,
) -> list[UsefulRecord]:
    tag = f"{split}-{'held' if held_out else 'seen'}"

    def record(t: _Text, label: str, cat: str, kind: str) -> UsefulRecord:
        topic = _topic(cat, kind, t.text)
        return UsefulRecord(t.text, label, t.source, topic, cat, t.category, kind, held_out)

    out = [record(t, "useful", t.category, "on_topic") for t in useful]
    out += [record(t, "useful", _pick(topics, "generic", tag, t.text), "on_topic") for t in generic]
    n_useful = len(out)
    for t in _sample(off_pool, round(OFF_TOPIC_RATIO * n_useful), f"off-{tag}"):
        choices = [c for c in topics if unrelated(c, t.category)]
        if choices:
            out.append(record(t, "useless", _pick(choices, "off", tag, t.text), "off_topic"))
    ads = ad_pool[: round(AD_RATIO * n_useful)]
    chat = chat_pool[: max(0, round(USELESS_RATIO * n_useful) - (len(out) - n_useful) - len(ads))]
    for kind, group in (("ad", ads), ("chitchat", chat)):
        out += [record(t, "useless", _pick(topics, kind, tag, t.text), kind) for t in group]
    return out


def _interleave(*pools: Sequence[_Text]) -> list[_Text]:
    """Alternate between pools (so each is represented in any prefix), then the rest of the longer ones."""
    out: list[_Text] = []
    for i in range(max((len(p) for p in pools), default=0)):
        out += [p[i] for p in pools if i < len(p)]
    return out


def _chat_pool(raw: _Raw, split: Split, salt: str) -> list[_Text]:
    """Phatic, SMP chat and short QQ chatter alternating with LCCC, each in a salted fixed order."""
    short: list[_Text] = [_Text(t, "phatic", "") for t in phatic_texts() if _split(t) == split]
    short += [_Text(t, "smp_ecdt_intent", "") for t, d in raw.smp17 if d == "chat" and _split(t) == split]
    short += [
        _Text(t, "qq_group_ads", "")
        for t, lab in raw.qq
        if lab == "normal" and len(t) <= 20 and "http" not in t and _split(t) == split
    ]
    lccc = [_Text(t, "lccc_chitchat", "") for t in raw.lccc if _split(t) == split]
    return _interleave(_shuffled(short, salt), _shuffled(lccc, salt))


def _ad_pool(raw: _Raw, split: Split, salt: str) -> list[_Text]:
    """``qq_group_ads`` ads alternating with ``sms_spam_80w`` spam, in a salted fixed order."""
    qq = [_Text(t, "qq_group_ads", "") for t, lab in raw.qq if lab == "ad" and _split(t) == split]
    sms = [_Text(t, "sms_spam_80w", "") for t, lab in raw.sms if lab == "ad" and _split(t) == split]
    return _interleave(_shuffled(qq, salt), _shuffled(sms, salt))


def _shuffled(items: Sequence[_Text], salt: str) -> list[_Text]:
    return sorted(items, key=lambda t: _h(salt, t.text))


def build_useful(
    data_dir: str | os.PathLike[str] | None = None, exclude_sources: Iterable[str] | None = None
) -> dict[str, list[UsefulRecord]]:
    """The topic-relative useful corpus: ``{"train", "dev", "test"}`` of :class:`UsefulRecord`
    (``exclude_sources`` as in :func:`build_ad`)."""
    raw = _raw(data_dir, exclude_sources)
    headlines: dict[Split, dict[str, _Text]] = {s: {} for s in SPLITS}
    conflicts: set[str] = set()
    for t, cat, src in raw.news:
        part = headlines[_split(t)]
        if t in part and part[t].category != cat:
            conflicts.add(t)
        part.setdefault(t, _Text(t, src, cat))
    seeds: dict[Split, list[_Text]] = {s: [] for s in SPLITS}
    generic: dict[Split, list[_Text]] = {s: [] for s in SPLITS}
    for seed, text, s in _seed_texts():
        if seed.label == "other":
            continue
        if seed.topic is not None:
            seeds[s].append(_Text(text, "intent_seed", seed.topic))
        elif seed.label == "announcement":
            generic[s].append(_Text(text, "intent_seed", ""))

    corpus: dict[str, list[UsefulRecord]] = {}
    for s in SPLITS:
        heads = [h for t, h in headlines[s].items() if t not in conflicts]
        seen = [h for h in heads if h.category not in HELD_OUT] + [t for t in seeds[s] if t.category not in HELD_OUT]
        records = _useful_part(
            s, SEEN, seen, seen, _chat_pool(raw, s, "seen"), _ad_pool(raw, s, "seen"), generic[s], held_out=False
        )
        if s == "test":
            held = [h for h in heads if h.category in HELD_OUT]
            chat, ads = _chat_pool(raw, s, "held"), _ad_pool(raw, s, "held")
            records += _useful_part(s, sorted(HELD_OUT), held, heads, chat, ads, (), held_out=True)
        corpus[s] = _dedupe_pairs(records)
    return _separate(corpus)


def _dedupe_pairs(records: Iterable[UsefulRecord]) -> list[UsefulRecord]:
    """One record per (text, topic); a pair labelled both ways is dropped."""
    first: dict[tuple[str, str], UsefulRecord] = {}
    conflict: set[tuple[str, str]] = set()
    for r in records:
        k = (r.text, r.topic)
        if k in first:
            if first[k].label != r.label:
                conflict.add(k)
            continue
        first[k] = r
    return [r for k, r in first.items() if k not in conflict]


# ================================================================================================
# intent
# ================================================================================================

_QUESTION_RE = re.compile(
    r"[?？]|[吗呢么嘛][。.!！~～]*$|怎么|怎样|咋|什么|啥|多少|几[点个号天岁次时月年分名种集]|哪|谁|为什么|为何|如何|是否|"
    r"有没有|能不能|可不可以|会不会|是不是|要不要|对不对|好不好|多久|多远|多大|多高"
)
_ASK_RE = re.compile(r"^(?:请问|我想知道|我想问|问一下|告诉我|你知道)")
_IMPERATIVE_RE = re.compile(
    r"^(?:嗯|呃|那|好)?[，,]?(?:请|麻烦|帮忙)?(?:你)?(?:帮我|给我|替我|帮|我要|我想|想|打开|开|播放|放|来|订|预订|查|"
    r"查询|查找|查寻|搜|搜索|找|发|打|拨|启动|关闭|导航|翻译|设置|提醒|定|说|讲|唱|念|背|下载|去|看|听|带我|把|让|给|请)"
)


# An LCCC utterance asking for information ("哪家最好吃？", "这西瓜是怎么吃的") is a question by the
# labelling rules, not chit-chat; unverified, it is left out of the intent corpus.
_INFO_QUESTION_RE = re.compile(
    r"怎么(?:做|办|走|弄|用|治|买|去|样|写|搞|吃|煮|炒|烧|下载|设置|查)|怎样|如何|在哪|哪里|哪儿|多少钱|多少|什么时候|"
    r"几点|几号|哪天|什么意思|是什么|推荐|有没有|哪个|哪家|哪部|叫什么"
)


def smp_intent(text: str) -> str:
    """``"question"`` or ``"request"`` for an SMP task-domain utterance (see the module docstring)."""
    t = text.strip()
    if _ASK_RE.match(t):
        return "question"
    if _IMPERATIVE_RE.match(t) and not re.search(r"[?？]", t):
        return "request"
    if _QUESTION_RE.search(t):
        return "question"
    return "request"


def build_intent(
    data_dir: str | os.PathLike[str] | None = None, exclude_sources: Iterable[str] | None = None
) -> dict[str, list[IntentRecord]]:
    """The intent corpus: ``{"train", "dev", "test"}`` of :class:`IntentRecord` (``exclude_sources``
    as in :func:`build_ad`)."""
    raw = _raw(data_dir, exclude_sources)
    rows: dict[Split, list[IntentRecord]] = {s: [] for s in SPLITS}
    for seed, text, s in _seed_texts():
        rows[s].append(IntentRecord(text, seed.label, "intent_seed"))

    def add(text: str, label: str, source: str) -> None:
        rows[_split(text)].append(IntentRecord(text, label, source))

    for t, domain in raw.smp17 + raw.smp19:
        add(t, "chitchat" if domain == "chat" else smp_intent(t), "smp_ecdt_intent")
    for t in phatic_texts():
        add(t, "chitchat", "phatic")
    for t, lab in raw.qq:
        if lab == "normal" and len(t) <= QQ_CHAT_MAX_LEN and not _QUESTION_RE.search(t) and "http" not in t:
            add(t, "chitchat", "qq_group_ads")
    for t in raw.lccc:
        if _keep(t, LCCC_INTENT_RATE, "intent-lccc") and not _INFO_QUESTION_RE.search(t):
            add(t, "chitchat", "lccc_chitchat")
    for t, lab in raw.qq:
        if lab == "ad":
            add(t, "ad", "qq_group_ads")
    for t, lab in raw.sms:
        if lab == "ad" and _keep(t, SMS_AD_INTENT_RATE, "intent-sms"):
            add(t, "ad", "sms_spam_80w")
    corpus: dict[str, list[IntentRecord]] = {s: _first_wins(rs) for s, rs in rows.items()}
    return _separate(corpus)


def _first_wins(records: Iterable[IntentRecord]) -> list[IntentRecord]:
    seen: set[str] = set()
    out = []
    for r in records:
        if r.text not in seen:
            seen.add(r.text)
            out.append(r)
    return out


def smp2017_dev_chat_vs_rest(data_dir: str | os.PathLike[str] | None = None) -> list[tuple[str, bool]]:
    """The SMP2017 dev file as ``(text, is_chat)``: the "chit-chat vs the rest ≥ 0.95 accuracy" set.

    None of these texts is in any corpus (SMP2019 repeats 500 of them; those are dropped).
    """
    return [(t, d == "chat") for t, d in _raw(data_dir).smp17_dev]


# ================================================================================================
# views, stats, command line
# ================================================================================================


def records_by_source(records: Iterable[R]) -> dict[str, list[R]]:
    """Records grouped for per-source evaluation.

    Ad and intent records by ``source``; ad records with an evasion augmentation under ``"evasion"``.
    Useful records by topic kind: ``"seen_topics"`` and ``"held_out_topics"``.
    """
    out: dict[str, list[R]] = {}
    for r in records:
        if isinstance(r, UsefulRecord):
            key = "held_out_topics" if r.held_out else "seen_topics"
        elif isinstance(r, AdRecord) and r.aug not in NOT_EVASION:
            key = "evasion"
        else:
            key = r.source
        out.setdefault(key, []).append(r)
    return out


_BUILDERS: dict[str, Callable[..., dict[str, list]]] = {
    "ad": build_ad,
    "useful": build_useful,
    "intent": build_intent,
}


def build(task: str, data_dir: str | os.PathLike[str] | None = None) -> dict[str, list[Record]]:
    """``build_<task>(data_dir)`` by name."""
    try:
        return _BUILDERS[task](data_dir)
    except KeyError:
        raise ValueError(f"unknown task {task!r}; known: {', '.join(TASKS)}") from None


def stats(corpus: dict[str, list[Record]]) -> dict[str, Counter[tuple[str, str]]]:
    """Per split: counts of ``(label, source)``; ad sources carry ``+aug`` for augmented copies."""
    out: dict[str, Counter[tuple[str, str]]] = {}
    for s, records in corpus.items():
        c: Counter[tuple[str, str]] = Counter()
        for r in records:
            src = r.source
            if isinstance(r, AdRecord) and r.aug:
                src += f"+{r.aug}" if r.aug in NOT_EVASION else "+evasion"
            if isinstance(r, UsefulRecord):
                src = f"{r.kind}:{src}" + (" [held-out topic]" if r.held_out else "")
            c[(r.label, src)] += 1
        out[s] = c
    return out


def format_stats(task: str, corpus: dict[str, list[Record]]) -> str:
    lines = [f"== {task} =="]
    for s, c in stats(corpus).items():
        total = sum(c.values())
        labels: Counter[str] = Counter()
        for (label, _), n in c.items():
            labels[label] += n
        shares = ", ".join(f"{lab} {n} ({n / total:.0%})" for lab, n in sorted(labels.items()))
        lines.append(f"-- {s}: {total} records: {shares}")
        for (label, src), n in sorted(c.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1])):
            lines.append(f"   {label:<13} {src:<48} {n:>7}")
    return "\n".join(lines)


def _write_jsonl(path: Path, records: Iterable[Record]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(asdict(r), ensure_ascii=False) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nlp.training.corpus", description=__doc__.split("\n\n")[0])
    ap.add_argument("--stats", action="store_true", help="print counts per task, split, label and source")
    ap.add_argument("--task", choices=TASKS, action="append", help="only this task (repeatable)")
    ap.add_argument("--data-dir", help="the shared data folder (default: $QUNZHI_DATA or ../shared/data)")
    ap.add_argument("--out", type=Path, help="write <task>.<split>.jsonl here (keep it outside git)")
    args = ap.parse_args(argv)
    if not args.stats and not args.out:
        ap.error("nothing to do: pass --stats and/or --out DIR")
    try:
        for task in args.task or TASKS:
            t0 = time.perf_counter()
            corpus = build(task, args.data_dir)
            took = time.perf_counter() - t0
            if args.stats:
                print(format_stats(task, corpus))
                print(f"   (built in {took:.1f}s)\n")
            if args.out:
                args.out.mkdir(parents=True, exist_ok=True)
                for s, records in corpus.items():
                    _write_jsonl(args.out / f"{task}.{s}.jsonl", records)
        if args.stats and (not args.task or "ad" in args.task):
            _, counts = clean_game_chat(datasets.game_chat_ads(args.data_dir))
            print(f"game_chat_ads_train cleaning (all splits): {dict(counts)}")
            print(
                f"ad_seed: {ad_seed.SEED_COUNTS} seeds, {Counter(lab for _, lab in _ad_seed_texts())} variants (train only)"
            )
        if args.stats and (not args.task or "intent" in args.task):
            dev = smp2017_dev_chat_vs_rest(args.data_dir)
            print(f"smp2017 dev (chat vs rest, reserved): {len(dev)} texts, {sum(c for _, c in dev)} chat")
    except DatasetMissing as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
