"""Peak memory and time of MaxIoU / ATSS assignment on crowded images: chunked (default) vs full matrix.

    .venv/bin/python benchmarks/assign_memory/assign_memory.py [--gts 100 500 2000] [--threads 1]

Priors: RetinaNet anchors of a 1024x1024 input (strides 8-128, 9 per location: 196,416 priors). GT boxes:
uniformly placed, sides 8-200 px, seed 0. ``chunked`` = the assigners' default (at most 4M GT x prior pairs at
once); ``full`` = the same code with ``max_chunk_elems=None`` (one GT x prior matrix, the unbounded computation).
Every case runs in a fresh subprocess; peak extra memory = ``ru_maxrss`` after the assignment minus ``ru_maxrss``
just before it (inputs built, torch imported and warmed on a small case). The ``gt_inds`` of chunked and full are
asserted identical. A full case that would not fit in the available memory is skipped and recorded as such.
Writes benchmarks/assign_memory/assign_memory.json and prints markdown rows for benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from edgedet.assigners import ATSSAssigner, MaxIoUAssigner
from edgedet.bench import machine_info, peak_rss_mb
from edgedet.structures.priors import feat_sizes_for_input, retinanet_anchors

IMGSZ = 1024


def _inputs(num_gts: int) -> tuple[torch.Tensor, list[int], torch.Tensor, torch.Tensor]:
    gen = retinanet_anchors()
    sizes = feat_sizes_for_input(IMGSZ, IMGSZ, gen.strides)
    priors = torch.cat(gen.grid_priors(sizes))
    g = torch.Generator().manual_seed(0)
    wh = torch.rand(num_gts, 2, generator=g) * 192 + 8
    xy = torch.rand(num_gts, 2, generator=g) * (IMGSZ - wh)
    gts = torch.cat([xy, xy + wh], 1)
    return priors, gen.num_level_priors(sizes), gts, torch.randint(0, 80, (num_gts,), generator=g)


def _assigner(name: str, chunked: bool):
    kw = {} if chunked else {"max_chunk_elems": None}
    return MaxIoUAssigner(0.5, 0.4, **kw) if name == "max_iou" else ATSSAssigner(9, **kw)


def _run(assigner, name, priors, nlp, gts, labels):
    return assigner.assign(priors, nlp, gts, labels)


def child(name: str, num_gts: int, mode: str, threads: int, out_path: str) -> None:
    torch.set_num_threads(threads)
    priors, nlp, gts, labels = _inputs(num_gts)
    _run(_assigner(name, mode == "chunked"), name, priors, nlp, gts[:2], labels[:2])  # warm the kernels
    before = peak_rss_mb()
    t0 = time.perf_counter()
    res = _run(_assigner(name, mode == "chunked"), name, priors, nlp, gts, labels)
    dt = time.perf_counter() - t0
    after = peak_rss_mb()
    torch.save(res.gt_inds, out_path)
    print(json.dumps({"seconds": round(dt, 3), "peak_extra_mb": round(after - before, 1),
                      "num_pos": int((res.gt_inds > 0).sum()), "num_ignored": int((res.gt_inds < 0).sum())}))


def _available_mb() -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable"):
                return int(line.split()[1]) / 1024
    return float("inf")


def _full_need_mb(name: str, num_gts: int, num_priors: int) -> float:
    # a handful of float32 / bool matrices of G x P (MaxIoU) or G x P_level0 (ATSS) at once, with margin
    cols = num_priors if name == "max_iou" else num_priors * 3 // 4
    return 6 * num_gts * cols * 4 / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gts", type=int, nargs="+", default=[100, 500, 2000])
    ap.add_argument("--assigners", nargs="+", default=["max_iou", "atss"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    ap.add_argument("--child", nargs=4, metavar=("ASSIGNER", "GTS", "MODE", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.child[2], args.threads, args.child[3])
        return
    num_priors = _inputs(1)[0].shape[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.assigners:
            for n in args.gts:
                row = {"assigner": name, "num_gts": n, "num_priors": num_priors}
                for mode in ("chunked", "full"):
                    if mode == "full" and _full_need_mb(name, n, num_priors) > 0.8 * _available_mb():
                        row[mode] = {"skipped": f"needs ~{_full_need_mb(name, n, num_priors):.0f} MB"}
                        continue
                    path = f"{tmp}/{name}_{n}_{mode}.pt"
                    cmd = [sys.executable, __file__, "--threads", str(args.threads), "--child", name, str(n), mode, path]
                    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                    row[mode] = json.loads(out.strip().splitlines()[-1])
                if "seconds" in row.get("full", {}):
                    a, b = torch.load(f"{tmp}/{name}_{n}_chunked.pt"), torch.load(f"{tmp}/{name}_{n}_full.pt")
                    row["identical"] = bool(torch.equal(a, b))
                    assert row["identical"], f"{name} with {n} GTs: chunked and full assignments differ"
                rows.append(row)
                print(json.dumps(row), flush=True)
    result = {"benchmark": "assign_memory", "imgsz": IMGSZ, "threads": args.threads, "machine": machine_info(),
              "command": "python benchmarks/assign_memory/assign_memory.py " + " ".join(sys.argv[1:]), "rows": rows}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print("| assigner | GTs | chunked s | chunked peak MB | full s | full peak MB | identical |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        c, f = r["chunked"], r.get("full", {})
        fs = f"{f['seconds']}" if "seconds" in f else f.get("skipped", "-")
        fm = f"{f['peak_extra_mb']}" if "peak_extra_mb" in f else "-"
        print(f"| {r['assigner']} | {r['num_gts']} | {c['seconds']} | {c['peak_extra_mb']} | {fs} | {fm} | "
              f"{r.get('identical', '-')} |")


if __name__ == "__main__":
    main()
