"""Reproducible installs: constraints.txt pins every dependency pyproject.toml names, inside its
range; torch's pin is the one scripts/setup installs; the licence is the one pyproject declares;
and scripts/setup's probe of the PyTorch CPU index gives up quickly when nothing answers."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]


def pins() -> dict[str, str]:
    out = {}
    for line in (ROOT / "constraints.txt").read_text("utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            out[canonicalize_name(name)] = version.strip()
    return out


def test_constraints_pin_every_dependency_inside_its_range() -> None:
    pinned = pins()
    wanted = [*PROJECT["dependencies"], *(r for extra in PROJECT["optional-dependencies"].values() for r in extra)]
    for spec in wanted:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} has no pin in constraints.txt (run scripts/lock)"
        assert req.specifier.contains(pinned[name], prereleases=True), (
            f"{req.name}=={pinned[name]} is outside {req.specifier}"
        )
    assert "psycopg-binary" in pinned  # what psycopg[binary] pulls in: extras are followed too
    assert "qunzhi" not in pinned


def test_transformers_has_an_upper_bound_and_torch_one_version() -> None:
    transformers = next(Requirement(r) for r in PROJECT["dependencies"] if r.startswith("transformers"))
    assert any(s.operator in ("<", "<=", "~=", "==") for s in transformers.specifier)
    setup = (ROOT / "scripts" / "setup").read_text("utf-8")
    [version] = re.findall(r"^TORCH_VERSION=(\S+)$", setup, re.M)
    assert pins()["torch"] == version  # no local label: the index chooses the CPU or the CUDA build


def test_the_licence_is_the_one_pyproject_declares() -> None:
    assert PROJECT["license"] == "MIT"
    text = (ROOT / "LICENSE").read_text("utf-8")
    assert text.startswith("MIT License") and "the qunzhi authors" in text


def test_the_cpu_index_probe_gives_up_quickly_when_nothing_answers(tmp_path: Path) -> None:
    setup = (ROOT / "scripts" / "setup").read_text("utf-8")
    [probe] = re.findall(r"^reachable\(\) \{.*?^\}$", setup, re.M | re.S)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").symlink_to(sys.executable)
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/whl/cpu"
        t0 = time.monotonic()
        done = subprocess.run(
            ["bash", "-c", f'{probe}\nreachable "$1"', "probe", url],
            cwd=tmp_path,
            env={**os.environ, "QUNZHI_PROBE_SECONDS": "1"},
            capture_output=True,
            timeout=30,
        )
        elapsed = time.monotonic() - t0
    assert done.returncode == 1 and elapsed < 4.5, (done.returncode, elapsed, done.stderr)
