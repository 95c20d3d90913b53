"""The digest as a PNG card (bot/digest/card.py): the demo day at phone width, Chinese drawn with a
CJK font (never boxes), CJK line breaking, the height cap, a missing font, and ``qunzhi digest --png``."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageStat

from bot import catalogue
from bot.cli import DEMO_DIR, main
from bot.config import load_config
from bot.daily import make_digest
from bot.digest import build_digest, card as card_mod
from bot.digest.card import (
    BAND,
    BAND_TEXT,
    CLOSING,
    MAX_HEIGHT,
    MUTED,
    OPENING,
    PAD,
    SIZES,
    WIDTH,
    CardFont,
    CardFontError,
    find_cjk_font,
    render_card,
    wrap,
)
from bot.digest.data import MessageLine
from bot.wiring import open_store
from tests.bot.digest.helpers import DAY, TZ, G
from tests.needs import missing

GROUP = "ai-dev-2026@chatroom"


@pytest.fixture(scope="module")
def font() -> CardFont:
    """The CJK font the card draws with; skip (fail under CI=true) when the machine has none."""
    try:
        return find_cjk_font()
    except CardFontError as e:
        missing(str(e))


@pytest.fixture(scope="module")
def demo_config(tmp_path_factory):
    """The bundled sample day replayed with the rule analyzers into SQLite (fast, no model)."""
    tmp = tmp_path_factory.mktemp("card")
    cfg = tmp / "demo.toml"
    cfg.write_text(
        (DEMO_DIR / "demo.toml").read_text("utf-8")
        + f'\n[database]\nurl = "sqlite:///{tmp / "d.db"}"\n[models]\nuse = false\n',
        "utf-8",
    )
    assert main(["--config", str(cfg), "replay", str(DEMO_DIR / "sample_day.jsonl")]) == 0
    return cfg


@pytest.fixture(scope="module")
def demo_data(demo_config):
    config = load_config(demo_config)
    store = open_store(config)
    try:
        return make_digest(store.sessions, config, GROUP, DAY, save=False).data
    finally:
        store.close()


def image(png: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(png))
    im.load()
    return im


def face(font: CardFont, size: str, bold: bool = False) -> ImageFont.FreeTypeFont:
    path = font.bold if bold and font.bold else font.path
    return ImageFont.truetype(str(path), SIZES[size], index=font.index, layout_engine=ImageFont.Layout.BASIC)


def drawn(text: str, f: ImageFont.FreeTypeFont, size: tuple[int, int], bg: str, fg: str) -> Image.Image:
    im = Image.new("RGB", size, bg)
    ImageDraw.Draw(im).text((0, 0), text, font=f, fill=fg)
    return im


def same(a: Image.Image, b: Image.Image) -> bool:
    """The same picture, but for the card's 64-colour palette (a few levels on anti-aliased edges)."""
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB")).convert("L")
    return max(diff.getextrema()) <= 64 and ImageStat.Stat(diff).mean[0] < 4.0


# --------------------------------------------------------------------------- the demo day


def test_the_demo_day_is_a_phone_width_png_within_the_cap(font, demo_data):
    png = render_card(demo_data)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    im = image(png)
    assert im.format == "PNG" and im.mode in ("RGB", "P")
    assert im.width == WIDTH == 750
    assert 1500 < im.height <= MAX_HEIGHT  # every section of the day, and not capped
    assert im.convert("RGB").getpixel((5, 5)) == Image.new("RGB", (1, 1), BAND).getpixel((0, 0))  # the title band
    assert len(png) < 400_000


def test_the_title_is_drawn_in_chinese_glyphs_not_boxes(font, demo_data):
    """The band's title, cut out of the card, is pixel for pixel the font's glyphs for the group's
    name, and not what the font draws for characters it lacks (its .notdef box)."""
    title = f"{demo_data.title} · {catalogue.DIGEST['daily']}"
    assert all(font.has(c) for c in title if not c.isspace())
    f = face(font, "title", bold=True)
    w = int(f.getlength(title)) + 4
    h = SIZES["title"] + 16
    shown = image(render_card(demo_data)).crop((PAD, 36, PAD + w, 36 + h))
    assert same(shown, drawn(title, f, (w, h), BAND, BAND_TEXT))
    tofu = "\U000e01ef" * len(title)  # not in the font: drawn as its missing-glyph box
    assert not font.has("\U000e01ef")
    assert not same(shown, drawn(tofu, f, (w, h), BAND, BAND_TEXT))


def test_characters_the_font_lacks_are_left_out(font):
    empty = build_digest([], group_id=G, group_name="测试群🎉", topic="", day=DAY, tz=TZ)
    plain = replace(empty, group_name="测试群")
    assert not font.has("🎉")
    assert render_card(empty) == render_card(plain)


def test_a_long_day_is_capped_with_the_note(font, demo_data):
    full = image(render_card(demo_data))
    capped = image(render_card(demo_data, max_height=1500))
    assert full.height > 1500 >= capped.height > 1200
    assert same(capped.crop((0, 0, WIDTH, 1000)), full.crop((0, 0, WIDTH, 1000)))
    note = catalogue.CARD_MORE
    assert note == "完整内容见文字版"
    f = face(font, "small")
    w, h = int(f.getlength(note)) + 4, SIZES["small"] + 8
    y = capped.height - PAD - round(SIZES["small"] * card_mod.LINE)
    assert same(capped.crop((PAD, y, PAD + w, y + h)), drawn(note, f, (w, h), "#ffffff", MUTED))


