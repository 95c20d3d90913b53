"""Every quoted line is real: the digest's quotes and names checked against the stored messages the
builder read, after building and before rendering (``bot.daily.make_digest``).

What is checked, wherever it sits in the :class:`DigestData` (the check walks every field, so a
list added later is covered):

- a :class:`MessageLine` (thread openers, replies and best answers, announcements, unanswered
  questions): its ``id`` is a stored message, its ``sender`` and ``time`` are that message's, and
  its ``text`` is a *faithful* excerpt of that message's text;
- an :class:`Event`, :class:`LinkLine` or :class:`AdLine` (no id): a stored message by ``sender``
  at ``time`` exists, and the text (a link's title, an ad's text) is a faithful excerpt of it; an
  event's title is made of that message's words (the builder takes the time out and trims fillers,
  so each piece of the title between spaces and punctuation must appear in the message);
- a :class:`Contributor`'s ``name`` and each of a thread's ``names``: someone who wrote today;
- a :class:`TopicCluster`: its lines as above, and each of its contributors (:class:`Speaker`)
  the sender of as many of its messages as the speaker's count says (a cluster whose best message
  fails goes whole; a contributor who fails is left out);
- no line quotes or names a member in ``opted_out``, and no text anywhere mentions one ("@name":
  the builder writes "@群友", ``catalogue.HIDDEN_MEMBER``).

*Faithful* means what the builder does to a message and nothing else. From the stored text, one of
these starting points — the text itself; without a greeting or "请教一下：" in front
(``lines.brief``, only when that leaves a suffix of the text); without the "@name"s it starts with;
URLs taken out (``strip_urls``, or replaced by "[链接]" for ads); a link with its sharer's comment
("链接说明 —— comment", the comment being the same member's next message) — goes through the
builder's own :meth:`Liner.text` (opted-out "@name" → "@群友", ``privacy.mask``, whitespace folded
to one space). The line's text must equal the result, or be its first characters followed by "…"
where the result is longer (``lines.short`` cuts only at the end, and only there adds "…"). A word
changed, added or left out in the middle fails.

The rule on a violation, one for every caller: :func:`enforce` (what ``make_digest`` calls) drops
the line that fails — a thread whose opener fails goes whole; a failing best answer becomes none —
and logs each violation at ERROR, so a builder bug never reaches a group and never costs the group
its whole digest either; :func:`check` (tests, tools) raises :class:`QuoteError` listing them all;
:func:`problems` returns them. Counts are not lines and stay as built.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from bot import catalogue
from bot.digest import lines, threads as threading
from bot.digest.data import AdLine, Contributor, DigestData, Event, LinkLine, MessageLine, Speaker, TopicCluster
from bot.digest.lines import Liner, has_text, sender
from bot.records import AnalysedMessage
from nlp.patterns import strip_urls

log = logging.getLogger(__name__)

ELLIPSIS = "…"
NAME_FIELDS = frozenset({"names"})  # tuples of members' names (a thread's answerers)
_UNLIMITED = 1_000_000
_LEADING_MENTIONS = re.compile(r"^(?:\s*@[^\s@]+)+\s*")  # as lines.Liner.line(to=False) takes them off
_PIECES = re.compile(r"[\s：:（）()【】，,。…]+")


class QuoteError(ValueError):
    """A digest quotes or names something no stored message backs."""

    def __init__(self, found: Sequence[Problem]) -> None:
        self.problems = tuple(found)
        super().__init__("digest quotes what no stored message says:\n" + "\n".join(map(str, found)))


@dataclass(frozen=True, slots=True)
class Problem:
    where: str  # path in the DigestData: "threads[2].best"
    kind: str  # "unknown" | "misattributed" | "not verbatim" | "opted out"
    detail: str

    def __str__(self) -> str:
        return f"{self.where}: {self.kind}: {self.detail}"


class Sources:
    """The stored messages one digest was built from, indexed for the checks."""

    def __init__(self, messages: Sequence[AnalysedMessage], tz: ZoneInfo, opted_out: Collection[str] = ()) -> None:
        self.hidden = frozenset(opted_out)
        self.messages = list(messages)
        self.hidden_raw = {am.message.sender_name.strip() for am in messages if self._hidden(am)}
        self.liner = Liner(tz, self.hidden_raw)
        self.by_id = {am.message.id: am for am in messages}
        self.by_when: dict[tuple[str, str], list[AnalysedMessage]] = {}
        self.shown_names: set[str] = set()
        self.hidden_names: set[str] = set()
        for am in messages:
            self.by_when.setdefault((sender(am), self.liner.hhmm(am)), []).append(am)
            (self.hidden_names if self._hidden(am) else self.shown_names).add(sender(am))
        self._forms: dict[str, frozenset[str]] = {}

    def _hidden(self, am: AnalysedMessage) -> bool:
        return am.message.sender_id in self.hidden

    @cached_property
    def _hidden_mention(self) -> re.Pattern[str] | None:
        """ "@name" of a member who opted out, as ``Liner`` replaces it."""
        names = sorted({n for n in self.hidden_raw | self.hidden_names if n}, key=len, reverse=True)
        return re.compile("@(?:" + "|".join(map(re.escape, names)) + ")") if names else None

    def forms(self, am: AnalysedMessage) -> frozenset[str]:
        """Every text the builder may show for ``am`` before cutting (see the module doc)."""
        key = am.message.id
        if key not in self._forms:
            text = am.message.text
            starts = {text, strip_urls(text).strip(), strip_urls(text, catalogue.LINK_STAND_IN)}
            for s in (lines.brief(text), _LEADING_MENTIONS.sub("", text), _LEADING_MENTIONS.sub("", lines.brief(text))):
                if s.strip() and text.strip().endswith(s.strip()):  # only ever a piece taken off the front
                    starts.add(s)
            for c in self._comments(am):
                head = strip_urls(text).strip()
                starts.add(f"{head} —— {c.message.text}" if head else c.message.text)
            self._forms[key] = frozenset(self.liner.text(s, _UNLIMITED) for s in starts)
        return self._forms[key]

    def _comments(self, am: AnalysedMessage) -> Iterable[AnalysedMessage]:
        """The sharer's comments the builder may join to a link opener: the same member's messages
        within ``threads.LINK_COMMENT`` after it, carrying no URL."""
        if not lines.is_link(am):
            return ()
        m = am.message
        return [
            o
            for o in self.messages
            if o.message.sender_id == m.sender_id
            and m.sent_at < o.message.sent_at <= m.sent_at + threading.LINK_COMMENT
            and has_text(o)
            and not lines.urls(o)
        ]

    def faithful(self, shown: str, am: AnalysedMessage) -> bool:
        return any(_excerpt(shown, form) for form in self.forms(am))

    def said_by_other(self, shown: str, am: AnalysedMessage) -> AnalysedMessage | None:
        """Another member's message ``shown`` is a faithful excerpt of (a misattribution)."""
        return next(
            (
                o
                for o in self.messages
                if o.message.sender_id != am.message.sender_id and shown and self.faithful(shown, o)
            ),
            None,
        )

    def mentions_hidden(self, text: str) -> bool:
        return self._hidden_mention is not None and bool(self._hidden_mention.search(text))

    # ----------------------------------------------------------------------------- the records

    def message_line(self, line: MessageLine) -> list[tuple[str, str]]:
        am = self.by_id.get(line.id)
        if am is None:
            return [("unknown", f"no stored message {line.id!r} ({line.sender}：{line.text!r})")]
        if self._hidden(am):
            return [("opted out", f"message {line.id!r} is by a member who opted out")]
        if self.mentions_hidden(line.text):
            return [("opted out", f"{line.text!r} mentions a member who opted out")]
        out = []
        if line.sender != sender(am) or line.time != self.liner.hhmm(am):
            out.append(
                (
                    "misattributed",
                    f"{line.sender} {line.time} shown for message {line.id!r} by {sender(am)} {self.liner.hhmm(am)}",
                )
            )
        if not self.faithful(line.text, am):
            other = self.said_by_other(line.text, am)
            if other is not None:
                out.append(("misattributed", f"{line.text!r} is {sender(other)}'s words ({other.message.id!r})"))
            else:
                out.append(("not verbatim", f"{line.text!r} is not what {line.id!r} says: {am.message.text!r}"))
        return out

    def _by(self, who: str, when: str, what: str) -> tuple[list[AnalysedMessage], list[tuple[str, str]]]:
        found = self.by_when.get((who, when), [])
        shown = [am for am in found if not self._hidden(am)]
        if shown:
            return shown, []
        if found:
            return [], [("opted out", f"{what} by {who} at {when}, a member who opted out")]
        others = sorted({w for w, t in self.by_when if t == when})
        if others:
            return [], [("misattributed", f"{what} shown as {who}'s at {when}, when only {'、'.join(others)} wrote")]
        return [], [("unknown", f"{what}: no stored message by {who} at {when}")]

    def texted(self, who: str, when: str, text: str, what: str) -> list[tuple[str, str]]:
        """A link's title or an ad's text, by ``who`` at ``when``."""
        found, out = self._by(who, when, what)
        if out or not text or any(self.faithful(text, am) for am in found):
            return out
        other = self.said_by_other(text, found[0])
        if other is not None:
            return [("misattributed", f"{text!r} is {sender(other)}'s words, shown as {who}'s")]
        return [("not verbatim", f"{what} {text!r} is not what {who} wrote at {when}")]

    def event(self, e: Event) -> list[tuple[str, str]]:
        found, out = self._by(e.sender, e.time, "event")
        if out:
            return out
        pieces = [p for p in _PIECES.split(e.title) if p]
        if any(all(p in form for p in pieces) for am in found for form in self.forms(am)):
            return []
        return [("not verbatim", f"event title {e.title!r} is not made of {e.sender}'s words at {e.time}")]

    def name(self, name: str) -> list[tuple[str, str]]:
        if name in self.shown_names:
            return []
        if name in self.hidden_names:
            return [("opted out", f"{name} opted out")]
        return [("unknown", f"{name} wrote nothing today")]


