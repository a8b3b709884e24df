"""The Android demo's pure-Java core (android_demo/core) against the Python runtime.

make_fixtures.py exports tiny models and records what edgedet.runtime does (preprocessed tensor, raw outputs,
detections, YUV conversion); the JUnit tests must reproduce it within 1e-4. Skips only when no JDK or no
junit4 jar is installed (`make android-deps` installs both on Debian). The slow test also runs the real .tflite from
Java through a host JNI shim over the ai-edge-litert wheel's C library.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgedet.bench.result import BenchmarkResult
from tests.android.make_fixtures import make_fixtures

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "android_demo" / "core" / "run_tests.sh"
JNI_BUILD = ROOT / "android_demo" / "host_jni" / "build_jni.sh"
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


@pytest.mark.slow
@pytest.mark.optional
@pytest.mark.skipif(_missing() is not None, reason=str(_missing()))
def test_java_runs_the_real_tflite_like_python(tmp_path):
    """Java preprocessing -> the .tflite through LiteRT's C API (host JNI shim) -> Java decode == Python predict."""
    pytest.importorskip("litert_torch", reason="the TFLite export needs litert-torch: pip install 'edgedet[tflite]'")
    build = subprocess.run(["bash", str(JNI_BUILD), sys.executable, str(tmp_path / "jni")], capture_output=True,
                           text=True, timeout=300)
    if build.returncode == 3:
        pytest.skip(f"JNI shim not built: {build.stderr.strip()}")
    assert build.returncode == 0, build.stdout + build.stderr
    cases = make_fixtures(tmp_path / "fixtures", tmp_path / "work", only_tflite=True)
    assert cases == ["litert_pafnet_lite_640x480"]
    proc = subprocess.run(["bash", str(RUNNER), str(tmp_path / "fixtures"), "LiteRtJniTest"], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "BUILD_DIR": str(tmp_path / "classes"),
                                                       "EDGEDET_LITERT_JNI": build.stdout.strip().splitlines()[-1]})
    closing = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    assert closing == "1 passed, 0 failed" and proc.returncode == 0, proc.stdout + proc.stderr
