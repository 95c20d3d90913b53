"""The HTML digest's two pictures, drawn with matplotlib (Agg, no pyplot, imported on first use)
and embedded as ``data:image/png;base64,…`` URIs: no file, no external asset.

- :func:`activity_png`: messages per local hour, stacked useful / other / ads.
- :func:`topics_png`: horizontal bars, one per topic keyword.

Keywords are Chinese: the bars are labelled with a CJK font when the machine has one (Noto Sans
CJK, Source Han Sans, WenQuanYi, Microsoft YaHei, PingFang, SimHei, …), also one installed after
matplotlib cached its font list (see :func:`cjk_font`; scripts/setup installs fonts-noto-cjk). Without
one the bars carry their rank (1, 2, …) and the page names them beside the picture, so no label ever
shows as boxes.
Colours read on light and dark pages alike (transparent background, mid-grey text).
"""

from __future__ import annotations

import base64
import functools
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from markupsafe import Markup

from bot.digest.data import HourCount, Topic

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOURS = {"useful": "#07c160", "other": "#9aa4ae", "ads": "#cf222e"}
TEXT = "#7d8590"
_CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Microsoft YaHei",
    "PingFang SC",
    "Hiragino Sans GB",
    "SimHei",
    "Heiti SC",
    "Noto Sans CJK JP",
    "Noto Serif CJK SC",
    "AR PL UMing CN",
    "Droid Sans Fallback",
)
# Sized for a phone. The page shows a picture full width: about 320 CSS px on a 375 px screen (at
# most 420 px on a wide one), so a p-point label in a WIDTH-inch picture shows at
# p * 320 / (72 * WIDTH) px: 9 pt at 3.4 in is about 12 px. DPI 200 keeps it sharp on 3x screens.
WIDTH = 3.4  # inches
DPI = 200
LABEL_PT = 9  # tick and value labels
NAME_PT = 10  # topic names beside the bars
HOUR_STEP = 3  # an hour label every 3 hours: 00 03 … 21


@functools.lru_cache(maxsize=1)
def _mpl() -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    return Figure, FigureCanvasAgg


# File names of CJK fonts, lower-cased, for fonts installed after matplotlib cached its font list.
_CJK_FILES = (
    "cjk",
    "sourcehan",
    "wqy",
    "wenquanyi",
    "droidsansfallback",
    "notosanssc",
    "notoserifsc",
    "simhei",
    "msyh",
    "pingfang",
    "hiragino",
    "ukai",
    "uming",
)


def _pick(names: set[str]) -> str | None:
    for family in _CJK_FAMILIES:
        if family in names:
            return family
    return next(
        (n for n in sorted(names) if any(k in n for k in ("CJK", "Han Sans", "Hei", "WenQuanYi", "Ming"))), None
    )


@functools.lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of an installed font with Chinese glyphs, or None.

    matplotlib caches the machine's font list once (``~/.cache/matplotlib/fontlist-*.json``), so a
    font installed later (``apt-get install fonts-noto-cjk``) is not in it: when the cached list has
    no CJK font, the system font folders are scanned and CJK files found there are added."""
    _mpl()
    from matplotlib import font_manager

    manager = font_manager.fontManager
    found = _pick({f.name for f in manager.ttflist})
    if found is not None:
        return found
    known = {f.fname for f in manager.ttflist}
    for path in font_manager.findSystemFonts():
        if path not in known and any(k in Path(path).name.lower() for k in _CJK_FILES):
            try:
                manager.addfont(path)
            except (OSError, RuntimeError, ValueError):  # an unreadable or unsupported font file
                continue
    return _pick({f.name for f in manager.ttflist})


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
    ax.tick_params(colors=TEXT, labelsize=LABEL_PT)
    return ax


def activity_png(hours: Sequence[HourCount]) -> bytes:
    """Messages per hour, stacked: useful (green), other (grey), ads (red)."""
    figure_cls, _ = _mpl()
    fig = figure_cls(figsize=(WIDTH, 1.6), layout="constrained")
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
    ax.set_xticks(range(0, 24, HOUR_STEP))
    ax.set_xticklabels([f"{h:02d}" for h in range(0, 24, HOUR_STEP)])
    ax.yaxis.get_major_locator().set_params(integer=True, nbins=4)
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
    fig = figure_cls(figsize=(WIDTH, 0.3 * n + 0.3), layout="constrained")
    ax = _axes(fig)
    ys = list(range(len(topics)))[::-1]
    counts = [t.count for t in topics]
    ax.barh(ys, counts, color=COLOURS["useful"], height=0.62)
    ax.set_yticks(ys)
    names = [t.keyword if labels_ok else str(i) for i, t in enumerate(topics, 1)]
    ax.set_yticklabels(names, fontsize=NAME_PT, **({"fontfamily": [font, "DejaVu Sans"]} if font else {}))
    for y, c in zip(ys, counts):
        ax.text(c, y, f" {c}", va="center", ha="left", color=TEXT, fontsize=LABEL_PT)
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
