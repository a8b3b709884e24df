"""Optional heavy dependencies: import them where needed, with an error that names the pip extra."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str) -> ModuleType:
    """Import an optional dependency or raise ``ImportError`` saying which pip extra provides it.

    Args:
        module: dotted module name, e.g. ``"onnxruntime"``.
        extra: the ``edgedet[...]`` extra that installs it, e.g. ``"runtime"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"'{module}' is needed for this backend but is not installed: "
                          f"pip install 'edgedet[{extra}]'") from e
