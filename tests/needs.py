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
