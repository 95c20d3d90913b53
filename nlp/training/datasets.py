"""Loaders for the shared labelled data, and the one deterministic train/dev/test split. Stdlib only.

The data lives outside the repository (read-only, never copied in). Its folder is, in order: the
``data_dir`` argument, ``$QUNZHI_DATA``, or ``../shared/data`` next to the repository root. A missing
folder or file raises :class:`DatasetMissing` (a ``FileNotFoundError``) naming the path, so callers and
tests can skip cleanly.

Every loader yields :class:`Example` ``(text, label)`` and reads lazily. The binary ad sets use the
verdict labels ``"ad"`` / ``"normal"``.

``split_of(text)`` puts a text in ``"train"`` (~70%), ``"dev"`` (~10%) or ``"test"`` (~20%) by a stable
hash of its normalised form, so exact and near-exact duplicates (width, case, spacing, zero-width
characters) always land on the same side. Tune on ``train``, choose on ``dev``, report ``test``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal, NamedTuple

from nlp.normalize import normalize

__all__ = [
    "AD_DATASETS",
    "DEFAULT_SEED",
    "DatasetMissing",
    "Example",
    "Split",
    "data_dir",
    "lccc_utterances",
    "load",
    "nus_sms_records",
    "nus_sms_zh",
    "qq_group_ads",
    "smp_ecdt_intent",
    "sms_spam_80w",
    "hash_split",
    "split",
    "split_of",
    "thucnews_titles",
    "tnews",
    "game_chat_ads",
    "telecom_fraud_texts",
    "long_texts",
    "LONG_TEXT_DATASETS",
    "whu_news_snippets",
]

Split = Literal["train", "dev", "test"]
DEFAULT_SEED = "qunzhi-1"
TEST_FRACTION = 0.20
DEV_FRACTION = 0.10
_BUCKETS = 10_000

_REPO_ROOT = Path(__file__).resolve().parents[2]


class Example(NamedTuple):
    text: str
    label: str


class DatasetMissing(FileNotFoundError):
    """The shared data folder, or one file in it, is not there."""


def data_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The shared data folder: ``path``, else ``$QUNZHI_DATA``, else ``<repo>/../shared/data``."""
    if path is not None:
        return Path(path)
    env = os.environ.get("QUNZHI_DATA")
    if env:
        return Path(env)
    return _REPO_ROOT.parent / "shared" / "data"


def _file(data: str | os.PathLike[str] | None, *parts: str) -> Path:
    root = data_dir(data)
    path = root.joinpath(*parts)
    if not path.is_file():
        raise DatasetMissing(f"{path}: not found (set QUNZHI_DATA or pass data_dir to point at shared/data)")
    return path


# --- the split ---------------------------------------------------------------------------------


def _split_key(text: str) -> str:
    return "".join(normalize(text).text.casefold().split())


def hash_split(text: str, seed: str, test_fraction: float, dev_fraction: float) -> Split:
    """The project's one hash split: ``text``'s normalised key hashed with ``seed`` into one of
    10,000 buckets, the first ``test_fraction`` of them ``"test"``, the next ``dev_fraction``
    ``"dev"``, the rest ``"train"``. :func:`split_of` and :func:`nlp.training.ner_data.ner_split`
    are this with their own seed and fractions."""
    digest = hashlib.blake2b(f"{seed}\x00{_split_key(text)}".encode(), digest_size=8).digest()
    bucket = int.from_bytes(digest, "big") % _BUCKETS
    if bucket < test_fraction * _BUCKETS:
        return "test"
    if bucket < (test_fraction + dev_fraction) * _BUCKETS:
        return "dev"
    return "train"


def split_of(text: str, seed: str = DEFAULT_SEED) -> Split:
    """``"train"``, ``"dev"`` or ``"test"`` for ``text``, stable across runs, machines and Python versions."""
    return hash_split(text, seed, TEST_FRACTION, DEV_FRACTION)


def split(examples: Iterable[Example], part: Split, seed: str = DEFAULT_SEED) -> Iterator[Example]:
    """The examples of one part of the split."""
    if part not in ("train", "dev", "test"):
        raise ValueError(f"part must be train, dev or test, got {part!r}")
    return (ex for ex in examples if split_of(ex.text, seed) == part)


