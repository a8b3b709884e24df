"""What a SOURCE argument names: image files, a folder, a glob, a video file, a camera index or a stream URL."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

import cv2

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv")
STREAM_SCHEMES = ("rtsp://", "rtmp://", "http://", "https://", "udp://", "tcp://")


class SourceError(ValueError):
    """A SOURCE that names nothing usable (missing file, empty folder, camera that does not open)."""


@dataclass(frozen=True)
class MediaFile:
    """One input of ``edgedet predict``: an image or a video file."""

    path: Path
    is_video: bool


def _media(path: Path) -> MediaFile | None:
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return MediaFile(path, False)
    if suffix in VIDEO_SUFFIXES:
        return MediaFile(path, True)
    return None


def media_files(source: str | Path) -> list[MediaFile]:
    """The images and videos ``source`` names: a file, a folder (its files, not recursive) or a glob pattern.

    Raises:
        SourceError: nothing matches, or a file's suffix is neither an image nor a video.
    """
    text = str(source)
    path = Path(text)
    if path.is_file():
        found = _media(path)
        if found is None:
            raise SourceError(f"{path}: not an image ({', '.join(IMAGE_SUFFIXES)}) or a video "
                              f"({', '.join(VIDEO_SUFFIXES)})")
        return [found]
    if path.is_dir():
        files = [m for m in (_media(p) for p in sorted(path.iterdir()) if p.is_file()) if m is not None]
        if not files:
            raise SourceError(f"{path}: the folder holds no images or videos")
        return files
    if glob.has_magic(text):
        files = [m for m in (_media(Path(p)) for p in sorted(glob.glob(text, recursive=True))) if m is not None]
        if not files:
            raise SourceError(f"{text}: the pattern matches no images or videos")
        return files
    raise SourceError(f"{text} does not exist (give an image, a video, a folder or a glob pattern in quotes)")


def capture_target(source: str) -> int | str:
    """What ``cv2.VideoCapture`` opens for ``edgedet demo --source``: a camera index for digits, else the text."""
    return int(source) if source.isdigit() else source


def open_capture(source: str) -> cv2.VideoCapture:
    """Open a camera (``"0"``), a video file or a stream URL; fail with what to check when it does not open."""
    target = capture_target(source)
    if isinstance(target, str) and not target.lower().startswith(STREAM_SCHEMES) and not Path(target).is_file():
        raise SourceError(f"{target} does not exist (give a camera index such as 0, a video file or an "
                          f"rtsp:// / http:// stream URL)")
    quiet = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # its warnings repeat what we say below
    try:
        cap = cv2.VideoCapture(target)
    finally:
        cv2.utils.logging.setLogLevel(quiet)
    if not cap.isOpened():
        cap.release()
        if isinstance(target, int):
            raise SourceError(f"cannot open camera {target}: check that it is connected, that no other program "
                              f"uses it, and that you may read /dev/video{target} (try another index, or a video file)")
        raise SourceError(f"cannot open {target}: OpenCV could not read it as a video or stream")
    return cap
