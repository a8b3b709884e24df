"""Image files read safely: size from the header before any decode, a pixel limit, truncation, OpenCV errors.

A PNG of a few hundred KB can claim 60000x60000 pixels; OpenCV would either raise ``cv2.error`` or allocate
gigabytes. Every reader and the loader therefore parse the header first (JPEG, PNG, BMP, WebP, GIF, TIFF,
PNM; a few hundred bytes, no decoder) and refuse images over :func:`max_image_pixels`.

The limit is 50 megapixels (an 8000x6000 photo fits); raise it with the environment variable
``EDGEDET_MAX_IMAGE_PIXELS`` (e.g. ``EDGEDET_MAX_IMAGE_PIXELS=200000000``).
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Callable

import cv2
import numpy as np

from edgedet.data.files import FileRefused, read_bytes

MAX_PIXELS_ENV = "EDGEDET_MAX_IMAGE_PIXELS"
DEFAULT_MAX_PIXELS = 50_000_000
HEAD_BYTES = 4096  # enough for most headers; a JPEG with large APPn (EXIF, ICC) segments reads on
MAX_HEAD_BYTES = 1 << 26  # a JPEG frame header further in than this counts as damaged
FORMATS = "JPEG, PNG, BMP, WebP, GIF, TIFF or PNM"


class ImageTooLarge(FileRefused):  # noqa: N818 - a FileRefused reason
    """The header claims more pixels than :func:`max_image_pixels` allows."""


def max_image_pixels() -> int:
    """Largest ``width * height`` an image may have: ``$EDGEDET_MAX_IMAGE_PIXELS`` or 50 megapixels.

    Raises:
        ValueError: the variable is set but is not a positive integer.
    """
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    if not raw.isdigit() or int(raw) <= 0:
        raise ValueError(f"{MAX_PIXELS_ENV}={raw!r} is not a positive integer; fix: set it to a pixel count "
                         f"such as 200000000, or unset it for the default {DEFAULT_MAX_PIXELS}")
    return int(raw)


def check_pixels(width: int, height: int) -> None:
    """Raise :class:`FileRefused` when ``width x height`` is over :func:`max_image_pixels`."""
    limit = max_image_pixels()
    if width * height > limit:
        raise ImageTooLarge(f"is {width}x{height} ({width * height / 1e6:.0f} megapixels), over the limit of "
                            f"{limit / 1e6:g} megapixels",
                            f"downscale or tile the image, or raise the limit with {MAX_PIXELS_ENV}=<pixels>")


def probe_image(path) -> tuple[int, int]:
    """``(width, height)`` of an image file from its header, checked against :func:`max_image_pixels`.

    Reads only the first bytes of a regular file; nothing is decoded.

    Raises:
        FileRefused: not a regular file, not a known format, a damaged header, or too many pixels.
    """
    state = {"data": read_bytes(path, HEAD_BYTES), "asked": HEAD_BYTES}

    def head(n: int) -> bytes:
        n = min(n, MAX_HEAD_BYTES)
        if n > state["asked"] and len(state["data"]) == state["asked"]:  # the file may hold more: read on
            state["data"], state["asked"] = read_bytes(path, n), n
        return state["data"]

    return _checked_size(head)


def header_size(data: bytes) -> tuple[int, int]:
    """``(width, height)`` from the header of the image bytes ``data``, checked against the pixel limit."""
    return _checked_size(lambda n: data)


def _checked_size(head: Callable[[int], bytes]) -> tuple[int, int]:
    data = head(HEAD_BYTES)
    for magic, parse in _PARSERS:
        if re.match(magic, data, re.DOTALL):
            try:
                w, h = parse(data, head)
            except (struct.error, IndexError, ValueError):
                w, h = 0, 0
            if w <= 0 or h <= 0:
                raise FileRefused("cannot be read: its image header is damaged or truncated")
            check_pixels(w, h)
            return w, h
    raise FileRefused(f"cannot be read: it is not a {FORMATS} image")


def _png(d: bytes, head) -> tuple[int, int]:
    if d[12:16] != b"IHDR":
        return 0, 0
    return struct.unpack(">II", d[16:24])


def _jpeg(d: bytes, head) -> tuple[int, int]:
    i = 2
    for _ in range(100_000):  # segments; a real file has a few dozen
        if i + 9 > len(d):
            d = head(2 * (i + 9))  # the frame header lies beyond what was read
            if i + 9 > len(d):
                return 0, 0
        if d[i] != 0xFF:
            return 0, 0
        marker = d[i + 1]
        if marker in _SOF_MARKERS:
            h, w = struct.unpack(">HH", d[i + 5:i + 9])
            return w, h
        if marker in (0xD9, 0xDA):  # end of image or start of scan before any frame header
            return 0, 0
        if marker == 0xFF:  # fill byte
            i += 1
        else:
            i += 2 if 0xD0 <= marker <= 0xD8 or marker == 0x01 else 2 + struct.unpack(">H", d[i + 2:i + 4])[0]
    return 0, 0


_SOF_MARKERS = frozenset((0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF))


def _bmp(d: bytes, head) -> tuple[int, int]:
    if struct.unpack("<I", d[14:18])[0] == 12:  # BITMAPCOREHEADER
        return struct.unpack("<HH", d[18:22])
    w, h = struct.unpack("<ii", d[18:26])
    return w, abs(h)


def _webp(d: bytes, head) -> tuple[int, int]:
    chunk = d[12:16]
    if chunk == b"VP8 " and d[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", d[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and d[20] == 0x2F:
        bits = int.from_bytes(d[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(d[24:27], "little") + 1, int.from_bytes(d[27:30], "little") + 1
    return 0, 0


def _gif(d: bytes, head) -> tuple[int, int]:
    return struct.unpack("<HH", d[6:10])


def _tiff(d: bytes, head) -> tuple[int, int]:
    e = "<" if d[:2] == b"II" else ">"
    off = struct.unpack(e + "I", d[4:8])[0]
    if off + 2 > len(d):
        d = head(off + 2)
    n = struct.unpack(e + "H", d[off:off + 2])[0]
    if off + 2 + 12 * n > len(d):
        d = head(off + 2 + 12 * n)
    size = {}
    for k in range(n):
        tag, typ = struct.unpack(e + "HH", d[off + 2 + 12 * k:off + 6 + 12 * k])
        if tag in (256, 257):
            value = d[off + 10 + 12 * k:off + 14 + 12 * k]
            size[tag] = struct.unpack(e + "H", value[:2])[0] if typ == 3 else struct.unpack(e + "I", value)[0]
    return size.get(256, 0), size.get(257, 0)


def _pnm(d: bytes, head) -> tuple[int, int]:
    fields = re.sub(rb"#[^\n]*", b" ", d[2:512]).split()
    return int(fields[0]), int(fields[1])


_PARSERS = (
    (rb"\x89PNG\r\n\x1a\n", _png), (rb"\xff\xd8\xff", _jpeg), (rb"BM", _bmp), (rb"RIFF....WEBP", _webp),
    (rb"GIF8[79]a", _gif), (rb"II\*\x00|MM\x00\*", _tiff), (rb"P[1-6]\s", _pnm),
)


def truncation(data: bytes) -> str | None:
    """Why the image bytes ``data`` are cut short, or None if complete (or of a format not checked here).

    JPEG must reach its end-of-image marker through every scan, PNG its IEND chunk, WebP the size in its RIFF
    header, BMP its pixel array, GIF its trailer byte. OpenCV decodes a half JPEG without an error (the rest
    grey), so a full decode alone does not find these.
    """
    if data[:3] == b"\xff\xd8\xff":
        return None if _jpeg_complete(data) else "JPEG ends before its end-of-image marker (file truncated)"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return None if _png_complete(data) else "PNG ends before its IEND chunk (file truncated)"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) < 8 + struct.unpack("<I", data[4:8])[0]:
        return "WebP is shorter than its RIFF header says (file truncated)"
    if data[:2] == b"BM" and len(data) >= 34:
        off, _, w, h, _, bpp, comp = struct.unpack("<IIiiHHI", data[10:34])
        if comp == 0 and len(data) < off + (bpp * abs(w) + 31) // 32 * 4 * abs(h):
            return "BMP is shorter than its pixel array (file truncated)"
    if data[:4] == b"GIF8" and not data.rstrip(b"\x00").endswith(b";"):
        return "GIF ends before its trailer (file truncated)"
    return None


def _jpeg_complete(d: bytes) -> bool:
    i, n = 2, len(d)
    while i + 1 < n:
        if d[i] != 0xFF:
            return False
        marker = d[i + 1]
        if marker == 0xD9:
            return True
        if marker == 0xFF:
            i += 1
            continue
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            i += 2
            continue
        if i + 4 > n:
            return False
        i += 2 + struct.unpack(">H", d[i + 2:i + 4])[0]
        if marker == 0xDA:  # entropy-coded data: FF is followed by 00 (stuffing) or RSTn until the next marker
            while True:
                j = d.find(b"\xff", i)
                if j < 0 or j + 1 >= n:
                    return False
                if d[j + 1] == 0 or 0xD0 <= d[j + 1] <= 0xD7:
                    i = j + 2
                elif d[j + 1] == 0xFF:
                    i = j + 1
                else:
                    i = j
                    break
    return False


def _png_complete(d: bytes) -> bool:
    i, n = 8, len(d)
    while i + 8 <= n:
        length, kind = struct.unpack(">I4s", d[i:i + 8])
        if i + 12 + length > n:
            return False
        if kind == b"IEND":
            return True
        i += 12 + length
    return False


def decode_image(path) -> np.ndarray:
    """Decode an image file to BGR uint8 ``[H, W, 3]`` after the header and pixel-limit checks.

    Raises:
        FileRefused: not a regular file, unknown format, over the pixel limit, or OpenCV cannot decode it
            (``cv2.error`` included).
    """
    data = read_bytes(path)
    header_size(data)
    return decode_image_bytes(data)


def decode_image_bytes(data: bytes) -> np.ndarray:
    """Decode image bytes to BGR uint8 ``[H, W, 3]`` (EXIF orientation applied, as ``cv2.imread`` does).

    Call :func:`header_size` first: OpenCV itself allows a billion pixels.

    Raises:
        FileRefused: OpenCV cannot decode the bytes (``cv2.error`` included).
    """
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as e:
        lines = str(e).strip().splitlines() or ["error"]
        raise FileRefused(f"cannot be decoded (OpenCV: {lines[-1]})") from None
    if img is None:
        raise FileRefused("cannot be decoded (corrupt or not an image)")
    return img
