"""A tiny PaddleDetection-style inference model, built here (no release model can be fetched), and a reference
Paddle Inference run that preprocesses the way PaddleDetection's ``deploy/python/preprocess.py`` does.

The network: three stride-2 convs (stride 8), a class-score 1x1 conv (sigmoid, ``[B, C, P]``) and an ltrb 1x1 conv
(``exp`` distances, ``[B, P, 4]`` boxes around the cell centres), then what PaddleDetection's post-processing does
in the graph: boxes divided by ``scale_factor``, clipped to the original image (``floor(im_shape / scale_factor +
0.5)``), and ``multiclass_nms3``. Saved with ``paddle.jit.save`` as ``model.pdmodel`` / ``model.pdiparams`` (inputs
``im_shape``, ``image``, ``scale_factor``, as PaddleDetection's exports) beside a hand-written ``infer_cfg.yml``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import yaml

SIZE = 64
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
NMS = {"score_threshold": 0.3, "nms_top_k": 100, "keep_top_k": 20, "nms_threshold": 0.5}


def multiclass_nms3(bboxes, scores, *, score_threshold, nms_top_k, keep_top_k, nms_threshold):
    """The op PaddleDetection's ``ppdet.modeling.ops.multiclass_nms`` appends in a static graph (rows, counts)."""
    from paddle.base.layer_helper import LayerHelper

    helper = LayerHelper("multiclass_nms3")
    out = helper.create_variable_for_type_inference(dtype=bboxes.dtype)
    index = helper.create_variable_for_type_inference(dtype="int32")
    counts = helper.create_variable_for_type_inference(dtype="int32")
    helper.append_op(type="multiclass_nms3", inputs={"BBoxes": bboxes, "Scores": scores},
                     outputs={"Out": out, "Index": index, "NmsRoisNum": counts},
                     attrs={"background_label": -1, "score_threshold": score_threshold, "nms_top_k": nms_top_k,
                            "nms_threshold": nms_threshold, "keep_top_k": keep_top_k, "nms_eta": 1.0,
                            "normalized": True})
    return out, counts


def _tiny_detector(num_classes: int, with_nms: bool):
    import paddle

    class TinyPaddleDet(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.with_nms = with_nms  # dy2static reads attributes, not closures
            conv = paddle.nn.Conv2D
            self.body = paddle.nn.Sequential(conv(3, 8, 3, 2, 1), paddle.nn.ReLU(), conv(8, 16, 3, 2, 1),
                                             paddle.nn.ReLU(), conv(16, 16, 3, 2, 1), paddle.nn.ReLU())
            self.cls = conv(16, num_classes, 1)
            self.reg = conv(16, 4, 1)
            g = SIZE // 8
            ys, xs = np.meshgrid(np.arange(g), np.arange(g), indexing="ij")
            centres = (np.stack([xs, ys, xs, ys], -1).reshape(1, -1, 4) * 8 + 4).astype("float32")
            self.register_buffer("centres", paddle.to_tensor(centres))

        def forward(self, im_shape, image, scale_factor):
            f = self.body(image)
            scores = paddle.nn.functional.sigmoid(self.cls(f)).flatten(2)  # [B, C, P]
            dist = paddle.exp(self.reg(f).clip(max=3.0)).flatten(2).transpose([0, 2, 1]) * 8  # [B, P, 4] ltrb px
            boxes = self.centres + dist * paddle.to_tensor([-1.0, -1.0, 1.0, 1.0])
            sy, sx = paddle.split(scale_factor, 2, axis=-1)
            boxes = boxes / paddle.concat([sx, sy, sx, sy], -1).reshape([-1, 1, 4])
            oh, ow = paddle.split(paddle.floor(im_shape / scale_factor + 0.5), 2, axis=-1)
            boxes = paddle.minimum(paddle.maximum(boxes, paddle.zeros([1])),
                                   paddle.concat([ow, oh, ow, oh], -1).reshape([-1, 1, 4]))
            if not self.with_nms:
                return boxes, scores
            return multiclass_nms3(boxes, scores, **NMS)

    return TinyPaddleDet()


def write_paddle_model(model_dir: Path, class_names: list[str], *, with_nms: bool = True, seed: int = 0,
                       preprocess: list[dict] | None = None) -> Path:
    """``model_dir/{model.pdmodel, model.pdiparams, infer_cfg.yml}`` as PaddleDetection's export_model.py lays
    them out; ``preprocess`` replaces the default Resize (stretch, cubic) / NormalizeImage / Permute list."""
    import paddle

    paddle.seed(seed)
    model = _tiny_detector(len(class_names), with_nms)
    model.eval()
    spec = [paddle.static.InputSpec([None, 2], "float32", "im_shape"),
            paddle.static.InputSpec([None, 3, SIZE, SIZE], "float32", "image"),
            paddle.static.InputSpec([None, 2], "float32", "scale_factor")]
    paddle.jit.save(paddle.jit.to_static(model, input_spec=spec), str(model_dir / "model"))
    write_infer_cfg(model_dir, class_names, preprocess)
    return model_dir


def write_infer_cfg(model_dir: Path, class_names: list[str], preprocess: list[dict] | None = None) -> Path:
    default = [{"type": "Resize", "target_size": [SIZE, SIZE], "keep_ratio": False, "interp": 2},
               {"type": "NormalizeImage", "mean": MEAN, "std": STD, "is_scale": True},
               {"type": "Permute"}]
    cfg = {"mode": "paddle", "draw_threshold": 0.5, "metric": "COCO", "use_dynamic_shape": False, "arch": "PicoDet",
           "min_subgraph_size": 3, "Preprocess": default if preprocess is None else preprocess,
           "label_list": list(class_names), "NMS": {"name": "MultiClassNMS", **NMS}}
    path = model_dir / "infer_cfg.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def paddle_inference_detections(model_dir: Path, image_bgr: np.ndarray) -> np.ndarray:
    """Paddle Inference's own rows ``[N, 6]`` (class, score, x1, y1, x2, y2 in original pixels) for one image,
    preprocessed as PaddleDetection's deploy/python does: RGB, ``Resize`` by ``fx, fy`` (cubic), ``im *= 1/255``,
    ``-= mean``, ``/= std``, HWC -> CHW; ``im_shape`` = the resized shape, ``scale_factor`` = ``[fy, fx]``."""
    import paddle.inference as paddle_infer

    im = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
    h, w = im.shape[:2]
    fy, fx = SIZE / float(h), SIZE / float(w)
    im = cv2.resize(im, None, None, fx=fx, fy=fy, interpolation=cv2.INTER_CUBIC).astype(np.float32)
    im *= 1.0 / 255.0
    im -= np.asarray(MEAN)[None, None, :]
    im /= np.asarray(STD)[None, None, :]
    feeds = {"image": im.transpose(2, 0, 1)[None].astype(np.float32),
             "im_shape": np.asarray([im.shape[:2]], np.float32),
             "scale_factor": np.asarray([[fy, fx]], np.float32)}
    config = paddle_infer.Config(str(model_dir / "model.pdmodel"), str(model_dir / "model.pdiparams"))
    config.disable_glog_info()
    config.set_cpu_math_library_num_threads(1)
    predictor = paddle_infer.create_predictor(config)
    for name in predictor.get_input_names():
        predictor.get_input_handle(name).copy_from_cpu(feeds[name])
    predictor.run()
    return predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()
