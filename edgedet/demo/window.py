"""A window that shows BGR frames and reports the keys pressed in it.

OpenCV's own window (highgui) where the installed OpenCV has one; otherwise a Tk window. edgedet depends on
``opencv-python-headless``, whose build has no GUI (``cv2.imshow`` raises), and installing ``opencv-python`` beside
it breaks both (they share the ``cv2`` module). Tk ships with Python (Debian: ``apt install python3-tk``), runs on
any X11, Wayland (XWayland), macOS or Windows desktop and under Xvfb, and shows frames as PPM data with no other
dependency. A user who installs ``opencv-python`` instead of the headless build gets OpenCV's window.

Keys are reported as actions: ``"quit"`` (q, Esc, or the window closed) and ``"pause"`` (space).
"""

from __future__ import annotations

import time
from typing import Protocol

import cv2
import numpy as np

QUIT, PAUSE = "quit", "pause"
_TK_KEYS = {"q": QUIT, "Q": QUIT, "Escape": QUIT, "space": PAUSE}
_CV_KEYS = {ord("q"): QUIT, ord("Q"): QUIT, 27: QUIT, 32: PAUSE}


class DisplayError(RuntimeError):
    """No window can be opened here (no display, no GUI toolkit)."""


class Window(Protocol):
    def show(self, image_bgr: np.ndarray) -> None: ...

    def poll(self, wait_ms: int = 1) -> str | None:
        """The action of a key pressed within ``wait_ms`` (0 = wait until a key), or None."""

    def close(self) -> None: ...


def opencv_has_gui() -> bool:
    """Whether this OpenCV build can open windows (``opencv-python-headless`` cannot)."""
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:"):
            return line.split(":", 1)[1].strip().upper() not in ("NONE", "")
    return False


def open_window(title: str, kind: str = "auto") -> Window:
    """A window titled ``title``: ``kind`` ``"opencv"``, ``"tk"`` or ``"auto"`` (OpenCV's when it has a GUI)."""
    if kind not in ("auto", "opencv", "tk"):
        raise ValueError(f"window kind must be auto, opencv or tk, got {kind!r}")
    if kind == "opencv" or (kind == "auto" and opencv_has_gui()):
        if not opencv_has_gui():
            raise DisplayError("this OpenCV build has no GUI (opencv-python-headless); use the Tk window (--window tk)")
        return OpenCVWindow(title)
    return TkWindow(title)


class OpenCVWindow:
    """``cv2.imshow`` / ``cv2.waitKey``."""

    def __init__(self, title: str):
        self.title = title
        try:
            cv2.namedWindow(title, cv2.WINDOW_AUTOSIZE)
        except cv2.error as e:
            raise DisplayError(f"OpenCV cannot open a window ({e}); use --headless --save out.mp4") from None

    def show(self, image_bgr: np.ndarray) -> None:
        cv2.imshow(self.title, image_bgr)

    def poll(self, wait_ms: int = 1) -> str | None:
        key = cv2.waitKey(wait_ms) & 0xFF
        if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            return QUIT
        return _CV_KEYS.get(key)

    def close(self) -> None:
        cv2.destroyWindow(self.title)


class TkWindow:
    """A Tk window holding one image label; frames go in as binary PPM (no Pillow)."""

    def __init__(self, title: str):
        try:
            import tkinter
        except ImportError:
            raise DisplayError("no window toolkit: this Python has no tkinter (Debian/Ubuntu: apt install python3-tk), "
                               "and OpenCV is the headless build; or use --headless --save out.mp4") from None
        self._tk = tkinter
        try:
            self.root = tkinter.Tk(className="edgedet")
        except tkinter.TclError as e:
            raise DisplayError(f"cannot open a window ({e}): run on a desktop, set DISPLAY, or use "
                               f"--headless --save out.mp4") from None
        self.root.title(title)
        self.label = tkinter.Label(self.root, borderwidth=0, highlightthickness=0)
        self.label.pack()
        self.root.bind("<Key>", self._on_key)
        self.root.protocol("WM_DELETE_WINDOW", self._on_close)
        self.root.focus_force()
        self._actions: list[str] = []
        self._photo = None
        self.closed = False

    def _on_key(self, event) -> None:
        action = _TK_KEYS.get(event.keysym)
        if action:
            self._actions.append(action)

    def _on_close(self) -> None:
        self._actions.append(QUIT)
        self.closed = True

    def show(self, image_bgr: np.ndarray) -> None:
        if self.closed:
            return
        h, w = image_bgr.shape[:2]
        ppm = b"P6 %d %d 255\n" % (w, h) + np.ascontiguousarray(image_bgr[..., ::-1]).tobytes()
        if self._photo is not None and (self._photo.width(), self._photo.height()) == (w, h):
            self._photo.configure(data=ppm, format="PPM")  # 2-3x faster than a new image per frame
        else:
            self._photo = self._tk.PhotoImage(master=self.root, data=ppm, format="PPM")
            self.label.configure(image=self._photo)
        self.root.update()

    def poll(self, wait_ms: int = 1) -> str | None:
        deadline = time.monotonic() + wait_ms / 1e3
        while not self.closed:
            self.root.update()
            if self._actions:
                return self._actions.pop(0)
            left = deadline - time.monotonic() if wait_ms else 0.005
            if left <= 0:
                return None
            time.sleep(min(left, 0.005))
        return QUIT

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.root.destroy()
