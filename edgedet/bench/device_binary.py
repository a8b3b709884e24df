"""``edgedet bench --device-binary``: the device's own benchmark binary instead of the Python worker.

TFLite's ``benchmark_model`` times ``.tflite`` exports and Paddle-Lite's ``benchmark_bin`` times ``.nb``
(``paddle-lite``) exports where Python does not run (a phone over adb), or on an ssh board or this host. One binary
serves every export of a run, so they must share a format. The steps, each failure one line with the fix:

1. on this machine: which tool the file is (its flag names are strings inside it), its sha256, and, for an ELF
   file, the architecture it was built for (its header);
2. on the target, one shell call: ``uname -m`` (compared with the ELF header before anything is sent), OS, CPU,
   each core's maximum frequency (``--cores big|little`` are resolved from them, as the worker does), temp dir;
3. a fresh folder in the target's temp dir (``/data/local/tmp`` over adb) gets the binary (``chmod +x``) and the
   model files;
4. per export and thread count: ``taskset MASK ./TOOL flags`` (no taskset for ``--cores all``), then the output is
   read by :mod:`edgedet.bench.tool_output` into one record with ``runner`` = the tool and ``runner_sha256``;
5. the folder is removed (unless ``--keep``), on errors too.

Tested only against stand-ins (``tests/bench/fake_benchmark_model``, ``tests/bench/fake_benchmark_bin``) that
print the real tools' documented output, over the host, the emulated ARM64 board and a stand-in ``adb``: never a
real binary on real hardware, since none could be had where this was written.
"""

from __future__ import annotations

import hashlib
import shlex
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from edgedet.bench.machine import cpu_model_from_cpuinfo, simd_features_from_cpuinfo
from edgedet.bench.result import BenchmarkResult
from edgedet.bench.targets import X86_MACHINES, BenchError, check_architecture, model_size_mb
from edgedet.bench.tool_output import ToolOutputError, ToolTimings, parse_benchmark_bin, parse_benchmark_model
from edgedet.bench.worker import RUNTIME_NAMES, hottest_zone_c, resolve_cores, split_cores

TOOLS = {"tflite": "benchmark_model", "paddle-lite": "benchmark_bin"}
BUILD_HINT = {"tflite": "bazel build -c opt --config=android_arm64 //tensorflow/lite/tools/benchmark:benchmark_model "
                        "(or TFLite's prebuilt benchmark binaries for the device's ABI)",
              "paddle-lite": "Paddle-Lite's lite/tools/build_android.sh ... benchmark (or its release's benchmark_bin "
                             "for the device's ABI)"}
# the strings that make a file one of the tools: flag names are literals inside the binary, stripped or not
SIGNATURES = {"benchmark_model": (b"num_runs", b"warmup_runs"), "benchmark_bin": (b"optimized_model_file",),
              "benchmark_bin-legacy": (b"optimized_model_path",)}
ELF_MACHINES = {3: "i386", 8: "mips", 40: "arm", 62: "x86_64", 183: "aarch64", 243: "riscv"}
RUNS_ON = {"x86_64": {"x86_64", "i386"}, "amd64": {"x86_64", "i386"}, "i386": {"i386"}, "i686": {"i386"},
           "aarch64": {"aarch64", "arm"}, "arm64": {"aarch64", "arm"}, "armv7l": {"arm"}, "armv8l": {"arm"},
           "armv7": {"arm"}, "riscv64": {"riscv"}}
EXEC_FAILURES = ("Exec format error", "not executable", "cannot execute binary", "wrong ELF class")
MARK = "edgedet-"

PROBE = r"""echo "arch=$(uname -m)"; echo "os=$(uname -sr)"; echo "tmp=${TMPDIR:-/tmp}"
echo "emulated=${QEMU_CPU:-}${EDGEDET_EMULATED:-}"
for c in /sys/devices/system/cpu/cpu[0-9]*; do echo "cpu=${c##*/cpu} $(cat $c/cpufreq/cpuinfo_max_freq 2>/dev/null)"; done
echo "android=$(getprop ro.build.version.release 2>/dev/null)"; echo "sdk=$(getprop ro.build.version.sdk 2>/dev/null)"
echo "model=$(getprop ro.product.model 2>/dev/null)"; echo "soc=$(getprop ro.soc.model 2>/dev/null)"
sed 's/^/cpuinfo=/' /proc/cpuinfo 2>/dev/null"""


