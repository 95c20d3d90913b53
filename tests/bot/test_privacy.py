import pytest

from bot.privacy import mask


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # mobile numbers: plain, spaced, dashed, +86 / 0086, full-width, glued to Chinese
        ("电话13800138000", "电话138****8000"),
        ("手机 138 0013 8000 随时打", "手机 138****8000 随时打"),
        ("手机：138-0013-8000", "手机：138****8000"),
        ("+86 13912345678", "139****5678"),
        ("+8613912345678", "139****5678"),
        ("008613912345678", "139****5678"),
        ("１３８００１３８０００ 找我", "138****8000 找我"),
        ("call 19912345678.", "call 199****5678."),
        # WeChat ids after a trigger word, and wxid_ tokens
        ("加V：wx_abc123", "加V：wx_a***"),
        ("加v wx_abc123 领资料", "加v wx_a*** 领资料"),
        ("vx abc123 私聊", "vx ab*** 私聊"),
        ("加vx:zhangsan", "加vx:zhan***"),
        ("微信号：Tom_2024", "微信号：Tom_***"),
        ("薇信 abc-12345", "薇信 abc-***"),
        ("加微信zhangsan88", "加微信zhan***"),
        ("V信: abcdef", "V信: ab***"),
        ("ｗｘ：ｚｈａｎｇ＿１２３ 联系", "ｗｘ：zhan*** 联系"),
        ("wxid_abcd1234efg 发了红包", "wxid_a*** 发了红包"),
        ("微信: 12345678", "微信: 12***78"),
        # a phone number given as a WeChat id is masked as a phone
        ("加V 13800138000", "加V 138****8000"),
        # QQ numbers after QQ / 扣扣 / 群号
        ("QQ：123456789", "QQ：12***89"),
        ("qq号 10001", "qq号 10***01"),
        ("扣扣 1234567 加我", "扣扣 12***67 加我"),
        ("群号 987654321", "群号 98***21"),
        ("ＱＱ１２３４５６７８", "ＱＱ12***78"),
        # e-mail addresses, including a QQ mailbox after a QQ trigger word
        ("mail a.b@qq.com thanks", "mail a***@qq.com thanks"),
        ("QQ邮箱 123456@qq.com", "QQ邮箱 1***@qq.com"),
        ("邮箱ｔｏｍ＠ｅｘａｍｐｌｅ．ｃｏｍ", "邮箱t***@example.com"),
        # numbers in Chinese numerals, spaced-out triggers (seen in real ad spam)
        ("加扣扣：二九一二一八七六七 备注「资料」", "加扣扣：二九***六七 备注「资料」"),
        ("电话一三八零零一三八零零零", "电话一三八****八零零零"),
        ("微信：二九一二一八七", "微信：二九***八七"),
        ("加 Ｖ：wx_abc123 秒通过", "加 Ｖ：wx_a*** 秒通过"),
        ("QQ 123456789.", "QQ 12***89."),
        # several in one message, positions preserved around full-width text
        (
            "【招聘】电话１３９１２３４５６７８，微信：hr_2026，邮箱 hr@corp.cn",
            "【招聘】电话139****5678，微信：hr***，邮箱 h***@corp.cn",
        ),
    ],
)
def test_masks_contact_details(text: str, expected: str) -> None:
    assert mask(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Python 3.11 出了，2026年，价格 12999 元",
        "版本 v1.13.0 和 0.9.2 都能用",
        "订单号 20261380013800000",  # 17 digits: not a phone inside a longer number
        "时间 2026-05-09 13:45:00",
        "https://example.com/u/13800138000 看这里",
        "github.com/foo/13800138000",
        "www.example.com/q?id=13800138000&qq=123456789",
        "微信群 20000 人，微信支付 123456 元",
        "微信 message 已读",  # a plain word after 微信 is not an id
        "QQ音乐 2026 年度报告",
        "Q1 营收 12345678 元",
        "温度 13.8000 度",
        "QQ 3.14159",
        "第一二三名，一二三四五六七",
        "加 vLLM 支持",
        "腾讯会议 583-219-746",
        "",
        "没有任何联系方式的一句话",
    ],
)
def test_leaves_ordinary_text_alone(text: str) -> None:
    assert mask(text) == text


def test_masking_is_idempotent() -> None:
    once = mask("加V：wx_abc123 电话 138 0013 8000 邮箱 abc@qq.com QQ 123456789 wxid_abcdefg")
    assert "13800138000" not in once.replace(" ", "") and "abc123" not in once
    assert mask(once) == once


def test_url_protection_does_not_swallow_following_contact() -> None:
    # the URL stops at full-width punctuation; the phone after it is masked
    assert mask("https://a.com/x，电话13800138000") == "https://a.com/x，电话138****8000"


def test_lookalike_letters_and_split_characters_do_not_hide_a_wechat_id():
    # Cyrillic х in "wх_", and 信 written as 亻言, both seen in the wild (the demo's m0282)
    masked = mask("有意者加徽亻言：w\u0445_lu7788")
    assert "lu7788" not in masked and "7788" not in masked


@pytest.mark.parametrize(
    "text",
    [
        "【招聘】电话１３９１２３４５６７８，微信：hr_2026，邮箱 hr@corp.cn",
        "加扣扣：二九一二一八七六七 备注「资料」 座机 010-12345678",
        "客服 400-123-4567 或 vx abc123",
        "有意者加徽亻言：w\u0445_lu7788，QQ群 987654321",
    ],
)
def test_what_extract_reports_as_a_contact_is_what_the_mask_hides(text: str) -> None:
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    from nlp.patterns import CONTACT_TYPES, extract_patterns

    contacts = [
        e
        for e in extract_patterns(text, datetime(2026, 11, 25, tzinfo=timezone.utc), ZoneInfo("Asia/Shanghai"))
        if e.type in CONTACT_TYPES
    ]
    assert contacts
    masked = mask(text)
    for e in contacts:
        assert e.text not in masked
