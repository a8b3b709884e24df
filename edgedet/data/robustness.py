"""Run one broken dataset (from :mod:`edgedet.data.mutate`) through ``data check`` and the loader and classify
the outcome: handled, crashed, escaped (a read outside the dataset root) or unclear (a message naming no file).

Shared by ``tests/data/test_reader_fuzz.py`` and ``benchmarks/robustness/reader_mutations.py``; reads outside the
root are caught with an audit hook on ``open`` (installed on first use, active only while a case runs).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from edgedet.data.mutate import SECRET

_WATCHED: list[str] = []  # path prefixes whose opening is an escape; read by the audit hook
_ESCAPES: list[str] = []  # what was opened under them
_HOOKED: list[bool] = []  # the hook cannot be removed: install it once


def _audit(event: str, args: tuple) -> None:
    if event == "open" and _WATCHED and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.fsdecode(args[0])
        if any(path.startswith(w) for w in _WATCHED):
            _ESCAPES.append(path)


def run_case(case: Path, entry: Path, loader: bool = True) -> dict:
    """Run ``data check`` and (with ``loader``) the training / evaluation loader on a broken case.

    Returns:
        ``{"outcome", "detail", "split_rejected", "messages"}``. Outcome ``"handled"``: problems or one
        dataset error (:class:`edgedet.data.DatasetError`; ``ValueError`` in an edgedet that has none), every
        message one line naming a file of the case. ``"crashed"``: any other exception (detail: its type and
        message). ``"escaped"``: a file under ``case/outside`` was opened, :data:`SECRET` reached the output, or
        a record points outside the root. ``"unclear"``: a message of several lines or naming no file.
        ``split_rejected``: the split as a whole was refused. Hangs are the caller's to time out.
    """
    import edgedet.data as data

    error_class = getattr(data, "DatasetError", ValueError)
    if not _HOOKED:
        sys.addaudithook(_audit)
        _HOOKED.append(True)
    _ESCAPES.clear()
    _WATCHED[:] = [str((case / "outside").resolve()), str(case / "outside")]
    texts: list[tuple[str, str]] = []  # (file named, line)
    rejected = False
    try:
        problems = data.check_dataset(entry)
        texts += [(p.file, str(p)) for p in problems]
        rejected = any(p.entry.startswith("split '") for p in problems)
        if loader:
            texts += _run_loader(entry, data.load_dataset)
    except error_class as e:
        texts.append((getattr(e, "file", str(e).split(":")[0]), str(e)))
        rejected = True
    except Exception as e:  # noqa: BLE001 - counting what escapes is the point
        return {"outcome": "crashed", "detail": f"{type(e).__name__}: {one_line_of(e)}", "split_rejected": False,
                "messages": len(texts)}
    finally:
        _WATCHED.clear()
    outcome, detail = "handled", f"{len(texts)} message(s)"
    for file, text in texts:
        if SECRET in text:
            outcome, detail = "escaped", f"echoed {SECRET}: {text[:200]}"
        elif outcome == "handled" and ("\n" in text or not file or not file.startswith((str(case),
                                                                                       str(case.resolve())))):
            outcome, detail = "unclear", text[:300]
    if _ESCAPES:
        outcome, detail = "escaped", f"opened {_ESCAPES[0]}"
    return {"outcome": outcome, "detail": detail, "split_rejected": rejected, "messages": len(texts)}


def one_line_of(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return (lines[-1] if lines else "")[:300]


def _run_loader(entry: Path, load_dataset) -> list[tuple[str, str]]:
    """Read the split as training does and draw every item in train and eval mode."""
    from edgedet.data.dataset import DetectionDataset

    index = load_dataset(entry)
    root = index.root.resolve()
    for rec in index.images:
        if not rec.file.resolve().is_relative_to(root):
            return [(str(rec.file), f"{rec.file}: record outside the root {SECRET}")]
    if SECRET in index.class_names:
        return [(str(entry), f"class names {index.class_names} hold {SECRET}")]
    if not index.images:
        return []
    for train in (True, False):
        ds = DetectionDataset(index, 64, train=train)
        try:
            for i in range(len(ds)):
                ds[i]
        except RuntimeError as e:  # every image unreadable: the loader's own one-line error
            if "can be decoded" not in str(e):
                raise
            return [(str(index.root), str(e))]
    return []
