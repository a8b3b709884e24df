import os
import time

import pytest
import torch

from edgedet.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_round_trip(tmp_path):
    state = {"model": {"w": torch.arange(4.0)}, "epoch": 3, "config": {"a": [1, 2]}}
    save_checkpoint(state, tmp_path / "last.pt")
    back = load_checkpoint(tmp_path / "last.pt")
    assert back["epoch"] == 3 and torch.equal(back["model"]["w"], torch.arange(4.0))
    assert back["config"] == {"a": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp files left


def test_pickled_code_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "payload": Evil()}, path)
    with pytest.raises(CheckpointError, match="pickled Python objects"):
        load_checkpoint(path)


def test_truncated_file_is_a_clear_error(tmp_path):
    path = tmp_path / "x.pt"
    save_checkpoint({"w": torch.ones(1000)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(path)


def test_failed_write_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"epoch": 1}, path)

    def boom(*a, **k):
        raise KeyboardInterrupt  # a kill in the middle of writing

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({"epoch": 2}, path)
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_missing_file():
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint("/nonexistent/last.pt")


def test_kill_during_save_leaves_loadable_file(tmp_path):
    """SIGKILL a process that saves in a loop; whatever instant it dies at, last.pt loads."""
    import signal
    import subprocess
    import sys
    import time

    code = (
        "import torch, sys\n"
        "from edgedet.engine.checkpoint import save_checkpoint\n"
        "i = 0\n"
        "while True:\n"
        "    save_checkpoint({'i': i, 'w': torch.randn(200_000)}, sys.argv[1]); i += 1\n"
    )
    path = tmp_path / "last.pt"
    for delay in (0.05, 0.13, 0.31):
        path.unlink(missing_ok=True)
        proc = subprocess.Popen([sys.executable, "-c", code, str(path)])
        deadline = time.time() + 120
        while not path.exists() and time.time() < deadline:  # wait for the first complete save
            time.sleep(0.01)
        time.sleep(delay)  # then kill at an arbitrary point of a later save
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = load_checkpoint(path)
        assert state["w"].shape == (200_000,)


def test_stale_temp_files_are_removed_on_the_next_save(tmp_path):
    """A killed writer's temp file goes on the next save; a live writer's temp and other checkpoints stay."""
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = tmp_path / f".last.pt.{dead.pid}.k2j4x8q1.tmp"
        stale.write_bytes(b"x" * 1000)  # what SIGKILL during torch.save leaves
        legacy = tmp_path / ".last.pt.abcd_123.tmp"  # a pre-pid name, two hours old
        legacy.write_bytes(b"x")
        os.utime(legacy, (time.time() - 7200, time.time() - 7200))
        concurrent = tmp_path / f".last.pt.{live.pid}.q9w8e7r6.tmp"
        concurrent.write_bytes(b"being written")
        save_checkpoint({"epoch": 5}, tmp_path / "best.pt")
        best_bytes = (tmp_path / "best.pt").read_bytes()
        assert stale.exists()  # a save of best.pt leaves last.pt's temp files alone

        save_checkpoint({"epoch": 6}, tmp_path / "last.pt")

        assert not stale.exists() and not legacy.exists()
        assert concurrent.read_bytes() == b"being written"
        assert (tmp_path / "best.pt").read_bytes() == best_bytes
        assert load_checkpoint(tmp_path / "best.pt")["epoch"] == 5
        assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 6
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["best.pt", "last.pt", concurrent.name])
    finally:
        live.kill()
        live.wait()
