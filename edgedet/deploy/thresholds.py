"""Score thresholds with a meaning, named once.

* :data:`PREDICT_SCORE_THR` is what a user gets by default: ``edgedet.runtime`` ``Predictor.predict`` and
  ``Detector.predict`` keep detections scoring above it (a picture or a demo shows these; Dynamic ATSS applies
  it to the class probability and scores ``sqrt(cls * iou)``, see ``decode_spec.dense_scores``).
* :data:`EVAL_SCORE_THR` is what COCO evaluation passes explicitly: AP integrates precision over recall, so
  low-scoring detections still count and a high threshold would lower AP. 0.01 is the TTFNet / PAFNet test
  threshold. Every evaluation path passes it by name rather than relying on a ``predict`` default.

A dense or two-stage detector's own ``score_thr`` (``DenseTestConfig`` / ``TwoStageConfig``, 0.05) is used only
by its ``postprocess(outputs)`` when called without a threshold.
"""

PREDICT_SCORE_THR = 0.25
EVAL_SCORE_THR = 0.01