def test_long_messages_are_cut_with_an_ellipsis(font):
    empty = build_digest([], group_id=G, group_name="测试群", topic="", day=DAY, tz=TZ)
    long = "这是一条很长的问题" * 60
    lines = tuple(MessageLine(f"q{i}", f"成员{i}", f"10:{i:02d}", long) for i in range(4))
    data = replace(empty, unanswered=lines)
    assert card_mod.cut(long, 60).endswith("…") and len(card_mod.cut(long, 60)) == 60
    im = image(render_card(data))
    assert im.height < 1200  # four questions of 540 characters: a few lines each


# --------------------------------------------------------------------------- line breaking


def units(s: str) -> float:
    return 10.0 * len(s)


@pytest.mark.parametrize(
    ("text", "width", "expected"),
    [
        ("你好，世界。再见！", 20, ["你", "好，", "世", "界。", "再", "见！"]),
        ("今天下午三点开会，请准时。", 80, ["今天下午三点开", "会，请准时。"]),
        ("用（RAG）做检索", 50, ["用", "（RAG）", "做检索"]),
        ("用（RAG）做检索", 30, ["用", "（RA", "G）做", "检索"]),  # a word wider than the line is split
        ("hello world 你好", 60, ["hello", "world", "你好"]),
        ("好！！！！！！", 100, ["好！！！"]),
        ("你好 。再见", 20, ["你", "好 。", "再见"]),  # a closing mark after a space stays too
        ("提问\u00a07（已答\u00a04） · 广告\u00a03", 120, ["提问\u00a07（已答\u00a04） ·", "广告\u00a03"]),
    ],
)
def test_wrap_table(text, width, expected):
    assert wrap(text, units, width) == expected


ALPHABET = "群智日报讨论问题模型部署ab xyZ09" + CLOSING[:12] + OPENING[:6] + "，。！？、；：…"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=80), st.integers(min_value=20, max_value=200))
def test_no_line_starts_with_closing_nor_ends_with_opening_punctuation(text, width):
    lines = wrap(text, units, width)
    for line in lines[1:]:
        assert not line or (line[0] not in CLOSING and not line[0].isspace()), lines
    for line in lines[:-1]:
        assert not line or line[-1] not in OPENING, lines
    # nothing lost but spaces (runs of a mark beyond three are cut to three)
    squashed = card_mod._squash(text)
    assert "".join(lines).replace(" ", "") == squashed.replace(" ", "")
    for line in lines:  # a line overflows only by punctuation that must stay on it
        assert units(line) <= width + 10 * 2 * card_mod.MAX_PUNCT_RUN


# --------------------------------------------------------------------------- no font


def test_no_cjk_font_is_a_clear_error_naming_the_package(tmp_path):
    (tmp_path / "DejaVuSans.ttf").write_bytes(b"not a font")
    with pytest.raises(CardFontError, match="fonts-noto-cjk"):
        find_cjk_font((tmp_path,))
    empty = build_digest([], group_id=G, group_name="测试群", topic="", day=DAY, tz=TZ)
    with pytest.raises(CardFontError, match=str(tmp_path)):
        render_card(empty, font_dirs=[tmp_path])


def test_the_font_found_in_a_folder_is_the_simplified_chinese_face(font, tmp_path):
    folder = tmp_path / "fonts"
    folder.mkdir()
    (folder / font.path.name).symlink_to(font.path)
    found = find_cjk_font((folder,))
    assert found.path.name == font.path.name and found.index == font.index and found.has("群")


# --------------------------------------------------------------------------- the command line


def test_qunzhi_digest_writes_the_card(font, demo_config, tmp_path, capsys):
    png = tmp_path / "out" / "card.png"
    argv = ["--config", str(demo_config), "digest", "--group", GROUP, "--date", DAY.isoformat()]
    assert main([*argv, "--html-dir", str(tmp_path), "--png", str(png)]) == 0
    assert f"PNG card written to {png.resolve()}" in capsys.readouterr().out
    assert image(png.read_bytes()).width == WIDTH


def test_qunzhi_digest_without_a_cjk_font_says_what_to_install(demo_config, tmp_path, capsys, monkeypatch):
    def no_font(dirs=None):
        raise CardFontError("no CJK font found: install fonts-noto-cjk")

    monkeypatch.setattr(card_mod, "find_cjk_font", no_font)
    png = tmp_path / "card.png"
    argv = ["--config", str(demo_config), "digest", "--group", GROUP, "--date", DAY.isoformat()]
    assert main([*argv, "--html-dir", str(tmp_path), "--png", str(png)]) != 0
    assert "fonts-noto-cjk" in capsys.readouterr().err and not png.exists()


def test_a_card_path_that_cannot_be_written_is_a_clear_error(font, demo_config, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    argv = ["--config", str(demo_config), "digest", "--group", GROUP, "--date", DAY.isoformat()]
    assert main([*argv, "--html-dir", str(tmp_path), "--png", str(blocker / "card.png")]) != 0
    assert "--png: cannot write" in capsys.readouterr().err
