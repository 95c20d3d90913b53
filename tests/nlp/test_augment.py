"""Evasion augmentations: each changes the text the way it says, normalize() reads the reversible ones back."""

import random
import re

import pytest

from nlp.normalize import normalize
from nlp.training import augment as A

# Separators the spaced/symbols augmentations may leave at a word's edge, where normalize() rightly
# keeps them (it only joins short pieces): compare without them.
_SEPS = re.compile(r"[\s\u3000\-_.·*~|丶]")

AD_TEXTS = (
    "加微信领取免费资料",
    "低价出MC账号，需要的加QQ 291218767",
    "兼职日结，加vx abc12345 详聊",
    "外部群号871673849外部有免费配置",
    "新店开业全场五折，电话13912345678",
    "扫码进群领红包",
)
NORMAL_TEXTS = (
    "明天下午三点开会，别忘了",
    "我用的是PyTorch 2.3版本",
    "哈哈哈笑死我了",
    "这篇文章不错 https://mp.weixin.qq.com/s/AbCdEf123",
    "订单号 20240611 已经发货了",
)


def squash(text: str) -> str:
    return _SEPS.sub("", normalize(text).text).casefold()


def rng(i: int = 0) -> random.Random:
    return random.Random(f"test-{i}")


# --- each augmentation -------------------------------------------------------------------------


def test_spaced_pulls_the_contact_word_apart_and_normalize_joins_it():
    for i in range(5):
        out = A.spaced("加V信", rng(i))
        assert re.fullmatch(r"加[ \u3000]V[ \u3000]信", out), out
        assert normalize(out).text == "加V信"
    out = A.spaced("请加微信领取福利", rng())
    assert out != "请加微信领取福利" and squash(out) == squash("请加微信领取福利")


def test_symbols_uses_a_filler_symbol():
    out = A.symbols("请加微信详聊", rng(1))
    assert any(s in out for s in "-_.·*~|丶")
    assert squash(out) == squash("请加微信详聊")


def test_fullwidth_widens_ascii_and_nfkc_undoes_it():
    text = "加vx abc12345"
    for i in range(10):
        out = A.fullwidth(text, rng(i))
        assert out != text
        assert any(0xFF01 <= ord(c) <= 0xFF5E for c in out)
        assert normalize(out).text == normalize(text).text


def test_homoglyph_swaps_latin_for_lookalikes_and_normalize_maps_back():
    text = "加vx abc12345 QQ"
    for i in range(10):
        out = A.homoglyph(text, rng(i))
        assert out != text
        assert any(not c.isascii() and c.isalpha() and not "\u4e00" <= c <= "\u9fff" for c in out)
        assert normalize(out).text == normalize(text).text


def test_every_lookalike_survives_nfkc_and_maps_back():
    for latin, lookalikes in A._LOOKALIKES.items():
        for c in lookalikes:
            assert normalize(f"a1{c}b").text == f"a1{latin}b", (latin, c)


def test_homoglyph_leaves_single_letters_alone():
    assert A.homoglyph("加V信", rng()) == "加V信"


def test_invisible_inserts_zero_width_characters():
    text = "加微信领取福利"
    out = A.invisible(text, rng())
    assert len(out) > len(text)
    assert any(c in "\u200b\u200c\u200d\u2060\ufeff" for c in out)
    assert normalize(out).text == text


def test_cn_numerals_writes_long_digit_runs_in_chinese():
    text = "加QQ 291218767，群号871673849"
    for i in range(8):
        out = A.cn_numerals(text, rng(i))
        assert not re.search(r"\d{5}", out)
        assert normalize(out).text == normalize(text).text


def test_cn_numerals_keeps_short_numbers():
    assert A.cn_numerals("3月15日下午2点", rng()) == "3月15日下午2点"


def test_image_caption_for_an_ad_points_into_the_image():
    for i in range(20):
        out = A.image_caption("低价出号", rng(i), ad=True)
        assert "[图片]" in out
        assert out != "低价出号"
        if "低价出号" not in out:  # the caption alone carries a handle
            assert re.search(r"(vx|V信|微信|wx|薇|QQ|扣扣|企鹅)[ :][0-9a-z]{5,}", out), out


def test_image_caption_for_a_normal_message_keeps_it():
    for i in range(10):
        out = A.image_caption("大家看看这个报错", rng(i), ad=False)
        assert "[图片]" in out and "大家看看这个报错" in out


def test_unmask_digits_puts_plausible_digits_back():
    text = "x月xx日起全场x折，详询xxxxxxxxxxx，满xxx元送礼"
    for i in range(10):
        out = A.unmask_digits(text, rng(i))
        assert "x" not in out
        month = int(re.match(r"(\d+)月", out).group(1))
        assert 1 <= month <= 12
        assert re.search(r"1[3-9]\d{9}", out)


def test_unmask_digits_keeps_latin_words():
    assert A.unmask_digits("xbox和iPhone x折", rng()).startswith("xbox和iPhone ")


# --- choosing and composing --------------------------------------------------------------------


@pytest.mark.parametrize("text", AD_TEXTS + NORMAL_TEXTS)
def test_every_applicable_augmentation_changes_the_text(text):
    for name in A.applicable(text):
        changed = any(A.AUGMENTATIONS[name](text, rng(i)) != text for i in range(5))
        assert changed, f"{name} claims to apply to {text!r} but never changes it"


@pytest.mark.parametrize("text", AD_TEXTS + NORMAL_TEXTS)
def test_reversible_augmentations_stay_readable(text):
    for name in A.REVERSIBLE & set(A.applicable(text)):
        for i in range(5):
            out = A.AUGMENTATIONS[name](text, rng(i))
            assert squash(out) == squash(text), f"{name}: {out!r}"


@pytest.mark.parametrize("name", ["spaced", "symbols", "fullwidth", "homoglyph", "invisible"])
def test_urls_stay_intact(name):
    url = "https://mp.weixin.qq.com/s/AbCdEf123"
    for i in range(10):
        assert url in A.AUGMENTATIONS[name](f"这篇文章不错 {url}", rng(i))


def test_augment_is_seeded_and_names_what_it_did():
    for text in AD_TEXTS:
        a = A.augment(text, random.Random(7), ad=True)
        b = A.augment(text, random.Random(7), ad=True)
        assert a == b
        out, name = a
        assert out != text
        assert name and set(name.split("+")) <= set(A.AUGMENTATIONS)


def test_augment_composes_in_a_fixed_order_and_can_be_limited():
    names = set()
    for i in range(200):
        out, name = A.augment("兼职日结，加vx abc12345 详聊", rng(i), ad=True)
        names.add(name)
        parts = name.split("+")
        assert parts == [n for n in A.AUGMENTATIONS if n in parts]
        assert "image_caption" not in parts or len(parts) == 1
    assert any("+" in n for n in names)
    out, name = A.augment("加微信领取", rng(), ad=True, names=("invisible",))
    assert name == "invisible" and normalize(out).text == "加微信领取"
