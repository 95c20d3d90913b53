"""Mask contact details before a message's text is shown anywhere (digest, reports, logs).

``mask(text)`` hides what ``nlp.patterns.contact_entities`` finds -- mainland mobile and landline
numbers, WeChat ids, QQ numbers and e-mail addresses -- keeping a short hint ("138****8000",
"wx_a***", "12***89", "a***@qq.com") so a reader still sees *that* a contact was posted. The
extractor and the mask share one set of patterns, so what ``qunzhi extract`` reports as a contact
is what a digest hides: full-width digits and letters, look-alike letters, numbers spelt in
Chinese numerals after a trigger ("扣扣：二九一二…") and 11-numeral mobiles count. URLs are left
alone, digits and all. Masking is idempotent: a hint never matches again. Stdlib only.
"""

from __future__ import annotations

import re

from nlp.normalize import CN_DIGITS
from nlp.patterns import contact_entities, is_number_id
from nlp.timeparse import fold
from nlp.verdict import Entity

__all__ = ["mask"]

_WX_PREFIX = re.compile(r"wx(?:id)?_", re.IGNORECASE)


def _id_hint(s: str) -> str:
    if is_number_id(s):
        return f"{s[:2]}***{s[-2:]}"
    if m := _WX_PREFIX.match(s):
        return f"{s[: m.end() + 1]}***"  # "wxid_a***", "wx_a***"
    keep = 4 if len(s) >= 8 else 2 if len(s) >= 6 else 1
    return f"{s[:keep]}***"


def _hint(e: Entity, folded: str) -> str:
    """What stands in for a contact: its first and last few characters, as written (folded)."""
    written = folded[e.start : e.end]
    if e.type == "EMAIL":
        local, domain = e.value.split("@", 1)
        return f"{local[0]}***@{domain}"
    if e.type == "PHONE":
        numerals = "".join(c for c in written if c in CN_DIGITS)
        digits = numerals if len(numerals) >= 7 else e.value  # spelt in Chinese: keep the numerals
        return f"{digits[:3]}****{digits[-4:]}"
    return _id_hint(written)


def mask(text: str) -> str:
    """``text`` with phone numbers, WeChat ids, QQ numbers and e-mail addresses replaced by hints."""
    found = contact_entities(text)
    if not found:
        return text
    folded = fold(text)
    out: list[str] = []
    pos = 0
    for e in found:
        out.append(text[pos : e.start])
        out.append(_hint(e, folded))
        pos = e.end
    out.append(text[pos:])
    return "".join(out)
