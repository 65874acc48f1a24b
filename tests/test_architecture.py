"""The layers stay as ARCHITECTURE.md draws them: no import cycles, the product never imports the lab,
few loose modules, and no module over 400 lines. Read from the source (ast), so nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
PACKAGE = PROJECT / "procedures"


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def imported(tree: ast.AST, *, runtime_only: bool) -> set[str]:
    """Our modules that ``tree`` imports; with ``runtime_only``, not those under ``if TYPE_CHECKING:``."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if runtime_only and isinstance(node, ast.If) and _type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in MODULES else node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {name for name in found if name in MODULES}


def edges(name: str, *, runtime_only: bool) -> set[str]:
    """What importing ``name`` runs first: each imported module, and its packages that ``name`` is not inside."""
    targets = imported(ast.parse(MODULES[name].read_text()), runtime_only=runtime_only)
    result = set()
    for target in targets:
        parts = target.split(".")
        for depth in range(2, len(parts) + 1):
            package = ".".join(parts[:depth])
            if not (name == package or name.startswith(package + ".")) or package == target:
                result.add(package)
    return result - {name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while (member := stack.pop()) != node:
                group.append(member)
            group.append(node)
            if len(group) > 1:
                groups.append(sorted(group))

    for name in graph:
        if name not in index:
            connect(name)
    return groups


def test_no_import_cycles() -> None:
    assert cycles({name: edges(name, runtime_only=True) for name in MODULES}) == []


def test_the_product_never_imports_the_lab() -> None:
    product = [name for name in MODULES if not (name == "procedures.lab" or name.startswith("procedures.lab."))]
    offenders = {name: sorted(t for t in edges(name, runtime_only=False) if t.startswith("procedures.lab"))
                 for name in product}
    assert {name: targets for name, targets in offenders.items() if targets} == {}


def test_the_walker_reads_imports_and_finds_cycles() -> None:
    """The checks above would catch what they look for."""
    tree = ast.parse("from typing import TYPE_CHECKING\nfrom procedures.lab import Lab\n"
                     "if TYPE_CHECKING:\n    from procedures.host import Host\nfrom procedures import record\n"
                     "def later():\n    from procedures.run import dryrun\n")
    assert imported(tree, runtime_only=True) == {"procedures.lab", "procedures.record", "procedures.run.dryrun"}
    assert imported(tree, runtime_only=False) == {"procedures.lab", "procedures.record", "procedures.host",
                                                  "procedures.run.dryrun"}
    assert "procedures.host" in edges("procedures.run.lock", runtime_only=True)  # a package's __init__ runs first
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_few_loose_modules_and_none_oversized() -> None:
    loose = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(loose) <= 6, loose
    oversized = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > 400}
    assert oversized == {}
