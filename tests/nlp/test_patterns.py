from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from nlp.patterns import PATTERN_TYPES, extract_patterns

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")
NOW = datetime(2026, 11, 25, 21, 0, tzinfo=SHANGHAI)  # a Wednesday evening


def found(text, now=NOW, tz=SHANGHAI):
    entities = extract_patterns(text, now, tz)
    for e in entities:
        assert text[e.start : e.end] == e.text
        assert e.source == "pattern" and 0 < e.score <= 1 and e.type in PATTERN_TYPES
    return entities


def triples(text, **kw):
    return [(e.type, e.text, e.value) for e in found(text, **kw)]


def one(text, kind):
    entities = [e for e in found(text) if e.type == kind]
    assert len(entities) == 1, found(text)
    return entities[0].text, entities[0].value


# --- URL ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, span, value",
    [
        ("看这个https://github.com/a/b，不错", "https://github.com/a/b", "https://github.com/a/b"),
        (
            "链接：http://example.com/x?a=1&b=2#top。",
            "http://example.com/x?a=1&b=2#top",
            "http://example.com/x?a=1&b=2#top",
        ),
        ("去www.baidu.com看看", "www.baidu.com", "http://www.baidu.com"),
        ("代码在github.com/x/y上", "github.com/x/y", "http://github.com/x/y"),
        ("官网 example.com.cn/abc 有", "example.com.cn/abc", "http://example.com.cn/abc"),
        ("(see https://a.io/x)", "https://a.io/x", "https://a.io/x"),
        ("https://a.com/wiki/Foo_(bar)", "https://a.com/wiki/Foo_(bar)", "https://a.com/wiki/Foo_(bar)"),
        ("访问ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ吧", "ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ", "http://www.example.com"),
        ("https://x.cn/13800138000", "https://x.cn/13800138000", "https://x.cn/13800138000"),
        ("baidu.com.", "baidu.com", "http://baidu.com"),
    ],
)
def test_urls(text, span, value):
    assert one(text, "URL") == (span, value)
    assert [e.type for e in found(text)] == ["URL"]  # nothing inside a URL is anything else


@pytest.mark.parametrize("text", ["版本v3.5", "readme.md", "main.py", "e.g. 这个", "3.5.1", "abc@qq.com"])
def test_not_urls(text):
    assert not [e for e in found(text) if e.type == "URL"]


# --- EMAIL -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, span, value",
    [
        ("邮箱abc.d@QQ.com谢谢", "abc.d@QQ.com", "abc.d@qq.com"),
        ("发到 hr+jobs@corp.example.cn。", "hr+jobs@corp.example.cn", "hr+jobs@corp.example.cn"),
        ("ａｂｃ＠ｑｑ．ｃｏｍ", "ａｂｃ＠ｑｑ．ｃｏｍ", "abc@qq.com"),
        ("微信：abc123@163.com", "abc123@163.com", "abc123@163.com"),
    ],
)
def test_emails(text, span, value):
    assert one(text, "EMAIL") == (span, value)
    assert [e.type for e in found(text)] == ["EMAIL"]


# --- PHONE -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, span",
    [
        ("电话13800138000", "13800138000"),
        ("电话138 0013 8000谢谢", "138 0013 8000"),
        ("138-0013-8000", "138-0013-8000"),
        ("+86 138 0013 8000", "+86 138 0013 8000"),
        ("+8613800138000", "+8613800138000"),
        ("0086-13800138000", "0086-13800138000"),
        ("１３８００１３８０００", "１３８００１３８０００"),
        ("１３８ ００１３ ８０００", "１３８ ００１３ ８０００"),
        ("联系一三八零零一三八零零零", "一三八零零一三八零零零"),
        ("幺三八零零幺三八零零零", "幺三八零零幺三八零零零"),
        ("1 3 8 0 0 1 3 8 0 0 0", "1 3 8 0 0 1 3 8 0 0 0"),
        ("138\u200b0013\u200b8000", "138\u200b0013\u200b8000"),
        ("QQ 13800138000", "13800138000"),  # a mobile after QQ is a phone, not a QQ number
    ],
)
def test_mobiles(text, span):
    assert one(text, "PHONE") == (span, "13800138000")
    assert [e.type for e in found(text)] == ["PHONE"]


@pytest.mark.parametrize(
    "text, span, value",
    [
        ("座机010-12345678", "010-12345678", "01012345678"),
        ("(0755)1234567", "(0755)1234567", "07551234567"),
        ("021 87654321", "021 87654321", "02187654321"),
        ("客服400-123-4567", "400-123-4567", "4001234567"),
    ],
)
def test_landlines_and_service_numbers(text, span, value):
    assert one(text, "PHONE") == (span, value)


@pytest.mark.parametrize(
    "text",
    ["订单号1380013800012", "12345678901", "卡号6222021380013800", "2026-12-03", "10086", "138001380"],
)
def test_not_phones(text):
    assert not [e for e in found(text) if e.type == "PHONE"]