def _excerpt(shown: str, form: str) -> bool:
    """``shown`` is ``form``, or its beginning cut with "…" (``lines.short``)."""
    if shown == form:
        return True
    return shown.endswith(ELLIPSIS) and len(form) >= len(shown) and form.startswith(shown[:-1])


_DROP = object()


def _walk(obj: Any, where: str, src: Sources, found: list[Problem], names: bool = False) -> Any:
    """``obj`` without what fails (``_DROP`` when ``obj`` itself fails); problems into ``found``."""

    def fail(issues: list[tuple[str, str]]) -> Any:
        found.extend(Problem(where, kind, detail) for kind, detail in issues)
        return _DROP if issues else obj

    if isinstance(obj, MessageLine):
        return fail(src.message_line(obj))
    if isinstance(obj, Event):
        return fail(src.event(obj))
    if isinstance(obj, LinkLine):
        return fail(src.texted(obj.sender, obj.time, obj.title, "link"))
    if isinstance(obj, AdLine):
        return fail(src.texted(obj.sender, obj.time, obj.text, "ad"))
    if isinstance(obj, Contributor | Speaker):
        return fail(src.name(obj.name))
    if isinstance(obj, str):
        if names:
            return fail(src.name(obj))
        if src.mentions_hidden(obj):
            return fail([("opted out", f"{obj!r} mentions a member who opted out")])
        return obj
    if isinstance(obj, tuple | list):
        items = [_walk(x, f"{where}[{i}]", src, found, names) for i, x in enumerate(obj)]
        kept = [x for x in items if x is not _DROP]
        return obj if all(a is b for a, b in zip(items, obj, strict=True)) else type(obj)(kept)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes: dict[str, Any] = {}
        dropped = False
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            new = _walk(value, f"{where}.{f.name}" if where else f.name, src, found, f.name in NAME_FIELDS)
            if new is _DROP:
                if "None" not in str(f.type):
                    dropped = True  # a thread whose opener fails goes whole (its other fields still checked)
                    continue
                new = None
            if new is not value:
                changes[f.name] = new
        if dropped:
            return _DROP
        rebuilt = dataclasses.replace(obj, **changes) if changes else obj
        if isinstance(obj, TopicCluster) and isinstance(rebuilt, TopicCluster):
            return _speakers(obj, rebuilt, where, found)
        return rebuilt
    return obj