class ShellTarget(Protocol):
    """What a target offers this module: a shell and a way to copy a file there (host, ssh and adb have both)."""

    name: str
    shell_tmp: str | None  # where to make the folder (None: the probed $TMPDIR or /tmp)

    def shell(self, command: str, *, timeout: float = 3600) -> str: ...
    def push(self, local: Path, remote: str) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Device:
    """What the probe learnt of the target."""

    arch: str
    os: str
    name: str
    tmp: str
    emulated: bool
    groups: dict[str, list[int]]
    simd: str | None = None  # SIMD_FEATURES in the target's /proc/cpuinfo (None: it lists none)

    @classmethod
    def parse(cls, text: str) -> Device:
        values: dict[str, str] = {}
        cpuinfo, cores, freqs = [], [], {}
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key == "cpuinfo":
                cpuinfo.append(value)
            elif key == "cpu":
                index, _, freq = value.partition(" ")
                if index.isdigit():
                    cores.append(int(index))
                    if freq.strip().isdigit():
                        freqs[int(index)] = int(freq)
            elif key in ("arch", "os", "tmp", "emulated", "android", "sdk", "model", "soc"):
                values[key] = value.strip()
        if not values.get("arch"):
            raise BenchError(f"the target's shell did not answer `uname -m`; it printed: {text.strip()[-200:]!r}")
        cores = sorted(cores) or [0]
        android = values.get("android")
        os_name = f"Android {android} (API {values.get('sdk')})" if android else values.get("os") or "unknown"
        phone = " ".join(v for v in (values.get("model"), f"({values['soc']})" if values.get("soc") else "") if v)
        name = phone or cpu_model_from_cpuinfo("\n".join(cpuinfo)) or values["arch"]
        return cls(arch=values["arch"], os=os_name, name=name, tmp=values.get("tmp") or "/tmp",
                   emulated=bool(values.get("emulated")), groups=split_cores(cores, freqs),
                   simd=" ".join(simd_features_from_cpuinfo("\n".join(cpuinfo))) or None)


def elf_machine(head: bytes) -> str | None:
    """The architecture an executable was built for from its first bytes: ``x86_64``, ``aarch64``, ``arm`` ...;
    ``"script"`` for a ``#!`` script (runs wherever its interpreter does), None when it is neither."""
    if head[:2] == b"#!":
        return "script"
    if head[:4] != b"\x7fELF" or len(head) < 20:
        return None
    code = int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")
    return ELF_MACHINES.get(code, f"ELF machine {code}")


def identify_binary(path: Path, fmt: str) -> str:
    """``benchmark_model``, ``benchmark_bin`` or ``benchmark_bin-legacy`` (the ``--optimized_model_path`` one)."""
    data = path.read_bytes()
    found = [flavour for flavour, needles in SIGNATURES.items() if all(n in data for n in needles)]
    wanted = TOOLS[fmt]
    match = next((f for f in found if f.startswith(wanted)), None)
    if match:
        return match
    other = f" (it looks like {found[0].split('-')[0]}, which runs {_format_of(found[0])} exports)" if found else ""
    flags = "--num_runs/--warmup_runs" if fmt == "tflite" else "--optimized_model_file"
    raise BenchError(f"{path} is not {wanted}: it has no {flags} flag{other}; {fmt} exports need {wanted}, built with "
                     f"{BUILD_HINT[fmt]}")


def _format_of(flavour: str) -> str:
    return next(fmt for fmt, tool in TOOLS.items() if flavour.startswith(tool))


def check_binary_arch(binary: Path, device_arch: str, target: str) -> None:
    """Refuse, before sending it, a binary built for another architecture than the device's ``uname -m``."""
    with open(binary, "rb") as f:
        built = elf_machine(f.read(64))
    if built is None:
        raise BenchError(f"{binary} is neither an ELF executable nor a #! script: pass the benchmark binary itself")
    runs = RUNS_ON.get(device_arch)
    if built != "script" and runs is not None and built not in runs:
        raise BenchError(f"{binary} is built for {built} and {target} is {device_arch} (it would fail with 'Exec "
                         f"format error'): use the binary built for {device_arch}")


def tool_command(flavour: str, model: str, *, threads: int, warmup: int, runs: int, input_shape: list[int],
                 arch: str, workdir: str) -> list[str]:
    """The tool's command line (without the taskset prefix), with the flags of its own source."""
    if flavour == "benchmark_model":
        # min_secs 0: exactly --num_runs runs, not "at least 1 s" of them (the tool's default)
        return ["./benchmark_model", f"--graph={model}", f"--num_threads={threads}", f"--warmup_runs={warmup}",
                f"--num_runs={runs}", "--warmup_min_secs=0", "--min_secs=0"]
    # power_mode 3 (no bind): the cores are taskset's to choose, as for every runner
    common = [f"--threads={threads}", f"--warmup={warmup}", f"--repeats={runs}", "--power_mode=3"]
    shape = ",".join(str(v) for v in input_shape)
    if flavour == "benchmark_bin":
        backend = "x86" if arch in X86_MACHINES else "arm"
        return ["./benchmark_bin", f"--optimized_model_file={model}", f"--input_shape={shape}", f"--backend={backend}",
                *common]
    return ["./benchmark_bin", f"--optimized_model_path={model}", f"--input_shape={shape}", *common,
            f"--result_path={workdir}/result.txt"]


