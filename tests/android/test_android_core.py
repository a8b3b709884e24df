"""The Android demo's pure-Java core (android_demo/core) against the Python runtime.

make_fixtures.py exports tiny models and records what edgedet.runtime does (preprocessed tensor, raw outputs,
detections, YUV conversion); the JUnit tests must reproduce it within 1e-4. Skips only when no JDK or no
junit4 jar is installed (`make android-deps` installs both on Debian).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from edgedet.bench.result import BenchmarkResult
from tests.android.make_fixtures import make_fixtures

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "android_demo" / "core" / "run_tests.sh"
JARS = [Path("/usr/share/java/junit4.jar"), Path("/usr/share/java/hamcrest-core.jar")]


def _missing() -> str | None:
    for tool in ("javac", "java"):
        if shutil.which(tool) is None:
            return f"{tool} not found: `make android-deps` (apt-get install default-jdk-headless junit4)"
    for jar in JARS:
        if not jar.is_file():
            return f"{jar} not found: `make android-deps` (apt-get install junit4)"
    return None


@pytest.mark.skipif(_missing() is not None, reason=str(_missing()))
def test_java_core_matches_the_python_runtime(tmp_path):
    cases = make_fixtures(tmp_path / "fixtures", tmp_path / "work")
    kinds = {name.split("_")[0] for name in cases}
    assert kinds == {"predict", "decode", "preprocess", "yuv", "bench"}
    proc = subprocess.run(["bash", str(RUNNER), str(tmp_path / "fixtures")], capture_output=True, text=True,
                          env={**os.environ, "BUILD_DIR": str(tmp_path / "classes")}, timeout=300)
    closing = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    m = re.fullmatch(r"(\d+) passed, (\d+) failed", closing)
    assert m, f"no closing line from the Java tests:\n{proc.stdout}\n{proc.stderr}"
    passed, failed = int(m[1]), int(m[2])
    assert failed == 0 and proc.returncode == 0, proc.stdout + proc.stderr
    # every fixture case is one JUnit test, plus the core's unit tests
    assert passed >= len(cases) + 10, closing
    # the benchmark records the Java core wrote are what the host's reader accepts
    for name in cases:
        if name.startswith("bench_"):
            want = json.loads((tmp_path / "fixtures" / name / "case.json").read_text())["record"]
            got = BenchmarkResult.from_json((tmp_path / "fixtures" / name / "from_java.json").read_text())
            assert got.latency.runs == want["runs"] and got.threads == want["threads"]
