"""The package's shape stays readable: no module over 500 lines, no function over 80, and no
library module imports the command line (``lookalike.cli``) or the web surface."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "lookalike"
MAX_MODULE, MAX_FUNCTION = 500, 80


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            n = node.end_lineno - node.lineno + 1
            if n > MAX_FUNCTION:
                out.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({n} lines)")
    return out


def test_no_module_over_500_lines():
    long = [f"{p.relative_to(SRC)} ({n})" for p in _modules()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE]
    assert not long, long


def test_no_function_over_80_lines():
    long = [f for p in _modules() for f in long_functions(p)]
    assert not long, long


def _imports(path: Path) -> set[str]:
    """The lookalike modules a file imports (relative imports resolved)."""
    package = ".".join(("lookalike", *path.relative_to(SRC).with_suffix("").parts))
    if path.name == "__init__.py":
        package = package.rsplit(".", 1)[0] + ".__init__"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:-node.level]
                out.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m.startswith("lookalike")}


@pytest.mark.parametrize(("surface", "above"), [("lookalike.cli", ("cli", "__main__.py")),
                                                ("lookalike.web", ("web", "cli"))])
def test_library_modules_do_not_import_the_surfaces(surface, above):
    bad = [f"{p.relative_to(SRC)} imports {m}" for p in _modules()
           if p.relative_to(SRC).parts[0] not in above
           for m in _imports(p) if m == surface or m.startswith(surface + ".")]
    assert not bad, bad
