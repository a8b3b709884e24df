"""File access shared by every dataset reader and writer.

Holds what the COCO, YOLO and VOC modules have in common and imports none of them (so they can all import it):
the one-line :class:`DatasetError`, confinement of every path to the dataset root (:func:`confine`), reads that
only ever open regular files (:func:`read_bytes`, :func:`read_text`; a FIFO would block forever), number and
id checks for values from JSON / YAML / XML, and :func:`place_images` for the writers.
"""

from __future__ import annotations

import errno
import math
import os
import shutil
import stat
from pathlib import Path

INT64_MAX = 2**63 - 1


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters escaped, so a message stays one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


class DatasetError(ValueError):
    """A dataset file that cannot be read at all, as one line: ``<file>[: <entry>]: <what>; fix: <fix>``.

    Raised only when a whole split is unusable (its annotation, split list or data.yaml file); a bad entry
    inside a readable file is a :class:`edgedet.data.Problem` instead. Subclasses ``ValueError`` so callers that
    catch ``ValueError`` keep working.

    Attributes:
        file, entry, message, fix: the parts of the line, as in :class:`edgedet.data.Problem`.
    """

    def __init__(self, file: str | Path, message: str, fix: str, entry: str = ""):
        self.file, self.entry, self.message, self.fix = str(file), entry, one_line(message), one_line(fix)
        where = f"{self.file}: {entry}" if entry else self.file
        super().__init__(one_line(f"{where}: {self.message}; fix: {self.fix}"))


class FileRefused(Exception):  # noqa: N818 - a reason, turned into a Problem or a DatasetError by callers
    """Why a file or path was not read: ``str(e)`` is a clause ("is a FIFO, not a regular file"), ``fix`` what to do.

    Raised for paths that leave the dataset root or loop, files that are not regular files, OS errors, bad text
    encodings and images that cannot be used.
    """

    def __init__(self, reason: str, fix: str = "replace the file or remove its entry"):
        super().__init__(one_line(reason))
        self.fix = fix


class PathEscapes(FileRefused):  # noqa: N818 - a FileRefused reason
    """The real path (symlinks and ``..`` resolved) lies outside the dataset root."""


def confine(path: str | Path, root: Path) -> Path:
    """``path`` with every symlink and ``..`` resolved, checked to lie inside ``root``.

    The one confinement rule of all readers: a file is read only if its real location is inside the dataset
    root, whatever the annotation says and wherever a symlink points.

    Args:
        path: the path as built by the reader (``root``-relative joins included).
        root: the dataset root, already resolved.

    Raises:
        FileRefused: the real path is outside ``root``, a symlink loops, or the name is not a valid path.
    """
    try:
        real = Path(path).resolve()
    except RuntimeError:  # Python < 3.13 raises RuntimeError on a symlink loop
        raise FileRefused("is a symlink loop", "fix or remove the symlink") from None
    except (OSError, ValueError) as e:
        raise FileRefused(_os_reason(e)) from None
    if not real.is_relative_to(root):
        raise PathEscapes(f"escapes the dataset root {root} (it resolves to {real})",
                          "keep every file inside the dataset directory and use relative paths")
    return real


def real_path(path: str | Path) -> Path:
    """``path`` resolved where possible; the absolute path when it loops or cannot name a file (never raises)."""
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError, ValueError):
        return Path(os.path.abspath(path))


def is_regular_file(path: Path) -> bool:
    """True for a regular file (symlinks followed); False for anything else or any error (long name, loop...)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def read_bytes(path: Path, limit: int | None = None) -> bytes:
    """The bytes of a regular file (at most ``limit`` of them from the start).

    The file is opened without blocking and checked with ``fstat`` before any read, so a FIFO, a device or a
    directory is refused instead of hanging or failing with a raw ``OSError``.

    Raises:
        FileRefused: not a regular file, or any OS error (the reason names what happened).
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except (OSError, ValueError) as e:
        raise FileRefused(_os_reason(e)) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise FileRefused(f"is {_kind(mode)}, not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read() if limit is None else f.read(limit)
    except OSError as e:
        raise FileRefused(_os_reason(e)) from None
    finally:
        os.close(fd)


def read_text(path: Path) -> str:
    """A regular file decoded as UTF-8 (a leading BOM is dropped).

    Raises:
        FileRefused: not a regular file, an OS error, or not UTF-8 (the reason gives the byte offset).
    """
    data = read_bytes(path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise FileRefused(f"is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})") from None


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a file"


def _os_reason(e: Exception) -> str:
    if isinstance(e, ValueError):
        return "has a NUL byte in its name"
    reasons = {errno.ENOENT: "not found", errno.ENAMETOOLONG: "has a name too long for the file system",
               errno.ELOOP: "is a symlink loop", errno.EACCES: "is not readable (permission denied)",
               errno.ENOTDIR: "not found (a parent is not a directory)", errno.EISDIR: "is a directory"}
    return reasons.get(getattr(e, "errno", None), f"cannot be read ({getattr(e, 'strerror', None) or e})")


def is_int64(value: object) -> bool:
    """True for an int that fits int64 (COCO ids, sizes); bools, floats, strings, lists and dicts are not."""
    return type(value) is int and -INT64_MAX - 1 <= value <= INT64_MAX


def finite_float(value: object) -> float:
    """``value`` as a float when it is a finite real number (int, float or numeric string), else NaN.

    Ints beyond the float range (``10**400``) and strings like ``"1e400"`` or ``"inf"`` become NaN instead of
    raising ``OverflowError`` or passing as infinity.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return math.nan
    try:
        out = float(value)
    except (OverflowError, ValueError):
        return math.nan
    return out if math.isfinite(out) else math.nan


def place_images(index, out_dir: Path, link: bool = True) -> list[str]:
    """Put every image of ``index`` (a :class:`edgedet.data.DatasetIndex`) into ``out_dir`` under a flat, unique
    name, hard-linking when ``link`` and possible, else copying.

    Returns:
        The file name (relative to ``out_dir``) of each record, in order.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    names, used = [], set()
    for rec in index.images:
        name = rec.file.name
        for candidate in (name, f"{index.split}_{name}", f"{index.split}_{rec.id}_{name}"):
            if candidate not in used and (not (out_dir / candidate).exists()
                                          or _same_file(rec.file, out_dir / candidate)):
                name = candidate
                break
        used.add(name)
        target = out_dir / name
        if not target.exists():
            _link_or_copy(rec.file, target, link)
        names.append(name)
    return names


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _link_or_copy(src: Path, dst: Path, link: bool) -> None:
    if link:
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    shutil.copy2(src, dst)
