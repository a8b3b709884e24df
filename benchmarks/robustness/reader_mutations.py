"""Mutation campaign over the dataset readers: broken COCO / YOLO / VOC datasets through `data check` and the loader.

    .venv/bin/python benchmarks/robustness/reader_mutations.py [--cases 1200] [--seed 0] [--timeout 20] \\
        [--json benchmarks/robustness/reader_mutations.json]

Every mutation of :data:`edgedet.data.mutate.MUTATIONS` runs once alone on each format, then seeded random
combinations of one to three fill up to ``--cases``; one more case per format puts a complete 20000x20000 PNG
(about 390 KB) among the images. Each case is written to a fresh directory and run by
:func:`edgedet.data.robustness.run_case`: ``check_dataset`` (the ``edgedet data check`` code path), then
``load_dataset`` and every item of a train-mode and an eval-mode ``DetectionDataset`` (the training and
evaluation loader path). Cases run in one worker process that is killed and restarted when a case passes
``--timeout`` seconds (a hang). Outcomes: handled, crashed (another exception), hung, escaped (a file outside the
dataset root opened, or its content echoed), unclear (a message of several lines or naming no dataset file).
``PYTHONPATH=OTHER_CHECKOUT`` runs the campaign against another checkout (a before / after comparison; an edgedet without
``DatasetError`` has ``ValueError`` count as its clear error). ``--no-real-bomb`` skips the 20000x20000 case
(an unguarded loader allocates gigabytes on it).
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import platform
import random
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _worker(conn, log_path: str) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # libjpeg / libpng / OpenCV complain on stderr about every broken image and the loader warns per case
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(fd, 2)
    logging.disable(logging.WARNING)
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    from edgedet.data.mutate import make_broken_case
    from edgedet.data.robustness import run_case

    conn.send("ready")
    while True:
        job = conn.recv()
        if job is None:
            return
        case = Path(job["dir"])
        try:
            entry = make_broken_case(case, job["fmt"], job["names"], job["seed"])
        except Exception as e:  # noqa: BLE001 - a mutation that cannot be built is the harness's fault, counted apart
            conn.send({"outcome": "harness_error", "detail": f"{type(e).__name__}: {e}"[:300], "split_rejected": False,
                       "messages": 0})
            continue
        if job.get("real_bomb"):
            folder = "JPEGImages" if job["fmt"] == "voc" else "images/train"
            target = case / "ds" / folder / "b.png"
            target.unlink()
            shutil.copy(job["real_bomb"], target)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        result = run_case(case, entry)
        result["seconds"] = round(time.perf_counter() - t0, 4)
        result["peak_rss_growth_mb"] = round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024, 1)
        conn.send(result)


class Worker:
    """One worker process; restarted after a hang."""

    def __init__(self, log_path: Path):
        self.log_path = str(log_path)
        self.start()

    def start(self) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, self.log_path), daemon=True)
        self.proc.start()
        child.close()  # so that a dead worker reads as EOF here, not as a hang
        if not self.conn.poll(300) or self.conn.recv() != "ready":
            raise RuntimeError("worker did not start")

    def run(self, job: dict, timeout: float) -> dict:
        self.conn.send(job)
        if self.conn.poll(timeout):
            try:
                return self.conn.recv()
            except EOFError:
                pass
        died = not self.proc.is_alive()
        self.proc.kill()
        self.proc.join()
        self.start()
        return {"outcome": "crashed" if died else "hung", "detail": "worker died" if died else f"> {timeout} s",
                "split_rejected": False, "messages": 0}

    def close(self) -> None:
        self.conn.send(None)
        self.proc.join(10)


def plan(n: int, seed: int) -> list[dict]:
    """Every single mutation per format once, then seeded combinations up to ``n`` cases."""
    from edgedet.data.mutate import FORMATS, MUTATIONS

    rng = random.Random(seed)
    jobs = [{"fmt": f, "names": [m], "seed": rng.randrange(2**32)} for f in FORMATS for m in sorted(MUTATIONS[f])]
    while len(jobs) < n:
        fmt = FORMATS[len(jobs) % len(FORMATS)]
        k = rng.choice((1, 1, 2, 2, 3))
        jobs.append({"fmt": fmt, "names": rng.sample(sorted(MUTATIONS[fmt]), k), "seed": rng.randrange(2**32)})
    return jobs


def machine() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "os": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "load_avg_1min_at_start": round(os.getloadavg()[0], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds before a case counts as hung")
    ap.add_argument("--no-real-bomb", action="store_true", help="skip the complete 20000x20000 PNG cases")
    ap.add_argument("--json", type=Path, default=HERE / "reader_mutations.json")
    args = ap.parse_args()
    from edgedet.data.mutate import FORMATS, real_bomb_png

    info = machine()
    jobs = plan(args.cases, args.seed)
    work = Path(tempfile.mkdtemp(prefix="reader_mutations_"))
    if not args.no_real_bomb:
        bomb = real_bomb_png(work / "bomb_20000.png")
        jobs += [{"fmt": f, "names": [], "seed": 0, "real_bomb": str(bomb)} for f in FORMATS]
    worker = Worker(work / "worker_stderr.log")
    rows, t0 = [], time.perf_counter()
    for k, job in enumerate(jobs):
        case = work / f"case{k:05d}"
        case.mkdir()
        result = worker.run({**job, "dir": str(case)}, args.timeout)
        rows.append({**job, **result})
        shutil.rmtree(case, ignore_errors=True)
        if result["outcome"] != "handled":
            print(f"[{k}] {job['fmt']} {job['names']} seed={job['seed']}: {result['outcome']}: {result['detail']}",
                  flush=True)
    worker.close()
    wall = time.perf_counter() - t0
    shutil.rmtree(work, ignore_errors=True)
    counts = Counter(r["outcome"] for r in rows)
    summary = {
        "cases": len(rows), **{k: counts.get(k, 0) for k in ("handled", "crashed", "hung", "escaped", "unclear",
                                                            "harness_error")},
        "split_rejected": sum(r["split_rejected"] for r in rows),
        "split_rejected_alone": dict(Counter(f"{r['fmt']}:{r['names'][0]}" for r in rows
                                             if r["split_rejected"] and len(r["names"]) == 1)),
        "crash_kinds": dict(Counter(r["detail"].split(":")[0] for r in rows if r["outcome"] == "crashed")),
        "real_bomb_peak_rss_growth_mb": [r.get("peak_rss_growth_mb") for r in rows if r.get("real_bomb")],
        "max_case_seconds": max((r.get("seconds", 0) for r in rows), default=0),
        "wall_seconds": round(wall, 1),
    }
    out = {"command": " ".join(["python", "benchmarks/robustness/reader_mutations.py", *sys.argv[1:]]),
           "machine": {**info, "load_avg_1min_at_end": round(os.getloadavg()[0], 2)}, "seed": args.seed,
           "timeout_s": args.timeout, "pythonpath": os.environ.get("PYTHONPATH"), "summary": summary,
           "not_handled": [r for r in rows if r["outcome"] != "handled"]}
    args.json.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
