"""Where a benchmark ran: CPU model, cores, OS, load, Python and package versions.

Nothing here imports torch (or any runtime): a torch-free runtime install must be able to describe its machine,
and importing torch only to read its version would add seconds to every benchmark start.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

# /proc/cpuinfo keys naming the CPU, best first: x86 and recent ARM ("model name"), the SoC on Android and boards
# ("Hardware"), the core type on older ARM kernels ("Processor"). "processor" (lower case) is the core index on
# every architecture, not a name; recent arm64 kernels give no name at all (then ``platform`` answers).
_CPUINFO_NAME_KEYS = ("model name", "Hardware", "Processor")
# CPU features that decide which fp32 / int8 kernels onnxruntime, XNNPACK and Paddle-Lite pick: x86 vector widths
# and int8 dot products (VNNI, AMX); ARM's NEON ("asimd"), int8 dot product ("asimddp"), int8 matrix multiply
# ("i8mm") and fp16 arithmetic ("asimdhp"). "flags" on x86, "Features" on ARM.
SIMD_FEATURES = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8",
                 "asimd", "asimdhp", "asimddp", "i8mm", "sve")


def cpu_model_from_cpuinfo(text: str) -> str | None:
    """The CPU name in the text of ``/proc/cpuinfo``, or None if it names none.

    Args:
        text: the file's contents (``key<tabs>: value`` lines).
    """
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip()
        if sep and key in _CPUINFO_NAME_KEYS and value.strip() and key not in values:
            values[key] = value.strip()
    return next((values[k] for k in _CPUINFO_NAME_KEYS if k in values), None)


def simd_features_from_cpuinfo(text: str) -> list[str]:
    """The :data:`SIMD_FEATURES` listed in the text of ``/proc/cpuinfo`` (first core's ``flags`` / ``Features``)."""
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("flags", "Features"):
            have = set(value.split())
            return [f for f in SIMD_FEATURES if f in have]
    return []


def simd_features() -> str | None:
    """This CPU's :data:`SIMD_FEATURES`, space-separated; None where ``/proc/cpuinfo`` is missing or lists none."""
    try:
        return " ".join(simd_features_from_cpuinfo(Path("/proc/cpuinfo").read_text())) or None
    except OSError:
        return None


def cpu_model() -> str:
    """The CPU model from ``/proc/cpuinfo`` (Linux, Android), else what ``platform`` knows, else "unknown"."""
    try:
        name = cpu_model_from_cpuinfo(Path("/proc/cpuinfo").read_text())
    except OSError:
        name = None
    return name or platform.processor() or platform.machine() or "unknown"


def package_version(name: str) -> str | None:
    """Version of an installed distribution without importing it (an imported module's ``__version__`` wins)."""
    module = sys.modules.get(name)
    if module is not None and isinstance(getattr(module, "__version__", None), str):
        return module.__version__
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def load_average_1min() -> float | None:
    """The 1-minute load average, None where the OS has none (Windows)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def machine_info(packages: Sequence[str] = ("torch",)) -> dict[str, str | int | float | None]:
    """Description of this machine for a benchmark record.

    Args:
        packages: distributions whose version to record, one key each (None when not installed).

    Returns:
        ``cpu``, ``cores`` (logical CPUs), ``os``, ``python``, ``simd`` (the :data:`SIMD_FEATURES` the CPU
        reports, space-separated; None where ``/proc/cpuinfo`` lists none), one key per package, and ``load_avg_1min_at_start``:
        other users of a shared machine skew timings, so every record says how busy it was.
    """
    info: dict[str, str | int | float | None] = {
        "cpu": cpu_model(), "cores": os.cpu_count(), "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }
    info["simd"] = simd_features()
    for name in packages:
        info[name] = package_version(name)
    info["load_avg_1min_at_start"] = load_average_1min()
    return info