# --- loaders -----------------------------------------------------------------------------------


def _tsv(path: Path) -> Iterator[tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        header = f.readline().rstrip("\r\n").split("\t")
        if header[:2] != ["label", "text"]:
            raise ValueError(f"{path}: expected a 'label<TAB>text' header, got {header!r}")
        for lineno, line in enumerate(f, start=2):
            line = line.rstrip("\r\n")
            if not line:
                continue
            label, sep, text = line.partition("\t")
            if not sep:
                raise ValueError(f"{path}:{lineno}: no tab")
            if text.strip():
                yield label, text


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


_AD_LABELS = {"1": "ad", "0": "normal"}


def qq_group_ads(data: str | os.PathLike[str] | None = None) -> Iterator[Example]:
    """QQ group (Minecraft community) chat: label ``"ad"`` or ``"normal"``."""
    for label, text in _tsv(_file(data, "qq_group_ads", "train.tsv")):
        yield Example(text, _AD_LABELS[label])


def sms_spam_80w(data: str | os.PathLike[str] | None = None) -> Iterator[Example]:
    """Chinese SMS spam/ham, digits masked as ``x``: label ``"ad"`` (spam) or ``"normal"``."""
    for label, text in _tsv(_file(data, "sms_spam_80w", "train.tsv")):
        yield Example(text, _AD_LABELS[label])


def nus_sms_records(data: str | os.PathLike[str] | None = None) -> Iterator[dict[str, Any]]:
    """NUS SMS corpus (Chinese) records as they are: id, user_id, text, age, gender, city, ..."""
    yield from _jsonl(_file(data, "nus_sms_zh", "messages.jsonl"))


def nus_sms_zh(data: str | os.PathLike[str] | None = None) -> Iterator[Example]:
    """Real personal SMS, all ``"normal"`` (no ads): realistic negatives."""
    for rec in nus_sms_records(data):
        text = rec.get("text") or ""
        if text.strip():
            yield Example(text, "normal")


def lccc_utterances(data: str | os.PathLike[str] | None = None) -> Iterator[Example]:
    """Unique LCCC chit-chat utterances, label ``"chitchat"``."""
    seen: set[str] = set()
    for rec in _jsonl(_file(data, "lccc_chitchat", "dialogs.jsonl")):
        for turn in rec.get("turns", ()):
            if turn and turn not in seen:
                seen.add(turn)
                yield Example(turn, "chitchat")


def thucnews_titles(data: str | os.PathLike[str] | None = None) -> Iterator[Example]:
    """News headlines, label one of ten categories (``sports``, ``finance``, ...)."""
    for label, text in _tsv(_file(data, "thucnews_titles", "train.tsv")):
        yield Example(text, label)


def tnews(data: str | os.PathLike[str] | None = None) -> Iterator[Example]:
    """Toutiao headlines, label the CLUE ``label_desc`` (``news_tech``, ...)."""
    for rec in _jsonl(_file(data, "tnews", "train.jsonl")):
        yield Example(rec["sentence"], rec["label_desc"])


def smp_ecdt_intent(
    data: str | os.PathLike[str] | None = None, part: Literal["train", "dev"] = "train"
) -> Iterator[Example]:
    """SMP2017-ECDT user queries, label one of 31 domains (``chat`` is chit-chat)."""
    if part not in ("train", "dev"):
        raise ValueError(f"part must be train or dev, got {part!r}")
    for label, text in _tsv(_file(data, "smp_ecdt_intent", f"smp2017_{part}.tsv")):
        yield Example(text, label)


# --- round 2: more ad sources and long ordinary texts (see each folder's SOURCE.md) --------------


def _named_tsv(path: Path) -> Iterator[dict[str, str]]:
    """Rows of a TSV with a header line (``text\tlabel\t...``) as dicts; no quoting, no escapes read."""
    with path.open(encoding="utf-8", newline="") as f:
        header = f.readline().rstrip("\r\n").split("\t")
        if header[:2] != ["text", "label"]:
            raise ValueError(f"{path}: expected a 'text<TAB>label...' header, got {header!r}")
        for lineno, line in enumerate(f, start=2):
            parts = line.rstrip("\r\n").split("\t")
            if parts == [""]:
                continue
            if len(parts) != len(header):
                raise ValueError(f"{path}:{lineno}: {len(parts)} fields, header has {len(header)}")
            row = dict(zip(header, parts))
            if row["text"].strip():
                yield row


def game_chat_ads(data: str | os.PathLike[str] | None = None) -> Iterator[tuple[str, str, bool]]:
    """Mobile-game world chat as ``(text, "ad"|"normal", contact_cue)``: labels as published (label
    ``normal`` is noisy where ``contact_cue`` is set: ``nlp.training.corpus`` cleans it)."""
    for row in _named_tsv(_file(data, "game_chat_ads_train", "data.tsv")):
        yield row["text"], _AD_LABELS[row["label"]], row["contact_cue"] == "1"


def telecom_fraud_texts(data: str | os.PathLike[str] | None = None) -> Iterator[Example]:
    """Telecom fraud scripts, label the fraud type (``fraud_*``) or ``normal_sms`` (mostly marketing:
    not negatives)."""
    for row in _named_tsv(_file(data, "telecom_fraud_texts5", "data.tsv")):
        yield Example(row["text"], row["label"])


def whu_news_snippets(data: str | os.PathLike[str] | None = None) -> Iterator[Example]:
    """The ``news_portal`` snippets of ``whu_addetector_snippets`` (label ``normal``); its promo
    snippets are article-level labels, not ads, and are not read."""
    for row in _named_tsv(_file(data, "whu_addetector_snippets", "data.tsv")):
        if row["label"] == "news_portal":
            yield Example(row["text"], "normal")


# folder -> (file, kinds kept): JSONL where texts keep their newlines, TSV where they have none.
LONG_TEXT_DATASETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "cmrc2018_passages": ("passages.tsv", ("normal_long",)),
    "drcd_passages_zhs": ("passages.tsv", ("normal_long",)),
    "csl_abstracts": ("data.jsonl", ("paper_abstract", "paper_title")),
    "howtocook_recipes": ("data.jsonl", ("recipe", "cooking_tip")),
    "leetcode_cn_texts": ("data.jsonl", ("problem_statement", "solution_with_code", "solution_text")),
    "advanced_java_docs": ("data.jsonl", ("tech_doc_section",)),
    "reviews_long": ("data.tsv", ("shopping_review", "dianping_meituan_review", "hotel_review")),
}


