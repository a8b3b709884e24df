"""``edgedet import-paddle``: a PaddleDetection inference model -> paddle2onnx -> an edgedet export directory.

Input: the directory PaddleDetection's ``tools/export_model.py`` writes: ``model.pdmodel`` (a legacy program, as
paddlepaddle 2.x saves it), ``model.pdiparams`` and ``infer_cfg.yml``. Output: ``model.onnx`` + ``edgedet.json``
(+ ``infer_cfg.yml`` copied, ``parity.json``) that ``edgedet.runtime.load``, ``eval``, ``bench`` and ``demo`` take
like an export of our own:

* ``infer_cfg.yml``'s ``Preprocess`` list becomes a :class:`edgedet.deploy.preprocess.PreprocessSpec`
  (:func:`preprocess_from_infer_cfg`; an op it cannot map is refused, naming it), ``label_list`` the class names.
* The graph must end in ``multiclass_nms3`` (PaddleDetection's default; ``exclude_nms=True`` exports are refused):
  its ``[N, 6]`` rows (class, score, x1, y1, x2, y2) and per-image counts are read by the
  ``"detections_in_model"`` decode (:class:`edgedet.deploy.decode_spec.DetectionsInModelSpec`); the graph's
  ``im_shape`` / ``scale_factor`` inputs are fed by the ONNX backend.
* paddle2onnx 1.3.1 converts (see pyproject.toml for why that version) in a subprocess, so its C++ log and any
  abort stay out of this process; ``parity.json`` records ONNX vs Paddle Inference on one input.

paddle and paddle2onnx are imported only here, inside the functions that need them (``edgedet[export]``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgedet.deploy.decode_spec import DetectionsInModelSpec
from edgedet.deploy.preprocess import PreprocessSpec
from edgedet.deploy.schema import build_metadata, write_metadata

MODEL_FILE, PARAMS_FILE, INFER_CFG = "model.pdmodel", "model.pdiparams", "infer_cfg.yml"
ONNX_FILE = "model.onnx"
OPSET = 11  # paddle2onnx's multiclass_nms3 needs >= 10; 11 is what PaddleDetection's deploy docs use
NMS_OP = "multiclass_nms3"
SIDE_INPUTS = ("im_shape", "scale_factor")
PADDLE_INTERP = {0: "nearest", 1: "linear", 2: "cubic", 3: "area", 4: "lanczos4"}  # cv2 flag values in infer_cfg
MAPPED_OPS = ("Resize", "NormalizeImage", "Permute", "PadStride")
_EXPORT_HINT = "export it with PaddleDetection's tools/export_model.py (paddlepaddle 2.x)"


class PaddleImportError(ValueError):
    """A PaddleDetection model directory edgedet cannot import; the message is one line with the reason and fix."""


@dataclass
class ProgramInfo:
    """What the import needs from ``model.pdmodel``: feeds ``{name: shape}``, op types, the NMS op's attributes
    and its ``Scores`` input shape ``[B, C, M]``."""

    feeds: dict[str, list[int]]
    op_types: set[str]
    nms_attrs: dict[str, Any]
    nms_scores_shape: list[int]


def import_paddle(model_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Import a PaddleDetection inference model; returns the export directory (default ``MODEL_DIR/edgedet_onnx``).

    Raises:
        PaddleImportError: a missing file, a preprocess op edgedet cannot reproduce, a model without NMS in the
            graph, or a failed conversion (one line each).
    """
    model_dir = Path(model_dir)
    cfg = read_infer_cfg(model_dir)
    spec, size = preprocess_from_infer_cfg(cfg["Preprocess"], model_dir / INFER_CFG)
    names = [str(n) for n in cfg["label_list"]]
    program = inspect_program(model_dir / MODEL_FILE)
    image_input = check_program(program, size, len(names), model_dir)
    out = Path(out_dir) if out_dir is not None else model_dir / "edgedet_onnx"
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = convert_to_onnx(model_dir, out / ONNX_FILE)
    rows, counts = onnx_nms_outputs(onnx_path)
    decode = DetectionsInModelSpec(num_classes=len(names), outputs=[rows, counts],
                                   **{f"{k}_input": k for k in SIDE_INPUTS if k in program.feeds})
    meta = build_metadata(
        model_name=model_dir.resolve().name, class_names=names, imgsz=size, fmt="onnx", precision="fp32",
        model_file=ONNX_FILE, input_name=image_input, preprocess=spec, decode=decode,
        outputs=[{"name": rows, "shape": [int(program.nms_attrs["keep_top_k"]), 6], "dtype": "float32"},
                 {"name": counts, "shape": [1], "dtype": "int32"}],
        source_ckpt=model_dir / PARAMS_FILE,
        extra={"imported_from": "PaddleDetection", "arch": str(cfg.get("arch", "")),
               "paddle2onnx": _paddle2onnx_version(), "nms": program.nms_attrs, "infer_cfg": INFER_CFG},
    )
    from edgedet.export.onnx_file import embed_metadata

    embed_metadata(onnx_path, meta)
    write_metadata(out, meta)
    shutil.copyfile(model_dir / INFER_CFG, out / INFER_CFG)
    (out / "parity.json").write_text(json.dumps(parity_with_paddle(model_dir, out), indent=2) + "\n")
    return out


