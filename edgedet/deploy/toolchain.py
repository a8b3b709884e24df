"""The Python 3.10 toolchain for Paddle-Lite: a cached venv and the worker scripts run inside it.

The ``paddlelite`` wheel (``paddle_lite_opt`` and the ``MobileConfig`` predictor) exists only for Python <= 3.10
(2.13rc0 on cp310), while edgedet runs on 3.11+. So the first call of :func:`ensure_toolchain` creates a venv
from a Python 3.10 interpreter at ``$EDGEDET_CACHE/toolchain-py310`` (default ``~/.cache/edgedet``) with
:data:`TOOLCHAIN_PACKAGES`, and later calls reuse it. Paddle itself (x2paddle, paddle.inference) runs in the
main environment: paddlepaddle 2.6.2 has cp311 wheels, so this venv needs only paddlelite and numpy < 2.

Python 3.10 is found through ``$EDGEDET_PY310`` (a path), ``python3.10`` on ``PATH``, or pyenv
(``$(pyenv root)/versions/3.10.*/bin/python3.10``). Worker scripts live in ``edgedet/deploy/_py310/`` and run
as plain scripts that import nothing from edgedet (``lite_server.py``: a ``.nb`` through ``MobileConfig``);
``paddle_lite_opt`` is the venv's own console script (:func:`toolchain_bin`).

Here, in :mod:`edgedet.deploy` (stdlib only), because both sides use it: :mod:`edgedet.export.paddle_lite` runs
``paddle_lite_opt`` and :mod:`edgedet.runtime.paddle_lite` runs ``.nb`` files through ``lite_server.py``.

The building is generic: a :class:`CachedVenv` names a folder under the cache, the packages and the interpreter to
make it from; :func:`ensure_venv` builds it once under a file lock (a stamp file records the packages, so a
changed list rebuilds) and returns its ``python``. :data:`PADDLE_LITE` is the toolchain above; the tests build
other environments the same way (e.g. ``tflite-runtime`` with numpy < 2, tests/runtime/test_tflite_runtime.py).
"""

from __future__ import annotations

import fcntl
import glob
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TOOLCHAIN_PACKAGES = ("paddlelite==2.13rc0", "numpy<2")
"""Pinned: paddlelite 2.13rc0 is the only cp310 wheel; its pybind module is built against numpy 1.x."""
VENV_NAME = "toolchain-py310"
WORKER_DIR = Path(__file__).with_name("_py310")
_STAMP = ".edgedet-toolchain"


class ToolchainError(RuntimeError):
    """The Python 3.10 toolchain could not be found, built or run."""


def cache_root() -> Path:
    """``$EDGEDET_CACHE`` or ``~/.cache/edgedet``."""
    return Path(os.environ.get("EDGEDET_CACHE") or Path.home() / ".cache" / "edgedet")


def toolchain_dir() -> Path:
    return cache_root() / VENV_NAME


