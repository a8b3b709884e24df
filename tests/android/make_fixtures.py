"""Fixtures for the Android demo's Java core, made by the Python runtime that the Java core must match.

``python -m tests.android.make_fixtures OUT_DIR`` writes one folder per case under ``OUT_DIR``:

* ``predict_*``: an export directory's ``edgedet.json`` and a BGR image; ``case.json`` names the image, the
  tensor after :func:`edgedet.deploy.preprocess.preprocess_bgr`, the raw outputs of ``Predictor.run`` and the final
  ``Predictor.predict`` detections (original-image pixels). Models: a tiny PAFNet-lite (``topk_boxes``) and a
  tiny ATSS with a centerness branch (``anchor_deltas``), exported to ONNX fp32.
* ``decode_*``: a decode spec and raw outputs with the ``decode_outputs`` result (model-input pixels), for the
  decode types no tiny zoo model exports: ``anchor_ltrb`` (grid points) and ``two_stage``.
* ``preprocess_*``: images of sizes that take each OpenCV resize path (integer area, fractional area, linear
  upscale, none) with the tensor ``preprocess_bgr`` gives.
* ``yuv_*``: an I420 frame and OpenCV's RGB for it, video range and full range (the camera's YUV_420_888
  conversion).
* ``litert_*`` (``--tflite`` only: a slow export): a tiny PAFNet-lite TFLite export directory with its image,
  LiteRT's raw outputs and the ``predict`` detections, for the Java test that runs the real file (host JNI shim).
* ``bench_*``: per-run durations and the ``BenchmarkResult.to_dict`` record the app's benchmark mode must write;
  the Java test writes its own record to ``from_java.json`` for the host's reader to check.

Binary files are little-endian, C order: ``*.u8`` uint8, ``*.f32`` float32; shapes are in ``case.json``.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np

from edgedet.deploy.preprocess import preprocess_bgr
from edgedet.runtime import load
from edgedet.runtime.decode import decode_outputs

SCORE_THR = 0.15


def _write(directory: Path, name: str, array: np.ndarray, dtype: str) -> dict:
    arr = np.ascontiguousarray(array, dtype=np.uint8 if dtype == "u8" else "<f4")
    (directory / name).write_bytes(arr.tobytes())
    return {"file": name, "shape": list(arr.shape)}


def _detections(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray) -> dict:
    return {"boxes": np.asarray(boxes, np.float64).reshape(-1, 4).tolist(),
            "scores": np.asarray(scores, np.float64).tolist(), "labels": np.asarray(labels).astype(int).tolist()}


def _test_image(src_bgr: np.ndarray, h: int, w: int) -> np.ndarray:
    """A natural-looking ``h x w`` BGR image from a synthetic one (how it is made does not matter)."""
    return cv2.resize(src_bgr, (w, h), interpolation=cv2.INTER_CUBIC)


def predict_case(out: Path, name: str, export_dir: Path, image: np.ndarray) -> None:
    case = out / name
    case.mkdir(parents=True)
    shutil.copy(export_dir / "edgedet.json", case / "edgedet.json")
    predictor = load(export_dir, threads=1)
    x, _ = preprocess_bgr(image, predictor.imgsz)
    raw = predictor.run(x)
    dets = predictor.predict(image, score_thr=SCORE_THR)
    if len(dets) == 0:
        raise RuntimeError(f"{name}: no detections above {SCORE_THR}; the fixture would test nothing")
    meta = {"kind": "predict", "score_thr": SCORE_THR, "image": _write(case, "image_bgr.u8", image, "u8"),
            "input": _write(case, "input.f32", x, "f32"),
            "outputs": [_write(case, f"output{i}.f32", o, "f32") for i, o in enumerate(raw)],
            "detections": _detections(dets.boxes, dets.scores, dets.labels)}
    (case / "case.json").write_text(json.dumps(meta, indent=1))


def decode_case(out: Path, name: str, spec: dict, outputs: list[np.ndarray], imgsz: int, score_thr: float) -> None:
    case = out / name
    case.mkdir(parents=True)
    boxes, scores, labels = decode_outputs(outputs, spec, score_thr, imgsz)[0]
    if len(scores) < 3:
        raise RuntimeError(f"{name}: only {len(scores)} detections; the fixture would test little")
    meta = {"kind": "decode", "score_thr": score_thr, "imgsz": imgsz, "decode": spec,
            "outputs": [_write(case, f"output{i}.f32", o, "f32") for i, o in enumerate(outputs)],
            "detections": _detections(boxes, scores, labels)}
    (case / "case.json").write_text(json.dumps(meta, indent=1))


def preprocess_case(out: Path, name: str, image: np.ndarray, size: int) -> None:
    case = out / name
    case.mkdir(parents=True)
    x, info = preprocess_bgr(image, size)
    meta = {"kind": "preprocess", "size": size, "image": _write(case, "image_bgr.u8", image, "u8"),
            "input": _write(case, "input.f32", x, "f32"),
            "letterbox": {"scale": info.scale, "pad_x": info.pad_x, "pad_y": info.pad_y}}
    (case / "case.json").write_text(json.dumps(meta, indent=1))


def yuv_case(out: Path, name: str, i420: np.ndarray) -> None:
    """``i420``: uint8 ``[H * 3 / 2, W]``, the Y plane, then U, then V."""
    case = out / name
    case.mkdir(parents=True)
    rgb = cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420)
    # full range (JFIF, as phone cameras deliver it): OpenCV's YCrCb conversion on chroma replicated 2x2
    h, w = i420.shape[0] * 2 // 3, i420.shape[1]
    planes = i420.reshape(-1)
    y = planes[: h * w].reshape(h, w)
    u = planes[h * w : h * w * 5 // 4].reshape(h // 2, w // 2).repeat(2, 0).repeat(2, 1)
    v = planes[h * w * 5 // 4 :].reshape(h // 2, w // 2).repeat(2, 0).repeat(2, 1)
    rgb_full = cv2.cvtColor(np.ascontiguousarray(np.stack([y, v, u], -1)), cv2.COLOR_YCrCb2RGB)
    meta = {"kind": "yuv", "height": h, "width": w, "i420": _write(case, "frame.i420.u8", i420, "u8"),
            "rgb": _write(case, "rgb.u8", rgb, "u8"), "rgb_full": _write(case, "rgb_full.u8", rgb_full, "u8")}
    (case / "case.json").write_text(json.dumps(meta, indent=1))


BENCH_RUN = {"model": "/data/local/tmp/edgedet/tflite_fp32", "target": "adb", "device": "Pixel 8 (Tensor G3)",
             "os": "Android 14", "runtime": "litert", "runtime_version": "1.0.1", "delegate": "xnnpack",
             "threads": 4, "precision": "fp32", "input_size": (320, 320), "warmup": 5, "init_ms": 12.5,
             "first_ms": 30.25, "peak_rss_mb": 88.5, "model_size_mb": 3.25, "emulated": False, "format": "tflite",
             "arch": "aarch64", "core_mask": "4,5,6,7", "load_avg_1min": 1.5, "cpu_temp_c": 41.0, "runner": "demo-app"}
# a Tensor G3's /proc/cpuinfo head: the app parses it in Java, the record's simd is Python's parse of it
BENCH_CPUINFO = ("processor\t: 0\nBogoMIPS\t: 49.15\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp "
                 "asimdhp cpuid asimdrdm jscvt fcma lrcpc dcpop sha3 sm3 sm4 asimddp sha512 asve asimdfhm dit uscat "
                 "ilrcpc flagm ssbs sb paca pacg dcpodp sve2 sveaes svepmull svebitperm svesha3 svesm4 flagm2 frint "
                 "svei8mm svebf16 i8mm bf16 dgh bti\nCPU implementer\t: 0x41\n")


def bench_case(out: Path, name: str, samples: list[float]) -> None:
    from edgedet.bench.result import BenchmarkResult
    from edgedet.bench.timing import latency_stats

    case = out / name
    case.mkdir(parents=True)
    from edgedet.bench.machine import simd_features_from_cpuinfo

    simd = " ".join(simd_features_from_cpuinfo(BENCH_CPUINFO)) or None
    record = BenchmarkResult(latency=latency_stats(samples), simd=simd, **BENCH_RUN).to_dict()
    meta = {"kind": "bench", "samples_ms": samples, "run": dict(BENCH_RUN, input_size=320), "record": record,
            "cpuinfo": BENCH_CPUINFO}
    (case / "case.json").write_text(json.dumps(meta, indent=1))


def ltrb_case(out: Path, rng: np.random.Generator) -> None:
    imgsz, strides = 64, [8, 16]
    feat = [[imgsz // s, imgsz // s] for s in strides]
    spec = {"type": "anchor_ltrb", "num_classes": 3, "quality": "centerness",
            "priors": {"type": "grid_points", "strides": strides, "feat_sizes": feat, "center_offset": 0.5},
            "outputs": ["cls_logits", "box_deltas", "quality_logits"], "normalizer": "stride",
            "clamp_negative": True, "nms_pre": 20, "nms_iou": 0.5, "max_det": 15, "clip_to_input": True}
    p = sum(h * w for h, w in feat)
    outputs = [rng.normal(-1.0, 1.5, (1, p, 3)).astype(np.float32),
               rng.normal(1.0, 1.0, (1, p, 4)).astype(np.float32),  # some negative: clamp_negative matters
               rng.normal(0.5, 1.0, (1, p, 1)).astype(np.float32)]
    decode_case(out, "decode_anchor_ltrb", spec, outputs, imgsz, 0.2)
    # Dynamic ATSS's rule: the class probability passes the threshold, the score is sqrt(cls * iou)
    decode_case(out, "decode_anchor_ltrb_iou", dict(spec, quality="iou"), outputs, imgsz, 0.2)
    spec = dict(spec, normalizer=4.0, quality="none", outputs=["cls_logits", "box_deltas"])
    decode_case(out, "decode_anchor_ltrb_fixed_norm", spec, outputs[:2], imgsz, 0.3)


def two_stage_case(out: Path, rng: np.random.Generator) -> None:
    imgsz, c, counts = 96, 3, [40, 20, 10]
    n = sum(counts)
    xy = rng.uniform(0, 80, (n, 2))
    wh = rng.uniform(4, 40, (n, 2))
    wh[3] = [0.0005, 10]  # below rpn_min_size: dropped
    props = np.concatenate([xy, xy + wh], 1)[None].astype(np.float32)
    spec = {"type": "two_stage", "num_classes": c, "outputs": ["proposals", "objectness", "cls_logits", "box_deltas"],
            "level_counts": counts, "rpn_min_size": 0.001, "rpn_nms_iou": 0.7, "rpn_max_test": 50,
            "means": [0, 0, 0, 0], "stds": [0.1, 0.1, 0.2, 0.2], "wh_clamp": 4.135, "background": "last",
            "score_thr": 0.05, "nms_iou": 0.5, "max_det": 30, "clip_to_input": True}
    outputs = [props, rng.normal(0, 2, (1, n)).astype(np.float32),
               rng.normal(0, 1.5, (1, n, c + 1)).astype(np.float32),
               rng.normal(0, 1.0, (1, n, 4 * c)).astype(np.float32)]
    decode_case(out, "decode_two_stage", spec, outputs, imgsz, 0.3)


def export_models(work: Path) -> tuple[Path, Path, list[Path]]:
    """Tiny PAFNet-lite (96 px) and ATSS (128 px) ONNX fp32 exports; returns their dirs and val images."""
    import torch

    from edgedet.config.schema import ModelConfig
    from edgedet.data import generate_synth
    from edgedet.export.api import export
    from edgedet.models.zoo import build_model
    from tests.runtime.tiny_models import CLASS_NAMES, image_files, tiny_pafnet_lite

    data = generate_synth(work / "synth", n_train=16, n_val=4, imgsz=96, seed=0)
    val = image_files(data / "images" / "val", 4)
    paf = tiny_pafnet_lite(image_files(data / "images" / "train", 16))
    [paf_res] = export(paf, formats=["onnx"], precisions=["fp32"], imgsz=96, out_dir=work / "paf",
                       class_names=CLASS_NAMES, model_name="pafnet_lite_mbv3", threads=1, parity_images=val[:1])
    torch.manual_seed(0)
    atss = build_model(ModelConfig(name="atss_r18_fpn", num_classes=3, width=0.25, imgsz=128)).eval()
    with torch.no_grad():  # spread the class scores: a fresh head scores every anchor 0.01
        atss.head.cls_out.weight.normal_(0.0, 0.1)
        atss.head.cls_out.bias.fill_(-1.5)
    [atss_res] = export(atss, formats=["onnx"], precisions=["fp32"], imgsz=128, out_dir=work / "atss",
                        class_names=CLASS_NAMES, model_name="atss_r18_fpn", threads=1, parity_images=val[:1])
    return paf_res.dir, atss_res.dir, val


def litert_case(out: Path, work: Path) -> None:
    """The tiny PAFNet-lite as TFLite fp32 (litert-torch), copied whole into ``out/litert_pafnet_lite_640x480``."""
    from edgedet.data import generate_synth
    from edgedet.export.api import export
    from tests.runtime.tiny_models import CLASS_NAMES, image_files, tiny_pafnet_lite

    data = generate_synth(work / "synth_tflite", n_train=16, n_val=4, imgsz=96, seed=0)
    val = image_files(data / "images" / "val", 4)
    paf = tiny_pafnet_lite(image_files(data / "images" / "train", 16))
    [res] = export(paf, formats=["tflite"], precisions=["fp32"], imgsz=96, out_dir=work / "paf_tflite",
                   class_names=CLASS_NAMES, model_name="pafnet_lite_mbv3", threads=1, parity_images=val[:1])
    name = "litert_pafnet_lite_640x480"
    predict_case(out, name, res.dir, _test_image(cv2.imread(str(val[0])), 480, 640))
    shutil.copy(res.dir / res.metadata["model_file"], out / name / res.metadata["model_file"])


def make_fixtures(out: Path, work: Path, *, tflite: bool = False, only_tflite: bool = False) -> list[str]:
    """Write every case under ``out`` (``work`` holds the exports); returns the case names.

    ``tflite`` adds the ``litert_*`` case; ``only_tflite`` writes that case alone.
    """
    out.mkdir(parents=True, exist_ok=True)
    if tflite or only_tflite:
        litert_case(out, work)
    if only_tflite:
        return sorted(p.name for p in out.iterdir())
    paf_dir, atss_dir, val = export_models(work)
    src = [cv2.imread(str(p)) for p in val]
    predict_case(out, "predict_pafnet_lite_640x480", paf_dir, _test_image(src[0], 480, 640))
    predict_case(out, "predict_pafnet_lite_150x110", paf_dir, _test_image(src[1], 110, 150))
    predict_case(out, "predict_atss_160x120", atss_dir, _test_image(src[2], 120, 160))
    # integer and fractional shrinking, landscape and portrait enlarging (rows that end in OpenCV's scalar tail), none
    for h, w in [(144, 192), (288, 384), (480, 640), (110, 150), (100, 77), (48, 64), (37, 50), (64, 48), (95, 17),
                 (96, 96), (96, 40)]:
        preprocess_case(out, f"preprocess_{w}x{h}", _test_image(src[3], h, w), 96)
    rng = np.random.default_rng(0)
    yuv_case(out, "yuv_64x48", cv2.cvtColor(_test_image(src[0], 48, 64), cv2.COLOR_BGR2YUV_I420))
    # raw bytes: luma below 16 and chroma far from grey, which no BGR image converts to
    yuv_case(out, "yuv_noise_32x16", rng.integers(0, 256, (24, 32), dtype=np.uint8))
    ltrb_case(out, rng)
    bench_case(out, "bench_odd_runs", [float(v) for v in rng.gamma(9.0, 2.0, 21)])
    bench_case(out, "bench_even_runs", [float(v) for v in rng.gamma(9.0, 2.0, 40)])
    bench_case(out, "bench_one_run", [7.25])
    two_stage_case(out, rng)
    return sorted(p.name for p in out.iterdir())


if __name__ == "__main__":
    import tempfile

    args = [a for a in sys.argv[1:] if a != "--tflite"]
    if len(args) != 1:
        sys.exit("usage: python -m tests.android.make_fixtures OUT_DIR [--tflite]")
    with tempfile.TemporaryDirectory() as tmp:
        names = make_fixtures(Path(args[0]), Path(tmp), tflite="--tflite" in sys.argv)
    print(f"{len(names)} fixture cases in {args[0]}: {', '.join(names)}")
