"""The docs hold together: every relative link and #anchor resolves, every page is reachable from
the README, and the README stays short enough to read at once."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 330

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`+[^`]*`+")
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # http:, https:, mailto: ...


def pages() -> list[Path]:
    found = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [p for p in found if p.exists()]


def prose_lines(path: Path) -> list[str]:
    """The page's lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in path.read_text("utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text, lower case, punctuation dropped, spaces to -."""
    text = LINK.sub(lambda m: m.group(0)[m.group(0).index("[") + 1 : m.group(0).index("](")], heading)
    text = text.replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out: set[str] = set()
    for line in prose_lines(path):
        m = HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path: Path) -> list[str]:
    return [m.group(1) for line in prose_lines(path) for m in LINK.finditer(INLINE_CODE.sub("", line))]


def relative_links(path: Path) -> list[str]:
    return [t for t in links(path) if not EXTERNAL.match(t)]


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page):
    broken = []
    for target in relative_links(page):
        file_part, _, anchor = target.partition("#")
        dest = (page.parent / file_part).resolve() if file_part else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_every_docs_page_is_reachable_from_the_readme():
    reached, todo = set(), [ROOT / "README.md"]
    while todo:
        page = todo.pop()
        if page in reached or not page.exists() or page.suffix != ".md":
            continue
        reached.add(page)
        for target in relative_links(page):
            file_part = target.partition("#")[0]
            if file_part:
                todo.append((page.parent / file_part).resolve())
    orphans = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "docs").rglob("*.md")) if p.resolve() not in reached]
    assert not orphans, f"not linked from the README or a page it links to: {orphans}"


def test_the_readme_stays_short():
    n = len((ROOT / "README.md").read_text("utf-8").splitlines())
    assert n <= README_MAX_LINES, f"README.md has {n} lines; move detail into docs/ (at most {README_MAX_LINES})"


def parser_commands() -> set[str]:
    """Every `qunzhi` subcommand, `db` actions as "db upgrade" ..."""
    import argparse

    from bot.cli import build_parser

    def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        return next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})

    found = set()
    for name, sub in subcommands(build_parser()).items():
        nested = subcommands(sub)
        found |= {f"{name} {n}" for n in nested} if nested else {name}
    return found


def test_the_readme_command_table_lists_every_subcommand():
    rows = re.findall(r"^\| `qunzhi ([a-z]+(?: [a-z]+)?)", (ROOT / "README.md").read_text("utf-8"), re.M)
    nested = {c.split()[0] for c in parser_commands() if " " in c}  # db, user, token: their actions listed
    table = {r if r.split()[0] in nested else r.split()[0] for r in rows}
    assert table == parser_commands()


def test_the_checker_sees_broken_links(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# A `code` heading: yes\n\n[ok](#a-code-heading-yes) [bad](#nope) [gone](missing.md)\n"
        "```\n[in code](ignored.md)\n```\n`[span](ignored.md)` [web](https://example.com)\n",
        "utf-8",
    )
    assert anchors(page) == {"a-code-heading-yes"}
    assert relative_links(page) == ["#a-code-heading-yes", "#nope", "missing.md"]
