"""The adb target: an Android phone runs the demo app's benchmark mode (Python does not run there).

The protocol is the one ``android_demo/bench_adb.sh`` documents: push ``edgedet.json`` and the ``.tflite`` into the
app's files folder, ``am start`` ``BenchmarkActivity`` with the extras ``model``, ``threads``, ``warmup``,
``runs`` and ``out``, wait for ``out`` (or ``out.error``), pull it: one JSON line in the
:class:`~edgedet.bench.result.BenchmarkResult` schema. With ``--device-binary`` the target is a plain ``adb shell``
and ``adb push`` instead (:mod:`edgedet.bench.device_binary`: TFLite's ``benchmark_model`` in ``/data/local/tmp``).
UNTESTED ON HARDWARE: the tests drive a stand-in ``adb`` executable (tests/bench/fake_adb), since no phone or
emulator can be reached where this was written.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from edgedet.bench.result import BenchmarkResult
from edgedet.bench.targets import BenchError, shipped_files

PACKAGE = "io.edgedet.demo"
FILES = f"/sdcard/Android/data/{PACKAGE}/files"


class AdbTarget:
    """A phone over adb (``adb`` or ``adb:SERIAL``); ``adb`` is the executable on PATH unless ``adb=`` names one."""

    # where `adb shell` may write and execute (--device-binary): the app's folder on /sdcard is mounted noexec
    shell_tmp = "/data/local/tmp"

    def __init__(self, spec: str, *, adb: str = "adb", keep: bool = False, timeout_s: float = 300,
                 poll_s: float = 1.0):
        self.name = spec
        serial = spec.partition(":")[2]
        self._adb = [adb] + (["-s", serial] if serial else [])
        self.keep, self.timeout_s, self.poll_s = keep, timeout_s, poll_s
        self._connected = False

    def _run(self, *args: str, check: bool = True, timeout: float | None = None) -> subprocess.CompletedProcess:
        timeout = self.timeout_s if timeout is None else timeout
        try:
            proc = subprocess.run([*self._adb, *args], capture_output=True, text=True, timeout=timeout)
        except FileNotFoundError:
            raise BenchError(f"no `{self._adb[0]}` on this machine: apt-get install adb (or put the Android SDK's "
                             "platform-tools on PATH)") from None
        except subprocess.TimeoutExpired:
            raise BenchError(f"{self.name}: adb {' '.join(args[:2])} did not finish within {timeout:.0f} s: is the "
                             "phone asleep or the command stuck? check `adb devices`") from None
        if check and proc.returncode != 0:
            err = (proc.stderr or proc.stdout).strip().splitlines()
            last = err[-1] if err else f"exit {proc.returncode}"
            if "no devices" in last or "not found" in last or "offline" in last or "unauthorized" in last:
                raise BenchError(f"{self.name}: {last}; connect the phone, enable USB debugging, accept the key, "
                                 "and check `adb devices`")
            raise BenchError(f"{self.name}: adb {' '.join(args[:2])} failed: {last}")
        return proc

    def shell(self, command: str, *, timeout: float = 3600) -> str:
        """``adb shell COMMAND`` (the phone's sh): stdout and stderr together."""
        if not self._connected:
            self._run("get-state")  # no phone, unauthorised, offline: one line with the fix
            self._connected = True
        proc = self._run("shell", command, check=False, timeout=timeout)
        return proc.stdout + proc.stderr

    def push(self, local: Path, remote: str) -> None:
        self._run("push", str(local), remote)

    def close(self) -> None:
        pass

    def _shell_ok(self, command: str) -> bool:
        return self._run("shell", command, check=False).returncode == 0

    def _pin(self, cores: str) -> str | None:
        """Pin the app's process with taskset (works where the shell may; a stock phone may refuse)."""
        if cores == "all":
            return None
        proc = self._run("shell", f"taskset -p {cores} $(pidof {PACKAGE})", check=False)
        if proc.returncode != 0:
            print(f"warning: {self.name} refused `taskset -p {cores}` on the app ({proc.stderr.strip()}); "
                  "the run is not pinned")
            return None
        return cores

    def benchmark(self, exports: list[Path], *, threads: tuple[int, ...], warmup: int, runs: int,
                  cores: str = "all", cooldown_s: float = 0.0) -> list[BenchmarkResult]:
        """One record per (export, threads), from the app's result files."""
        from edgedet.deploy.schema import read_metadata

        if cores in ("big", "little"):
            raise BenchError(f"--cores {cores} on adb: give the hex mask of those cores (Kirin 990 big: f0; "
                             "see ../shared/DISTILL.md), the app's process is pinned with taskset -p")
        self._run("get-state")  # no phone, unauthorised, offline: one line with the fix
        if not self._run("shell", "pm", "path", PACKAGE, check=False).stdout.strip():
            raise BenchError(f"{PACKAGE} is not installed on {self.name}: adb install the demo APK first "
                             "(README, 'Android demo')")
        results = []
        for i, export in enumerate(exports):
            meta = read_metadata(export)
            if meta["format"] != "tflite":
                raise BenchError(f"{export} is a {meta['format']} export; the Android app runs TFLite exports: "
                                 "export with --format tflite")
            remote = f"{FILES}/models/edgedet-bench-{i}"
            self._run("shell", "mkdir", "-p", remote, f"{FILES}/bench")
            for f in shipped_files(export):
                self._run("push", str(f), f"{remote}/{f.name}")
            try:
                for t in threads:
                    if cooldown_s:
                        time.sleep(cooldown_s)
                    results.append(self._one(export, remote, t, warmup, runs, cores))
            finally:
                if not self.keep:
                    self._run("shell", "rm", "-rf", remote, check=False)
        self._run("shell", "am", "force-stop", PACKAGE, check=False)
        return results

    def _one(self, export: Path, remote: str, threads: int, warmup: int, runs: int, cores: str) -> BenchmarkResult:
        out = f"{FILES}/bench/result_t{threads}.json"
        self._run("shell", "rm", "-f", out, f"{out}.error")
        self._run("shell", "am", "force-stop", PACKAGE)
        self._run("shell", "am", "start", "-W", "-n", f"{PACKAGE}/.BenchmarkActivity", "--es", "model", remote,
                  "--ei", "threads", str(threads), "--ei", "warmup", str(warmup), "--ei", "runs", str(runs),
                  "--es", "out", out)
        mask = self._pin(cores)
        deadline = time.monotonic() + self.timeout_s
        while not self._shell_ok(f"test -f {out}"):
            if self._shell_ok(f"test -f {out}.error"):
                err = self._run("shell", "cat", f"{out}.error").stdout.strip()
                raise BenchError(f"{export} failed in the app on {self.name}: {err}")
            if time.monotonic() > deadline:
                raise BenchError(f"no result from the app on {self.name} after {self.timeout_s:.0f} s "
                                 f"({export}, threads {threads}): was it killed? check `adb logcat -s edgedet`")
            time.sleep(self.poll_s)
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "result.json"
            self._run("pull", out, str(local))
            lines = [ln for ln in local.read_text().splitlines() if ln.strip()]
        if not lines:
            raise BenchError(f"the app wrote an empty {out} on {self.name}")
        try:
            record = BenchmarkResult.from_json(lines[-1])
        except ValueError as e:
            raise BenchError(f"the app's result on {self.name} does not read as a benchmark record ({e}): "
                             "install the demo APK built from this edgedet version") from None
        return replace(record, model=str(export), target=self.name, format="tflite", core_mask=mask, runner="demo-app")