def describe_failure(tool: str, returncode: int, output: str, where: str, arch: str) -> str:
    """One line for a tool that exited non-zero: the architecture when it could not start, else its last lines."""
    lines = [ln.strip() for ln in output.strip().splitlines() if ln.strip()]
    last = " | ".join(lines[-3:]) if lines else "(no output)"
    if any(s in output for s in EXEC_FAILURES) or returncode == 126:
        return (f"{tool} cannot start on {where} ({arch}): {last}; it is built for another architecture: use the "
                f"{tool} built for {arch}")
    if returncode in (137, -9):
        return f"{tool} was killed on {where} (SIGKILL: out of memory?): {last}"
    return f"{tool} exited with status {returncode} on {where}; its last lines: {last}"


def _split_marks(text: str) -> tuple[str, dict[str, str]]:
    """The tool's own output and the ``edgedet-KEY:VALUE`` lines the run script added."""
    own, marks = [], {}
    for line in text.splitlines():
        if line.startswith(MARK) and ":" in line:
            key, _, value = line[len(MARK):].partition(":")
            marks[key] = value.strip()
        else:
            own.append(line)
    return "\n".join(own), marks


def _load(text: str | None) -> float | None:
    try:
        return round(float(text.split()[0]), 2) if text else None
    except ValueError:
        return None


def _model_file(export: Path, meta: dict, arch: str) -> Path:
    x86 = meta.get("extra", {}).get("x86_model_file")
    if meta["format"] == "paddle-lite" and x86 and arch in X86_MACHINES and (export / x86).is_file():
        return export / x86
    return export / meta["model_file"]


def check_formats(exports: list[Path]) -> str:
    """The one format every export shares, which a benchmark binary runs; else one line saying what does."""
    from edgedet.deploy.schema import read_metadata

    formats = {e: read_metadata(e)["format"] for e in exports}
    supported = "TFLite's benchmark_model runs .tflite (tflite) exports, Paddle-Lite's benchmark_bin .nb (paddle-lite)"
    for export, fmt in formats.items():
        if fmt not in TOOLS:
            raise BenchError(f"{export} is a {fmt} export: --device-binary runs a device's own benchmark tool "
                             f"({supported}); benchmark {fmt} exports without --device-binary (the Python worker)")
    if len(set(formats.values())) > 1:
        raise BenchError(f"--device-binary runs one tool for every export, and these are {sorted(set(formats.values()))}"
                         f": {supported}; benchmark each format in its own run")
    return next(iter(formats.values()))


@dataclass
class _Plan:
    """One --device-binary run: the tool, the device, where things are on it."""

    target: ShellTarget
    fmt: str
    flavour: str
    sha256: str
    device: Device
    cores: list[int]  # pinned to, for the record
    mask: str  # taskset's mask; "" for --cores all (no taskset)
    workdir: str
    metas: dict[Path, dict]
    models: dict[Path, str] = field(default_factory=dict)  # export -> model file on the device

    @property
    def tool(self) -> str:
        return TOOLS[self.fmt]


def run_device_binary(target: ShellTarget, binary: Path, exports: list[Path], *, threads: tuple[int, ...],
                      warmup: int, runs: int, cores: str = "all", cooldown_s: float = 0.0, keep: bool = False,
                      progress: bool = True) -> list[BenchmarkResult]:
    """One record per (export, threads) from ``binary`` run on ``target`` (see the module docstring)."""
    from edgedet.deploy.schema import read_metadata

    binary = Path(binary)
    if not binary.is_file():
        raise BenchError(f"--device-binary {binary} does not exist: give the path of benchmark_model / benchmark_bin")
    fmt = check_formats(exports)
    flavour = identify_binary(binary, fmt)
    plan = None
    try:
        device = Device.parse(target.shell(PROBE, timeout=120))
        check_binary_arch(binary, device.arch, target.name)
        try:
            chosen = resolve_cores(cores, device.groups)
        except ValueError as e:
            raise BenchError(str(e)) from None
        for export in exports:
            check_architecture(export, device.arch)
        plan = _Plan(target, fmt, flavour, hashlib.sha256(binary.read_bytes()).hexdigest(), device, chosen,
                     "" if cores == "all" else format(sum(1 << c for c in chosen), "x"),
                     f"{target.shell_tmp or device.tmp}/edgedet-bench-{uuid.uuid4().hex[:8]}",
                     {e: read_metadata(e) for e in exports})
        _ship(plan, binary, exports)
        results = []
        for export in exports:
            for t in threads:
                if cooldown_s:
                    time.sleep(cooldown_s)
                if progress:
                    print(f"{plan.tool}: {export} threads {t} on {target.name}", flush=True)
                results.append(_measure(plan, export, t, warmup, runs))
        return results
    finally:
        if plan is not None and not keep:
            try:
                target.shell(f"rm -rf {shlex.quote(plan.workdir)}", timeout=120)
            except BenchError:
                pass  # the target went away: the error that stopped the run says why
        target.close()


