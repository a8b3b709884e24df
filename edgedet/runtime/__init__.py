"""Torch-free inference on exported models (numpy + OpenCV + one backend runtime).

Public API::

    from edgedet.runtime import load
    pred = load("out/onnx_int8")              # export dir, its edgedet.json, or the model file
    dets = pred.predict(image_bgr)            # Detections(boxes [N,4] xyxy original px, scores, labels,
                                              # names, timings_ms), above score_thr (default
                                              # edgedet.deploy.thresholds.PREDICT_SCORE_THR)
    annotated = dets.draw(image_bgr)          # boxes, class names, scores; a colour per class
    raw = pred.run(x_nchw)                    # raw outputs, list[np.ndarray] in edgedet.json order

Backends (literal table ``edgedet.runtime.base.BACKENDS``, imported lazily): onnx -> onnxrt.OnnxRuntimeBackend,
tflite -> litert.LiteRTBackend, paddle -> paddle.PaddleInferenceBackend, paddle-lite -> paddle_lite.PaddleLiteBackend.
The backend contract is in :mod:`edgedet.runtime.base`; decode types in :mod:`edgedet.runtime.decode` (their
typed specs in :mod:`edgedet.deploy.decode_spec`). ``edgedet.runtime`` imports :mod:`edgedet.deploy` and never
torch, :mod:`edgedet.export`, :mod:`edgedet.models` or :mod:`edgedet.engine` (``tests/test_architecture.py``).
"""

from edgedet.runtime.base import BACKENDS, Detections, Predictor, load

__all__ = ["BACKENDS", "Detections", "Predictor", "load"]
