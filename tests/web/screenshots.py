"""Screenshots of the console's pages for the README: ``docs/screenshots/*.png``.

Fills a fresh demo database (``qunzhi demo --out DIR``: the bundled sample day, analysed, and the
demo's console login), serves the console on it, logs in as the demo's user and saves every page at
desktop width in the light theme, and a few at phone width in the dark theme. Each PNG is reduced
to a 256-colour palette (Pillow), so it stays small.

    scripts/screenshots [--out docs/screenshots] [--demo var/screenshots-demo]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from selenium.webdriver.common.keys import Keys

from bot import cli
from bot.config import load_config
from bot.web.app import create_app
from bot.wiring import open_store
from tests import needs
from tests.web.browser import DESKTOP, PHONE, Site, serve, start_chromium

ROOT = Path(__file__).resolve().parents[2]
LOGIN = re.compile(r"log in as (\S+) with password (\S+)")
MAX_BYTES = 200_000


@dataclass(frozen=True)
class Shot:
    """One screenshot: its file name, how to reach the page, and how it is shown."""

    name: str
    reach: Callable[[Site], None]
    phone: bool = False
    dark: bool = False


def demo_database(folder: Path) -> tuple[Path, str, str]:
    """Run ``qunzhi demo --out folder``; its config file and the console login it printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = cli.main(["demo", "--out", str(folder)])
    if code != 0:
        sys.stdout.write(printed.getvalue())
        raise SystemExit(f"qunzhi demo failed ({code})")
    found = LOGIN.search(printed.getvalue())
    if found is None:
        raise SystemExit("qunzhi demo printed no console login")
    return folder / cli.DEMO_CONFIG, found.group(1), found.group(2)


# --- how each page is reached ----------------------------------------------------------------------


def go(path: str) -> Callable[[Site], None]:
    return lambda site: site.go(path)


def first_link(list_path: str, css: str) -> Callable[[Site], None]:
    """Open ``list_path`` and follow the first link matching ``css`` (a group, a member)."""

    def reach(site: Site) -> None:
        site.go(list_path)
        href = site.find(css).get_attribute("href")
        assert href, f"no link {css} on {list_path}"
        site.driver.get(href)

    return reach


def search_for(query: str) -> Callable[[Site], None]:
    def reach(site: Site) -> None:
        site.go("/search")
        box = site.find("#q")
        box.clear()
        box.send_keys(query, Keys.ENTER)
        site.wait(lambda d: "q=" in d.current_url)

    return reach


def check_message(text: str) -> Callable[[Site], None]:
    def reach(site: Site) -> None:
        site.go("/checker")
        site.find("#checker-text").send_keys(text)
        site.submit_and_wait(site.find("#checker-submit"))

    return reach


SHOTS = [
    Shot("overview", go("/")),
    Shot("group", first_link("/", "#groups tbody a")),
    Shot("review", go("/review")),
    Shot("moderation", go("/moderation")),
    Shot("members", go("/members")),
    Shot("member", first_link("/members", "#members tbody a.member-link")),
    Shot("search", search_for("模型")),
    Shot("checker", check_message("加我微信 wx123456 代开发票，低价出售课程资料")),
    Shot("review-phone-dark", go("/review"), phone=True, dark=True),
    Shot("overview-phone-dark", go("/"), phone=True, dark=True),
]


# --- taking and shrinking ----------------------------------------------------------------------------


def shrink(png: bytes, path: Path) -> int:
    """Save ``png`` as a 256-colour PNG at ``path``; its size in bytes."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)
    return path.stat().st_size


def take(site: Site, shot: Shot, out: Path) -> Path:
    if shot.phone:
        site.phone()
    else:
        site.desktop()
    shot.reach(site)
    if shot.dark != (site.theme() == "dark"):
        site.toggle_theme()
    site.script("window.scrollTo(0, 0); document.activeElement && document.activeElement.blur()")
    path = out / f"{shot.name}.png"
    size = shrink(site.driver.get_screenshot_as_png(), path)
    width, height = PHONE if shot.phone else DESKTOP
    print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {width}×{height}, {size // 1024} KB")
    if size > MAX_BYTES:
        print(f"  warning: over {MAX_BYTES // 1000} KB", file=sys.stderr)
    if shot.dark:
        site.toggle_theme()  # the theme is remembered: back to light for the next shot
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="folder for the PNGs")
    parser.add_argument("--demo", type=Path, default=None, help="folder for the demo database (default: a temp one)")
    parser.add_argument("--only", nargs="*", default=None, help="take only these shots (by name)")
    args = parser.parse_args(argv)
    why = needs.browser_absent()
    if why:
        raise SystemExit(f"screenshots need Chromium: {why}")
    work = Path(tempfile.mkdtemp(prefix="qunzhi-shots-"))
    downloads = work / "downloads"
    downloads.mkdir()
    try:
        demo = args.demo or work / "demo"
        print(f"filling the demo database in {demo} ...")
        config_path, user, password = demo_database(demo)
        config = load_config(config_path)
        store = open_store(config)
        args.out.mkdir(parents=True, exist_ok=True)
        driver = start_chromium(needs.CHROMIUM, needs.CHROMEDRIVER, downloads)
        try:
            with serve(create_app(config, store)) as base:
                site = Site(driver, base, downloads, config, store)
                site.log_in(user, password)
                for shot in SHOTS:
                    if args.only is None or shot.name in args.only:
                        take(site, shot, args.out)
        finally:
            driver.quit()
            store.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