def _ship(plan: _Plan, binary: Path, exports: list[Path]) -> None:
    """The binary (executable) and each export's model file into a fresh folder on the device."""
    target, workdir = plan.target, plan.workdir
    _check_shell(target, f"mkdir -p {shlex.quote(workdir)}", "make a folder")
    target.push(binary, f"{workdir}/{plan.tool}")
    _check_shell(target, f"chmod 755 {shlex.quote(f'{workdir}/{plan.tool}')}", f"chmod +x {plan.tool}")
    for i, export in enumerate(exports):
        local = _model_file(export, plan.metas[export], plan.device.arch)
        plan.models[export] = f"{workdir}/{i}_{local.name}"
        target.push(local, plan.models[export])


def _measure(plan: _Plan, export: Path, threads: int, warmup: int, runs: int) -> BenchmarkResult:
    meta, device = plan.metas[export], plan.device
    cmd = tool_command(plan.flavour, plan.models[export], threads=threads, warmup=warmup, runs=runs,
                       input_shape=meta["input"]["shape"], arch=device.arch, workdir=plan.workdir)
    timings, load, temp = _run_once(plan, cmd, f"{export}, {threads} thread(s)")
    size = int(meta["input"]["size"])
    return BenchmarkResult(
        model=str(export), target=plan.target.name, device=device.name, os=device.os,
        runtime=RUNTIME_NAMES[plan.fmt], runtime_version=timings.version, delegate=None, threads=threads,
        precision=meta.get("precision", "fp32"), input_size=(size, size),
        warmup=warmup if timings.warmup_runs is None else timings.warmup_runs, latency=timings.latency,
        init_ms=timings.init_ms, first_ms=timings.first_ms, model_size_mb=round(model_size_mb(export), 3),
        emulated=device.emulated, format=plan.fmt, arch=device.arch, core_mask=",".join(map(str, plan.cores)),
        load_avg_1min=load, cpu_temp_c=temp, simd=device.simd, runner=plan.tool, runner_sha256=plan.sha256,
        tool_mem_init_mb=timings.mem_init_mb, tool_mem_overall_mb=timings.mem_overall_mb)


def _check_shell(target: ShellTarget, command: str, what: str) -> None:
    out, marks = _split_marks(target.shell(f"{command} 2>&1; echo {MARK}exit:$?", timeout=120))
    if marks.get("exit") != "0":
        hint = "; the target's disk is full: free space there" if "No space left" in out else ""
        raise BenchError(f"could not {what} on {target.name}: {out.strip() or 'no output'}{hint}")


def _run_once(plan: _Plan, cmd: list[str], what: str) -> tuple[ToolTimings, float | None, float | None]:
    """Run the tool once on the device; its timings, the load average before and the temperature after."""
    target, tool, mask = plan.target, plan.tool, plan.mask
    pin = f"taskset {mask} " if mask else ""
    script = (f"echo {MARK}load:$(cat /proc/loadavg 2>/dev/null); cd {shlex.quote(plan.workdir)} && rm -f result.txt && "
              f"{pin}{' '.join(shlex.quote(a) for a in cmd)} 2>&1; rc=$?; cat result.txt 2>/dev/null; "
              f"echo {MARK}temp:$(cat /sys/class/thermal/thermal_zone*/temp 2>/dev/null); echo {MARK}exit:$rc")
    out, marks = _split_marks(target.shell(script))
    where = f"{target.name} ({what})"
    if "exit" not in marks:
        raise BenchError(f"the shell on {target.name} ended before {tool} did ({what}); it printed: "
                         f"{out.strip()[-300:] or 'nothing'}")
    if pin and "taskset" in out and ("not found" in out or "Operation not permitted" in out or "Invalid" in out):
        line = next(ln for ln in out.splitlines() if "taskset" in ln)
        raise BenchError(f"{target.name} refused `taskset {mask}` ({line.strip()}): check --cores against the "
                         "device's cores, or pass --cores all")
    rc = int(marks["exit"]) if marks["exit"].lstrip("-").isdigit() else -1
    if rc != 0:
        raise BenchError(describe_failure(tool, rc, out, where, plan.device.arch))
    parse = parse_benchmark_model if plan.flavour == "benchmark_model" else parse_benchmark_bin
    try:
        timings = parse(out)
    except ToolOutputError as e:
        raise BenchError(f"could not read {tool}'s output on {where}: {e}") from None
    return timings, _load(marks.get("load")), hottest_zone_c((marks.get("temp") or "").split())
