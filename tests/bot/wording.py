"""What counts as English in what the bot says: the check behind test_catalogue and the live tests.

A word is a run of two or more ASCII letters. Allowed are only:

- command names after "/" or "／" (``/notspam``): ASCII by design;
- the words in :data:`ALLOWED_WORDS` ("QQ", the product's name);
- what the test itself put in (``allowed``): names, ids, the text of a quoted message, a keyword.
  Each allowed string is removed where it appears whole; its letter runs are also allowed as
  words, case-insensitively (the analyzers lower-case what they match), and a word cut short or
  masked ("abc1…", "wx_8***", the word directly followed by "…" or "*") is allowed when an allowed
  word starts with it.

Command names are never allowed as plain words: "处理：kick 1" is English.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

WORD = re.compile(r"[A-Za-z]{2,}")
LETTERS = re.compile(r"[A-Za-z]+")
COMMAND = re.compile(r"[/／][A-Za-z]+")
ALLOWED_WORDS = frozenset({"QQ"})
CUT_MARKS = "…*"


def english_words(text: str, allowed: Iterable[str] = (), *, never: Iterable[str] = ()) -> list[str]:
    """The English words in ``text`` that nothing allows (see module docstring). ``never``: words
    that stay forbidden even when an allowed string contains them (command names)."""
    allowed = sorted({a for a in allowed if a}, key=len, reverse=True)
    forbidden = {w.lower() for w in never}
    tokens = {w.lower() for a in allowed for w in LETTERS.findall(COMMAND.sub(" ", a))} - forbidden
    for a in allowed:
        text = text.replace(a, " ")
    text = COMMAND.sub(" ", text)
    found = []
    for m in WORD.finditer(text):
        word = m.group()
        low = word.lower()
        if word in ALLOWED_WORDS or low in tokens:
            continue
        cut = text[m.end() : m.end() + 1] in tuple(CUT_MARKS) and any(t.startswith(low) for t in tokens)
        if not cut:
            found.append(word)
    return found


def assert_no_english(texts: Iterable[str], allowed: Iterable[str] = (), *, never: Iterable[str] = ()) -> None:
    allowed = list(allowed)
    bad = [(t, words) for t in texts if (words := english_words(t, allowed, never=never))]
    assert not bad, "English reached people:\n" + "\n".join(f"  {words}: {t!r}" for t, words in bad)
