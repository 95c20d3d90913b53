"""What a test needs from outside the repository, skipped honestly: a test whose need is not met
skips with the reason, except under ``CI=true``, where it fails (CI must never pass by skipping).

The shared data folder is ``$QUNZHI_DATA``, else ``<repo>/../shared/data`` (as ``data_dir`` in the
training package finds it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("QUNZHI_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("QUNZHI_CHROMEDRIVER", "/usr/bin/chromedriver"))


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def missing(why: str) -> NoReturn:
    """Skip the test for ``why``, or fail it under CI=true."""
    if in_ci():
        pytest.fail(f"CI=true: {why}", pytrace=False)
    pytest.skip(why)


def shared_data_dir() -> Path:
    env = os.environ.get("QUNZHI_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def shared_data(*folders: str) -> Path:
    """The shared data folder, holding ``folders``; skip (fail under CI=true) when it does not."""
    root = shared_data_dir()
    absent = [f for f in folders if not (root / f).is_dir()] if root.is_dir() else ["."]
    if absent:
        missing(f"shared data not available: {', '.join(str(root / f) for f in absent)} (set QUNZHI_DATA)")
    return root


def browser_absent() -> str | None:
    """Why the browser tests cannot run here (Chromium or chromedriver not found), or None."""
    absent = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not (p.is_file() and os.access(p, os.X_OK))]
    if not absent:
        return None
    return f"{', '.join(absent)} not found (apt-get install chromium chromium-driver; .ci/run installs them)"


def browser() -> tuple[Path, Path]:
    """Debian's Chromium and its chromedriver (``$QUNZHI_CHROMIUM``, ``$QUNZHI_CHROMEDRIVER`` elsewhere);
    skip (fail under CI=true) without them. Nothing is ever downloaded in their place."""
    why = browser_absent()
    if why:
        missing(f"no browser for the browser tests: {why}")
    return CHROMIUM, CHROMEDRIVER
