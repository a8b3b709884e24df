"""SOURCE resolution, the demo loop's keys with a scripted window, the FPS meter, and window selection."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgedet.demo import live
from edgedet.demo.sources import SourceError, capture_target, media_files, open_capture
from edgedet.demo.window import PAUSE, QUIT, open_window, opencv_has_gui
from edgedet.runtime import Detections
from tests.demo.conftest import write_video

REPO = Path(__file__).resolve().parents[2]


def test_media_files_file_folder_glob(tmp_path):
    for name in ("b.png", "a.jpg", "c.mp4", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.png").write_bytes(b"x")
    assert [(m.path.name, m.is_video) for m in media_files(tmp_path)] == [("a.jpg", False), ("b.png", False),
                                                                         ("c.mp4", True)]
    assert [m.path.name for m in media_files(f"{tmp_path}/**/*.png")] == ["b.png", "d.png"]
    assert media_files(tmp_path / "c.mp4")[0].is_video
    with pytest.raises(SourceError, match="not an image"):
        media_files(tmp_path / "notes.txt")
    with pytest.raises(SourceError, match="holds no images"):
        media_files(_empty(tmp_path))
    with pytest.raises(SourceError, match="matches no images"):
        media_files(f"{tmp_path}/*.gif")
    with pytest.raises(SourceError, match="does not exist"):
        media_files(tmp_path / "gone.jpg")


def _empty(tmp_path):
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


def test_capture_targets_and_errors(tmp_path):
    assert capture_target("0") == 0 and capture_target("rtsp://cam/1") == "rtsp://cam/1"
    with pytest.raises(SourceError, match="does not exist"):
        open_capture(str(tmp_path / "none.mp4"))
    (tmp_path / "fake.mp4").write_bytes(b"not a video")
    with pytest.raises(SourceError, match="could not read it"):
        open_capture(str(tmp_path / "fake.mp4"))


class ScriptedWindow:
    """Returns scripted actions, one per poll, and records the frames shown."""

    def __init__(self, actions):
        self.actions, self.shown, self.polls = list(actions), [], []

    def show(self, image):
        self.shown.append(image)

    def poll(self, wait_ms=1):
        self.polls.append(wait_ms)
        return self.actions.pop(0) if self.actions else None

    def close(self):
        pass


def _no_dets(image):
    return Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), ["a"],
                      {"preprocess": 1.0, "inference": 2.0, "decode": 3.0})


def test_pause_waits_for_a_key_and_quit_stops(tmp_path):
    video = write_video(tmp_path / "v.mp4", np.full((64, 64, 3), 90, np.uint8), 10)
    # frame 1: nothing; frame 2: pause, then a blocking wait (0 ms) that gets space -> resume; frame 3: quit
    window = ScriptedWindow([None, PAUSE, PAUSE, QUIT])
    stats = live.run_demo(_no_dets, str(video), window=window)
    assert stats.frames == 3 and stats.stopped_by_user and len(window.shown) == 4  # frame 2 again, marked paused
    np.testing.assert_array_equal(window.shown[2][:40], window.shown[1][:40])
    assert (window.shown[2][-10:] != window.shown[1][-10:]).any()
    assert window.polls == [1, 1, 0, 1]
    assert stats.stage_ms == {"preprocess": 1.0, "inference": 2.0, "decode": 3.0}
    # the end of a video ends the loop, and the frames are saved when asked
    stats = live.run_demo(_no_dets, str(video), window=ScriptedWindow([]), save=tmp_path / "o.avi")
    assert stats.frames == 10 and not stats.stopped_by_user and (tmp_path / "o.avi").stat().st_size > 0
    with pytest.raises(ValueError, match="headless"):
        live.run_demo(_no_dets, str(video))


def test_fps_meter_over_its_window():
    meter = live.FpsMeter(span_s=1.0)
    assert meter.tick(0.0) == 0.0
    assert [meter.tick(t / 10) for t in range(1, 6)][-1] == pytest.approx(10.0)
    assert meter.tick(3.0) == pytest.approx(1 / 2.5)  # old stamps leave the window, two stay


def test_no_display_is_a_clear_error(tmp_path):
    """Without $DISPLAY the Tk window fails with what to do (OpenCV here is the headless build, no highgui)."""
    pytest.importorskip("tkinter")
    if opencv_has_gui():
        pytest.skip("this OpenCV has highgui: auto picks its window")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONPATH"] = str(REPO)
    code = "from edgedet.demo.window import open_window\nopen_window('t')"
    r = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "DisplayError" in r.stderr and "--headless --save out.mp4" in r.stderr
    with pytest.raises(ValueError, match="auto, opencv or tk"):
        open_window("t", "qt")