def _speakers(built: TopicCluster, kept: TopicCluster, where: str, found: list[Problem]) -> TopicCluster:
    """``kept`` (``built`` less the lines that failed) without the contributors its messages do
    not back: each must have written as many of the built cluster's messages as its count says
    (else a problem); where a failing line was dropped, the count is of what is left."""
    claimed = Counter(line.sender for line in built.messages)
    left = Counter(line.sender for line in kept.messages)
    speakers = []
    for i, s in enumerate(kept.contributors):
        if claimed[s.name] != s.messages:
            found.append(
                Problem(
                    f"{where}.contributors[{i}]",
                    "misattributed",
                    f"{s.name} shown with {s.messages} of the topic's messages, wrote {claimed[s.name]} of them",
                )
            )
        elif left[s.name]:
            speakers.append(s if left[s.name] == s.messages else dataclasses.replace(s, messages=left[s.name]))
    if tuple(speakers) == kept.contributors:
        return kept
    return dataclasses.replace(kept, contributors=tuple(speakers))


def problems(data: DigestData, messages: Sequence[AnalysedMessage], opted_out: Collection[str] = ()) -> list[Problem]:
    """Every quote or name in ``data`` that ``messages`` (what the builder read) do not back."""
    found: list[Problem] = []
    _walk(data, "", Sources(messages, ZoneInfo(data.timezone), opted_out), found)
    return found


def check(data: DigestData, messages: Sequence[AnalysedMessage], opted_out: Collection[str] = ()) -> None:
    """Raise :class:`QuoteError` when anything in ``data`` is not backed by ``messages``."""
    found = problems(data, messages, opted_out)
    if found:
        raise QuoteError(found)


def enforce(data: DigestData, messages: Sequence[AnalysedMessage], opted_out: Collection[str] = ()) -> DigestData:
    """``data`` without the lines that fail, each failure logged at ERROR (a builder bug)."""
    found: list[Problem] = []
    kept = _walk(data, "", Sources(messages, ZoneInfo(data.timezone), opted_out), found)
    if kept is _DROP:  # only a top-level string could do this; nothing safe is left to show
        raise QuoteError(found)
    for p in found:
        log.error("digest %s %s: dropped a line no stored message backs: %s", data.group_id, data.day, p)
    assert isinstance(kept, DigestData)
    return kept
