"""Torch-free inference on exported models (numpy + OpenCV + one backend runtime).

Public API::

    from edgedet.runtime import load
    pred = load("out/onnx_int8")              # export dir, its edgedet.json, or the model file
    dets = pred.predict(image_bgr, score_thr=0.25)   # Detections(boxes [N,4] xyxy original px, scores, labels)
    raw = pred.run(x_nchw)                    # raw outputs, list[np.ndarray] in edgedet.json order

Backends (literal table ``edgedet.runtime.base.BACKENDS``, imported lazily): onnx -> onnxrt.OnnxRuntimeBackend,
tflite -> litert.LiteRTBackend, paddle -> paddle.PaddleInferenceBackend, paddle-lite -> paddle_lite.PaddleLiteBackend.
The backend contract is in :mod:`edgedet.runtime.base`; decode types in :mod:`edgedet.runtime.decode`.
Nothing under ``edgedet.runtime`` may import torch.
"""

from edgedet.runtime.base import BACKENDS, Detections, Predictor, load, require

__all__ = ["BACKENDS", "Detections", "Predictor", "load", "require"]