def read_infer_cfg(model_dir: Path) -> dict[str, Any]:
    """``infer_cfg.yml`` with its ``Preprocess`` list and ``label_list`` checked; the model files must exist."""
    import yaml

    if not model_dir.is_dir():
        raise PaddleImportError(f"{model_dir} is not a directory: pass the folder holding {MODEL_FILE}, "
                                f"{PARAMS_FILE} and {INFER_CFG}")
    for name in (MODEL_FILE, PARAMS_FILE, INFER_CFG):
        if not (model_dir / name).is_file():
            extra = " (a PIR model.json from paddlepaddle 3.x is not read: paddle2onnx 1.x needs the legacy program)" \
                if name == MODEL_FILE and (model_dir / "model.json").is_file() else ""
            raise PaddleImportError(f"{model_dir} has no {name}{extra}: {_EXPORT_HINT}, which writes {MODEL_FILE}, "
                                    f"{PARAMS_FILE} and {INFER_CFG} side by side")
    path = model_dir / INFER_CFG
    try:
        cfg = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise PaddleImportError(f"{path} is not valid YAML ({str(e).splitlines()[0]}); {_EXPORT_HINT}") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("Preprocess"), list):
        raise PaddleImportError(f"{path} has no Preprocess list; {_EXPORT_HINT}")
    labels = cfg.get("label_list")
    if not isinstance(labels, list) or not labels:
        raise PaddleImportError(f"{path} has no label_list (the class names); add one, one name per class id")
    return cfg


