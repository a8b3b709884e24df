"""Import layering, read from the source (every import statement, function-level ones included):

* ``edgedet.deploy`` and ``edgedet.runtime`` never import torch, ``edgedet.export``, ``edgedet.engine`` or
  ``edgedet.models`` (a device installs only the runtime);
* ``edgedet.deploy`` does not import ``edgedet.runtime`` either (runtime and export both build on it);
* runtime backends do not import ``edgedet.runtime.base`` (base imports them), exporters do not import
  ``edgedet.export.api`` (api imports them).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import edgedet

PACKAGE = Path(edgedet.__file__).resolve().parent
TORCH_FREE = ("torch", "torchvision", "edgedet.export", "edgedet.engine", "edgedet.models")
DYNAMIC_IMPORTERS = ("import_module", "require", "__import__")


def imported_modules(source: str, module: str) -> list[str]:
    """Every module ``source`` (the code of ``module``) imports: ``import``, ``from`` (relative ones resolved)
    and ``importlib.import_module`` / ``require`` / ``__import__`` calls with a literal name, at any depth."""
    names = []
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names += [base] + [f"{base}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if func in DYNAMIC_IMPORTERS and isinstance(node.args[0].value, str):
                names.append(node.args[0].value)
    return names


def _is_under(name: str, roots: tuple[str, ...]) -> bool:
    return any(name == r or name.startswith(r + ".") for r in roots)


def offenders(folder: str, forbidden: tuple[str, ...], skip: tuple[str, ...] = (), exact: tuple[str, ...] = ()
              ) -> list[str]:
    """``"module: import"`` for each import under edgedet/``folder`` of a module in (or under) ``forbidden`` or
    equal to one of ``exact``."""
    found = []
    for path in sorted((PACKAGE / folder).rglob("*.py")):
        if path.name in skip:
            continue
        module = "edgedet." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        found += [f"{module}: {n}" for n in imported_modules(path.read_text(), module)
                  if _is_under(n, forbidden) or n in exact]
    return found


@pytest.mark.parametrize("folder", ["deploy", "runtime"])
def test_deploy_and_runtime_import_no_torch_export_engine_or_models(folder):
    assert list((PACKAGE / folder).rglob("*.py")), f"no modules under edgedet/{folder}"
    assert offenders(folder, TORCH_FREE) == []


def test_deploy_does_not_import_runtime():
    assert offenders("deploy", ("edgedet.runtime",)) == []


def test_backends_and_exporters_do_not_import_their_table():
    # ``from edgedet.runtime import x`` runs the package __init__, which is base's: as bad as importing base
    assert offenders("runtime", ("edgedet.runtime.base",), skip=("base.py", "__init__.py"),
                     exact=("edgedet.runtime",)) == []
    assert offenders("export", ("edgedet.export.api",), skip=("api.py", "cli.py")) == []


@pytest.mark.parametrize("line", [
    "import torch", "import torch.nn as nn", "from torch import nn", "from edgedet.models.base import Detector",
    "from edgedet.export import api", "from ..engine import trainer", "from .. import models",
    "importlib.import_module('torch')", "require('edgedet.export.api', 'export')",
])
def test_the_check_sees_every_form_of_import(line):
    """The walk would catch a new forbidden import, however it is written (here: inside a function)."""
    source = f"def f():\n    if True:\n        {line}\n"
    assert any(_is_under(n, TORCH_FREE) for n in imported_modules(source, "edgedet.runtime.onnxrt")), line
    assert not any(_is_under(n, TORCH_FREE) for n in imported_modules("import numpy\nfrom . import nms\n",
                                                                      "edgedet.runtime.onnxrt"))
