"""Paddle-Lite backend: ``PaddleLiteBackend(model_path, meta, threads).run(x_nchw)`` on a ``.nb`` file.

The ``paddlelite`` wheel (``MobileConfig``) exists only for Python <= 3.10. Where it imports (a board or phone
with Python 3.10), the ``.nb`` runs in-process. Elsewhere (the 3.11 host, for parity and evaluation) it runs in
a ``lite_server.py`` child process of the cached Python 3.10 toolchain (:mod:`edgedet.deploy.toolchain`),
fed over a pipe: correct, but each call pays a copy of the input and outputs.

An export directory holds ``model.nb`` (ARM, the file to ship) and ``model_x86.nb`` (same graph optimised for
x86, ``extra.x86_model_file``); on an x86-64 host the x86 file is run. ``MobileConfig``'s Python binding in
2.13rc0 exposes no thread setting: ``threads`` is ignored here (Paddle-Lite's default).
"""

from __future__ import annotations

import io
import json
import os
import platform
import struct
import subprocess
import tempfile
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from edgedet.runtime.validate import check_model_io

X86_MACHINES = ("x86_64", "amd64", "i386", "i686")


def pick_model_file(model_path: Path, meta: dict[str, Any]) -> Path:
    """The ``.nb`` for this machine: the x86 variant on x86 hosts when the export has one, else ``model_path``."""
    x86 = meta.get("extra", {}).get("x86_model_file")
    if platform.machine().lower() in X86_MACHINES:
        if not x86 or not (model_path.parent / x86).is_file():
            raise FileNotFoundError(f"{model_path} is an ARM Paddle-Lite model and this is an x86 host: the export "
                                    f"directory needs its x86 variant ({x86 or 'extra.x86_model_file'}); re-export")
        return model_path.parent / x86
    return model_path


class _InProcess:
    def __init__(self, nb: Path):
        from paddlelite.lite import MobileConfig, create_paddle_predictor

        config = MobileConfig()
        config.set_model_from_file(str(nb))
        self.predictor = create_paddle_predictor(config)
        self.outputs = list(self.predictor.get_output_names())

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        self.predictor.get_input(0).from_numpy(np.ascontiguousarray(x, np.float32))
        self.predictor.run()
        return [np.array(self.predictor.get_output(i).numpy()) for i in range(len(self.outputs))]


class _ToolchainServer:
    """``lite_server.py`` in the Python 3.10 toolchain; requests on its stdin, replies on a private pipe."""

    def __init__(self, nb: Path):
        from edgedet.deploy.toolchain import ToolchainError, worker_command

        self._error = ToolchainError
        read_fd, write_fd = os.pipe()
        # a file, not a pipe: Paddle-Lite's logging must never block the server; closed by _shutdown
        self.log = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(worker_command("lite_server.py", str(nb), str(write_fd)),
                                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=self.log, pass_fds=(write_fd,))
        finally:
            os.close(write_fd)
        self.replies = os.fdopen(read_fd, "rb")
        self._finalizer = weakref.finalize(self, _shutdown, self.proc, self.replies, self.log)
        header = json.loads(self._receive())
        self.outputs = header["outputs"]
        self.version = header["version"]

    def _receive(self) -> bytes:
        head = self.replies.read(8)
        if len(head) < 8:
            self.proc.wait(timeout=30)
            self.log.seek(0)
            err = self.log.read().decode(errors="replace")[-3000:]
            raise self._error(f"the Paddle-Lite server exited (code {self.proc.poll()}): {err}")
        (size,) = struct.unpack("<Q", head)
        return self.replies.read(size)

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(x, np.float32))
        payload = buf.getvalue()
        self.proc.stdin.write(struct.pack("<Q", len(payload)) + payload)
        self.proc.stdin.flush()
        reply = self._receive()
        if reply[:1] == b"{":
            raise RuntimeError(f"Paddle-Lite run failed: {json.loads(reply)['error']}")
        with np.load(io.BytesIO(reply)) as z:
            return [z[f"out{i}"] for i in range(len(self.outputs))]

    def close(self) -> None:
        self._finalizer()


def _shutdown(proc: subprocess.Popen, replies: Any, log: Any) -> None:
    """Ask the server to stop (zero-length request), kill it if it does not, close the reply pipe."""
    if proc.poll() is None:
        try:
            proc.stdin.write(struct.pack("<Q", 0))
            proc.stdin.close()
            proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
    replies.close()
    log.close()


def _open(nb: Path) -> _InProcess | _ToolchainServer:
    try:
        import paddlelite.lite  # noqa: F401
    except ImportError:
        return _ToolchainServer(nb)
    return _InProcess(nb)


class PaddleLiteBackend:
    """A Paddle-Lite predictor (in-process or through the toolchain); batch 1 per call, looped over the batch."""

    def __init__(self, model_path: Path, meta: dict[str, Any], threads: int | None = None):
        self.meta = meta
        self.model_file = pick_model_file(Path(model_path), meta)
        self.impl = _open(self.model_file)
        names = self.impl.outputs
        wanted = meta.get("extra", {}).get("paddle_output_names") or names
        if sorted(wanted) != sorted(names) or len(wanted) != len(meta["outputs"]):
            raise ValueError(f"{self.model_file}: outputs {names} do not match edgedet.json ({wanted}); re-export")
        self.order = [names.index(n) for n in wanted]
        check_model_io(self.io_signature(), meta, model_path)

    def io_signature(self) -> dict[str, Any]:
        """Output names only: a ``.nb`` file's input shape and tensor types are not exposed by its loader."""
        return {"inputs": None, "outputs": [{"name": n, "shape": None, "dtype": None} for n in self.impl.outputs],
                "precision": None}

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """float32 ``[B, 3, S, S]`` -> outputs in ``meta["outputs"]`` order (float32)."""
        per_image = [self.impl.run(image[None]) for image in np.asarray(x, np.float32)]
        return [np.concatenate([o[i] for o in per_image]).astype(np.float32) for i in self.order]
