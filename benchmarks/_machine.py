"""Where a benchmark ran: CPU model, core count, torch version (shared by the pafnet_* scripts)."""

from __future__ import annotations

import os
import platform

import torch


def machine() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu, "cores": os.cpu_count(), "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(), "torch": torch.__version__,
        "load_avg_1min_at_start": round(os.getloadavg()[0], 2),  # other users of a shared machine skew timings
    }
