import pytest

from bot.config import Moderation, PolicyMode
from bot.moderation import ActionKind, Standing, decide
from nlp.verdict import Verdict

AD = {"ad": Verdict("ad", "ad", 0.97, ("keyword 加V",), "rules-1")}


def policy(mode, **kw):
    return Moderation(mode=mode, **kw)


def test_not_an_ad_is_no_action():
    a = decide({"ad": Verdict("ad", "normal", 0.9)}, Standing(), policy(PolicyMode.KICK))
    assert a.kind is ActionKind.NONE


def test_below_threshold_is_no_action_and_says_why():
    a = decide({"ad": Verdict("ad", "ad", 0.6)}, Standing(), policy(PolicyMode.KICK, ad_threshold=0.8))
    assert a.kind is ActionKind.NONE
    assert a.reasons[0] == "广告分 0.60，低于处理线 0.80"


def test_missing_verdict_is_no_action():
    assert decide({}, Standing(), policy(PolicyMode.KICK)).kind is ActionKind.NONE


@pytest.mark.parametrize(
    "mode, strikes, expected",
    [
        (PolicyMode.OFF, 0, ActionKind.NONE),
        (PolicyMode.LOG, 5, ActionKind.LOG),
        (PolicyMode.WARN, 9, ActionKind.WARN),
        (PolicyMode.KICK, 0, ActionKind.WARN),
        (PolicyMode.KICK, 1, ActionKind.WARN),
        (PolicyMode.KICK, 2, ActionKind.KICK),
    ],
)
def test_policy_modes(mode, strikes, expected):
    a = decide(AD, Standing(strikes=strikes), policy(mode, kick_after_strikes=3))
    assert a.kind is expected
    assert "keyword 加V" in a.reasons


def test_kick_reason_counts_strikes():
    a = decide(AD, Standing(strikes=2), policy(PolicyMode.KICK, kick_after_strikes=3))
    assert a.strike_number == 3 and a.reasons[0] == "第 3 次违规（72 小时内已满 3 次）"
    assert a.reasons[1] == "广告分 0.97（处理线 0.90）"


@pytest.mark.parametrize(
    "strikes, expected",
    [
        (0, "第 1 次违规（72 小时内满 2 次移出）"),
        (1, "第 2 次违规（72 小时内已满 2 次）"),
        (2, "第 3 次违规（已超过上限：72 小时内 2 次）"),  # re-invited after a kick, posts again
        (5, "第 6 次违规（已超过上限：72 小时内 2 次）"),
    ],
)
def test_a_strike_count_never_reads_past_its_limit(strikes, expected):
    a = decide(AD, Standing(strikes=strikes), policy(PolicyMode.KICK, kick_after_strikes=2))
    assert a.reasons[0] == expected


def test_reasons_written_by_moderation_are_chinese():
    """The reasons this module writes reach admins; the verdict's own reasons follow unchanged."""
    cases = [
        decide({"ad": Verdict("ad", "normal", 0.9)}, Standing(), policy(PolicyMode.KICK)),
        decide(AD, Standing(), policy(PolicyMode.OFF)),
        decide(AD, Standing(whitelisted=True), policy(PolicyMode.KICK)),
        decide(AD, Standing(is_admin=True), policy(PolicyMode.KICK)),
        decide(AD, Standing(strikes=4), policy(PolicyMode.LOG)),
        decide(AD, Standing(strikes=4), policy(PolicyMode.WARN)),
    ]
    assert [a.reasons[0] for a in cases] == [
        "不是广告",
        "本群未开启广告处理",
        "发送者在白名单中，不处理",
        "发送者是管理员，不处理",
        "第 5 次违规（本群只记录，不处理）",
        "第 5 次违规",
    ]
    assert all("keyword 加V" in a.reasons for a in cases[1:])


@pytest.mark.parametrize("standing", [Standing(strikes=10, whitelisted=True), Standing(strikes=10, is_admin=True)])
def test_whitelisted_and_admins_are_never_acted_on(standing):
    a = decide(AD, standing, policy(PolicyMode.KICK, kick_after_strikes=1))
    assert a.kind is ActionKind.LOG
    assert not a.counts_as_strike


RULES_AGREE = Verdict("ad_rules", "ad", 0.95, ("rules p(ad)=0.95", "contact WeChat wx_abc123"), "rules-1")
RULES_DISAGREE = Verdict("ad_rules", "normal", 0.9, ("rules p(ad)=0.10",), "rules-1")


def test_a_model_ad_the_rules_do_not_share_is_only_logged():
    a = decide({**AD, "ad_rules": RULES_DISAGREE}, Standing(strikes=5), policy(PolicyMode.KICK))
    assert a.kind is ActionKind.LOG and not a.counts_as_strike
    assert a.reasons[0] == "规则基线不认为是广告：只记录，不处理"
    assert a.reasons[-1] == "rules p(ad)=0.10"  # the baseline's own reason, as it wrote it


def test_corroborated_ads_are_acted_on_and_corroboration_can_be_switched_off():
    assert decide({**AD, "ad_rules": RULES_AGREE}, Standing(), policy(PolicyMode.WARN)).kind is ActionKind.WARN
    off = policy(PolicyMode.WARN, corroborate=False)
    assert decide({**AD, "ad_rules": RULES_DISAGREE}, Standing(), off).kind is ActionKind.WARN
