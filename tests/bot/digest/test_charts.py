"""The topic chart finds a CJK font installed after matplotlib cached its font list (the cache is
built once per user; ``apt-get install fonts-noto-cjk`` afterwards used to leave the bars unlabelled)."""

from __future__ import annotations

import copy
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.digest.charts import PNG_SIGNATURE, topics_png
from bot.digest.data import Topic
from tests.needs import missing

charts = importlib.import_module("bot.digest.charts")  # the module (bot.digest names a function `charts` too)


@pytest.fixture
def fresh_lookup() -> Iterator[None]:
    charts.cjk_font.cache_clear()
    yield
    charts.cjk_font.cache_clear()


def _cjk_font_file() -> str:
    from matplotlib import font_manager

    found = sorted(
        p for p in font_manager.findSystemFonts() if any(k in Path(p).name.lower() for k in charts._CJK_FILES)
    )
    if not found:
        missing(
            "no CJK font on this machine (scripts/setup installs fonts-noto-cjk as root, or: apt-get install fonts-noto-cjk)"
        )
    return found[0]


def test_a_cjk_font_installed_after_the_cache_was_built_is_found(monkeypatch, fresh_lookup) -> None:
    from matplotlib import font_manager

    path = _cjk_font_file()
    stale = copy.copy(font_manager.fontManager)  # the cached list as it was before the font came
    stale.ttflist = [f for f in font_manager.fontManager.ttflist if charts._pick({f.name}) is None and f.fname != path]
    monkeypatch.setattr(font_manager, "fontManager", stale)
    assert charts._pick({f.name for f in stale.ttflist}) is None

    family = charts.cjk_font()
    assert family is not None and charts._pick({family}) == family
    assert path in {f.fname for f in stale.ttflist}  # found by scanning the font folders, and added


def test_chinese_topics_are_labelled_when_a_cjk_font_exists(fresh_lookup) -> None:
    _cjk_font_file()
    png, labelled = topics_png([Topic("大模型", 9), Topic("显卡", 4)])
    assert png.startswith(PNG_SIGNATURE) and labelled


def test_without_a_cjk_font_chinese_topics_carry_ranks(monkeypatch, fresh_lookup) -> None:
    from matplotlib import font_manager

    monkeypatch.setattr(font_manager, "findSystemFonts", lambda *a, **k: [])
    stale = copy.copy(font_manager.fontManager)
    stale.ttflist = [f for f in font_manager.fontManager.ttflist if charts._pick({f.name}) is None]
    monkeypatch.setattr(font_manager, "fontManager", stale)
    png, labelled = topics_png([Topic("大模型", 9), Topic("RAG", 4)])
    assert png.startswith(PNG_SIGNATURE) and not labelled
