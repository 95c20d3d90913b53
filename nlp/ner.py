"""Named entities from the shared encoder: one token per character, a small trained top, BIO heads.

The shared encoder (``models/qunzhi``: embeddings and its lower ``frozen_layers`` transformer layers,
weights untouched) reads a text fed **one token per character**: each character (NFKC-folded for the
lookup only) becomes the id of its own piece in the pruned vocabulary (``c`` or ``▁c``), unknown
characters ``<unk>``, whitespace ``▁``. Token ``i + 1`` is character ``i`` of the original text, so
entity offsets are exact character offsets, ``end`` exclusive.

On top sit the NER weights (``ner.safetensors``, a few MB): ``top_layers`` transformer layers
initialised from the encoder's next layers and fine-tuned, and one linear BIO head per training set
(``msra``: PER/LOC/ORG; ``cluener``: its ten types; ``weibo``: PER/LOC/ORG/GPE × NAM/NOM). Decoding is
Viterbi over the head's softmax with the BIO constraint (no ``I-X`` unless after ``B-X``/``I-X``).
A head trained with ``word_features`` (``ner.json``) also reads jieba's word cues per character
(``nlp/words.py``: position in the word and its coarse part of speech), added to the lower states;
one trained with ``lexicon_features`` also reads, per character, every dictionary word that covers
it (begin/middle/end × person/place/organisation/abbreviation/proper/other, a bitmask projected
to the hidden size).
The shipped head keeps only the embeddings frozen (``frozen_layers = 0``) and trains all six layers.

    ner = NerModel.load("var/ner/model", encoder_dir="models/qunzhi", threads=2)
    ner.extract(["王小明明天去北京大学开会"])
    # [[Entity(type='PER', start=0, end=3, text='王小明', score=0.99, source='ner'), ...]]

By default ``extract`` returns ``PER``/``LOC``/``ORG`` from the MSRA head and CLUENER's finer types
(``company``, ``government``, ``game``, ``book``, ``movie``, ``position``, ``scene``, ``address``) from
the CLUENER head; where two entities overlap, the higher score wins.

Training lives in ``nlp/training/train_ner.py`` and never runs at import.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from nlp.bio import HEAD_TYPES, chunks
from nlp.errors import ModelError
from nlp.verdict import Entity

if TYPE_CHECKING:
    from transformers import BertModel

__all__ = [
    "CharTokenizer",
    "DEFAULT_OUTPUT",
    "LowerEncoder",
    "NerModel",
    "NerNet",
    "additive_mask",
    "bio_labels",
    "lower_digest",
    "net_from_config",
    "viterbi_bio",
    "word_feature_batch",
    "word_feature_tensor",
]

WEIGHTS_FILE = "ner.safetensors"
CONFIG_FILE = "ner.json"
MANIFEST_FILE = "manifest.json"
MAX_CHARS = 200  # longer texts are read in windows of this many characters

# head -> {its type: the type extract() reports}; types not listed are not reported by default.
DEFAULT_OUTPUT: dict[str, dict[str, str]] = {
    "msra": {"PER": "PER", "LOC": "LOC", "ORG": "ORG"},
    "cluener": {t: t for t in ("company", "government", "game", "book", "movie", "position", "scene", "address")},
}


def bio_labels(types: Sequence[str]) -> tuple[str, ...]:
    """``("O", "B-T1", "I-T1", "B-T2", ...)``."""
    return ("O",) + tuple(f"{p}-{t}" for t in types for p in ("B", "I"))


# --- one token per character ---------------------------------------------------------------------


class CharTokenizer:
    """Maps each character of a text to the id of its own piece; no merging, no normalisation of
    the text itself (offsets stay exact)."""

    def __init__(self, vocab: Mapping[str, int], *, unk: int, bos: int, eos: int, pad: int, space: int) -> None:
        self.vocab = dict(vocab)
        self.unk, self.bos, self.eos, self.pad, self.space = unk, bos, eos, pad, space
        self._cache: dict[str, int] = {}

    @classmethod
    def from_dir(cls, model_dir: str | Path) -> CharTokenizer:
        """From a transformers ``tokenizer.json`` (the XLM-R unigram vocabulary of the encoder)."""
        path = Path(model_dir) / "tokenizer.json"
        try:
            spec = json.loads(path.read_text("utf-8"))
            pieces = [p for p, _ in spec["model"]["vocab"]]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ModelError(f"{path}: not a unigram tokenizer.json: {e}") from None
        vocab = {p: i for i, p in enumerate(pieces)}

        def need(p: str, default: int | None = None) -> int:
            if p in vocab:
                return vocab[p]
            if default is not None:
                return default
            raise ModelError(f"{path}: the vocabulary has no {p!r}")

        unk = spec["model"].get("unk_id")
        unk = need("<unk>") if unk is None else int(unk)
        return cls(vocab, unk=unk, bos=need("<s>"), eos=need("</s>"), pad=need("<pad>"), space=need("▁", unk))

    def char_id(self, ch: str) -> int:
        hit = self._cache.get(ch)
        if hit is not None:
            return hit
        if ch.isspace():
            i = self.space
        else:
            n = unicodedata.normalize("NFKC", ch)
            i = self.unk
            for cand in (n, "▁" + n, n[:1], "▁" + n[:1]):
                if cand and cand in self.vocab:
                    i = self.vocab[cand]
                    break
        self._cache[ch] = i
        return i

    def ids(self, units: Sequence[str] | str) -> list[int]:
        """``<s>``, one id per unit (a character, or a short token's first character), ``</s>``."""
        return [self.bos] + [self.char_id(u[:1] if len(u) > 1 and not u.isspace() else u) for u in units] + [self.eos]


# --- the network ---------------------------------------------------------------------------------


def additive_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``(B, L)`` 0/1 → ``(B, 1, 1, L)`` additive mask for a BertLayer."""
    m = mask[:, None, None, :].to(dtype)
    return (1.0 - m) * torch.finfo(dtype).min


class LowerEncoder(nn.Module):
    """Embeddings and the first ``n`` layers of a transformers BertModel (modules shared, not copied)."""

    def __init__(self, bert: BertModel, n: int) -> None:
        super().__init__()
        if not 0 <= n <= len(bert.encoder.layer):
            raise ValueError(f"frozen layers must be within 0..{len(bert.encoder.layer)}, got {n}")
        self.embeddings = bert.embeddings
        self.layers = nn.ModuleList(list(bert.encoder.layer[:n]))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        h: torch.Tensor = self.embeddings(input_ids=input_ids)
        ext = additive_mask(attention_mask, h.dtype)
        for layer in self.layers:
            h = _out(layer(h, attention_mask=ext))
        return h


def _out(x: Any) -> torch.Tensor:
    return cast(torch.Tensor, x[0] if isinstance(x, tuple) else x)


def lower_digest(lower: nn.Module) -> str:
    """sha256 over the fp16 bytes of the lower encoder's weights: names the shared part exactly."""
    h = hashlib.sha256()
    for name, t in sorted(lower.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().to(torch.float16).contiguous().numpy().tobytes())
    return h.hexdigest()


class NerNet(nn.Module):
    """Trainable top: ``top_layers`` BertLayers and one linear BIO head per dataset."""

    lexicon_shifts: torch.Tensor  # a buffer, registered with the lexicon features

    def __init__(
        self,
        config: Any,
        top_layers: int,
        heads: Mapping[str, Sequence[str]],
        dropout: float = 0.1,
        word_features: bool = False,
        lexicon_features: bool = False,
    ) -> None:
        super().__init__()
        from transformers.models.bert.modeling_bert import BertLayer

        from nlp.words import BMES, LEXICON_BITS, POS_CLASSES

        if getattr(config, "_attn_implementation", None) is None:
            config._attn_implementation = "sdpa"
        self.layers = nn.ModuleList([BertLayer(config) for _ in range(top_layers)])
        # jieba's word cues (nlp.words), added to the lower states; zero at start, so an untrained
        # cue changes nothing
        self.word_features = word_features
        if word_features:
            self.bmes = nn.Embedding(len(BMES), config.hidden_size)
            self.pos = nn.Embedding(len(POS_CLASSES), config.hidden_size)
            nn.init.zeros_(self.bmes.weight)
            nn.init.zeros_(self.pos.weight)
        # every dictionary word covering a character (nlp.words.char_lexicon_features): a bitmask,
        # unpacked and projected; zero at start too
        if lexicon_features and not word_features:
            raise ValueError("lexicon_features come on top of word_features")
        self.lexicon_features = lexicon_features
        if lexicon_features:
            self.lexicon = nn.Linear(LEXICON_BITS, config.hidden_size, bias=False)
            nn.init.zeros_(self.lexicon.weight)
            self.register_buffer("lexicon_shifts", torch.arange(LEXICON_BITS), persistent=False)
        self.dropout = nn.Dropout(dropout)
        self.head_types = {name: tuple(types) for name, types in heads.items()}
        self.heads = nn.ModuleDict(
            {name: nn.Linear(config.hidden_size, len(bio_labels(types))) for name, types in heads.items()}
        )

    def forward(
        self,
        hidden: torch.Tensor,
        mask: torch.Tensor,
        heads: Sequence[str] | None = None,
        words: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """``words``: ``(B, L, 2)`` BMES and part-of-speech ids per token, required when the net
        was built with ``word_features``; ``(B, L, 3)``, the lexicon bitmask last, with
        ``lexicon_features``."""
        ext = additive_mask(mask, hidden.dtype)
        h = hidden
        if self.word_features:
            if words is None:
                raise ValueError("this NER net reads jieba word features: pass words=")
            h = h + self.bmes(words[..., 0]).to(h.dtype) + self.pos(words[..., 1]).to(h.dtype)
            if self.lexicon_features:
                if words.shape[-1] < 3:
                    raise ValueError("this NER net reads the lexicon bitmask too: words must be (B, L, 3)")
                bits = (words[..., 2:3] >> self.lexicon_shifts) & 1
                h = h + self.lexicon(bits.to(h.dtype))
        for layer in self.layers:
            h = _out(layer(h, attention_mask=ext))
        h = self.dropout(h)
        return {name: self.heads[name](h) for name in (heads or self.heads.keys())}


# --- decoding ------------------------------------------------------------------------------------


def _allowed(labels: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(start_ok[T], trans_ok[T, T])``: BIO constraints for Viterbi."""
    n = len(labels)
    start = torch.ones(n, dtype=torch.bool)
    trans = torch.ones(n, n, dtype=torch.bool)
    for j, lab in enumerate(labels):
        if lab.startswith("I-"):
            start[j] = False
            for i, prev in enumerate(labels):
                trans[i, j] = prev[2:] == lab[2:] and prev[:2] in ("B-", "I-")
    return start, trans


_ALLOWED_CACHE: dict[tuple[str, ...], tuple[torch.Tensor, torch.Tensor]] = {}


def viterbi_bio(logp: torch.Tensor, labels: Sequence[str]) -> list[int]:
    """Best label path of ``logp`` (``(L, T)`` log-probabilities) under the BIO constraint."""
    key = tuple(labels)
    if key not in _ALLOWED_CACHE:
        _ALLOWED_CACHE[key] = _allowed(labels)
    start_ok, trans_ok = _ALLOWED_CACHE[key]
    neg = torch.tensor(-1e9, dtype=logp.dtype)
    trans = torch.where(trans_ok, torch.tensor(0.0, dtype=logp.dtype), neg)
    length = logp.shape[0]
    if length == 0:
        return []
    score = torch.where(start_ok, logp[0], neg)
    back = []
    for t in range(1, length):
        cand = score[:, None] + trans  # (prev, cur)
        best, idx = cand.max(0)
        score = best + logp[t]
        back.append(idx)
    path = [int(score.argmax())]
    for idx in reversed(back):
        path.append(int(idx[path[-1]]))
    return path[::-1]


# --- loading and inference -----------------------------------------------------------------------


@dataclass(slots=True)
class NerModel:
    lower: LowerEncoder
    net: NerNet
    tokenizer: CharTokenizer
    config: dict[str, Any]
    name: str = ""

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        encoder_dir: str | Path = "models/qunzhi",
        *,
        threads: int | None = None,
        int8: bool = False,
        check_encoder: bool = True,
    ) -> NerModel:
        """NER weights from ``model_dir`` over the shared encoder of ``encoder_dir`` (a qunzhi model
        directory, as :func:`nlp.model.load` reads it). With ``check_encoder`` a shared encoder whose
        lower layers differ from the ones the head was trained on is refused."""
        from nlp.model import check_model_dir, load as load_qunzhi, load_weights

        if threads:
            torch.set_num_threads(threads)
        model_dir = Path(model_dir)
        check_model_dir(model_dir, (CONFIG_FILE, WEIGHTS_FILE), setting="models.ner_path")
        try:
            cfg = json.loads((model_dir / CONFIG_FILE).read_text("utf-8"))
        except (OSError, ValueError) as e:
            raise ModelError(f"{model_dir / CONFIG_FILE}: not readable JSON: {e}") from None
        qnet, _, _ = load_qunzhi(encoder_dir)
        bert = qnet.encoder
        lower = LowerEncoder(bert, int(cfg["frozen_layers"]))
        if check_encoder and cfg.get("lower_sha256"):
            got = lower_digest(lower)
            if got != cfg["lower_sha256"]:
                raise ModelError(
                    f"{model_dir}: trained on a shared encoder whose lower {cfg['frozen_layers']} layers differ "
                    f"from {encoder_dir} (sha256 {got[:12]} != {cfg['lower_sha256'][:12]}); retrain with "
                    "`python -m nlp.training.train_ner`"
                )
        net = net_from_config(bert.config, cfg)
        load_weights(net, model_dir / WEIGHTS_FILE)
        lower.eval()
        net.eval()
        if int8:
            from nlp.encoder import quantize_int8

            lower = quantize_int8(lower)
            net = quantize_int8(net)
        return cls(lower, net, CharTokenizer.from_dir(encoder_dir), cfg, name=str(cfg.get("version", "")))

    @torch.inference_mode()
    def tag(
        self, texts: Sequence[str], heads: Sequence[str] | None = None, batch_size: int = 32
    ) -> list[dict[str, list[tuple[str, int, int, float]]]]:
        """Per text, per head: ``(type, start, end, score)`` in that head's own types."""
        heads = list(heads or self.net.heads.keys())
        # split into windows of at most MAX_CHARS characters
        windows: list[tuple[int, int, str]] = []  # (text index, offset, piece)
        for i, text in enumerate(texts):
            for off in range(0, max(len(text), 1), MAX_CHARS):
                windows.append((i, off, text[off : off + MAX_CHARS]))
        out: list[dict[str, list[tuple[str, int, int, float]]]] = [{h: [] for h in heads} for _ in texts]
        order = sorted(range(len(windows)), key=lambda k: len(windows[k][2]))
        for b in range(0, len(order), batch_size):
            batch = [windows[k] for k in order[b : b + batch_size]]
            ids = [self.tokenizer.ids(piece) for _, _, piece in batch]
            width = max(len(x) for x in ids)
            input_ids = torch.full((len(ids), width), self.tokenizer.pad, dtype=torch.long)
            mask = torch.zeros((len(ids), width), dtype=torch.long)
            for r, x in enumerate(ids):
                input_ids[r, : len(x)] = torch.tensor(x)
                mask[r, : len(x)] = 1
            hidden = self.lower(input_ids, mask)
            words = (
                word_feature_batch([piece for _, _, piece in batch], width, lexicon=self.net.lexicon_features)
                if self.net.word_features
                else None
            )
            logits = self.net(hidden, mask, heads, words)
            for name in heads:
                labels = bio_labels(self.net.head_types[name])
                logp = torch.log_softmax(logits[name].float(), dim=-1)
                for r, (ti, off, piece) in enumerate(batch):
                    n = len(piece)
                    lp = logp[r, 1 : n + 1]
                    path = viterbi_bio(lp, labels)
                    probs = lp.exp()
                    tags = [labels[j] for j in path]
                    for typ, s, e in chunks(tags):
                        p = float(sum(probs[t, path[t]] for t in range(s, e)) / (e - s))
                        out[ti][name].append((typ, off + s, off + e, p))
        return out

    def extract(
        self,
        texts: Sequence[str],
        output: Mapping[str, Mapping[str, str]] | None = None,
        batch_size: int = 32,
        min_score: float = 0.0,
    ) -> list[list[Entity]]:
        """Entities per text, sorted by start; overlaps resolved in favour of the higher score."""
        output = DEFAULT_OUTPUT if output is None else output
        heads = [h for h in output if h in self.net.heads]
        tagged = self.tag(texts, heads, batch_size)
        result: list[list[Entity]] = []
        for text, per_head in zip(texts, tagged):
            cands = [
                (score, -(e - s), s, e, output[h][typ])
                for h, found in per_head.items()
                for typ, s, e, score in found
                if typ in output[h] and score >= min_score
            ]
            cands.sort(reverse=True)
            taken: list[tuple[int, int, str, float]] = []
            for score, _, s, e, typ in cands:
                if all(e <= ts or s >= te for ts, te, _, _ in taken):
                    taken.append((s, e, typ, score))
            taken.sort()
            result.append(
                [Entity(typ, s, e, text[s:e], round(min(max(score, 0.0), 1.0), 4), "ner") for s, e, typ, score in taken]
            )
        return result


def word_feature_batch(texts: Sequence[str | Sequence[str]], width: int, *, lexicon: bool = False) -> torch.Tensor:
    """``(B, width, 2)`` long (``3`` with ``lexicon``): jieba's word cues of each text (a string, or
    its units), token ``i + 1`` for unit ``i`` as the char tokenizer lays them out; zeros for
    ``<s>``, ``</s>`` and padding."""
    from nlp.words import unit_word_features

    return word_feature_tensor([unit_word_features(list(text), lexicon=lexicon) for text in texts], width)


def word_feature_tensor(feats: Sequence[Sequence[Sequence[int]]], width: int) -> torch.Tensor:
    """``(B, width, K)`` long from per-text tuples of K id lists (``(bmes, pos)`` or
    ``(bmes, pos, lexicon)``), laid out as :func:`word_feature_batch` does."""
    k = len(feats[0]) if feats else 2
    out = torch.zeros((len(feats), width, k), dtype=torch.long)
    for r, cols in enumerate(feats):
        if len(cols) != k:
            raise ValueError(f"word features: {len(cols)} columns for one text, {k} for another")
        n = len(cols[0])
        if n:
            out[r, 1 : n + 1] = torch.tensor(list(zip(*cols)), dtype=torch.long)
    return out


# the cue versions this code computes (nlp/words.py); a model asking for another is refused
WORD_FEATURES = "jieba-posseg-1"
LEXICON_FEATURES = "jieba-dag-1"


def net_from_config(bert_config: Any, cfg: Mapping[str, Any], dropout: float = 0.0) -> NerNet:
    """The :class:`NerNet` an ``ner.json`` describes (weights not loaded)."""
    for key, known in (("word_features", WORD_FEATURES), ("lexicon_features", LEXICON_FEATURES)):
        if cfg.get(key) and cfg[key] != known:
            raise ModelError(f"ner.json asks for {key} {cfg[key]!r}; this code computes {known!r}")
    return NerNet(
        bert_config,
        int(cfg["top_layers"]),
        cfg["heads"],
        dropout=dropout,
        word_features=bool(cfg.get("word_features")),
        lexicon_features=bool(cfg.get("lexicon_features")),
    )


def default_heads() -> dict[str, tuple[str, ...]]:
    return dict(HEAD_TYPES)