# --- WECHAT ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, span",
    [
        ("加V：wx_abc123", "wx_abc123"),
        ("加v abc_123", "abc_123"),
        ("微信号 abc_123", "abc_123"),
        ("微信：Zhang-San88", "Zhang-San88"),
        ("vx: abcdef1", "abcdef1"),
        ("V信abc12345", "abc12345"),
        ("威信 abc12345", "abc12345"),
        ("wechat is abcdefg", "abcdefg"),
        ("加微信abcdefg", "abcdefg"),
        ("ｖｘ：ａｂｃ１２３", "ａｂｃ１２３"),
        ("加Ｖ\u200babc123", "abc123"),
    ],
)
def test_wechat_ids_after_a_trigger(text, span):
    got = one(text, "WECHAT")
    assert got[0] == span and got[1] == span.translate(str.maketrans("ａｂｃ１２３", "abc123"))


def test_wxid_anywhere():
    assert one("找wxid_abcd1234就行", "WECHAT") == ("wxid_abcd1234", "wxid_abcd1234")
    assert one("直接搜 wx_lu7788", "WECHAT") == ("wx_lu7788", "wx_lu7788")


@pytest.mark.parametrize(
    "text, span, value",
    [
        ("微信: 12345678", "12345678", "12345678"),  # a number as the id
        ("微信：二九一二一八七", "二九一二一八七", "2912187"),  # spelt in Chinese numerals
        ("有意者加徽亻言：w\u0445_lu7788", "w\u0445_lu7788", "wx_lu7788"),  # 信 split in two, Cyrillic х
    ],
)
def test_wechat_ids_written_to_dodge_filters(text, span, value):
    assert one(text, "WECHAT") == (span, value)


def test_a_lone_wx_trigger_scores_lower():
    (e,) = found("wx abc123")
    assert (e.type, e.value, e.score < 1) == ("WECHAT", "abc123", True)


@pytest.mark.parametrize(
    "text",
    [
        "微信 message",  # a plain word after a weak trigger
        "微信群里说",
        "微信：abc",  # too short
        "微信：123abcdef",  # must start with a letter
        "微信：abcdefghijklmnopqrstuvwxyz",  # too long
        "wxyz123456",
        "微信：abc@qq.com",
        "微信：12345abc",  # a number glued to letters is neither
        "微信群 20000 人，微信支付 123456 元",
    ],
)
def test_not_wechat_ids(text):
    assert not [e for e in found(text) if e.type == "WECHAT"]


# --- QQ ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, span, value",
    [
        ("QQ：123456789", "123456789", "123456789"),
        ("qq 12345", "12345", "12345"),
        ("加QQ群 987654321", "987654321", "987654321"),
        ("Q群：56781234", "56781234", "56781234"),
        ("扣扣二九一二一八七六七", "二九一二一八七六七", "291218767"),
        ("企鹅号 10001", "10001", "10001"),
        ("ＱＱ：１２３４５６", "１２３４５６", "123456"),
        ("QQ：123456789。", "123456789", "123456789"),
        ("QQ 123456.", "123456", "123456"),
    ],
)
def test_qq_numbers(text, span, value):
    assert one(text, "QQ") == (span, value)


@pytest.mark.parametrize("text", ["QQ 1234", "QQ 012345", "qq音乐12345", "QQ：13800138000", "123456789", "QQ 12345.6"])
def test_not_qq_numbers(text):
    assert not [e for e in found(text) if e.type == "QQ"]


# --- MONEY -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, span, value",
    [
        ("只要¥299", "¥299", "299 CNY"),
        ("只要￥299", "￥299", "299 CNY"),
        ("¥299元", "¥299元", "299 CNY"),
        ("299元包邮", "299元", "299 CNY"),
        ("1,299 块", "1,299 块", "1299 CNY"),
        ("两千元", "两千元", "2000 CNY"),
        ("一万二千元", "一万二千元", "12000 CNY"),
        ("壹仟元整", "壹仟元", "1000 CNY"),
        ("3块钱", "3块钱", "3 CNY"),
        ("3块5", "3块5", "3.5 CNY"),
        ("两块五", "两块五", "2.5 CNY"),
        ("5元5角", "5元5角", "5.5 CNY"),
        ("五毛钱", "五毛钱", "0.5 CNY"),
        ("３００元", "３００元", "300 CNY"),
        ("3.5万元", "3.5万元", "35000 CNY"),
        ("500块/天", "500块/天", "500 CNY/day"),
        ("500元每天", "500元每天", "500 CNY/day"),
        ("200块一晚", "200块一晚", "200 CNY/night"),
        ("月薪2万", "2万", "20000 CNY/month"),
        ("月薪15k", "15k", "15000 CNY/month"),
        ("年薪30w", "30w", "300000 CNY/year"),
        ("月薪2万元", "2万元", "20000 CNY/month"),
        ("价格：299", "299", "299 CNY"),
        ("预算3w左右", "3w", "30000 CNY"),
        ("$20", "$20", "20 USD"),
        ("20美元", "20美元", "20 USD"),
        ("20美金", "20美金", "20 USD"),
        ("20刀", "20刀", "20 USD"),
        ("HK$100", "HK$100", "100 HKD"),
        ("100港币", "100港币", "100 HKD"),
        ("50欧元", "50欧元", "50 EUR"),
        ("1000日元", "1000日元", "1000 JPY"),
        ("RMB 500", "RMB 500", "500 CNY"),
        ("这车3.5万", "3.5万", "35000 CNY"),
    ],
)
def test_money(text, span, value):
    assert one(text, "MONEY") == (span, value)


