"""The HTML digest's two pictures, drawn with matplotlib (Agg, no pyplot, imported on first use)
and embedded as ``data:image/png;base64,…`` URIs: no file, no external asset.

- :func:`activity_png`: messages per local hour, stacked useful / other / ads.
- :func:`topics_png`: horizontal bars, one per topic keyword.

Keywords are Chinese: the bars are labelled with a CJK font when the machine has one (Noto Sans
CJK, Source Han Sans, WenQuanYi, Microsoft YaHei, PingFang, SimHei, …). Without one the bars carry
their rank (1, 2, …) and the page names them beside the picture, so no label ever shows as boxes.
Colours read on light and dark pages alike (transparent background, mid-grey text).
"""

from __future__ import annotations

import base64
import functools
import io
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup

from bot.digest.data import HourCount, Topic

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOURS = {"useful": "#07c160", "other": "#9aa4ae", "ads": "#cf222e"}
TEXT = "#7d8590"
_CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei", "Microsoft YaHei", "PingFang SC", "Hiragino Sans GB", "SimHei", "Heiti SC",
    "Noto Sans CJK JP", "Noto Serif CJK SC", "AR PL UMing CN", "Droid Sans Fallback",
)
DPI = 100


@functools.lru_cache(maxsize=1)
def _mpl() -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    return Figure, FigureCanvasAgg


@functools.lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of an installed font with Chinese glyphs, or None."""
    _mpl()
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    for family in _CJK_FAMILIES:
        if family in names:
            return family
    return next((n for n in sorted(names) if any(k in n for k in ("CJK", "Han Sans", "Hei", "WenQuanYi", "Ming"))), None)


def _png(fig: Any) -> bytes:
    _, canvas_cls = _mpl()
    canvas_cls(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, transparent=True)
    return buf.getvalue()


def _axes(fig: Any) -> Any:
    ax = fig.add_subplot(1, 1, 1)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(TEXT)
    ax.tick_params(colors=TEXT, labelsize=9)
    return ax


def activity_png(hours: Sequence[HourCount]) -> bytes:
    """Messages per hour, stacked: useful (green), other (grey), ads (red)."""
    figure_cls, _ = _mpl()
    fig = figure_cls(figsize=(7.2, 2.4), layout="constrained")
    ax = _axes(fig)
    xs = [h.hour for h in hours]
    useful = [h.useful for h in hours]
    other = [h.other for h in hours]
    ads = [h.ads for h in hours]
    ax.bar(xs, useful, color=COLOURS["useful"], width=0.8, label="useful")
    ax.bar(xs, other, bottom=useful, color=COLOURS["other"], width=0.8, label="other")
    ax.bar(xs, ads, bottom=[u + o for u, o in zip(useful, other)], color=COLOURS["ads"], width=0.8, label="ads")
    ax.set_xlim(-0.6, 23.6)
    ax.set_ylim(0, max([u + o + a for u, o, a in zip(useful, other, ads)] + [1]) * 1.08)
    ax.set_xticks(range(0, 24, 2))
    ax.set_xticklabels([f"{h:02d}" for h in range(0, 24, 2)])
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.grid(axis="y", color=TEXT, alpha=0.25, linewidth=0.6)
    ax.set_axisbelow(True)
    return _png(fig)


def topics_png(topics: Sequence[Topic]) -> tuple[bytes, bool]:
    """Bars for the topics, biggest on top; and whether the bars carry the keywords themselves
    (a CJK font was found) rather than their rank."""
    figure_cls, _ = _mpl()
    font = cjk_font()
    labels_ok = font is not None or all(t.keyword.isascii() for t in topics)
    n = max(len(topics), 1)
    fig = figure_cls(figsize=(7.2, 0.3 * n + 0.4), layout="constrained")
    ax = _axes(fig)
    ys = list(range(len(topics)))[::-1]
    counts = [t.count for t in topics]
    ax.barh(ys, counts, color=COLOURS["useful"], height=0.62)
    ax.set_yticks(ys)
    names = [t.keyword if labels_ok else str(i) for i, t in enumerate(topics, 1)]
    ax.set_yticklabels(names, fontsize=10, **({"fontfamily": [font, "DejaVu Sans"]} if font else {}))
    for y, c in zip(ys, counts):
        ax.text(c, y, f" {c}", va="center", ha="left", color=TEXT, fontsize=9)
    ax.set_xlim(0, max(counts or [1]) * 1.15)
    ax.xaxis.set_visible(False)
    ax.spines["bottom"].set_visible(False)
    return _png(fig), labels_ok


def data_uri(png: bytes) -> Markup:
    """``data:image/png;base64,…`` as markup: the template neither escapes nor masks it (base64
    is not text; masking could rewrite a run of digits inside it)."""
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG")
    return Markup("data:image/png;base64," + base64.b64encode(png).decode("ascii"))
