"""`edgedet demo`: headless into a playable video, and a real Tk window under Xvfb (screenshots with xwd, keys with
xdotool), on a video file of one repeated frame."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgedet.cli import main
from edgedet.demo import live
from edgedet.deploy.draw import class_color
from edgedet.runtime import load
from tests.demo.conftest import read_video, separated_threshold, threshold_keeping, write_video
from tests.demo.xwd import read_xwd

REPO = Path(__file__).resolve().parents[2]


def _edge_pixels(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The pixels of a box's bottom and left edges ([K, 3]): its label (above it) covers neither."""
    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    return np.concatenate([image[y2, x1 + 1:x2], image[y1 + 1:y2, x1]]).astype(int)


def test_headless_writes_a_playable_video_with_boxes(tiny_export, demo_frame, tmp_path, capsys):
    _, export_dir = tiny_export
    source = write_video(tmp_path / "in.mp4", demo_frame, 12)
    decoded = read_video(source)[5]  # frames of an mp4 differ slightly: compare the frame the demo saw
    thr, k = separated_threshold(load(export_dir).predict(decoded, score_thr=0.05).scores)
    dets = load(export_dir).predict(decoded, score_thr=thr)
    out = tmp_path / "sub" / "out.mp4"
    assert main(["demo", "--model", str(export_dir), "--source", str(source), "--headless", "--save", str(out),
                 "--score-thr", str(thr), "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert "12 frame(s)" in printed and "source ended" in printed
    frames = read_video(out)
    assert len(frames) == 12 and frames[5].shape == demo_frame.shape
    # the best box's edges: the video (mp4v, lossy) is nearer the drawn class colour than the source frame is
    drawn = _edge_pixels(frames[5], dets.boxes[0])
    colour = np.array(class_color(int(dets.labels[0])))
    src = _edge_pixels(decoded, dets.boxes[0])
    assert np.abs(drawn - colour).mean() < 0.5 * np.abs(src - colour).mean(), (drawn.mean(0), src.mean(0), colour)
    # the stats panel (thin text on dark grey boxes, top left) is drawn too: most of its pixels are the grey
    panel = np.array(live.STATS_BG)
    assert np.median(np.abs(frames[5][1:30, 1:40].astype(int) - panel)) < 10
    assert np.median(np.abs(decoded[1:30, 1:40].astype(int) - panel)) > 30


def test_camera_that_does_not_open_is_one_clear_line(tiny_export, capsys):
    assert main(["demo", "--model", str(tiny_export[1]), "--source", "57", "--headless", "--save", "x.mp4"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgedet: error: cannot open camera 57") and "\n" not in err


def test_headless_needs_save(tiny_export, capsys):
    assert main(["demo", "--model", str(tiny_export[1]), "--source", "0", "--headless"]) == 2
    assert "--headless needs --save" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ a real window
needs_x = pytest.mark.skipif(not all(shutil.which(t) for t in ("Xvfb", "xwd", "xdotool")),
                             reason="needs Xvfb, xwd and xdotool (make demo-deps)")


@pytest.fixture
def xvfb():
    """A private X server on a free display number (the next one is tried if another process takes it first);
    yields its DISPLAY."""
    pytest.importorskip("tkinter")
    for number in range(91, 131):
        if Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
            continue
        proc = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "480x400x24", "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while proc.poll() is None and not Path(f"/tmp/.X11-unix/X{number}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.poll() is None and Path(f"/tmp/.X11-unix/X{number}").exists():
            break
        proc.kill()
        proc.wait()
    else:
        pytest.fail("Xvfb did not start on any display from :91 to :130")
    yield f":{number}"
    proc.terminate()
    proc.wait(timeout=10)


def _screenshot(display: str, path: Path) -> np.ndarray:
    subprocess.run(["xwd", "-root", "-silent", "-display", display, "-out", str(path)], check=True, timeout=20)
    return read_xwd(path)


def _demo(display: str, export_dir: Path, source: Path, thr: float) -> subprocess.Popen:
    env = dict(os.environ, DISPLAY=display, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "edgedet.cli", "demo", "--model", str(export_dir), "--source",
                             str(source), "--score-thr", str(thr), "--window", "tk"], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@needs_x
def test_window_shows_boxes_pauses_and_quits(xvfb, tiny_export, demo_frame, tmp_path):
    _, export_dir = tiny_export
    source = write_video(tmp_path / "long.mp4", demo_frame, 3000)
    dets = load(export_dir).predict(demo_frame, score_thr=0.05)
    thr = threshold_keeping(dets.scores, 3)
    colour = np.array(class_color(int(dets.labels[0])))
    proc = _demo(xvfb, export_dir, source, thr)
    try:
        shot, deadline = None, time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            shot = _screenshot(xvfb, tmp_path / "s.xwd")
            if (shot == colour).all(axis=-1).sum() > 50:
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()
        on_screen = (shot == colour).all(axis=-1).sum()
        in_frame = (demo_frame == colour).all(axis=-1).sum()
        x1, y1, x2, y2 = dets.boxes[0]
        assert on_screen >= 0.8 * 2 * ((x2 - x1) + (y2 - y1)) and in_frame < 5, (on_screen, in_frame)

        subprocess.run(["xdotool", "key", "space"], env=dict(os.environ, DISPLAY=xvfb), check=True, timeout=20)
        time.sleep(0.5)
        paused = _screenshot(xvfb, tmp_path / "p1.xwd")
        time.sleep(0.5)
        # the FPS figure changes with every frame shown; paused, the window stays exactly as it was
        np.testing.assert_array_equal(_screenshot(xvfb, tmp_path / "p2.xwd"), paused)
        assert proc.poll() is None
        subprocess.run(["xdotool", "key", "q"], env=dict(os.environ, DISPLAY=xvfb), check=True, timeout=20)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped by the user" in out


@needs_x
def test_window_ends_with_the_video(xvfb, tiny_export, demo_frame, tmp_path):
    source = write_video(tmp_path / "short.mp4", demo_frame, 10)
    proc = _demo(xvfb, tiny_export[1], source, 0.3)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "10 frame(s)" in out and "source ended" in out