def preprocess_from_infer_cfg(ops: list[Any], source: Path | str = INFER_CFG) -> tuple[PreprocessSpec, int]:
    """``infer_cfg.yml``'s ``Preprocess`` list -> ``(PreprocessSpec, input size)``.

    Mapped: ``Resize`` (``keep_ratio: false``, square ``target_size``, ``interp`` 0-4) -> ``resize: stretch``;
    ``NormalizeImage`` (``is_scale``, ``mean``, ``std``, ``norm_type`` mean_std | none) -> scale / mean / std;
    ``Permute`` (HWC -> CHW, required: edgedet feeds NCHW); ``PadStride`` when the size is already a multiple of
    its stride (a no-op). Anything else raises :class:`PaddleImportError` naming the op.
    """
    where = f"{source}: Preprocess"
    kinds = [op.get("type") if isinstance(op, dict) else None for op in ops]
    for i, kind in enumerate(kinds):
        if kind not in MAPPED_OPS:
            raise PaddleImportError(f"{where}[{i}] is {kind!r}, which edgedet cannot reproduce (it maps "
                                    f"{', '.join(MAPPED_OPS)}): re-export with those or preprocess yourself")
    if kinds.count("Resize") != 1 or "Permute" not in kinds:
        raise PaddleImportError(f"{where} is {kinds}: edgedet needs exactly one Resize (to a fixed square size) "
                                f"and a Permute (the model takes NCHW)")
    if "NormalizeImage" in kinds and kinds.index("NormalizeImage") < kinds.index("Resize"):
        raise PaddleImportError(f"{where} normalises before it resizes ({kinds}); edgedet resizes uint8 pixels "
                                f"first: put Resize first")
    resize = ops[kinds.index("Resize")]
    size, interp = _map_resize(resize, f"{where}[{kinds.index('Resize')}] (Resize)")
    fields: dict[str, Any] = {"scale": 1.0, "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)}
    if "NormalizeImage" in kinds:
        fields = _map_normalize(ops[kinds.index("NormalizeImage")], f"{where}[{kinds.index('NormalizeImage')}]")
    for i, op in enumerate(ops):
        stride = op.get("stride", 1) if op["type"] == "PadStride" else 1
        if not isinstance(stride, int) or stride < 1 or size % stride:
            raise PaddleImportError(f"{where}[{i}] (PadStride stride {stride!r}) would pad the {size} px input; "
                                    f"edgedet feeds a fixed square size: use a target_size divisible by it")
    return PreprocessSpec(resize="stretch", interp=interp, **fields), size


def _map_resize(op: dict[str, Any], where: str) -> tuple[int, str]:
    target = op.get("target_size")
    if op.get("keep_ratio", True):
        raise PaddleImportError(f"{where} has keep_ratio: true, which gives a differently shaped input per image; "
                                f"edgedet feeds a fixed square size: re-export with keep_ratio: false")
    if (not isinstance(target, list) or len(target) != 2 or target[0] != target[1]
            or not isinstance(target[0], int) or target[0] < 1):
        raise PaddleImportError(f"{where} target_size is {target!r}; edgedet runtimes take a square input "
                                f"([S, S])")
    interp = op.get("interp", 1)
    if interp not in PADDLE_INTERP:
        raise PaddleImportError(f"{where} interp {interp!r} is not an OpenCV flag edgedet maps ({PADDLE_INTERP})")
    return target[0], PADDLE_INTERP[interp]


def _map_normalize(op: dict[str, Any], where: str) -> dict[str, Any]:
    norm_type = op.get("norm_type", "mean_std")
    if norm_type not in ("mean_std", "none"):
        raise PaddleImportError(f"{where} (NormalizeImage) norm_type {norm_type!r} is not mean_std or none")
    mean, std = (op.get("mean"), op.get("std")) if norm_type == "mean_std" else ([0.0] * 3, [1.0] * 3)
    for key, value in (("mean", mean), ("std", std)):
        if not isinstance(value, list) or len(value) != 3:
            raise PaddleImportError(f"{where} (NormalizeImage) {key} is {value!r}; edgedet needs 3 numbers (RGB)")
    try:
        return {"scale": 1.0 / 255.0 if op.get("is_scale", True) else 1.0, "mean": tuple(float(v) for v in mean),
                "std": tuple(float(v) for v in std)}
    except (TypeError, ValueError):
        raise PaddleImportError(f"{where} (NormalizeImage) mean / std are not numbers: {mean!r} / {std!r}") from None


def inspect_program(model_file: Path) -> ProgramInfo:
    """Feeds, op types and the NMS op of a legacy ``.pdmodel`` program (no parameters are loaded)."""
    from edgedet.deploy.optional import require

    paddle = require("paddle", "export")
    was_dynamic = paddle.in_dynamic_mode()
    paddle.enable_static()
    try:
        program = paddle.static.Program.parse_from_string(model_file.read_bytes())
    except Exception as e:  # paddle raises ValueError / RuntimeError / its own errors for a file it cannot parse
        raise PaddleImportError(f"{model_file} is not a Paddle program paddlepaddle {paddle.__version__} reads "
                                f"({type(e).__name__}: {str(e).splitlines()[0][:200]}); {_EXPORT_HINT}") from None
    finally:
        if was_dynamic:
            paddle.disable_static()
    block = program.global_block()
    feeds = {name: list(block.var(name).shape) for op in block.ops if op.type == "feed" for name in op.output_arg_names}
    nms = [op for op in block.ops if op.type == NMS_OP]
    attrs = {k: _plain(nms[0].attr(k)) for k in ("score_threshold", "nms_top_k", "keep_top_k", "nms_threshold",
                                                 "normalized", "background_label")} if nms else {}
    scores = list(block.var(nms[0].input("Scores")[0]).shape) if nms else []
    return ProgramInfo(feeds, {op.type for op in block.ops}, attrs, scores)


def _plain(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value


def check_program(program: ProgramInfo, size: int, num_classes: int, model_dir: Path) -> str:
    """The image input's name, after checking the graph ends in NMS and its inputs and class count fit."""
    if NMS_OP not in program.op_types:
        other = sorted(t for t in program.op_types if "nms" in t)
        raise PaddleImportError(f"{model_dir / MODEL_FILE} has no {NMS_OP} op{f' (it has {other})' if other else ''}: "
                                f"edgedet imports PaddleDetection models whose graph ends in NMS; export without "
                                f"exclude_nms=True")
    images = [name for name, shape in program.feeds.items() if len(shape) == 4]
    unknown = sorted(set(program.feeds) - set(images) - set(SIDE_INPUTS))
    if len(images) != 1 or unknown:
        raise PaddleImportError(f"{model_dir / MODEL_FILE} takes inputs {program.feeds}; edgedet feeds one NCHW image "
                                f"plus {' / '.join(SIDE_INPUTS)}")
    shape = program.feeds[images[0]]
    if shape[1] != 3 or any(d > 0 and d != size for d in shape[2:]):
        raise PaddleImportError(f"{model_dir / MODEL_FILE} input '{images[0]}' is {shape} but {INFER_CFG} resizes to "
                                f"{size}x{size}: the two come from different exports")
    classes = program.nms_scores_shape[1] if len(program.nms_scores_shape) == 3 else -1
    if classes > 0 and classes != num_classes:
        raise PaddleImportError(f"{model_dir / MODEL_FILE} scores {classes} classes but {INFER_CFG} label_list has "
                                f"{num_classes} names: the two come from different exports")
    return images[0]


def convert_to_onnx(model_dir: Path, onnx_path: Path) -> Path:
    """paddle2onnx (in a subprocess: its C++ core logs to stdout and aborts on some errors) -> ``onnx_path``."""
    from edgedet.deploy.optional import require

    require("paddle2onnx", "export")
    code = ("import sys, paddle2onnx; paddle2onnx.export(sys.argv[1], sys.argv[2], save_file=sys.argv[3], "
            f"opset_version={OPSET}, auto_upgrade_opset=True, verbose=False, enable_onnx_checker=True)")
    cmd = [sys.executable, "-c", code, str(model_dir / MODEL_FILE), str(model_dir / PARAMS_FILE), str(onnx_path)]
    out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0 or not onnx_path.is_file():
        log = (out.stdout + out.stderr).splitlines()
        why = [line for line in log if "not supported" in line.lower() or "error" in line.lower()] or log[-3:]
        raise PaddleImportError(f"paddle2onnx {_paddle2onnx_version()} could not convert {model_dir / MODEL_FILE}: "
                                f"{' | '.join(line.strip() for line in why[:4])[:600]}")
    return onnx_path


def onnx_nms_outputs(onnx_path: Path) -> tuple[str, str]:
    """Names of the converted graph's NMS outputs: rows ``[N, 6]`` and counts ``[B]``."""
    import onnx

    outputs = onnx.load(str(onnx_path), load_external_data=False).graph.output
    dims = {o.name: [d.dim_value if d.HasField("dim_value") else -1 for d in o.type.tensor_type.shape.dim]
            for o in outputs}
    rows = [n for n, d in dims.items() if len(d) == 2 and d[1] == 6]
    counts = [n for n, d in dims.items() if len(d) == 1]
    if len(outputs) != 2 or len(rows) != 1 or len(counts) != 1:
        raise PaddleImportError(f"{onnx_path} has outputs {dims}; edgedet reads exactly the NMS rows [N, 6] and "
                                f"the count per image [B] (a model with masks or extra outputs is not supported)")
    return rows[0], counts[0]


def parity_with_paddle(model_dir: Path, export_dir: Path, seed: int = 0) -> dict[str, Any]:
    """ONNX (through ``edgedet.runtime``) vs Paddle Inference on one input (noise, side inputs ``[S, S]`` /
    ``[1, 1]``): NMS rows matched after sorting; raises :class:`PaddleImportError` when they differ."""
    import paddle.inference as paddle_infer

    from edgedet.runtime import load

    predictor = load(export_dir, threads=1)
    size = predictor.imgsz
    x = np.random.default_rng(seed).normal(0.0, 1.0, (1, 3, size, size)).astype(np.float32)
    rows_onnx = predictor.run(x)[0]
    config = paddle_infer.Config(str(model_dir / MODEL_FILE), str(model_dir / PARAMS_FILE))
    config.disable_glog_info()
    config.set_cpu_math_library_num_threads(1)
    paddle_predictor = paddle_infer.create_predictor(config)
    feeds = {predictor.meta["input"]["name"]: x, **predictor.backend.side_feeds}
    for name in paddle_predictor.get_input_names():
        paddle_predictor.get_input_handle(name).copy_from_cpu(feeds[name])
    paddle_predictor.run()
    rows_paddle = paddle_predictor.get_output_handle(paddle_predictor.get_output_names()[0]).copy_to_cpu()
    a, b = _sorted_rows(rows_onnx), _sorted_rows(rows_paddle)
    diff = float(np.abs(a - b).max()) if a.shape == b.shape and a.size else (0.0 if a.shape == b.shape else None)
    report = {"input": f"normal noise, seed {seed}", "rows_onnx": len(a), "rows_paddle": len(b),
              "max_abs_diff": diff, "tolerance": 1e-3}
    if diff is None or diff > 1e-3:
        raise PaddleImportError(f"the ONNX file does not reproduce Paddle Inference ({report}); paddle2onnx "
                                f"{_paddle2onnx_version()} mis-converted this model")
    return report


def _sorted_rows(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, np.float32).reshape(-1, 6)
    rows = rows[rows[:, 0] >= 0]
    return rows[np.lexsort((rows[:, 2], rows[:, 3], -rows[:, 1], rows[:, 0]))]


def _paddle2onnx_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("paddle2onnx")
    except PackageNotFoundError:
        return "(not installed)"

