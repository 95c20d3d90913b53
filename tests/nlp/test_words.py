"""jieba's per-character word cues for the NER head (nlp/words.py)."""

from __future__ import annotations

import pytest
import torch

from nlp.ner import word_feature_batch
from nlp.words import BMES, POS_CLASSES, char_word_features, unit_word_features

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
