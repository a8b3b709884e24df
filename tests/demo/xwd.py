"""Read an X window dump (``xwd -root``) into a BGR image, for screenshots of a real window under Xvfb."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np


def read_xwd(path: str | Path) -> np.ndarray:
    """uint8 ``[H, W, 3]`` BGR of a 24/32-bit TrueColor XWD file (what Xvfb ``-screen 0 WxHx24`` gives)."""
    data = Path(path).read_bytes()
    fields = struct.unpack(">25I", data[:100])
    header_size, _version, _fmt, depth, width, height = fields[:6]
    byte_order, bits_per_pixel, bytes_per_line = fields[7], fields[11], fields[12]
    red_mask, green_mask, blue_mask, ncolors = fields[14], fields[15], fields[16], fields[19]
    if depth != 24 or bits_per_pixel != 32:
        raise ValueError(f"{path}: expected a 24-bit screen with 32 bits per pixel, got depth {depth}, {bits_per_pixel} bpp")
    start = header_size + 12 * ncolors
    rows = np.frombuffer(data, np.uint8, count=height * bytes_per_line, offset=start).reshape(height, bytes_per_line)
    pixels = rows[:, : width * 4].copy().view("<u4" if byte_order == 0 else ">u4").reshape(height, width)
    out = np.empty((height, width, 3), np.uint8)
    for channel, mask in enumerate((blue_mask, green_mask, red_mask)):
        shift = (mask & -mask).bit_length() - 1
        out[..., channel] = (pixels & mask) >> shift
    return out