def _is_py310(exe: str | Path) -> bool:
    try:
        out = subprocess.run([str(exe), "-c", "import sys; print(sys.version_info[:2] == (3, 10))"], check=False,
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == "True"


def _pyenv_candidates() -> list[str]:
    roots = []
    if shutil.which("pyenv"):
        out = subprocess.run(["pyenv", "root"], check=False, capture_output=True, text=True, timeout=60)
        if out.returncode == 0 and out.stdout.strip():
            roots.append(out.stdout.strip())
    roots.append(os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv"))
    found = []
    for root in dict.fromkeys(roots):
        found += sorted(glob.glob(os.path.join(root, "versions", "3.10.*", "bin", "python3.10")), reverse=True)
    return found


def find_python310() -> Path:
    """A Python 3.10 interpreter: ``$EDGEDET_PY310``, ``python3.10`` on PATH, or pyenv's 3.10.x.

    Raises:
        ToolchainError: none found (the message says how to provide one).
    """
    env = os.environ.get("EDGEDET_PY310")
    if env:
        if not _is_py310(env):
            raise ToolchainError(f"EDGEDET_PY310={env} is not a working Python 3.10 interpreter")
        return Path(env)
    candidates = [p for p in (shutil.which("python3.10"),) if p] + _pyenv_candidates()
    for exe in candidates:
        if _is_py310(exe):
            return Path(exe)
    raise ToolchainError(
        "Paddle-Lite needs a Python 3.10 interpreter (the paddlelite wheel exists only for Python <= 3.10) and "
        f"none was found (looked at $EDGEDET_PY310, python3.10 on PATH, pyenv versions 3.10.*; tried "
        f"{candidates or 'nothing'}). Install one (e.g. `pyenv install 3.10`) or set EDGEDET_PY310=/path/to/python3.10")


@dataclass(frozen=True)
class CachedVenv:
    """A venv that edgedet builds once under :func:`cache_root`.

    Attributes:
        name: its folder under the cache (and the lock file's name).
        packages: pip requirements, installed in one ``pip install``; the stamp records them.
        python: returns the interpreter to make the venv from (raises :class:`ToolchainError` when there is none).
        purpose: what it is for, in progress and error messages.
    """

    name: str
    packages: tuple[str, ...]
    python: Callable[[], Path]
    purpose: str

    @property
    def path(self) -> Path:
        return cache_root() / self.name

    @property
    def venv_python(self) -> Path:
        return self.path / "bin" / "python"


# find_python310 looked up at build time (not bound here), so a test's monkeypatch of it applies
PADDLE_LITE = CachedVenv(VENV_NAME, TOOLCHAIN_PACKAGES, lambda: find_python310(), "the Python 3.10 toolchain")


def toolchain_python() -> Path:
    return PADDLE_LITE.venv_python


def _ready(venv: CachedVenv) -> bool:
    stamp = venv.path / _STAMP
    return stamp.is_file() and stamp.read_text().split("\n") == list(venv.packages)


def _build(venv: CachedVenv) -> None:
    """Build in place under the lock; the stamp is written last, so an interrupted build is redone."""
    base = venv.python()
    shutil.rmtree(venv.path, ignore_errors=True)
    steps = [[str(base), "-m", "venv", str(venv.path)],
             [str(venv.venv_python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *venv.packages]]
    for cmd in steps:
        out = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if out.returncode != 0:
            raise ToolchainError(f"building {venv.purpose} failed at `{' '.join(cmd)}`:\n{out.stderr[-3000:]}")
    (venv.path / _STAMP).write_text("\n".join(venv.packages))


def ensure_venv(venv: CachedVenv, log=lambda msg: print(msg, file=sys.stderr)) -> Path:
    """Create ``venv`` (once, under a file lock) and return its ``python``.

    Raises:
        ToolchainError: no base interpreter, or pip could not install ``venv.packages``.
    """
    if _ready(venv):
        return venv.venv_python
    venv.path.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.path.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _ready(venv):
            start = time.perf_counter()
            log(f"edgedet: building {venv.purpose} ({', '.join(venv.packages)}) at {venv.path} ...")
            _build(venv)
            log(f"edgedet: {venv.purpose} built in {time.perf_counter() - start:.1f} s")
    return venv.venv_python


def ensure_toolchain(log=lambda msg: print(msg, file=sys.stderr)) -> Path:
    """Create (once, under a file lock) and return the Paddle-Lite toolchain venv's ``python``.

    Raises:
        ToolchainError: no Python 3.10, or pip could not install :data:`TOOLCHAIN_PACKAGES`.
    """
    return ensure_venv(PADDLE_LITE, log)


def worker_command(script: str, *args: str) -> list[str]:
    """``[toolchain python, edgedet/deploy/_py310/<script>, *args]`` (builds the toolchain if needed)."""
    path = WORKER_DIR / script
    if not path.is_file():
        raise ToolchainError(f"no worker script {path}")
    return [str(ensure_toolchain()), str(path), *map(str, args)]


def toolchain_bin(name: str) -> Path:
    """An executable of the toolchain venv (e.g. ``paddle_lite_opt``); builds the toolchain if needed."""
    exe = ensure_toolchain().parent / name
    if not exe.is_file():
        raise ToolchainError(f"{exe} is missing from the toolchain: delete {toolchain_dir()} to rebuild it")
    return exe
