"""Ad policies: both halves must be present; news about casinos or courts does not fire them."""

import pytest

from nlp.normalize import normalize
from nlp.policy import POLICY_SCORE, ad_policy
from nlp.rules import AdRules


def _hit(text: str):
    return ad_policy(normalize(text).text)


@pytest.mark.parametrize(
    ("text", "name", "words"),
    [
        ("澳门国际赌场：真人在线娱乐，首充送100%", "gambling offer", ("赌场", "首充")),
        ("网上棋牌平台，注册就送88元，提现秒到", "gambling offer", ("棋牌", "平台")),
        ("百 家 乐 真人荷官，官 网 注 册 送 彩 金", "gambling offer", ("百家乐", "官网")),  # spaced out
        ("娱乐城ｗｗｗ.ｘｘ８８.ｃｏｍ 返水无上限", "gambling offer", ("娱乐城", "返水")),  # full-width
        ("XX市公安局通知：您涉嫌洗钱，账户将被冻结，请立即致电办案民警", "summons scam", ("公安局", "涉嫌", "致电")),
        ("法院传票：您有一张传票未领取，按9查询", "summons scam", ("法院", "传票", "按9")),
    ],
)
def test_policies_fire_on_their_kind_of_ad(text, name, words):
    hit = _hit(text)
    assert hit is not None and hit.name == name and hit.words == words
    assert hit.reason == f"policy {name}: " + " + ".join(words)


@pytest.mark.parametrize(
    "text",
    [
        "澳门赌场收入连续三个月下降",  # news: a gambling word, no offer
        "新华社记者举报彩票违规：利用职权输送20亿元给自己",  # 输送20 is not an offer
        "官网视频：阿森纳游览滨海湾金沙",
        "法院判决该公司赔偿用户损失",  # an authority, no threat or call
        "公安局提醒：涉嫌诈骗的电话不要接",  # no instruction to call or pay
        "周末一起打牌吗，老地方",
        "这个平台的提现规则改了",  # an offer word alone
    ],
)
def test_policies_stay_quiet_on_ordinary_text(text):
    assert _hit(text) is None


def test_the_rule_baseline_says_ad_when_a_policy_fires():
    v = AdRules().verdict("网上棋牌平台，注册就送88元，提现秒到")
    assert v.label == "ad" and v.score == POLICY_SCORE
    assert v.reasons[0] == "policy gambling offer: 棋牌 + 平台"
    assert AdRules().verdict("澳门赌场收入连续三个月下降").label == "normal"
