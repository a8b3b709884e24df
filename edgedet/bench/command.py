"""``edgedet bench``: pick the target, run, append the JSONL records, print the table, write the report.

The accuracy images and their scorer come from the caller (:mod:`edgedet.cli`), which may read datasets; this
package only runs exports and describes results.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from edgedet.bench.report import markdown_table, write_report
from edgedet.bench.result import append_jsonl
from edgedet.bench.runner import BenchSettings, Scorer, benchmark
from edgedet.bench.targets import BenchError, HostTarget, SshTarget

__all__ = ["BenchError", "parse_threads", "run_bench"]


def parse_threads(text: str) -> tuple[int, ...]:
    try:
        threads = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise BenchError(f"--threads {text!r}: give a comma list of counts such as 1,2,4") from None
    if not threads or min(threads) < 1:
        raise BenchError(f"--threads {text!r}: give a comma list of counts >= 1 such as 1,2,4")
    return threads


def check_exports(paths: list[str]) -> list[Path]:
    from edgedet.deploy.schema import METADATA_FILE

    out = []
    for p in map(Path, paths):
        if not (p / METADATA_FILE).is_file():
            hint = "it does not exist" if not p.exists() else f"it holds no {METADATA_FILE}"
            raise BenchError(f"{p} is not an export directory ({hint}): pass what `edgedet export` wrote, "
                             "e.g. runs/export/<name>/onnx_fp32")
        out.append(p)
    return out


def make_target(spec: str, *, key: str | None, keep: bool):
    if spec == "host":
        return HostTarget()
    if spec.startswith("ssh://"):
        return SshTarget(spec, key=key, keep=keep)
    raise BenchError(f"--target {spec!r}: use host, ssh://user@host[:port], adb or adb:SERIAL")


def run_bench(args: argparse.Namespace, *, images: list[Path], score: Scorer | None) -> int:
    exports = check_exports(args.exports)
    threads = parse_threads(args.threads)
    if args.target == "adb" or args.target.startswith("adb:"):
        from edgedet.bench.adb import AdbTarget

        if args.accuracy:
            raise BenchError("--accuracy is not available on adb targets (the app's benchmark mode times only): "
                             "measure AP with `edgedet eval EXPORT_DIR` on the host")
        target = AdbTarget(args.target, adb=os.environ.get("ADB", "adb"), keep=args.keep)
        results = target.benchmark(exports, threads=threads, warmup=args.warmup, runs=args.runs,
                                   cores=args.cores, cooldown_s=args.cooldown)
    else:
        settings = BenchSettings(threads=threads, warmup=args.warmup, runs=args.runs, cooldown_s=args.cooldown,
                                 cores=args.cores)
        target = make_target(args.target, key=args.ssh_key, keep=args.keep)
        results = benchmark(exports, target, settings, images=images, score=score, progress=not args.quiet)
    if args.emulated:
        from dataclasses import replace

        results = [replace(r, emulated=True) for r in results]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    append_jsonl(out, results)
    print(markdown_table(results))
    print(f"\nappended {len(results)} record(s) to {out}")
    if any(r.emulated for r in results):
        print("emulated target: these latencies are NOT device speed (parity and AP are what counts there)")
    if args.report:
        written = write_report(results, Path(args.report))
        print("report: " + ", ".join(str(p) for p in written))
    return 0

