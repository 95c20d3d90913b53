"""The digest as one PNG card for a phone: what the text digest shows, drawn with Pillow and a CJK
font (no browser). 750 px wide: a 375 pt phone screen at 2×.

- :func:`find_cjk_font`: the Noto Sans CJK (or another CJK) font file and the face with Simplified
  Chinese in it; without one, :class:`CardFontError` names the package to install (never tofu).
- :func:`wrap`: lines that fit a width, broken between CJK characters and between Latin words,
  never starting a line with closing punctuation (，。！？、；：…) nor ending one with opening
  punctuation (（「《“…).
- :func:`render_card`: the PNG bytes. Title band (group, date, topic), the counts, then the
  sections of the text digest; each item cut with "…", the whole at most ``max_height`` px high
  (beyond it the card ends with "完整内容见文字版").

Characters the font has no glyph for (emoji among them) are left out rather than drawn as boxes.
Every text passes through ``bot.privacy.mask`` as in the templates; the words come from
``bot.catalogue.DIGEST``.
"""

from __future__ import annotations

import functools
import io
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from bot import catalogue
from bot.digest.briefing_build import BriefingData
from bot.digest.data import DigestData
from bot.privacy import mask

WIDTH = 750  # px: 375 pt at 2×
MAX_HEIGHT = 4000  # px; beyond it the card ends with catalogue.CARD_MORE
PAD = 40  # left and right margin
INNER = WIDTH - 2 * PAD

# Light theme; every text colour reads on its background at a contrast ratio of at least 4.5:1.
BG = "#ffffff"
BAND = "#0b6e3f"  # title band (white text on it: 6.4:1)
BAND_TEXT = "#ffffff"
BAND_SUB = "#d8f3e3"
TEXT = "#1f2328"
MUTED = "#57606a"
ACCENT = "#0b6e3f"  # section headings, senders
RULE = "#d0d7de"
WARN = "#a40e26"  # deadlines, ads

SIZES = {"title": 40, "sub": 26, "heading": 32, "body": 28, "small": 24}
LINE = 1.45  # line height, times the font size

# Line-breaking rules for Chinese (and the ASCII ones): a line never starts with CLOSING nor ends
# with OPENING. A run of closing punctuation stays with the character before it.
CLOSING = "，。！？、；：）」』】》〉〕］｝”’…‥·・%％,.!?;:)]}>"
OPENING = "（「『【《〈〔［｛“‘([{<"
NBSP = "\u00a0"  # a space no line breaks at: it glues its neighbours into one token
MAX_PUNCT_RUN = 3  # "！！！！！！" is drawn as "！！！"

# Face names with Simplified Chinese, best first; and font files known on Debian/Ubuntu and macOS.
_FACES = ("Noto Sans CJK SC", "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei")
_KNOWN_FILES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
)
_FILE_PATTERNS = ("NotoSansCJK*-Regular.ttc", "NotoSansCJK*.ttc", "NotoSansSC*.otf", "SourceHanSans*.ttc", "wqy-*.ttc")
FONT_DIRS = (
    Path("/usr/share/fonts"),
    Path("/usr/local/share/fonts"),
    Path.home() / ".local" / "share" / "fonts",
    Path.home() / ".fonts",
)
PROBE = catalogue.DIGEST["signature"] + catalogue.DIGEST["threads"]  # a font that draws these draws the card


class CardFontError(RuntimeError):
    """No font with Chinese glyphs: the card would show boxes, so it is not drawn."""


@dataclass(frozen=True, slots=True)
class CardFont:
    path: Path
    index: int  # the face in a .ttc collection
    bold: Path | None  # the matching bold file, when there is one
    codepoints: frozenset[int]  # what the face has glyphs for

    def has(self, ch: str) -> bool:
        return ord(ch) in self.codepoints


def _codepoints(font: Any) -> frozenset[int]:
    return frozenset(font.getBestCmap() or ())


