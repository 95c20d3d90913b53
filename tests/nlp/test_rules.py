import time

import pytest

from nlp.item import Item
from nlp.rules import INTENTS, AdRules, IntentRules, UsefulRules, topic_terms
from nlp.verdict import Verdict

AI = "人工智能交流群"


@pytest.fixture(scope="module")
def ad():
    return AdRules()


@pytest.fixture(scope="module")
def useful(ad):
    return UsefulRules(ad)


@pytest.fixture(scope="module")
def intent(ad):
    return IntentRules(ad)


def reasons(v: Verdict) -> str:
    return " | ".join(v.reasons)


# --- AdRules ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("加 V：abc123", "contact WeChat abc123"),
        ("ｖｘ１３８００１３８０００", "contact WeChat 13800138000"),
        ("扣扣二九一二一八七六七", "contact QQ号 291218767"),
        ("加\u200bV\u200b信\u200b:wx_abc123 兼职日结", "contact WeChat wx_abc123"),
        ("薇\u200c信：abc_888 日赚500", "contact WeChat abc_888"),
        ("Yisaka免费魔改水影支持花雨庭绕过限时免费291218767", "keyword 绕过"),
        ("群号596370929 进群免费领配置", "contact group 596370929"),
        ("招代理，佣金日结，手机兼职躺赚，详情私聊", "keyword 招代理"),
        ("无抵押贷款，秒到账，低息，电话13800138000", "contact phone 13800138000"),
        ("出售卡密 天卡5r 月卡20r 卡网 abc.top", "keyword 卡网"),
        ("【优惠】全场8折，满300减50，欢迎光临，退订回TD", "promo discount 8折"),
        ("Q.Q 1 2 3 4 5 6 7 8 兼职刷单", "contact QQ号 12345678"),
    ],
)
def test_clear_ads_and_evasions_are_ads_with_reasons(ad, text, expect):
    v = ad.analyse([Item(text)])[0]
    assert v.analyzer == "ad"
    assert v.label == "ad", reasons(v)
    assert v.score >= 0.5
    assert v.reasons[0].startswith("rules p(ad)=")
    assert expect in reasons(v)
    assert v.model == "rules-2"


@pytest.mark.parametrize(
    "text",
    [
        "加 V：abc123",
        "扣扣二九一二一八七六七",
        "加\u200bV\u200b信\u200b:wx_abc123 兼职日结",
    ],
)
def test_evasions_are_reported_as_obfuscation(ad, text):
    assert "obfuscation" in reasons(ad.verdict(text))


def test_chinese_numeral_number_is_an_obfuscation_signal(ad):
    v = ad.verdict("扣扣二九一二一八七六七")
    assert "obfuscation cn-digits 二九一二一八七六七→291218767" in v.reasons


def test_evasion_scores_higher_than_the_plain_form(ad):
    plain = ad.verdict("加V信:abc123")
    hidden = ad.verdict("加 V 信:abc123")
    assert hidden.score > plain.score


@pytest.mark.parametrize(
    "text",
    [
        "今晚肥不肥家吃饭 如果要 提前半小时跟我缩一下",
        "哈哈哈哈",
        "有人用过 Qwen 的大模型微调吗？显存要多少",
        "这个配置参数要怎么改",
        "2024年的会议在3楼开，大约150人参加",
        "看看这个 https://github.com/openai/whisper",
        "我加你微信了",
        "周末去爬山吗，大概8点出发",
        "谢谢老板的红包！",
        "",
    ],
)
def test_ordinary_chat_is_normal(ad, text):
    v = ad.verdict(text)
    assert v.label == "normal", reasons(v)
    assert v.score >= 0.5


def test_scores_are_confidence_in_the_label(ad):
    v_ad, v_normal = ad.analyse([Item("加V：abc123 兼职日结"), Item("好的")])
    p_ad = float(v_ad.reasons[0].split("=")[1])
    p_normal = float(v_normal.reasons[0].split("=")[1])
    assert v_ad.score == pytest.approx(p_ad, abs=0.006)
    assert v_normal.score == pytest.approx(1 - p_normal, abs=0.006)


def test_a_strong_ad_clears_the_default_moderation_threshold(ad):
    assert ad.verdict("加V：abc123 兼职日结，日赚500，名额有限").score >= 0.9


def test_batch_keeps_order_and_length(ad):
    items = [Item("好的"), Item("加V：abc123 兼职日结"), Item("早")]
    assert [v.label for v in ad.analyse(items)] == ["normal", "ad", "normal"]
    assert ad.analyse([]) == []


