import pytest

from nlp.normalize import normalize


def kinds(changes):
    return {c.split(" ", 1)[0] for c in changes}


def test_plain_text_is_untouched():
    n = normalize("今晚肥不肥家吃饭 如果要 提前半小时")
    assert n.text == "今晚肥不肥家吃饭 如果要 提前半小时"
    assert n.changes == ()


def test_returns_a_named_pair():
    text, changes = normalize("abc")
    assert (text, changes) == ("abc", ())


def test_full_width_is_folded_by_nfkc():
    n = normalize("ｖｘ１３８００１３８０００")
    assert n.text == "vx13800138000"
    assert n.changes == ("nfkc",)


@pytest.mark.parametrize("zw", ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"])
def test_zero_width_characters_are_stripped_and_counted(zw):
    n = normalize(f"加{zw}V{zw}信")
    assert n.text == "加V信"
    assert "invisible 2" in n.changes


def test_cyrillic_lookalikes_inside_a_latin_word_become_latin():
    n = normalize("vх号 аbc123")  # Cyrillic х and а
    assert n.text == "vx号 abc123"
    assert "homoglyph" in kinds(n.changes)


def test_real_cyrillic_and_a_lone_greek_letter_are_kept():
    assert normalize("привет мир").text == "привет мир"
    assert normalize("α粒子").text == "α粒子"


def test_circled_digits_become_digits():
    assert normalize("❶❷❸④⑤⑥⓿").text == "1234560"


def test_chinese_numerals_forming_a_long_number_become_digits():
    n = normalize("扣扣二九一二一八七六七")
    assert n.text == "扣扣291218767"
    assert n.changes == ("cn-digits 二九一二一八七六七→291218767",)


def test_capital_and_mixed_chinese_numerals():
    assert normalize("壹叁捌零零壹叁捌零零零").text == "13800138000"
    assert normalize("幺三8零零一三八零零零").text == "13800138000"


@pytest.mark.parametrize("text", ["一一", "三五个人", "第一二三", "二〇二四年", "一五一十"])
def test_short_runs_of_numerals_are_words(text):
    assert normalize(text).text == text


def test_spaced_out_characters_are_joined_and_reported():
    n = normalize("加 V 信")
    assert n.text == "加V信"
    assert n.changes == ("spaced 加 V 信→加V信",)


def test_spaced_handle_prefix():
    n = normalize("加 V：abc123")
    assert n.text == "加V:abc123"
    assert "spaced 加 V→加V" in n.changes


@pytest.mark.parametrize(("raw", "joined"), [("微-信", "微信"), ("Q.Q", "QQ"), ("微*信", "微信"), ("v_x", "vx")])
def test_symbol_separated_characters_are_joined(raw, joined):
    n = normalize(raw)
    assert n.text == joined
    assert kinds(n.changes) == {"symbols"}


def test_spaced_digits_are_joined():
    assert normalize("q q 1 2 3 4 5 6").text == "qq123456"


@pytest.mark.parametrize(
    "text",
    [
        "I am a boy",  # Latin words
        "ok la",
        "空的 没人",  # two two-character words
        "价格3.5元",  # decimal point
        "1,000",
        "看 t.cn/abc 和 www.a.com",  # URLs are protected
        "mail me: a.b@c.com",
    ],
)
def test_words_numbers_and_urls_are_not_joined(text):
    assert normalize(text).text == text


def test_switches_turn_steps_off():
    raw = "加\u200b V ｖ二九一二一八七六七"
    assert normalize(raw, nfkc=False, invisible=False, homoglyphs=False, cn_digits=False, collapse=False).text == raw
    assert normalize(raw, collapse=False).text == "加 V v291218767"
