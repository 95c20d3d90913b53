"""BIO tags of the NER heads: each head's entity types, and entities read out of a tag sequence. Stdlib only.

Run time (:mod:`nlp.ner`) decodes with these; training (:mod:`nlp.training.ner_data`,
:mod:`nlp.training.train_ner`) reads its data sets and scores with the same ones.

``chunks(tags)`` reads entities the way seqeval/conlleval do by default (an ``I-X`` after ``O`` or
after another type opens an entity).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["HEAD_TYPES", "chunks"]

# head (the data set it was trained on) -> its entity types, in the order the head's labels use
HEAD_TYPES: dict[str, tuple[str, ...]] = {
    "msra": ("PER", "LOC", "ORG"),
    "cluener": (
        "name",
        "organization",
        "address",
        "company",
        "government",
        "game",
        "book",
        "movie",
        "position",
        "scene",
    ),
    "weibo": ("PER.NAM", "PER.NOM", "LOC.NAM", "LOC.NOM", "ORG.NAM", "ORG.NOM", "GPE.NAM", "GPE.NOM"),
}


def _split_tag(tag: str) -> tuple[str, str]:
    if tag == "O" or len(tag) < 2 or tag[1] != "-":
        return "O", ""
    return tag[0], tag[2:]


def chunks(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """``(type, start, end)`` (end exclusive) for each entity, conlleval/seqeval default rules (IOB2;
    ``E-``/``S-`` read as ``I-``/``B-``)."""
    out: list[tuple[str, int, int]] = []
    cur_type = ""
    start = -1
    for i, tag in enumerate(tags):
        prefix, typ = _split_tag(tag)
        if prefix == "S":
            prefix = "B"
        if prefix == "E":
            prefix = "I"
        begins = prefix == "B" or (prefix == "I" and typ != cur_type)
        if cur_type and (prefix == "O" or begins):
            out.append((cur_type, start, i))
            cur_type = ""
        if begins:
            cur_type, start = typ, i
    if cur_type:
        out.append((cur_type, start, len(tags)))
    return out
