"""Building blocks for the digest's tests: analysed messages of one day, with just the verdicts a
test cares about."""

import itertools
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.message import GroupMessage, MessageKind
from bot.records import AnalysedMessage
from nlp.verdict import Entity, Verdict

TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 25)  # a Wednesday
G = "g@chatroom"
_ids = itertools.count(1)


def msg(
    sender: str,
    hhmm: str,
    text: str,
    *,
    mid: str | None = None,
    name: str | None = None,
    kind: MessageKind = MessageKind.TEXT,
    intent: str | None = None,
    useful: float | None = None,  # p(useful)
    ad: bool = False,
    reply_to: str | None = None,
    quote: str = "",
    mentions: tuple[str, ...] = (),
    entities: tuple[Entity, ...] = (),
) -> AnalysedMessage:
    h, m = map(int, hhmm.split(":"))
    verdicts = {"ad": Verdict("ad", "ad" if ad else "normal", 0.99)}
    if intent:
        verdicts["intent"] = Verdict("intent", intent, 0.9)
    if useful is not None:
        label = "useful" if useful >= 0.5 else "useless"
        verdicts["useful"] = Verdict("useful", label, useful if label == "useful" else 1 - useful)
    message = GroupMessage(
        id=mid or f"x{next(_ids)}",
        source="replay",
        group_id=G,
        sender_id=sender,
        sender_name=name if name is not None else sender.upper(),
        sent_at=datetime(DAY.year, DAY.month, DAY.day, h, m, tzinfo=TZ),
        kind=kind,
        text=text,
        reply_to=reply_to,
        quote=quote,
        mentions=mentions,
    )
    return AnalysedMessage(message, verdicts, entities)
