"""Rendering: the digest as WeChat text parts (templates/digest.txt.j2) and as one standalone HTML
page (templates/digest.html.j2). Same data, two templates; both mask every ``{{ }}`` output.
The templates hold the layout; their words come from the catalogue: ``t`` is
``bot.catalogue.DIGEST``, ``|weekday`` names a day of the week, and ``|reason`` shows an
analyzer's stored reason in Chinese (``bot.catalogue.reason_text``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from bot import catalogue
from bot.digest.charts import activity_png, data_uri, topics_png
from bot.digest.data import DigestData
from bot.privacy import mask

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"


@dataclass(frozen=True, slots=True)
class Charts:
    activity: Markup | None  # data:image/png;base64,… of messages per hour
    topics: Markup | None  # data:image/png;base64,… of the topic bars
    topic_labels: bool  # False: the bars carry ranks, the page names them (no CJK font here)


def _finalize(value: Any) -> Any:
    """Every ``{{ ... }}`` output passes through mask(), a second guard behind build_digest."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return mask(value)
    return value


def _cut(value: str, n: int) -> str:
    """At most ``n`` characters, "…" marking a cut. Masks first, so no half number leaks."""
    value = mask(str(value))
    return value if len(value) <= n else value[: n - 1] + "…"


@functools.lru_cache(maxsize=8)
def template_env(templates_dir: Path, autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["cut"] = _cut
    env.filters["reason"] = catalogue.reason_text  # an analyzer's reason as people read it
    env.filters["weekday"] = catalogue.weekday_name
    env.globals["t"] = catalogue.DIGEST  # the templates' words, by key
    return env


def _render(name: str, data: DigestData, templates_dir: Path | str | None, autoescape: bool, **extra: Any) -> str:
    folder = Path(templates_dir) if templates_dir is not None else TEMPLATES_DIR
    return template_env(folder.resolve(), autoescape).get_template(name).render(d=data, **extra)


_ITEM_PREFIXES = ("·", " ", "\u3000", "-", "•")


def _marker(i: int, n: int) -> str:
    return f"({i}/{n})\n"


def _pack(text: str, budget: int) -> list[str]:
    """Text into chunks of at most ``budget`` characters.

    A section (lines between blank lines) that does not fit in what is left of a chunk that is at
    least half full starts a fresh chunk; otherwise it fills chunks line by line. A line longer than
    ``budget`` is hard-split. Blank lines between sections are kept inside a chunk, dropped at its edges.
    """
    chunks: list[str] = []
    cur = ""

    def put(piece: str, sep: str, carry_heading: bool = False) -> None:
        nonlocal cur
        if cur and len(cur) + len(sep) + len(piece) <= budget:
            cur += sep + piece
            return
        if cur:
            head, _, last = cur.rpartition("\n")
            # Do not leave a heading ("【RAG】2 条", "🔥 今日话题") alone at the end of a part.
            is_heading = not last.startswith(_ITEM_PREFIXES)
            if carry_heading and is_heading and head.strip() and len(last) + 1 + len(piece) <= budget:
                chunks.append(head.rstrip("\n"))
                cur = last + "\n" + piece
                return
            chunks.append(cur)
        cur = piece

    for block in re.split(r"\n(?:[ \t]*\n)+", text):
        block = block.strip("\n")
        if not block.strip():
            continue
        fits_here = not cur or len(cur) + 2 + len(block) <= budget
        if len(block) <= budget and (fits_here or len(cur) >= budget // 2):
            put(block, "\n\n")  # the whole section, here or at the top of a fresh chunk
            continue
        for j, line in enumerate(block.split("\n")):
            sep = "\n\n" if j == 0 else "\n"
            if len(line) <= budget:
                put(line, sep, carry_heading=True)
            else:  # hard-split: each piece but the last fills a chunk on its own
                for i in range(0, len(line), budget):
                    put(line[i : i + budget], sep if i == 0 else "")
    if cur:
        chunks.append(cur)
    return chunks


def split_parts(text: str, max_part_chars: int) -> list[str]:
    """Split ``text`` into WeChat-sized parts, each at most ``max_part_chars`` long, marker included.

    Breaks at line boundaries; a line longer than a part is hard-split. With more than one part,
    each starts with a line "(i/n)". Text that fits is returned as one unmarked part.
    """
    text = re.sub(r"\n(?:[ \t]*\n){2,}", "\n\n", text.strip("\n"))  # one blank line between sections
    if len(text) <= max_part_chars:
        return [text]
    n_guess = 2
    while True:
        budget = max_part_chars - len(_marker(n_guess, n_guess))
        if budget < 1:
            raise ValueError(f"max_part_chars={max_part_chars} leaves no room next to the part marker")
        chunks = _pack(text, budget)
        if len(str(len(chunks))) <= len(str(n_guess)):
            n = len(chunks)
            return [_marker(i, n) + c for i, c in enumerate(chunks, 1)]
        n_guess = len(chunks)


def render_text(data: DigestData, max_part_chars: int = 2000, *, templates_dir: Path | str | None = None) -> list[str]:
    """The digest as WeChat text (templates/digest.txt.j2), split into parts of at most ``max_part_chars``."""
    return split_parts(_render("digest.txt.j2", data, templates_dir, autoescape=False), max_part_chars)


def charts(data: Any) -> Charts:
    """The HTML page's pictures, from the same data the text shows."""
    if not data.counts.total:
        return Charts(None, None, True)
    activity = data_uri(activity_png(data.activity))
    if not data.topics:
        return Charts(activity, None, True)
    png, labelled = topics_png(data.topics)
    return Charts(activity, data_uri(png), labelled)


def render_html(data: DigestData, *, templates_dir: Path | str | None = None) -> str:
    """The digest as one standalone HTML page (templates/digest.html.j2), autoescaped, with the
    activity-by-hour chart and the topic bars embedded as PNG data URIs."""
    return _render("digest.html.j2", data, templates_dir, autoescape=True, charts=charts(data))