# --- UsefulRules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "why"),
    [
        (Item("", AI, "sticker"), "sticker without text"),
        (Item("", AI, "image"), "image without text"),
        (Item("哈哈哈哈", AI), "laughter"),
        (Item("hhhhh", AI), "laughter"),
        (Item("笑死", AI), "laughter"),
        (Item("好的", AI), "phatic"),
        (Item("嗯嗯收到", AI), "phatic"),
        (Item("+1", AI), "phatic"),
        (Item("早上好！", AI), "phatic"),
        (Item("大家晚上好", AI), "greeting"),
        (Item("👍👍", AI), "no words"),
        (Item("加V：abc123 兼职日结", AI), "ad p="),
        (Item("", AI, "system"), "system message"),
    ],
)
def test_useless(useful, item, why):
    v = useful.analyse([item])[0]
    assert v.analyzer == "useful"
    assert v.label == "useless", reasons(v)
    assert why in reasons(v)


@pytest.mark.parametrize(
    ("item", "why"),
    [
        (Item("有人用过 Qwen 的大模型微调吗？显存要多少", AI), "topic"),
        (Item("https://arxiv.org/abs/2401.00001 这篇讲 RAG 的论文不错", AI), "link"),
        (Item("我觉得这个模型训练数据不够，建议先用LoRA试试", AI), "topic"),
        (Item("红石电路怎么做自动门", "我的世界交流群"), "topic 红石"),
        (Item("今天的光线很适合拍人像，光圈开大一点", "摄影爱好者"), "topic 光圈"),
        (Item("北京这家烤鸭店不错，人均150", "北京吃喝玩乐"), "topic 北京"),
        (Item("", AI, "file"), "file shared"),
    ],
)
def test_useful(useful, item, why):
    v = useful.verdict(item)
    assert v.label == "useful", reasons(v)
    assert why in reasons(v)


def test_topic_decides_between_otherwise_equal_messages(useful):
    text = "显卡显存不够的话可以先量化再部署"
    on = useful.verdict(Item(text, AI))
    off = useful.verdict(Item(text, "宝妈育儿交流群"))
    assert on.label == "useful"
    p_on = float(on.reasons[0].split("=")[1])
    p_off = float(off.reasons[0].split("=")[1])
    assert p_on > p_off + 0.2


def test_topic_terms_expand_known_topics_and_fall_back_to_own_words():
    ai = topic_terms("人工智能交流群")
    assert {"大模型", "llm", "gpt", "训练", "算法"} <= ai.words
    assert "交流" not in ai.words and "群" not in ai.words
    generic = topic_terms("北京吃喝玩乐")
    assert generic.families == 0
    assert "北京" in generic.words
    assert "京" in generic.chars


# --- IntentRules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "label"),
    [
        (Item("有人用过 Qwen 吗？"), "question"),
        (Item("红石电路怎么做自动门"), "question"),
        (Item("@所有人 通知：明天下午3点线上分享会，请大家准时参加"), "announcement"),
        (Item("报名截止到周五，请各位抓紧"), "announcement"),
        (Item("看看这个 https://github.com/openai/whisper"), "link_share"),
        (Item("", kind="link"), "link_share"),
        (Item("招聘算法工程师，base北京，薪资30-50k，简历发我邮箱"), "job_post"),
        (Item("字节内推，岗位很多"), "job_post"),
        (Item("加V：abc123 兼职日结"), "ad"),
        (Item("求一个GPT的API key，帮帮忙"), "request"),
        (Item("谁能帮我看下这个报错"), "request"),
        (Item("哈哈哈哈"), "chitchat"),
        (Item("好的谢谢"), "chitchat"),
        (Item("", kind="sticker"), "chitchat"),
        (Item("可以用 pip install 装", kind="quote"), "answer"),
        (Item("@小明 试试把 batch size 调小"), "answer"),
        (Item("今天的光线很适合拍人像，光圈开大一点"), "other"),
    ],
)
def test_intents(intent, item, label):
    v = intent.analyse([item])[0]
    assert v.analyzer == "intent"
    assert v.label == label, reasons(v)
    assert v.label in INTENTS
    assert 0 < v.score <= 1


# --- all analyzers ------------------------------------------------------------------------------


def test_analyzers_have_name_and_version():
    for cls, name in ((AdRules, "ad"), (UsefulRules, "useful"), (IntentRules, "intent")):
        a = cls()
        assert (a.name, a.version) == (name, "rules-2")


def test_import_does_no_work():
    import importlib
    import subprocess
    import sys

    code = (
        "import sys, time; t=time.perf_counter(); import nlp.rules; "
        "print(time.perf_counter()-t, 'jieba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[1] == "False"  # jieba is loaded on first use, not at import
    assert float(out[0]) < 0.5
    importlib.import_module("nlp.rules")


def test_it_is_fast(ad, useful, intent):
    items = [Item(f"第{i}条消息：有人用过大模型微调吗？加V：abc{i}23 兼职日结", AI) for i in range(300)]
    useful.analyse(items[:1])  # jieba loads here
    start = time.perf_counter()
    for analyzer in (ad, useful, intent):
        assert len(analyzer.analyse(items)) == 300
    assert time.perf_counter() - start < 3.0
