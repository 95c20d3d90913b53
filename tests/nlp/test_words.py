"""jieba's per-character word cues for the NER head (nlp/words.py)."""

from __future__ import annotations

import pytest
import torch

from nlp.ner import word_feature_batch
from nlp.words import (
    BMES,
    LEXICON_BITS,
    LEXICON_CLASSES,
    POS_CLASSES,
    char_lexicon_features,
    char_word_features,
    posseg,
    unit_word_features,
)

B, M, E, S = (BMES.index(x) for x in "BMES")


def _words(text: str, bmes: list[int]) -> list[str]:
    out, cur = [], ""
    for ch, tag in zip(text, bmes):
        cur += ch
        if tag in (E, S):
            out.append(cur)
            cur = ""
    assert cur == ""
    return out


@pytest.mark.parametrize(
    "text",
    ["王小明明天去北京大学开会", "联系13800138000 ok", "  hello 世界！", "", "１２３ＡＢＣ中文", "😀表情[旺柴]"],
)
def test_one_cue_per_character_and_words_tile_the_text(text: str) -> None:
    bmes, pos = char_word_features(text)
    assert len(bmes) == len(pos) == len(text)
    assert all(0 < b < len(BMES) for b in bmes) and all(0 < p < len(POS_CLASSES) for p in pos)
    assert "".join(_words(text, bmes)) == text
    for word in _words(text, bmes):  # one part of speech per word
        start = text.index(word)
        assert len(set(pos[start : start + len(word)])) == 1


def test_names_places_and_organisations_get_their_class() -> None:
    text = "王小明明天去北京大学开会"
    bmes, pos = char_word_features(text)
    words = _words(text, bmes)
    assert "王小明" in words and "北京大学" in words
    assert pos[0] == POS_CLASSES.index("person")
    assert pos[text.index("北京大学")] == POS_CLASSES.index("organisation")
    _, pos2 = char_word_features("我住在上海")
    assert pos2[3] == POS_CLASSES.index("place")
    _, pos3 = char_word_features("电话13800138000")
    assert pos3[-1] == POS_CLASSES.index("number")


def test_units_take_their_first_characters_cue() -> None:
    units = ["我", "在", "ABC", "公", "司"]
    bmes, pos = unit_word_features(units)
    cb, cp = char_word_features("我在ABC公司")
    assert len(bmes) == 5
    assert bmes[2] == cb[2] and pos[2] == cp[2] == POS_CLASSES.index("latin")
    assert bmes[3:] == cb[5:] and pos[3:] == cp[5:]


def test_batch_tensor_lines_up_with_the_char_tokens() -> None:
    t = word_feature_batch(["你好", "北京大学"], width=6)
    assert t.shape == (2, 6, 2) and t.dtype == torch.long
    assert t[0, 0].tolist() == [0, 0] and t[0, 3:].eq(0).all()  # <s>, </s> and padding are 0
    assert t[1, 1:5, 0].tolist() == char_word_features("北京大学")[0]


def _lexicon(bits: int) -> set[str]:
    return {LEXICON_CLASSES[k // 3] + "BME"[k % 3] for k in range(LEXICON_BITS) if bits >> k & 1}


def test_lexicon_marks_every_dictionary_word_not_only_the_chosen_segmentation() -> None:
    text = "中国人民银行行长周小川说"
    bits = char_lexicon_features(text)
    assert len(bits) == len(text)
    # the organisation as a whole, and the place inside it that the segmentation does not show
    assert "organisationB" in _lexicon(bits[0]) and "organisationE" in _lexicon(bits[5])
    assert "placeB" in _lexicon(bits[0]) and "placeE" in _lexicon(bits[1])
    assert {"personB"} <= _lexicon(bits[8]) and "personE" in _lexicon(bits[10])
    assert bits[-1] == 0  # 说 starts and ends no word of two characters here


@pytest.mark.parametrize("text", ["王小明明天去北京大学开会", "", "abc 123，。", "😀表情[旺柴]"])
def test_lexicon_bits_agree_with_the_dictionary(text: str) -> None:
    """Recomputed the slow way: every substring of 2+ characters that jieba's dictionary knows."""
    tok = posseg()
    freq, tags = tok.tokenizer.FREQ, tok.word_tag_tab
    classes = {"nr": 0, "nrfg": 0, "nrt": 0, "ns": 1, "nt": 2, "j": 3, "nz": 4}
    want = [0] * len(text)
    for a in range(len(text)):
        for b in range(a + 2, len(text) + 1):
            w = text[a:b]
            if freq.get(w):
                c = classes.get(tags.get(w, ""), 5)
                want[a] |= 1 << (3 * c)
                for k in range(a + 1, b - 1):
                    want[k] |= 1 << (3 * c + 1)
                want[b - 1] |= 1 << (3 * c + 2)
    assert char_lexicon_features(text) == want


def test_lexicon_column_in_units_and_batches() -> None:
    bmes, pos, lex = unit_word_features(["我", "在", "ABC", "公", "司"], lexicon=True)
    assert (bmes, pos) == unit_word_features(["我", "在", "ABC", "公", "司"])
    assert lex[3:] == char_lexicon_features("我在ABC公司")[5:]
    t = word_feature_batch(["你好", "北京大学"], width=6, lexicon=True)
    assert t.shape == (2, 6, 3)
    assert t[1, 1:5, 2].tolist() == char_lexicon_features("北京大学")
    assert t[1, 0].tolist() == [0, 0, 0] and t[1, 5].tolist() == [0, 0, 0]
