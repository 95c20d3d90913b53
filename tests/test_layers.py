"""Keep the module map honest: walk every import with ast and check who may import what."""

import argparse
import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", modules("nlp"), ids=lambda p: str(p.relative_to(ROOT)))
def test_nlp_never_imports_bot(path):
    assert not [m for m in imports(path) if m == "bot" or m.startswith("bot.")]


@pytest.mark.parametrize("path", modules("bot") + modules("nlp"), ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_wechaty_adapter_imports_wechaty(path):
    if path == ROOT / "bot" / "adapters" / "wechaty.py":
        return
    assert not [
        m
        for m in imports(path)
        if m.split(".")[0] in {"wechaty", "wechaty_puppet", "wechaty_puppet_service", "wechaty_grpc"}
    ]


@pytest.mark.parametrize(
    "rel, allowed",
    [
        ("bot/message.py", set()),
        ("nlp/verdict.py", set()),
        ("nlp/item.py", set()),
        ("bot/moderation.py", {"bot.catalogue", "bot.config", "nlp.verdict"}),
        ("bot/catalogue.py", set()),  # wording only: stdlib, no I/O
        ("bot/records.py", {"bot.message", "nlp.verdict"}),
    ],
)
def test_small_modules_import_only_what_the_map_allows(rel, allowed):
    outside = {m for m in imports(ROOT / rel) if m.split(".")[0] not in STDLIB}
    assert outside <= allowed, f"{rel} imports {sorted(outside - allowed)}"


# --- run time without the training package -----------------------------------------------------

TRAINING = "nlp.training"
# bot/cli.py's training commands import it when they run, never to build the parser
LAZY_TRAINING_IMPORTS = {"bot/cli.py": {"cmd_train", "cmd_eval"}}


def runtime_modules() -> list[Path]:
    """Every module of bot/ and run-time nlp/: not nlp/training, not the migrations (Alembic runs
    them), not bot/__main__.py (it runs the command line)."""
    skip = (ROOT / "nlp" / "training", ROOT / "bot" / "store" / "migrations")
    return [
        p
        for p in modules("bot") + modules("nlp")
        if not any(p.is_relative_to(s) for s in skip) and p != ROOT / "bot" / "__main__.py"
    ]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def training_imports(path: Path) -> list[tuple[int, str | None]]:
    """``(line, enclosing function or None)`` of each import of nlp.training in ``path``."""
    found: list[tuple[int, str | None]] = []

    def visit(node: ast.AST, func: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, func or child.name)
                continue
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                names = [child.module] + [f"{child.module}.{a.name}" for a in child.names]
            if any(n == TRAINING or n.startswith(TRAINING + ".") for n in names):
                found.append((child.lineno, func))
            visit(child, func)

    visit(ast.parse(path.read_text("utf-8")), None)
    return found


@pytest.mark.parametrize(
    "path",
    [p for p in modules("bot") + modules("nlp") if not p.is_relative_to(ROOT / "nlp" / "training")],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_run_time_never_imports_the_training_package(path):
    rel = str(path.relative_to(ROOT))
    allowed = LAZY_TRAINING_IMPORTS.get(rel, set())
    bad = [(line, func) for line, func in training_imports(path) if func not in allowed]
    assert not bad, f"{rel} imports {TRAINING} at {bad} (only {sorted(allowed) or 'nothing'} may, inside the function)"


def test_the_lazy_training_imports_are_where_they_are_said_to_be():
    # the allowance above names real functions that do import it (a renamed command fails here)
    for rel, funcs in LAZY_TRAINING_IMPORTS.items():
        assert {func for _, func in training_imports(ROOT / rel)} == funcs


BLOCK_TRAINING = f"""
import sys

class NoTraining:
    def find_spec(self, name, path=None, target=None):
        if name == {TRAINING!r} or name.startswith({TRAINING + "."!r}):
            raise ImportError(name + ": the training package is made unimportable for this test")
        return None

sys.meta_path.insert(0, NoTraining())
"""


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(cwd)}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_run_time_imports_without_the_training_package(tmp_path):
    """`import bot.live, nlp.classify`, every other run-time module and `qunzhi --help`, from a copy of
    bot/ and nlp/ without nlp/training, with nlp.training made unimportable besides (an editable
    install's finder would still find the checkout's nlp/training for a copied nlp/)."""
    shutil.copytree(ROOT / "bot", tmp_path / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "nlp", tmp_path / "nlp", ignore=shutil.ignore_patterns("__pycache__", "training"))
    assert not (tmp_path / "nlp" / "training").exists()
    names = [module_name(p) for p in runtime_modules()]
    assert {"bot.live", "bot.cli", "bot.pipeline", "bot.wiring", "nlp.classify", "nlp.ner", "nlp.extract"} <= set(names)
    code = (
        BLOCK_TRAINING
        + f"""
import bot.live, nlp.classify
import importlib
for name in {names!r}:
    importlib.import_module(name)
assert nlp.__file__.startswith({str(tmp_path)!r}), nlp.__file__
leaked = sorted(m for m in sys.modules if m == {TRAINING!r} or m.startswith({TRAINING + "."!r}))
assert not leaked, leaked
from bot.cli import main
try:
    main(["--help"])
except SystemExit as e:
    sys.exit(e.code)
"""
    )
    done = run_python(code, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "qunzhi" in done.stdout


def test_the_eval_help_states_the_unseen_cap_the_training_package_uses():
    from bot.cli import build_parser
    from nlp.training.evaluate import UNSEEN_CAP

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    (cap,) = [a for a in sub.choices["eval"]._actions if "--unseen-cap" in a.option_strings]
    assert cap.default is None and f"default {UNSEEN_CAP}:" in cap.help


def test_the_package_build_includes_the_training_package():
    import tomllib

    from setuptools import find_packages

    find = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]["packages"]["find"]
    found = set(find_packages(str(ROOT), include=find["include"], exclude=find.get("exclude", ())))
    assert {"nlp", "nlp.encoder", "nlp.training", "bot", "bot.store"} <= found


# What may be taken from SQLAlchemy outside bot/store/: sessions and engines to open a transaction,
# database URLs to read (``make_url``), and the exceptions to catch. Building a query (select,
# update, delete, insert, text, func, a dialect's insert, a bare ``import sqlalchemy``) is the
# store's job: one home for SQL.
SQLALCHEMY_OUTSIDE_THE_STORE = {
    "sqlalchemy.orm": {"Session", "sessionmaker"},
    "sqlalchemy": {"Engine"},
    "sqlalchemy.engine": {"make_url"},
}
# Exceptions, with the reason: none today.
SQL_OUTSIDE_THE_STORE_ALLOWED: dict[str, str] = {}


def sqlalchemy_names(path: Path) -> list[str]:
    """Every SQLAlchemy import of ``path`` that is not a session, an engine or an exception."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "sqlalchemy"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "sqlalchemy":
            if node.module == "sqlalchemy.exc":
                continue
            allowed = SQLALCHEMY_OUTSIDE_THE_STORE.get(node.module or "", set())
            found += [f"{node.module}.{a.name}" for a in node.names if a.name not in allowed]
    return found


@pytest.mark.parametrize(
    "path",
    [p for p in modules("bot") + modules("nlp") + modules("benchmarks") if ROOT / "bot" / "store" not in p.parents],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_sql_is_built_only_in_the_store(path):
    rel = str(path.relative_to(ROOT))
    if rel in SQL_OUTSIDE_THE_STORE_ALLOWED:
        return
    assert not sqlalchemy_names(path), f"{rel} builds SQL: move the query into a bot/store/ module"
