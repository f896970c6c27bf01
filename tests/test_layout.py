"""The package's shape stays readable: no module over 500 lines, no function over 80, and no
library module imports the command line (``lookalike.cli``) or the web surface."""

from __future__ import annotations

import ast
import functools
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


def _is_module(name: str) -> bool:
    rel = Path(*name.split(".")[1:])
    return (SRC / rel).with_suffix(".py").is_file() or (SRC / rel / "__init__.py").is_file()


@functools.cache  # four tests ask about every module: each file is parsed once a run
def _imports(path: Path) -> frozenset[str]:
    """The lookalike modules a file imports at run time (relative imports resolved; imports
    under ``if TYPE_CHECKING:`` are left out)."""
    package = ".".join(("lookalike", *path.relative_to(SRC).with_suffix("").parts))
    if path.name == "__init__.py":
        package = package.rsplit(".", 1)[0] + ".__init__"
    out = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for block in ast.walk(tree):  # imports only for type checkers are no dependency at run time
        if isinstance(block, ast.If) and ast.unparse(block.test).endswith("TYPE_CHECKING"):
            block.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:-node.level]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            for alias in node.names:  # `from lookalike.a import b` may import the module a.b
                sub = f"{module}.{alias.name}"
                out.add(sub if _is_module(sub) else module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return frozenset(m for m in out if m.startswith("lookalike"))


@pytest.mark.parametrize(("surface", "above"), [("lookalike.cli", ("cli", "__main__.py")),
                                                ("lookalike.web", ("web", "cli"))])
def test_library_modules_do_not_import_the_surfaces(surface, above):
    bad = [f"{p.relative_to(SRC)} imports {m}" for p in _modules()
           if p.relative_to(SRC).parts[0] not in above
           for m in _imports(p) if m == surface or m.startswith(surface + ".")]
    assert not bad, bad


# The floors of the package, lowest first: a module imports only its own floor and the floors
# below (README, "How it works"). Surfaces (cli, web) are checked above.
FLOORS = [
    {"errors", "progress", "names", "files", "cache", "_version", "schema"},
    {"runtime"},
    {"photos"},
    {"face"},
    {"answer"},
    {"video"},
    {"models"},
    {"measure"},
    {"pictures"},
    {"grouping"},
    {"cli", "web", "__main__", "__init__"},
]


def _floor(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    for i, names in enumerate(FLOORS):
        if top in names:
            return i
    raise AssertionError(f"{module}: not on any floor of tests/test_layout.py's FLOORS")


def test_every_module_is_on_a_floor():
    for p in _modules():
        _floor(".".join(("lookalike", *p.relative_to(SRC).with_suffix("").parts)))


def test_nothing_imports_a_floor_above_its_own():
    up = []
    for p in _modules():
        me = _floor(".".join(("lookalike", *p.relative_to(SRC).with_suffix("").parts)))
        up += [f"{p.relative_to(SRC)} imports {m}" for m in sorted(_imports(p))
               if m != "lookalike" and _floor(m) > me]
    assert not up, up


def _name(p: Path) -> str:
    parts = p.relative_to(SRC).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("lookalike", *parts))


def test_no_import_circle():
    graph = {_name(p): {m for m in _imports(p) if m != "lookalike"} for p in _modules()}
    seen: dict[str, int] = {}
    circles: list[str] = []

    def visit(node: str, path: list[str]) -> None:
        seen[node] = 1
        for dep in sorted(graph.get(node, ())):
            if dep not in graph or dep == node:
                continue
            if seen.get(dep) == 1:
                circles.append(" -> ".join([*path[path.index(dep):], dep]))
            elif dep not in seen:
                visit(dep, [*path, dep])
        seen[node] = 2

    for start in sorted(graph):
        if start not in seen:
            visit(start, [start])
    assert not circles, circles