def long_texts(name: str, data: str | os.PathLike[str] | None = None) -> Iterator[Example]:
    """Ordinary (non-ad) texts of a long-text folder as ``Example(text, kind)``; the kind is the
    folder's ``kind`` column, or ``normal_long`` / ``question`` for the two reading-comprehension sets
    (their ``questions.tsv`` too, as ``question``)."""
    file, kinds = LONG_TEXT_DATASETS[name]
    path = _file(data, name, file)
    rows = _jsonl(path) if file.endswith(".jsonl") else _named_tsv(path)
    for row in rows:
        kind = row.get("kind") or row["label"]
        if kind in kinds and row["text"].strip():
            yield Example(row["text"], kind)
    if name in ("cmrc2018_passages", "drcd_passages_zhs"):
        for row in _named_tsv(_file(data, name, "questions.tsv")):
            yield Example(row["text"], "question")


AD_DATASETS = ("qq_group_ads", "sms_spam_80w")
_LOADERS = {
    "qq_group_ads": qq_group_ads,
    "sms_spam_80w": sms_spam_80w,
    "nus_sms_zh": nus_sms_zh,
    "lccc_chitchat": lccc_utterances,
    "thucnews_titles": thucnews_titles,
    "tnews": tnews,
    "smp_ecdt_intent": smp_ecdt_intent,
}


def load(name: str, data: str | os.PathLike[str] | None = None) -> Iterator[Example]:
    """A loader by dataset folder name."""
    try:
        loader = _LOADERS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(sorted(_LOADERS))}") from None
    return loader(data)