def _faces(path: Path) -> list[tuple[int, str, Callable[[], frozenset[int]]]]:
    """(index, full name, its codepoints on demand) of each face in a font file; [] when unreadable."""
    from fontTools.ttLib import TTCollection, TTFont, TTLibError  # type: ignore[import-untyped]

    try:
        if path.suffix.lower() in (".ttc", ".otc"):
            fonts = list(TTCollection(str(path), lazy=True).fonts)
        else:
            fonts = [TTFont(str(path), lazy=True)]
        return [
            (i, str(f["name"].getDebugName(4) or ""), functools.partial(_codepoints, f)) for i, f in enumerate(fonts)
        ]
    except (OSError, TTLibError, KeyError, AssertionError):
        return []


def _fc_match() -> list[Path]:
    fc = shutil.which("fc-match")
    if fc is None:
        return []
    try:
        out = subprocess.run(
            [fc, "-f", "%{file}\n", "Noto Sans CJK SC:lang=zh-cn"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [Path(line) for line in out.splitlines() if line.strip()]


def _candidates(dirs: Sequence[Path] | None) -> Iterable[Path]:
    if dirs is None:
        env = os.environ.get("QUNZHI_CARD_FONT")
        if env:
            yield Path(env)
        yield from _fc_match()
        yield from (Path(p) for p in _KNOWN_FILES)
        dirs = FONT_DIRS
    for d in dirs:
        if d.is_dir():
            for pattern in _FILE_PATTERNS:
                yield from sorted(d.rglob(pattern))


@functools.lru_cache(maxsize=4)
def find_cjk_font(dirs: tuple[Path, ...] | None = None) -> CardFont:
    """The first font file that draws Chinese: ``$QUNZHI_CARD_FONT``, what fontconfig picks for
    Noto Sans CJK SC, the known Debian paths, then a search of the font folders (``dirs`` instead
    of all of these, when given). Raises :class:`CardFontError` naming the package to install."""
    seen: set[Path] = set()
    for path in _candidates(dirs):
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        faces = sorted(_faces(path), key=lambda f: next((i for i, n in enumerate(_FACES) if n in f[1]), len(_FACES)))
        for index, _, cmap in faces:  # Simplified Chinese faces first
            try:
                codepoints = cmap()
            except (OSError, KeyError, AssertionError):
                continue
            if all(ord(c) in codepoints for c in PROBE):
                bold = path.with_name(path.name.replace("Regular", "Bold"))
                return CardFont(path, index, bold if "Regular" in path.name and bold.is_file() else None, codepoints)
    where = ", ".join(str(d) for d in dirs) if dirs is not None else "the system font folders"
    raise CardFontError(
        f"no CJK font found in {where}: the digest card needs one to draw Chinese. Install fonts-noto-cjk "
        "(apt-get install fonts-noto-cjk; scripts/setup does) or set QUNZHI_CARD_FONT to a .ttc/.otf file"
    )


# --------------------------------------------------------------------------- line breaking

_WORD = re.compile(r"[A-Za-z0-9_@#&+\-=/\\.:'%~$]")  # characters kept together as a Latin word


def _squash(text: str) -> str:
    """Runs of more than MAX_PUNCT_RUN identical closing/opening marks cut to MAX_PUNCT_RUN."""
    return re.sub(
        "([" + re.escape(CLOSING + OPENING) + "])\\1{" + str(MAX_PUNCT_RUN) + ",}",
        lambda m: m.group(1) * MAX_PUNCT_RUN,
        text,
    )


def _blank(s: str) -> bool:
    """Spaces a line may break at (a no-break space is not one)."""
    return s.isspace() and NBSP not in s


def tokens(text: str) -> list[str]:
    """Pieces between which a line may break: a CJK character or a Latin word or a space, with the
    opening punctuation before it and the closing punctuation after it."""
    out: list[str] = []
    pending_open = ""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in OPENING:
            pending_open += ch
            i += 1
            continue
        if ch in CLOSING and not pending_open and out:
            space = ""
            if _blank(out[-1]) and len(out) > 1:
                space = out.pop()  # "a · b": the space and the mark stay with what they follow
            if not _blank(out[-1]):
                out[-1] += space + ch
                i += 1
                continue
        j = i + 1
        if _WORD.match(ch) and ch not in CLOSING:
            while j < n and _WORD.match(text[j]) and text[j] not in OPENING:
                j += 1
        elif _blank(ch):
            while j < n and _blank(text[j]):
                j += 1
            if pending_open:  # "（ 注" : the mark opens what follows; the space goes
                i = j
                continue
        tok = pending_open + (" " if _blank(ch) else text[i:j])
        pending_open = ""
        i = j
        while i < n and text[i] in CLOSING and not _blank(tok):  # closing marks after it
            tok += text[i]
            i += 1
        out.append(tok)
    if pending_open:  # opening marks at the very end stay with what they follow
        if out and _blank(out[-1]) and len(out) > 1:
            out.pop()
        if out:
            out[-1] += pending_open
        else:
            out.append(pending_open)
    # a no-break space makes the run of tokens it is in (between two spaces) one token
    glued: list[str] = []
    run: list[str] = []
    for tok in [*out, " "]:
        if not _blank(tok):
            run.append(tok)
            continue
        glued += ["".join(run)] if any(NBSP in r for r in run) else run
        glued.append(tok)
        run = []
    return glued[:-1]


def _split_long(tok: str, fits: Callable[[str], bool]) -> list[str]:
    """A token wider than the line, in pieces that fit, each cut before a character that may start
    a line (a piece ends with closing marks kept on it)."""
    pieces: list[str] = []
    cur = ""
    for ch in tok:
        if cur and not fits(cur + ch) and ch not in CLOSING and not ch.isspace() and cur[-1] not in OPENING:
            pieces.append(cur)
            cur = ch
        else:
            cur += ch
    if cur:
        pieces.append(cur)
    return pieces


def wrap(text: str, measure: Callable[[str], float], width: float) -> list[str]:
    """``text`` in lines no wider than ``width`` (by ``measure``), breaking between tokens (see
    :func:`tokens`); newlines in ``text`` end lines. A line never starts with CLOSING nor ends with
    OPENING, and loses no character other than spaces at a break."""
    lines: list[str] = []
    for para in _squash(text).split("\n"):
        cur, cur_w = "", 0.0  # the line so far and its width (the sum of its pieces')
        for tok in tokens(para):
            for piece in _split_long(tok, lambda s: measure(s) <= width) if measure(tok) > width else [tok]:
                w = measure(piece)
                if cur and cur_w + w > width:
                    lines.append(cur.rstrip())
                    cur, cur_w = ("", 0.0) if _blank(piece) else (piece, w)
                elif cur or not _blank(piece):
                    cur, cur_w = cur + piece, cur_w + w
        if cur.strip() or not lines or para == "":
            lines.append(cur.rstrip())
    return lines


def cut(text: str, n: int) -> str:
    """At most ``n`` characters of masked ``text`` on one line, "…" marking a cut."""
    text = " ".join(mask(str(text)).split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


# --------------------------------------------------------------------------- drawing


def _line(text: str, x: int, font: ImageFont.FreeTypeFont, colour: str, d: ImageDraw.ImageDraw, y: int) -> None:
    d.text((x, y), text, font=font, fill=colour)


class _Card:
    """Blocks of lines, laid out top to bottom, then drawn on one image of the height they need."""

    def __init__(self, font: CardFont) -> None:
        self.font = font
        self.fonts: dict[tuple[str, bool], ImageFont.FreeTypeFont] = {}
        self.ops: list[tuple[int, Callable[[ImageDraw.ImageDraw, int], None]]] = []  # (height, draw at y)
        self._widths: dict[tuple[str, bool, str], float] = {}

    def face(self, size: str, bold: bool = False) -> ImageFont.FreeTypeFont:
        key = (size, bold)
        if key not in self.fonts:
            path = self.font.bold if bold and self.font.bold else self.font.path
            self.fonts[key] = ImageFont.truetype(
                str(path), SIZES[size], index=self.font.index, layout_engine=ImageFont.Layout.BASIC
            )
        return self.fonts[key]

    def clean(self, text: str) -> str:
        """Only what the font can draw: emoji and other missing glyphs left out, spaces tidied."""
        kept = "".join(c if (c == "\n" or self.font.has(c)) else " " for c in text)
        return re.sub(r"[ \t]{2,}", " ", kept).strip()

    def measure(self, size: str, bold: bool) -> Callable[[str], float]:
        f = self.face(size, bold)

        def width(s: str) -> float:
            key = (size, bold, s)
            if key not in self._widths:
                self._widths[key] = f.getlength(s)
            return self._widths[key]

        return width

    def text(
        self, text: str, size: str = "body", *, colour: str = TEXT, bold: bool = False, indent: int = 0, gap: int = 0
    ) -> None:
        """``text`` wrapped to the card's width (less ``indent``), ``gap`` px of space below it."""
        text = self.clean(text)
        if not text:
            return
        f = self.face(size, bold)
        step = round(SIZES[size] * LINE)
        for line in wrap(text, self.measure(size, bold), INNER - indent):
            self.ops.append((step, functools.partial(_line, line, PAD + indent, f, colour)))
        if gap:
            self.space(gap)

    def space(self, h: int) -> None:
        self.ops.append((h, lambda d, y: None))

    def band(self, title: str, sub: str) -> None:
        title_f, sub_f = self.face("title", True), self.face("sub")
        title_lines = wrap(self.clean(title), self.measure("title", True), INNER)[:2]
        sub_lines = wrap(self.clean(sub), self.measure("sub", False), INNER)[:2]
        t_step, s_step = round(SIZES["title"] * 1.3), round(SIZES["sub"] * LINE)
        h = 36 + t_step * len(title_lines) + 8 + s_step * len(sub_lines) + 30

        def draw(d: ImageDraw.ImageDraw, y: int) -> None:
            d.rectangle((0, y, WIDTH, y + h), fill=BAND)
            yy = y + 36
            for line in title_lines:
                d.text((PAD, yy), line, font=title_f, fill=BAND_TEXT)
                yy += t_step
            yy += 8
            for line in sub_lines:
                d.text((PAD, yy), line, font=sub_f, fill=BAND_SUB)
                yy += s_step

        self.ops.append((h, draw))

    def heading(self, text: str) -> None:
        self.space(18)
        self.ops.append((2, lambda d, y: d.line((PAD, y, WIDTH - PAD, y), fill=RULE, width=2)))
        self.space(16)
        self.text(text, "heading", colour=ACCENT, bold=True, gap=6)

    def render(self, max_height: int, note: str) -> bytes:
        blocks = list(self.ops)
        total = sum(h for h, _ in blocks) + PAD
        if total > max_height:  # keep what fits above the note
            note_f = self.face("small")
            note_h = 24 + round(SIZES["small"] * LINE) + PAD
            kept, used = [], 0
            for h, op in blocks:
                if used + h > max_height - note_h:
                    break
                kept.append((h, op))
                used += h
            blocks = [*kept, (24, lambda d, y: None)]
            blocks.append((note_h - 24, lambda d, y: d.text((PAD, y), note, font=note_f, fill=MUTED)))
            total = sum(h for h, _ in blocks)
        image = Image.new("RGB", (WIDTH, total), BG)
        draw = ImageDraw.Draw(image)
        y = 0
        for h, op in blocks:
            op(draw, y)
            y += h
        buf = io.BytesIO()
        # 64 colours are plenty for text on a light page: a third of the bytes, and faster to write
        image.quantize(colors=64, method=Image.Quantize.FASTOCTREE).save(buf, format="PNG", compress_level=6)
        return buf.getvalue()


def _glued(text: str) -> str:
    """``text`` kept on one line where it fits ("广告 3" never broken after 广告)."""
    return text.replace(" ", NBSP)


def _times(n: int) -> str:
    return f" ×{n}" if n > 1 else ""


def headings(scope: str, member: str = "") -> dict[str, str]:
    """The card's header, topics heading and signature for a digest covering ``scope`` (as the
    templates choose them): a day's, a week's, a month's, or any other range's; a member digest
    signed as a summary."""
    t = catalogue.DIGEST
    if scope == "day":
        words = {"digest": t["daily"], "topics": t["topics"], "signature": t["signature"]}
    elif scope in ("week", "month"):
        words = {"digest": t[f"{scope}ly"], "topics": t[f"topics_{scope}"], "signature": t[f"signature_{scope}"]}
    else:
        words = {"digest": t["range_digest"], "topics": t["topics_range"], "signature": t["signature_range"]}
    if member:
        words["signature"] = t["signature_range"]
    return words


def render_card(data: DigestData, *, max_height: int = MAX_HEIGHT, font_dirs: Sequence[Path] | None = None) -> bytes:
    """The digest of ``data`` as a PNG, WIDTH px wide and at most ``max_height`` px high.
    ``font_dirs``: look for the CJK font there only (default: the system's, see :func:`find_cjk_font`)."""
    t = catalogue.DIGEST
    card = _Card(find_cjk_font(tuple(font_dirs) if font_dirs is not None else None))
    # as the text's header: a range digest names its range, a member digest its member
    period, member = getattr(data, "period", ""), getattr(data, "member", "")
    h = headings(getattr(data, "scope", "day"), member)
    title = f"{data.title} · {h['digest']}"
    if member:
        title += " · " + t["member_digest"].format(name=member)
    sub = period or f"{data.day.isoformat()} {catalogue.weekday_name(data.day.weekday())}"
    if data.topic:
        sub += f" · {data.topic}"
    card.band(cut(title, 60), mask(sub))
    card.space(28)
    c = data.counts
    if c.total == 0:
        card.text(t["quiet_range"] if period else t["quiet"], gap=8)
    else:
        parts = [
            t["n_items"].format(n=c.total),
            t["n_people"].format(n=c.speakers),
            t["useful_n"].format(n=c.useful),
            t["questions_n"].format(n=c.questions, answered=c.answered),
        ]
        if c.ads:
            parts.append(t["ads_n"].format(n=c.ads))
        card.text(" · ".join(_glued(p) for p in parts), colour=TEXT, gap=4)
        if data.topics and not data.clusters:
            topics = " · ".join(_glued(f"{tp.keyword} {tp.count}") for tp in data.topics[:5])
            card.text(topics, "small", colour=MUTED, gap=4)
        if data.analysis_pending:
            card.text(t["pending"].format(n=data.analysis_pending), "small", colour=MUTED)
    if data.clusters:
        card.heading(h["topics"])
        for i, tc in enumerate(data.clusters[:4], 1):
            people = "、".join(s.name for s in tc.contributors)
            size = t["cluster_size"].format(n=tc.size)
            card.text(f"{i}. {tc.name}（{size}{' · ' + people if people else ''}）", gap=2)
            card.text(f"{tc.best.sender}：{cut(tc.best.text, 70)}", "small", colour=MUTED, indent=34)
            if tc.summary is not None:
                card.text(f"{cut(tc.summary.text, 80)}{t['llm_summary_mark']}", "small", colour=MUTED, indent=34)
                cited = "、".join(f"{m.sender} {m.time}" for m in tc.messages if m.id in tc.summary.sources)
                card.text(f"{t['llm_sources']}{cited}", "small", colour=MUTED, indent=34)
            card.space(10)
    if data.threads:
        card.heading(t["threads"])
        for i, th in enumerate(data.threads[:5], 1):
            size = t["thread_size"].format(people=th.participants, replies=th.reply_count)
            card.text(f"{i}. {th.root.sender}：{cut(th.root.text, 70)}{_times(th.root.count)}{size}", gap=2)
            if th.best:
                card.text(
                    f"{t['answered_by']}{th.best.sender}：{cut(th.best.text, 70)}", "small", colour=MUTED, indent=34
                )
            card.space(10)
    if data.events:
        card.heading(t["events"])
        for e in data.events[:6]:
            when = f"{e.day_label} {e.clock}".strip()
            mark = f"{t['deadline']} " if e.kind == "deadline" else ""
            colour = WARN if e.kind == "deadline" else TEXT
            card.text(f"· {when} {mark}{cut(e.title, 50)}{_times(e.count)}", colour=colour, gap=4)
    if data.announcements:
        card.heading(t["announcements"])
        for a in data.announcements[:2]:
            card.text(f"· {a.sender}：{cut(a.text, 70)}{_times(a.count)}", gap=4)
    if data.unanswered:
        card.heading(t["unanswered"])
        for q in sorted(data.unanswered[:4], key=lambda q: q.time):
            card.text(f"· {q.sender}：{cut(q.text, 60)}{_times(q.count)}", gap=4)
    if data.links:
        card.heading(t["links_brief"])
        for link in data.links[:3]:
            card.text(f"· {cut(link.title or t['untitled'], 40)}{_times(link.count)}")
            if link.url:
                card.text(cut(link.url, 90), "small", colour=MUTED, indent=24)
            card.space(4)
    if data.ads:
        card.heading(t["ads_heading"])
        card.text(t["ads_blocked"].format(n=c.ads), "small", colour=MUTED, gap=2)
        for ad in data.ads[:2]:
            card.text(f"· {ad.sender}：{cut(ad.text, 36)}{_times(ad.count)}", colour=WARN, gap=2)
        more = c.ads - sum(a.count for a in data.ads[:2])
        if more > 0:
            card.text("…" + t["more"].format(n=more), "small", colour=MUTED)
    card.space(24)
    card.text(f"—— {h['signature']}", "small", colour=MUTED)
    return card.render(max_height, catalogue.CARD_MORE)


def render_briefing_card(
    data: BriefingData, *, max_height: int = MAX_HEIGHT, font_dirs: Sequence[Path] | None = None
) -> bytes:
    """A person's briefing (``bot.digest.briefing_build``) as a PNG, in the group card's look: each
    item under the name of the group it comes from. Words from ``catalogue.BRIEFING`` (and
    ``DIGEST`` for the ones they share)."""
    t, b = catalogue.DIGEST, catalogue.BRIEFING
    card = _Card(find_cjk_font(tuple(font_dirs) if font_dirs is not None else None))
    sub = data.period or f"{data.day.isoformat()} {catalogue.weekday_name(data.day.weekday())}"
    card.band(b["title"], mask(sub))
    card.space(28)
    if data.empty:
        card.text(b["empty"], gap=8)
    else:
        overview = b["overview"].format(groups=data.groups, active=data.active, n=data.messages)
        card.text(" · ".join(_glued(p) for p in overview.split(" · ")), gap=4)
    if data.questions:
        card.heading(b["for_you"])
        for q in data.questions[:6]:
            mark = f"（{b['waiting']}）" if q.waiting else ""
            card.text(
                f"{q.line.sender} {q.line.time}：{cut(q.line.text, 60)}{mark}", colour=WARN if q.waiting else TEXT
            )
            card.text(cut(q.group, 30), "small", colour=MUTED, indent=24, gap=8)
    if data.threads:
        card.heading(b["threads"])
        for i, bt in enumerate(data.threads, 1):
            th = bt.thread
            size = t["thread_size"].format(people=th.participants, replies=th.reply_count)
            card.text(f"{i}. {th.root.sender}：{cut(th.root.text, 60)}{_times(th.root.count)}{size}", gap=2)
            if th.best:
                card.text(
                    f"{t['answered_by']}{th.best.sender}：{cut(th.best.text, 60)}", "small", colour=MUTED, indent=34
                )
            card.text(cut(bt.group, 30), "small", colour=ACCENT, indent=34, gap=10)
    if data.events:
        card.heading(t["events"])
        for be in data.events[:8]:
            e = be.event
            when = f"{e.day_label} {e.clock}".strip()
            mark = f"{t['deadline']} " if e.kind == "deadline" else ""
            colour = WARN if e.kind == "deadline" else TEXT
            card.text(f"· {when} {mark}{cut(e.title, 40)}{_times(e.count)}", colour=colour)
            card.text(cut(be.group, 30), "small", colour=MUTED, indent=24, gap=6)
    if data.links:
        card.heading(b["links"])
        for bl in data.links[:4]:
            card.text(f"· {cut(bl.link.title or t['untitled'], 40)}{_times(bl.link.count)}")
            card.text(
                cut(bl.group, 30) + (f" · {cut(bl.link.url, 60)}" if bl.link.url else ""),
                "small",
                colour=MUTED,
                indent=24,
                gap=6,
            )
    if data.quiet and not data.empty:
        card.heading(b["quiet"])
        for g in data.quiet:
            said = (
                b["quiet_line"].format(n=g.messages, people=g.speakers, useful=g.useful)
                if g.messages
                else b["no_messages"]
            )
            card.text(f"· {cut(g.group, 24)}：{said}", gap=4)
    card.space(24)
    card.text(f"—— {b['signature']}", "small", colour=MUTED)
    return card.render(max_height, catalogue.CARD_MORE)


def write_card(data: DigestData | BriefingData, path: Path) -> Path:
    """The card of ``data`` (a group's digest or a person's briefing) written to ``path`` (its folder made)."""
    png = render_briefing_card(data) if isinstance(data, BriefingData) else render_card(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return path