def test_an_amount_does_not_take_the_space_after_it():
    assert one("点了个麻辣烫 ￥38 外卖", "MONEY") == ("￥38", "38 CNY")
    assert one("学员月入 3 万+！", "MONEY") == ("3 万", "30000 CNY")


def test_an_amount_known_only_from_wan_scores_lowest():
    (e,) = found("这车3.5万")
    assert e.score < 0.9


@pytest.mark.parametrize(
    "text",
    [
        "版本v3.5",
        "3.5万人",
        "一块去吃饭",
        "3块蛋糕",
        "二元一次方程",
        "一刀切",
        "打5折",
        "50%",
        "三千五",  # a number alone
        "1299",
        "每天大概 2000 万 token",
        "播放量3.5万次",
    ],
)
def test_not_money(text):
    assert not [e for e in found(text) if e.type == "MONEY"]


# --- TIME --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, span, value",
    [
        ("明晚8点开会", "明晚8点", "2026-11-26T20:00:00+08:00"),
        ("下下周", "下下周", "2026-12-07T00:00:00+08:00"),
        ("十一点半见", "十一点半", "2026-11-25T23:30:00+08:00"),
        ("１２月３日", "１２月３日", "2026-12-03T00:00:00+08:00"),
        ("下周三下午３点", "下周三下午３点", "2026-12-02T15:00:00+08:00"),
    ],
)
def test_times_carry_an_iso_value(text, span, value):
    assert one(text, "TIME") == (span, value)


def test_times_resolve_in_the_group_timezone():
    now = NOW.astimezone(timezone.utc)
    assert triples("明晚8点", now=now, tz=UTC) == [("TIME", "明晚8点", "2026-11-26T20:00:00+00:00")]
    assert triples("明晚8点", now=now, tz=SHANGHAI) == [("TIME", "明晚8点", "2026-11-26T20:00:00+08:00")]


# --- overlaps and whole messages ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("今晚8点前付款299元", [("TIME", "今晚8点"), ("MONEY", "299元")]),
        ("QQ 13800138000", [("PHONE", "13800138000")]),
        ("12月3日 19:30，门票¥80", [("TIME", "12月3日 19:30"), ("MONEY", "¥80")]),
        ("3点建议：便宜", []),
        ("v3.5 发布了", []),
        ("一周两天", []),
        ("2026年的目标", []),
    ],
)
def test_overlaps_and_false_positives(text, expected):
    assert [(e.type, e.text) for e in found(text)] == expected


def test_a_whole_ad_in_order_with_original_offsets():
    text = "【招聘】月薪２万，加V：job_hr2026 或 QQ：１２３４５６７，电话１３８ ００１３ ８０００，详见 https://jobs.example.com/a，明天下午3点前截止"
    got = triples(text)
    assert got == [
        ("MONEY", "２万", "20000 CNY/month"),
        ("WECHAT", "job_hr2026", "job_hr2026"),
        ("QQ", "１２３４５６７", "1234567"),
        ("PHONE", "１３８ ００１３ ８０００", "13800138000"),
        ("URL", "https://jobs.example.com/a", "https://jobs.example.com/a"),
        ("TIME", "明天下午3点", "2026-11-26T15:00:00+08:00"),
    ]
    starts = [e.start for e in found(text)]
    assert starts == sorted(starts)


def test_entities_never_overlap():
    text = "QQ:12345678 微信:abc12345 13800138000 https://a.cn/12:30 12:30 ¥12 12号"
    entities = found(text)
    for a, b in zip(entities, entities[1:]):
        assert a.end <= b.start


def test_empty_text():
    assert extract_patterns("", NOW, SHANGHAI) == []


def test_find_urls_is_the_one_url_finder():
    """What the digest lists and strips is what the extractor reports as URL entities."""
    from nlp.patterns import extract_patterns, find_urls, strip_urls

    text = "看这个 https://arxiv.org/abs/2405.07437。还有 github.com/vllm-project/vllm, 和 huggingface.co 以及 ｗｗｗ.ｂａｉｄｕ.ｃｏｍ 完"
    urls = [
        "https://arxiv.org/abs/2405.07437",
        "github.com/vllm-project/vllm",
        "huggingface.co",
        "ｗｗｗ.ｂａｉｄｕ.ｃｏｍ",
    ]
    assert find_urls(text) == urls
    assert [e.text for e in extract_patterns(text, NOW, SHANGHAI) if e.type == "URL"] == urls
    assert strip_urls(text, "[链接]") == "看这个 [链接]。还有 [链接], 和 [链接] 以及 [链接] 完"
    assert find_urls("版本号 v1.2 和 a.b 不是链接，邮箱 me@example.com 也不是") == []
    assert find_urls("(见 https://example.com/a_(b))") == ["https://example.com/a_(b)"]
