"""Seeded robustness campaign against edgedet.runtime: thousands of ``predict`` inputs and hundreds of
``edgedet.json`` mutations at ``load``, each run in a worker process so that a crash or a hang is counted, not
fatal.

Every case ends in one of:
    handled: a valid ``Detections`` (boxes finite and inside the image, labels within class_names), or one of the
             runtime's errors (``RuntimeInputError`` / ``ModelMetadataError``) with a one-line message;
    escaped: any other exception (or a multi-line message): a bug; examples are kept in the JSON;
    crashed: the worker process died (segfault, abort);
    hung:    no answer within ``--timeout`` seconds (the worker is killed).

Usage::

    python benchmarks/robustness/runtime_mutations.py            # ~3,000 predict + ~400 load cases, a few minutes
    python benchmarks/robustness/runtime_mutations.py --predict-cases 200 --meta-cases 50   # a smoke run

Writes ``benchmarks/robustness/runtime_mutations.json`` and the "Runtime mutations" section of
``benchmarks/robustness/RUNTIME.md``. The export is a tiny PAFNet-lite (width 0.25, 96 px, 3 classes) in fp32
ONNX, built in a temporary directory unless ``--export DIR`` names one.
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent

DTYPES = [np.uint8, np.int8, np.uint16, np.int16, np.int32, np.int64, np.float16, np.float32, np.float64, np.bool_,
          np.complex64, object]
ESCAPE_NAMES = ["../../x", "/etc/passwd", "..", "sub/../../x", "", "nul\x00", ".", "edgedet.json", "parity.json"]


# ------------------------------------------------------------------------------------------------ cases


def _shape(rng: np.random.Generator) -> tuple[int, ...]:
    kind = rng.integers(0, 10)
    if kind == 0:  # extreme aspect or side
        extremes = [(1, 20000, 3), (20000, 1), (3, 9000, 4), (40000, 2, 3), (1, 97, 3), (97, 1), (2, 200, 1), (1, 1)]
        return extremes[int(rng.integers(0, len(extremes)))]
    ndim = int(rng.choice([0, 1, 2, 3, 3, 3, 4]))
    sides = [int(rng.choice([0, 1, 2, rng.integers(3, 64), rng.integers(64, 700)], p=[.04, .06, .05, .55, .30]))
             for _ in range(min(ndim, 2))]
    if ndim >= 3:
        sides.append(int(rng.choice([1, 3, 3, 3, 4, 2, 5, 0])))
    if ndim == 4:
        sides.insert(0, int(rng.integers(1, 3)))
    return tuple(sides)


def _values(rng: np.random.Generator, dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
    n = int(np.prod(shape))
    if dtype is object:
        return np.array([rng.integers(0, 255) for _ in range(n)] or [], dtype=object).reshape(shape)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return rng.integers(info.min, int(info.max) + 1, shape, dtype=dt)
    a = rng.choice([rng.random(shape), rng.normal(0, 1e4, shape), rng.random(shape) * 255])
    if n and rng.random() < 0.4:
        flat = a.reshape(-1)
        flat[rng.integers(0, n, max(1, n // 50))] = rng.choice([np.nan, np.inf, -np.inf])
    return a.astype(dt)


def predict_case(rng: np.random.Generator) -> tuple[str, Any, Any]:
    """``(description, image, score_thr)``."""
    r = rng.random()
    if r < 0.4:  # what a caller means to pass: uint8 gray / BGR / BGRA of any size, maybe a view
        h, w = (int(v) for v in rng.integers(1, 900, 2))
        shape = [(h, w), (h, w, 1), (h, w, 3), (h, w, 3), (h, w, 4)][int(rng.integers(0, 5))]
        view = str(rng.choice(["as is", "reversed", "strided", "transposed", "fortran", "readonly"]))
        image = (rng.integers(0, 256, shape, dtype=np.uint8), view)
        desc = f"uint8 {shape} {view}"
    elif r < 0.43:
        image = [None, "image.jpg", 3.0, [[1, 2, 3]], b"\x00" * 9][int(rng.integers(0, 5))]
        desc = f"non-array {type(image).__name__}"
    else:
        dtype = np.uint8 if r < 0.6 else DTYPES[int(rng.integers(0, len(DTYPES)))]
        shape = _shape(rng)
        image = _values(rng, dtype, shape)
        view = str(rng.choice(["as is", "as is", "reversed", "strided", "transposed", "fortran", "readonly",
                               "masked"]))
        desc = f"{np.dtype(dtype).name if dtype is not object else 'object'} {image.shape} {view}"
        image = (image, view)
    odd = [0.0, 1.0, -1.0, 2.0, np.nan, np.inf, "0.3", None, True, np.float32(0.5), np.int64(0)]
    thr = odd[int(rng.integers(0, len(odd)))] if rng.random() < 0.15 else float(rng.choice([0.05, 0.25, 0.5]))
    return desc, image, thr


def view_of(image: np.ndarray, view: str) -> Any:
    """The array as the campaign hands it to predict (applied in the worker: pickling drops views and flags)."""
    if view == "reversed" and image.ndim:
        return image[::-1]
    if view == "strided" and image.ndim >= 2:
        return image[::2, ::3]
    if view == "transposed" and image.ndim >= 2:
        return image.swapaxes(0, 1)
    if view == "fortran":
        return np.asfortranarray(image)
    if view == "readonly" and isinstance(image, np.ndarray):
        image.flags.writeable = False
    if view == "masked":
        return np.ma.masked_array(image)
    return image


def _json_value(rng: np.random.Generator, depth: int = 0) -> Any:
    kind = int(rng.integers(0, 9 if depth < 2 else 7))
    if kind == 7:
        return [_json_value(rng, depth + 1) for _ in range(int(rng.integers(0, 4)))]
    if kind == 8:
        return {str(k): _json_value(rng, depth + 1) for k in range(int(rng.integers(0, 3)))}
    return [None, bool(rng.integers(0, 2)), int(rng.choice([0, -1, 1, 3, 96, 2**31, -2**62, 10**12])),
            float(rng.choice([0.0, -1.5, 1e308, np.nan, np.inf, 0.5])),
            str(rng.choice(["", "NCHW", "NHWC", "int8", "fp16", "onnx", "tflite", "paddle", "topk_boxes",
                            "anchor_ltrb", "two_stage", "images", "boxes"])),
            str(rng.choice(ESCAPE_NAMES)), "x" * int(rng.integers(0, 5))][kind]


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node[:4]):
            out += _paths(v, (*prefix, i))
    return out


def mutate(rng: np.random.Generator, meta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """One to three edits of ``meta``: a key deleted, a value replaced, an int scaled, a list shortened or
    reordered, a model_file that escapes the directory, or input size/layout/shape edited consistently."""
    out = copy.deepcopy(meta)
    descs = []
    for _ in range(int(rng.choice([1, 1, 1, 2, 3]))):
        paths = [p for p in _paths(out) if p]
        path = paths[int(rng.integers(0, len(paths)))]
        parent = out
        for k in path[:-1]:
            parent = parent[k]
        key, old = path[-1], parent[path[-1]]
        kind = str(rng.choice(["delete", "replace", "replace", "scale int", "shorten", "reverse", "escape",
                               "resize input", "relayout input", "classes"]))
        if kind == "delete":
            del parent[key]
        elif kind == "scale int" and isinstance(old, int) and not isinstance(old, bool):
            parent[key] = old * int(rng.choice([0, -1, 2, 3, 10**6]))
        elif kind == "shorten" and isinstance(old, list) and old:
            parent[key] = old[:-1]
        elif kind == "reverse" and isinstance(old, list):
            parent[key] = old[::-1]
        elif kind == "escape":
            out["model_file"] = str(rng.choice(ESCAPE_NAMES))
        elif kind == "resize input" and isinstance(out.get("input"), dict):
            s = int(rng.choice([32, 64, 95, 128, 320]))
            out["input"].update(size=s, shape=[1, 3, s, s])
        elif kind == "relayout input" and isinstance(out.get("input"), dict):
            s = out["input"].get("size", 96)
            out["input"].update(layout="NHWC", shape=[1, s, s, 3])
        elif kind == "classes":
            n = int(rng.integers(1, 6))
            out.update(class_names=[f"c{i}" for i in range(n)], num_classes=n)
        else:
            kind = "replace"
            parent[key] = _json_value(rng)
        where = ".".join(map(str, path))
        descs.append({"escape": f"escape model_file={out.get('model_file')!r}", "resize input": "resize input",
                      "relayout input": "relayout input to NHWC", "classes": "class list of another length"
                      }.get(kind, f"{kind} {where}"))
    return "; ".join(descs), out


# ----------------------------------------------------------------------------------------------- worker


def _check_detections(d: Any, shape: tuple[int, ...], n_classes: int) -> str | None:
    """None when ``d`` is a valid result for an image of ``shape``, else what is wrong."""
    from edgedet.runtime import Detections

    if not isinstance(d, Detections):
        return f"predict returned {type(d).__name__}"
    h, w = shape[:2]
    ok = (d.boxes.shape == (len(d), 4) and np.isfinite(d.boxes).all() and (d.boxes >= 0).all()
          and (d.boxes[:, 0::2] <= w).all() and (d.boxes[:, 1::2] <= h).all()
          and ((d.labels >= 0) & (d.labels < n_classes)).all())
    return None if ok else "invalid detections"


def _outcome(fn) -> tuple[str, str]:
    """``("result"|"refused"|"escaped", detail)``."""
    try:
        from edgedet.runtime.validate import ModelMetadataError, RuntimeInputError

        ours: tuple[type, ...] = (RuntimeInputError, ModelMetadataError)
    except ImportError:  # an edgedet from before validate.py: for a before/after comparison
        ours = ()
    try:
        return "result", fn()
    except ours as e:
        if not str(e) or "\n" in str(e):
            return "escaped", f"{type(e).__name__} with a multi-line message: {str(e)[:200]!r}"
        return "refused", f"{type(e).__name__}: {e}"
    except Exception as e:  # noqa: BLE001  (the campaign's point: any other exception is a finding)
        return "escaped", f"{type(e).__name__}: {str(e)[:200]} @ {traceback.extract_tb(e.__traceback__)[-1].name}"


def worker(export_dir: str, conn) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from edgedet.deploy.schema import METADATA_FILE
    from edgedet.runtime import load

    pred = load(export_dir, threads=1)
    image = np.random.default_rng(0).integers(0, 256, (80, 120, 3), dtype=np.uint8)
    conn.send("ready")
    while True:
        msg = conn.recv()
        if msg is None:
            return
        kind, payload = msg
        if kind == "predict":
            img, thr = payload
            img = view_of(*img) if isinstance(img, tuple) else img
            status, detail = _outcome(lambda: pred.predict(img, thr))  # noqa: B023
            if status == "result":
                bad = _check_detections(detail, np.shape(img), len(pred.class_names))
                status, detail = ("escaped", bad) if bad else ("result", "")
        else:
            directory, meta = payload
            (Path(directory) / METADATA_FILE).write_text(json.dumps(meta))
            status, detail = _outcome(lambda: load(directory, threads=1))  # noqa: B023
            if status == "result":
                p = detail
                status, detail = _outcome(lambda: p.predict(image, 0.05))  # noqa: B023
                if status == "result":
                    bad = _check_detections(detail, image.shape, len(p.class_names))
                    status, detail = ("escaped", bad) if bad else ("result", "")
        conn.send((status, detail if status != "result" else ""))


class Pool:
    """One worker process, restarted after a crash or a hang."""

    def __init__(self, export_dir: Path, timeout: float):
        self.export_dir, self.timeout = export_dir, timeout
        self.ctx = mp.get_context("spawn")
        self._start()

    def _start(self) -> None:
        self.conn, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=worker, args=(str(self.export_dir), child),
                                     daemon=True)
        self.proc.start()
        if not self.conn.poll(120) or self.conn.recv() != "ready":
            raise RuntimeError("the worker did not start")

    def run(self, case: tuple[str, Any]) -> tuple[str, str]:
        try:
            self.conn.send(case)
            if self.conn.poll(self.timeout):
                return self.conn.recv()  # EOFError when the worker died
            status, detail = "hung", f"no answer in {self.timeout} s"
        except (EOFError, OSError):
            self.proc.join(5)
            status, detail = "crashed", f"worker exit code {self.proc.exitcode}"
        self.proc.kill()
        self.proc.join()
        self._start()
        return status, detail

    def close(self) -> None:
        self.conn.send(None)
        self.proc.join(10)


# ------------------------------------------------------------------------------------------------- main


def tiny_export(out: Path) -> Path:
    import torch

    from edgedet.config.schema import ModelConfig
    from edgedet.export.api import export
    from edgedet.models.zoo import build_model

    torch.manual_seed(0)
    model = build_model(ModelConfig(name="pafnet_lite_mbv3", num_classes=3, width=0.25, imgsz=96)).eval()
    (res,) = export(model, formats=["onnx"], precisions=["fp32"], imgsz=96, out_dir=out,
                    class_names=["digit", "square", "circle"], model_name="pafnet_lite_mbv3", threads=1)
    return res.dir


def strip_embedded(onnx_file: Path) -> None:
    """Remove the edgedet metadata embedded in an ONNX file: then only edgedet.json describes it, as for TFLite,
    and the runtime's own checks of edgedet.json against the file are what stands between a bad edit and a run."""
    import onnx

    from edgedet.deploy.schema import ONNX_METADATA_KEY

    model = onnx.load(str(onnx_file))
    keep = [p for p in model.metadata_props if p.key != ONNX_METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    onnx.save(model, str(onnx_file))


def campaign(pool: Pool, cases: list[tuple[str, tuple[str, Any]]], work: Path) -> dict[str, Any]:
    """Run ``cases``; counts per outcome, the first 20 failures, and one example per distinct refusal."""
    counts, kinds, failures, refusals, t0 = Counter(), Counter(), [], {}, time.time()
    for desc, case in cases:
        status, detail = pool.run(case)
        counts[status] += 1
        if status in ("escaped", "crashed", "hung"):
            kinds[detail.split(":")[0] if status == "escaped" else status] += 1
            if len(failures) < 20:
                failures.append({"case": desc, "status": status, "detail": detail})
        if status == "refused":
            detail = detail.replace(str(work), "DIR")
            key = detail.split(": ", 2)[-1][:70]
            refusals.setdefault(key, {"case": desc, "error": detail[:300], "count": 0})
            refusals[key]["count"] += 1
    return {"tried": len(cases), "handled": counts["result"] + counts["refused"], "of_which_result": counts["result"],
            "of_which_refused": counts["refused"], "crashed": counts["crashed"], "hung": counts["hung"],
            "escaped": counts["escaped"], "escaped_by_type": dict(kinds.most_common()),
            "wall_s": round(time.time() - t0, 1), "failures": failures,
            "distinct_refusals": len(refusals),
            "refusal_examples": sorted(refusals.values(), key=lambda r: -r["count"])[:25]}


def write_markdown(result: dict[str, Any], path: Path) -> None:
    m, p, q = result["machine"], result["predict"], result["metadata"]
    rows = "\n".join(f"| {name} | {r['tried']} | {r['handled']} ({r['of_which_result']} results, "
                     f"{r['of_which_refused']} refused) | {r['crashed']} | {r['hung']} | {r['escaped']} | "
                     f"{r['wall_s']} |" for name, r in (("predict inputs", p), ("edgedet.json mutations", q)))
    section = f"""## Runtime mutations

`{result['command']}` (seed {result['seed']}, per-case timeout {result['timeout_s']} s; figures in
`runtime_mutations.json`). Machine: {m['cpu']}, {m['cores']} cores, load average {m['load_avg_1min_at_start']}
at start and {result['load_avg_1min_at_end']} at the end (a shared machine), Python {m['python']}.
Export: tiny PAFNet-lite fp32 ONNX (width 0.25, 96 px, 3 classes), onnxruntime CPU, 1 thread.

| cases | tried | handled | crashed | hung | escaped | wall s |
|---|---:|---|---:|---:|---:|---:|
{rows}

Handled = a valid `Detections` (finite boxes inside the image, labels within `class_names`) or a one-line
`RuntimeInputError` / `ModelMetadataError`; escaped = any other exception; crashed = the worker process died;
hung = no answer within the timeout. Predict inputs: random dtypes (12), shapes of 0 to 4 dims including empty
sides, 1 x 20000 and 40000 x 2, NaN/inf, reversed / strided / transposed / Fortran-ordered / read-only / masked
views, non-array objects, and out-of-range or non-numeric `score_thr`. Mutations: one to three edits per case
(deleted keys, values replaced by other JSON types or extreme numbers, ints scaled by 0 / -1 / 10^6, lists
shortened or reversed, `model_file` escaping the directory, consistent input size / layout edits, class lists
of another length), each loaded and, when it loads, run once; half of them on a copy whose ONNX file carries no
embedded metadata (as a TFLite or Paddle directory), so that the checks of `edgedet.json` against the file itself
(`io_signature()`) are what catches them. `distinct_refusals` and `refusal_examples` in the JSON list the
messages.
"""
    text = path.read_text() if path.exists() else "# Runtime robustness\n\n"
    start = text.find("## Runtime mutations")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--predict-cases", type=int, default=3000)
    ap.add_argument("--meta-cases", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds per case before it counts as hung")
    ap.add_argument("--export", help="export directory to fuzz (default: a fresh tiny ONNX export)")
    ap.add_argument("--out", default=str(HERE / "runtime_mutations.json"))
    ap.add_argument("--markdown", default=str(HERE / "RUNTIME.md"))
    args = ap.parse_args(argv)
    from edgedet.bench import machine_info
    from edgedet.deploy.schema import METADATA_FILE

    info = machine_info(packages=("onnxruntime", "numpy", "opencv-python-headless"))
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        export_dir = Path(args.export) if args.export else tiny_export(Path(tmp) / "export")
        work, bare = Path(tmp) / "mutated", Path(tmp) / "mutated_bare"
        shutil.copytree(export_dir, work)
        shutil.copytree(export_dir, bare)
        strip_embedded(next(bare.glob("*.onnx")))
        meta = json.loads((export_dir / METADATA_FILE).read_text())
        predict_cases = []
        for _ in range(args.predict_cases):
            desc, image, thr = predict_case(rng)
            predict_cases.append((desc, ("predict", (image, thr))))
        meta_cases = [(f"{d} ({'no ' if i % 2 else ''}embedded metadata)", ("load", (str(bare if i % 2 else work), m)))
                      for i, (d, m) in enumerate(mutate(rng, meta) for _ in range(args.meta_cases))]
        pool = Pool(export_dir, args.timeout)
        result = {"command": "python " + " ".join([str(Path(sys.argv[0]).relative_to(HERE.parents[1]))
                                                   if Path(sys.argv[0]).is_absolute() else sys.argv[0],
                                                   *(argv if argv is not None else sys.argv[1:])]),
                  "seed": args.seed, "timeout_s": args.timeout, "machine": info,
                  "predict": campaign(pool, predict_cases, work.parent),
                  "metadata": campaign(pool, meta_cases, work.parent)}
        pool.close()
    result["load_avg_1min_at_end"] = round(os.getloadavg()[0], 2)
    Path(args.out).write_text(json.dumps(result, indent=2, default=str) + "\n")
    write_markdown(result, Path(args.markdown))
    for name in ("predict", "metadata"):
        print(name, {k: v for k, v in result[name].items() if k not in ("failures", "refusal_examples", "wall_s")})
    bad = sum(result[n][k] for n in ("predict", "metadata") for k in ("crashed", "hung", "escaped"))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
