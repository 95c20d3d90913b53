"""Moderation policy: from stored verdicts and a member's standing to one action. No I/O.

``decide`` is a pure function so every branch is testable and every action carries the reasons
that produced it; the pipeline records the action and the live bot carries it out. The reasons
this module writes are worded by ``bot.catalogue`` (Chinese: they reach admins in reports and
``/spam`` replies); the ad verdict's own reasons follow them as the analyzers wrote them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import bot.catalogue as catalogue
from bot.config import Moderation, PolicyMode
from nlp.verdict import Verdict


class ActionKind(enum.StrEnum):
    NONE = "none"
    LOG = "log"  # recorded only
    WARN = "warn"  # warn the member in the group (counts as a strike)
    KICK = "kick"  # remove the member (the strike that crossed the limit)


@dataclass(frozen=True, slots=True)
class Standing:
    """What moderation needs to know about the sender, read from the store."""

    strikes: int = 0  # strikes within the policy window, before this message
    whitelisted: bool = False
    is_admin: bool = False


@dataclass(frozen=True, slots=True)
class Action:
    kind: ActionKind
    reasons: tuple[str, ...]
    verdict: Verdict | None = None
    strike_number: int = 0  # which strike this is (1-based) when it counts as one

    @property
    def counts_as_strike(self) -> bool:
        return self.kind in (ActionKind.WARN, ActionKind.KICK) or (
            self.kind is ActionKind.LOG and self.strike_number > 0
        )


def is_actionable_ad(verdicts: dict[str, Verdict], policy: Moderation) -> bool:
    """Whether the ad verdict reaches the policy's threshold: only then does the sender's standing
    matter (callers skip looking it up otherwise)."""
    ad = verdicts.get("ad")
    return ad is not None and ad.label == "ad" and ad.score >= policy.ad_threshold


def decide(verdicts: dict[str, Verdict], standing: Standing, policy: Moderation) -> Action:
    """One action for one analysed message under a group's policy.

    Acting on a person needs more than one opinion: with ``policy.corroborate`` (the default), a
    model ad verdict the rule baseline (verdict ``ad_rules``) does not share is only logged.
    """
    ad = verdicts.get("ad")
    if ad is None or ad.label != "ad":
        return Action(ActionKind.NONE, (catalogue.reason_not_an_ad(),), ad)
    if ad.score < policy.ad_threshold:
        return Action(ActionKind.NONE, (catalogue.reason_below_threshold(ad.score, policy.ad_threshold),), ad)
    why = (catalogue.reason_ad_score(ad.score, policy.ad_threshold), *ad.reasons)
    if policy.mode is PolicyMode.OFF:
        return Action(ActionKind.NONE, (catalogue.reason_moderation_off(), *why), ad)
    if standing.whitelisted:
        return Action(ActionKind.LOG, (catalogue.reason_whitelisted(), *why), ad)
    if standing.is_admin:
        return Action(ActionKind.LOG, (catalogue.reason_sender_is_admin(), *why), ad)
    second = verdicts.get("ad_rules")
    if policy.corroborate and second is not None and second.label != "ad":
        return Action(ActionKind.LOG, (catalogue.reason_not_corroborated(), *why, *second.reasons[:1]), ad)
    strike = standing.strikes + 1
    if policy.mode is PolicyMode.LOG:
        return Action(ActionKind.LOG, (catalogue.reason_strike_logged(strike), *why), ad, strike)
    if policy.mode is PolicyMode.KICK:
        counted = catalogue.reason_strike(strike, policy.kick_after_strikes, policy.strike_window_hours)
        kind = ActionKind.KICK if strike >= policy.kick_after_strikes else ActionKind.WARN
        return Action(kind, (counted, *why), ad, strike)
    return Action(ActionKind.WARN, (catalogue.reason_strike(strike), *why), ad, strike)
