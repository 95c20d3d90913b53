"""One-sentence topic summaries written by a language model (``[llm]``): optional, checked, marked.

For each of the biggest topic clusters (``max_topics``), the model gets the group's topic, the
cluster's key terms and its messages numbered 1, 2, 3… — their masked texts as the digest shows them,
never a name, an id or the group — and answers a JSON object ``{"summary": "…", "sources": [2, 5]}``
citing the numbers of the messages the sentence draws on. The numbers map back to the messages' ids
(:attr:`Summary.sources`), so a summary always lists real messages of its topic.

What is dropped (rule 5: nothing is shown that no stored message backs), each logged and counted
(``qunzhi_llm_summaries{outcome="dropped"}``): an answer that is not such a JSON object, a summary
that cites no message, cites a number that is not one of the topic's messages, or is empty or longer
than one sentence (:data:`MAX_SUMMARY_CHARS`). A topic without a summary is shown as before.

Failures of the endpoint (``bot.llm``) cost that topic its summary; one that would fail the same way
for every topic (down, too slow, refusing the key, the day's budget spent) ends the asking for this
digest: the digest is never held up longer than one timeout for it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Sequence
from typing import Protocol

from bot.digest.data import MessageLine, Summary, TopicCluster
from bot.llm import Completion, LlmError
from bot.metrics import LLM_SUMMARIES
from bot.privacy import mask

log = logging.getLogger(__name__)

MAX_SUMMARY_CHARS = 120  # the prompt asks for 60; more than twice that is not one sentence
MAX_MESSAGES = 30  # messages of one topic sent (the best one always among them)
MAX_MESSAGE_CHARS = 200

SYSTEM_PROMPT = (
    "You summarise one topic of a WeChat group's chat for the group's daily digest. "
    "Write ONE sentence in simplified Chinese, at most 60 characters, saying what was asked, shared or concluded, "
    "using only what the numbered messages say: add no facts, name nobody. "
    'Answer with a JSON object only: {"summary": "<the sentence>", "sources": [<numbers of the messages it draws on>]}. '
    "Cite at least one message, and only numbers from the list."
)

_THINKING = re.compile(r"<think>.*?</think>", re.S)  # reasoning models (Qwen3, DeepSeek-R1) think aloud first
_WS = re.compile(r"\s+")


class Completer(Protocol):
    """What :func:`summarise` needs of a client (``bot.llm.ChatClient``)."""

    def complete(self, system: str, user: str) -> Completion: ...


class BadSummary(ValueError):
    """The model's answer cannot be shown: why, in words for the log."""


def prompt(cluster: TopicCluster, group_topic: str) -> tuple[str, tuple[MessageLine, ...]]:
    """The user message for ``cluster`` and the messages it numbers (1 is the first)."""
    shown = _chosen(cluster)
    lines = [
        f"Group topic: {group_topic or '-'}",
        f"Topic key terms: {', '.join(cluster.terms) or cluster.name}",
        "Messages:",
    ]
    for n, m in enumerate(shown, 1):
        text = _WS.sub(" ", m.text).strip()[:MAX_MESSAGE_CHARS]
        lines.append(f"{n}. {text}" + (f" (x{m.count})" if m.count > 1 else ""))
    return "\n".join(lines), shown


def _chosen(cluster: TopicCluster) -> tuple[MessageLine, ...]:
    """Up to :data:`MAX_MESSAGES` of the cluster's messages by time, its best one always among them."""
    if len(cluster.messages) <= MAX_MESSAGES:
        return cluster.messages
    first = list(cluster.messages[:MAX_MESSAGES])
    if all(m.id != cluster.best.id for m in first):
        first[-1] = cluster.best
        first.sort(key=lambda m: cluster.messages.index(m))
    return tuple(first)


def parse(answer: str, shown: Sequence[MessageLine]) -> tuple[str, tuple[str, ...]]:
    """``(sentence, source ids)`` from the model's answer; :class:`BadSummary` when it cannot be shown."""
    text = _THINKING.sub("", answer)
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise BadSummary("the answer is not a JSON object")
    try:
        obj = json.loads(text[start : end + 1])
    except ValueError:
        raise BadSummary("the answer is not valid JSON") from None
    if not isinstance(obj, dict):
        raise BadSummary("the answer is not a JSON object")
    summary, sources = obj.get("summary"), obj.get("sources")
    if not isinstance(summary, str):
        raise BadSummary('no "summary" string')
    sentence = _WS.sub(" ", summary).strip()
    if not sentence:
        raise BadSummary("the summary is empty")
    if len(sentence) > MAX_SUMMARY_CHARS:
        raise BadSummary(f"the summary has {len(sentence)} characters (at most {MAX_SUMMARY_CHARS}): not one sentence")
    if not isinstance(sources, list) or not sources:
        raise BadSummary("the summary cites no message")
    ids: list[str] = []
    for s in sources:
        n = _number(s)
        if n is None or not 1 <= n <= len(shown):
            raise BadSummary(f"the summary cites {s!r}, not one of the topic's messages 1..{len(shown)}")
        if shown[n - 1].id not in ids:
            ids.append(shown[n - 1].id)
    return mask(sentence), tuple(ids)


def _number(source: object) -> int | None:
    if isinstance(source, bool):
        return None
    if isinstance(source, int):
        return source
    if isinstance(source, str) and source.strip().isdecimal():
        return int(source.strip())
    return None


def summarise(
    clusters: Sequence[TopicCluster], group_topic: str, client: Completer, *, max_topics: int | None = None
) -> tuple[TopicCluster, ...]:
    """``clusters`` with a :class:`Summary` on each of the first ``max_topics`` (all when None) the
    model summarised faithfully; the others as they were."""
    out = list(clusters)
    for i, cluster in enumerate(out[:max_topics]):
        user, shown = prompt(cluster, group_topic)
        try:
            answer = client.complete(SYSTEM_PROMPT, user)
        except LlmError as e:
            if e.unavailable:
                log.warning("llm: no summaries for the rest of this digest (%s)", e.reason)
                break
            continue
        try:
            sentence, sources = parse(answer.text, shown)
        except BadSummary as e:
            LLM_SUMMARIES.labels("dropped").inc()
            log.warning("llm: dropped %s's summary of topic %r: %s", answer.model, cluster.name, e)
            continue
        LLM_SUMMARIES.labels("attached").inc()
        out[i] = dataclasses.replace(cluster, summary=Summary(sentence, answer.model, sources))
    return tuple(out)
