"""Ad policies: a few conjunctions of words so specific to one kind of ad that they decide alone.

The model misses some kinds of ad that the public training data barely shows (see docs/model-card.md,
limits): short gambling offers ("澳门国际赌场：真人在线娱乐，首充送100%" scored p(ad) 0.09) and
the fake summons scam. A policy fires only when *both* halves are present — a gambling word and an
offer word; an authority, a legal threat and an instruction to call or pay — so news about
casinos or courts does not trip it. Measured on every normal text of the ad corpus (train, dev and
test of nus_sms_zh, LCCC, SMP, headlines, QQ chatter and SMS hams, ~111k texts): no policy fires on
any of them (39 of the corpus's 16.7k ads fire one).

A policy that fires turns the ad verdict to ``ad`` with at least :data:`POLICY_SCORE`; its name and
the words that matched are the reason. Policies read the normalised text (evasions undone).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeGuard

POLICY_SCORE = 0.9


@dataclass(frozen=True, slots=True)
class PolicyHit:
    name: str
    words: tuple[str, ...]

    @property
    def reason(self) -> str:
        return f"policy {self.name}: " + " + ".join(self.words)


# Each policy: a name and the patterns that must all match.
POLICIES: tuple[tuple[str, tuple[re.Pattern[str], ...]], ...] = (
    (
        "gambling offer",
        (
            re.compile(
                r"赌场|赌城|博彩|百家乐|娱乐城|真人娱乐|真人视讯|荷官|棋牌|老虎机|时时彩|六合彩|体育投注|威尼斯人|葡京"
            ),
            re.compile(
                r"首充|首存|充值送|存送|注册就?送|注册即送|(?<![输运护押])送\d|彩金|返水|提现|秒到|开户|网址|官网|平台|下载|加[微vV]|扫码|客服|代理|日赚|稳赚|包赢"
            ),
        ),
    ),
    (
        "summons scam",
        (
            re.compile(r"法院|公安局|检察院|派出所"),
            re.compile(r"传票|通缉|涉嫌|冻结|拘捕|逮捕"),
            re.compile(r"致电|回拨|来电|联系电话|按\d|转账|转入|安全账户"),
        ),
    ),
)


def overrides(hit: PolicyHit | None, p_ad: float) -> TypeGuard[PolicyHit]:
    """Whether ``hit`` decides over a p(ad) of ``p_ad``: a policy raises p(ad) to :data:`POLICY_SCORE`,
    never lowers it. The one rule for the model and the rule baseline alike."""
    return hit is not None and p_ad < POLICY_SCORE


def ad_policy(text: str) -> PolicyHit | None:
    """The first policy whose every pattern matches the (normalised) text, or None."""
    for name, patterns in POLICIES:
        found = []
        for rx in patterns:
            m = rx.search(text)
            if m is None:
                break
            found.append(m.group())
        else:
            return PolicyHit(name, tuple(found))
    return None
