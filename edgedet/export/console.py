"""Keep the converters' own output (litert-torch, JAX, absl, oneDNN, MLIR, x2paddle, paddle_lite_opt) in a log file.

The converters write from C++ and from subprocesses as well as from Python, so ``contextlib.redirect_stdout`` would
miss most of it: :func:`converter_output_to` points the process's file descriptors 1 and 2 at the log for the
duration, which subprocesses inherit too.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path


@contextmanager
def converter_output_to(log_path: Path | None) -> Iterator[None]:
    """Send everything written to stdout / stderr (Python, C, subprocesses) to ``log_path``, appended.

    Args:
        log_path: the log file; None leaves the output where it is (``--verbose``).
    """
    if log_path is None:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        # line-buffered, so Python's lines and the C writes keep their order in the file
        with open(log_path, "a", buffering=1, errors="replace") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                # sys.stdout may not be fd 1 (a notebook, a test's capture): send Python's writes there too
                with redirect_stdout(log), redirect_stderr(log):
                    yield
            finally:
                log.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        os.close(saved[0])
        os.close(saved[1])


def log_tail(log_path: Path, lines: int = 25) -> str:
    """The last ``lines`` lines of a log (what a failed conversion said last), or "" if there is none."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])
