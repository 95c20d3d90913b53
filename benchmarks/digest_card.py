"""The digest's three renderings measured side by side: the PNG card, the HTML page and the WeChat text;
and the same for the demo day's personal briefing (three groups).

    .venv/bin/python benchmarks/digest_card.py [--rounds 20]

Days: the bundled demo day (our own writing) and a few days of the month fixture
(tests/bot/month_fixture.py), each replayed with the rule analyzers into a fresh SQLite file and
built once (``make_digest``); then each rendering of each day is timed ``--rounds`` times, the three
in turn, and printed as p50 / max in milliseconds, with the card's height and PNG size. The last row
is the demo day's briefing (``make_briefing``: its three groups, our own writing). The first
card of a process also finds and reads the CJK font: measured apart ("cold"). Not a test: numbers
depend on the machine and on what else runs on it; the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from bot.adapters.replay import read_jsonl  # noqa: E402
from bot.briefing import make_briefing, render_html as briefing_html, render_text as briefing_text  # noqa: E402
from bot.cli import DEMO_DIR, DEMO_SAMPLES  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.daily import make_digest  # noqa: E402
from bot.digest import (  # noqa: E402
    card as card_mod,  # noqa: E402
    render_html,
    render_text,
)
from bot.digest.briefing_build import BriefingData  # noqa: E402
from bot.digest.data import DigestData  # noqa: E402
from bot.wiring import build_pipeline, open_store  # noqa: E402
from tests.bot.month_fixture import (  # noqa: E402
    GROUP as MONTH_GROUP,  # noqa: E402
    START,
    month,
)

DEMO_GROUP = "ai-dev-2026@chatroom"
DEMO_DAY = date(2026, 11, 25)
MONTH_DAYS = (3, 10, 20, 29)  # day 20: the spammer's ads


def days(folder: Path) -> tuple[list[tuple[str, DigestData]], BriefingData]:
    """The demo day and the month fixture's days, stored, analysed (rules) and built; the demo
    day's briefing."""
    cfg = folder / "bench.toml"
    cfg.write_text(
        (DEMO_DIR / "demo.toml").read_text("utf-8")
        + f'\n[database]\nurl = "sqlite:///{folder / "bench.db"}"\n[models]\nuse = false\n',
        "utf-8",
    )
    config = load_config(cfg)
    store = open_store(config)
    try:
        pipeline = build_pipeline(config, store, dry_run=True)
        for sample in DEMO_SAMPLES:
            pipeline.ingest(read_jsonl(DEMO_DIR / sample).messages)
        pipeline.ingest([row.message for row in month()])
        out = [("demo day", make_digest(store.sessions, config, DEMO_GROUP, DEMO_DAY, save=False, embed=None).data)]
        for n in MONTH_DAYS:
            day = (START + timedelta(days=n)).date()
            data = make_digest(store.sessions, config, MONTH_GROUP, day, save=False, embed=None).data
            out.append((f"month {day.isoformat()}", data))
        (recipient,) = config.briefings
        t = time.perf_counter()
        briefing = make_briefing(store.sessions, config, recipient.to, DEMO_DAY, embed=None).data
        print(
            f"briefing built (3 groups, fetch + 3 digests + merge + checks): {(time.perf_counter() - t) * 1000:.0f} ms"
        )
        return out, briefing
    finally:
        store.close()


def timed(fn: Callable[[Any], object], data: Any) -> float:
    t = time.perf_counter()
    fn(data)
    return (time.perf_counter() - t) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20, help="renderings of each day and kind (default 20)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        built, briefing = days(Path(tmp))
    card_mod.find_cjk_font.cache_clear()
    cold = timed(card_mod.render_card, built[0][1])
    font = card_mod.find_cjk_font()
    print(f"font: {font.path} (face {font.index}); first card of the process (font lookup included): {cold:.0f} ms")
    print(f"{args.rounds} rounds per day; milliseconds, p50 / max")
    print()
    head = f"{'day':<18} {'msgs':>5} {'card':>13} {'html':>13} {'text':>13} {'card px':>9} {'PNG KB':>7}"
    print(head)
    all_cards: list[float] = []
    rows: list[tuple[str, int, Any, tuple[Callable[[Any], object], ...]]] = [
        (label, data.counts.total, data, (card_mod.render_card, render_html, render_text)) for label, data in built
    ]
    rows.append(
        ("demo briefing", briefing.messages, briefing, (card_mod.render_briefing_card, briefing_html, briefing_text))
    )
    for label, total, data, (card, html, text) in rows:
        times: dict[str, list[float]] = {"card": [], "html": [], "text": []}
        for _ in range(args.rounds):
            times["card"].append(timed(card, data))
            times["html"].append(timed(html, data))
            times["text"].append(timed(text, data))
        png = card(data)
        assert isinstance(png, bytes)
        height = Image.open(io.BytesIO(png)).height
        all_cards += times["card"]
        cells = " ".join(f"{statistics.median(v):>6.0f} /{max(v):>5.0f}" for v in times.values())
        print(f"{label:<18} {total:>5} {cells} {height:>9} {len(png) / 1024:>7.0f}")
    print()
    print(f"card, every day: p50 {statistics.median(all_cards):.0f} ms, max {max(all_cards):.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
