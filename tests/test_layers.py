"""Keep the module map honest: walk every import with ast and check who may import what."""

import ast
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
    assert not [m for m in imports(path) if m.split(".")[0] in {"wechaty", "wechaty_puppet", "wechaty_puppet_service", "wechaty_grpc"}]


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
