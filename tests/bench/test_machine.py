"""edgedet.bench.machine: CPU names from /proc/cpuinfo texts, package versions, no torch import."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import types
from pathlib import Path

import numpy as np

from edgedet.bench import machine_info, package_version
from edgedet.bench.machine import cpu_model_from_cpuinfo, simd_features_from_cpuinfo

ROOT = Path(__file__).resolve().parents[2]

X86 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu vme

processor\t: 1
model name\t: AMD EPYC 7B13
"""

ANDROID = """processor\t: 0
Processor\t: AArch64 Processor rev 14 (aarch64)
BogoMIPS\t: 38.40
CPU part\t: 0xd05
Hardware\t: Qualcomm Technologies, Inc SM8150
"""

OLD_ARM = """Processor\t: ARMv7 Processor rev 4 (v7l)
processor\t: 0
BogoMIPS\t: 38.40
"""

ARM64_NO_NAME = """processor\t: 0
BogoMIPS\t: 50.00
CPU implementer\t: 0x41
CPU part\t: 0xd0c
"""


def test_cpu_model_from_cpuinfo_texts():
    assert cpu_model_from_cpuinfo(X86) == "AMD EPYC 7B13"
    assert cpu_model_from_cpuinfo(ANDROID) == "Qualcomm Technologies, Inc SM8150"  # the SoC beats the core type
    assert cpu_model_from_cpuinfo(OLD_ARM) == "ARMv7 Processor rev 4 (v7l)"  # not the core index "0"
    assert cpu_model_from_cpuinfo(ARM64_NO_NAME) is None
    assert cpu_model_from_cpuinfo("model name\t:\nHardware\t: BCM2835\n") == "BCM2835"  # an empty value is no name
    assert cpu_model_from_cpuinfo("") is None


def test_package_version_prefers_the_imported_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "edgedet_fake_pkg", types.SimpleNamespace(__version__="9.8.7+local"))
    assert package_version("edgedet_fake_pkg") == "9.8.7+local"
    assert package_version("numpy") == np.__version__
    assert package_version("edgedet-no-such-distribution") is None


def test_machine_info_keys_and_values():
    info = machine_info(packages=("numpy", "edgedet-no-such-distribution"))
    assert list(info) == ["cpu", "cores", "os", "python", "simd", "numpy", "edgedet-no-such-distribution",
                          "load_avg_1min_at_start"]
    assert info["cores"] == os.cpu_count()
    assert info["python"] == platform.python_version()
    assert info["os"] == f"{platform.system()} {platform.release()}"
    assert info["numpy"] == np.__version__ and info["edgedet-no-such-distribution"] is None
    assert isinstance(info["cpu"], str) and info["cpu"]


def test_simd_features_from_cpuinfo_x86_and_arm():
    x86 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 fma avx512f avx512_vnni\nprocessor\t: 1\nflags\t\t: fpu sse2\n"
    assert simd_features_from_cpuinfo(x86) == ["avx2", "fma", "avx512f", "avx512_vnni"]  # first core's line
    arm = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes asimdhp cpuid asimddp\nCPU part\t: 0xd41\n"
    assert simd_features_from_cpuinfo(arm) == ["asimd", "asimdhp", "asimddp"]
    assert simd_features_from_cpuinfo("processor\t: 0\n") == []


def test_bench_imports_and_describes_the_machine_without_torch():
    code = ("import sys, edgedet.bench as b; b.machine_info(); b.latency_stats([1.0]); "
            "print(sorted(m for m in ('torch', 'torchvision', 'onnxruntime', 'cv2') if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_hottest_thermal_zone_from_files_and_from_device_text(tmp_path):
    from edgedet.bench.worker import cpu_temperature_c, hottest_zone_c

    assert hottest_zone_c(["45000\n", "61500", "junk", "-2000"]) == 61.5
    assert hottest_zone_c([]) is None and hottest_zone_c(["n/a"]) is None
    for i, v in enumerate(["38000\n", "52250\n", "oops\n"]):
        (tmp_path / f"thermal_zone{i}").mkdir()
        (tmp_path / f"thermal_zone{i}" / "temp").write_text(v)
    assert cpu_temperature_c(tmp_path) == 52.25
    assert cpu_temperature_c(tmp_path / "none") is None
