"""The package's layering, checked from the source: no upward imports and no import circles.

Every ``import`` / ``from ... import`` under ``edgedet/`` is read with :mod:`ast`, including imports inside
functions (a lazy import is still a dependency). ``docs/ARCHITECTURE.md`` draws the same layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "edgedet"

# Package -> the edgedet packages it may import. Lower layers come first; a package absent here may import
# nothing of edgedet but ``edgedet`` itself (the version).
ALLOWED: dict[str, set[str]] = {
    "deploy": set(),
    "config": set(),
    "structures": set(),
    "losses": {"structures"},
    "assigners": {"structures", "losses"},
    "models": {"structures", "losses", "assigners", "config", "deploy"},
    "data": {"deploy", "config"},
    "quant": {"deploy"},
    "runtime": {"deploy"},
    "bench": {"deploy", "runtime"},
    "engine": {"deploy", "bench", "config", "structures", "losses", "assigners", "models", "data"},
    "distill": {"deploy", "config", "structures", "losses", "assigners", "models", "data", "engine"},
    "export": {"deploy", "bench", "config", "structures", "models", "data", "quant", "runtime", "engine"},
    "demo": {"deploy", "runtime", "bench"},  # torch only inside CheckpointPredictor, on a model cli loaded
    "quickstart": {"deploy", "config", "data", "engine", "distill", "export", "models", "runtime", "bench"},
    "cli_examples": set(),
    "cli_parser": {"cli_examples", "export", "bench", "demo"},  # each command package's add_*_parser, no torch
    "cli": {"cli_parser", "deploy", "config", "data", "engine", "distill", "export", "models", "runtime", "bench",
            "quickstart", "demo"},
}
TORCH_FREE = ("deploy", "runtime", "bench", "config")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


DYNAMIC_IMPORTERS = ("import_module", "require", "__import__")


def imported_modules(source: str, module: str) -> set[str]:
    """Every module ``source`` (the code of ``module``, a dotted name) imports: ``import``, ``from`` (relative
    ones resolved; ``from a import b`` also yields ``a.b``, which may be a submodule) and ``import_module`` /
    ``require`` / ``__import__`` calls with a literal name, at any depth."""
    package = module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if func in DYNAMIC_IMPORTERS and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
    return found


def _imports(path: Path) -> set[str]:
    name = _module_name(path)
    # a package's __init__ resolves relative imports against itself
    return imported_modules(path.read_text(encoding="utf-8"), name + ".__init__" if path.name == "__init__.py" else name)


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {m for m in _imports(path) if m in modules and m != name}
    return graph


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_upward_imports() -> None:
    graph = _graph()
    wrong = []
    for module, targets in graph.items():
        src = _package(module)
        for target in targets:
            dst = _package(target)
            if dst and dst != src and dst not in ALLOWED.get(src, set()):
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports against the layering (tests/test_architecture.py ALLOWED):\n" + "\n".join(sorted(wrong))


def test_no_package_circles() -> None:
    graph = _graph()
    edges: dict[str, set[str]] = {}
    for module, targets in graph.items():
        for target in targets:
            a, b = _package(module), _package(target)
            if a and b and a != b:
                edges.setdefault(a, set()).add(b)
    cycle = _find_cycle(edges)
    assert cycle is None, f"package import circle: {' -> '.join(cycle)}"


def test_no_module_circles() -> None:
    cycle = _find_cycle(_graph())
    assert cycle is None, f"module import circle: {' -> '.join(cycle)}"


@pytest.mark.parametrize("package", TORCH_FREE)
def test_torch_free_packages_import_no_torch(package: str) -> None:
    offenders = [
        f"{_module_name(p)} imports {m}"
        for p in (ROOT / package).rglob("*.py")
        for m in _imports(p)
        if m == "torch" or m.startswith("torch.") or m.startswith("torchvision")
    ]
    assert not offenders, "\n".join(offenders)


def _find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph as a node list (first node repeated at the end), or None."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


@pytest.mark.parametrize("line", [
    "import torch", "from torch import nn", "from edgedet.models.base import Detector", "from ..engine import trainer",
    "from .. import models", "importlib.import_module('torch')", "require('edgedet.export.api', 'export')",
])
def test_the_walk_sees_every_form_of_import(line: str) -> None:
    """A new forbidden import is caught however it is written (here: nested inside a function)."""
    found = imported_modules(f"def f():\n    if True:\n        {line}\n", "edgedet.runtime.onnxrt")
    assert any(n.split(".")[0] == "torch" or _package(n) in ("models", "engine", "export") for n in found), (line, found)
    assert imported_modules("import numpy\nfrom . import nms\n", "edgedet.runtime.onnxrt") == {
        "numpy", "edgedet.runtime", "edgedet.runtime.nms"}


def test_find_cycle_finds_and_clears() -> None:
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": {"c"}}) is None
